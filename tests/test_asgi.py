"""The ASGI application granian serves (mockserver/asgi.py), driven in process: the
environ it builds, the body it reads first, and its answers when a body is late, broken
or over the limit. tests/test_connections.py drives it through granian on a socket."""
from __future__ import annotations

import asyncio
import json

import pytest

from conftest import HEADERS
from mockserver import create_app
from mockserver.asgi import BODY_BROKEN, BodyFirst, wsgi_environ

LIMIT = 1000  # a small body limit, so that "over the limit" stays small
NEW_TASK = {"TaskListNum": 105, "Descript": "ASGI", "UserNum": 1}


def scope(method: str, path: bytes, query: bytes = b"", headers: dict[str, str] | None = None) -> dict:
    pairs = [(k.lower().encode(), v.encode()) for k, v in {**HEADERS, **(headers or {})}.items()]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path.decode("latin-1"), "raw_path": path, "query_string": query,
            "root_path": "", "headers": pairs, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000)}


def call(app: BodyFirst, request: dict, messages: list[dict]) -> list[dict]:
    """What *app* sends for *request* whose body arrives as *messages* (then nothing)."""
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that stopped sending
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(request, receive, send))
    return sent


def body(data: bytes, more: bool = False) -> dict:
    return {"type": "http.request", "body": data, "more_body": more}


def answer(sent: list[dict]) -> tuple[int, dict[str, str], object]:
    start, *bodies = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(b"".join(m["body"] for m in bodies))


@pytest.fixture()
def asgi():
    flask_app = create_app({"MAX_CONTENT_LENGTH": LIMIT})
    app = BodyFirst(flask_app, threads=2, timeout=0.2, limit=LIMIT, bound=2 * LIMIT)
    yield app
    app.threads.shutdown()


def test_a_get_reaches_the_app_with_its_path_query_and_headers(asgi):
    status, headers, task = answer(call(asgi, scope("GET", b"/api/v1/tasks/1408"), [body(b"")]))
    assert (status, headers["content-type"], task["TaskNum"]) == (200, "application/json", 1408)
    status, _, tasks = answer(call(asgi, scope("GET", b"/api/v1/tasks", b"TaskNum=1408"), [body(b"")]))
    assert status == 200 and all(task["TaskNum"] for task in tasks)


def test_a_percent_encoded_path_is_decoded_as_utf8(asgi):
    status, _, message = answer(call(asgi, scope("GET", b"/api/v1/t%C3%A9sks"), [body(b"")]))
    assert (status, message) == (404, "The resource /api/v1/t\u00e9sks does not exist.")


def test_a_body_in_chunks_is_read_whole_before_the_app_runs(asgi):
    data = json.dumps(NEW_TASK).encode()
    sent = call(asgi, scope("POST", b"/api/v1/tasks", headers={"Transfer-Encoding": "chunked"}),
                [body(data[:5], more=True), body(data[5:], more=True), body(b"")])
    status, headers, task = answer(sent)
    assert (status, task["Descript"]) == (201, "ASGI")
    assert headers["location"].endswith(f"/api/v1/tasks/{task['TaskNum']}")


def test_repeated_headers_are_joined_as_wsgi_does(asgi):
    request = scope("GET", b"/api/v1/tasks/1408")
    request["headers"].append((b"x-mock-client", b"two"))
    request["headers"].insert(0, (b"x-mock-client", b"one"))
    assert answer(call(asgi, request, [body(b"")]))[0] == 200
    environ = wsgi_environ(request, b"", 0)
    assert environ["HTTP_X_MOCK_CLIENT"] == "one,two"
    assert environ["CONTENT_TYPE"] == "application/json" and "HTTP_CONTENT_TYPE" not in environ


def test_a_body_that_stops_coming_gets_a_json_408(asgi):
    sent = call(asgi, scope("POST", b"/api/v1/tasks", headers={"Content-Length": "100"}),
                [body(b"{", more=True)])
    status, headers, message = answer(sent)
    assert (status, headers["connection"], message) == (408, "close", "Request body not received within 0.2 s.")


def test_a_broken_body_gets_a_json_400(asgi):
    sent = call(asgi, scope("POST", b"/api/v1/tasks", headers={"Transfer-Encoding": "chunked"}),
                [body(b"{", more=True), {"type": "http.disconnect"}])
    assert answer(sent)[::2] == (400, BODY_BROKEN)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_read_through_and_refused(asgi, chunked):
    size = LIMIT + LIMIT // 2
    headers = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}
    messages = [body(b" " * 100, more=True) for _ in range(size // 100)] + [body(b"")]
    sent = call(asgi, scope("POST", b"/api/v1/tasks", headers=headers), messages)
    assert answer(sent)[::2] == (400, "Request body exceeds the 16.8M character limit.")
    assert messages == []  # every chunk was read


def test_a_body_declared_over_the_bound_is_not_read(asgi):
    messages = [body(b" " * 100, more=True)]
    sent = call(asgi, scope("POST", b"/api/v1/tasks", headers={"Content-Length": str(3 * LIMIT)}), messages)
    assert answer(sent)[::2] == (400, "Request body exceeds the 16.8M character limit.")
    assert len(messages) == 1  # left unread


def test_a_drop_fault_sends_a_body_cut_short(asgi):
    fault = json.dumps({"drop": True, "path": "/tasks/1408"}).encode()
    request = scope("POST", b"/__admin/faults", headers={"Content-Length": str(len(fault))})
    assert answer(call(asgi, request, [body(fault)]))[0] == 201
    start, cut = call(asgi, scope("GET", b"/api/v1/tasks/1408"), [body(b"")])
    assert dict(start["headers"])[b"content-length"] == b"1"
    assert (cut["body"], cut["more_body"]) == (b"", True)  # and nothing after it


def test_lifespan_starts_and_stops_the_threads(asgi):
    sent = call(asgi, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    with pytest.raises(RuntimeError):
        asgi.threads.submit(print)
