"""The Blueprint every operation is declared on: flask-smorest's, whose ``arguments``,
``response`` and ``doc`` drive the route, the loading of the request, the dumping of the
answer and the OpenAPI document at once, with a request parser that reads requests the
way Open Dental does."""
from __future__ import annotations

import difflib
import json
from typing import Any

import flask
import flask_smorest
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

from .schemas import parse_json_object
from .store import BadRequest


def query_args() -> dict[str, str]:
    """The query string as a dict (a repeated parameter: its first value); 400 for a query
    string that is not UTF-8."""
    try:
        return flask.request.args.to_dict()
    except UnicodeDecodeError:  # werkzeug decodes strictly: raw bytes from the request line
        raise BadRequest("Query string is not valid UTF-8.") from None


MAX_NAME = 100  # characters of an ignored field's name a warning repeats


def warnings() -> list[str]:
    """This request's warnings: what a contract test should know that the API would not
    say (the ``X-Mock-Warning`` headers, the journal entry and the log line show them)."""
    if "mock_warnings" not in flask.g:
        flask.g.mock_warnings = []
    return flask.g.mock_warnings


class RequestParser(FlaskParser):
    """webargs' Flask parser: a body is strict JSON (schemas.parse_json_object), read
    whatever the Content-Type says (the Content-Type rule is checked before), a query
    parameter given twice counts once, and each schema's own ``Meta.unknown`` decides
    about unknown fields. Failures are the schemas' own 400s (OdSchema.handle_error)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {}

    def load_json(self, req: flask.Request, schema: Schema) -> Any:
        """The request body as a JSON object; BadRequest for anything else. The fields
        *schema* does not read are ignored, as Open Dental does, and said in ``warnings``."""
        body = parse_json_object(req.get_data())
        known = [field.data_key or name for name, field in schema.load_fields.items()]
        for key in body:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                # as JSON: the client's name, escaped to ASCII (a header value), cut short
                warnings().append(f"ignored field {json.dumps(key[:MAX_NAME])}{hint}")
        return body

    def load_querystring(self, req: flask.Request, schema: Schema) -> Any:
        """The query parameters, first value of each."""
        return query_args()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the mock's request parser."""

    ARGUMENTS_PARSER = RequestParser()

    def arguments(self, schema: type[Schema] | Schema, *args: Any, **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``, with one instance of *schema* for every request
        (given a class, webargs builds a new instance for each request)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)
