"""``mockserver record``: a fixtures folder made from what a real office's API answers.

It reads, with GETs only: the tasks whose DateTimeOriginal is on or after a date (every
page), all task lists (Active and Archived, so every task's list and every Parent
resolves), the task priorities (definitions of category 33, hidden ones too), all users
(hidden and CEMT ones too), the tasks' notes where the upstream serves them, and the ids
of the patients and appointments the tasks refer to (the API does not serve those, and
the fixtures only need their ids). The records are validated as fixtures
(fixtures.parse_documents) and written by the same writer as ``generate-fixtures``, so
``mockserver check-fixtures`` accepts the folder.
"""
from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from .fixtures import parse_documents
from .generate import write_dir
from .schemas import RECORD_FORMATS, dump
from .store import (RECORD_TYPES, TASK_PRIORITIES, TASKLIST_STATUSES, TIME_FIELDS, UNSET_DATE,
                    UNSET_DATETIME, Dataset, RelativeTime)
from .upstream import Upstream, UpstreamError

DEFAULT_SINCE_DAYS = 90
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# the free text --anonymize replaces: descriptions, names and emails
PRIVATE_TEXT = {"tasks": ("Descript", "DescriptOverride"), "tasklists": ("Descript",),
                "tasknotes": ("Note",),
                "userods": ("UserName", "employeeName", "providerName", "emailAddress")}
Progress = Callable[[str], None]


def default_since(now: datetime) -> datetime:
    """The default --since: DEFAULT_SINCE_DAYS before *now*."""
    return (now - timedelta(days=DEFAULT_SINCE_DAYS)).replace(microsecond=0)


def fetch(upstream: Upstream, since: datetime, limit: int | None = None,
          progress: Progress = lambda _: None) -> dict[str, list[dict[str, Any]]]:
    """The upstream's records as it answers them, by fixture kind."""
    def every(path: str, what: str, cap: int | None = None, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in upstream.pages(path, params):
            rows += page
            progress(f"GET {path}: {len(rows)} {what}")
            if cap is not None and len(rows) >= cap:
                return rows[:cap]
        return rows

    wire: dict[str, list[dict[str, Any]]] = {
        "tasks": every("/tasks", "tasks", limit, DateTimeOriginal=since.strftime(DATETIME_FORMAT))}
    wire["tasklists"] = [row for status in TASKLIST_STATUSES
                         for row in every("/tasklists", f"{status} task lists", TaskListStatus=status)]
    wire["definitions"] = every("/definitions", "task priorities", Category=TASK_PRIORITIES,
                                includeHidden="true")
    wire["userods"] = every("/userods", "users", includeHidden="true", includeCEMT="true")
    recorded = {task["TaskNum"] for task in wire["tasks"]}
    try:
        notes = every("/tasknotes", "task notes (all; the recorded tasks' are kept)")
    except UpstreamError as exc:
        if exc.status not in (400, 404):
            raise
        progress(f"GET /tasknotes: not served by this office (it answered {exc.status}); "
                 "no notes recorded")
        notes = []
    wire["tasknotes"] = [note for note in notes if note.get("TaskNum") in recorded]
    return wire


def to_documents(wire: dict[str, list[dict[str, Any]]], progress: Progress = lambda _: None
                 ) -> dict[str, list[dict[str, Any]]]:
    """Fixture documents from the upstream's answers: fields the mock does not know are
    left out (and said), definitions keep the upstream's order as ItemOrder, and
    patients and appointments are the ids the tasks refer to."""
    documents: dict[str, list[dict[str, Any]]] = {}
    for kind, rows in wire.items():
        known = [field.data_key or name for name, field in RECORD_FORMATS[kind].fields.items()]
        dropped = sorted({name for row in rows for name in row} - set(known) - {"category"})
        if dropped:
            progress(f"{kind}: fields the mock does not hold, left out: {', '.join(dropped)}")
        documents[kind] = [{name: row[name] for name in known if name in row} for row in rows]
    for order, definition in enumerate(documents["definitions"]):
        definition["ItemOrder"] = order
    for kind, key, object_type in (("patients", "PatNum", "Patient"),
                                   ("appointments", "AptNum", "Appointment")):
        ids = sorted({task["KeyNum"] for task in documents["tasks"]
                      if task.get("ObjectType") == object_type})
        documents[kind] = [{key: num} for num in ids]
    return documents


class Anonymizer:
    """Text of the same length, the same for the same input within one run (a random
    salt, so it cannot be looked up): letters and digits are replaced, keeping case;
    spaces, punctuation, ``@`` and ``.`` stay, so an email still looks like one."""

    def __init__(self) -> None:
        self.salt = secrets.token_bytes(16)

    def text(self, value: str) -> str:
        stream = hashlib.shake_256(self.salt + value.encode("utf-8")).digest(max(len(value), 1))
        out = []
        for char, byte in zip(value, stream):
            if char.isdigit():
                out.append(str(byte % 10))
            elif char.isalpha():
                letter = string.ascii_lowercase[byte % len(string.ascii_lowercase)]
                out.append(letter.upper() if char.isupper() else letter)
            else:
                out.append(char)
        return "".join(out)

    def documents(self, documents: dict[str, list[dict[str, Any]]]) -> None:
        """Replace the private text of *documents* in place."""
        for kind, names in PRIVATE_TEXT.items():
            for row in documents.get(kind, ()):
                for name in names:
                    if isinstance(row.get(name), str):
                        row[name] = self.text(row[name])


def relative_documents(dataset: Dataset, documents: dict[str, list[dict[str, Any]]],
                       now: datetime) -> None:
    """Write every set time of *documents* (dumped from *dataset*) relative to *now*
    (``now-3d4h``), in place; unset times stay as they are."""
    for kind, names in TIME_FIELDS.items():
        for record, row in zip(dataset.records[kind], documents[kind]):
            for name in names:
                value = getattr(record, name)
                if value in (UNSET_DATE, UNSET_DATETIME):
                    continue
                if isinstance(value, datetime):
                    row[name] = RelativeTime(value - now).text()
                else:
                    row[name] = RelativeTime(timedelta(days=(value - now.date()).days),
                                             as_date=True).text()


def build(wire: dict[str, list[dict[str, Any]]], origin: str, *, now: datetime,
          relative: bool = False, anonymize: bool = False,
          progress: Progress = lambda _: None) -> dict[str, Any]:
    """The fixture documents of a recording, validated (FixtureError naming *origin*
    when the upstream's data does not make a consistent fixture set)."""
    documents = to_documents(wire, progress)
    if anonymize:
        Anonymizer().documents(documents)
    dataset = parse_documents(documents, origin=origin)
    written: dict[str, Any] = {kind: dump(RECORD_FORMATS[kind], dataset.records[kind], many=True)
                               for kind in RECORD_TYPES}
    if relative:
        relative_documents(dataset, written, now.replace(microsecond=0))
    return written


def record(upstream: Upstream, output: str | Path, *, since: datetime, now: datetime,
           limit: int | None = None, relative: bool = False, anonymize: bool = False,
           progress: Progress = lambda _: None) -> dict[str, int]:
    """Record the upstream into the fixtures folder *output*; how many records of each kind."""
    wire = fetch(upstream, since, limit, progress)
    documents = build(wire, upstream.base_url, now=now, relative=relative, anonymize=anonymize,
                      progress=progress)
    write_dir(documents, output)
    return {kind: len(rows) for kind, rows in documents.items()}


def counts_text(counts: dict[str, int]) -> str:
    """``12 tasks, 3 tasklists, ...``"""
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())

