"""The wire format: marshmallow schemas for every body, query and response.

These schemas are the single source of the format on the wire and of the OpenAPI
document (openapi.py reads them). Fields are strict: JSON integers only, exact enum
names, "true"/"false" strings, Open Dental date formats. Error messages are written
without the field name; OdSchema.handle_error prefixes it ("TaskListNum is invalid.").
"""
from __future__ import annotations

import dataclasses
import json
import marshal
import math
import re
from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache
from itertools import repeat
from operator import itemgetter, methodcaller
from typing import Any, Callable, Collection, Mapping, Sequence

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.decorators import (POST_DUMP, POST_LOAD, PRE_DUMP, PRE_LOAD, VALIDATES,
                                    VALIDATES_SCHEMA)
from marshmallow.validate import Length, OneOf, Range

from .store import (DATE_TYPES, MAX_ID, OBJECT_TYPES, TASK_PRIORITIES, TASK_STATUSES,
                    TASKLIST_STATUSES, BadRequest, Group, ReminderType, RelativeTime)

REQUIRED = "is required."
INVALID = "is invalid."
DATE_FORMAT = "yyyy-MM-dd"
DATETIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
# Exactly the dates datetime accepts (years 0001-9999, leap days included), ASCII digits
# only: the server validates with these and the OpenAPI document publishes them, so a
# generated value matches the pattern if and only if the server accepts it.
_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
              r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)")
DATE_PATTERN = rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)$"
DATETIME_PATTERN = DATE_PATTERN[:-1] + r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
DEFINITION_CATEGORIES = {1: "AdjTypes", 2: "ApptConfirmed", 3: "ApptProcsQuickAdd",
                         TASK_PRIORITIES: "TaskPriorities"}

# --- .NET custom date and time format strings ------------------------------------------

_DOTNET_PARTS = re.compile(r"'[^']*'|\"[^\"]*\"|\\.|([A-Za-z])\1*|.", re.S)
_DOTNET_SPECIFIERS = set("dfFghHKmMstyz")  # letters .NET treats as format specifiers
_DOTNET_TOKENS: dict[str, Callable[[datetime], str]] = {
    "yyyy": lambda d: f"{d.year:04d}",  # not strftime: it does not pad year 1 on Linux
    "yy": lambda d: f"{d.year % 100:02d}",
    "MM": lambda d: f"{d.month:02d}",
    "M": lambda d: str(d.month),
    "dd": lambda d: f"{d.day:02d}",
    "d": lambda d: str(d.day),
    "HH": lambda d: f"{d.hour:02d}",
    "H": lambda d: str(d.hour),
    "hh": lambda d: f"{(d.hour - 1) % 12 + 1:02d}",
    "h": lambda d: str((d.hour - 1) % 12 + 1),
    "mm": lambda d: f"{d.minute:02d}",
    "ss": lambda d: f"{d.second:02d}",
    "tt": lambda d: "AM" if d.hour < 12 else "PM",
}


# The strings compile_format accepts, as one regex for the OpenAPI document: literals
# (quoted text, a quote that never closes, \x, a non-specifier character) and at least one
# token, each a maximal run of its letter. tests/test_openapi.py checks the two agree.
_FORMAT_TOKEN = (r"(?:yyyy(?!y)|yy(?!y)|MM?(?!M)|dd?(?!d)|HH?(?!H)|hh?(?!h)"
                 r"|mm(?!m)|ss(?!s)|tt(?!t))")
_FORMAT_LITERAL = (r"""(?:'[^']*'|"[^"]*"|'(?![^']*')|"(?![^"]*")"""
                   r"""|\\[\s\S]|\\$|[^'"\\dfFghHKmMstyz])""")
FORMAT_STRING_PATTERN = rf"^{_FORMAT_LITERAL}*{_FORMAT_TOKEN}(?:{_FORMAT_LITERAL}|{_FORMAT_TOKEN})*$"


@lru_cache(maxsize=256)
def compile_format(pattern: str) -> Callable[[datetime], str]:
    """A formatter for a .NET custom format such as ``dd/MM/yyyy HH:mm:ss``.

    Raises ValueError naming the first unsupported specifier (``MMM``, ``zzz``...).
    Letters that are not .NET specifiers, quoted text and ``\\x`` are literal.
    """
    if not pattern:
        raise ValueError("an empty format")
    parts: list[str | Callable[[datetime], str]] = []
    for m in _DOTNET_PARTS.finditer(pattern):
        text = m.group(0)
        if m.group(1) and m.group(1) in _DOTNET_SPECIFIERS:
            if text not in _DOTNET_TOKENS:
                raise ValueError(f"the unsupported token '{text}'")
            parts.append(_DOTNET_TOKENS[text])
        elif text[0] in "'\"":
            parts.append(text[1:-1])
        elif text[0] == "\\":
            parts.append(text[1:])
        else:
            parts.append(text)
    if all(isinstance(p, str) for p in parts):
        raise ValueError("no date or time token")
    return lambda d: "".join(p if isinstance(p, str) else p(d) for p in parts)


# The default formats are ISO 8601 with a space: the same text as compile_format(DATE_FORMAT)
# and compile_format(DATETIME_FORMAT) (years padded to 4 digits), a fifth of the cost.
ISO_FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "date": date.isoformat,  # on a datetime: its date part
    "datetime": methodcaller("isoformat", " ", "seconds"),
}


# --- fields ------------------------------------------------------------------------------

class OdInteger(fields.Integer):
    """A JSON integer (never a string, float or boolean) in the bigint key range."""

    default_error_messages = {"invalid": INVALID, "null": INVALID, "required": REQUIRED}

    def __init__(self, **kwargs: Any):
        self._range_only = "validate" not in kwargs
        kwargs.setdefault("validate", Range(min=0, max=MAX_ID, error=INVALID))
        super().__init__(strict=True, **kwargs)

    def loads_as_is(self, values: Collection[Any]) -> bool:
        """Whether each of *values* is an int (not a bool) that loads as itself: a column's
        check at once, where deserialize checks one value (RecordLoader)."""
        return self._range_only and not (self.pre_load or self.post_load) \
            and set(map(type, values)) <= {int} \
            and min(values, default=0) >= 0 and max(values, default=0) <= MAX_ID


class QueryInteger(fields.Integer):
    """An integer given as ASCII digits in a query string or path."""

    default_error_messages = {"invalid": INVALID, "required": REQUIRED}

    def __init__(self, minimum: int = 0, **kwargs: Any):
        error = INVALID if minimum == 0 else f"must be an integer of at least {minimum}."
        self._range = Range(min=minimum, max=MAX_ID, error=error)
        super().__init__(validate=self._range, **kwargs)
        self.error_messages["invalid"] = error

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,25}", value):
            raise self.make_error("invalid")
        return int(value)

    def quick(self) -> Callable[[str], int | None] | None:
        """``deserialize`` of a text as one function without marshmallow's machinery: the
        integer for digits in range, None for anything else (deserialize then gives the
        error); None when this field loads more than that (a subclass, other validators)."""
        if type(self)._deserialize is not QueryInteger._deserialize or \
                type(self)._validate is not fields.Field._validate or self.validators != [self._range]:
            return None
        low = self._range.min

        def load_digits(text: str) -> int | None:
            # isdigit alone admits other scripts' digits; the regex above only ASCII ones
            if 0 < len(text) <= 25 and text.isascii() and text.isdigit() \
                    and low <= (number := int(text)) <= MAX_ID:
                return number
            return None
        return load_digits


class OdString(fields.String):
    default_error_messages = {"invalid": "must be a string.", "null": "must be a string.",
                              "required": REQUIRED}


class OdEnum(fields.String):
    """An enum given by its exact name ("New", not 0 or "new")."""

    default_error_messages = {"required": REQUIRED}

    def __init__(self, choices: tuple[str, ...], **kwargs: Any):
        self.choices = choices
        super().__init__(validate=OneOf(choices, error="must be one of: {choices}."), **kwargs)
        wrong = f"must be one of: {', '.join(choices)}."
        self.error_messages.update(invalid=wrong, null=wrong)


class _ValueDumped(fields.Field):
    """A field whose dumped text depends on the value alone (not on the object or key).

    ``value_dumper()`` gives that as one function, which compiled dumpers call directly
    (see ``_compiled``); ``_serialize`` uses it too, so the two cannot differ.
    """

    def value_dumper(self) -> Callable[[Any], Any]:
        """``_serialize`` as a function of the value; fixed once the field is bound."""
        raise NotImplementedError

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return self.value_dumper()(value)


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


class OdBool(_ValueDumped):
    """A boolean on the wire as the string "true" or "false"."""

    default_error_messages = {"invalid": 'must be "true" or "false".',
                              "null": 'must be "true" or "false".'}

    def value_dumper(self) -> Callable[[Any], str]:
        return _bool_text

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, str) or value not in ("true", "false"):
            raise self.make_error("invalid")
        return value == "true"


class _OdTemporal(_ValueDumped):
    """Shared by OdDate and OdDateTime: strict parse, formatting per request."""

    default_format = ""
    pattern = ""
    kind = ""  # "date" or "datetime": which request format applies

    def value_dumper(self) -> Callable[[Any], str]:
        """The formatter of the root schema's request formats (``od_formats``)."""
        formats = getattr(self.root, "od_formats", {})
        formatter = formats.get(self.kind) or ISO_FORMATTERS[self.kind]
        midnight, combine = datetime.min.time(), datetime.combine

        def dump_value(value: Any) -> str:
            return formatter(value if isinstance(value, datetime) else combine(value, midnight))
        return dump_value

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return self._load(value, getattr(self.root, "allow_relative", False))

    def load_texts(self, texts: Sequence[Any]) -> list[Any]:
        """``_deserialize`` of each of *texts*, a fixture's column (the root schema asked
        once, not per value: a fixture has tens of thousands of distinct times)."""
        relative = getattr(self.root, "allow_relative", False)
        return [self._load(text, relative) for text in texts]

    def _load(self, value: Any, relative: bool) -> Any:
        if isinstance(value, str):
            if relative:  # fixtures may say now-3d
                found = RelativeTime.parse(value, as_date=self.kind == "date")
                if found is not None:
                    return found
            if re.fullmatch(self.pattern, value):  # the pattern admits only real dates
                return self.from_text(value)
        raise self.make_error("invalid")

    # the value of a text the pattern admits: fromisoformat reads exactly those the same
    from_text: Callable[[str], Any]


class OdDate(_OdTemporal):
    """A date as "yyyy-MM-dd"; unset is 0001-01-01."""

    default_format, pattern, kind = DATE_FORMAT, DATE_PATTERN, "date"
    default_error_messages = {"invalid": f"format must be {DATE_FORMAT}",
                              "null": f"format must be {DATE_FORMAT}"}

    from_text = date.fromisoformat


class OdDateTime(_OdTemporal):
    """A local datetime as "yyyy-MM-dd HH:mm:ss"; unset is 0001-01-01 00:00:00."""

    default_format, pattern, kind = DATETIME_FORMAT, DATETIME_PATTERN, "datetime"
    default_error_messages = {"invalid": f"format must be {DATETIME_FORMAT}",
                              "null": f"format must be {DATETIME_FORMAT}"}

    from_text = datetime.fromisoformat


@lru_cache(maxsize=4096)  # every combination of the 12 flags
def _reminder_names(value: int) -> str:
    flags = ReminderType(value)
    if not flags:
        return "NoReminder"
    return ", ".join(f.name for f in ReminderType if f and f in flags)


class ReminderTypeField(_ValueDumped):
    """task.ReminderType: .NET flags names joined the .NET way ("Weekly, Monday")."""

    default_error_messages = {"invalid": "is invalid.", "null": "is invalid."}

    def value_dumper(self) -> Callable[[Any], str]:
        return _reminder_names

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        total = ReminderType.NoReminder
        for name in value.split(","):
            if name.strip() not in ReminderType.__members__:
                raise self.make_error("invalid")
            total |= ReminderType[name.strip()]
        return int(total)


class FormatString(fields.String):
    """DateFormatString / DateTimeFormatString: compiled to a formatter on load."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        try:
            return compile_format(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as exc:
            raise self.make_error("unsupported", detail=str(exc)) from None

    default_error_messages = {"unsupported": "has {detail}."}


# --- schemas -----------------------------------------------------------------------------

class OdSchema(Schema):
    """Base: unknown fields are ignored; one clear message per failure (SPEC §3 order)."""

    class Meta:
        unknown = EXCLUDE

    error_messages = {"unknown": "is not a known field."}

    def handle_error(self, error: Any, data: Any, **kwargs: Any) -> None:
        """Raise BadRequest for the first failure: type/format errors in field order, then
        missing required fields."""
        messages = error.normalized_messages()
        order = list(self.fields)

        def rank(item: tuple[str, Any]) -> tuple[bool, int]:
            name, problems = item
            return (problems == [REQUIRED], order.index(name) if name in order else len(order))

        name, problems = min(messages.items(), key=rank)
        text = problems[0] if isinstance(problems, list) else str(problems)
        raise BadRequest(text if name == "_schema" else f"{name} {text}")


# responses (also the record format of fixtures and of /__admin/state)

class TaskSchema(OdSchema):
    """The Task object, fields in the documented order (apitasks.md)."""

    TaskNum = OdInteger()
    TaskListNum = OdInteger()
    DateTask = OdDate()
    KeyNum = OdInteger()
    Descript = OdString()
    TaskStatus = OdEnum(TASK_STATUSES)
    IsRepeating = OdBool()
    DateType = OdEnum(DATE_TYPES)
    FromNum = OdInteger()
    ObjectType = OdEnum(OBJECT_TYPES)
    DateTimeEntry = OdDateTime()
    UserNum = OdInteger()
    DateTimeFinished = OdDateTime()
    PriorityDefNum = OdInteger()
    ReminderGroupId = OdString()
    ReminderType = ReminderTypeField()
    ReminderFrequency = OdInteger()
    DateTimeOriginal = OdDateTime()
    SecDateTEdit = OdDateTime()
    DescriptOverride = OdString()
    IsReadOnly = OdBool()


class TaskListSchema(OdSchema):
    """A task list (apitasklists.md)."""

    TaskListNum = OdInteger()
    Descript = OdString()
    Parent = OdInteger()
    DateTL = OdDate()
    IsRepeating = OdBool()
    DateType = OdEnum(DATE_TYPES)
    FromNum = OdInteger()
    ObjectType = OdEnum(OBJECT_TYPES)
    DateTimeEntry = OdDateTime()
    TaskListStatus = OdEnum(TASKLIST_STATUSES)


class DefinitionSchema(OdSchema):
    """A definition (apidefinitions.md); ``category`` is the Category's name."""

    DefNum = OdInteger()
    ItemName = OdString()
    ItemValue = OdString()
    Category = OdInteger()
    category = fields.Function(lambda d: DEFINITION_CATEGORIES.get(d.Category, ""), dump_only=True)
    isHidden = OdBool(attribute="IsHidden")
    ItemOrder = OdInteger(load_only=True)  # not on the wire; orders the default priority


class DefinitionRecordSchema(DefinitionSchema):
    """A definition as fixtures store it: with ItemOrder, without the derived ``category``."""

    class Meta(OdSchema.Meta):
        exclude = ("category",)

    ItemOrder = OdInteger()


class UserodSchema(OdSchema):
    """A user (apiuserods.md)."""

    UserNum = OdInteger()
    UserName = OdString()
    userGroupNums = fields.List(OdInteger(), error_messages={"invalid": "must be a list of integers."})
    EmployeeNum = OdInteger()
    employeeName = OdString()
    ClinicNum = OdInteger()
    ProviderNum = OdInteger()
    providerName = OdString()
    emailAddress = OdString()
    IsHidden = OdBool()
    UserNumCEMT = OdInteger()
    IsPasswordResetRequired = OdBool()


class PatientSchema(OdSchema):
    """A patient; reference data only (KeyNum of Patient tasks), not served."""

    PatNum = OdInteger()
    LName = OdString()
    FName = OdString()


class AppointmentSchema(OdSchema):
    """An appointment; reference data only (KeyNum of Appointment tasks), not served."""

    AptNum = OdInteger()
    PatNum = OdInteger()
    AptDateTime = OdDateTime()


# request bodies (fields in the order of SPEC §2, which is the order errors are reported)

class TaskCreateSchema(OdSchema):
    """POST /tasks. Fields not listed (TaskStatus, TaskNum...) are ignored."""

    TaskListNum = OdInteger(required=True)
    KeyNum = OdInteger()
    # an empty Descript counts as a missing one (reported with the required fields)
    Descript = OdString(required=True, validate=Length(min=1, error=REQUIRED))
    ObjectType = OdEnum(OBJECT_TYPES)
    DateTimeEntry = OdDateTime()
    UserNum = OdInteger(required=True)
    PriorityDefNum = OdInteger()
    DescriptOverride = OdString(validate=Length(max=256, error="must be at most {max} characters."))


class TaskUpdateSchema(OdSchema):
    """PUT /tasks/{TaskNum}: every field optional; TaskListNum, UserNum... are ignored."""

    KeyNum = OdInteger()
    Descript = OdString(validate=Length(min=1, error="must not be empty."))
    TaskStatus = OdEnum(TASK_STATUSES)
    ObjectType = OdEnum(OBJECT_TYPES)
    DateTimeEntry = OdDateTime()
    PriorityDefNum = OdInteger()
    DescriptOverride = OdString(validate=Length(max=256, error="must be at most {max} characters."))


# query strings and paths

class TaskNumPath(OdSchema):
    TaskNum = QueryInteger(required=True, metadata={"description": "The task's primary key",
                                                    "example": 1408})  # in the default fixtures


class FormatQuery(OdSchema):
    """Optional response formatting accepted by every operation (apiimplementation.md)."""

    DateFormatString = FormatString()
    DateTimeFormatString = FormatString()


class PageQuery(FormatQuery):
    """Offset and Limit of list operations."""

    Offset = QueryInteger(load_default=0)
    Limit = QueryInteger(minimum=1)


class TaskQuery(PageQuery):
    """GET /tasks filters."""

    TaskListNum = QueryInteger()
    KeyNum = QueryInteger()
    ObjectType = OdEnum(OBJECT_TYPES)
    TaskStatus = OdEnum(TASK_STATUSES)
    DateTimeOriginal = OdDateTime()


class TaskListQuery(PageQuery):
    TaskListStatus = OdEnum(TASKLIST_STATUSES, load_default="Active")


class DefinitionQuery(PageQuery):
    Category = QueryInteger()
    includeHidden = OdBool(load_default=False)


class UserodQuery(PageQuery):
    includeHidden = OdBool(load_default=False)
    includeCEMT = OdBool(load_default=False)


# --- entry points for the views ----------------------------------------------------------

@lru_cache(maxsize=None)
def _instance(schema: type[Schema]) -> Schema:
    return schema()


def load(schema: type[Schema], data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate *data* (a body, query or path) with *schema*; BadRequest on failure."""
    if not data:  # most requests have no query string: load {} once per schema
        return load_query(schema, {})
    return _load(schema, data)


def _load(schema: type[Schema], data: Mapping[str, Any]) -> dict[str, Any]:
    instance, plan = _instance(schema), _plan(schema)
    result = None if plan is None else _load_fields(plan, data, _remembering(schema))
    if result is None or (instance.unknown == RAISE and len(result) != len(data)):
        return instance.load(data)  # marshmallow's own result or error message
    return result


@lru_cache(maxsize=None)
def _plan(schema: type[Schema]) -> Plan | None:
    return _load_plan(_instance(schema), checks_required=True)


# Fields whose loaded value is a function of the raw value alone (no clock, no other
# field): what a body field of theirs loads to can be remembered.
PURE_FIELDS = (OdInteger, OdString, OdEnum, OdDate, OdDateTime)
REMEMBERED = 512  # values per field; a full memo starts afresh
REMEMBERED_TEXT = 64  # characters: longer texts (descriptions) seldom repeat, and are large


@lru_cache(maxsize=None)
def _remembering(schema: type[Schema]) -> Callable[[str, Any], Any] | None:
    """``load(key, raw)`` for _load_fields: each field's deserialize, remembered per raw
    value for the PURE_FIELDS. Clients repeat most values (a POST's task list, user,
    object type and key; a PUT's status): marshmallow's field load was a seventh of a POST.
    An invalid value raises each time, so marshmallow still gives its message."""
    fields_by_key = {key: field for key, _, field in _plan(schema) or ()}
    # one memo per pure field (an int and a str are never equal keys)
    memos: dict[str, dict[Any, Any]] = {
        key: {} for key, field in fields_by_key.items()
        if type(field) in PURE_FIELDS and not (field.pre_load or field.post_load)}
    if not memos:
        return None  # each field's deserialize, as _load_fields does by itself

    def load(key: str, raw: Any) -> Any:
        kind = type(raw)  # bool is not int here: True and 1 load differently
        memo = memos.get(key)
        if memo is None or not (kind is int or (kind is str and len(raw) <= REMEMBERED_TEXT)):
            return fields_by_key[key].deserialize(raw, key)
        value = memo.get(raw, missing)
        if value is missing:
            value = fields_by_key[key].deserialize(raw, key)
            if len(memo) >= REMEMBERED:
                memo.clear()
            memo[raw] = value
        return value
    return load


def load_query(schema: type[Schema], args: Mapping[str, str]) -> dict[str, Any]:
    """``load`` for query parameters. They are all text, and clients repeat their queries:
    the result for the same parameters is remembered (a copy is returned)."""
    return dict(_load_query(schema, tuple(args.items())))


def load_path(schema: type[Schema], name: str, text: str) -> Any:
    """``load_query(schema, {name: text})[name]``: a path's one parameter. An integer in
    range loads without a memo (a random TaskNum among 100,000 misses any: 0.4 us instead
    of 3); anything else, an error included, through ``load_query``."""
    quick = _quick(schema, name)
    value = None if quick is None else quick(text)
    return value if value is not None else load_query(schema, {name: text})[name]


@lru_cache(maxsize=None)
def _quick(schema: type[Schema], name: str) -> Callable[[str], Any] | None:
    # only where loading {name: text} is the field's own load alone (no schema hooks)
    field = _instance(schema).fields.get(name)
    if _plan(schema) is None or not isinstance(field, QueryInteger) or \
            (field.data_key or name) != name or (field.attribute or name) != name or \
            len(_instance(schema).load_fields) != 1:
        return None
    return field.quick()


@lru_cache(maxsize=4096)
def _load_query(schema: type[Schema], items: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    # an error is raised each time, never cached; and beyond 4096 (a random TaskNum among
    # 100,000) a miss costs a field's load, not a whole Schema.load
    return _load(schema, dict(items))


class RecordLoader:
    """``schema.load(record, unknown=RAISE)`` for many records (fixtures), 2-3x faster.

    Each field loads its own value, remembered per raw value: the fields here depend on
    nothing else, and a fixture repeats most values (task lists, statuses, times). Any
    record with an invalid value or an unknown field, and any schema with load hooks,
    required fields or load defaults, goes through marshmallow itself: same result, same
    error message (tests/test_fast_paths.py). ``load`` does the same for one request body.
    """

    def __init__(self, schema: Schema):
        self.schema = schema
        self.plan = _load_plan(schema)
        # (memo name, type) -> {raw value: loaded value}
        self._memo: defaultdict[tuple[Any, type], dict[Any, Any]] = defaultdict(dict)
        # key -> (rank in the schema, attribute, field, memo name, loading function)
        self._fields = {key: (rank, attribute, field, *_loading(key, field))
                        for rank, (key, attribute, field) in enumerate(self.plan or ())}

    def load(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The loaded record; BadRequest naming the field, as from Schema.load."""
        result = None if self.plan is None else _load_fields(self.plan, record, self._value)
        if result is None or len(result) != len(record):  # an invalid value, an unknown field
            return self.schema.load(record, unknown=RAISE)  # marshmallow's error
        return result

    def load_all(self, records: Sequence[Any]) -> list[Group] | None:
        """``load`` of each of *records*, column-wise: the groups of records with the same
        fields (store.Group, fields in the order ``load`` gives them); None when one is not
        a dict or would not load (``load`` them one by one then, for the error).

        Records with the same fields load a column at a time, mostly in C: each distinct
        value once, a column of valid integers at once (100,000 tasks: 6x faster, bench/).
        """
        if self.plan is None or set(map(type, records)) - {dict}:
            return None
        shapes = group_by_fields(records)
        groups: list[Group] = []
        try:
            for keys, positions in shapes.items():
                if not self._fields.keys() >= set(keys):
                    return None  # an unknown field
                ordered = sorted(keys, key=lambda k: self._fields[k][0])  # as load gives them
                rows = records if len(shapes) == 1 else list(map(records.__getitem__, positions))
                groups.append((tuple(self._fields[key][1] for key in ordered), positions,
                               [self._column(key, list(map(itemgetter(key), rows)))
                                for key in ordered]))
        except ValidationError:
            return None
        return groups

    def _column(self, key: str, raws: list[Any]) -> list[Any]:
        _, _, field, name, load = self._fields[key]
        kinds = set(map(type, raws))
        if kinds in ({int}, {str}):  # one memo for the column
            memo = self._memo[name, kinds.pop()]
            new = list(set(raws) - memo.keys())
            if type(field) is OdInteger and field.loads_as_is(new):
                loaded = new
            elif name in (OdDate, OdDateTime):  # see _loading
                loaded = field.load_texts(new)
            else:
                loaded = list(map(load, new, repeat(key), repeat(None)))
            if set(map(type, loaded)) <= {int, str}:
                # copies rather than the parser's own objects, which sit among its garbage:
                # kept, they would keep its freed memory in use (100,000 tasks: 155 MiB
                # instead of 100 after loading)
                loaded = marshal.loads(marshal.dumps(loaded))
            memo.update(zip(new, loaded))
            # equal values end up one object: less memory, for the records and the cache
            return list(map(memo.__getitem__, raws))
        return [self._value(key, raw) for raw in raws]

    def _value(self, key: str, raw: Any) -> Any:
        _, _, field, name, load = self._fields[key]
        if type(raw) not in (str, int):  # hashable and immutable (bool is not int here)
            return field.deserialize(raw, key)
        memo = self._memo[name, type(raw)]
        value = memo.get(raw, missing)
        if value is missing:
            value = memo[raw] = load(raw, key, None)
        return value


def group_by_fields(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[int]]:
    """The positions of *records* by their keys (in their order): records to take a
    column at a time."""
    groups: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
    for position, keys in enumerate(map(tuple, records)):
        groups[keys].append(position)
    return groups


def _loading(key: str, field: fields.Field) -> tuple[Any, Callable[..., Any]]:
    """How RecordLoader loads a text or integer for *field*: the name its memo goes by,
    and the function. A date's value depends on its text alone, so dates share one memo;
    without validators and processors, deserialize is _deserialize and some checks."""
    plain = not (field.validators or field.pre_load or field.post_load)
    name = type(field) if plain and type(field) in (OdDate, OdDateTime) else key
    return name, field._deserialize if plain else field.deserialize


Plan = tuple[tuple[str, str, fields.Field], ...]


def _load_plan(schema: Schema, checks_required: bool = False) -> Plan | None:
    """(key, attribute, field) per loaded field, or None when loading is more than that
    (required fields too, unless the caller *checks_required* itself)."""
    if any(schema._hooks[hook] for hook in (PRE_LOAD, POST_LOAD, VALIDATES, VALIDATES_SCHEMA)) \
            or schema.dict_class is not dict:
        return None
    plan = []
    for name, field in schema.load_fields.items():
        attribute = field.attribute or name
        if (field.required and not checks_required) or field.load_default is not missing \
                or "." in attribute:
            return None
        plan.append((field.data_key if field.data_key is not None else name, attribute, field))
    return tuple(plan)


def _load_fields(plan: Plan, data: Mapping[str, Any],
                 load: Callable[[str, Any], Any] | None = None) -> dict[str, Any] | None:
    """Each field of *plan* that *data* has, loaded by ``load(key, raw)`` (default: the
    field's deserialize); None if a value is invalid or a required field is missing
    (then marshmallow gives the error)."""
    result = {}
    try:
        for key, attribute, field in plan:
            raw = data.get(key, missing)
            if raw is missing:
                if field.required:
                    return None
                continue
            result[attribute] = field.deserialize(raw, key, data) if load is None \
                else load(key, raw)
    except ValidationError:
        return None
    return result


def split_formats(params: dict[str, Any]) -> dict[str, Callable[[datetime], str]]:
    """Remove DateFormatString/DateTimeFormatString from loaded query params."""
    return {kind: params.pop(name) for kind, name in (("date", "DateFormatString"),
                                                      ("datetime", "DateTimeFormatString"))
            if name in params}


def dump(schema: type[Schema], obj: Any, formats: Mapping[str, Any] | None = None,
         many: bool = False) -> Any:
    """Serialize *obj* (or a list) with the request's date formats."""
    dumper = _dumper(schema, formats)
    if not many:
        return _dump_one(dumper, obj)
    if not _plain(dumper):  # its hooks may see the whole list
        return dumper.dump(obj, many=True)
    return [_dump_one(dumper, item) for item in obj]


# Flask's own JSON dialect (DefaultJSONProvider, not in debug): compact, ASCII-only
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# Texts kept, and records seen once (_SEEN): a text is kept from a record's second dump
# on. Keeping every text sent made a miss dearer than its hits saved where a client reads
# at random from a large office (at 100,000 tasks 20,000 texts kept made each miss 4 us
# dearer, and 8,192 GET one 8% slower); a list client repeats its records (the bench's
# lists at 100,000 tasks: about 8,000 records, the list +40% with 8,192 kept).
TEXT_CACHE_SIZE = 8192
_TEXT_CACHE: dict[tuple[Schema, int], tuple[Any, str]] = {}
_SEEN: set[tuple[Schema, int]] = set()


def dump_json(schema: type[Schema], obj: Any, formats: Mapping[str, Any] | None = None,
              many: bool = False) -> str:
    """``dump`` as JSON text, the way Flask's jsonify writes it.

    The text of an immutable record (the store's frozen dataclasses) is kept: a change
    makes a new object, so the same object with the same dumper always has the same text,
    and a list is mostly records that were already sent. Keyed by object identity, with
    the object held so its id cannot be reused while the entry lives.
    """
    dumper = _dumper(schema, formats)
    if not _plain(dumper):
        return _ENCODER.encode(dumper.dump(obj, many=many))
    if many:
        return "[" + ",".join([_record_json(dumper, item) for item in obj]) + "]"
    return _record_json(dumper, obj)


def _record_json(dumper: Schema, obj: Any) -> str:
    key = (dumper, id(obj))
    hit = _TEXT_CACHE.get(key)
    if hit is not None and hit[0] is obj:  # only records are kept
        return hit[1]
    compiled = _compiled_text(dumper, type(obj))
    if compiled is None:
        return _ENCODER.encode(dumper.dump(obj))
    text = compiled(obj)
    if key not in _SEEN:  # (an id reused by a new record lets it in at once: harmless)
        if len(_SEEN) >= TEXT_CACHE_SIZE:
            _SEEN.clear()
        _SEEN.add(key)
    else:
        if len(_TEXT_CACHE) >= TEXT_CACHE_SIZE:
            _TEXT_CACHE.clear()  # crude but O(1); a bounded memo, not a store
        _TEXT_CACHE[key] = (obj, text)
    return text


def _dumper(schema: type[Schema], formats: Mapping[str, Any] | None) -> Schema:
    if not formats:
        return _instance(schema)
    return _formatted(schema, formats.get("date"), formats.get("datetime"))


@lru_cache(maxsize=64)
def _formatted(schema: type[Schema], date_format: Any, datetime_format: Any) -> Schema:
    # compile_format is cached, so equal format strings give equal (hashable) formatters
    dumper = schema()
    dumper.od_formats = {"date": date_format, "datetime": datetime_format}
    return dumper


@lru_cache(maxsize=1024)  # bounded: _formatted makes new dumpers for new formats
def _plain(dumper: Schema) -> bool:
    """Whether dumping is only each field's own serialize, object by object: no dump hooks
    and marshmallow's own attribute access and dict."""
    return not (dumper._hooks[PRE_DUMP] or dumper._hooks[POST_DUMP]) \
        and dumper.dict_class is dict and type(dumper).get_attribute is Schema.get_attribute


def _dump_one(dumper: Schema, obj: Any) -> Any:
    compiled = _compiled(dumper, type(obj))
    return compiled(obj) if compiled is not None else dumper.dump(obj)


@lru_cache(maxsize=1024)  # bounded: _formatted makes new dumpers for new formats
def _compiled(dumper: Schema, kind: type) -> Callable[[Any], dict[str, Any]] | None:
    """A function dumping one *kind* record exactly as ``dumper.dump`` does (a Task in about
    3 us instead of 8); None unless *kind* is a frozen dataclass (the store's records) and
    the schema is plain.

    This is Schema._serialize's walk written out as one dict display (``_field_values``).
    Fields that are not init fields of the record are left out when they give ``missing``,
    as marshmallow does.
    """
    found = _field_values(dumper, kind)
    if found is None:
        return None
    scope, values, optional = found
    entries = [f"{key!r}: {value}" for key, value in values]
    source = ["def dump(obj):", f"    record = {{{', '.join(entries)}}}"]
    for key in optional:
        source += [f"    if record[{key!r}] is missing:", f"        del record[{key!r}]"]
    source.append("    return record")
    return _define(source, scope)


@lru_cache(maxsize=1024)  # bounded: _formatted makes new dumpers for new formats
def _compiled_text(dumper: Schema, kind: type) -> Callable[[Any], str] | None:
    """``_compiled`` as JSON text, the way ``_ENCODER`` writes its dict (a Task in 7.6 us
    instead of 11.7 on a slow day: a random task among 100,000 is seldom in the text
    cache); None where ``_compiled`` is None.

    Each value is written by ``encode_basestring_ascii`` when it is a str and by ``str``
    when it is an int, which is what the encoder does for them; any other value by the
    encoder itself. A schema with fields that may be left out goes through the dict.
    """
    found = _field_values(dumper, kind)
    if found is None:
        return None
    scope, values, optional = found
    if optional:
        compiled, encode = _compiled(dumper, kind), _ENCODER.encode
        return lambda obj: encode(compiled(obj))
    scope.update(text=json.encoder.encode_basestring_ascii, encode=_ENCODER.encode)
    parts = []
    for i, (key, value) in enumerate(values):
        prefix = ("{" if i == 0 else ",") + _ENCODER.encode(key) + ":"
        parts += [repr(prefix), f"text(v) if type(v := {value}) is str else "
                                f"str(v) if type(v) is int else encode(v)"]
    parts.append(repr("}" if values else "{}"))
    return _define(["def dump(obj):", f"    return ''.join(({', '.join(parts)}))"], scope)


def _field_values(dumper: Schema, kind: type) \
        -> tuple[dict[str, Any], list[tuple[str, str]], list[str]] | None:
    """How compiled dumpers read each field of *dumper* from a *kind* record: the names the
    code needs, (key, Python expression of the dumped value) per field in order, and the keys
    that may be left out; None unless *kind* is a frozen dataclass and the schema is plain.

    Dumping is most of the CPU of a response that is not in the text cache (bench/). Keys
    and names are repr() literals and attributes checked identifiers. A value is read as an
    attribute when it is an init field of the record (always set, and a frozen record
    cannot lose it); other fields go through their own ``serialize``, which may give
    ``missing``.
    """
    params = getattr(kind, "__dataclass_params__", None)
    if params is None or not params.frozen or not _plain(dumper):
        return None
    present = {f.name for f in dataclasses.fields(kind) if f.init and f.name.isidentifier()}
    scope: dict[str, Any] = {"missing": missing, "get": dumper.get_attribute}
    values, optional = [], []
    for i, (name, field) in enumerate(dumper.dump_fields.items()):
        key = field.data_key if field.data_key is not None else name
        attribute = field.attribute or name
        if not field._CHECK_ATTRIBUTE or attribute not in present:
            scope[f"f{i}"] = field.serialize
            value = f"f{i}({name!r}, obj, accessor=get)"
            optional.append(key)
        elif type(field)._serialize is _ValueDumped._serialize:
            scope[f"f{i}"] = field.value_dumper()
            value = f"f{i}(obj.{attribute})"
        elif (same := _unchanged_type(field)) is not None:  # most fields: no call at all
            scope[f"f{i}"], scope[f"t{i}"] = field._serialize, same
            value = f"w if type(w := obj.{attribute}) is t{i} else f{i}(w, {name!r}, obj)"
        else:
            scope[f"f{i}"] = field._serialize
            value = f"f{i}(obj.{attribute}, {name!r}, obj)"
        values.append((key, value))
    return scope, values, optional


def _define(source: list[str], scope: dict[str, Any]) -> Callable[[Any], Any]:
    exec("\n".join(source), scope)  # noqa: S102 - source made only of literals (_field_values)
    return scope["dump"]


def _unchanged_type(field: fields.Field) -> type | None:
    """The type whose values *field* dumps as themselves: int for marshmallow's Integer
    (int(v) is v), str for its String (str(v) is v); None for other fields."""
    kind = type(field)
    if isinstance(field, fields.Integer) and kind._serialize is fields.Number._serialize \
            and kind._format_num is fields.Number._format_num and not field.as_string:
        return int
    if kind._serialize is fields.String._serialize:
        return str
    return None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise BadRequest(f"Request body has the key {duplicate} more than once.")
    return result


def _parse_int(text: str) -> int | float:
    # int() refuses over 4300 digits (ValueError: "not valid JSON"), but such a number is
    # valid JSON, just far beyond 2**63: inf makes it fail as the field's own "is invalid."
    return int(text) if len(text) <= 32 else math.inf


# json.loads with hooks builds a decoder per call; a leading BOM fails here as there
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int,
                            object_pairs_hook=_no_duplicates)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; BadRequest for anything else (SPEC §3 body shape)."""
    if not raw.strip():
        raise BadRequest("Request body is required: a JSON object.")
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("Request body is not valid UTF-8.") from None
    except (ValueError, RecursionError):
        raise BadRequest("Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object.")
    return data

