"""The tables of records that offices write: records by primary key, with an index for
every field a list operation filters on (tasks, task notes)."""
from __future__ import annotations

import copy
import itertools
from datetime import datetime
from operator import attrgetter
from typing import Any, Iterable, Iterator, Mapping

from sortedcontainers import SortedList

from .records import Task, TaskNote


def page(items: Iterable[Any], offset: int, limit: int) -> list[Any]:
    """Items *offset* to *offset* + *limit* of *items*."""
    # two slices: offset + limit may exceed sys.maxsize, which islice refuses
    return list(itertools.islice(itertools.islice(items, offset, None), limit))


class Table:
    """Records by their primary key (*key*, an int), with an index for each *indexed*
    field: a value's sorted keys, so a query walks the smallest candidate list in key
    order and stops once a page is full.

    Offices share their seed's tables: the records and indexes a table is built with are
    its base, which no table changes. A copy keeps over the base only the records it
    changed or added and its own copies of the index lists it changed, so an office that
    writes costs its changes, not a copy of every record. New records take keys above
    every stored one.
    """

    def __init__(self, key: str, indexed: tuple[str, ...], records: Iterable[Any] = ()):
        self.key, self.indexed = key, indexed
        key_of = attrgetter(key)
        ordered = sorted(records, key=key_of)
        self._base: dict[int, Any] = {key_of(r): r for r in ordered}
        if len(self._base) != len(ordered):
            raise ValueError(f"two records with the same {key}")
        self._own: dict[int, Any] = {}  # records changed or added since: they win over _base
        self._size, self._max = len(ordered), key_of(ordered[-1]) if ordered else 0
        self._base_index: dict[str, dict[Any, SortedList]] = {}
        for name in indexed:
            lists: dict[Any, list[int]] = {}
            for record in ordered:
                lists.setdefault(getattr(record, name), []).append(key_of(record))
            self._base_index[name] = {value: SortedList(keys) for value, keys in lists.items()}
        # the lists this table changed, over the base's: an empty one hides the base's
        self._own_index: dict[str, dict[Any, SortedList]] = {name: {} for name in indexed}

    def copy(self) -> "Table":
        """An independent table sharing the base (an office's first write copies its
        seed's table this way)."""
        twin = copy.copy(self)  # the base, shared
        twin._own = dict(self._own)
        twin._own_index = {name: {value: keys.copy() for value, keys in lists.items()}
                           for name, lists in self._own_index.items()}
        return twin

    def _keys(self, name: str, value: Any) -> SortedList:
        """The keys with *value* in index *name*, as a list this table may change."""
        own = self._own_index[name]
        if value not in own:
            base = self._base_index[name].get(value)
            own[value] = SortedList() if base is None else base.copy()
        return own[value]

    def lookup(self, name: str, value: Any) -> SortedList:
        """The keys with *value* in index *name*."""
        keys = self._own_index[name].get(value)
        return keys if keys is not None else self._base_index[name].get(value, SortedList())

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        """Every record, by key."""
        own, base = self._own, self._base
        last = next(reversed(base), 0)  # added keys are all beyond the base's
        return itertools.chain((own.get(num, record) for num, record in base.items()),
                               (record for num, record in own.items() if num > last))

    def get(self, num: int) -> Any:
        record = self._own.get(num)
        return record if record is not None else self._base.get(num)

    def max_num(self) -> int:
        """The largest key (0 when empty)."""
        return self._max

    def insert(self, record: Any) -> None:
        """Add a record whose key is larger than every stored one."""
        num = getattr(record, self.key)
        if num <= self._max:
            raise ValueError(f"records must be added in increasing {self.key} order")
        self._own[num] = record
        self._size, self._max = self._size + 1, num
        for name in self.indexed:
            self._keys(name, getattr(record, name)).add(num)

    def replace(self, record: Any) -> None:
        """Store a changed version of an existing record, keeping the indexes right."""
        num = getattr(record, self.key)
        old = self.get(num)
        if old is None:
            raise KeyError(num)
        self._own[num] = record
        for name in self.indexed:
            before, after = getattr(old, name), getattr(record, name)
            if before != after:
                self._keys(name, before).remove(num)
                self._keys(name, after).add(num)

    def candidates(self, filters: Mapping[str, Any]) -> tuple[SortedList | None, int]:
        """The smallest index list of *filters* (None: no filter narrows the table), and
        its size."""
        found, size = None, len(self)
        for name, value in filters.items():
            keys = self.lookup(name, value)
            if len(keys) < size:
                found, size = keys, len(keys)
        return found, size

    def records(self, keys: Iterable[int] | None) -> Iterator[Any]:
        """The records of *keys* in their order; None: every record, by key."""
        return iter(self) if keys is None else map(self.get, keys)

    def select(self, filters: Mapping[str, Any], offset: int, limit: int,
               records: Iterable[Any] | None = None) -> list[Any]:
        """A page of the records equal to every filter, by key, taken from *records*
        (default: those of the smallest candidate list)."""
        if records is None:
            records = self.records(self.candidates(filters)[0])
        if filters:
            records = (r for r in records
                       if all(getattr(r, name) == value for name, value in filters.items()))
        return page(records, offset, limit)


class TaskTable(Table):
    """Tasks by TaskNum, indexed for every GET /tasks filter (SPEC §3), and by
    DateTimeOriginal: (time, TaskNum) pairs, so a narrow window of time is cut out and its
    TaskNums sorted, when that is cheaper than walking an index."""

    def __init__(self, tasks: Iterable[Task] = ()):
        tasks = list(tasks)
        super().__init__("TaskNum", ("TaskListNum", "TaskStatus", "ObjectType", "KeyNum"), tasks)
        self._base_times = SortedList((t.DateTimeOriginal, t.TaskNum) for t in tasks)
        self._added_times = SortedList()  # the same pairs for the tasks added since

    def copy(self) -> "TaskTable":
        twin = super().copy()
        twin._added_times = self._added_times.copy()
        return twin

    def insert(self, task: Task) -> None:
        super().insert(task)
        self._added_times.add((task.DateTimeOriginal, task.TaskNum))
        # DateTimeOriginal never changes, so replace leaves this index as it is

    def query(self, filters: Mapping[str, Any], since: datetime | None,
              offset: int, limit: int) -> list[Task]:
        """Tasks equal to every filter and with DateTimeOriginal >= *since*, by TaskNum."""
        keys, size = self.candidates(filters)
        if since is None:
            return self.select(filters, offset, limit, self.records(keys))
        start = self._base_times.bisect_left((since,))
        added = self._added_times.bisect_left((since,))
        recent = len(self._base_times) - start + len(self._added_times) - added
        # Rows walked to fill a page: about (offset + limit) / (share that matches).
        # Either walk the smallest index, testing the window, or sort the window's
        # TaskNums (about a third of a walked row each) and walk those.
        wanted, total = offset + limit, len(self) or 1
        walk = size if recent == 0 else min(size, wanted * total / recent)
        walk_sorted = recent / 3 + min(recent, wanted * total / size if size else recent)
        if walk_sorted < walk:
            window = itertools.chain(self._base_times.islice(start), self._added_times.islice(added))
            keys = sorted(num for _, num in window)
        return self.select(filters, offset, limit,
                           (t for t in self.records(keys) if t.DateTimeOriginal >= since))


class NoteTable(Table):
    """Task notes by TaskNoteNum, indexed for GET /tasknotes's filters."""

    def __init__(self, notes: Iterable[TaskNote] = ()):
        super().__init__("TaskNoteNum", ("TaskNum", "UserNum"), notes)
