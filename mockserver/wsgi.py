"""The waitress server of ``mockserver serve``: its own protocol errors are JSON too, each
response goes out in one send, every waiting connection is accepted at once, and with one
worker thread requests run on the I/O thread.

Waitress answers some requests before the app sees them (headers over its size limit,
a bare CR or LF in a header, a body over the limit, a bad chunked encoding) with a
text/plain page. The mock's contract is a JSON-string 4xx for all bad input, so those
answers go through JsonErrorTask instead; 413 becomes 400 as in errors.py.
"""
from __future__ import annotations

import json
import socket
import threading
from collections import deque
from contextlib import contextmanager, suppress
from http import HTTPStatus
from typing import Any, Callable, Iterator

from flask import Flask
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from .errors import BODY_TOO_LARGE

IDENT = "opendental-tasks-mock"
SPARE_THREADS = "mockserver.spare_threads"  # app.extensions key: see SpareThreads
# app.extensions key: a callable, true while a request may sleep on purpose (a delay fault)
DELAYING = "mockserver.delaying"
BACKLOG = 1024  # waitress's and granian's default


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


class InlineDispatcher(ThreadedTaskDispatcher):
    """Waitress's task dispatcher, running requests on the I/O thread that read them.

    With one worker thread, every request went from waitress's I/O thread to the worker
    and back: two wake-ups and two hand-overs of the GIL, which sat idle about 40% of the
    time under load (py-spy, 2026-12-03). Run where they are read, requests took about a
    third less CPU each. A request still goes to the worker thread while *delaying()* is
    true (a delay fault's sleep on the I/O thread would hold up every connection), and so
    does a connection's next request while the client leaves over
    ``outbuf_high_watermark`` bytes unread (waitress then waits for it to read, which only
    a worker thread may do). A delay fault set by a request on a worker thread while the
    I/O thread serves another can still delay that one request on the I/O thread.
    """

    def __init__(self, delaying: Callable[[], bool]):
        super().__init__()
        self._delaying = delaying
        self._io_thread: int | None = None
        self._ready: deque[HTTPChannel] = deque()

    def on_io_thread(self) -> bool:
        """Whether the caller is the I/O thread."""
        return threading.get_ident() == self._io_thread

    def add_task(self, task: HTTPChannel) -> None:
        """Run *task* (a channel with a request to serve) after the read that completed it,
        or on the worker thread."""
        if self.on_io_thread() and not self._delaying():
            self._ready.append(task)
        else:
            super().add_task(task)

    def read(self, channel_read: Callable[[], None]) -> None:
        """Do a channel's read on the I/O thread, then serve the requests it completed.

        Not during the read: waitress's channel adds a request while holding a lock that
        serving the request takes.
        """
        self._io_thread = threading.get_ident()
        channel_read()
        while self._ready:
            channel = self._ready.popleft()
            if channel.total_outbufs_len > channel.adj.outbuf_high_watermark:
                super().add_task(channel)
            else:
                channel.service()


class MockChannel(HTTPChannel):
    """Waitress's connection, with JSON error answers and one send per response."""

    task_class = OneSendTask
    error_task_class = JsonErrorTask


class InlineChannel(MockChannel):
    """MockChannel of a server with an InlineDispatcher."""

    def handle_read(self) -> None:
        """Waitress's read, then the requests it completed (InlineDispatcher.read)."""
        self.server.task_dispatcher.read(super().handle_read)

    def _flush_outbufs_below_high_watermark(self) -> None:
        # Waitress waits here, on the worker thread, for the I/O thread to send what the
        # client has not read. On the I/O thread that wait would never end: go on, and
        # InlineDispatcher hands the connection's next request to the worker thread.
        if not self.server.task_dispatcher.on_io_thread():
            super()._flush_outbufs_below_high_watermark()


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


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on one address of *host*: an IPv6 one if *host* has a
    colon, else IPv4, as werkzeug's own server chooses.

    waitress, given a name, listens on every address it resolves to (``localhost`` is
    often ::1 and 127.0.0.1), each on a port of its own when *port* is 0, and returns a
    server with no one port to print. granian binds on this socket too (fast.py).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=BACKLOG)
    # inherited by every accepted connection: an answer goes out at once, not after the
    # client's delayed ACK (without it, 40 ms per request and a fifth of the throughput)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


class MockWSGIServer(TcpWSGIServer):
    """Waitress's TCP server with MockChannel connections, accepting every waiting
    connection at once."""

    channel_class = MockChannel
    stopping = False  # set by stop()

    def run(self) -> None:
        """Waitress's loop, which also ends at its next turn once ``stop`` asks; this thread
        then closes every socket (from another thread that would race with its polling).

        Waitress's own way to stop is a call sent through its wake-up pipe, which fails once
        that pipe is closed: seen once in CI (2026-12-03), at the end of a pytest-xdist
        worker whose tests had all passed, cause unknown. Waking the loop is all the pipe
        does here; without it the loop sees ``stopping`` at its poll timeout (1 s).
        """
        poll = wasyncore.poll2 if self.adj.asyncore_use_poll else wasyncore.poll
        try:
            while self._map and not self.stopping:
                poll(self.adj.asyncore_loop_timeout, self._map)
        except (SystemExit, KeyboardInterrupt):  # as waitress's run: serve's Ctrl-C, SIGTERM
            self.task_dispatcher.shutdown()
        if self.stopping:
            wasyncore.close_all(self._map)

    def handle_accept(self) -> None:
        """Accept every connection waiting (up to waitress's connection limit).

        Waitress accepts one per turn of its loop, and a turn serves a request on every
        connection already open: of 32 connections opened at once, the last waited 31
        turns for its first answer. That was the p99 tail under wrk (2026-12-03, PUT,
        a fresh wrk per run, 10 runs: p99.9 19-146 ms; accepting all, 16-25 ms).
        """
        while len(self._map) < self.adj.connection_limit:
            known = len(self._map)
            super().handle_accept()
            if len(self._map) == known:  # none waiting (or a failed one, which it logged)
                return


class InlineWSGIServer(MockWSGIServer):
    """MockWSGIServer with an InlineDispatcher and InlineChannel connections."""

    channel_class = InlineChannel

    def pull_trigger(self) -> None:
        # Waitress wakes its I/O thread after each request and some writes; on the I/O
        # thread itself that is a wasted pipe write and poll (its loop polls next anyway).
        if not self.task_dispatcher.on_io_thread():
            super().pull_trigger()


def create_server(app: Flask, host: str, port: int, threads: int, **adjustments: Any) -> Any:
    """A waitress server for *app* on one address; the body limit is the app's.

    With one thread, requests run on the I/O thread (InlineWSGIServer) except while the app's
    ``DELAYING`` extension says a request may sleep.
    """
    inline = threads == 1
    dispatcher = InlineDispatcher(app.extensions.get(DELAYING, lambda: False)) if inline \
        else ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    sock = listen(host, port)
    adj = Adjustments(
        sockets=[sock], threads=threads, ident=IDENT,
        # waitress refuses a Content-Length >= its limit; the app allows == its own
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1, **adjustments)
    # what waitress.create_server does for one socket, with our class
    server = (InlineWSGIServer if inline else MockWSGIServer)(
        app, _sock=sock, dispatcher=dispatcher, adj=adj, bind_socket=False,
        sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
    app.extensions[SPARE_THREADS] = SpareThreads(dispatcher, threads)
    return server


def stop(server: MockWSGIServer, loop_thread: threading.Thread, timeout: float = 30) -> None:
    """Stop a server of ``create_server`` whose ``run()`` is on *loop_thread*: that thread
    closes every socket and ends (``MockWSGIServer.run``), then the worker threads end."""
    server.stopping = True
    if not server.trigger._closed:  # a closed pipe's number may be another file's by now
        with suppress(OSError):  # closed under it: the loop sees the flag at its timeout
            server.trigger.pull_trigger()
    loop_thread.join(timeout)  # bounded; a daemon thread anyway
    server.task_dispatcher.shutdown()
