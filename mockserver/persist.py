"""Durable offices for ``--data-dir``: a snapshot of every office and a journal of the
changes since, replayed on start (the files and their format: journal.py).

Each journal line is one change, written and fsynced before the change is applied and
the response is sent:

- ``{"op": "office", "id": 1, "key": K, "state": {...}, "clock": {...}}``: a whole
  office in fixture form (its first write, or a Registry.put such as a state import);
- ``{"op": "tasks", "id": 1, "tasks": [...]}``: tasks inserted or replaced (the
  resulting records, so replay needs no business rules; ``tasknotes`` likewise);
- ``{"op": "clock", "id": 1, "clock": {...}}``: the office clock changed;
- ``{"op": "reset", "key": K}`` (``null``: every office).

``id`` names an office within one generation, so writes to an office that was replaced
meanwhile never land on its successor. On start the current generation is replayed, then
compacted into the next one: its snapshot (the offices' office lines) is made durable
before it replaces anything, and the generation before is kept until the next start has
done the same. Pure Python and the wire schemas: no Flask.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from .fixtures import FixtureError, export_office, parse_documents
from .journal import (JOURNAL, LEGACY, LOCK, SNAPSHOT, TEMPORARY, Layout, PersistError,
                      encode, file_name, fsync_dir, office_of, open_file, read, scan, short_key,
                      where, write_all)
from .schemas import RECORD_FORMATS, dump, load
from .store import RECORD_TYPES, TABLES, ApiError, Clock, Dataset, Office, Registry

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, one server per folder is up to you
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileJournal", "LOCK", "PersistError", "Report", "check_available", "data_folders",
           "inspect"]
log = logging.getLogger(__name__)
UNTOUCHED = "nothing in the data folder was changed; `mockserver data check {}` shows what it holds"


def _clock_state(clock: Clock) -> dict[str, Any]:
    frozen, offset = clock.state()
    return {"frozen": frozen.isoformat() if frozen else None,
            "offset": [offset.days, offset.seconds, offset.microseconds]}


def _restore_clock(clock: Clock, state: dict[str, Any]) -> None:
    frozen = state["frozen"]
    clock.restore(datetime.fromisoformat(frozen) if frozen else None,
                  timedelta(*state["offset"]))


def _office_record(office: Office) -> dict[str, Any]:
    return {"op": "office", "id": None, "key": office.key, "state": export_office(office),
            "clock": _clock_state(office.clock)}


def check_available(folder: str | os.PathLike[str]) -> None:
    """PersistError unless a server could keep its offices in *folder* now."""
    journal = FileJournal(folder)
    journal.lock()
    journal.close()


class FileJournal:
    """The store's Journal in a data folder; ``open(registry)`` replays it, then records."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.path: Path | None = None  # the journal being appended to, once open
        self._lock = threading.Lock()  # appends
        self._sync_lock = threading.Lock()  # fsyncs: one covers every append before it
        self._fd: int | None = None  # None while replaying: nothing is recorded
        self._size = self._synced = 0  # bytes appended / known durable
        self._lock_fd: int | None = None
        self._ids = itertools.count(1)

    # -- start and stop --
    def open(self, registry: Registry) -> None:
        """Lock the folder, rebuild *registry*'s offices from the current generation and
        compact them into the next. A damaged file stops the start before anything in the
        folder is changed."""
        self.lock()
        try:
            try:
                layout = scan(self.folder)
                for problem in layout.problems:
                    self._refuse(problem)
                replay(registry, layout, log.warning, self._refuse)
            except OSError as exc:
                raise PersistError(f"{exc.filename or self.folder}: cannot open: "
                                   f"{exc.strerror}") from None
            self._compact(registry, layout)
        except OSError as exc:
            self.close()
            raise PersistError(f"{exc.filename or self.folder}: cannot write: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise

    def _refuse(self, problem: str) -> None:
        raise PersistError(f"{problem}; {UNTOUCHED.format(self.folder)}")

    def lock(self) -> None:
        """Create the folder if need be and lock it: PersistError if it cannot be used
        (another server holds it, no permission)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock_fd = open_file(self.folder / LOCK, os.O_RDWR | os.O_CREAT)
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
        self._append(office, head, {"op": kind, "id": None,
                                    kind: dump(RECORD_FORMATS[kind], records, many=True)})

    def clock(self, office: Office) -> None:
        """Record the office clock (Clock.listener)."""
        with office.lock:  # journal_id and clock state must not move under us
            head = _office_record(office) if office.journal_id is None else None
            self._append(office, head, None if head else {  # an office record has the clock
                "op": "clock", "id": None, "clock": _clock_state(office.clock)})

    def reset(self, customer: str | None) -> None:
        """Record that one office (or all) was forgotten."""
        with self._lock:
            end = self._write(encode({"op": "reset", "key": customer}))
        self._sync(end)

    # -- internals --
    def _append(self, office: Office, head: dict[str, Any] | None,
                record: dict[str, Any] | None = None) -> None:
        """Write *head* (the whole office, under a new id) and/or *record* about it, durably."""
        with self._lock:
            ident = next(self._ids) if head else office.journal_id
            end = self._write(b"".join(encode({**r, "id": ident}) for r in (head, record) if r))
        self._sync(end)
        if end:
            office.journal_id = ident  # only once durable: after a failure it is unrecorded

    def _write(self, data: bytes) -> int:
        """Append *data* (holding self._lock); the journal size after it, 0 while replaying."""
        if self._fd is None:
            return 0
        try:
            write_all(self._fd, data)
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

    def _compact(self, registry: Registry, layout: Layout) -> None:
        """Write the next generation: its snapshot (every live office) made durable under
        a temporary name, its empty journal, then the rename that makes it current. The
        generation replayed is kept; older ones are removed."""
        generation = layout.current + 1
        offices = [(office, next(self._ids)) for office in registry.offices()]
        lines = [encode({**_office_record(office), "id": ident}) for office, ident in offices]
        lines.append(encode({"op": "end", "generation": generation, "lines": len(lines)}))
        temporary = self.folder / TEMPORARY
        fd = open_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        # the journal exists (empty) before the snapshot it follows: a current snapshot
        # without its journal is then damage, never the trace of a crash
        self.path = self.folder / file_name(JOURNAL, generation)
        self._fd = open_file(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        fsync_dir(self.folder)
        os.replace(temporary, self.folder / file_name(SNAPSHOT, generation))
        fsync_dir(self.folder)
        for office, ident in offices:
            office.journal_id = ident
        for old, kinds in layout.files.items():
            for path in kinds.values() if old < layout.current else ():
                try:
                    path.unlink()
                except OSError as exc:  # the new generation is durable: only untidy
                    log.warning("%s: cannot remove an old generation: %s", path, exc.strerror)


def replay(registry: Registry, layout: Layout, warn: Callable[[str], None],
           damage: Callable[[str], None]) -> dict[Path, int]:
    """Rebuild the offices of *layout*'s current generation in *registry*; the records
    read from each file. A line that cannot be read or replayed goes to *damage*."""
    by_id: dict[int, Office] = {}
    names: dict[int, str] = {}
    counts: dict[Path, int] = {}
    for path, kind in layout.sources():
        counts[path] = 0
        for number, record in read(path, kind, names, warn, damage):
            counts[path] += 1
            try:
                _apply(registry, by_id, record)
            except (KeyError, TypeError, ValueError, AttributeError, ApiError, FixtureError) as exc:
                detail = getattr(exc, "message", None) or str(exc)
                damage(f"{where(path, number, office_of(record, names))}: cannot be "
                       f"replayed: {type(exc).__name__}: {detail}")
    return counts


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


# -- `mockserver data check` ------------------------------------------------------------

@dataclass
class Report:
    """What a data folder holds and whether a server could start from it."""

    folder: Path
    layout: Layout
    problems: list[str] = field(default_factory=list)  # a start would stop on these
    notes: list[str] = field(default_factory=list)  # a start would warn of these
    lines: dict[Path, int] = field(default_factory=dict)  # records read per file
    offices: list[Office] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems

    def describe(self) -> list[str]:
        """The report as lines of text."""
        current = self.layout.current
        text = [f"{self.folder}: " + ("sound" if self.sound else "DAMAGED: a server would "
                                      "refuse to start from it, and leave it as it is")]
        if current:
            text.append(f"  generation {current}" + (f"; generation {current - 1} kept until "
                                                     "the next start succeeds"
                                                     if current - 1 in self.layout.files else ""))
        elif self.layout.sources():
            text.append(f"  {LEGACY} of an earlier version (no checksums): the next start "
                        "converts it, and keeps it until the start after")
        else:
            text.append("  no offices kept yet")
        text += [f"  {name:<22} {size:>12,} bytes  {role}" for name, size, role in self._files()]
        for office in self.offices:
            counts = ", ".join(f"{office.count(kind)} {kind}" for kind in RECORD_TYPES)
            text.append(f"  {short_key(office.key)}: {counts}; {_describe_clock(office.clock)}")
        text += [f"  problem: {problem}" for problem in self.problems]
        text += [f"  note: {note}" for note in self.notes]
        return text

    def _files(self) -> list[tuple[str, int, str]]:
        roles = {LOCK: "flocked by a server while it runs",
                 TEMPORARY: "unfinished snapshot (a start stopped before its rename): ignored"}
        current = self.layout.current
        for generation, kinds in self.layout.files.items():
            for kind, path in kinds.items():
                if path in self.lines:
                    roles[path.name] = f"{'current ' * bool(current)}{kind}, {self.lines[path]} " \
                                       f"{'offices' if kind == SNAPSHOT else 'lines'}"
                elif generation > current:
                    roles[path.name] = "left by a start that stopped: ignored"
                else:
                    roles[path.name] = f"generation {generation}" + (
                        " (previous)" if generation == current - 1 else "")
        return [(entry.name, entry.stat(follow_symlinks=False).st_size, roles.get(entry.name, ""))
                for entry in sorted(os.scandir(self.folder), key=lambda e: e.name)
                if not entry.is_dir(follow_symlinks=False)]


def _describe_clock(clock: Clock) -> str:
    frozen, offset = clock.state()
    if frozen is not None:
        return f"clock frozen at {frozen.isoformat(sep=' ')}"
    if not offset:
        return "clock running (real time)"
    return f"clock running, offset {'-' if offset < timedelta() else '+'}{abs(offset)}"


def inspect(folder: str | os.PathLike[str]) -> Report:
    """What the data *folder* holds, read without locking or changing anything."""
    report = Report(Path(folder), Layout(Path(folder)))
    registry = Registry(Dataset({}))  # the offices as a start would rebuild them
    try:
        report.layout = scan(report.folder)
        report.problems += report.layout.problems
        report.lines = replay(registry, report.layout, report.notes.append,
                              report.problems.append)
    except OSError as exc:
        report.problems.append(f"{exc.filename or folder}: cannot read: {exc.strerror}")
    if report.sound:
        report.offices = registry.offices()
    return report


def data_folders(folder: str | os.PathLike[str]) -> list[Path]:
    """The data folders in *folder*: itself, or for a ``cluster`` folder its process-N
    folders."""
    folder = Path(folder)
    processes = [entry for entry in folder.iterdir()
                 if entry.is_dir() and entry.name.startswith("process-")
                 and entry.name[len("process-"):].isdigit()]
    if not processes or scan(folder).files or (folder / LOCK).exists():
        return [folder]
    return sorted(processes, key=lambda entry: int(entry.name[len("process-"):]))
