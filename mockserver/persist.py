"""Durable offices for ``--data-dir``: an append-only journal, replayed on start.

The journal is one file of JSON lines, ``DATA_DIR/journal.jsonl``. Each line is one
change, written and fsynced before the change is applied and the response is sent:

- ``{"op": "office", "id": 1, "key": K, "state": {...}, "clock": {...}}``: a whole
  office in fixture form (its first write, or a Registry.put such as a state import);
- ``{"op": "tasks", "id": 1, "tasks": [...]}``: tasks inserted or replaced (the
  resulting records, so replay needs no business rules);
- ``{"op": "clock", "id": 1, "clock": {...}}``: the office clock changed;
- ``{"op": "reset", "key": K}`` (``null``: every office).

``id`` names an office for this file only, so writes to an office that was replaced
meanwhile never land on its successor. On start the journal is replayed, then compacted:
the current offices are written to a new file that atomically replaces the old one.
A torn last line (a crash mid-write) is ignored with a warning; any other bad line stops
the start. Pure Python and the wire schemas: no Flask.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

from .fixtures import FixtureError, export_office, parse_documents
from .schemas import RECORD_FORMATS, dump, load
from .store import RECORD_TYPES, TABLES, ApiError, Clock, Office, Registry

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, one server per folder is up to you
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
JOURNAL = "journal.jsonl"
LOCK = "lock"  # flocked while a server uses the folder; never replaced, unlike the journal


class PersistError(RuntimeError):
    """The data folder cannot be used: locked by another server, unreadable or corrupt."""


def _clock_state(clock: Clock) -> dict[str, Any]:
    frozen, offset = clock.state()
    return {"frozen": frozen.isoformat() if frozen else None,
            "offset": [offset.days, offset.seconds, offset.microseconds]}


def _restore_clock(clock: Clock, state: dict[str, Any]) -> None:
    frozen = state["frozen"]
    clock.restore(datetime.fromisoformat(frozen) if frozen else None,
                  timedelta(*state["offset"]))


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _office_record(office: Office) -> dict[str, Any]:
    return {"op": "office", "id": None, "key": office.key, "state": export_office(office),
            "clock": _clock_state(office.clock)}


def _open(path: Path, flags: int) -> int:
    # never follow a symlink planted in the data folder
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder; NTFS renames are journaled
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_available(folder: str | os.PathLike[str]) -> None:
    """PersistError unless a server could keep its offices in *folder* now."""
    journal = FileJournal(folder)
    journal.lock()
    journal.close()


class FileJournal:
    """The store's Journal in a data folder; ``open(registry)`` replays it, then records."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL
        self._lock = threading.Lock()  # appends
        self._sync_lock = threading.Lock()  # fsyncs: one covers every append before it
        self._fd: int | None = None  # None while replaying: nothing is recorded
        self._size = self._synced = 0  # bytes appended / known durable
        self._lock_fd: int | None = None
        self._ids = itertools.count(1)

    # -- start and stop --
    def open(self, registry: Registry) -> None:
        """Lock the folder, rebuild *registry*'s offices from the journal, compact it."""
        self.lock()
        try:
            self._replay(registry)
            self._compact(registry)
        except OSError as exc:
            self.close()
            raise PersistError(f"{exc.filename or self.folder}: cannot write: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise

    def lock(self) -> None:
        """Create the folder and its journal if need be and lock it: PersistError if it
        cannot be used (another server holds it, no permission)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _open(self.folder / LOCK, os.O_RDWR | os.O_CREAT)
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.close(_open(self.path, os.O_RDONLY | os.O_CREAT))
        except BlockingIOError:
            self.close()
            raise PersistError(f"{self.folder}: used by another running server") from None
        except OSError as exc:
            self.close()
            raise PersistError(f"{exc.filename or self.folder}: cannot open: {exc.strerror}") from None

    def close(self) -> None:
        """Stop recording and release the folder."""
        with self._lock:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None

    # -- the store's Journal interface --
    def office(self, office: Office) -> None:
        """Record a whole office (Registry.put)."""
        if self._fd is None:  # replaying: the compaction records every office anyway
            return
        self._append(office, _office_record(office))

    def records(self, office: Office, kind: str, records: tuple[Any, ...]) -> None:
        """Record inserted or replaced records of *kind* (called inside the office lock)."""
        head = _office_record(office) if office.journal_id is None else None
        self._append(office, head, {"op": kind, kind: dump(RECORD_FORMATS[kind], records,
                                                            many=True)})

    def clock(self, office: Office) -> None:
        """Record the office clock (Clock.listener)."""
        with office.lock:  # journal_id and clock state must not move under us
            head = _office_record(office) if office.journal_id is None else None
            self._append(office, head, None if head else {  # an office record has the clock
                "op": "clock", "clock": _clock_state(office.clock)})

    def reset(self, customer: str | None) -> None:
        """Record that one office (or all) was forgotten."""
        with self._lock:
            end = self._write(_line({"op": "reset", "key": customer}))
        self._sync(end)

    # -- internals --
    def _append(self, office: Office, head: dict[str, Any] | None,
                record: dict[str, Any] | None = None) -> None:
        """Write *head* (the whole office, under a new id) and/or *record* about it, durably."""
        with self._lock:
            ident = next(self._ids) if head else office.journal_id
            end = self._write(b"".join(_line({**r, "id": ident}) for r in (head, record) if r))
        self._sync(end)
        if end:
            office.journal_id = ident  # only once durable: after a failure it is unrecorded

    def _write(self, data: bytes) -> int:
        """Append *data* (holding self._lock); the journal size after it, 0 while replaying."""
        if self._fd is None:
            return 0
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            os.ftruncate(self._fd, self._size)  # a failed write must not leave half a line
            raise
        self._size += len(data)
        return self._size

    def _sync(self, end: int) -> None:
        """Return once the journal is durable up to *end*: before the change is applied
        and acknowledged. Writers that arrive during an fsync share the next one."""
        with self._sync_lock:
            if self._synced < end and self._fd is not None:
                covered = self._size  # every append so far, other offices' included
                os.fsync(self._fd)
                self._synced = covered

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        if lines[-1].strip(b"\0 "):
            log.warning("%s: ignoring a torn last line (%d bytes) left by a crash",
                        self.path, len(lines[-1]))
        complete = lines[:-1]
        for number, text in enumerate(complete, 1):
            try:
                record = json.loads(text)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError:
                if number == len(complete):
                    log.warning("%s: ignoring an unreadable last line %d", self.path, number)
                    return
                raise PersistError(f"{self.path}: line {number} is corrupt") from None
            yield number, record

    def _replay(self, registry: Registry) -> None:
        by_id: dict[int, Office] = {}
        for number, record in self._records():
            try:
                self._apply(registry, by_id, record)
            except (KeyError, TypeError, ValueError, ApiError, FixtureError) as exc:
                detail = getattr(exc, "message", None) or str(exc)
                raise PersistError(f"{self.path}: line {number} cannot be replayed: "
                                   f"{type(exc).__name__}: {detail}") from None

    @staticmethod
    def _apply(registry: Registry, by_id: dict[int, Office], record: dict[str, Any]) -> None:
        op = record["op"]
        if op == "office":
            clock = Clock()
            _restore_clock(clock, record["clock"])
            office = registry.new_office(record["key"], parse_documents(record["state"]), clock)
            by_id[record["id"]] = office
            registry.put(office)
        elif op in TABLES:  # records of a table that offices write
            by_id[record["id"]].restore(op, [RECORD_TYPES[op](**load(RECORD_FORMATS[op], row))
                                             for row in record[op]])
        elif op == "clock":
            _restore_clock(by_id[record["id"]].clock, record["clock"])
        elif op == "reset":
            registry.reset(record["key"])
        else:
            raise ValueError(f"unknown op {op!r}")

    def _compact(self, registry: Registry) -> None:
        """Replace the journal by one office record per live office (atomic rename)."""
        temporary = self.path.with_name(JOURNAL + ".tmp")
        self._fd = _open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        offices = [(office, next(self._ids)) for office in registry.offices()]
        self._sync(self._write(b"".join(_line({**_office_record(office), "id": ident})
                                        for office, ident in offices)))
        for office, ident in offices:
            office.journal_id = ident
        os.replace(temporary, self.path)
        _fsync_dir(self.folder)
