"""The Open Dental API under /api/v1: thin views that parse, ask the office, dump.

Every view is wrapped by ``operation``, which authenticates the key pair (401), checks
the Content-Type (400) and the office's version (400), and passes the office in.
View names are the OpenAPI operationIds.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from flask import Blueprint, Response, current_app, g, request, url_for
from marshmallow import Schema

from .schemas import (DefinitionQuery, DefinitionSchema, FormatQuery, TaskCreateSchema,
                      TaskListQuery, TaskListSchema, TaskNumPath, TaskQuery, TaskSchema,
                      TaskUpdateSchema, UserodQuery, UserodSchema, dump, load,
                      parse_json_object, split_formats)
from .store import ALL_OTHERS, READ_ALL, BadRequest, Office, Registry, Unauthorized

api = Blueprint("api", __name__, url_prefix="/api/v1")

AUTHORIZATION = re.compile(r"ODFHIR ([^\s/]+)/([^\s/]+)")
AUTH_FORMAT = "ODFHIR {DeveloperKey}/{CustomerKey}"


def registry() -> Registry:
    """The app's offices."""
    return current_app.extensions["mockserver"]


def key_pair() -> tuple[str, str]:
    """(developer key, customer key) from the Authorization header; 401 if malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthorized(f"Authorization header is required: {AUTH_FORMAT}.")
    match = AUTHORIZATION.fullmatch(header.strip())
    if match is None:
        raise Unauthorized(f"Authorization header must be {AUTH_FORMAT}.")
    return match[1], match[2]


# app.extensions key: functions called with the customer key of each /api/v1 request that
# passed the key policy's admission, before its checks; one may answer it instead of the
# view (admin.py: the request journal and faults)
ADMITTED = "mockserver.admitted"


def api_path(path: str) -> str | None:
    """The part of *path* after /api/v1, or None outside the API."""
    prefix = api.url_prefix or ""
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix):] or "/"
    return None


def begin_api_request() -> Response | None:
    """The one pass every /api/v1 request goes through before its view, in the order of
    SPEC §1: the key pair is parsed and admitted (under strict keys an unlisted customer
    key stops here: 401, and nothing is created for it), the ADMITTED functions run, then
    the key's permission for the operation (401), the Content-Type (400), and the office,
    created on its first request, with its version (400). The view finds the office in
    ``g.office``. A request that matched no route is journaled, then answered 404 or 405."""
    if api_path(request.path) is None:
        return None
    routed = request.routing_exception is None
    keys = registry().keys
    try:
        developer, customer = key_pair()
        keys.admit(developer, customer)
    except Unauthorized:
        if routed:
            raise
        return None  # the routing error's answer
    for admitted in current_app.extensions.get(ADMITTED, ()):
        answer = admitted(customer)
        if answer is not None:
            return answer
    if not routed:
        return None
    meta = current_app.view_functions[request.endpoint].od_operation
    keys.check(developer, customer, meta["permission"])
    if not current_app.config["LENIENT_CONTENT_TYPE"] and request.mimetype != "application/json":
        raise BadRequest("Content-Type must be application/json.")
    office = registry().office(customer)
    office.require_version(meta["since"], meta["title"])
    g.office = office
    return None


def operation(permission: str, since: str, title: str) -> Callable:
    """Declare a view as an API method: who may call it and since which version. The view
    gets the caller's office (``begin_api_request``) as its first argument."""
    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Response:
            return view(g.office, **kwargs)
        wrapper.od_operation = {"permission": permission, "since": since, "title": title}
        return wrapper
    return decorate


# one instance per schema, as marshmallow advises: a schema is built once, used by every request
TASK, TASKLIST, DEFINITION, USEROD = TaskSchema(), TaskListSchema(), DefinitionSchema(), UserodSchema()
TASK_NUM_PATH, FORMAT_QUERY = TaskNumPath(), FormatQuery()
TASK_QUERY, TASKLIST_QUERY = TaskQuery(), TaskListQuery()
DEFINITION_QUERY, USEROD_QUERY = DefinitionQuery(), UserodQuery()
TASK_CREATE, TASK_UPDATE = TaskCreateSchema(), TaskUpdateSchema()


def respond(schema: Schema, obj: Any, formats: dict, status: int = 200,
            many: bool = False) -> Response:
    """A JSON response of *obj* dumped with *schema*."""
    response = current_app.json.response(dump(schema, obj, formats, many=many))
    response.status_code = status
    return response


def respond_list(query: Schema, schema: Schema, lister: Callable[..., list]) -> Response:
    """A list operation: load the query with *query*, call *lister*, dump with *schema*."""
    params = load(query, query_args())
    formats = split_formats(params)
    return respond(schema, lister(**params), formats, many=True)


def _task_num(raw: str) -> int:
    return load(TASK_NUM_PATH, {"TaskNum": raw})["TaskNum"]


def query_args() -> dict[str, str]:
    """``request.args.to_dict()``; 400 for a query string that is not UTF-8."""
    try:
        return request.args.to_dict()
    except UnicodeDecodeError:  # werkzeug decodes strictly: raw bytes from the request line
        raise BadRequest("Query string is not valid UTF-8.") from None


def _formats() -> dict:
    return split_formats(load(FORMAT_QUERY, query_args()))


@api.get("/tasks/<TaskNum>")
@operation(READ_ALL, "24.4.13", "Tasks GET (single)")
def getTask(office: Office, TaskNum: str) -> Response:
    """Get a single task."""
    num, formats = _task_num(TaskNum), _formats()  # every 400 before the 404
    return respond(TASK, office.get_task(num), formats)


@api.get("/tasks")
@operation(READ_ALL, "22.3.16", "Tasks GET (multiple)")
def listTasks(office: Office) -> Response:
    """Get the tasks that match every given filter, by TaskNum."""
    return respond_list(TASK_QUERY, TASK, office.list_tasks)


@api.post("/tasks")
@operation(ALL_OTHERS, "22.3.17", "Tasks POST")
def createTask(office: Office) -> Response:
    """Create a task."""
    formats = _formats()
    task = office.create_task(load(TASK_CREATE, parse_json_object(request.get_data())))
    response = respond(TASK, task, formats, status=201)
    response.headers["Location"] = url_for("api.getTask", TaskNum=task.TaskNum, _external=True)
    return response


@api.put("/tasks/<TaskNum>")
@operation(ALL_OTHERS, "22.4.15", "Tasks PUT")
def updateTask(office: Office, TaskNum: str) -> Response:
    """Update the fields given of a task."""
    num = _task_num(TaskNum)
    formats = _formats()
    changes = load(TASK_UPDATE, parse_json_object(request.get_data()))
    return respond(TASK, office.update_task(num, changes), formats)


@api.get("/tasklists")
@operation(READ_ALL, "22.3.15", "TaskLists GET")
def listTaskLists(office: Office) -> Response:
    """Get the task lists with a TaskListStatus."""
    return respond_list(TASKLIST_QUERY, TASKLIST, office.list_tasklists)


@api.get("/definitions")
@operation(READ_ALL, "21.1", "Definitions GET")
def listDefinitions(office: Office) -> Response:
    """Get definitions, optionally of one Category."""
    return respond_list(DEFINITION_QUERY, DEFINITION, office.list_definitions)


@api.get("/userods")
@operation(READ_ALL, "21.3", "Userods GET")
def listUserods(office: Office) -> Response:
    """Get the users."""
    return respond_list(USEROD_QUERY, USEROD, office.list_userods)
