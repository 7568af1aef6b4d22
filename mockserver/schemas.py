"""The wire format: marshmallow schemas for every body, query and response.

These schemas are the single source of the format on the wire and of the OpenAPI
document (openapi.py reads them). Fields are strict: JSON integers only, exact enum
names, "true"/"false" strings, Open Dental date formats. Error messages are written
without the field name; OdSchema.handle_error prefixes it ("TaskListNum is invalid.").
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from .dotnetformat import Formatter, compile_format

from .store import (MAX_ID, OBJECT_TYPES, RECORD_TYPES, TASK_PRIORITIES, TASK_STATUSES,
                    TASKLIST_STATUSES, BadRequest, ReminderType, RelativeTime)

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



@dataclasses.dataclass(frozen=True)
class Answer:
    """How the answer being dumped writes dates, datetimes and text: an API answer uses
    the request's DateFormatString/DateTimeFormatString, the office's UTC offset (``zzz``)
    and Open Dental's text rule; everything else (the control API, fixtures, the state,
    the journal) the plain defaults."""

    date: Formatter = compile_format(DATE_FORMAT)
    datetime: Formatter = compile_format(DATETIME_FORMAT)
    utc_offset: timedelta = timedelta()
    api_text: bool = False  # apiimplementation: "outputs carriage returns (\r\n) as spaces"


# The answer of the request being served: set by ``answer_as_api`` in each API view and
# reset before every request; read by the fields as they dump.
PLAIN = Answer()  # the plain defaults (frozen: one instance serves every request)
ANSWER: ContextVar[Answer] = ContextVar("ANSWER", default=PLAIN)


# --- fields ------------------------------------------------------------------------------

class OdInteger(fields.Integer):
    """A JSON integer (never a string, float or boolean) in the bigint key range."""

    default_error_messages = {"invalid": INVALID, "null": INVALID, "required": REQUIRED}

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("validate", Range(min=0, max=MAX_ID, error=INVALID))
        super().__init__(strict=True, **kwargs)


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


class OdString(fields.String):
    """A JSON string; in API answers each \r\n is written as a space, as Open Dental's
    serializer does (the stored text keeps it)."""

    default_error_messages = {"invalid": "must be a string.", "null": "must be a string.",
                              "required": REQUIRED}

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        text = super()._serialize(value, attr, obj, **kwargs)
        if text is not None and ANSWER.get().api_text:
            return text.replace("\r\n", " ")
        return text


class OdEnum(fields.String):
    """An enum given by its exact name ("New", not 0 or "new")."""

    default_error_messages = {"required": REQUIRED}

    def __init__(self, choices: tuple[str, ...], **kwargs: Any):
        self.choices = choices
        super().__init__(validate=OneOf(choices, error="must be one of: {choices}."), **kwargs)
        wrong = f"must be one of: {', '.join(choices)}."
        self.error_messages.update(invalid=wrong, null=wrong)


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


class OdBool(fields.Field):
    """A boolean on the wire as the string "true" or "false"."""

    default_error_messages = {"invalid": 'must be "true" or "false".',
                              "null": 'must be "true" or "false".'}

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str:
        return _bool_text(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, str) or value not in ("true", "false"):
            raise self.make_error("invalid")
        return value == "true"


class _OdTemporal(fields.Field):
    """Shared by OdDate and OdDateTime: strict parse, formatting per request."""

    default_format = ""
    pattern = ""
    kind = ""  # "date" or "datetime": which request format applies

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str:
        """The value in the answer's format (ANSWER)."""
        answer = ANSWER.get()
        if not isinstance(value, datetime):
            value = datetime.combine(value, datetime.min.time())
        return getattr(answer, self.kind)(value, answer.utc_offset)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if getattr(self.root, "allow_relative", False):  # fixtures may say now-3d
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


def _reminder_names(value: int) -> str:
    flags = ReminderType(value)
    if not flags:
        return "NoReminder"
    return ", ".join(f.name for f in ReminderType if f and f in flags)


class ReminderTypeField(fields.Field):
    """task.ReminderType: .NET flags names joined the .NET way ("Weekly, Monday")."""

    default_error_messages = {"invalid": "is invalid.", "null": "is invalid."}

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str:
        return _reminder_names(value)

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


# records: one wire schema per store record type, made from its declaration

def record_field(declared: dataclasses.Field) -> fields.Field:
    """The wire field of a record field (store/records.py), by its type and metadata."""
    meta = declared.metadata
    options: dict[str, Any] = {"required": meta.get("required", False)}
    if "wire" in meta:
        options["data_key"] = meta["wire"]
    if "flags" in meta:
        return ReminderTypeField(**options)
    if "choices" in meta:
        return OdEnum(meta["choices"], **options)
    kinds: dict[str, Callable[..., fields.Field]] = {
        "int": OdInteger, "str": OdString, "bool": OdBool, "date": OdDate, "datetime": OdDateTime,
        "tuple[int, ...]": lambda **kw: fields.List(
            OdInteger(), error_messages={"invalid": "must be a list of integers."}, **kw)}
    return kinds[declared.type](**options)


def record_schema(cls: type) -> type[OdSchema]:
    """The wire schema of a record type: its fields in order, named ``<Type>Schema`` (the
    OpenAPI component is ``<Type>``). Also the record format of fixtures, of
    /__admin/state and of the persistence journal."""
    declared = {f.name: record_field(f) for f in dataclasses.fields(cls)}
    return OdSchema.from_dict(declared, name=f"{cls.__name__}Schema")


RECORD_SCHEMAS: dict[str, type[OdSchema]] = {kind: record_schema(cls)
                                             for kind, cls in RECORD_TYPES.items()}
# one instance of each, as marshmallow advises, for the state export and the persistence
# journal (writes and replay): a journal write must not build one
RECORD_FORMATS: dict[str, OdSchema] = {kind: schema() for kind, schema in RECORD_SCHEMAS.items()}
TaskSchema = RECORD_SCHEMAS["tasks"]
TaskListSchema = RECORD_SCHEMAS["tasklists"]
TaskNoteSchema = RECORD_SCHEMAS["tasknotes"]
UserodSchema = RECORD_SCHEMAS["userods"]


class DefinitionSchema(OdSchema):
    """A definition on the wire (apidefinitions.md): ``category`` is the Category's name,
    and ItemOrder, which the office keeps, is not sent."""

    DefNum = OdInteger()
    ItemName = OdString()
    ItemValue = OdString()
    Category = OdInteger()
    category = fields.Function(lambda d: DEFINITION_CATEGORIES.get(d.Category, ""), dump_only=True)
    isHidden = OdBool(attribute="IsHidden")


# request bodies (fields in the order of SPEC §2, which is the order errors are reported)

class RequestSchema(OdSchema):
    """A request's body, query or path parameters: read from clients, never reformatted."""


class TaskCreateSchema(RequestSchema):
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


class TaskUpdateSchema(RequestSchema):
    """PUT /tasks/{TaskNum}: every field optional; TaskListNum, UserNum... are ignored."""

    KeyNum = OdInteger()
    Descript = OdString(validate=Length(min=1, error="must not be empty."))
    TaskStatus = OdEnum(TASK_STATUSES)
    ObjectType = OdEnum(OBJECT_TYPES)
    DateTimeEntry = OdDateTime()
    PriorityDefNum = OdInteger()
    DescriptOverride = OdString(validate=Length(max=256, error="must be at most {max} characters."))


class Unchangeable(fields.Field):
    """A field a request may not set: any value is a 400 naming it."""

    default_error_messages = {"invalid": "cannot be changed."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        raise self.make_error("invalid")


# at least one character other than space, tab and line breaks; the OpenAPI pattern too
NOT_BLANK = Regexp(r"^[ \t\n\r\f\v]*[^ \t\n\r\f\v]", error="cannot be blank.")


class TaskNoteCreateSchema(RequestSchema):
    """POST /tasknotes."""

    TaskNum = OdInteger(required=True)
    UserNum = OdInteger(required=True)
    Note = OdString(required=True, validate=NOT_BLANK)


class TaskNoteUpdateSchema(RequestSchema):
    """PUT /tasknotes/{TaskNoteNum}: DateTimeNote and/or Note; the note's keys stay."""

    TaskNoteNum = Unchangeable(load_only=True)
    TaskNum = Unchangeable(load_only=True)
    UserNum = Unchangeable(load_only=True)
    DateTimeNote = OdDateTime()
    Note = OdString(validate=NOT_BLANK)

    @validates_schema
    def _changes_something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Request body must set DateTimeNote or Note.")


# query strings and paths

class TaskNumPath(RequestSchema):
    TaskNum = QueryInteger(required=True, metadata={"description": "The task's primary key",
                                                    "example": 1408})  # in the default fixtures


class TaskNoteNumPath(RequestSchema):
    TaskNoteNum = QueryInteger(required=True, metadata={"description": "The note's primary key",
                                                        "example": 563})


class FormatQuery(RequestSchema):
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


class TaskNoteQuery(PageQuery):
    """GET /tasknotes filters."""

    TaskNum = QueryInteger()
    UserNum = QueryInteger()


class TaskListQuery(PageQuery):
    TaskListStatus = OdEnum(TASKLIST_STATUSES, load_default="Active")


class DefinitionQuery(PageQuery):
    Category = QueryInteger()
    includeHidden = OdBool(load_default=False)


class UserodQuery(PageQuery):
    includeHidden = OdBool(load_default=False)
    includeCEMT = OdBool(load_default=False)


# --- entry points for the views ----------------------------------------------------------

def load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate *data* (a body, query or path) with *schema*; BadRequest on failure."""
    return schema.load(data)


def answer_as_api(params: dict[str, Any], utc_offset: timedelta) -> dict[str, Any]:
    """Answer this request as the API does (ANSWER): with the formats of
    DateFormatString/DateTimeFormatString in loaded query *params*, the office's
    *utc_offset*, and Open Dental's text rule; *params* without the formats."""
    ANSWER.set(Answer(date=params.pop("DateFormatString", PLAIN.date),
                      datetime=params.pop("DateTimeFormatString", PLAIN.datetime),
                      utc_offset=utc_offset, api_text=True))
    return params


def plain_answers() -> None:
    """Dump with the plain defaults until a view says otherwise (before every request)."""
    ANSWER.set(PLAIN)


def dump(schema: Schema, obj: Any, many: bool = False) -> Any:
    """Serialize *obj* (or a list) the plain way: the control API, fixtures, the journal."""
    token = ANSWER.set(PLAIN)
    try:
        return schema.dump(obj, many=many)
    finally:
        ANSWER.reset(token)


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

