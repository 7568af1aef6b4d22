"""The real thing: ``mockserver serve --port 0`` in a subprocess, driven over loopback."""
import json
import os
import queue
import shlex
import shutil
import subprocess
import sys
import threading

import pytest
import requests

from conftest import TASK_FIELDS

WAIT = 20  # seconds: upper bound of every wait on the subprocess, never a measurement
BANNER = "Open Dental Tasks mock listening on "
NO_PROXY_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class Lines:
    """The lines of a subprocess stream, collected by a daemon thread (reads never hang)."""

    def __init__(self, stream):
        self._queue: queue.Queue = queue.Queue()
        self._stream = stream
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of stream

    def until(self, predicate) -> str:
        """The next line matching *predicate*; fails after WAIT seconds or at end of stream."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no matching line within {WAIT}s; seen: {self.seen}")
            if line is None:
                pytest.fail(f"stream ended; seen: {self.seen}")
            self.seen.append(line)
            if predicate(line):
                return line

    def rest(self) -> list[str]:
        """Every line up to the end of the stream (once the process has exited), then close it."""
        self._thread.join(timeout=WAIT)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.seen.append(line)
        self._stream.close()
        return self.seen


class Server:
    """A running ``mockserver serve`` subprocess: its URL, stdout and stderr lines."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=NO_PROXY_ENV)
        self.stdout, self.stderr = Lines(self.process.stdout), Lines(self.process.stderr)
        self.url = self.stdout.until(lambda line: line.startswith(BANNER))[len(BANNER):]
        self.curl = self.stdout.until(lambda line: line.startswith("Try: curl "))[len("Try: "):]
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: never through a proxy
        self.http.headers.update({"Authorization": "ODFHIR live/office", "Content-Type": "application/json"})

    def stop(self) -> list[str]:
        """End the server (idempotent); returns everything it wrote to stderr."""
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=WAIT)
        self.stdout.rest()
        return self.stderr.rest()


@pytest.fixture(scope="module")
def server(request):
    started = Server("--quiet")
    request.addfinalizer(started.stop)
    return started


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


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_live_banner_curl_line_works_as_written(server):
    done = subprocess.run([*shlex.split(server.curl), "--silent", "--show-error", "--max-time", str(WAIT)],
                          capture_output=True, text=True, timeout=WAIT, env=NO_PROXY_ENV)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert list(task) == TASK_FIELDS and task["TaskNum"] == 1408


def test_live_access_log_on_stderr_unless_quiet(request):
    loud = Server()
    request.addfinalizer(loud.stop)
    check(loud.http.get(f"{loud.url}/tasks/1408", params={"Limit": 1}, timeout=WAIT), 200)
    line = loud.stderr.until(lambda text: "mockserver.access" in text)
    assert '127.0.0.1 "GET /api/v1/tasks/1408?Limit=1" 200 ' in line and line.endswith("ms")


def test_live_quiet_has_no_access_log(request):
    quiet = Server("--quiet")
    request.addfinalizer(quiet.stop)
    check(quiet.http.get(f"{quiet.url}/tasks/1408", timeout=WAIT), 200)
    assert not [line for line in quiet.stop() if "mockserver.access" in line]
