"""Connections and bodies: slow, silent and oversized clients against a live
``mockserver serve`` on loopback, on granian and on waitress (docs/reliability-and-security.md,
"Connections and bodies").

Every wait is bounded by WAIT; no test measures a speed.
"""
from __future__ import annotations

import http.client
import json
import select
import socket
import time

import pytest

from liveserver import HEADERS, SERVERS, LiveServer

pytestmark = pytest.mark.slow

WAIT = 30  # seconds: upper bound of every wait, never a measurement
TIMEOUT = 2  # --request-timeout of the `strict` servers
LIMIT = 16_800_000  # the body limit: 16.8M characters
TOO_LARGE = "Request body exceeds the 16.8M character limit."
REQUEST_START = (b"POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()).encode())


@pytest.fixture(scope="module", params=SERVERS)
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def patient(kind):
    """A server with the default request timeout (30 s): what a test holds stays open."""
    with LiveServer("--server", kind) as server:
        yield server


@pytest.fixture(scope="module")
def strict(kind):
    """A server with a request timeout of TIMEOUT seconds."""
    with LiveServer("--server", kind, "--request-timeout", str(TIMEOUT)) as server:
        yield server


def address(server: LiveServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(address(server), timeout=WAIT)


def is_open(sock: socket.socket) -> bool:
    """Whether the server still holds *sock* open (it has neither closed nor answered it)."""
    if not select.select([sock], [], [], 0)[0]:
        return True  # nothing to read: neither an answer nor the end
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except ConnectionResetError:
        return False


def closed_by_server(sock: socket.socket, trickle: bytes = b"") -> bytes:
    """Wait (up to WAIT) for the server to close *sock*, sending *trickle* every 0.5 s
    meanwhile (if given); whatever the server sent before closing."""
    answer = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if select.select([sock], [], [], 0.5)[0]:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return answer
            if not chunk:
                return answer
            answer += chunk
        elif trickle:
            try:
                sock.sendall(trickle)
            except (BrokenPipeError, ConnectionResetError):
                return answer
    raise AssertionError(f"the server kept the connection open for {WAIT} s")


def get_task(server: LiveServer) -> None:
    with server.session() as session:
        response = session.get(f"{server.api}/tasks/1408", timeout=WAIT)
    assert response.status_code == 200, response.text


def test_gets_are_answered_while_slow_and_idle_connections_are_held(patient):
    """150 clients sending their headers a line at a time and 500 silent ones do not
    keep a normal client's GETs waiting (at the default of one thread)."""
    slow = [connect(patient) for _ in range(150)]
    for sock in slow:
        sock.sendall(b"GET /api/v1/tasks/1408 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    idle = [connect(patient) for _ in range(500)]
    try:
        for _ in range(5):
            get_task(patient)
        for sock in slow:
            sock.sendall(b"X-Slow: 1\r\n")  # the next line: still sending
        get_task(patient)
        assert all(is_open(sock) for sock in slow + idle)  # answered while they were held
    finally:
        for sock in slow + idle:
            sock.close()


def test_headers_not_sent_within_the_request_timeout_close_the_connection(strict):
    """A client sending a header line every 0.5 s is cut off: a slowloris cannot hold a
    connection for longer than the request timeout."""
    connections = [connect(strict) for _ in range(10)]
    try:
        for sock in connections:
            sock.sendall(b"GET /api/v1/tasks/1408 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sock in connections:
            assert closed_by_server(sock, trickle=b"X-Slow: 1\r\n") == b""
        get_task(strict)
    finally:
        for sock in connections:
            sock.close()


def test_a_connection_silent_after_its_request_is_closed(strict):
    with connect(strict) as sock:
        sock.sendall(b"GET /api/v1/tasks/1408 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()).encode() + b"\r\n")
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_stalled_body_holds_no_thread(patient):
    """A body that stops coming is read off the request threads (granian: on its event
    loop; waitress: on its I/O thread): at one thread, other requests are still answered."""
    with connect(patient) as stalled:
        stalled.sendall(REQUEST_START + b"Content-Length: 100\r\n\r\n{")
        get_task(patient)
        assert is_open(stalled)


def test_a_body_not_received_within_the_request_timeout(strict, kind):
    """granian answers a JSON 408 and closes; waitress closes without an answer, as
    nginx does on client_body_timeout. A trickle of bytes does not extend the deadline."""
    with connect(strict) as slow_body:
        slow_body.sendall(REQUEST_START + b"Content-Length: 100\r\n\r\n{")
        answer = closed_by_server(slow_body, trickle=b" ")
    if kind == "waitress":
        assert answer == b""
    else:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"content-type: application/json" in head.lower()
        assert json.loads(body) == f"Request body not received within {TIMEOUT} s."
    get_task(strict)


def test_a_silent_connection(strict, kind):
    """waitress closes a connection that sends nothing after the request timeout.
    granian keeps it (hyper's header timeout starts at the first byte), holding no
    thread, up to the connection limit; pinned so that an upgrade that closes it is
    noticed: docs/reliability-and-security.md."""
    with connect(strict) as silent:
        if kind == "waitress":
            assert closed_by_server(silent) == b""
        else:
            time.sleep(TIMEOUT + 2)
            assert is_open(silent)
        get_task(strict)


def test_an_absurd_chunk_size_is_not_waited_for(strict, kind):
    """A chunk size far beyond any body: granian answers the JSON 400 at once; waitress
    (which takes it as a chunk still coming) closes the connection after the request
    timeout, not after its 120 s default."""
    with connect(strict) as sock:
        sock.sendall(REQUEST_START + b"Transfer-Encoding: chunked\r\n\r\n"
                     b"ffffffffffffffffffff\r\nabc")
        answer = closed_by_server(sock)
    if kind == "waitress":
        assert answer == b""
    else:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower()
        assert isinstance(json.loads(body), str)
    get_task(strict)


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 3 // 2])
def test_a_body_over_the_limit_from_http_client_gets_the_json_400(patient, size):
    """http.client sends the whole body before it reads the answer: the server reads the
    body through (up to twice the limit) rather than closing it with a reset."""
    connection = http.client.HTTPConnection(*address(patient), timeout=WAIT)
    try:
        connection.request("POST", "/api/v1/tasks", body=b" " * size, headers=HEADERS)
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type")) == (400, "application/json")
        assert json.loads(response.read()) == TOO_LARGE
    finally:
        connection.close()


def test_a_body_over_the_limit_from_requests_gets_the_json_400(patient):
    with patient.session() as session:
        response = session.post(f"{patient.api}/tasks", data=b" " * (LIMIT + 1), timeout=WAIT)
    assert (response.status_code, response.json()) == (400, TOO_LARGE)
    get_task(patient)
