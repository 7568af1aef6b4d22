"""The granian server of ``mockserver serve`` (the default), started through granian's
documented Python API (``granian.Granian``, the CLI's options as arguments).

granian (Rust, hyper) parses HTTP itself and holds any number of slow or idle
connections without a thread each, closing one whose request headers are not complete
within the request timeout (hyper's header read timeout). granian serves the app through
its ASGI interface (``asgi.BodyFirst``), which reads each body on the event loop under the
same timeout before the app runs on a thread. Malformed HTTP (a garbage start line, a CR
in a header, a NUL in the path) gets hyper's ``400`` with an empty body and a closed
connection; everything else is answered in JSON.

granian starts its worker process itself and imports the app there: ``worker_app`` is
the factory it calls, with ``serve``'s configuration handed over in an environment
variable.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import Any

from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

from .asgi import BodyFirst
from .wsgi import BACKLOG, CONNECTION_LIMIT, body_bound

# what the worker needs of `serve`, as JSON: create_app's config, --quiet and
# --log-format, the threads and the request timeout, and the banner's host, port and title
SERVE_VARIABLE = "MOCKSERVER_SERVE"
# granian logs to stdout, where `serve` prints its banner: only its errors, on stderr
LOGGING = {"handlers": {name: {"class": "logging.StreamHandler", "formatter": "generic",
                               "stream": "ext://sys.stderr"} for name in ("console", "access")}}


def free_port(host: str) -> int:
    """A port free on *host* now, for ``--port 0`` (granian binds the port it is given)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class GranianServer:
    """granian serving the app of *config* from one worker process with *threads*
    threads, logging as *logs* says (--quiet, --log-format); the worker prints the banner
    *what* once it answers. Same surface as
    WaitressServer: ``effective_port``, ``run()`` (until SIGTERM or Ctrl-C), ``close()``."""

    def __init__(self, config: dict[str, Any], logs: tuple[bool, str], host: str, port: int,
                 threads: int, what: str, request_timeout: int):
        self.effective_port = port or free_port(host)
        os.environ[SERVE_VARIABLE] = json.dumps({
            "config": config, "logs": logs, "threads": threads, "timeout": request_timeout,
            "host": host, "port": self.effective_port, "what": what})
        self.server = Granian(
            f"{__name__}:worker_app", factory=True, interface=Interfaces.ASGI, websockets=False,
            address=host, port=self.effective_port, workers=1, backlog=BACKLOG,
            log_level=LogLevels.error, log_dictconfig=LOGGING,
            # connections served at once (an open connection counts, idle or not), as on waitress
            backpressure=CONNECTION_LIMIT,
            http1_settings=HTTP1Settings(header_read_timeout=request_timeout * 1000))

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT (granian's handlers)."""
        self.server.serve()

    def close(self) -> None:
        """Nothing to release: granian closed its socket and stopped its worker."""


def worker_app() -> BodyFirst:
    """The app, built in granian's worker from ``serve``'s configuration. The worker also
    stops when ``serve`` dies, even by SIGKILL (it would otherwise serve on as an orphan,
    holding the port and the data folder)."""
    from .banner import announce_when_ready
    from .cli import configure_logging, serving_app
    from .fixtures import FixtureError
    from .persist import PersistError

    serve = json.loads(os.environ[SERVE_VARIABLE])
    configure_logging(*serve["logs"])
    try:
        app = serving_app(serve["config"])
    except (FixtureError, PersistError) as exc:  # said as `serve` says it; granian stops
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    threading.Thread(target=announce_when_ready, args=(serve["host"], serve["port"], serve["what"], app),
                     name="banner", daemon=True).start()
    return BodyFirst(app, serve["threads"], serve["timeout"], app.config["MAX_CONTENT_LENGTH"],
                     body_bound(app.config))


def _stop_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()  # waits on a pipe that the parent's death closes
        os.kill(os.getpid(), signal.SIGTERM)  # granian's graceful stop
