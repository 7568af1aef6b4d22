"""The waitress server: ``mockserver serve --server waitress`` and the pytest plugin's
server, started through waitress's ``create_server`` and its documented options.

Waitress answers some malformed requests itself before the app sees them (headers over
its size limit, a bare CR or LF in a header, a bad chunked encoding) with a ``text/plain``
400; everything the app answers is JSON.

Waitress reads every request, body included, on its one I/O thread before a worker thread
runs it, so slow and idle clients cost a socket each, never a thread. A connection is
closed when it stays silent for the request timeout (waitress's ``channel_timeout``), and
when a request is not complete that long after its first byte (DeadlineChannel: a
slowloris client is never silent).
"""
from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from typing import Any, Mapping

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server as waitress_server

IDENT = "opendental-tasks-mock"
BACKLOG = 1024
# Connections held open at once. Waitress reads requests on one I/O thread, so a slow or
# idle client costs a socket, not a thread: allow many (its default, 100, let 150 slow
# clients lock everyone else out).
CONNECTION_LIMIT = 2000
REQUEST_TIMEOUT = 30  # seconds to send a whole request (`serve --request-timeout`)
CLEANUP_INTERVAL = 1  # seconds between waitress's checks for silent connections


def body_bound(config: Mapping[str, Any]) -> int:
    """The largest body the server reads through before it answers that the body is over
    MAX_CONTENT_LENGTH: an ordinary client sends the whole body before it reads the
    answer, and a server that closes with the body unread makes that client see a reset
    instead. A larger declared body is refused at once, from its Content-Length."""
    return 2 * config["MAX_CONTENT_LENGTH"]


class DeadlineChannel(HTTPChannel):
    """Waitress's connection, closed when its current request is not complete
    ``channel_timeout`` seconds after the request's first byte: waitress's own check
    counts only silence, which a client sending a header line every few seconds never
    leaves. Closed without an answer, as nginx closes on ``client_header_timeout``."""

    timed: Any = None  # the partly received request `started` belongs to
    started = 0.0

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        if self.request is not self.timed:  # a new request began (or none is partial)
            self.timed, self.started = self.request, time.monotonic()
        return result

    def readable(self) -> bool:
        # waitress's loop asks every connection this at least once a second
        if (self.request is not None and not self.requests
                and time.monotonic() - self.started > self.adj.channel_timeout):
            self.will_close = True  # waitress then closes it (writable() says so)
        return super().readable()


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on one address of *host*: an IPv6 one if *host* has a
    colon, else IPv4, as werkzeug's own server chooses.

    waitress, given a name, listens on every address it resolves to (``localhost`` is
    often ::1 and 127.0.0.1), each on a port of its own when *port* is 0, and returns a
    server with no one port to print.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=BACKLOG)
    # an answer goes out at once, not after the client's delayed ACK
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


class WaitressServer:
    """waitress serving *app* with *threads* worker threads on one address, closing
    connections whose request takes over *request_timeout* seconds.

    ``effective_port`` is the port bound (for ``--port 0``); ``run()`` serves until
    Ctrl-C, SIGTERM or ``stop()`` from another thread.
    """

    def __init__(self, app: Flask, host: str, port: int, threads: int,
                 request_timeout: int = REQUEST_TIMEOUT):
        self._connections: dict[int, Any] = {}  # waitress's socket map: ours, to stop it
        self.server = waitress_server(
            app, map=self._connections, sockets=[listen(host, port)], threads=threads,
            ident=IDENT, connection_limit=CONNECTION_LIMIT, backlog=BACKLOG,
            channel_timeout=request_timeout, cleanup_interval=CLEANUP_INTERVAL,
            # waitress reads a body up to the bound, the app then answers an over-limit
            # one; waitress refuses a Content-Length >= its limit itself
            max_request_body_size=body_bound(app.config) + 1)
        self.server.channel_class = DeadlineChannel
        self.effective_port: int = self.server.effective_port

    def run(self) -> None:
        """Serve until interrupted or stopped."""
        self.server.run()

    def stop(self, thread: threading.Thread, timeout: float = 30) -> None:
        """Stop serving from another thread: *thread* (the one in ``run``) closes every
        connection and ends, then the worker threads end."""
        if thread.is_alive():  # the loop closes them itself: closing under its poll would race
            with contextlib.suppress(OSError):  # its wake-up pipe closed under it: it is ending
                self.server.trigger.pull_trigger(
                    functools.partial(wasyncore.close_all, self._connections))
            thread.join(timeout)
        self.server.task_dispatcher.shutdown()

    def close(self) -> None:
        """Release the listening socket after ``run`` returned."""
        wasyncore.close_all(self._connections)
