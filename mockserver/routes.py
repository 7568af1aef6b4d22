"""The Open Dental API under /api/v1: thin views that parse, ask the office, dump.

Every view is wrapped by ``operation``, which authenticates the key pair (401), checks
the Content-Type (400) and the office's version (400), and passes the office in.
View names are the OpenAPI operationIds.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header

from .schemas import (DefinitionQuery, DefinitionSchema, FormatQuery, TaskCreateSchema,
                      TaskListQuery, TaskListSchema, TaskNumPath, TaskQuery, TaskSchema,
                      TaskUpdateSchema, UserodQuery, UserodSchema, dump_json, load, load_path,
                      load_query, parse_json_object, split_formats)
from .store import ALL_OTHERS, READ_ALL, BadRequest, Office, Registry, Unauthorized

api = Blueprint("api", __name__, url_prefix="/api/v1")

_AUTHORIZATION = re.compile(r"ODFHIR ([^\s/]+)/([^\s/]+)")
AUTH_FORMAT = "ODFHIR {DeveloperKey}/{CustomerKey}"


def registry() -> Registry:
    """The app's offices."""
    return current_app.extensions["mockserver"]


def key_pair() -> tuple[str, str]:
    """(developer key, customer key) from the Authorization header; 401 if malformed."""
    header = request.environ.get("HTTP_AUTHORIZATION")  # request.headers, without building it
    if header is None:
        raise Unauthorized(f"Authorization header is required: {AUTH_FORMAT}.")
    return _parse_authorization(header)


@functools.lru_cache(maxsize=1024)  # a client sends the same header on every request
def _parse_authorization(header: str) -> tuple[str, str]:
    match = _AUTHORIZATION.fullmatch(header.strip())
    if match is None:  # raised, so never cached
        raise Unauthorized(f"Authorization header must be {AUTH_FORMAT}.")
    return match[1], match[2]


@functools.lru_cache(maxsize=256)  # a client sends the same Content-Type on every request
def _mimetype(content_type: str) -> str:
    return parse_options_header(content_type)[0].lower()  # as request.mimetype


def authorize(permission: str, since: str, title: str) -> Office:
    """The office for this request, after auth, Content-Type and version checks."""
    developer, customer = key_pair()
    office = registry().authenticate(developer, customer, permission)
    if not current_app.config["LENIENT_CONTENT_TYPE"] and \
            _mimetype(request.environ.get("CONTENT_TYPE", "")) != "application/json":
        raise BadRequest("Content-Type must be application/json.")
    office.require_version(since, title)
    return office


def operation(permission: str, since: str, title: str) -> Callable:
    """Declare a view as an API method: who may call it and since which version."""
    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Response:
            return view(authorize(permission, since, title), **kwargs)
        wrapper.od_operation = {"permission": permission, "since": since, "title": title}
        return wrapper
    return decorate


class ApiResponse(Response):
    """Flask's response, plus ``uri_location``: a Location header that is a URI already
    (``MockServer.external_url``'s), sent as it is.

    werkzeug converts a Location header from an IRI to a URI as the response goes out,
    every time (``iri_to_uri`` was a tenth of a POST); this one is added after that, so
    it is in the headers the server sends, not in ``headers``.
    """

    uri_location: str | None = None

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        """werkzeug's headers for the WSGI server, with ``uri_location`` as Location."""
        headers = super().get_wsgi_headers(environ)
        if self.uri_location is not None:
            headers["Location"] = self.uri_location
        return headers


def respond(schema: type, obj: Any, formats: dict, status: int = 200, many: bool = False) -> ApiResponse:
    """A JSON response of *obj* dumped with *schema*."""
    # the body is one piece of bytes once set: passed through, werkzeug hands the server
    # that list itself instead of wrapping it in an encoding, closing iterator (a
    # fifth of the response's cost; granian sends a list without iterating it)
    return ApiResponse(f"{dump_json(schema, obj, formats, many=many)}\n", status=status,
                       content_type="application/json", direct_passthrough=True)


def respond_list(query: type, schema: type, lister: Callable[..., list]) -> Response:
    """A list operation: load the query with *query*, call *lister*, dump with *schema*."""
    params = load_query(query, query_args())
    formats = split_formats(params)
    return respond(schema, lister(**params), formats, many=True)


def _task_num(raw: str) -> int:
    return load_path(TaskNumPath, "TaskNum", raw)


def query_args() -> dict[str, str]:
    """``request.args.to_dict()``; 400 for a query string that is not UTF-8."""
    if not request.environ.get("QUERY_STRING"):
        return {}  # most requests: no need to build request.args
    try:
        return request.args.to_dict()
    except UnicodeDecodeError:  # werkzeug decodes strictly: raw bytes from the request line
        raise BadRequest("Query string is not valid UTF-8.") from None


def _formats() -> dict:
    args = query_args()
    # most calls have no query: no formats, without loading an empty one (1% of a GET)
    return split_formats(load_query(FormatQuery, args)) if args else {}


@api.get("/tasks/<TaskNum>")
@operation(READ_ALL, "24.4.13", "Tasks GET (single)")
def getTask(office: Office, TaskNum: str) -> Response:
    """Get a single task."""
    num, formats = _task_num(TaskNum), _formats()  # every 400 before the 404
    return respond(TaskSchema, office.get_task(num), formats)


@api.get("/tasks")
@operation(READ_ALL, "22.3.16", "Tasks GET (multiple)")
def listTasks(office: Office) -> Response:
    """Get the tasks that match every given filter, by TaskNum."""
    return respond_list(TaskQuery, TaskSchema, office.list_tasks)


@api.post("/tasks")
@operation(ALL_OTHERS, "22.3.17", "Tasks POST")
def createTask(office: Office) -> Response:
    """Create a task."""
    formats = _formats()
    task = office.create_task(load(TaskCreateSchema, parse_json_object(request.get_data())))
    response = respond(TaskSchema, task, formats, status=201)
    response.uri_location = current_app.external_url("api.getTask", "TaskNum", task.TaskNum)
    return response


@api.put("/tasks/<TaskNum>")
@operation(ALL_OTHERS, "22.4.15", "Tasks PUT")
def updateTask(office: Office, TaskNum: str) -> Response:
    """Update the fields given of a task."""
    num = _task_num(TaskNum)
    formats = _formats()
    changes = load(TaskUpdateSchema, parse_json_object(request.get_data()))
    return respond(TaskSchema, office.update_task(num, changes), formats)


@api.get("/tasklists")
@operation(READ_ALL, "22.3.15", "TaskLists GET")
def listTaskLists(office: Office) -> Response:
    """Get the task lists with a TaskListStatus."""
    return respond_list(TaskListQuery, TaskListSchema, office.list_tasklists)


@api.get("/definitions")
@operation(READ_ALL, "21.1", "Definitions GET")
def listDefinitions(office: Office) -> Response:
    """Get definitions, optionally of one Category."""
    return respond_list(DefinitionQuery, DefinitionSchema, office.list_definitions)


@api.get("/userods")
@operation(READ_ALL, "21.3", "Userods GET")
def listUserods(office: Office) -> Response:
    """Get the users."""
    return respond_list(UserodQuery, UserodSchema, office.list_userods)
