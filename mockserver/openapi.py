"""The OpenAPI documents, generated from the code: never written by hand.

One builder, flask-smorest's ``Api`` over apispec, reads the declarations of every
operation (routes.py for /api/v1, admin.py for the control API) and gives one OpenAPI 3.1
specification, split into two documents: the Open Dental API's (``GET /openapi.yaml``,
``mockserver openapi``, the committed ``openapi.yaml``) and the control API's
(``GET /__admin/openapi.yaml``). ``finish`` adds the rules the builder does not write.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import flask_smorest
import yaml
from flask import Blueprint, Flask, Response, abort, current_app
from marshmallow import fields

from .routes import AUTH_FORMAT, ERROR, MEDIA_TYPE, api
from . import __version__
from .dotnetformat import FORMAT_STRING_PATTERN
from .schemas import (DATE_FORMAT, DATETIME_FORMAT, DATETIME_PATTERN,
                      FormatString, OdBool, OdDate, OdDateTime, OdInteger, QueryInteger,
                      ReminderTypeField, RequestSchema, Unchangeable)
from .store import PERMISSIONS, ReminderType

OPENAPI_VERSION = "3.1.0"
TITLE = "Open Dental Tasks mock"
SECURITY_SCHEME = "ODFHIR"
DATETIME_FORMAT_NAME = "od-datetime"  # custom format; st_hooks.py registers its generator
DATE_FORMAT_NAME = "od-date"
CONTROL_PREFIX = "/__admin"


DESCRIPTION = (
    "A mock of the Open Dental REST API Tasks resource, generated from the mock's code. "
    f"Every request, GET included, must send `Content-Type: {MEDIA_TYPE}` (parameters "
    f"such as `; charset=utf-8` allowed) and `Authorization: {AUTH_FORMAT}`; without the "
    "Content-Type the answer is 400. Errors are a JSON string. A method a path does not "
    "have answers 405 with an `Allow` header; an unknown path 404. Every operation accepts "
    "`DateFormatString` and `DateTimeFormatString` (.NET custom formats with the tokens "
    "yyyy yy MMMM MMM MM M dddd ddd dd d HH H hh h mm ss fff ff f tt zzz zz z; zzz is the "
    "office's UTC offset), which change how dates "
    f"({DATE_FORMAT}) and datetimes ({DATETIME_FORMAT}) in the response are written.")

BAD_REQUEST = (
    "The request is malformed. The body names the first problem, in this order: "
    f"`Content-Type` other than `{MEDIA_TYPE}`, an office version older than the "
    "operation's, a path or query parameter, the body's shape, each body field's type and "
    "format in the Task field order, missing required fields, then rules between fields. "
    'Messages look like `"<Field> is invalid."`, `"<Field> is required."`, '
    '`"<Field> must be one of: New, Viewed, Done."`, '
    f'`"<Field> format must be {DATETIME_FORMAT}"`, '
    '`"ObjectType is required when KeyNum is specified."`, '
    '`"Request body must be a JSON object."`, '
    '`"Tasks POST requires version 22.3.17 or later."`. '
    "A body over 16.8M characters is a 400 too.")

UNAUTHORIZED_MESSAGES = (f"Authorization header is required: {AUTH_FORMAT}.",
                         f"Authorization header must be {AUTH_FORMAT}.",
                         "Developer key is invalid or disabled.",
                         "Customer key is invalid or disabled.",
                         *(f"Developer key lacks the {p} permission." for p in PERMISSIONS))

_REMINDER_NAME = "|".join(name for name in ReminderType.__members__ if name != "NoReminder")
REMINDER_TYPE_PATTERN = rf"^(?:NoReminder|(?:{_REMINDER_NAME})(?:, (?:{_REMINDER_NAME}))*)$"


def _wire_format(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """The JSON schema of the custom fields in schemas.py (an apispec attribute function).

    Response dates carry no pattern: DateFormatString/DateTimeFormatString reformat them.
    """
    if isinstance(field, (OdInteger, QueryInteger)):
        return {"format": "int64"}
    if isinstance(field, OdBool):
        return {"type": "string", "enum": ["true", "false"]}
    if isinstance(field, OdDateTime):
        read = isinstance(field.parent, RequestSchema)  # requests are never reformatted
        return {"type": "string", "format": DATETIME_FORMAT_NAME,
                **({"pattern": DATETIME_PATTERN} if read else {})}
    if isinstance(field, OdDate):
        return {"type": "string", "format": DATE_FORMAT_NAME}
    if isinstance(field, ReminderTypeField):
        return {"type": "string", "pattern": REMINDER_TYPE_PATTERN}
    if isinstance(field, FormatString):
        return {"pattern": FORMAT_STRING_PATTERN}
    if isinstance(field, fields.Function):
        return {"type": "string"}
    if isinstance(field, Unchangeable):
        return {"not": {}, "description": "May not be sent: the answer is a 400."}
    return {}


# store.office._key_needs_type: a KeyNum means nothing without its ObjectType (400 otherwise)
DEPENDENT_REQUIRED = {"KeyNum": ["ObjectType"]}
# bodies that must set at least one of some fields (their schema's validates_schema)
AT_LEAST_ONE = {"TaskNoteUpdate": ["DateTimeNote", "Note"]}


METHODS = ("get", "put", "post", "delete", "patch")  # the order of a path's operations
OPERATION_KEYS = ("operationId", "summary", "description", "parameters", "requestBody",
                  "responses")  # in the order a reader wants them


class SpecApi(flask_smorest.Api):
    """flask-smorest's Api as the document builder only: errors are answered by errors.py
    (no default error response in the document)."""

    DEFAULT_ERROR_RESPONSE_NAME = None


def specification() -> dict[str, Any]:
    """The whole specification as the builder gives it: every declared operation, API and
    control API."""
    from . import admin

    app = Flask(__name__)
    app.config.update(API_TITLE=TITLE, API_VERSION=__version__,
                      OPENAPI_VERSION=OPENAPI_VERSION)
    builder = SpecApi(app, spec_kwargs={"info": {"description": DESCRIPTION}})
    builder.ma_plugin.converter.add_attribute_function(_wire_format)
    builder.register_blueprint(api)
    builder.register_blueprint(admin.admin)
    return builder.spec.to_dict()


def api_document(spec: dict[str, Any]) -> dict[str, Any]:
    """The Open Dental API's document: its paths (relative to the /api/v1 server)."""
    prefix = api.url_prefix or ""
    paths = {path[len(prefix):]: item for path, item in sorted(spec["paths"].items())
             if path.startswith(prefix + "/")}
    components = {
        "schemas": {"Error": {"type": "string", "minLength": 1, "description": "An error message"}},
        "responses": {
            "BadRequest": {"description": BAD_REQUEST, "content": {MEDIA_TYPE: {"schema": ERROR}}},
            "Unauthorized": {
                "description": "Missing, malformed, unknown or disabled key, or a key without "
                               "the permission the operation needs (there is no 403)",
                "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                "content": {MEDIA_TYPE: {"schema": ERROR, "examples": {
                    message.title().replace(" ", ""): {"value": message}
                    for message in UNAUTHORIZED_MESSAGES}}}}},
        "securitySchemes": {SECURITY_SCHEME: {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": f"`{AUTH_FORMAT}`; GETs need ReadAll, POST and PUT AllOthers."}},
    }
    doc = {"openapi": spec["openapi"], "info": spec["info"], "servers": [{"url": prefix}],
           "security": [{SECURITY_SCHEME: []}], "paths": paths, "components": components}
    return _finish(doc, spec)


def control_document(spec: dict[str, Any]) -> dict[str, Any]:
    """The control API's document: its paths, each scoped to the caller's office."""
    paths = {path: item for path, item in spec["paths"].items() if path.startswith(CONTROL_PREFIX)}
    error = {"content": {MEDIA_TYPE: {"schema": ERROR}}}
    components = {
        "schemas": {"Error": {"type": "string", "description": "An error message"}},
        "responses": {"BadRequest": {"description": "Bad input", **error},
                      "Unauthorized": {"description": "No key pair", **error}},
        "securitySchemes": {SECURITY_SCHEME: {"type": "apiKey", "in": "header",
                                              "name": "Authorization"}},
    }
    doc = {"openapi": spec["openapi"],
           "info": {"title": f"{TITLE}: control API", "version": spec["info"]["version"],
                    "description": "Test-harness endpoints, per office (customer key)."},
           "security": [{SECURITY_SCHEME: []}], "paths": paths, "components": components}
    return _finish(doc, spec)


def _finish(doc: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Rules the builder does not write, on a document of *spec*'s paths: the schemas they
    use; each operation's own parameters only (the path's are in them); 400 and 401 as the
    shared responses; the links ``operation`` declared on the success response; every
    response field always present and no others; which body fields need which (unknown
    body fields are ignored); and in words, which query parameter needs which."""
    doc = copy.deepcopy(doc)
    used = _referenced(doc["paths"], spec["components"]["schemas"]) - set(doc["components"]["schemas"])
    doc["components"]["schemas"].update(
        {name: copy.deepcopy(spec["components"]["schemas"][name]) for name in sorted(used)})
    responses_of = set()
    for path, item in doc["paths"].items():
        item.pop("parameters", None)  # the route's own: each operation lists them, typed
        item = doc["paths"][path] = dict(sorted(item.items(), key=lambda m: METHODS.index(m[0])))
        for method, operation in item.items():
            operation = item[method] = {key: operation[key] for key in OPERATION_KEYS
                                        if key in operation}
            operation["parameters"] = sorted(operation.get("parameters", []),
                                             key=lambda p: p["in"] != "path")
            operation.pop("tags", None)  # flask-smorest's blueprint names
            answers = operation["responses"]
            extra = answers.pop("success", {})
            for status in list(answers):
                if status not in ("400", "401") and isinstance(answers[status], str):
                    del answers[status]  # flask-smorest's names of its own error responses
            answers["400"] = {"$ref": "#/components/responses/BadRequest"}
            answers["401"] = {"$ref": "#/components/responses/Unauthorized"}
            success = next(status for status in answers if status.startswith("2"))
            answers[success].update(extra)
            for content in answers[success].get("content", {}).values():
                ref = content["schema"].get("$ref") or content["schema"].get("items", {}).get("$ref")
                if ref:
                    responses_of.add(ref.rsplit("/", 1)[1])
            operation["responses"] = dict(sorted(answers.items()))
            names = {p["name"] for p in operation.get("parameters", [])}
            for parameter in operation.get("parameters", []):
                needs = DEPENDENT_REQUIRED.get(parameter["name"], [])
                if needs and set(needs) <= names:
                    parameter["description"] = f"Needs {' and '.join(needs)} (else 400)."
    for name, schema in doc["components"]["schemas"].items():
        properties = schema.get("properties", {})
        if name in responses_of:
            schema["properties"] = {k: v for k, v in properties.items() if not v.get("writeOnly")}
            schema["required"] = list(schema["properties"])
            schema["additionalProperties"] = False
        else:
            rules = {k: v for k, v in DEPENDENT_REQUIRED.items()
                     if k in properties and set(v) <= set(properties)}
            if rules:
                schema["dependentRequired"] = rules
            if name in AT_LEAST_ONE:
                schema["anyOf"] = [{"required": [field]} for field in AT_LEAST_ONE[name]]
    return doc


def _referenced(tree: Any, schemas: dict[str, Any]) -> set[str]:
    """The names of the component schemas *tree* refers to, directly or through others."""
    found: set[str] = set()
    pending = [tree]
    while pending:
        for ref in _refs(pending.pop()):
            name = ref.rsplit("/", 1)[1]
            if ref.startswith("#/components/schemas/") and name in schemas and name not in found:
                found.add(name)
                pending.append(schemas[name])
    return found


def _refs(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _refs(value)


def to_yaml(document: dict[str, Any]) -> str:
    """An OpenAPI document as YAML text: keys in their order, no anchors."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def build(which: str = "api") -> dict[str, Any]:
    """The API's document (what openapi.yaml holds), or the control API's (``"control"``)."""
    spec = specification()
    return api_document(spec) if which == "api" else control_document(spec)


def render(which: str = "api") -> str:
    """``build(which)`` as YAML."""
    return to_yaml(build(which))


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors: a shared list is written out at each place."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


docs = Blueprint("openapi", __name__)


def init_app(app: Flask) -> None:
    """Serve the documents at /openapi.yaml and /__admin/openapi.yaml."""
    app.register_blueprint(docs)


@docs.get("/openapi.yaml")
def openapi_yaml() -> Response:
    """The OpenAPI document; no Authorization needed."""
    return Response(render(), mimetype="application/yaml")


@docs.get(f"{CONTROL_PREFIX}/openapi.yaml")
def getAdminSpec() -> Response:
    """The control API's OpenAPI document; no Authorization needed (404 with --no-admin,
    as all of the control API)."""
    if not current_app.config["ADMIN_API"]:
        abort(404)
    return Response(render("control"), mimetype="application/yaml")
