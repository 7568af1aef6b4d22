"""The control API's schemas (admin.py): not the Open Dental wire format. Unlike the wire
schemas they reject unknown fields, so a misspelt option is a 400, not silently ignored."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import RAISE, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from .routes import api
from .schemas import REQUIRED, OdDateTime, OdSchema, OdString, QueryInteger
from .store import RelativeTime

MAX_DELAY_MS = 30_000
MAX_TIMES = 1_000_000
METHODS = ("*", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")  # in the journal
FAULT_METHODS = ("*", "GET", "POST", "PUT")  # the API's methods: a fault on another never fires


def _integer(low: int, high: int, **kwargs: Any) -> fields.Integer:
    message = f"must be an integer from {low} to {high}."
    return fields.Integer(strict=True, validate=Range(low, high, error=message),
                          error_messages={"invalid": message, "null": message}, **kwargs)


class JsonBool(fields.Boolean):
    """A JSON ``true`` or ``false`` (not 1, "true" or "yes")."""

    default_error_messages = {"invalid": "must be true or false.", "null": "must be true or false."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JsonNumber(fields.Float):
    """A JSON number (not a string or boolean)."""

    default_error_messages = {"invalid": "must be a number.", "null": "must be a number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Duration(fields.Field):
    """A clock step: seconds as a JSON integer, or text such as "3d", "2h30m", "-90m"."""

    default_error_messages = {
        "invalid": 'must be whole seconds or a duration such as "3d", "2h30m" or "-1d".',
        "null": 'must be whole seconds or a duration such as "3d", "2h30m" or "-1d".',
        "required": REQUIRED}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> timedelta:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return timedelta(seconds=value)
            except OverflowError:
                raise self.make_error("invalid") from None
        if isinstance(value, str):
            # the fixtures' relative-time grammar (now-3d), so both read the same way
            sign = "" if value[:1] in ("+", "-") else "+"
            found = RelativeTime.parse(f"now{sign}{value}")
            if found is not None:
                return found.delta
        raise self.make_error("invalid")


class AdminSchema(OdSchema):
    """Control-API input: like the wire schemas, but an unknown field is a 400."""

    class Meta(OdSchema.Meta):
        unknown = RAISE


def _pattern(text: str) -> str:
    # patterns are relative to /api/v1; tolerate the prefix
    return text[len(api.url_prefix):] if text.startswith(api.url_prefix) else text


ADMIN_TOKEN_HEADER = "X-Mock-Admin-Token"


class AdminTokenHeader(OdSchema):
    """The header of the operations that reach beyond the caller's office (the other
    request headers are ignored)."""
    token = OdString(data_key=ADMIN_TOKEN_HEADER, load_default="", metadata={
        "description": "the server's admin token (--admin-token, MOCKSERVER_ADMIN_TOKEN), "
                       "when it has one"})


class ResetQuery(AdminSchema):
    scope = OdString(load_default="office", validate=OneOf(
        ("office", "all"), error="must be office or all."),
        metadata={"description": "office: this office only; all: every office of the server"})


class ResetResult(AdminSchema):
    scope = fields.String()


class JournalQuery(AdminSchema):
    method = OdString(validate=OneOf(METHODS, error="must be one of: {choices}."))
    path = OdString(validate=Length(1, 1000, error="must be 1 to 1000 characters."),
                         metadata={"description": "glob on the path after /api/v1, e.g. /tasks/*"})

    @post_load
    def _relative(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "path" in data:
            data["path"] = _pattern(data["path"])
        return data


class JournalResponseSchema(AdminSchema):
    """The answer the mock gave to a journaled request."""

    status = fields.Integer()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    body = fields.Raw(allow_none=True, metadata={
        "description": "parsed JSON, else text (at most 65536 characters); null if empty"})


class JournalEntrySchema(AdminSchema):
    """One /api/v1 request as the server received it."""

    id = fields.Integer()
    time = OdDateTime(metadata={"type": "string", "description": "office clock"})
    wall_time = fields.String(metadata={"description": "UTC, ISO 8601"})
    method = fields.String()
    path = fields.String()
    query = fields.Dict(keys=fields.String(), values=fields.String())
    headers = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "Content-Type and Authorization, if sent "
                                    "(under strict keys the developer key is masked)"})
    body = fields.Raw(allow_none=True, metadata={
        "description": "parsed JSON, else text (at most 65536 characters); null if empty"})
    body_size = fields.Integer(metadata={"description": "bytes received"})
    status = fields.Integer(allow_none=True, metadata={"description": "null: connection dropped"})
    fault = fields.Integer(allow_none=True, metadata={"description": "id of the fault applied"})
    warnings = fields.List(fields.String(), metadata={"description": "e.g. ignored body fields"})
    response = fields.Nested(JournalResponseSchema, allow_none=True,
                             metadata={"description": "what the mock answered; null: dropped"})


class FaultSchema(AdminSchema):
    """A fault: for matching /api/v1 requests of the office, misbehave."""

    id = fields.Integer(dump_only=True)
    method = OdString(load_default="*", validate=OneOf(
        FAULT_METHODS, error="must be one of: {choices}."))
    path = OdString(load_default="*", validate=[
        Length(1, 1000, error="must be 1 to 1000 characters."),
        Regexp(r"^[*/]", error="must start with / or * (a glob on the path after /api/v1, "
                               "such as /tasks/*)")],
        metadata={"description": "glob on the path after /api/v1, e.g. /tasks/*"})
    status = _integer(400, 599, allow_none=True, load_default=None)
    body = OdString(allow_none=True, load_default=None,
                    metadata={"description": "error message, sent as a JSON string"})
    delay_ms = _integer(0, MAX_DELAY_MS, load_default=0)
    drop = JsonBool(load_default=False, metadata={"description": "close the connection unanswered"})
    times = _integer(1, MAX_TIMES, allow_none=True, load_default=None,
                     metadata={"description": "how many more requests it applies to; null: until deleted"})
    probability = JsonNumber(load_default=1.0, validate=Range(0, 1, error="must be from 0 to 1."))
    seed = _integer(0, 2**63 - 1, allow_none=True, load_default=None,
                    metadata={"description": "makes probability draws repeatable"})
    hits = fields.Integer(dump_only=True, metadata={"description": "requests it has applied to"})

    @validates_schema
    def _one_effect(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["drop"] and data["status"] is not None:
            raise ValidationError("A fault cannot both drop the connection and send a status.")
        if data["body"] is not None and data["status"] is None:
            raise ValidationError("A fault body needs a status.")
        if not (data["drop"] or data["status"] is not None or data["delay_ms"]):
            raise ValidationError("A fault needs a status, drop or delay_ms.")

    @post_load
    def _relative(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["path"] = _pattern(data["path"])
        return data


class FaultPath(OdSchema):
    FaultId = QueryInteger(required=True)


class ClockSchema(AdminSchema):
    """The office clock; on PUT both fields are optional."""

    now = OdDateTime(metadata={"type": "string", "example": "2024-12-10 13:08:47"})
    frozen = JsonBool(metadata={"description": "true: the clock stands still"})


class AdvanceSchema(AdminSchema):
    by = Duration(required=True, metadata={
        "description": 'seconds, or "3d", "2h30m", "-1d"', "example": "3d"})


class DeletedSchema(AdminSchema):
    deleted = fields.Integer(metadata={"description": "how many entries were removed"})


class OfficeSchema(AdminSchema):
    """An office at a glance."""

    customer_key = fields.String()
    version = fields.String()
    clock = fields.Nested(ClockSchema)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "records of each resource"})
