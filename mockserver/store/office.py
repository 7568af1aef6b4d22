"""One office: its data, clock and lock, and the business rules of the API (SPEC §2-§4)."""
from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol

from .clock import Clock, next_due
from .records import (TASK_PRIORITIES, UNSET_DATETIME, Appointment, BadRequest, Definition,
                      NotFound, Patient, Task, TaskList, Userod, parse_version)
from .tasktable import TaskTable, page

PAGE_CAP = 100  # apiimplementation: "hard limit of 100 items"
LOCAL_PAGE_CAP = 1000  # the Local API's limit


class Journal(Protocol):
    """Where a Registry and its offices report every change, e.g. persist.FileJournal.

    Each method returns only once the change is durable; offices call ``tasks`` inside
    their lock, after validation and before the change is applied, so a failing journal
    leaves the office unchanged and the request unacknowledged.
    """

    def office(self, office: "Office") -> None:
        """Record the whole office (registered by Registry.put)."""

    def tasks(self, office: "Office", tasks: tuple[Task, ...]) -> None:
        """Record tasks about to be inserted or replaced in *office*."""

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

    Reference data is read-only and shared with the seed; the task table is shared
    too until the first write, which makes a copy keeping only the office's own changes
    (TaskTable.copy), so a new office costs almost nothing.
    """

    def __init__(self, key: str, tables: Mapping[str, Any], version: str,
                 clock: Clock | None = None, page_cap: int = PAGE_CAP,
                 journal: Journal | None = None):
        self.key = key
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.journal = journal
        self.journal_id: int | None = None  # set by the journal once it holds this office
        if journal is not None:  # a replacement office may take over its predecessor's clock
            self.clock.listener = self._clock_changed
        self.version = version
        self.page_cap = page_cap
        self.tasks: TaskTable = tables["tasks"]
        self.tasklists: Mapping[int, TaskList] = tables["tasklists"]
        self.definitions: Mapping[int, Definition] = tables["definitions"]
        self.userods: Mapping[int, Userod] = tables["userods"]
        self.patients: Mapping[int, Patient] = tables["patients"]
        self.appointments: Mapping[int, Appointment] = tables["appointments"]
        self._tasks_shared = True
        self._next_task_num = self.tasks.max_num() + 1

    def records(self, kind: str) -> list[Any]:
        """Every record of *kind* (a RECORD_TYPES name), by primary key."""
        table = getattr(self, kind)
        return list(table) if kind == "tasks" else list(table.values())

    # -- helpers --
    def require_version(self, since: str, what: str) -> None:
        """400 when the office is older than the version that added *what*."""
        if parse_version(self.version) < parse_version(since):
            raise BadRequest(f"{what} requires version {since} or later.")

    def clamp(self, limit: int | None) -> int:
        """The page size: Limit if given, never more than the cap (SPEC §1 paging)."""
        return self.page_cap if limit is None else min(limit, self.page_cap)

    def _writable_tasks(self) -> TaskTable:
        if self._tasks_shared:
            self.tasks, self._tasks_shared = self.tasks.copy(), False
        return self.tasks

    def _record(self, *tasks: Task) -> None:
        if self.journal is not None:
            self.journal.tasks(self, tasks)

    def _clock_changed(self) -> None:
        if self.journal is not None:
            self.journal.clock(self)

    def detach(self) -> None:
        """Stop reporting to the journal: the registry no longer serves this office.

        Taking the lock waits for a write in progress, so its record comes first.
        """
        with self.lock:
            self.journal = None

    def restore(self, tasks: Iterable[Task]) -> None:
        """Put recorded tasks back (journal replay): insert new TaskNums, replace others."""
        with self.lock:
            table = self._writable_tasks()
            for task in tasks:
                if table.get(task.TaskNum) is None:
                    table.insert(task)
                else:
                    table.replace(task)
                self._next_task_num = max(self._next_task_num, task.TaskNum + 1)

    def _check_key(self, object_type: str, key_num: int) -> None:
        if object_type == "Patient" and key_num not in self.patients:
            raise NotFound("Patient not found.")
        if object_type == "Appointment" and key_num not in self.appointments:
            raise NotFound("Appointment not found.")

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
    def get_task(self, num: int) -> Task:
        with self.lock:
            task = self.tasks.get(num)
        if task is None:
            raise NotFound("Task not found.")
        return task

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
            if fields_["UserNum"] not in self.userods:
                raise NotFound("User not found.")
            priority = fields_.get("PriorityDefNum")
            if priority is None:
                priority = self.default_priority()
            self._check_priority(priority)
            now = self.clock.now()
            task = Task(
                TaskNum=self._next_task_num, TaskListNum=tasklist, KeyNum=key_num,
                Descript=fields_["Descript"], ObjectType=object_type,
                DateTimeEntry=fields_.get("DateTimeEntry", now), UserNum=fields_["UserNum"],
                PriorityDefNum=priority, DateTimeOriginal=now, SecDateTEdit=now,
                DescriptOverride=fields_.get("DescriptOverride", ""))
            self._record(task)
            self._writable_tasks().insert(task)
            self._next_task_num += 1
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
                    task, TaskNum=self._next_task_num, TaskStatus="New",
                    DateTimeEntry=next_due(task), DateTimeFinished=UNSET_DATETIME,
                    DateTimeOriginal=now, SecDateTEdit=now))
            self._record(*written)
            table = self._writable_tasks()
            table.replace(task)
            for copy in written[1:]:
                table.insert(copy)
                self._next_task_num += 1
            return task

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
