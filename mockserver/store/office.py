"""One office: its data, clock and lock, and the business rules of the API (SPEC §2-§4)."""
from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol

from .clock import Clock, next_due
from .records import (DEFAULT_UTC_OFFSET, TASK_PRIORITIES, parse_utc_offset, UNSET_DATETIME, Appointment, BadRequest, Definition,
                      NotFound, Patient, Task, TaskList, TaskNote, Userod, parse_version)
from .tasktable import NoteTable, Table, TaskTable, page

PAGE_CAP = 100  # apiimplementation: "hard limit of 100 items"
LOCAL_PAGE_CAP = 1000  # the Local API's limit


class Journal(Protocol):
    """Where a Registry and its offices report every change, e.g. persist.FileJournal.

    Each method returns only once the change is durable; offices call ``records`` inside
    their lock, after validation and before the change is applied, so a failing journal
    leaves the office unchanged and the request unacknowledged.
    """

    def office(self, office: "Office") -> None:
        """Record the whole office (registered by Registry.put)."""

    def records(self, office: "Office", kind: str, records: tuple[Any, ...]) -> None:
        """Record records of *kind* ("tasks", "tasknotes") about to be inserted or
        replaced in *office*."""

    def clock(self, office: "Office") -> None:
        """Record that the office clock changed."""

    def reset(self, customer: str | None) -> None:
        """Record that one office (or every office, for None) was forgotten."""



def _key_needs_type(values: Mapping[str, Any]) -> None:
    # apitasks: ObjectType is "Optional, unless KeyNum is specified"
    if values.get("KeyNum") is not None and values.get("ObjectType") is None:
        raise BadRequest("ObjectType is required when KeyNum is specified.")


class Office:
    """One customer key's dental office: its data, clock and lock (SPEC §4).

    Reference data is read-only and shared with the seed; the tables it writes (tasks,
    notes) are shared too until its first write to each, which makes a copy keeping only
    the office's own changes (Table.copy), so a new office costs almost nothing.
    """

    def __init__(self, key: str, tables: Mapping[str, Any], version: str,
                 clock: Clock | None = None, page_cap: int = PAGE_CAP,
                 journal: Journal | None = None, utc_offset: str = DEFAULT_UTC_OFFSET):
        self.key = key
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.journal = journal
        self.journal_id: int | None = None  # set by the journal once it holds this office
        if journal is not None:  # a replacement office may take over its predecessor's clock
            self.clock.listener = self._clock_changed
        self.version = version
        self.utc_offset_text = utc_offset  # as office.yaml says it
        self.utc_offset = parse_utc_offset(utc_offset)
        self.page_cap = page_cap
        self.tasks: TaskTable = tables["tasks"]
        self.tasklists: Mapping[int, TaskList] = tables["tasklists"]
        self.definitions: Mapping[int, Definition] = tables["definitions"]
        self.userods: Mapping[int, Userod] = tables["userods"]
        self.patients: Mapping[int, Patient] = tables["patients"]
        self.appointments: Mapping[int, Appointment] = tables["appointments"]
        self.tasknotes: NoteTable = tables["tasknotes"]
        self._shared = {"tasks", "tasknotes"}  # the tables still the seed's

    def records(self, kind: str) -> list[Any]:
        """Every record of *kind* (a RECORD_TYPES name), by primary key."""
        table = getattr(self, kind)
        return list(table) if isinstance(table, Table) else list(table.values())

    def count(self, kind: str) -> int:
        """How many records of *kind* there are (no copy of them)."""
        return len(getattr(self, kind))

    # -- helpers --
    def require_version(self, since: str, what: str) -> None:
        """400 when the office is older than the version that added *what*."""
        if parse_version(self.version) < parse_version(since):
            raise BadRequest(f"{what} requires version {since} or later.")

    def clamp(self, limit: int | None) -> int:
        """The page size: Limit if given, never more than the cap (SPEC §1 paging)."""
        return self.page_cap if limit is None else min(limit, self.page_cap)

    def _writable(self, kind: str) -> Any:
        """The table of *kind* ("tasks", "tasknotes"), the office's own."""
        if kind in self._shared:
            setattr(self, kind, getattr(self, kind).copy())
            self._shared.discard(kind)
        return getattr(self, kind)

    def _record(self, kind: str, *records: Any) -> None:
        if self.journal is not None:
            self.journal.records(self, kind, records)

    def _clock_changed(self) -> None:
        if self.journal is not None:
            self.journal.clock(self)

    def detach(self) -> None:
        """Stop reporting to the journal: the registry no longer serves this office.

        Taking the lock waits for a write in progress, so its record comes first.
        """
        with self.lock:
            self.journal = None

    def restore(self, kind: str, records: Iterable[Any]) -> None:
        """Put recorded records of *kind* back (journal replay): insert new keys, replace
        the others."""
        with self.lock:
            table = self._writable(kind)
            for record in records:
                num = getattr(record, table.key)
                if table.get(num) is None:
                    table.insert(record)
                else:
                    table.replace(record)

    def _check_key(self, object_type: str, key_num: int) -> None:
        if object_type == "Patient" and key_num not in self.patients:
            raise NotFound("Patient not found.")
        if object_type == "Appointment" and key_num not in self.appointments:
            raise NotFound("Appointment not found.")

    def _check_user(self, num: int) -> None:
        if num not in self.userods:
            raise NotFound("User not found.")

    def _check_priority(self, num: int) -> None:
        if num != 0:
            definition = self.definitions.get(num)
            if definition is None or definition.Category != TASK_PRIORITIES:
                raise NotFound("Definition not found.")

    def default_priority(self) -> int:
        """The office's default task priority (apitasks: POST PriorityDefNum)."""
        shown = sorted((d for d in self.definitions.values()
                        if d.Category == TASK_PRIORITIES and not d.IsHidden),
                       key=lambda d: (d.ItemOrder, d.DefNum))
        marked = [d for d in shown if d.ItemValue == "D"]
        chosen = marked or shown
        return chosen[0].DefNum if chosen else 0

    # -- tasks --
    def _find(self, kind: str, num: int, missing: str) -> Any:
        """The record *num* of the table *kind*; NotFound(*missing*) if there is none."""
        with self.lock:
            record = getattr(self, kind).get(num)
        if record is None:
            raise NotFound(missing)
        return record

    def get_task(self, num: int) -> Task:
        return self._find("tasks", num, "Task not found.")

    def list_tasks(self, *, TaskListNum: int | None = None, KeyNum: int | None = None,
                   ObjectType: str | None = None, TaskStatus: str | None = None,
                   DateTimeOriginal: datetime | None = None, Offset: int = 0,
                   Limit: int | None = None) -> list[Task]:
        """GET /tasks: filters ANDed; DateTimeOriginal defaults to now minus 14 days."""
        _key_needs_type({"KeyNum": KeyNum, "ObjectType": ObjectType})
        with self.lock:
            if KeyNum is not None:
                self._check_key(ObjectType, KeyNum)
            if DateTimeOriginal is None:
                DateTimeOriginal = self.clock.now() - timedelta(days=14)
            filters = {name: value for name, value in (
                ("TaskListNum", TaskListNum), ("KeyNum", KeyNum),
                ("ObjectType", ObjectType), ("TaskStatus", TaskStatus)) if value is not None}
            return self.tasks.query(filters, DateTimeOriginal, Offset, self.clamp(Limit))

    def create_task(self, fields_: Mapping[str, Any]) -> Task:
        """POST /tasks with validated fields; reference checks then defaults (SPEC §3)."""
        _key_needs_type(fields_)
        with self.lock:
            tasklist = fields_["TaskListNum"]
            if tasklist != 0 and tasklist not in self.tasklists:
                raise NotFound("TaskList not found.")
            object_type = fields_.get("ObjectType", "None")
            key_num = fields_.get("KeyNum", 0) if object_type != "None" else 0
            self._check_key(object_type, key_num)
            self._check_user(fields_["UserNum"])
            priority = fields_.get("PriorityDefNum")
            if priority is None:
                priority = self.default_priority()
            self._check_priority(priority)
            now = self.clock.now()
            task = Task(
                TaskNum=self.tasks.max_num() + 1, TaskListNum=tasklist, KeyNum=key_num,
                Descript=fields_["Descript"], ObjectType=object_type,
                DateTimeEntry=fields_.get("DateTimeEntry", now), UserNum=fields_["UserNum"],
                PriorityDefNum=priority, DateTimeOriginal=now, SecDateTEdit=now,
                DescriptOverride=fields_.get("DescriptOverride", ""))
            self._record("tasks", task)
            self._writable("tasks").insert(task)
            return task

    def update_task(self, num: int, changes: Mapping[str, Any]) -> Task:
        """PUT /tasks/{TaskNum}: a partial update with the Done/Viewed rules (SPEC §3)."""
        _key_needs_type(changes)
        if "TaskStatus" in changes:
            self.require_version("24.2.10", "TaskStatus")
        with self.lock:
            old = self.get_task(num)
            new = dict(changes)
            if "Descript" in changes and old.TaskStatus == "Done" and "TaskStatus" not in changes:
                new["TaskStatus"] = "Viewed"  # apitasks: Descript sets Done to Viewed
            if "ObjectType" in changes:
                if changes["ObjectType"] == "None":
                    new["KeyNum"] = 0
                self._check_key(changes["ObjectType"], new.get("KeyNum", old.KeyNum))
            if "PriorityDefNum" in changes:
                self._check_priority(changes["PriorityDefNum"])
            if all(getattr(old, name) == value for name, value in new.items()):
                return old  # nothing changed: SecDateTEdit stays
            now = self.clock.now()
            done = new.get("TaskStatus", old.TaskStatus) == "Done" and old.TaskStatus != "Done"
            if done and new.get("DateTimeFinished", old.DateTimeFinished) == UNSET_DATETIME:
                new["DateTimeFinished"] = now
            new["SecDateTEdit"] = now
            task = dataclasses.replace(old, **new)
            written = [task]
            if done and task.is_reminder:
                written.append(dataclasses.replace(
                    task, TaskNum=self.tasks.max_num() + 1, TaskStatus="New",
                    DateTimeEntry=next_due(task), DateTimeFinished=UNSET_DATETIME,
                    DateTimeOriginal=now, SecDateTEdit=now))
            self._record("tasks", *written)
            table = self._writable("tasks")
            table.replace(task)
            for copy in written[1:]:
                table.insert(copy)
            return task

    # -- task notes --
    def get_note(self, num: int) -> TaskNote:
        return self._find("tasknotes", num, "TaskNote not found.")

    def list_notes(self, *, TaskNum: int | None = None, UserNum: int | None = None,
                   Offset: int = 0, Limit: int | None = None) -> list[TaskNote]:
        """GET /tasknotes: by TaskNoteNum; a filter naming a task or user that does not
        exist is a 404 (apitasknotes lists 404 for this method)."""
        with self.lock:
            if TaskNum is not None:
                self.get_task(TaskNum)
            if UserNum is not None:
                self._check_user(UserNum)
            filters = {name: value for name, value in (("TaskNum", TaskNum), ("UserNum", UserNum))
                       if value is not None}
            return self.tasknotes.select(filters, Offset, self.clamp(Limit))

    def create_note(self, fields_: Mapping[str, Any]) -> TaskNote:
        """POST /tasknotes: the task and the user must exist; DateTimeNote is now."""
        with self.lock:
            self.get_task(fields_["TaskNum"])
            self._check_user(fields_["UserNum"])
            note = TaskNote(TaskNoteNum=self.tasknotes.max_num() + 1, TaskNum=fields_["TaskNum"],
                            UserNum=fields_["UserNum"], DateTimeNote=self.clock.now(),
                            Note=fields_["Note"])
            self._record("tasknotes", note)
            self._writable("tasknotes").insert(note)
            return note

    def update_note(self, num: int, changes: Mapping[str, Any]) -> TaskNote:
        """PUT /tasknotes/{TaskNoteNum}: DateTimeNote and Note only."""
        with self.lock:
            note = dataclasses.replace(self.get_note(num), **changes)
            self._record("tasknotes", note)
            self._writable("tasknotes").replace(note)
            return note

    # -- supporting resources --
    def list_tasklists(self, *, TaskListStatus: str = "Active", Offset: int = 0,
                       Limit: int | None = None) -> list[TaskList]:
        rows = (t for t in self.tasklists.values() if t.TaskListStatus == TaskListStatus)
        return page(rows, Offset, self.clamp(Limit))

    def list_definitions(self, *, Category: int | None = None, includeHidden: bool = False,
                         Offset: int = 0, Limit: int | None = None) -> list[Definition]:
        rows = (d for d in self.definitions.values()
                if (Category is None or d.Category == Category) and (includeHidden or not d.IsHidden))
        return page(rows, Offset, self.clamp(Limit))

    def list_userods(self, *, includeHidden: bool = False, includeCEMT: bool = False,
                     Offset: int = 0, Limit: int | None = None) -> list[Userod]:
        rows = (u for u in self.userods.values()
                if (includeHidden or not u.IsHidden) and (includeCEMT or not u.UserNumCEMT))
        return page(rows, Offset, self.clamp(Limit))
