"""Malformed requests: each gets its exact 4xx and JSON-string message and changes nothing."""
import json
import logging

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from mockserver.pytest_plugin import MockOffice, flask_transport

from conftest import HEADERS, Api, make_app, snapshot

OK = {"TaskListNum": 14, "Descript": "Call the lab.", "UserNum": 1}
DT = "format must be yyyy-MM-dd HH:mm:ss"
AUTH_FORMAT = "ODFHIR {DeveloperKey}/{CustomerKey}"
OBJECT_TYPES = "ObjectType must be one of: None, Patient, Appointment."
NOT_JSON = "Request body is not valid JSON."
NOT_OBJECT = "Request body must be a JSON object."
CONTENT_TYPE = "Content-Type must be application/json."
LIMIT = "Limit must be an integer of at least 1."


def post(body=None, **kw):
    return ("POST", "/tasks", {"json": body, **kw} if body is not None else kw)


def put(body=None, num=1408, **kw):
    return ("PUT", f"/tasks/{num}", {"json": body, **kw} if body is not None else kw)


def get(path="/tasks", **query):
    return ("GET", path, {"query": query})


def raw(method, path, data, **headers):
    return (method, path, {"data": data, "headers": headers})


CASES = [
    # --- wrong JSON types ---
    ("int as string", post({**OK, "TaskListNum": "14"}), 400, "TaskListNum is invalid."),
    ("int as float", post({**OK, "UserNum": 1.0}), 400, "UserNum is invalid."),
    ("int as bool", post({**OK, "UserNum": True}), 400, "UserNum is invalid."),
    ("int as null", post({**OK, "TaskListNum": None}), 400, "TaskListNum is invalid."),
    ("int as list", post({**OK, "TaskListNum": [14]}), 400, "TaskListNum is invalid."),
    ("int negative", post({**OK, "TaskListNum": -14}), 400, "TaskListNum is invalid."),
    ("int above bigint", post({**OK, "ObjectType": "Patient", "KeyNum": 2**63}), 400, "KeyNum is invalid."),
    ("string as int", post({**OK, "Descript": 42}), 400, "Descript must be a string."),
    ("string as object", post({**OK, "DescriptOverride": {"a": 1}}), 400, "DescriptOverride must be a string."),
    ("PUT int as string", put({"PriorityDefNum": "90"}), 400, "PriorityDefNum is invalid."),
    ("PUT string as bool", put({"Descript": False}), 400, "Descript must be a string."),
    # --- bad enums ---
    ("enum lower case", post({**OK, "ObjectType": "patient"}), 400, OBJECT_TYPES),
    ("enum as number", post({**OK, "ObjectType": 1}), 400, OBJECT_TYPES),
    ("enum with spaces", post({**OK, "ObjectType": " Patient"}), 400, OBJECT_TYPES),
    ("PUT TaskStatus unknown", put({"TaskStatus": "Closed"}), 400, "TaskStatus must be one of: New, Viewed, Done."),
    ("query TaskStatus case", get(TaskStatus="NEW"), 400, "TaskStatus must be one of: New, Viewed, Done."),
    ("query ObjectType empty", get(ObjectType=""), 400, OBJECT_TYPES),
    # --- bad dates ---
    ("datetime ISO T", post({**OK, "DateTimeEntry": "2022-10-12T08:00:00"}), 400, f"DateTimeEntry {DT}"),
    ("datetime with zone", post({**OK, "DateTimeEntry": "2022-10-12 08:00:00Z"}), 400, f"DateTimeEntry {DT}"),
    ("datetime date only", put({"DateTimeEntry": "2022-10-12"}), 400, f"DateTimeEntry {DT}"),
    ("datetime impossible", put({"DateTimeEntry": "2023-02-29 08:00:00"}), 400, f"DateTimeEntry {DT}"),
    ("datetime as number", post({**OK, "DateTimeEntry": 1665561600}), 400, f"DateTimeEntry {DT}"),
    ("datetime relative", post({**OK, "DateTimeEntry": "now-3d"}), 400, f"DateTimeEntry {DT}"),
    ("query datetime US", get(DateTimeOriginal="07/01/2022 05:30:00"), 400, f"DateTimeOriginal {DT}"),
    # --- missing and empty fields ---
    ("missing TaskListNum", post({"Descript": "x", "UserNum": 1}), 400, "TaskListNum is required."),
    ("missing Descript", post({"TaskListNum": 14, "UserNum": 1}), 400, "Descript is required."),
    ("missing UserNum", post({"TaskListNum": 14, "Descript": "x"}), 400, "UserNum is required."),
    ("empty object", post({}), 400, "TaskListNum is required."),
    ("empty Descript", post({**OK, "Descript": ""}), 400, "Descript is required."),
    ("PUT empty Descript", put({"Descript": ""}), 400, "Descript must not be empty."),
    ("oversize DescriptOverride", post({**OK, "DescriptOverride": "x" * 257}), 400,
     "DescriptOverride must be at most 256 characters."),
    ("PUT oversize DescriptOverride", put({"DescriptOverride": "é" * 257}), 400,
     "DescriptOverride must be at most 256 characters."),
    ("KeyNum without ObjectType", post({**OK, "KeyNum": 73}), 400, "ObjectType is required when KeyNum is specified."),
    ("PUT KeyNum without ObjectType", put({"KeyNum": 73}), 400, "ObjectType is required when KeyNum is specified."),
    # --- body shape ---
    ("body is a list", post([OK]), 400, NOT_OBJECT),
    ("body is a string", raw("POST", "/tasks", '"task"'), 400, NOT_OBJECT),
    ("body is a number", raw("PUT", "/tasks/1408", "1408"), 400, NOT_OBJECT),
    ("body is null", raw("POST", "/tasks", "null"), 400, NOT_OBJECT),
    ("body is true", raw("PUT", "/tasks/1408", "true"), 400, NOT_OBJECT),
    ("invalid JSON", raw("POST", "/tasks", '{"TaskListNum": 14,'), 400, NOT_JSON),
    ("single quotes", raw("POST", "/tasks", "{'TaskListNum': 14}"), 400, NOT_JSON),
    ("trailing comma", raw("PUT", "/tasks/1408", '{"Descript": "x",}'), 400, NOT_JSON),
    ("two documents", raw("PUT", "/tasks/1408", '{"Descript": "x"} {}'), 400, NOT_JSON),
    ("byte order mark", raw("PUT", "/tasks/1408", "\ufeff{\"Descript\": \"x\"}"), 400, NOT_JSON),
    ("NaN", raw("POST", "/tasks", '{"TaskListNum": NaN, "Descript": "x", "UserNum": 1}'), 400, NOT_JSON),
    ("Infinity", raw("PUT", "/tasks/1408", '{"PriorityDefNum": Infinity}'), 400, NOT_JSON),
    ("-Infinity", raw("PUT", "/tasks/1408", '{"PriorityDefNum": -Infinity}'), 400, NOT_JSON),
    ("deeply nested", raw("POST", "/tasks", '{"a": ' + "[" * 100000 + "]" * 100000 + "}"), 400, NOT_JSON),
    ("not UTF-8", raw("POST", "/tasks", b'{"Descript": "\xff"}'), 400, "Request body is not valid UTF-8."),
    ("empty body POST", raw("POST", "/tasks", ""), 400, "Request body is required: a JSON object."),
    ("empty body PUT", raw("PUT", "/tasks/1408", ""), 400, "Request body is required: a JSON object."),
    ("whitespace body", raw("POST", "/tasks", " \n\t"), 400, "Request body is required: a JSON object."),
    ("duplicate JSON keys", raw("POST", "/tasks", '{"TaskListNum": 14, "Descript": "a", "Descript": "b", "UserNum": 1}'),
     400, "Request body has the key Descript more than once."),
    ("duplicate nested keys", raw("PUT", "/tasks/1408", '{"x": {"a": 1, "a": 2}}'), 400,
     "Request body has the key a more than once."),
    # --- Content-Type ---
    ("no Content-Type POST", raw("POST", "/tasks", '{}', **{"Content-Type": None}), 400, CONTENT_TYPE),
    ("text/plain PUT", raw("PUT", "/tasks/1408", '{"Descript": "x"}', **{"Content-Type": "text/plain"}), 400, CONTENT_TYPE),
    ("form POST", raw("POST", "/tasks", "TaskListNum=14", **{"Content-Type": "application/x-www-form-urlencoded"}),
     400, CONTENT_TYPE),
    ("no Content-Type GET", raw("GET", "/tasks/1408", None, **{"Content-Type": None}), 400, CONTENT_TYPE),
    # --- auth ---
    ("no auth", raw("POST", "/tasks", '{}', Authorization=None), 401, f"Authorization header is required: {AUTH_FORMAT}."),
    ("Bearer auth", raw("PUT", "/tasks/1408", '{"Descript": "x"}', Authorization="Bearer abc"), 401,
     f"Authorization header must be {AUTH_FORMAT}."),
    ("auth without customer", raw("GET", "/tasks", None, Authorization="ODFHIR devkey"), 401,
     f"Authorization header must be {AUTH_FORMAT}."),
    ("auth three parts", raw("GET", "/tasks/1408", None, Authorization="ODFHIR a/b/c"), 401,
     f"Authorization header must be {AUTH_FORMAT}."),
    ("auth lower-case scheme", raw("GET", "/userods", None, Authorization="odfhir a/b"), 401,
     f"Authorization header must be {AUTH_FORMAT}."),
    # --- paging and formats ---
    ("Limit zero", get(Limit=0), 400, LIMIT),
    ("Limit negative", get("/tasklists", Limit=-1), 400, LIMIT),
    ("Limit not integer", get("/definitions", Limit="all"), 400, LIMIT),
    ("Offset negative", get(Offset=-100), 400, "Offset is invalid."),
    ("Offset float", get("/userods", Offset="1.0"), 400, "Offset is invalid."),
    ("unsupported date token", get(DateFormatString="FFF, MMMM d"), 400,
     "DateFormatString has the unsupported token 'FFF'."),
    ("unsupported datetime token", get("/tasks/1408", DateTimeFormatString="yyyy-MM-ddTHH:mm:ssK"), 400,
     "DateTimeFormatString has the unsupported token 'K'."),
    ("format on POST", ("POST", "/tasks", {"json": OK, "query": {"DateTimeFormatString": "K"}}), 400,
     "DateTimeFormatString has the unsupported token 'K'."),
    ("bad TaskListNum query", get(TaskListNum="main"), 400, "TaskListNum is invalid."),
    ("KeyNum without ObjectType query", get(KeyNum=33), 400, "ObjectType is required when KeyNum is specified."),
    ("bad includeHidden", get("/userods", includeHidden="1"), 400, 'includeHidden must be "true" or "false".'),
    # --- paths and methods ---
    ("TaskNum not integer GET", get("/tasks/abc"), 400, "TaskNum is invalid."),
    ("TaskNum not integer PUT", put({"Descript": "x"}, num="1408.0"), 400, "TaskNum is invalid."),
    ("TaskNum too big", get("/tasks/9223372036854775808"), 400, "TaskNum is invalid."),
    ("unknown task GET", get("/tasks/0"), 404, "Task not found."),
    ("unknown task PUT", put({"Descript": "x"}, num=5), 404, "Task not found."),
    ("unknown path", get("/taskz"), 404, "The resource /api/v1/taskz does not exist."),
    ("unknown nested path", get("/tasks/1408/notes"), 404, "The resource /api/v1/tasks/1408/notes does not exist."),
    ("trailing slash", get("/tasks/"), 404, "The resource /api/v1/tasks/ does not exist."),
    ("DELETE task", ("DELETE", "/tasks/1408", {}), 405, "Method DELETE is not allowed here. Allowed: GET, HEAD, PUT."),
    ("PATCH task", ("PATCH", "/tasks/1408", {"json": {"Descript": "x"}}), 405,
     "Method PATCH is not allowed here. Allowed: GET, HEAD, PUT."),
    ("PUT collection", ("PUT", "/tasks", {"json": OK}), 405, "Method PUT is not allowed here. Allowed: GET, HEAD, POST."),
    ("POST one task", ("POST", "/tasks/1408", {"json": OK}), 405, "Method POST is not allowed here. Allowed: GET, HEAD, PUT."),
    ("OPTIONS task", ("OPTIONS", "/tasks/1408", {}), 405, "Method OPTIONS is not allowed here. Allowed: GET, HEAD, PUT."),
    # --- references ---
    ("unknown TaskList", post({**OK, "TaskListNum": 4}), 404, "TaskList not found."),
    ("unknown User", post({**OK, "UserNum": 4242}), 404, "User not found."),
    ("unknown Patient", put({"ObjectType": "Patient", "KeyNum": 1}), 404, "Patient not found."),
    ("unknown Appointment query", get(ObjectType="Appointment", KeyNum=1), 404, "Appointment not found."),
    ("priority of another category", put({"PriorityDefNum": 19}), 404, "Definition not found."),
]


def test_bad_input_has_at_least_50_distinct_cases():
    assert len({name for name, *_ in CASES}) == len(CASES) >= 50
    assert len({repr(request) for _, request, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("request_,status,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(api, app, request_, status, message):
    method, path, kwargs = request_
    before = snapshot(app)
    r = api(method, path, **kwargs)
    assert (r.status_code, r.get_json()) == (status, message)
    if status == 405:
        assert r.headers["Allow"] == message.split("Allowed: ")[1].rstrip(".")
    assert snapshot(app) == before


def test_bad_input_body_over_the_limit_is_400():
    app = make_app({"MAX_CONTENT_LENGTH": 1000})
    api = Api(app.test_client())
    before = snapshot(app)
    r = api.post("/tasks", json={**OK, "Descript": "x" * 2000})
    assert (r.status_code, r.get_json()) == (400, "Request body exceeds the 16.8M character limit.")
    assert snapshot(app) == before


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/tasks/1408"), ("GET", "/api/v1/tasks"), ("PUT", "/api/v1/tasks/1408"),
    ("POST", "/api/v1/tasks"), ("GET", "/api/v1/userods"), ("GET", "/__admin/requests"),
    ("POST", "/__admin/reset"),
])
def test_bad_input_query_string_not_utf8_is_400(method, path, caplog):
    # a client can put raw bytes in the request line; werkzeug refuses to decode them
    app = make_app()
    before = snapshot(app)
    environ = EnvironBuilder(path, method=method, headers=HEADERS, json=OK).get_environ()
    environ["QUERY_STRING"] = "Offset=\xff&x=\x80"  # WSGI: the raw bytes as latin-1 text
    with caplog.at_level(logging.INFO, logger="mockserver.access"):
        body, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert (status, json.loads(b"".join(body))) == ("400 BAD REQUEST", "Query string is not valid UTF-8.")
    assert snapshot(app) == before
    assert f"\"{method} {path}?Offset=\\xff&x=\\x80\" 400 " in caplog.messages[-1]
    if path.startswith("/api"):  # the journal shows it with U+FFFD
        entry = MockOffice(flask_transport(app.test_client()), "", "custkey").requests()[0]
        assert (entry["query"], entry["status"]) == ({"Offset": "\ufffd", "x": "\ufffd"}, 400)
