"""The waitress server of ``mockserver serve``: its own protocol errors are JSON too, and
each response goes out in one send.

Waitress answers some requests before the app sees them (headers over its size limit,
a bare CR or LF in a header, a body over the limit, a bad chunked encoding) with a
text/plain page. The mock's contract is a JSON-string 4xx for all bad input, so those
answers go through JsonErrorTask instead; 413 becomes 400 as in errors.py.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Iterator

import waitress
from flask import Flask
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

from .errors import BODY_TOO_LARGE

IDENT = "opendental-tasks-mock"
SPARE_THREADS = "mockserver.spare_threads"  # app.extensions key: see SpareThreads


class JsonErrorTask(ErrorTask):
    """Waitress's error response with a JSON-string body and Open Dental's statuses."""

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            status, message = 400, BODY_TOO_LARGE
        elif error.code < 500:
            status, message = 400, f"{error.reason}: {error.body}."
        else:
            status, message = 500, "Internal server error."
        body = json.dumps(message).encode()
        self.status = f"{status} {HTTPStatus(status).phrase}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class OneSendTask(WSGITask):
    """Waitress's WSGI task, sending a response's head and whole body in one piece.

    Waitress writes the head and the body to the socket separately: two send calls, two
    TCP segments and two wake-ups of the client per response (the mock's bodies are one
    piece of known length). On 2026-12-03 those sends were a third of waitress's worker
    time under load.
    """

    def write(self, data: bytes) -> None:
        """``WSGITask.write``; the first write of a body of exactly Content-Length bytes
        goes out with the head, as the same bytes in one buffer."""
        if not self.wrote_header and self.complete and self.has_body and data \
                and not self.chunked_response and self.content_length == len(data):
            self.channel.write_soon(self.build_response_header() + data)
            self.wrote_header = True
            self.content_bytes_written += len(data)
            return
        super().write(data)


class MockChannel(HTTPChannel):
    """Waitress's connection, with JSON error answers and one send per response."""

    task_class = OneSendTask
    error_task_class = JsonErrorTask


class SpareThreads:
    """Give waitress one more worker thread while a request waits on purpose.

    One worker thread is the fastest setting (more contend for the GIL with waitress's
    I/O thread), but then a delay fault's sleep would hold up every other office's
    requests. ``with spare():`` around such a wait keeps the others served.
    """

    def __init__(self, dispatcher: Any, threads: int):
        self._dispatcher, self._threads = dispatcher, threads
        self._waiting = 0
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self._resize(+1)
        try:
            yield
        finally:
            self._resize(-1)

    def _resize(self, change: int) -> None:
        with self._lock:  # set_thread_count takes a total: count the waiters ourselves
            self._waiting += change
            self._dispatcher.set_thread_count(self._threads + self._waiting)


def create_server(app: Flask, host: str, port: int, threads: int, **adjustments: Any) -> Any:
    """A waitress server for *app* on one address; the body limit is the app's."""
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident=IDENT,
        # waitress refuses a Content-Length >= its limit; the app allows == its own
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1, **adjustments)
    server.channel_class = MockChannel  # used for every accepted connection
    app.extensions[SPARE_THREADS] = SpareThreads(server.task_dispatcher, threads)
    return server
