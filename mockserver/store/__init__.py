"""The in-memory store: offices, their records, indexes, clocks and keys.

Pure Python on purpose (no Flask, marshmallow or YAML): the business rules of
SPEC §2-§4 live here and can be tested without HTTP. Modules, by what they hold:
``records`` (the record types and errors), ``clock`` (office time), ``tasktable`` (tasks
and their indexes), ``office`` (one office's rules), ``registry`` (every office, the
seed dataset, the key policy).
"""
from .clock import Clock, RelativeTime, next_due
from .office import LOCAL_PAGE_CAP, PAGE_CAP, Journal, Office
from .records import (ALL_OTHERS, DATE_TYPES, DEFAULT_UTC_OFFSET, DEFAULT_VERSION, MAX_ID, OBJECT_TYPES,
                      PERMISSIONS, READ_ALL, RECORD_TYPES, TASK_PRIORITIES, TASK_STATUSES,
                      TASKLIST_STATUSES, TIME_FIELDS, UNSET_DATE, UNSET_DATETIME, ApiError,
                      Appointment, BadRequest, Definition, NotFound, Patient, ReminderType,
                      Task, TaskList, TaskNote, Unauthorized, Unavailable, Userod, parse_utc_offset, parse_version,
                      primary_key)
from .registry import MAX_OFFICES, TABLES, Dataset, KeyPolicy, Registry, get_or_create
from .tasktable import NoteTable, Table, TaskTable

__all__ = [
    "ALL_OTHERS", "DATE_TYPES", "MAX_OFFICES", "DEFAULT_VERSION", "LOCAL_PAGE_CAP", "MAX_ID", "OBJECT_TYPES",
    "PAGE_CAP", "PERMISSIONS", "READ_ALL", "RECORD_TYPES", "TASK_PRIORITIES", "TASK_STATUSES",
    "TASKLIST_STATUSES", "TIME_FIELDS", "UNSET_DATE", "UNSET_DATETIME", "ApiError",
    "Appointment", "BadRequest", "Clock", "Dataset", "Definition", "Journal", "KeyPolicy",
    "NoteTable", "NotFound", "Office", "Patient", "Registry", "RelativeTime", "ReminderType",
    "TABLES", "Table", "Task", "TaskList", "TaskNote", "TaskTable", "Unauthorized", "Unavailable",
    "Userod",
    "get_or_create", "next_due", "DEFAULT_UTC_OFFSET", "parse_utc_offset",
    "parse_version", "primary_key",
]
