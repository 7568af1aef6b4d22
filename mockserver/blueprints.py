"""The Blueprint every operation is declared on: flask-smorest's, whose ``arguments``,
``response`` and ``doc`` drive the route, the loading of the request, the dumping of the
answer and the OpenAPI document at once, with a request parser that reads requests the
way Open Dental does."""
from __future__ import annotations

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


class RequestParser(FlaskParser):
    """webargs' Flask parser: a body is strict JSON (schemas.parse_json_object), read
    whatever the Content-Type says (the Content-Type rule is checked before), a query
    parameter given twice counts once, and each schema's own ``Meta.unknown`` decides
    about unknown fields. Failures are the schemas' own 400s (OdSchema.handle_error)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {}

    def load_json(self, req: flask.Request, schema: Schema) -> Any:
        """The request body as a JSON object; BadRequest for anything else."""
        return parse_json_object(req.get_data())

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
