"""Hostile input: every case gets its exact JSON-string 4xx and leaves the office unchanged.

Most cases go through the Flask test client; those that the HTTP server sees first (sizes,
header syntax) also go over a real loopback socket, on each server. granian (the default) answers
malformed HTTP itself, without JSON: the tests pin what it does instead.
"""
from __future__ import annotations

import json

import pytest

from conftest import BASE, HEADERS, office
from liveserver import SERVERS, LiveServer, all_tasks, raw_exchange
from mockserver import create_app
from mockserver.asgi import BODY_BROKEN
from mockserver.fixtures import FixtureError

LIMIT = 16_800_000  # apiimplementation: 16.8M characters
TOO_LARGE = "Request body exceeds the 16.8M character limit."
NEW_TASK = {"TaskListNum": 3842, "Descript": "Call the lab.", "UserNum": 12}
NOT_JSON = "Request body is not valid JSON."


def _tasks(app) -> dict:
    return {t.TaskNum: t for t in office(app).tasks}


def _post_raw(client, body: bytes, path: str = "/tasks"):
    return client.post(BASE + path, data=body, headers=HEADERS)


@pytest.fixture
def unchanged(app):
    """Asserts after the test that the office's tasks are exactly as before."""
    before = _tasks(app)
    yield
    assert _tasks(app) == before


# NaN, Infinity, invalid UTF-8, duplicate keys, nested arrays and 2**63 are cases of
# tests/test_bad_input.py; these are the ones it does not have
@pytest.mark.parametrize("body, status, message", [
    (b" " * (LIMIT + 1), 400, TOO_LARGE),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, NOT_JSON),
    (b"[" * 100_000 + b"]" * 100_000, 400, NOT_JSON),
    (b'{"TaskListNum": 18446744073709551616, "Descript": "x", "UserNum": 12}', 400,
     "TaskListNum is invalid."),
    (b'{"TaskListNum": ' + b"9" * 100_000 + b', "Descript": "x", "UserNum": 12}', 400,
     "TaskListNum is invalid."),
    (b'{"TaskListNum": 1e400, "Descript": "x", "UserNum": 12}', 400, "TaskListNum is invalid."),
    (b'{"TaskListNum": 3842, "Descript": "a\x01b", "UserNum": 12}', 400, NOT_JSON),
], ids=["over-limit", "nested-objects", "top-level-nested-arrays", "2**64", "100k-digits",
        "1e400", "raw-control-char"])
def test_createTask_hostile_body(client, unchanged, body, status, message):
    r = _post_raw(client, body)
    assert (r.status_code, r.mimetype, r.get_json()) == (status, "application/json", message)


def test_createTask_body_of_exactly_the_limit_is_accepted(client):
    body = json.dumps(NEW_TASK).encode()
    r = _post_raw(client, body + b" " * (LIMIT - len(body)))
    assert r.status_code == 201


@pytest.mark.parametrize("path, message", [
    ("/tasks/" + "9" * 100_000, "TaskNum is invalid."),
    ("/tasks/1%0d%0aSet-Cookie:%20x=1", "TaskNum is invalid."),
    ("/tasks?Offset=" + "9" * 100_000, "Offset is invalid."),
    ("/tasks?Limit=99999999999999999999999999", "Limit must be an integer of at least 1."),
])
def test_getTask_listTasks_hostile_path_and_query(client, path, message):
    r = client.get(BASE + path, headers=HEADERS)
    assert (r.status_code, r.get_json()) == (400, message)
    assert "Set-Cookie" not in r.headers


def test_updateTask_crlf_in_TaskNum_injects_no_header(client, unchanged):
    r = client.put(BASE + "/tasks/1408%0d%0aLocation:%20evil.example", json={"Descript": "x"},
                   headers=HEADERS)
    assert (r.status_code, r.get_json()) == (400, "TaskNum is invalid.")
    assert "Location" not in r.headers


UPGRADE = {"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_websocket_upgrade_is_answered_as_plain_http(client, scheme):
    # werkzeug would match such a request against WebSocket rules only: a 405 on every route
    base = f"{scheme}://localhost"
    plain = client.get(BASE + "/tasks/1408", headers=HEADERS, base_url=base)
    r = client.get(BASE + "/tasks/1408", headers={**HEADERS, **UPGRADE}, base_url=base)
    assert (r.status_code, r.get_json()) == (200, plain.get_json())
    r = client.post(BASE + "/tasks", json=NEW_TASK, headers={**HEADERS, **UPGRADE}, base_url=base)
    assert r.status_code == 201
    assert r.headers["Location"] == f"{base}/api/v1/tasks/{r.get_json()['TaskNum']}"
    r = client.delete(BASE + "/tasks/1408", headers={**HEADERS, **UPGRADE}, base_url=base)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET, HEAD, PUT")
    assert client.get("/__admin/clock", headers={**HEADERS, **UPGRADE}, base_url=base).status_code == 200


def test_createTask_control_characters_are_stored_and_returned_escaped(api):
    descript = "a\x00b\x07c\x1f\x7f\u2028\u2029\ud800 \r\n\"\\</script>"
    r = api.post("/tasks", json={**NEW_TASK, "Descript": descript})
    assert r.status_code == 201
    raw = api.get(f"/tasks/{r.get_json()['TaskNum']}").get_data()
    assert all(byte >= 0x20 for byte in raw.rstrip(b"\n"))  # escaped, one clean line of JSON
    # answered as Open Dental does (each \r\n a space), stored as sent
    assert json.loads(raw)["Descript"] == descript.replace("\r\n", " ")
    state = api.client.get("/__admin/state", headers=api.headers).get_json()
    assert next(t for t in state["tasks"] if t["TaskNum"] == r.get_json()["TaskNum"])["Descript"] == descript
    assert "\r" not in r.headers["Location"] and "\n" not in r.headers["Location"]


# --- over a real socket ----------------------------------------------------------------

@pytest.fixture(scope="module")
def servers():
    """One live server of each kind, by name."""
    with LiveServer("--server", "waitress") as waitress, LiveServer("--server", "granian") as granian:
        yield {"waitress": waitress, "granian": granian}


@pytest.fixture(params=SERVERS)
def live(servers, request):
    return servers[request.param]


@pytest.fixture
def waitress(servers):
    return servers["waitress"]


def _exchange(server: LiveServer, request: bytes) -> tuple[int, dict, bytes]:
    """Send raw bytes; (status, headers, body) of the answer, read until the server closes."""
    head, _, body = raw_exchange(server.url, request).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def _request(method: str, target: str, extra: str = "", body: bytes = b"") -> bytes:
    head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {HEADERS['Authorization']}\r\nContent-Type: application/json\r\n"
            f"{extra}Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


def _assert_json_400(answer: tuple[int, dict, bytes], message: str) -> None:
    status, headers, body = answer
    assert (status, headers["content-type"]) == (400, "application/json")
    assert json.loads(body) == message


# waitress: its own plain-text answers, for what it refuses before the app sees it (docs/fidelity.md);
# pinned so that an upgrade that changes them is noticed
def _assert_waitress_refused(answer: tuple[int, dict, bytes], status: int, start: str) -> None:
    got, headers, body = answer
    assert (got, headers["content-type"]) == (status, "text/plain; charset=utf-8")
    assert body.decode().startswith(start)


def test_createTask_far_over_limit_on_a_live_socket_is_refused_before_the_body(servers):
    # up to twice the limit the servers read the body before refusing it (test_connections.py)
    request = _request("POST", "/api/v1/tasks", f"Content-Length: {2 * LIMIT + 1}\r\n")
    _assert_json_400(_exchange(servers["granian"], request), TOO_LARGE)
    _assert_waitress_refused(_exchange(servers["waitress"], request), 413, "Request Entity Too Large")


def test_createTask_exactly_the_limit_on_a_live_socket_is_accepted(live):
    body = json.dumps(NEW_TASK).encode()
    with live.session() as session:
        r = session.post(f"{live.api}/tasks", data=body + b" " * (LIMIT - len(body)))
    assert r.status_code == 201


@pytest.mark.parametrize("target", [
    "/api/v1/tasks?x=" + "a" * 300_000,  # query string over waitress's 256 KiB header limit
    "/api/v1/tasks/" + "1" * 300_000,  # path over it
])
def test_listTasks_getTask_over_waitress_header_limit_is_a_431(waitress, target):
    _assert_waitress_refused(_exchange(waitress, _request("GET", target)), 431,
                             "Request Header Fields Too Large")


def test_listTasks_long_query_under_the_header_limit_is_served(waitress):
    with waitress.session() as session:
        r = session.get(f"{waitress.api}/tasks", params={"unknown": "a" * 200_000})
    assert r.status_code == 200 and isinstance(r.json(), list)


@pytest.mark.parametrize("header", ["X-Note: a\rSet-Cookie: x=1", "X-Note: a\nSet-Cookie: x=1"])
def test_getTask_bare_cr_or_lf_in_a_header_is_a_400(waitress, header):
    answer = _exchange(waitress, _request("GET", "/api/v1/tasks/1408", header + "\r\n"))
    _assert_waitress_refused(answer, 400, "Bad Request")
    assert "set-cookie" not in answer[1]


def test_createTask_bad_chunked_body_on_a_live_socket_is_a_400(waitress):
    _assert_waitress_refused(_exchange(waitress, _request(
        "POST", "/api/v1/tasks", "Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n")),
        400, "Bad Request")


# granian: hyper's own answers, with an empty body; pinned so that an upgrade that changes
# them is noticed (docs/fidelity.md)
MALFORMED_BODY = json.dumps(NEW_TASK).encode()
GRANIAN_REFUSES = {
    "garbage-start-line": (b"GARBAGE\r\n\r\n", 400),
    "bad-http-version": (b"GET /api/v1/tasks/1408 HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400),
    "cr-in-a-header": (_request("POST", "/api/v1/tasks", "X-Note: a\rSet-Cookie: x=1\r\n"
                                f"Content-Length: {len(MALFORMED_BODY)}\r\n", MALFORMED_BODY), 400),
    "nul-in-the-path": (_request("GET", "/api/v1/tasks/14\x0008"), 400),
    "query-over-64-KiB": (_request("GET", "/api/v1/tasks?x=" + "a" * 70_000), 414),
    "path-over-64-KiB": (_request("GET", "/api/v1/tasks/" + "1" * 70_000), 414),
}


@pytest.mark.parametrize("name", GRANIAN_REFUSES)
def test_granian_answers_malformed_http_itself_with_an_empty_body(servers, name):
    granian, (request, expected) = servers["granian"], GRANIAN_REFUSES[name]
    with granian.session() as session:
        before = all_tasks(session, granian.api)
        status, headers, body = _exchange(granian, request)  # returns once granian closes
        assert (status, headers["connection"], body) == (expected, "close", b"")
        assert "content-type" not in headers and "set-cookie" not in headers
        assert all_tasks(session, granian.api) == before


def test_granian_bare_lf_in_a_header_ends_the_header_line(servers):
    # hyper takes a bare LF as a line end: "Set-Cookie" becomes a request header, never
    # a response header
    status, headers, body = _exchange(servers["granian"], _request(
        "GET", "/api/v1/tasks/1408", "X-Note: a\nSet-Cookie: x=1\r\n"))
    assert (status, headers["content-type"], json.loads(body)["TaskNum"]) == (200, "application/json", 1408)
    assert "set-cookie" not in headers


def test_granian_bad_chunked_body_gets_a_json_400(servers):
    answer = _exchange(servers["granian"], _request(
        "POST", "/api/v1/tasks", "Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"))
    _assert_json_400(answer, BODY_BROKEN)


def test_getTask_crlf_in_TaskNum_on_a_live_socket_injects_no_header(live):
    answer = _exchange(live, _request("GET", "/api/v1/tasks/1%0d%0aSet-Cookie:%20x=1"))
    _assert_json_400(answer, "TaskNum is invalid.")
    assert "set-cookie" not in answer[1]


def test_createTask_crlf_in_the_path_on_a_live_socket_injects_no_header(live):
    status, headers, body = _exchange(live, _request(
        "POST", "/api/v1/tasks%0d%0aLocation:%20evil.example", body=json.dumps(NEW_TASK).encode(),
        extra=f"Content-Length: {len(json.dumps(NEW_TASK))}\r\n"))
    assert (status, headers["content-type"]) == (404, "application/json")
    assert json.loads(body) == "The resource /api/v1/tasks\r\nLocation: evil.example does not exist."
    assert "location" not in headers


def test_createTask_deep_nesting_on_a_live_socket(live):
    with live.session() as session:
        r = session.post(f"{live.api}/tasks", data=b"[" * 100_000 + b"]" * 100_000)
    assert (r.status_code, r.json()) == (400, NOT_JSON)


def test_createTask_location_never_carries_crlf(live):
    with live.session() as session:
        r = session.post(f"{live.api}/tasks", json=NEW_TASK)
    assert r.status_code == 201
    assert r.headers["Location"] == f"{live.api}/tasks/{r.json()['TaskNum']}"


# --- files named by options --------------------------------------------------------------

PAYLOAD = '!!python/object/apply:os.system ["touch {marker}"]'


def test_fixtures_yaml_object_tags_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "fixtures"
    folder.mkdir()
    (folder / "tasks.yaml").write_text(f"- TaskNum: {PAYLOAD.format(marker=marker)}\n")
    with pytest.raises(FixtureError, match=r"tasks\.yaml: not valid YAML: could not determine a constructor"):
        create_app({"FIXTURES": str(folder)})
    assert not marker.exists()


def test_keys_file_yaml_object_tags_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"developers: {PAYLOAD.format(marker=marker)}\n")
    with pytest.raises(FixtureError, match=r"keys\.yaml: not valid YAML: could not determine a constructor"):
        create_app({"KEYS": str(keys)})
    assert not marker.exists()


def test_fixtures_symlink_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("- {TaskNum: 1, Descript: stolen}\n")
    folder = tmp_path / "fixtures"
    folder.mkdir()
    (folder / "tasks.yaml").symlink_to(outside)
    with pytest.raises(FixtureError, match="resolves outside the fixtures folder"):
        create_app({"FIXTURES": str(folder)})


def test_fixtures_symlink_inside_the_folder_is_followed(tmp_path):
    folder = tmp_path / "fixtures"
    (folder / "shared").mkdir(parents=True)
    (folder / "shared" / "office.yaml").write_text('version: "23.1.5"\n')
    (folder / "office.yaml").symlink_to(folder / "shared" / "office.yaml")
    app = create_app({"FIXTURES": str(folder)})
    assert office(app).version == "23.1.5"


def test_createTask_ignored_field_names_never_break_a_header(api):
    r = api.post("/tasks", json={**NEW_TASK, "a\r\nSet-Cookie: x=1": 1, "é" * 500: 2})
    assert r.status_code == 201 and "Set-Cookie" not in r.headers
    assert r.headers.getlist("X-Mock-Warning") == [
        'ignored field "a\\r\\nSet-Cookie: x=1"', 'ignored field "' + "\\u00e9" * 100 + '"']
