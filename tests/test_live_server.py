"""The real thing: ``mockserver serve --port 0`` in a subprocess, driven over loopback, on
each server (waitress and granian)."""
import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import threading

import pytest
import requests
from waitress.wasyncore import close_all

from conftest import TASK_FIELDS
from liveserver import HEADERS, SERVERS, LiveServer, raw_exchange
from mockserver.app import create_app
from mockserver.cli import default_threads
from mockserver.pytest_plugin import LiveServer as InProcessServer
from mockserver.wsgi import SPARE_THREADS, MockChannel, create_server, stop

WAIT = 20  # seconds: upper bound of every wait on the subprocess, never a measurement
NO_PROXY_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class Server(LiveServer):
    """A live ``serve`` with a session for the office "office" and the API URL as ``url``."""

    def __init__(self, kind: str, *args: str):
        super().__init__("--server", kind, *args, command=("serve",))
        self.url = self.api
        self.http = self.session("office")

    def access_log(self) -> list[str]:
        # written (line-buffered) in after_request, so before the client has its response
        return [line for line in self.errors().splitlines() if "mockserver.access" in line]


@pytest.fixture(scope="module", params=SERVERS)
def kind(request):
    """The HTTP server of ``mockserver serve --server``."""
    return request.param


@pytest.fixture(scope="module")
def server(kind):
    with Server(kind, "--quiet") as started:
        yield started


def check(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.text)  # dicts keep the order of the wire


def test_live_banner_is_a_loopback_url(server):
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/api/v1")
    assert int(server.url.split(":")[2].split("/")[0]) > 0  # port 0 became a real port


def test_live_get_one_and_list(server):
    task = check(server.http.get(f"{server.url}/tasks/1408", timeout=WAIT), 200)
    assert list(task) == TASK_FIELDS and task["DateTimeEntry"] == "2024-12-10 13:08:47"
    tasks = check(server.http.get(f"{server.url}/tasks", params={"TaskListNum": 74}, timeout=WAIT), 200)
    assert [t["TaskNum"] for t in tasks] == [9101, 9102, 9108]


def test_live_post_then_put(server):
    r = server.http.post(f"{server.url}/tasks", timeout=WAIT,
                         json={"TaskListNum": 0, "Descript": "Live task", "UserNum": 1})
    created = check(r, 201)
    assert r.headers["Location"] == f"{server.url}/tasks/{created['TaskNum']}"
    updated = check(server.http.put(r.headers["Location"], json={"TaskStatus": "Done"}, timeout=WAIT), 200)
    assert (updated["TaskNum"], updated["TaskStatus"]) == (created["TaskNum"], "Done")
    assert check(server.http.get(r.headers["Location"], timeout=WAIT), 200) == updated


def test_live_errors_are_json_strings(server):
    r = server.http.get(f"{server.url}/tasks/1408", headers={"Authorization": None}, timeout=WAIT)
    assert check(r, 401) == "Authorization header is required: ODFHIR {DeveloperKey}/{CustomerKey}."
    assert check(server.http.get(f"{server.url}/tasks/424242", timeout=WAIT), 404) == "Task not found."
    assert check(server.http.get(f"{server.url}/nothing", timeout=WAIT), 404) == \
        "The resource /api/v1/nothing does not exist."
    r = server.http.delete(f"{server.url}/tasks/1408", timeout=WAIT)
    assert check(r, 405) == "Method DELETE is not allowed here. Allowed: GET, HEAD, PUT."
    assert r.headers["Allow"] == "GET, HEAD, PUT"
    r = server.http.post(f"{server.url}/tasks", data=b"{not json", timeout=WAIT)
    assert check(r, 400) == "Request body is not valid JSON."


# waitress: closed without a byte; granian sometimes sends the head first, and then the
# body is cut short (README, Control API)
DROPPED = {"waitress": requests.ConnectionError,
           "granian": (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)}


def test_live_drop_fault_closes_the_connection_unanswered(kind, server):
    admin = server.url.removesuffix("/api/v1") + "/__admin"
    fault = {"drop": True, "path": "/tasks/1408", "times": 1}
    assert server.http.post(f"{admin}/faults", json=fault, timeout=WAIT).status_code == 201
    with pytest.raises(DROPPED[kind]):
        server.http.get(f"{server.url}/tasks/1408", timeout=WAIT)
    [entry] = [e for e in server.http.get(f"{admin}/requests", timeout=WAIT).json() if e["fault"]]
    assert entry["status"] is None  # the journal says: dropped
    check(server.http.get(f"{server.url}/tasks/1408", timeout=WAIT), 200)  # once only


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_live_banner_curl_line_works_as_written(server):
    done = subprocess.run([*shlex.split(server.curl), "--silent", "--show-error", "--max-time", str(WAIT)],
                          capture_output=True, text=True, timeout=WAIT, env=NO_PROXY_ENV)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert list(task) == TASK_FIELDS and task["TaskNum"] == 1408


def test_live_access_log_on_stderr_unless_quiet(kind):
    with Server(kind) as loud:
        check(loud.http.get(f"{loud.url}/tasks/1408", params={"Limit": 1}, timeout=WAIT), 200)
        [line] = loud.access_log()
    assert '127.0.0.1 "GET /api/v1/tasks/1408?Limit=1" 200 ' in line and line.endswith("ms")


def test_live_quiet_has_no_access_log(kind):
    with Server(kind, "--quiet") as quiet:
        check(quiet.http.get(f"{quiet.url}/tasks/1408", timeout=WAIT), 200)
        assert quiet.access_log() == []


@pytest.mark.parametrize("kind, threads", [("waitress", ()), ("granian", ("--threads", "3"))])
def test_live_a_delay_fault_does_not_hold_up_other_offices(kind, threads):
    """waitress runs one worker thread by default and must get a spare one for a delayed
    request's wait; granian's pool is fixed, so there it takes --threads (README)."""
    with Server(kind, "--quiet", *threads) as server:
        _delayed_office_leaves_the_others_served(server)


def _delayed_office_leaves_the_others_served(server: Server) -> None:
    base = server.url.removesuffix("/api/v1")
    slow, other = server.session("slow-office"), server.session("other-office")
    check(slow.post(f"{base}/__admin/faults", json={"path": "/tasks/*", "delay_ms": 3000, "times": 2}), 201)
    outcomes: list[str] = []  # a delayed request's body, or the exception it raised

    def delayed_get() -> None:
        try:
            outcomes.append(slow.get(f"{server.url}/tasks/1408", timeout=WAIT).text)
        except requests.RequestException as exc:
            outcomes.append(repr(exc))
    delayed = [threading.Thread(target=delayed_get) for _ in range(2)]
    for thread in delayed:
        thread.start()
    waits = []  # each of the other office's requests: how long it took (for the message)
    for _ in range(20):  # while both delayed requests are still waiting
        r = other.get(f"{server.url}/tasks/1408", timeout=WAIT)
        check(r, 200)
        waits.append(round(r.elapsed.total_seconds(), 3))
    assert outcomes == [] and all(thread.is_alive() for thread in delayed), \
        ([text[:80] for text in outcomes], waits)
    for thread in delayed:
        thread.join(WAIT)
    assert len(outcomes) == 2 and all('"TaskNum":1408' in text for text in outcomes)
    check(other.get(f"{server.url}/tasks/1408", timeout=WAIT), 200)  # and it still serves


def test_live_spare_threads_are_given_back():
    app = create_app()
    server = create_server(app, host="127.0.0.1", port=0, threads=1)
    dispatcher, spare = server.task_dispatcher, app.extensions[SPARE_THREADS]
    running = lambda: len(dispatcher.threads) - dispatcher.stop_count  # noqa: E731
    try:
        with spare():
            with spare():
                assert running() == 3
            assert running() == 2
        assert running() == 1
    finally:
        server.close()
        dispatcher.shutdown()


def test_live_waitress_sends_each_response_in_one_piece(monkeypatch):
    sent: list[bytes] = []
    send = MockChannel.send

    def recording_send(self, data, *args, **kwargs):
        sent.append(bytes(data))
        return send(self, data, *args, **kwargs)

    monkeypatch.setattr(MockChannel, "send", recording_send)
    server = InProcessServer({})
    try:
        for request in (b"GET /api/v1/tasks/1408", b"GET /api/v1/tasks/999999",
                        b"HEAD /api/v1/tasks/1408", b"GET /api/v1/tasks?TaskStatus=Bad"):
            sent.clear()
            received = raw_exchange(server.url, request + b" HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: ODFHIR devkey/custkey\r\n"
                                    b"Content-Type: application/json\r\nConnection: close\r\n\r\n")
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 ") and (body or request.startswith(b"HEAD"))
            assert sent == [received]  # head and body in one send
    finally:
        server.close()


@contextlib.contextmanager
def waitress_in_thread(app, host="127.0.0.1", threads=1, **adjustments):
    """``create_server(app, threads=threads)`` served from a daemon thread: (the server,
    the serving thread, the URL before /api/v1); stopped after (again, if the block did)."""
    server = create_server(app, host=host, port=0, threads=threads, **adjustments)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server, thread, f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop(server, thread, WAIT)


def test_live_one_thread_waitress_serves_on_its_io_thread_unless_a_delay_fault_is_set():
    app = create_app()
    serving = []
    wsgi_app = app.wsgi_app
    app.wsgi_app = lambda environ, start: serving.append(threading.get_ident()) or wsgi_app(environ, start)
    with waitress_in_thread(app) as (_, io_thread, url), requests.Session() as http:
        http.headers.update(HEADERS)
        get = lambda: check(http.get(f"{url}/api/v1/tasks/1408", timeout=WAIT), 200)  # noqa: E731
        get()
        fault = check(http.post(f"{url}/__admin/faults", json={"path": "/nothing", "delay_ms": 1},
                                timeout=WAIT), 201)
        get()
        check(http.delete(f"{url}/__admin/faults/{fault['id']}", timeout=WAIT), 200)
        get()
    threads = [ident == io_thread.ident for ident in serving]
    assert threads == [True, True, False, False, True]  # the DELETE ran on the worker too


def test_live_one_thread_waitress_serves_others_while_a_client_does_not_read():
    """A client that pipelines requests and reads none of the answers: waitress waits for
    it to read before it answers the next, which must not stop the I/O thread."""
    request = (b"GET /api/v1/tasks?DateTimeOriginal=0001-01-01%2000:00:00 HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: ODFHIR devkey/custkey\r\nContent-Type: application/json\r\n\r\n")
    with waitress_in_thread(create_app(), outbuf_high_watermark=4096) as (server, _, url), \
            socket.socket() as stuck, requests.Session() as other:
        # small socket buffers both ways (the server's connections inherit its listener's),
        # so that most of the answers stay in waitress's buffers
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(WAIT)
        stuck.connect(("127.0.0.1", int(server.effective_port)))
        stuck.sendall(request * 40)  # 40 answers of about 10 KB each, all left unread
        other.headers.update({**HEADERS, "Authorization": "ODFHIR devkey/other"})
        for _ in range(5):
            check(other.get(f"{url}/api/v1/tasks/1408", timeout=WAIT), 200)
        # and it holds back the next answers until the client reads: waitress's bound on
        # what it buffers (outbuf_high_watermark, plus the answer that crossed it)
        buffered = max(channel.total_outbufs_len for channel in list(server._map.values())
                       if isinstance(channel, MockChannel))
        assert 4096 < buffered < 4096 + 20_000
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 40 or not answers.endswith(b"]\n"):
            answers += stuck.recv(65536)
    assert answers.count(b"HTTP/1.1 ") == 40


@pytest.mark.parametrize("threads", [1, 8])
def test_live_waitress_accepts_every_waiting_connection_at_once(threads):
    """Waitress accepts one connection per turn of its loop, and each turn serves a request
    on every open one: of many connections opened at once, the last waited many turns."""
    app = create_app()
    # the map holds the listener and waitress's trigger: room for 4 connections
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, connection_limit=6)
    clients = [socket.create_connection(("127.0.0.1", int(server.effective_port)), WAIT)
               for _ in range(7)]
    try:
        opened = len(server._map)
        server.handle_accept()  # the loop's one call for the listener being readable
        assert len(server._map) - opened == 4  # all it may take, in one turn
        server.handle_accept()
        assert len(server._map) - opened == 4  # the other 3 wait under the limit
    finally:
        for client in clients:
            client.close()
        close_all(server._map)  # the listener, the trigger and the accepted connections
        server.task_dispatcher.shutdown()


@pytest.mark.parametrize("threads", [1, 8])
def test_live_waitress_stops_once_its_wake_up_pipe_is_closed(threads):
    """Waitress stops through its wake-up pipe, which failed once in CI because the pipe was
    already closed (cause unknown): stop must still end the loop and close every socket."""
    with waitress_in_thread(create_app(), threads=threads) as (server, thread, base):
        url = f"{base}/openapi.yaml"
        assert requests.get(url, timeout=WAIT).status_code == 200
        closed = threading.Event()
        server.trigger.pull_trigger(lambda: (server.trigger.close(), closed.set()))  # its thread
        assert closed.wait(WAIT)
        stop(server, thread, WAIT)
        assert not thread.is_alive() and server._map == {}
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=WAIT)


def test_live_waitress_listens_on_one_address_of_a_name(monkeypatch):
    """A name with several addresses (localhost often has ::1 and 127.0.0.1): waitress
    alone listens on each, on a port of its own with port 0, and gives no one port."""
    resolve = socket.getaddrinfo

    def two_addresses(host, port, *args, **kwargs):
        found = resolve(host, port, *args, **kwargs)
        if host == "localhost":
            found = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)), *found]
        return found

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    with waitress_in_thread(create_app(), host="localhost") as (server, _, _), \
            requests.Session() as http:
        http.headers.update(HEADERS)
        check(http.get(f"http://127.0.0.1:{server.effective_port}/api/v1/tasks/1408", timeout=WAIT), 200)
    assert server.effective_host == "127.0.0.1"


def test_live_threads_default_to_one_in_memory_and_eight_with_a_data_dir():
    assert (default_threads(None), default_threads("/tmp/x")) == (1, 8)


def test_live_quiet_stays_quiet_under_concurrent_load(server):
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_: int) -> int:
        return server.session().get(f"{server.url}/tasks/1408", timeout=WAIT).status_code

    before = server.errors()  # the module's server: earlier tests may have logged
    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(fetch, range(200))) == {200}
    assert server.errors() == before  # no "Task queue depth is N" from waitress, say


def test_granian_listener_sends_without_delay():
    # no timed assertion: the option that keeps granian's answers from waiting 40 ms each
    from mockserver.fast import listen

    with listen("127.0.0.1", 0) as listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
