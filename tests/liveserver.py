"""Real ``mockserver`` processes on loopback for tests that need sockets or restarts."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
from typing import Sequence

import requests

from mockserver.cluster import ClusterError, spawn

SERVERS = ("waitress", "granian")  # `mockserver serve --server`
HEADERS = {"Authorization": "ODFHIR devkey/custkey", "Content-Type": "application/json"}


class LiveServer:
    """``mockserver <command> --port 0 ...`` as a subprocess; ``url`` ends before /api/v1.

    Use as a context manager: the process is stopped (SIGTERM, then SIGKILL) on exit.
    """

    def __init__(self, *args: str, command: Sequence[str] = ("serve", "--quiet")):
        self.argv = [sys.executable, "-m", "mockserver", *command, "--port", "0", *args]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        try:
            self.proc, self.url = spawn(self.argv, stderr=self.stderr)
        except ClusterError as exc:
            message = f"{exc}{self.errors()}"
            self.stderr.close()
            raise RuntimeError(message) from None
        self.api = self.url + "/api/v1"
        # the banner's second line: a ready-to-paste curl command
        self.curl = self.proc.stdout.readline().strip().removeprefix("Try: ")

    def errors(self) -> str:
        """What the process wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()

    def session(self, customer: str = "custkey") -> requests.Session:
        """A session with the headers of *customer*'s office."""
        session = requests.Session()
        session.trust_env = False  # loopback only: never through a proxy from the environment
        session.headers.update({**HEADERS, "Authorization": f"ODFHIR devkey/{customer}"})
        return session

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as in a crash."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM (a graceful stop), SIGKILL if it takes too long; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc.stdout.close()
        self.stderr.close()
        return self.proc.returncode

    def __enter__(self) -> "LiveServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send raw *request* bytes to *url*'s host and port on a new connection; what the
    server answers, read until it closes the connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        for _ in range(10_000):  # bounded read loop
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # closed with our unread bytes: the answer is in
                break
            if not chunk:
                break
            answer += chunk
    return answer


EVERYTHING = {"DateTimeOriginal": "0001-01-01 00:00:00"}  # old tasks too, not just 14 days


def all_records(session: requests.Session, api: str, resource: str, key: str,
                params: dict | None = None) -> dict[int, dict]:
    """Every record of *resource* in the session's office by its *key*, paging through
    ``GET /<resource>`` with *params*."""
    records: dict[int, dict] = {}
    for offset in range(0, 100_000, 100):  # bounded: far more pages than any test makes
        response = session.get(f"{api}/{resource}", params={**(params or {}), "Offset": offset, "Limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        for record in page:
            assert record[key] not in records, f"{key} {record[key]} listed twice"
            records[record[key]] = record
        if len(page) < 100:
            return records
    raise AssertionError(f"more {resource} than a test can make")


def all_tasks(session: requests.Session, api: str) -> dict[int, dict]:
    """Every task of the session's office by TaskNum, paging through GET /tasks."""
    return all_records(session, api, "tasks", "TaskNum", EVERYTHING)


def all_notes(session: requests.Session, api: str) -> dict[int, dict]:
    """Every task note of the session's office by TaskNoteNum, paging through GET /tasknotes."""
    return all_records(session, api, "tasknotes", "TaskNoteNum")
