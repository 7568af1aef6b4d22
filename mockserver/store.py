"""In-memory offices: tasks and their reference data, indexes, clocks, keys and locks.

Pure Python on purpose (no Flask, marshmallow or YAML): the business rules of
SPEC §2-§4 live here and can be tested and benchmarked without HTTP.
Records are frozen dataclasses whose attribute names are the wire names, so an
office can share its seed's records and only copy what it writes.
"""
from __future__ import annotations

import bisect
import calendar
import ctypes
import enum
import functools
import gc
import itertools
import re
import threading
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from operator import attrgetter, itemgetter
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

UNSET_DATE = date(1, 1, 1)
UNSET_DATETIME = datetime(1, 1, 1)
TASK_PRIORITIES = 33  # definition.Category of task priorities
DEFAULT_VERSION = "24.4.13"  # the newest version any served method needs
PAGE_CAP = 100  # apiimplementation: "hard limit of 100 items"
LOCAL_PAGE_CAP = 1000  # the Local API's limit
MAX_ID = 2**63 - 1  # bigint(20) primary and foreign keys

TASK_STATUSES = ("New", "Viewed", "Done")
OBJECT_TYPES = ("None", "Patient", "Appointment")
DATE_TYPES = ("None", "Day", "Week", "Month")
TASKLIST_STATUSES = ("Active", "Archived")
READ_ALL = "ReadAll"
ALL_OTHERS = "AllOthers"
PERMISSIONS = (READ_ALL, ALL_OTHERS)


class ReminderType(enum.IntFlag):
    """task.ReminderType, a .NET [Flags] enum (TaskReminderType)."""

    NoReminder = 0
    Daily = 1
    Weekly = 2
    Monthly = 4
    Yearly = 8
    Monday = 16
    Tuesday = 32
    Wednesday = 64
    Thursday = 128
    Friday = 256
    Saturday = 512
    Sunday = 1024
    Once = 2048


WEEKDAY_FLAGS = (ReminderType.Monday, ReminderType.Tuesday, ReminderType.Wednesday,
                 ReminderType.Thursday, ReminderType.Friday, ReminderType.Saturday,
                 ReminderType.Sunday)  # index = date.weekday()


class ApiError(Exception):
    """A client error; errors.py turns it into a JSON-string response."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


# --- records --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Task:
    """One row of the task table; fields in the documented wire order."""

    TaskNum: int
    TaskListNum: int = 0
    DateTask: date = UNSET_DATE
    KeyNum: int = 0
    Descript: str = ""
    TaskStatus: str = "New"
    IsRepeating: bool = False
    DateType: str = "None"
    FromNum: int = 0
    ObjectType: str = "None"
    DateTimeEntry: datetime = UNSET_DATETIME
    UserNum: int = 0
    DateTimeFinished: datetime = UNSET_DATETIME
    PriorityDefNum: int = 0
    ReminderGroupId: str = ""
    ReminderType: int = 0
    ReminderFrequency: int = 0
    DateTimeOriginal: datetime = UNSET_DATETIME
    SecDateTEdit: datetime = UNSET_DATETIME
    DescriptOverride: str = ""
    IsReadOnly: bool = False

    @property
    def is_reminder(self) -> bool:
        """A repeating reminder: it gets a next copy when marked Done."""
        return bool(self.ReminderGroupId) and self.ReminderType not in (
            ReminderType.NoReminder, ReminderType.Once)


@dataclass(frozen=True, slots=True)
class TaskList:
    TaskListNum: int
    Descript: str = ""
    Parent: int = 0
    DateTL: date = UNSET_DATE
    IsRepeating: bool = False
    DateType: str = "None"
    FromNum: int = 0
    ObjectType: str = "None"
    DateTimeEntry: datetime = UNSET_DATETIME
    TaskListStatus: str = "Active"


@dataclass(frozen=True, slots=True)
class Definition:
    DefNum: int
    Category: int
    ItemName: str = ""
    ItemValue: str = ""
    ItemOrder: int = 0
    IsHidden: bool = False


@dataclass(frozen=True, slots=True)
class Userod:
    UserNum: int
    UserName: str = ""
    userGroupNums: tuple[int, ...] = ()
    EmployeeNum: int = 0
    employeeName: str = ""
    ClinicNum: int = 0
    ProviderNum: int = 0
    providerName: str = ""
    emailAddress: str = ""
    IsHidden: bool = False
    UserNumCEMT: int = 0
    IsPasswordResetRequired: bool = False


@dataclass(frozen=True, slots=True)
class Patient:
    PatNum: int
    LName: str = ""
    FName: str = ""


@dataclass(frozen=True, slots=True)
class Appointment:
    AptNum: int
    PatNum: int = 0
    AptDateTime: datetime = UNSET_DATETIME


# kind (fixture file name) -> record class; the first field is the primary key
RECORD_TYPES: dict[str, type] = {
    "tasks": Task,
    "tasklists": TaskList,
    "definitions": Definition,
    "userods": Userod,
    "patients": Patient,
    "appointments": Appointment,
}


@functools.lru_cache(maxsize=None)
def _layout(cls: type) -> tuple[Callable[[Any], tuple], dict[str, int]]:
    names = [f.name for f in fields(cls)]
    return attrgetter(*names), {name: i for i, name in enumerate(names)}


def evolve(record: Any, changes: Mapping[str, Any]) -> Any:
    """``dataclasses.replace(record, **changes)`` for the records here, twice as fast (every
    PUT makes one): their fields are all init fields, so the copy is built positionally.
    KeyError for a name that is not a field."""
    values_of, position = _layout(type(record))
    values = list(values_of(record))
    for name, value in changes.items():
        values[position[name]] = value
    return type(record)(*values)


def _untracker() -> Callable[[Any], None]:
    """CPython's ``PyObject_GC_UnTrack`` (a no-op elsewhere)."""
    try:
        function = ctypes.pythonapi.PyObject_GC_UnTrack
    except AttributeError:  # not CPython: no such collector to leave
        return lambda record: None
    function.argtypes, function.restype = [ctypes.py_object], None
    return function


# The records the store keeps leave the cyclic garbage collector's lists, as CPython's own
# tuples and dicts of plain values do: a record holds only ints, strings, bools, times and
# tuples of ints, so it is never part of a cycle, yet every full collection walked each
# one. Reference counting still frees them. A table with 90,000 tasks added: a full
# collection took 35-41 ms, untracked 7.5-11 ms (the dicts and lists holding them are
# still walked); in granian's worker after eight 3-second POST runs at 100,000 tasks,
# 92 ms, untracked 25 ms (2026-12-03).
untrack_record = _untracker()


V = TypeVar("V")


def get_or_create(table: dict[str, V], lock: threading.Lock, key: str,
                  make: Callable[[str], V]) -> V:
    """``table[key]``, made by ``make(key)`` under *lock* the first time. Every request
    asks: a hit is a plain dict read, which needs no lock."""
    found = table.get(key)
    if found is not None:
        return found
    with lock:
        found = table.get(key)
        if found is None:
            found = table[key] = make(key)
        return found


def primary_key(cls: type) -> str:
    """The name of a record class's primary key (its first field)."""
    return fields(cls)[0].name


# --- time -----------------------------------------------------------------------------

_RELATIVE = re.compile(r"now(?:([+-])(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?")


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """A fixture timestamp such as ``now-3d`` or ``now-2h30m``, resolved per office."""

    delta: timedelta
    as_date: bool = False

    @classmethod
    def parse(cls, text: str, as_date: bool = False) -> "RelativeTime | None":
        """Parse ``now``, ``now-3d``, ``now+1d2h``...; None when *text* is not one."""
        m = _RELATIVE.fullmatch(text)
        if m is None:
            return None
        sign, days, hours, minutes, seconds = m.groups()
        if sign and not (days or hours or minutes or seconds):
            return None
        try:  # a fixture has tens of thousands of these: the quickest way (bench/)
            delta = timedelta(int(days or 0), int(hours or 0) * 3600 + int(minutes or 0) * 60
                              + int(seconds or 0))
        except OverflowError:  # beyond timedelta's range: not a usable time
            return None
        return cls(-delta if sign == "-" else delta, as_date)

    def resolve(self, now: datetime) -> date | datetime:
        """The absolute value at office time *now*."""
        value = now + self.delta
        return value.date() if self.as_date else value


class Clock:
    """An office's clock: real local time, shifted, or frozen (SPEC §5)."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._frozen: datetime | None = None
        self.listener: Callable[[], None] | None = None  # told of every change (persistence)

    def now(self) -> datetime:
        """Office-local time, whole seconds, no zone (the API's datetime)."""
        t = self._frozen if self._frozen is not None else datetime.now() + self._offset
        # not t.replace(microsecond=0): three times the cost, twice on every write
        return datetime(t.year, t.month, t.day, t.hour, t.minute, t.second)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def set(self, when: datetime | None = None, frozen: bool | None = None) -> None:
        """Move to *when* (if given) and/or freeze or unfreeze at the current time."""
        target = when if when is not None else self.now()
        freeze = self.frozen if frozen is None else frozen
        if freeze:
            self._frozen, self._offset = target, timedelta()
        else:
            self._frozen, self._offset = None, target - datetime.now()
        self._changed()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, for a negative delta)."""
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta
        self._changed()

    def state(self) -> tuple[datetime | None, timedelta]:
        """(frozen time or None, offset from real time): enough to rebuild the clock."""
        return self._frozen, self._offset

    def restore(self, frozen: datetime | None, offset: timedelta) -> None:
        """Set the state returned by ``state()``, without telling the listener."""
        self._frozen, self._offset = frozen, offset

    def _changed(self) -> None:
        if self.listener is not None:
            self.listener()


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


@functools.lru_cache(maxsize=256)  # every request compares its office's version
def parse_version(text: str) -> tuple[int, ...]:
    """``"24.4.13"`` -> ``(24, 4, 13)``; ValueError if it is no version."""
    if not re.fullmatch(r"\d+(\.\d+){1,3}", text):
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in text.split("."))


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    return when.replace(year=year, month=month,
                        day=min(when.day, calendar.monthrange(year, month)[1]))


def next_due(task: Task) -> datetime:
    """The DateTimeEntry of a reminder's next copy (OD's CopyReminderToNextDueDate)."""
    kind, every, base = ReminderType(task.ReminderType), max(task.ReminderFrequency, 1), task.DateTimeEntry
    if kind & ReminderType.Daily:
        return base + timedelta(days=every)
    if kind & ReminderType.Monthly:
        return _add_months(base, every)
    if kind & ReminderType.Yearly:
        return _add_months(base, 12 * every)
    days = [i for i, flag in enumerate(WEEKDAY_FLAGS) if kind & flag]
    if not days:  # plain Weekly: the same weekday, *every* weeks later
        return base + timedelta(weeks=every)
    later = [d for d in days if d > base.weekday()]
    if later:  # the next chosen day in this week
        return base + timedelta(days=later[0] - base.weekday())
    # wrap to the first chosen day, skipping the weeks in between
    return base + timedelta(days=7 - base.weekday() + days[0], weeks=every - 1)


def _page(items: Iterable, offset: int, limit: int) -> list:
    # two slices: offset + limit may exceed sys.maxsize, which islice refuses
    return list(itertools.islice(itertools.islice(items, offset, None), limit))


# --- the task table -------------------------------------------------------------------

INDEXED = ("TaskListNum", "TaskStatus", "ObjectType", "KeyNum")


_LAST = itemgetter(-1)  # a chunk's largest TaskNum


class SortedNums:
    """Ascending TaskNums, kept as consecutive chunks of at most 2 * CHUNK.

    An insert or a removal moves the entries of one chunk, not of the whole list: at
    100,000 tasks a TaskStatus change moved ~33,000 entries per list (~6 us per PUT,
    ~2 us in chunks). Iterating chains the chunks, a few percent slower than a list.
    ``owner`` is the token of the TaskTable that may change it (TaskTable.copy). A copy
    shares the chunks, and either list copies a shared chunk before changing it.
    """

    CHUNK = 512
    __slots__ = ("_chunks", "_size", "owner", "_shared")

    def __init__(self, nums: list[int] | None = None, owner: object = None) -> None:
        """From a list of ascending TaskNums, which becomes the only chunk when it is short
        (most lists: no copy, and no freed lists left behind in the heap)."""
        self.owner = owner
        if not nums:
            self._chunks: list[list[int]] = []
        elif len(nums) <= 2 * self.CHUNK:
            self._chunks = [nums]
        else:
            self._chunks = [nums[i:i + self.CHUNK] for i in range(0, len(nums), self.CHUNK)]
        self._size = len(nums) if nums else 0
        # ids of the chunks in _chunks that another list may hold too (None: none); each
        # is alive while it is here, so no new chunk can take its id
        self._shared: set[int] | None = None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        return itertools.chain.from_iterable(self._chunks)

    def copy(self, owner: object) -> "SortedNums":
        """An independent copy, owned by *owner*, sharing the chunks until one of the two
        lists changes one (a status list of ~33,000 TaskNums: 65 chunks not copied)."""
        twin = SortedNums.__new__(SortedNums)
        twin._chunks, twin._size, twin.owner = list(self._chunks), self._size, owner
        twin._shared = {id(chunk) for chunk in self._chunks}
        self._shared = set(twin._shared)
        return twin

    def _chunk(self, at: int) -> list[int]:
        """The chunk at *at*, as one this list alone holds."""
        chunk = self._chunks[at]
        if self._shared and id(chunk) in self._shared:
            self._shared.remove(id(chunk))
            chunk = self._chunks[at] = chunk.copy()
        return chunk

    def add(self, num: int) -> None:
        """Insert *num* (not already present) in order."""
        chunks = self._chunks
        at = bisect.bisect_left(chunks, num, key=_LAST)  # the first chunk ending at or after num
        if at == len(chunks):  # beyond every chunk: the last one takes it, unless full
            if not chunks or len(chunks[-1]) >= 2 * self.CHUNK:
                chunks.append([])
            at = len(chunks) - 1
        chunk = self._chunk(at)
        bisect.insort(chunk, num)
        self._size += 1
        if len(chunk) > 2 * self.CHUNK:
            chunks[at:at + 1] = [chunk[:self.CHUNK], chunk[self.CHUNK:]]

    def remove(self, num: int) -> None:
        """Remove *num*, which must be present."""
        at = bisect.bisect_left(self._chunks, num, key=_LAST)
        chunk = self._chunk(at)
        del chunk[bisect.bisect_left(chunk, num)]
        self._size -= 1
        if not chunk:
            del self._chunks[at]


class TaskTable:
    """Tasks by TaskNum, with indexes for every list filter (SPEC §3 GET /tasks).

    Each index maps a value to the ascending TaskNums having it, so a query walks the
    smallest candidate list in TaskNum order and stops once a page is full. The
    DateTimeOriginal index is two parallel lists sorted by time: a narrow window is
    cut out with bisect and its TaskNums sorted, when that is cheaper than walking.

    The rows and indexes a table is built with are its base, which no table changes:
    copies share it, and each table keeps over it the rows it changed or added, the index
    lists it changed (copies of the base's, which share their chunks), and the times of
    the tasks it added (see ``copy``).
    """

    def __init__(self, tasks: Iterable[Task] = ()):
        ordered = sorted(tasks, key=attrgetter("TaskNum"))
        self._base: dict[int, Task] = {t.TaskNum: t for t in ordered}
        if len(self._base) != len(ordered):
            raise ValueError("two tasks with the same TaskNum")
        self._own: dict[int, Task] = {}  # rows changed or added since: they win over _base
        self._size, self._max = len(ordered), ordered[-1].TaskNum if ordered else 0
        self._token = object()  # owner of the index lists this table may change in place
        # built column by column rather than by insert per task: a third of the time
        self._base_index: dict[str, dict[Any, SortedNums]] = {}
        for name in INDEXED:
            column: defaultdict[Any, list[int]] = defaultdict(list)
            for value, num in zip(map(attrgetter(name), ordered), self._base):
                column[value].append(num)
            self._base_index[name] = {k: SortedNums(v) for k, v in column.items()}
        # the lists this table changed or added, over the base's: an empty one hides the base's
        self._own_index: dict[str, dict[Any, SortedNums]] = {name: {} for name in INDEXED}
        # sorted once here rather than by insort per task; positions sorted by time (stable:
        # equal times stay in TaskNum order) rather than (time, TaskNum) pairs, a third faster
        times, nums = list(map(attrgetter("DateTimeOriginal"), ordered)), list(self._base)
        by_time = sorted(range(len(times)), key=times.__getitem__)
        self._base_times = list(map(times.__getitem__, by_time))
        self._base_nums = list(map(nums.__getitem__, by_time))
        self._added_times: list[datetime] = []  # the same for the tasks added since
        self._added_nums: list[int] = []

    def copy(self) -> "TaskTable":
        """An independent table sharing the (immutable) task records, the base, and each
        index list until one of the two tables changes it (copy on write).

        An office's first write copies the seed's table. Copying every row and index
        made each office that wrote hold its own copy of the seed's containers: at 100,000
        tasks 6.8 MiB, and 9 to 11 ms more in every full garbage collection, per office
        (now about 50 KiB and 0.01 ms: bench/, Offices).
        """
        twin = TaskTable.__new__(TaskTable)
        twin._base, twin._base_times, twin._base_nums = self._base, self._base_times, self._base_nums
        twin._own, twin._size, twin._max = dict(self._own), self._size, self._max
        twin._added_times, twin._added_nums = list(self._added_times), list(self._added_nums)
        twin._base_index = self._base_index
        twin._own_index = {name: dict(lists) for name, lists in self._own_index.items()}
        self._token, twin._token = object(), object()  # neither owns the shared lists now
        return twin

    def _nums(self, name: str, value: Any) -> SortedNums:
        """The TaskNums with *value* in index *name*, as a list this table owns."""
        own = self._own_index[name]
        nums = own.get(value)
        if nums is None:
            nums = self._base_index[name].get(value)
            nums = own[value] = SortedNums(owner=self._token) if nums is None \
                else nums.copy(self._token)
        elif nums.owner is not self._token:
            nums = own[value] = nums.copy(self._token)
        return nums

    def _lookup(self, name: str, value: Any) -> SortedNums | tuple[()]:
        """The TaskNums with *value* in index *name* (empty: ())."""
        nums = self._own_index[name].get(value)
        return nums if nums is not None else self._base_index[name].get(value, ())

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Task]:
        """Every task, by TaskNum."""
        own, base = self._own, self._base
        if not own:
            return iter(base.values())
        last = next(reversed(base), 0)  # added TaskNums are all beyond the base's
        return itertools.chain(map(own.get, base, base.values()),
                               (task for num, task in own.items() if num > last))

    def get(self, num: int) -> Task | None:
        task = self._own.get(num)
        return task if task is not None else self._base.get(num)

    def max_num(self) -> int:
        """The largest TaskNum (0 when empty)."""
        return self._max

    def insert(self, task: Task) -> None:
        """Add a task whose TaskNum is larger than every stored one (and untrack it)."""
        if task.TaskNum <= self._max:
            raise ValueError("tasks must be added in increasing TaskNum order")
        untrack_record(task)
        self._own[task.TaskNum] = task
        self._size, self._max = self._size + 1, task.TaskNum
        for name in INDEXED:
            self._nums(name, getattr(task, name)).add(task.TaskNum)
        at = bisect.bisect_right(self._added_times, task.DateTimeOriginal)
        self._added_times.insert(at, task.DateTimeOriginal)
        self._added_nums.insert(at, task.TaskNum)

    def replace(self, task: Task) -> None:
        """Store a changed version of an existing task (untracked), keeping the indexes right."""
        old = self.get(task.TaskNum)
        if old is None:
            raise KeyError(task.TaskNum)
        untrack_record(task)
        self._own[task.TaskNum] = task
        for name in INDEXED:
            before, after = getattr(old, name), getattr(task, name)
            if before != after:
                nums = self._nums(name, before)
                nums.remove(task.TaskNum)
                if not nums and before not in self._base_index[name]:
                    del self._own_index[name][before]  # an empty list stays to hide the base's
                self._nums(name, after).add(task.TaskNum)
        # DateTimeOriginal never changes, so its index stays as it is

    def query(self, filters: Mapping[str, Any], since: datetime | None,
              offset: int, limit: int) -> list[Task]:
        """Tasks equal to every filter and with DateTimeOriginal >= *since*, by TaskNum."""
        candidates: Iterable[int] | None = None
        size = self._size
        for name, value in filters.items():
            nums = self._lookup(name, value)
            if len(nums) < size:
                candidates, size = nums, len(nums)
        if since is not None:
            start = bisect.bisect_left(self._base_times, since)
            added = bisect.bisect_left(self._added_times, since)
            recent = len(self._base_times) - start + len(self._added_times) - added
            # Rows walked to fill a page: about (offset + limit) / (share that matches).
            # Either walk the smallest index, testing the window, or sort the window's
            # TaskNums (about a third of a walked row each, measured) and walk those.
            wanted, total = offset + limit, self._size or 1
            walk = size if recent == 0 else min(size, wanted * total / recent)
            walk_sorted = recent / 3 + min(recent, wanted * total / size if size else recent)
            if walk_sorted < walk:
                candidates = sorted(self._base_nums[start:] + self._added_nums[added:])
        own, base = self._own, self._base
        if candidates is None:
            tasks: Iterable[Task] = iter(self)
        elif own:
            tasks = (own.get(n) or base[n] for n in candidates)  # a Task is never false
        else:
            tasks = map(base.__getitem__, candidates)
        if since is not None:
            tasks = (t for t in tasks if t.DateTimeOriginal >= since)
        if filters:
            # one C-level attrgetter call per task instead of a generator of getattrs
            fields_of, values = attrgetter(*filters), tuple(filters.values())
            wanted = values if len(values) > 1 else values[0]
            tasks = (t for t in tasks if fields_of(t) == wanted)
        return _page(tasks, offset, limit)


# --- datasets and offices -------------------------------------------------------------

# A kind's records as groups of the records with the same fields: (fields, positions,
# columns), the positions of the group's records in the kind's order and one column per field
Group = tuple[tuple[str, ...], list[int], list[list[Any]]]
# kind -> the fields holding a date or a datetime
TIME_FIELDS = {kind: frozenset(f.name for f in fields(cls) if f.type in ("date", "datetime"))
               for kind, cls in RECORD_TYPES.items()}


def rows_of(groups: Iterable[Group]) -> list[dict[str, Any]]:
    """The records of *groups* as dicts, in their order."""
    groups = list(groups)
    rows: list[Any] = [None] * sum(len(positions) for _, positions, _ in groups)
    for keys, positions, columns in groups:
        values = zip(*columns) if columns else itertools.repeat(())
        for position, row in zip(positions, map(dict, map(zip, itertools.repeat(keys), values))):
            rows[position] = row
    return rows


def build_many(cls: type, count: int, columns: Mapping[str, Iterable[Any]]) -> list:
    """*count* objects of the frozen, slotted dataclass *cls*, a field's values from its
    column in *columns*, else its default.

    Column by column: each field of every object set by its slot's descriptor in one C
    loop, about a third of ``cls(**row)`` per object (100,000 tasks: 0.1 s instead of
    0.3 s, on the way to answering the first request). That is all the ``__init__`` of
    the dataclasses here does (they have no __post_init__).
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ that build_many would skip")
    objects = list(map(object.__new__, itertools.repeat(cls, count)))
    for f in fields(cls):
        values = columns.get(f.name)
        if values is None:
            if f.default is MISSING:
                raise TypeError(f"{cls.__name__} objects without {f.name}")
            values = itertools.repeat(f.default)
        deque(map(getattr(cls, f.name).__set__, objects, values), 0)
    return objects


def _build(cls: type, groups: Iterable[Group], times: Sequence[Any]) -> list:
    """The records of *groups* as *cls* objects (untracked), in their order; a time column
    holds indexes into *times*."""
    built: list[Any] = []
    order: list[int] = []
    for keys, positions, columns in groups:
        built += build_many(cls, len(positions), {
            key: map(times.__getitem__, column) if f.type in ("date", "datetime") else column
            for key, column, f in zip(keys, columns, map(cls.__dataclass_fields__.get, keys))})
        order += positions
    deque(map(untrack_record, built), 0)
    records: list[Any] = [None] * len(built)
    for position, record in zip(order, built):
        records[position] = record
    return records


@dataclass(frozen=True)
class Dataset:
    """Validated fixture records; timestamps may be RelativeTime until an office resolves them.

    Per kind, the records are column-wise groups (Group), and a time column holds indexes
    into ``times``, the dataset's distinct times: as fixtures validate records and the
    dataset cache stores them, with no dict per record (100,000 tasks: tens of MiB less),
    and each relative time resolved once per office.
    """

    records: Mapping[str, tuple[Group, ...]]
    version: str = DEFAULT_VERSION
    times: tuple[RelativeTime | datetime | date, ...] = ()
    relative: bool = field(init=False, compare=False)  # any RelativeTime: offices resolve anew

    def __post_init__(self) -> None:
        object.__setattr__(self, "relative", any(type(t) is RelativeTime for t in self.times))

    def count(self, kind: str) -> int:
        """How many records of *kind* there are."""
        return sum(len(positions) for _, positions, _ in self.records.get(kind, ()))

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """The records of *kind* as dicts of field to value, in their order."""
        times = TIME_FIELDS[kind]
        return rows_of((keys, positions, [list(map(self.times.__getitem__, column))
                                          if key in times else column
                                          for key, column in zip(keys, columns)])
                       for keys, positions, columns in self.records.get(kind, ()))

    def materialize(self, now: datetime) -> dict[str, Any]:
        """Records as objects at office time *now*: kind -> {key: record}; tasks as a TaskTable.

        With the cyclic garbage collector paused: the records all stay alive, and the
        collections their making sets off would only walk them (and the indexes of every
        seed made before) again and again. A later seed at 100,000 tasks (offices made more than
        ``Registry.SEED_REUSE`` after the last one, with relative times): 300-390 ms
        instead of 445-833 ms, during which the server answers nothing else.
        """
        with _collector_paused():
            times = [t.resolve(now) if type(t) is RelativeTime else t for t in self.times]
            tables: dict[str, Any] = {}
            for kind, cls in RECORD_TYPES.items():
                records = _build(cls, self.records.get(kind, ()), times)
                if kind == "tasks":
                    tables[kind] = TaskTable(records)
                else:
                    key = primary_key(cls)
                    tables[kind] = {getattr(r, key): r
                                    for r in sorted(records, key=lambda r: getattr(r, key))}
            return tables


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside, and as it was after (``serve`` has it off
    while it loads)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
            task = evolve(old, new)  # one new record for all the changes
            written = [task]
            if done and task.is_reminder:
                written.append(evolve(task, {
                    "TaskNum": self._next_task_num, "TaskStatus": "New",
                    "DateTimeEntry": next_due(task), "DateTimeFinished": UNSET_DATETIME,
                    "DateTimeOriginal": now, "SecDateTEdit": now}))
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
        return _page(rows, Offset, self.clamp(Limit))

    def list_definitions(self, *, Category: int | None = None, includeHidden: bool = False,
                         Offset: int = 0, Limit: int | None = None) -> list[Definition]:
        rows = (d for d in self.definitions.values()
                if (Category is None or d.Category == Category) and (includeHidden or not d.IsHidden))
        return _page(rows, Offset, self.clamp(Limit))

    def list_userods(self, *, includeHidden: bool = False, includeCEMT: bool = False,
                     Offset: int = 0, Limit: int | None = None) -> list[Userod]:
        rows = (u for u in self.userods.values()
                if (includeHidden or not u.IsHidden) and (includeCEMT or not u.UserNumCEMT))
        return _page(rows, Offset, self.clamp(Limit))


# --- keys and the registry of offices -------------------------------------------------

@dataclass(frozen=True)
class KeyPolicy:
    """The optional keys file: developer keys with permissions, customer keys with versions."""

    developers: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> permissions
    customers: Mapping[str, str | None] = field(default_factory=dict)  # key -> version override
    disabled: frozenset[tuple[str, str]] = frozenset()  # ("Developer" | "Customer", key)
    strict: bool = False

    def check(self, developer: str, customer: str, permission: str) -> None:
        """Raise Unauthorized unless the key pair may use *permission*."""
        for kind, key, known in (("Developer", developer, self.developers),
                                 ("Customer", customer, self.customers)):
            if (kind, key) in self.disabled or (self.strict and key not in known):
                raise Unauthorized(f"{kind} key is invalid or disabled.")
        granted = self.developers.get(developer, PERMISSIONS)
        if permission not in granted:
            raise Unauthorized(f"Developer key lacks the {permission} permission.")


class Registry:
    """Every office of a server, created from the seed dataset on a key's first use."""

    SEED_REUSE = timedelta(seconds=60)  # offices made within a minute share resolved records

    def __init__(self, dataset: Dataset, keys: KeyPolicy | None = None,
                 page_cap: int = PAGE_CAP, journal: Journal | None = None):
        self.dataset = dataset
        self.keys = keys or KeyPolicy()
        self.page_cap = page_cap
        self.journal = journal  # None: offices live in memory only
        self._offices: dict[str, Office] = {}
        self._lock = threading.Lock()
        self._seed: tuple[datetime, dict[str, Any]] | None = None

    def _tables(self, now: datetime) -> dict[str, Any]:
        # Relative fixture times are resolved against the new office's clock, but
        # offices created close together may share one resolution: cheap offices.
        if self._seed is None or (self.dataset.relative
                                  and abs(now - self._seed[0]) > self.SEED_REUSE):
            self._seed = (now, self.dataset.materialize(now))
        return self._seed[1]

    def warm(self) -> None:
        """Resolve the seed's records now rather than on the first request."""
        self._tables(Clock().now())

    def new_office(self, key: str, dataset: Dataset | None = None,
                   clock: Clock | None = None) -> Office:
        """A fresh office for *key* from *dataset* (default: the seed); not yet registered."""
        clock = clock or Clock()
        now = clock.now()
        tables = dataset.materialize(now) if dataset is not None else self._tables(now)
        version = self.keys.customers.get(key) or (dataset or self.dataset).version
        return Office(key, tables, version, clock, self.page_cap, self.journal)

    def office(self, customer: str) -> Office:
        """The office of a customer key, created on first use."""
        return get_or_create(self._offices, self._lock, customer, self.new_office)

    def authenticate(self, developer: str, customer: str, permission: str) -> Office:
        """The office a key pair may use with *permission*; Unauthorized otherwise."""
        self.keys.check(developer, customer, permission)
        return self.office(customer)

    def put(self, office: Office) -> None:
        """Register (or replace) an office under its key."""
        with self._lock:
            if self.journal is not None:
                replaced = self._offices.get(office.key)
                self._detach([replaced] if replaced is not office else [])
                self.journal.office(office)
            self._offices[office.key] = office

    def reset(self, customer: str | None = None) -> None:
        """Forget one office (or all): the next request starts from the seed again."""
        with self._lock:
            if self.journal is not None:
                self._detach(self._offices.values() if customer is None
                             else [self._offices.get(customer)])
                self.journal.reset(customer)
            if customer is None:
                self._offices.clear()
            else:
                self._offices.pop(customer, None)

    @staticmethod
    def _detach(offices: Iterable[Office | None]) -> None:
        # a replaced office may still be in use by a request; its writes are no longer
        # visible, so they must not reach the journal (replay would resurrect them)
        for office in offices:
            if office is not None:
                office.detach()

    def offices(self) -> list[Office]:
        """The registered offices, in the order they were first used."""
        with self._lock:
            return list(self._offices.values())

    def __len__(self) -> int:
        return len(self._offices)
