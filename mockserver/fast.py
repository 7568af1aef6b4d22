"""The granian server of ``mockserver serve --server granian``: the opt-in fast mode.

granian (Rust, hyper) parses HTTP itself, so one process answers about 1.5 times as many
requests as waitress. The price: malformed HTTP (a garbage start line, a CR in a header, a
NUL in the path) gets hyper's ``400`` with an empty body and a closed connection, not the
JSON-string 4xx of waitress mode. Needs the ``fast`` extra (granian is pinned: the class
below uses one of its internals).

The app is built in this process, then granian forks its single worker from it: the
worker inherits the warmed, frozen app and the journal's descriptors, so a bad fixture
or a locked data folder is reported before anything listens, as with waitress.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Any, Callable

from flask import Flask
from granian._granian import SocketHolder
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import MPServer

from .wsgi import BACKLOG, listen

# granian logs to stdout, where `serve` prints its banner: only its errors, on stderr
LOGGING = {"handlers": {name: {"class": "logging.StreamHandler", "formatter": "generic",
                               "stream": "ext://sys.stderr"} for name in ("console", "access")}}


class GranianServer(MPServer):
    """granian serving *app* from one forked worker process on a socket bound here.

    Binding here (not in granian) gives ``--port 0`` its real port for the banner, and
    the same OSError as waitress for a port in use. Same surface as a waitress server:
    ``effective_port``, ``run()`` (until SIGTERM or Ctrl-C), ``close()``.
    """

    def __init__(self, app: Flask, host: str, port: int, threads: int):
        self.listener = listen(host, port)
        self.effective_port: int = self.listener.getsockname()[1]
        self.app = app
        self.after_start: Callable[[], None] = lambda: None  # run once the worker is forked
        super().__init__(target="mockserver", interface=Interfaces.WSGI, workers=1,
                         blocking_threads=threads, backlog=BACKLOG, log_level=LogLevels.error,
                         log_dictconfig=LOGGING)

    def _init_shared_socket(self) -> None:
        # granian 2.8.7 binds here; the worker takes a bound socket as (spec, holder)
        self._ssp, self._shd = None, SocketHolder(self.listener.fileno(), False, BACKLOG)
        self._sso = self.listener

    def run(self) -> None:
        """Fork the worker and serve until SIGTERM or SIGINT (granian's handlers)."""
        # the worker must inherit the built app: fork, whatever the platform's default
        multiprocessing.set_start_method("fork", force=True)
        self.serve(target_loader=self._worker_app, wrap_loader=False)

    def startup(self, spawn_target: Any, target_loader: Any) -> None:
        """granian's startup (forks the worker), then ``after_start`` in this process."""
        super().startup(spawn_target, target_loader)
        self.after_start()

    def _worker_app(self) -> Flask:
        """The app, in the worker; which also stops when this process dies, even by SIGKILL
        (it would otherwise serve on as an orphan, holding the port and the data folder)."""
        threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
        return self.app

    def close(self) -> None:
        """Close the listening socket (the worker, and its copy, are gone by now)."""
        self.listener.close()


def _stop_with_parent() -> None:
    multiprocessing.parent_process().join()  # waits on a pipe that the parent's death closes
    os.kill(os.getpid(), signal.SIGTERM)  # granian's graceful stop
