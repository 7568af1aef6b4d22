"""Real ``mockserver`` processes on loopback for tests that need sockets or restarts."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Sequence

import requests

BANNER = re.compile(r"listening on (http://\S+)/api/v1")
STARTUP_LIMIT = 60  # seconds before a server that never printed its banner is killed
HEADERS = {"Authorization": "ODFHIR devkey/custkey", "Content-Type": "application/json"}


class LiveServer:
    """``mockserver <command> --port 0 ...`` as a subprocess; ``url`` ends before /api/v1.

    Use as a context manager: the process is stopped (SIGTERM, then SIGKILL) on exit.
    """

    def __init__(self, *args: str, command: Sequence[str] = ("serve", "--quiet")):
        self.argv = [sys.executable, "-m", "mockserver", *command, "--port", "0", *args]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        watchdog = threading.Timer(STARTUP_LIMIT, self.proc.kill)
        watchdog.start()
        try:
            self.banner = self._read_banner()
        finally:
            watchdog.cancel()

    def _read_banner(self) -> str:
        lines = []
        for line in self.proc.stdout:  # ends when the process exits
            lines.append(line)
            match = BANNER.search(line)
            if match:
                self.url = match.group(1)
                self.api = self.url + "/api/v1"
                return "".join(lines)
        self.proc.wait()
        raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}: "
                           f"{''.join(lines)}{self.errors()}")

    def errors(self) -> str:
        """What the process wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()

    def session(self, customer: str = "custkey") -> requests.Session:
        """A session with the headers of *customer*'s office."""
        session = requests.Session()
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


EVERYTHING = {"DateTimeOriginal": "0001-01-01 00:00:00"}  # old tasks too, not just 14 days


def all_tasks(session: requests.Session, api: str) -> dict[int, dict]:
    """Every task of the session's office by TaskNum, paging through GET /tasks."""
    tasks: dict[int, dict] = {}
    for offset in range(0, 100_000, 100):  # bounded: far more pages than any test makes
        response = session.get(f"{api}/tasks", params={**EVERYTHING, "Offset": offset, "Limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        for task in page:
            assert task["TaskNum"] not in tasks, f"TaskNum {task['TaskNum']} listed twice"
            tasks[task["TaskNum"]] = task
        if len(page) < 100:
            return tasks
    raise AssertionError("more tasks than a test can make")
