"""The records an office holds, one frozen dataclass per table, and the store's errors.

Each record type is declared once, here: its fields, in the documented wire order, with
the wire names, types and defaults; a field's metadata says what its type alone cannot
(``choices`` of an enum, ``flags`` of a .NET flags enum, ``wire``: a name on the wire
other than the attribute's, ``required`` in fixtures). schemas.record_schema turns a
record type into its wire schema, which fixtures, the state export and import and the
persistence journal use too. Records are immutable: an office shares its seed's records
and only makes new ones for what it writes.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

UNSET_DATE = date(1, 1, 1)
UNSET_DATETIME = datetime(1, 1, 1)
TASK_PRIORITIES = 33  # definition.Category of task priorities
DEFAULT_VERSION = "24.4.22"  # the newest version any served method needs
# an office's UTC offset (DateTimeFormatString's zzz), as in the docs' example
DEFAULT_UTC_OFFSET = "-07:00"
MAX_ID = 2**63 - 1  # bigint(20) primary and foreign keys

TASK_STATUSES = ("New", "Viewed", "Done")
OBJECT_TYPES = ("None", "Patient", "Appointment")
DATE_TYPES = ("None", "Day", "Week", "Month")
TASKLIST_STATUSES = ("Active", "Archived")
READ_ALL = "ReadAll"
ALL_OTHERS = "AllOthers"
PERMISSIONS = (READ_ALL, ALL_OTHERS)


class ApiError(Exception):
    """A request the store refuses; the HTTP layer (errors.py) picks the status by kind."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    """Invalid input or a rule broken (400)."""


class Unauthorized(ApiError):
    """A key pair that may not do this (401)."""


class NotFound(ApiError):
    """A record that does not exist (404)."""


class Unavailable(ApiError):
    """The server cannot take this on now, such as one office more than its limit (503)."""


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


@dataclass(frozen=True, slots=True)
class Task:
    """A task (apitasks.md)."""

    TaskNum: int
    TaskListNum: int = 0
    DateTask: date = UNSET_DATE
    KeyNum: int = 0
    Descript: str = ""
    TaskStatus: str = field(default="New", metadata={"choices": TASK_STATUSES})
    IsRepeating: bool = False
    DateType: str = field(default="None", metadata={"choices": DATE_TYPES})
    FromNum: int = 0
    ObjectType: str = field(default="None", metadata={"choices": OBJECT_TYPES})
    DateTimeEntry: datetime = UNSET_DATETIME
    UserNum: int = 0
    DateTimeFinished: datetime = UNSET_DATETIME
    PriorityDefNum: int = 0
    ReminderGroupId: str = ""
    ReminderType: int = field(default=0, metadata={"flags": ReminderType})
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
    """A task list (apitasklists.md)."""

    TaskListNum: int
    Descript: str = ""
    Parent: int = 0
    DateTL: date = UNSET_DATE
    IsRepeating: bool = False
    DateType: str = field(default="None", metadata={"choices": DATE_TYPES})
    FromNum: int = 0
    ObjectType: str = field(default="None", metadata={"choices": OBJECT_TYPES})
    DateTimeEntry: datetime = UNSET_DATETIME
    TaskListStatus: str = field(default="Active", metadata={"choices": TASKLIST_STATUSES})


@dataclass(frozen=True, slots=True)
class Definition:
    """A definition (apidefinitions.md) as the office keeps it; ItemOrder orders the
    default task priority and is not on the wire (schemas.DefinitionSchema)."""

    DefNum: int
    ItemName: str = ""
    ItemValue: str = ""
    Category: int = field(default=0, metadata={"required": True})
    IsHidden: bool = field(default=False, metadata={"wire": "isHidden"})
    ItemOrder: int = 0


@dataclass(frozen=True, slots=True)
class Userod:
    """A user (apiuserods.md)."""

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
    """A patient: reference data only (KeyNum of Patient tasks), not served."""

    PatNum: int
    LName: str = ""
    FName: str = ""


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment: reference data only (KeyNum of Appointment tasks), not served."""

    AptNum: int
    PatNum: int = 0
    AptDateTime: datetime = UNSET_DATETIME


@dataclass(frozen=True, slots=True)
class TaskNote:
    """A note on a task (apitasknotes.md)."""

    TaskNoteNum: int
    TaskNum: int = 0
    UserNum: int = 0
    DateTimeNote: datetime = UNSET_DATETIME
    Note: str = ""


# kind (fixture file name) -> record class; the first field is the primary key
RECORD_TYPES: dict[str, type] = {
    "tasks": Task,
    "tasknotes": TaskNote,
    "tasklists": TaskList,
    "definitions": Definition,
    "userods": Userod,
    "patients": Patient,
    "appointments": Appointment,
}
# kind -> the fields holding a date or a datetime (fixtures may give them relative to now)
TIME_FIELDS = {kind: tuple(f.name for f in fields(cls) if f.type in ("date", "datetime"))
               for kind, cls in RECORD_TYPES.items()}


def primary_key(cls: type) -> str:
    """The name of a record class's primary key (its first field)."""
    return fields(cls)[0].name


def parse_utc_offset(text: str) -> timedelta:
    """``"-07:00"`` -> ``timedelta(hours=-7)``; ValueError if it is no UTC offset."""
    found = re.fullmatch(r"([+-])(0\d|1[0-4]):([0-5]\d)", text)
    if found is None:
        raise ValueError(f"not a UTC offset: {text!r}")
    offset = timedelta(hours=int(found[2]), minutes=int(found[3]))
    return -offset if found[1] == "-" else offset


def parse_version(text: str) -> tuple[int, ...]:
    """``"24.4.13"`` -> ``(24, 4, 13)``; ValueError if it is no version."""
    if not re.fullmatch(r"\d+(\.\d+){1,3}", text):
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in text.split("."))
