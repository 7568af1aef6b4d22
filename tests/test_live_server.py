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

from conftest import TASK_FIELDS
from liveserver import HEADERS, SERVERS, LiveServer
from mockserver.app import create_app
from mockserver.cli import default_threads
from mockserver.wsgi import WaitressServer

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


# waitress: closed without a byte; granian sends the head first, and then the body is
# cut short (docs/control-api.md)
DROPPED = {"waitress": requests.ConnectionError,
           "granian": requests.exceptions.ChunkedEncodingError}


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
        check(loud.http.get(f"{loud.url}/tasks/424242", timeout=WAIT), 404)
        check(loud.http.put(f"{loud.url}/tasks/1408", json={"Descrpt": "x"}, timeout=WAIT), 200)
        [ok, missing, warned] = [line for line in loud.access_log() if "/api/v1" in line]
    assert '127.0.0.1 "GET /api/v1/tasks/1408?Limit=1" 200 ' in ok and ok.endswith("ms office=office")
    assert missing.endswith(' office=office "Task not found."')
    assert warned.endswith(' warning: ignored field "Descrpt" (did you mean "Descript"?)')


def test_live_access_log_as_json_lines(kind):
    with Server(kind, "--log-format", "json") as loud:
        check(loud.http.get(f"{loud.url}/tasks/424242", timeout=WAIT), 404)
        [line] = [line for line in loud.errors().splitlines() if '"/api/v1/tasks/424242"' in line]
    entry = json.loads(line)
    assert {k: entry[k] for k in ("logger", "method", "path", "status", "office", "error")} == {
        "logger": "mockserver.access", "method": "GET", "path": "/api/v1/tasks/424242",
        "status": 404, "office": "office", "error": "Task not found."}


def test_live_quiet_has_no_access_log(kind):
    with Server(kind, "--quiet") as quiet:
        check(quiet.http.get(f"{quiet.url}/tasks/1408", timeout=WAIT), 200)
        assert quiet.access_log() == []


def test_live_a_delay_fault_does_not_hold_up_other_offices(kind):
    """A delayed request holds its thread while it sleeps: with --threads above the
    delayed requests, other offices are served meanwhile."""
    with Server(kind, "--quiet", "--threads", "3") as server:
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


@contextlib.contextmanager
def waitress_in_thread(app, host="127.0.0.1", threads=1):
    """The plugin's and ``serve --server waitress``'s server, in a thread: (server, thread,
    base URL); stopped on exit."""
    server = WaitressServer(app, host, 0, threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server, thread, f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.stop(thread, WAIT)


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
    assert server.server.effective_host == "127.0.0.1"


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


@pytest.mark.parametrize("threads", [1, 8])
def test_live_waitress_stop_ends_its_loop_and_closes_the_port(threads):
    with waitress_in_thread(create_app(), threads=threads) as (server, thread, base):
        url = f"{base}/openapi.yaml"
        assert requests.get(url, timeout=WAIT).status_code == 200
        server.stop(thread, WAIT)
        assert not thread.is_alive()
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=WAIT)
