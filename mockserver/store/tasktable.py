"""The task table: tasks by TaskNum, with an index for every GET /tasks filter."""
from __future__ import annotations

import itertools
from datetime import datetime
from operator import attrgetter
from typing import Any, Iterable, Iterator, Mapping

from sortedcontainers import SortedList

from .records import Task

INDEXED = ("TaskListNum", "TaskStatus", "ObjectType", "KeyNum")


def page(items: Iterable[Any], offset: int, limit: int) -> list[Any]:
    """Items *offset* to *offset* + *limit* of *items*."""
    # two slices: offset + limit may exceed sys.maxsize, which islice refuses
    return list(itertools.islice(itertools.islice(items, offset, None), limit))


class TaskTable:
    """Tasks by TaskNum, with indexes for every list filter (SPEC §3 GET /tasks).

    Each index maps a value to the sorted TaskNums having it, so a query walks the
    smallest candidate list in TaskNum order and stops once a page is full. The
    DateTimeOriginal index holds (time, TaskNum) pairs: a narrow window is cut out and
    its TaskNums sorted, when that is cheaper than walking.

    Offices share their seed's table: the rows and indexes a table is built with are its
    base, which no table changes. A copy keeps over the base only the rows it changed or
    added and its own copies of the index lists it changed, so an office that writes costs
    its changes, not a copy of every task.
    """

    def __init__(self, tasks: Iterable[Task] = ()):
        ordered = sorted(tasks, key=attrgetter("TaskNum"))
        self._base: dict[int, Task] = {t.TaskNum: t for t in ordered}
        if len(self._base) != len(ordered):
            raise ValueError("two tasks with the same TaskNum")
        self._own: dict[int, Task] = {}  # rows changed or added since: they win over _base
        self._size, self._max = len(ordered), ordered[-1].TaskNum if ordered else 0
        self._base_index: dict[str, dict[Any, SortedList]] = {}
        for name in INDEXED:
            lists: dict[Any, list[int]] = {}
            for task in ordered:
                lists.setdefault(getattr(task, name), []).append(task.TaskNum)
            self._base_index[name] = {value: SortedList(nums) for value, nums in lists.items()}
        # the lists this table changed, over the base's: an empty one hides the base's
        self._own_index: dict[str, dict[Any, SortedList]] = {name: {} for name in INDEXED}
        self._base_times = SortedList((t.DateTimeOriginal, t.TaskNum) for t in ordered)
        self._added_times = SortedList()  # the same pairs for the tasks added since

    def copy(self) -> "TaskTable":
        """An independent table sharing the base (an office's first write copies its
        seed's table this way)."""
        twin = TaskTable.__new__(TaskTable)
        twin._base, twin._base_index, twin._base_times = self._base, self._base_index, self._base_times
        twin._own, twin._size, twin._max = dict(self._own), self._size, self._max
        twin._own_index = {name: {value: nums.copy() for value, nums in lists.items()}
                           for name, lists in self._own_index.items()}
        twin._added_times = self._added_times.copy()
        return twin

    def _nums(self, name: str, value: Any) -> SortedList:
        """The TaskNums with *value* in index *name*, as a list this table may change."""
        own = self._own_index[name]
        if value not in own:
            base = self._base_index[name].get(value)
            own[value] = SortedList() if base is None else base.copy()
        return own[value]

    def _lookup(self, name: str, value: Any) -> SortedList:
        """The TaskNums with *value* in index *name*."""
        nums = self._own_index[name].get(value)
        return nums if nums is not None else self._base_index[name].get(value, SortedList())

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Task]:
        """Every task, by TaskNum."""
        own, base = self._own, self._base
        last = next(reversed(base), 0)  # added TaskNums are all beyond the base's
        return itertools.chain((own.get(num, task) for num, task in base.items()),
                               (task for num, task in own.items() if num > last))

    def get(self, num: int) -> Task | None:
        task = self._own.get(num)
        return task if task is not None else self._base.get(num)

    def max_num(self) -> int:
        """The largest TaskNum (0 when empty)."""
        return self._max

    def insert(self, task: Task) -> None:
        """Add a task whose TaskNum is larger than every stored one."""
        if task.TaskNum <= self._max:
            raise ValueError("tasks must be added in increasing TaskNum order")
        self._own[task.TaskNum] = task
        self._size, self._max = self._size + 1, task.TaskNum
        for name in INDEXED:
            self._nums(name, getattr(task, name)).add(task.TaskNum)
        self._added_times.add((task.DateTimeOriginal, task.TaskNum))

    def replace(self, task: Task) -> None:
        """Store a changed version of an existing task, keeping the indexes right."""
        old = self.get(task.TaskNum)
        if old is None:
            raise KeyError(task.TaskNum)
        self._own[task.TaskNum] = task
        for name in INDEXED:
            before, after = getattr(old, name), getattr(task, name)
            if before != after:
                self._nums(name, before).remove(task.TaskNum)
                self._nums(name, after).add(task.TaskNum)
        # DateTimeOriginal never changes, so its index stays as it is

    def query(self, filters: Mapping[str, Any], since: datetime | None,
              offset: int, limit: int) -> list[Task]:
        """Tasks equal to every filter and with DateTimeOriginal >= *since*, by TaskNum."""
        candidates: Iterable[int] | None = None
        size = len(self)
        for name, value in filters.items():
            nums = self._lookup(name, value)
            if len(nums) < size:
                candidates, size = nums, len(nums)
        if since is not None:
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
                window = itertools.chain(self._base_times.islice(start),
                                         self._added_times.islice(added))
                candidates = sorted(num for _, num in window)
        tasks: Iterable[Task] = iter(self) if candidates is None else map(self.get, candidates)
        if since is not None:
            tasks = (t for t in tasks if t.DateTimeOriginal >= since)
        if filters:
            tasks = (t for t in tasks
                     if all(getattr(t, name) == value for name, value in filters.items()))
        return page(tasks, offset, limit)
