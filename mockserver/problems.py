"""What is wrong with fixture documents, said so that a user can fix it: each problem
names the file, the line, the record and the field, the value given and what is valid.

fixtures.py collects the problems of a whole folder and raises them together (up to
MAX_REPORTED); the line numbers come from the files' YAML nodes, worked out only for the
problems reported.
"""
from __future__ import annotations

import calendar
import dataclasses
import difflib
import json
import re
from typing import Any, Callable, Iterable

import yaml
from marshmallow import ValidationError, fields

from .schemas import (DATE_FORMAT, DATETIME_FORMAT, OdBool, OdDate, OdDateTime, OdEnum, OdInteger,
                      OdSchema, OdString, ReminderTypeField)
from .store import MAX_ID, TASK_PRIORITIES, ReminderType
from .store.clock import RELATIVE

MAX_REPORTED = 50  # problems listed in one error; the rest are counted
RELATIVE_FORMS = "now, now-3d, now-3d4h, now-2h30m, now+1d"
DATE_EXAMPLE, DATETIME_EXAMPLE = "2024-12-10", "2024-12-10 13:08:47"
# a date's shape, whether or not the day exists: the parts are checked one by one
DATE_SHAPE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?: ([0-9]{2}):([0-9]{2}):([0-9]{2}))?")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong in a fixture file."""

    kind: str  # the file: a resource (tasks...) or office
    text: str  # what is wrong, the value given and what is valid
    index: int | None = None  # the record's place in its file, from 1
    key: str = ""  # the record's primary key as given ("TaskNum 2"), if it has one
    field: str | None = None  # the field at fault, whose line is reported


class Problems:
    """The problems found so far: the first MAX_REPORTED kept, all counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.count = 0

    @property
    def wanted(self) -> bool:
        """Whether the next problem is reported (beyond, it is only counted)."""
        return len(self.kept) < MAX_REPORTED

    def add(self, problem: Problem) -> None:
        self.count += 1
        if self.wanted:
            self.kept.append(problem)

    def report(self, origin: str, order: Iterable[str],
               nodes: Callable[[str], yaml.Node | None]) -> str:
        """Every kept problem on a line of its own, file by file in *order* and record by
        record, then how many more there are. *nodes* gives the YAML node of a file (None
        when it came as data, not as a file): where the line numbers come from."""
        rank = {kind: n for n, kind in enumerate(order)}
        kept = sorted(self.kept, key=lambda p: (rank.get(p.kind, len(rank)), p.index or 0))
        roots = {kind: nodes(kind) for kind in {p.kind for p in kept}}
        lines = [_describe(p, origin, roots[p.kind]) for p in kept]
        if self.count > len(kept):
            lines.append(f"... and {self.count - len(kept)} more problems")
        return "\n".join(lines)


def _describe(problem: Problem, origin: str, root: yaml.Node | None) -> str:
    place = f"{origin}/{problem.kind}.yaml" if origin else f"{problem.kind}.yaml"
    line = _line(root, problem.index, problem.field)
    if line is not None:
        place += f":{line}"
    record = ""
    if problem.index is not None:
        record = f" record {problem.index}" + (f" ({problem.key})" if problem.key else "") + ":"
    field = f" {problem.field}:" if problem.field else ""
    return f"{place}:{record}{field} {problem.text}"


def _line(root: yaml.Node | None, index: int | None, field: str | None) -> int | None:
    """The line of a file's record *index* (or the file itself) and of its *field*."""
    node = root
    if node is not None and index is not None:
        within = isinstance(node, yaml.SequenceNode) and index <= len(node.value)
        node = node.value[index - 1] if within else None
    if isinstance(node, yaml.MappingNode) and field is not None:
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == field:
                return key.start_mark.line + 1
    return None if node is None else node.start_mark.line + 1


def shown(value: Any) -> str:
    """A value as the user wrote it, for a message: JSON, cut short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def nearest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name closest to *name* (case aside), if one is close (difflib's ratio
    at least *cutoff*)."""
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def unknown_field(name: str, kind: str, known: Iterable[str]) -> str:
    """The problem text of a field that *kind*'s records do not have."""
    known = list(known)
    near = nearest(name, known)
    if near is not None:
        return f"not a field of {kind}; did you mean {near}?"
    return f"not a field of {kind}; the fields are {', '.join(known)}"


def record_problems(loader: OdSchema, row: dict[str, Any], required: Iterable[str],
                    kind: str) -> list[tuple[str, str]]:
    """(field, text) for each field of *row* that *loader* refuses, each unknown field and
    each *required* field missing."""
    by_name = {f.data_key or name: f for name, f in loader.fields.items()}
    found = [(name, unknown_field(name, kind, by_name)) for name in row
             if name not in by_name]
    for name, field in by_name.items():
        if name in row:
            try:
                field.deserialize(row[name])
            except ValidationError:
                found.append((name, explain(field, row[name])))
        elif field.required or name in required:
            found.append((name, f"missing; every record of {kind}.yaml needs it "
                                f"({valid(field)})"))
    return found


def valid(field: fields.Field) -> str:
    """What *field* takes in a fixture file."""
    if isinstance(field, OdEnum):
        return f"valid: {', '.join(field.choices)}"
    if isinstance(field, OdBool):
        return 'valid: "true" or "false", quoted'
    if isinstance(field, OdDateTime):
        return (f'valid: {DATETIME_FORMAT} such as "{DATETIME_EXAMPLE}", or a time relative to '
                f"the office clock: {RELATIVE_FORMS}")
    if isinstance(field, OdDate):
        return (f'valid: {DATE_FORMAT} such as "{DATE_EXAMPLE}", or a day relative to the office '
                f"clock: {RELATIVE_FORMS}")
    if isinstance(field, OdInteger):
        return f"valid: a whole number from 0 to {MAX_ID}, unquoted"
    if isinstance(field, OdString):
        return "valid: text (quote a value that YAML would read as a number or a list)"
    if isinstance(field, ReminderTypeField):
        names = ", ".join(ReminderType.__members__)
        return f'valid: one or more of {names}, joined by ", " (such as "Weekly, Monday")'
    if isinstance(field, fields.List):
        return "valid: a list of whole numbers such as [1, 2]"
    return "see the API's format of this field"


def explain(field: fields.Field, value: Any) -> str:
    """What is wrong with *value* for *field*, the value, and what *field* takes."""
    if value is None:
        return f"no value given (null); {valid(field)}, or leave the field out"
    wrong = "is not valid"
    if isinstance(field, OdEnum) and isinstance(value, str):
        near = nearest(value, field.choices)
        wrong += f" (did you mean {near}?)" if near else ""
    elif isinstance(field, (OdDate, OdDateTime)) and isinstance(value, str):
        wrong = _temporal(value, isinstance(field, OdDateTime))
    elif isinstance(field, OdInteger) and isinstance(value, str) and value.isdigit():
        wrong = "is quoted, which makes it text"
    elif isinstance(field, OdInteger) and isinstance(value, int):
        wrong = "is out of range"
    elif isinstance(field, OdString):
        wrong = "is not text"
    elif isinstance(field, ReminderTypeField) and isinstance(value, str):
        wrong = _reminder(value)
    return f"{shown(value)} {wrong}; {valid(field)}"


def _temporal(text: str, with_time: bool) -> str:
    """Why *text* is not a date (or datetime): a part that does not exist, a missing or
    extra time, a relative time of the wrong form."""
    relative = RELATIVE.fullmatch(text)
    if relative is not None and any(relative.groups()[1:]):  # the right form, out of range
        return "is too far from now"
    if text.startswith("now"):
        return "is not a relative time (now, then + or - and numbers with d, h, m or s)"
    found = DATE_SHAPE.fullmatch(text)
    if found is None:
        return f"is not in the format {DATETIME_FORMAT if with_time else DATE_FORMAT}"
    year, month, day = (int(part) for part in found.group(1, 2, 3))
    if year == 0:
        return "is not a date: year 0000 does not exist (years start at 0001)"
    if not 1 <= month <= 12:
        return f"is not a date: month {month} does not exist (months go from 01 to 12)"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return (f"is not a date: day {day} does not exist in {calendar.month_name[month]} {year} "
                f"(it has {last} days)")
    if found.group(4) is None:
        return f'has no time; write "{text} 00:00:00" for midnight' if with_time else "is not valid"
    if not with_time:
        return f'has a time; a date is only {DATE_FORMAT} ("{text[:10]}")'
    hour, minute, second = (int(part) for part in found.group(4, 5, 6))
    if hour > 23:
        return f"is not a time: hour {hour} does not exist (hours go from 00 to 23)"
    return f"is not a time: {'minute' if minute > 59 else 'second'} {max(minute, second)} does " \
           "not exist (they go from 00 to 59)"


def _reminder(text: str) -> str:
    for name in (part.strip() for part in text.split(",")):
        if name not in ReminderType.__members__:
            near = nearest(name, ReminderType.__members__)
            return f"names {name!r}, which is not a reminder type" + (
                f" (did you mean {near}?)" if near else "")
    return "is not valid"


# foreign keys: (kind, field) -> what the field must name, for the problem's text
REFERENCES = {
    ("tasks", "TaskListNum"): "a TaskListNum of tasklists.yaml, or 0 (the main trunk)",
    ("tasks", "UserNum"): "a UserNum of userods.yaml, or 0",
    ("tasks", "PriorityDefNum"): f"a DefNum of definitions.yaml with Category {TASK_PRIORITIES} "
                                 "(TaskPriorities), or 0",
    ("tasklists", "Parent"): "a TaskListNum of tasklists.yaml, or 0 (the main trunk)",
    ("appointments", "PatNum"): "a PatNum of patients.yaml, or 0",
    ("tasknotes", "TaskNum"): "a TaskNum of tasks.yaml",
    ("tasknotes", "UserNum"): "a UserNum of userods.yaml",
}
KEY_NUM = {"Patient": "a PatNum of patients.yaml", "Appointment": "an AptNum of appointments.yaml"}


def unresolved(kind: str, name: str, record: Any) -> str:
    """The problem text of a foreign key *name* of *record* that names no record."""
    if name == "KeyNum":
        target = f"{KEY_NUM[record.ObjectType]} (ObjectType is {record.ObjectType})"
    else:
        target = REFERENCES[kind, name]
    return f"{getattr(record, name)} does not resolve; valid: {target}"
