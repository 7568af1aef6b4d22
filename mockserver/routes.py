"""The Open Dental API under /api/v1: one declaration per operation, and the one pass
every request goes through before it.

Each operation is a view with its flask-smorest declaration (``arguments`` for the path,
query and body schemas, ``response`` for the answer) and ``operation`` (who may call it,
since which version, what it can answer): together they drive the route, the loading,
the dumping and the OpenAPI document. View names are the operationIds.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from flask import Flask, Response, current_app, g, request, url_for
from marshmallow import Schema

from .blueprints import Blueprint, warnings
from .docexamples import request_example, response_example
from .schemas import (DefinitionQuery, DefinitionSchema, FormatQuery, TaskCreateSchema,
                      TaskListQuery, TaskListSchema, TaskNumPath, TaskQuery, TaskSchema,
                      TaskNoteCreateSchema, TaskNoteNumPath, TaskNoteQuery, TaskNoteSchema,
                      TaskNoteUpdateSchema, TaskUpdateSchema, UserodQuery, UserodSchema,
                      answer_as_api, plain_answers)
from .store import ALL_OTHERS, READ_ALL, BadRequest, Office, Registry, Unauthorized

api = Blueprint("api", __name__, url_prefix="/api/v1")

KEY = r"[^\s/]+"  # a developer or customer key: no spaces, no slash
AUTHORIZATION = re.compile(rf"ODFHIR ({KEY})/({KEY})")
AUTH_FORMAT = "ODFHIR {DeveloperKey}/{CustomerKey}"
MEDIA_TYPE = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}  # openapi.py declares it: a JSON string
TASK_NUM = "$response.body#/TaskNum"
TASK_NOTE_NUM = "$response.body#/TaskNoteNum"


def registry() -> Registry:
    """The app's offices."""
    return current_app.extensions["mockserver"]


def sent_key_pair() -> tuple[str, str] | None:
    """(developer key, customer key) of the Authorization header; None if it is missing
    or malformed."""
    match = AUTHORIZATION.fullmatch(request.headers.get("Authorization", "").strip())
    return (match[1], match[2]) if match else None


def key_pair() -> tuple[str, str]:
    """(developer key, customer key) from the Authorization header; 401 if malformed."""
    if "Authorization" not in request.headers:
        raise Unauthorized(f"Authorization header is required: {AUTH_FORMAT}.")
    pair = sent_key_pair()
    if pair is None:
        raise Unauthorized(f"Authorization header must be {AUTH_FORMAT}.")
    return pair


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


def init_app(app: Flask) -> None:
    """Serve /api/v1: the blueprint, and before each request the plain answer style and
    ``begin_api_request``."""
    app.before_request(plain_answers)  # every request: until its view says otherwise
    app.before_request(begin_api_request)
    app.after_request(warn)
    app.register_blueprint(api)


def warn(response: Response) -> Response:
    """The request's warnings (blueprints.warnings) as ``X-Mock-Warning`` headers."""
    for text in warnings():
        response.headers.add("X-Mock-Warning", text)
    return response


def operation(permission: str, since: str, title: str, *, not_found: tuple[str, ...] = (),
              links: dict[str, dict[str, str]] | None = None) -> Callable:
    """Declare a view as an API method: who may call it, since which version, and the
    404 messages it can give; *links*: the operations its answer leads to, each with the
    parameters it gives them (OpenAPI link expressions). The view gets the caller's office
    (``begin_api_request``) as its first argument."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(g.office, *args, **kwargs)
        wrapper.od_operation = {"permission": permission, "since": since, "title": title}
        responses: dict[str, Any] = {"400": {"$ref": "#/components/responses/BadRequest"},
                                     "401": {"$ref": "#/components/responses/Unauthorized"}}
        if not_found:
            responses["404"] = {"description": "A referenced record does not exist",
                                "content": {MEDIA_TYPE: {"schema": ERROR, **_examples(not_found)}}}
        if links:
            responses["success"] = {"links": {  # openapi.py puts them on the success answer
                target: {"operationId": target, "parameters": parameters}
                for target, parameters in links.items()}}
        return api.doc(operationId=view.__name__, summary=title, responses=responses,
                       description=f"{view.__doc__} Needs the `{permission}` permission and "
                                   f"office version {since} or later.")(wrapper)
    return decorate


def _examples(messages: tuple[str, ...]) -> dict[str, Any]:
    return {"examples": {re.sub(r"\W", "", m.title()): {"value": m} for m in messages}}


def url_pattern(path: str) -> str:
    """A regex for the end of an absolute URL of the API's *path* with integer parameters."""
    return re.sub(r"\\{\w+\\}", "[0-9]+", re.escape(f"{api.url_prefix}{path}")) + "$"


def location(path: str) -> dict[str, Any]:
    """The Location header of a POST's answer: the new record's URL, at the API's *path*."""
    schema = {"type": "string", "format": "uri", "pattern": url_pattern(path)}
    return {"Location": {"description": "The new record's URL", "required": True, "schema": schema}}


@api.route("/tasks", methods=["POST"])
@operation(ALL_OTHERS, "22.3.17", "Tasks POST",
           not_found=("TaskList not found.", "Patient not found.", "Appointment not found.",
                      "User not found.", "Definition not found."),
           links={"getTask": {"TaskNum": TASK_NUM}, "updateTask": {"TaskNum": TASK_NUM},
                  "listTaskNotes": {"TaskNum": TASK_NUM}})
@api.arguments(FormatQuery, location="query", as_kwargs=True)
@api.arguments(TaskCreateSchema, location="json", example=request_example("createTask"))
@api.response(201, TaskSchema, description="Created: the new record",
              headers=location("/tasks/{TaskNum}"), example=response_example("createTask"))
def createTask(office: Office, body: dict[str, Any], **query: Any) -> Any:
    """Create a task."""
    answer_as_api(query, office.utc_offset)
    task = office.create_task(body)
    return task, {"Location": url_for("api.getTask", TaskNum=task.TaskNum, _external=True)}


@api.route("/tasks/<TaskNum>", methods=["PUT"])
@operation(ALL_OTHERS, "22.4.15", "Tasks PUT",
           not_found=("Task not found.", "Patient not found.", "Appointment not found.",
                      "Definition not found."),
           links={"getTask": {"TaskNum": "$request.path.TaskNum"}})
@api.arguments(TaskNumPath, location="path", as_kwargs=True)
@api.arguments(FormatQuery, location="query", as_kwargs=True)
@api.arguments(TaskUpdateSchema, location="json", example=request_example("updateTask"))
@api.response(200, TaskSchema, description="The record", example=response_example("updateTask"))
def updateTask(office: Office, body: dict[str, Any], TaskNum: int, **query: Any) -> Any:
    """Update the fields given of a task."""
    answer_as_api(query, office.utc_offset)
    return office.update_task(TaskNum, body)


def list_operation(name: str, path: str, since: str, title: str, query: type[Schema],
                   record: type[Schema], lister: Callable[..., list[Any]], doc: str,
                   not_found: tuple[str, ...] = ()) -> None:
    """Declare ``GET path``, a list operation named *name*: its query loaded with *query*,
    answered with ``lister(office, **query)`` as a list of *record*."""
    def view(office: Office, **params: Any) -> Any:
        return lister(office, **answer_as_api(params, office.utc_offset))
    view.__name__, view.__qualname__, view.__doc__ = name, name, doc
    answer = api.response(200, record(many=True), description="The list",
                          example=response_example(name))(view)
    loaded = api.arguments(query, location="query", as_kwargs=True)(answer)
    api.route(path, methods=["GET"])(operation(READ_ALL, since, title, not_found=not_found)(loaded))


list_operation("listTasks", "/tasks", "22.3.16", "Tasks GET (multiple)", TaskQuery, TaskSchema,
               Office.list_tasks, "Get the tasks that match every given filter, by TaskNum.",
               not_found=("Patient not found.", "Appointment not found."))
list_operation("listTaskLists", "/tasklists", "22.3.15", "TaskLists GET", TaskListQuery,
               TaskListSchema, Office.list_tasklists, "Get the task lists with a TaskListStatus.")
list_operation("listDefinitions", "/definitions", "21.1", "Definitions GET", DefinitionQuery,
               DefinitionSchema, Office.list_definitions,
               "Get definitions, optionally of one Category.")
list_operation("listUserods", "/userods", "21.3", "Userods GET", UserodQuery, UserodSchema,
               Office.list_userods, "Get the users.")
list_operation("listTaskNotes", "/tasknotes", "24.4.22", "TaskNotes GET (multiple)",
               TaskNoteQuery, TaskNoteSchema, Office.list_notes,
               "Get the notes of a task and/or by a user, by TaskNoteNum.",
               not_found=("Task not found.", "User not found."))


@api.route("/tasknotes", methods=["POST"])
@operation(ALL_OTHERS, "24.4.22", "TaskNotes POST",
           not_found=("Task not found.", "User not found."),
           links={"getTaskNote": {"TaskNoteNum": TASK_NOTE_NUM},
                  "updateTaskNote": {"TaskNoteNum": TASK_NOTE_NUM}})
@api.arguments(FormatQuery, location="query", as_kwargs=True)
@api.arguments(TaskNoteCreateSchema, location="json", example=request_example("createTaskNote"))
@api.response(201, TaskNoteSchema, description="Created: the new record",
              headers=location("/tasknotes/{TaskNoteNum}"),
              example=response_example("createTaskNote"))
def createTaskNote(office: Office, body: dict[str, Any], **query: Any) -> Any:
    """Add a note to a task."""
    answer_as_api(query, office.utc_offset)
    note = office.create_note(body)
    url = url_for("api.getTaskNote", TaskNoteNum=note.TaskNoteNum, _external=True)
    return note, {"Location": url}


@api.route("/tasknotes/<TaskNoteNum>", methods=["PUT"])
@operation(ALL_OTHERS, "24.4.22", "TaskNotes PUT", not_found=("TaskNote not found.",),
           links={"getTaskNote": {"TaskNoteNum": "$request.path.TaskNoteNum"}})
@api.arguments(TaskNoteNumPath, location="path", as_kwargs=True)
@api.arguments(FormatQuery, location="query", as_kwargs=True)
@api.arguments(TaskNoteUpdateSchema, location="json", example=request_example("updateTaskNote"))
@api.response(200, TaskNoteSchema, description="The record",
              example=response_example("updateTaskNote"))
def updateTaskNote(office: Office, body: dict[str, Any], TaskNoteNum: int, **query: Any) -> Any:
    """Change a note's text and/or time."""
    answer_as_api(query, office.utc_offset)
    return office.update_note(TaskNoteNum, body)


def get_operation(name: str, path: str, since: str, title: str, key: type[Schema],
                  record: type[Schema], getter: Callable[[Office, int], Any], doc: str,
                  missing: str) -> None:
    """Declare ``GET path``, one record named *name*: its key loaded with *key*, answered
    with ``getter(office, key)`` as a *record*."""
    [field] = key().fields  # the path's one parameter

    def view(office: Office, **params: Any) -> Any:
        num = params.pop(field)
        answer_as_api(params, office.utc_offset)
        return getter(office, num)
    view.__name__, view.__qualname__, view.__doc__ = name, name, doc
    answer = api.response(200, record, description="The record",
                          example=response_example(name))(view)
    loaded = api.arguments(key, location="path", as_kwargs=True)(
        api.arguments(FormatQuery, location="query", as_kwargs=True)(answer))
    api.route(path, methods=["GET"])(operation(READ_ALL, since, title, not_found=(missing,))(loaded))


get_operation("getTask", "/tasks/<TaskNum>", "24.4.13", "Tasks GET (single)", TaskNumPath,
              TaskSchema, Office.get_task, "Get a single task.", "Task not found.")
get_operation("getTaskNote", "/tasknotes/<TaskNoteNum>", "24.4.22", "TaskNotes GET (single)",
              TaskNoteNumPath, TaskNoteSchema, Office.get_note, "Get a single task note.",
              "TaskNote not found.")
