"""The OpenAPI document, generated from the code: never written by hand.

Paths, methods, operationIds (the view names), summaries, permissions and versions come
from the ``api`` blueprint's url_map and each view's ``od_operation``; every parameter,
body and response schema comes from the marshmallow schemas in schemas.py through
apispec's MarshmallowPlugin. ``CONTRACTS`` only says which of those schemas a view uses
and which 404 messages it can give (test_openapi.py checks it covers every view).
``mockserver openapi`` prints the document; ``openapi.yaml`` at the repo root is the
committed copy; ``GET /openapi.yaml`` serves it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml
from flask import Blueprint, Flask, Response
from marshmallow import Schema, fields

from .routes import AUTH_FORMAT, api
from .schemas import (DATE_FORMAT, DATETIME_FORMAT, DATETIME_PATTERN, FORMAT_STRING_PATTERN,
                      DefinitionQuery, DefinitionSchema, FormatQuery, FormatString, OdBool,
                      OdDate, OdDateTime, OdInteger, QueryInteger, ReminderTypeField,
                      TaskCreateSchema, TaskListQuery, TaskListSchema, TaskNumPath, TaskQuery,
                      TaskSchema, TaskUpdateSchema, UserodQuery, UserodSchema)
from .store import PERMISSIONS, ReminderType

OPENAPI_VERSION = "3.1.0"
TITLE = "Open Dental Tasks mock"
SECURITY_SCHEME = "ODFHIR"
DATETIME_FORMAT_NAME = "od-datetime"  # custom format; st_hooks.py registers its generator
DATE_FORMAT_NAME = "od-date"
MEDIA_TYPE = "application/json"
TASK_NUM = "$response.body#/TaskNum"


@dataclass(frozen=True)
class Contract:
    """What a view reads and answers, in schemas.py terms."""

    response: type[Schema]
    query: type[Schema] = FormatQuery
    body: type[Schema] | None = None
    many: bool = False
    status: int = 200
    not_found: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)  # target operationId -> TaskNum source


CONTRACTS: dict[str, Contract] = {
    "getTask": Contract(TaskSchema, not_found=("Task not found.",)),
    "listTasks": Contract(TaskSchema, TaskQuery, many=True,
                          not_found=("Patient not found.", "Appointment not found.")),
    "createTask": Contract(
        TaskSchema, body=TaskCreateSchema, status=201,
        not_found=("TaskList not found.", "Patient not found.", "Appointment not found.",
                   "User not found.", "Definition not found."),
        links={"getTask": TASK_NUM, "updateTask": TASK_NUM}),
    "updateTask": Contract(
        TaskSchema, body=TaskUpdateSchema,
        not_found=("Task not found.", "Patient not found.", "Appointment not found.",
                   "Definition not found."),
        links={"getTask": "$request.path.TaskNum"}),
    "listTaskLists": Contract(TaskListSchema, TaskListQuery, many=True),
    "listDefinitions": Contract(DefinitionSchema, DefinitionQuery, many=True),
    "listUserods": Contract(UserodSchema, UserodQuery, many=True),
}
PATH_SCHEMAS: dict[str, type[Schema]] = {"TaskNum": TaskNumPath}  # url rule argument -> schema

DESCRIPTION = (
    "A mock of the Open Dental REST API Tasks resource, generated from the mock's code. "
    f"Every request, GET included, must send `Content-Type: {MEDIA_TYPE}` (parameters "
    f"such as `; charset=utf-8` allowed) and `Authorization: {AUTH_FORMAT}`; without the "
    "Content-Type the answer is 400. Errors are a JSON string. A method a path does not "
    "have answers 405 with an `Allow` header; an unknown path 404. Every operation accepts "
    "`DateFormatString` and `DateTimeFormatString` (.NET custom formats with the tokens "
    "yyyy yy MM M dd d HH H hh h mm ss tt), which change how dates "
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
        read = isinstance(field.parent, _request_schemas())  # requests are never reformatted
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
    return {}


def _request_schemas() -> tuple[type[Schema], ...]:
    return (*PATH_SCHEMAS.values(), *(c.query for c in CONTRACTS.values()),
            *(c.body for c in CONTRACTS.values() if c.body))


# the request examples of apitasks.md; they work against the default fixtures
BODY_EXAMPLES: dict[type[Schema], dict[str, Any]] = {
    TaskCreateSchema: {"TaskListNum": 3842,
                       "Descript": "Please attach the Insurance card and info for this patient.",
                       "UserNum": 12, "KeyNum": 73, "ObjectType": "Patient",
                       "DateTimeEntry": "2022-10-12 08:00:00", "PriorityDefNum": 90,
                       "DescriptOverride": "Patient insurance task"},
    TaskUpdateSchema: {"TaskStatus": "Done", "DateTimeEntry": "2023-01-12 08:00:00",
                       "PriorityDefNum": 90},
}

# store._key_needs_type: a KeyNum means nothing without its ObjectType (400 otherwise)
DEPENDENT_REQUIRED = {"KeyNum": ["ObjectType"]}
ERROR = {"$ref": "#/components/schemas/Error"}


def _operations() -> list[tuple[str, str, str, Any]]:
    """(OpenAPI path, method, operationId, view) of every API route, in routes.py order."""
    app = Flask(__name__)
    app.register_blueprint(api)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(f"{api.name}."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len(api.url_prefix or ""):])
            view = app.view_functions[rule.endpoint]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append((path, method.lower(), view.__name__, view))
    return found


def _url_pattern(path: str) -> str:
    """A regex for the end of an absolute URL of *path* with any integer parameters."""
    return re.sub(r"\\{\w+\\}", "[0-9]+", re.escape(f"{api.url_prefix}{path}")) + "$"


def _json(schema: Any, **extra: Any) -> dict[str, Any]:
    return {"content": {MEDIA_TYPE: {"schema": schema, **extra}}}


def _examples(messages: tuple[str, ...]) -> dict[str, Any]:
    return {"examples": {re.sub(r"\W", "", m.title()): {"value": m} for m in messages}}


def _operation(path: str, name: str, view: Any, paths: dict[str, str]) -> dict[str, Any]:
    """One operation object; apispec's MarshmallowPlugin expands the schema classes."""
    meta, contract = view.od_operation, CONTRACTS[name]
    item = {"type": "array", "items": contract.response} if contract.many else contract.response
    success: dict[str, Any] = {"description": "The " + ("list" if contract.many else "record"),
                               **_json(item)}
    if contract.status == 201:
        success["description"] = "Created: the new record"
        success["headers"] = {"Location": {
            "description": "The new record's URL (its getTask operation)", "required": True,
            "schema": {"type": "string", "format": "uri",
                       "pattern": _url_pattern(paths["getTask"])}}}
    if contract.links:
        success["links"] = {target: {"operationId": target, "parameters": {"TaskNum": source}}
                            for target, source in contract.links.items()}
    responses: dict[str, Any] = {str(contract.status): success, "400": "BadRequest",
                                 "401": "Unauthorized"}
    if contract.not_found:
        responses["404"] = {"description": "A referenced record does not exist",
                            **_json(ERROR, **_examples(contract.not_found))}
    parameters = [{"in": "path", "schema": PATH_SCHEMAS[p]} for p in re.findall(r"{(\w+)}", path)]
    operation = {
        "operationId": name,
        "summary": meta["title"],
        "description": f"{view.__doc__} Needs the `{meta['permission']}` permission and office "
                       f"version {meta['since']} or later.",
        "parameters": [*parameters, {"in": "query", "schema": contract.query}],
        "responses": responses,
    }
    if contract.body is not None:
        operation["requestBody"] = {"required": True, **_json(contract.body)}
    return operation


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict, in a stable key order."""
    from apispec import APISpec  # here, not on import: 25 ms of every server's start
    from apispec.ext.marshmallow import MarshmallowPlugin
    plugin = MarshmallowPlugin()
    spec = APISpec(title=TITLE, version=_package_version(),
                   openapi_version=OPENAPI_VERSION, plugins=[plugin],
                   info={"description": DESCRIPTION}, servers=[{"url": api.url_prefix}],
                   security=[{SECURITY_SCHEME: []}])
    plugin.converter.add_attribute_function(_wire_format)
    spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": f"`{AUTH_FORMAT}`; GETs need ReadAll, POST and PUT AllOthers."})
    spec.components.schema("Error", {"type": "string", "minLength": 1,
                                     "description": "An error message"})
    for schema in dict.fromkeys(s for c in CONTRACTS.values() for s in (c.response, c.body) if s):
        spec.components.schema(_component(schema), schema=schema)
    spec.components.response("BadRequest", {"description": BAD_REQUEST, **_json(ERROR)})
    spec.components.response("Unauthorized", {
        "description": "Missing, malformed, unknown or disabled key, or a key without the "
                       "permission the operation needs (there is no 403)",
        "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
        **_json(ERROR, **_examples(UNAUTHORIZED_MESSAGES))})
    operations = _operations()
    paths = {name: path for path, _, name, _ in operations}
    for path, method, name, view in operations:
        spec.path(path=path, operations={method: _operation(path, name, view, paths)})
    doc = _tighten(spec.to_dict())
    return {key: doc[key] for key in ("openapi", "info", "servers", "security", "paths",
                                      "components")}


def _tighten(doc: dict[str, Any]) -> dict[str, Any]:
    """Rules the plugin does not write: every response field is always present and there
    are no others; bodies state which fields need which (unknown body fields are ignored),
    query parameters in words (OpenAPI cannot relate two parameters)."""
    responses = {_component(c.response) for c in CONTRACTS.values()}
    for name, schema in doc["components"]["schemas"].items():
        properties = schema.get("properties", {})
        if name in responses:
            schema["properties"] = {k: v for k, v in properties.items() if not v.get("writeOnly")}
            schema["required"] = list(schema["properties"])
            schema["additionalProperties"] = False
        else:
            rules = {k: v for k, v in DEPENDENT_REQUIRED.items()
                     if k in properties and set(v) <= set(properties)}
            if rules:
                schema["dependentRequired"] = rules
    for body, example in BODY_EXAMPLES.items():
        doc["components"]["schemas"][_component(body)]["examples"] = [example]
    for item in doc["paths"].values():
        for operation in item.values():
            names = {p["name"] for p in operation["parameters"]}
            for parameter in operation["parameters"]:
                needs = DEPENDENT_REQUIRED.get(parameter["name"], [])
                if needs and set(needs) <= names:
                    parameter["description"] = f"Needs {' and '.join(needs)} (else 400)."
    return doc


def _component(schema: type[Schema]) -> str:
    return schema.__name__.removesuffix("Schema")


def _package_version() -> str:
    try:
        return version("opendental-tasks-mock")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def to_yaml(document: dict[str, Any]) -> str:
    """An OpenAPI document as YAML text: keys in their order, no anchors."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def render() -> str:
    """The document as YAML text (what openapi.yaml holds)."""
    return to_yaml(build())


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors: a shared list is written out at each place."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


docs = Blueprint("openapi", __name__)


@docs.get("/openapi.yaml")
def openapi_yaml() -> Response:
    """The OpenAPI document; no Authorization needed."""
    return Response(render(), mimetype="application/yaml")
