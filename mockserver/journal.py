"""The files of a ``--data-dir`` folder: their names, generations and line format.

A folder holds generations. Generation N is two files:

- ``snapshot.N.jsonl``: every office when a server started, written whole to
  ``snapshot.tmp``, fsynced and renamed; its last line (``{"op": "end", ...}``) gives its
  generation and how many offices come before it, so a snapshot cut short is noticed;
- ``journal.N.jsonl``: the changes since, appended and fsynced one by one.

Every line is one JSON object whose last field is ``"crc"``: the CRC-32 (8 hex digits) of
the line without that field. A crash can only leave the last write to ``journal.N.jsonl``
unfinished: a last line without its newline that does not check is ignored with a
warning. Anything else that does not check is damage: the start stops and names it.
``journal.jsonl`` is the single file of earlier versions (no checksums): generation 0.
No Flask, no store.
"""
from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

LOCK = "lock"  # flocked while a server uses the folder; never replaced
LEGACY = "journal.jsonl"  # the one journal of earlier versions: generation 0
TEMPORARY = "snapshot.tmp"  # a snapshot being written; renamed once durable
SNAPSHOT, JOURNAL = "snapshot", "journal"
_NAME = re.compile(r"(snapshot|journal)\.(0|[1-9][0-9]{0,8})\.jsonl")
_CRC = re.compile(rb',"crc":"([0-9a-f]{8})"\}')
_CRC_LENGTH = len(b',"crc":"00000000"}')
_KEY = re.compile(rb'"key":("(?:[^"\\]|\\.)*")')
_ID = re.compile(rb'"id":([0-9]+)')
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # never follow a symlink planted in the folder


class PersistError(RuntimeError):
    """The data folder cannot be used: locked by another server, unreadable or damaged."""


def file_name(kind: str, generation: int) -> str:
    """``snapshot.N.jsonl`` or ``journal.N.jsonl``."""
    return f"{kind}.{generation}.jsonl"


def encode(record: dict[str, Any]) -> bytes:
    """*record* as a journal line: compact JSON with its checksum as the last field."""
    payload = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
    return b'%s,"crc":"%08x"}\n' % (payload[:-1], zlib.crc32(payload))


def decode(line: bytes, legacy: bool = False) -> dict[str, Any]:
    """The record of a journal line; ValueError saying what is wrong with it. Without a
    checksum only a *legacy* line is accepted."""
    found = _CRC.match(line, len(line) - _CRC_LENGTH) if len(line) > _CRC_LENGTH else None
    if found is not None:
        payload = line[:found.start()] + b"}"
        if int(found[1], 16) != zlib.crc32(payload):
            raise ValueError("checksum mismatch")
        line = payload
    elif not legacy:
        raise ValueError("no checksum")
    try:
        record = json.loads(line)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("op"), str):
        raise ValueError("not a journal record")
    return record


def short_key(key: str | None) -> str:
    """A customer key as messages show it: quoted, escaped, its first 12 characters."""
    if key is None:
        return "every office"
    return "office " + json.dumps(key if len(key) <= 12 else key[:12] + "...")


def open_file(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symlink; new files are private."""
    return os.open(path, flags | NOFOLLOW, 0o600)


def read_bytes(path: Path) -> bytes:
    """The content of *path* (not through a symlink)."""
    with os.fdopen(open_file(path, os.O_RDONLY), "rb") as stream:
        return stream.read()


@dataclass
class Layout:
    """The generations a data folder holds."""

    folder: Path
    files: dict[int, dict[str, Path]] = field(default_factory=dict)  # generation -> kind -> path
    current: int = 0  # the newest generation with a snapshot; 0: none (new, or legacy only)
    problems: list[str] = field(default_factory=list)  # files that make the folder unusable

    def path(self, kind: str, generation: int | None = None) -> Path | None:
        """The file of *kind* of *generation* (default: the current one), if present."""
        return self.files.get(self.current if generation is None else generation, {}).get(kind)

    def sources(self) -> list[tuple[Path, str]]:
        """The files a start replays, in order, each with its kind: the current snapshot
        and journal (or the legacy journal)."""
        if self.current == 0:
            legacy = self.path(JOURNAL)
            return [(legacy, LEGACY)] if legacy else []
        return [(path, kind) for kind in (SNAPSHOT, JOURNAL) if (path := self.path(kind))]


def scan(folder: Path) -> Layout:
    """The generations in *folder*, and the files that do not fit them: a journal newer
    than every snapshot that is not empty (its changes have nothing to apply to), or a
    current snapshot without its journal."""
    layout = Layout(folder)
    for name in sorted(os.listdir(folder)):
        named = _NAME.fullmatch(name)
        if named:
            layout.files.setdefault(int(named[2]), {})[named[1]] = folder / name
        elif name == LEGACY:
            layout.files.setdefault(0, {})[JOURNAL] = folder / name
    layout.current = max((g for g, kinds in layout.files.items() if SNAPSHOT in kinds), default=0)
    for generation, kinds in sorted(layout.files.items()):
        journal = kinds.get(JOURNAL)
        if generation > layout.current and journal and os.lstat(journal).st_size:
            layout.problems.append(f"{journal}: changes without {file_name(SNAPSHOT, generation)} "
                                   "to apply them to")
    if layout.current and not layout.path(JOURNAL):
        layout.problems.append(f"{folder / file_name(JOURNAL, layout.current)}: missing (the "
                               f"changes made after {file_name(SNAPSHOT, layout.current)})")
    return layout


def _office_named(line: bytes, offices: dict[int, str]) -> str | None:
    """Which office a damaged line is about, if it can still be told (and, for an
    office line, the office its id names, so that later lines can be told too)."""
    ident, key = _ID.search(line), _KEY.search(line)
    try:
        name = json.loads(key[1]) if key else None
    except ValueError:
        name = None
    if isinstance(name, str):
        if ident:
            offices.setdefault(int(ident[1]), name)
        return short_key(name)
    return short_key(offices[int(ident[1])]) if ident and int(ident[1]) in offices else None


def office_of(record: dict[str, Any], offices: dict[int, str]) -> str | None:
    """How messages name the office a *record* is about (None if it cannot be told)."""
    if "key" in record:  # office and reset lines
        key = record["key"]
        return short_key(key) if key is None or isinstance(key, str) else None
    ident = record.get("id")
    return short_key(offices[ident]) if isinstance(ident, int) and ident in offices else None


def where(path: Path, number: int, office: str | None) -> str:
    """``FILE: line N (office "key")``, as every message about a line starts."""
    return f"{path}: line {number}" + (f" ({office})" if office else "")


def read(path: Path, kind: str, offices: dict[int, str], warn: Callable[[str], None],
         damage: Callable[[str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of one file of *kind* (SNAPSHOT, JOURNAL or LEGACY), with their line
    numbers. *offices* (id -> key) is kept up to date, to name the office of a bad line.
    A torn last line of a journal is ignored and *warn*\\ ed of; any other bad line is
    handed to *damage* (which raises, or notes it and reading goes on)."""
    lines = read_bytes(path).split(b"\n")
    tail = lines.pop()  # after the last newline: empty unless a write was cut short
    end = None
    torn = len(lines) + 1 if tail else None  # the number of an unfinished last line
    for number, line in enumerate(lines + [tail] if tail else lines, 1):
        try:
            record = decode(line, legacy=kind == LEGACY)
        except ValueError as problem:
            office = _office_named(line, offices)
            if number == torn and kind != SNAPSHOT:  # the one thing a crash can leave
                warn(f"{path}: ignoring a torn last line ({len(tail)} bytes"
                     f"{', ' + office if office else ''}) left by a crash")
            else:
                damage(f"{where(path, number, office)}: {problem}")
            continue
        if end is not None:
            damage(f"{where(path, number, None)}: after the end line {end}")
            continue
        if record["op"] == "office" and isinstance(record.get("key"), str) \
                and isinstance(record.get("id"), int):
            offices[record["id"]] = record["key"]
        if kind == SNAPSHOT and record["op"] == "end":
            end = number
            _check_end(path, number, record, damage)
        else:
            yield number, record
    if kind == SNAPSHOT and end is None:
        damage(f"{path}: cut short: no end line after line {len(lines)}")


def _check_end(path: Path, number: int, record: dict[str, Any],
               damage: Callable[[str], None]) -> None:
    named = _NAME.fullmatch(path.name)
    if named and record.get("generation") != int(named[2]):
        damage(f"{where(path, number, None)}: the end line says generation "
               f"{record.get('generation')}, the file name {named[2]}")
    if record.get("lines") != number - 1:
        damage(f"{where(path, number, None)}: the end line counts {record.get('lines')} lines "
               f"before it, the file has {number - 1}")


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    if os.name != "posix":  # Windows cannot open a folder; NTFS renames are journaled
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of *data* (os.write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
