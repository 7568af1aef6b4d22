"""The application factory: ``create_app(config)``; all state lives in ``app.extensions``."""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Mapping

from flask import Flask, Response, current_app, g, request

from . import __version__, admin, blueprints, errors, fixtures, keysfile, openapi, page, persist, routes
from .store import LOCAL_PAGE_CAP, MAX_OFFICES, PAGE_CAP, RECORD_TYPES, Registry

access_log = logging.getLogger("mockserver.access")
SERVER = f"opendental-tasks-mock/{__version__}"  # the Server header

DEFAULTS: dict[str, Any] = {
    "FIXTURES": None,  # a fixtures folder; None = the default dataset shipped in the package
    "KEYS": None,  # a keys file path, or its content as a mapping; None = any key pair
    "STRICT_KEYS": False,  # reject key pairs the keys file does not list
    "LENIENT_CONTENT_TYPE": False,  # accept requests without Content-Type: application/json
    "LOCAL_API": False,  # Local-API paging cap (1000 instead of 100)
    "MAX_CONTENT_LENGTH": 16_800_000,  # apiimplementation: 16.8M characters
    # Flask's automatic OPTIONS answers 200 with an empty HTML body; the API has no
    # OPTIONS, so it gets the JSON 405 with an Allow header like any other wrong method
    "PROVIDE_AUTOMATIC_OPTIONS": False,
    "ADMIN_API": True,  # the control API under /__admin (admin.py); off for shared sandboxes
    "DATA_DIR": None,  # a folder that keeps offices across restarts; None = memory only
    "ADMIN_TOKEN": None,  # a secret that control calls reaching every office must send
    "MAX_OFFICES": MAX_OFFICES,  # a new customer key beyond this many offices gets a 503
    "PROXY": None,  # an upstream API base URL: forward /api/v1 there (proxy.py); None = serve
    "FIXTURES_PROGRESS": fixtures.quiet,  # told how loading large fixtures goes (`serve`: a bar)
}


class PlainHttp:
    """WSGI middleware: a request that asks to upgrade to a WebSocket is served as the plain
    HTTP request it also is. The API has no WebSocket routes, and werkzeug matches such a
    request against WebSocket rules only: a 405 on every route."""

    def __init__(self, wsgi_app: Callable[..., Any]):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            del environ["HTTP_UPGRADE"]
        return self.wsgi_app(environ, start_response)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the mock server. *config* overrides DEFAULTS (and any Flask setting)."""
    app = Flask(__name__, static_folder=None)  # no static files: no /static route
    app.wsgi_app = PlainHttp(app.wsgi_app)  # type: ignore[method-assign]
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.json.sort_keys = False  # field order is part of the contract
    app.extensions["mockserver"] = offices(app.config)
    errors.init_app(app)  # every error a JSON string
    init_access_log(app)  # first: the log counts all of a request's time
    # /__admin, unless ADMIN_API is off; before the rest, as its journal records the
    # response they finish (Flask runs after-request hooks last-registered first)
    admin.init_app(app)
    page.init_app(app)  # the control page at /__admin/, with the control API
    routes.init_app(app)  # /api/v1 and the one pass before each of its requests
    openapi.init_app(app)  # the OpenAPI documents
    init_health(app)  # GET /__admin/health, with or without the control API
    app.after_request(_server_header)
    if app.config["PROXY"]:  # after admin: a forwarded exchange is journaled
        from . import proxy

        proxy.init_app(app)
    return app


def _server_header(response: Response) -> Response:
    """Every answer names the mock and its version (the servers keep an app's own)."""
    response.headers["Server"] = SERVER
    return response


def offices(config: Mapping[str, Any]) -> Registry:
    """Every office of the server: the fixtures they start from, the keys file's policy,
    and with DATA_DIR the offices of the last run, replayed."""
    keys = keysfile.load_keys(config["KEYS"], strict=config["STRICT_KEYS"])
    journal = persist.FileJournal(config["DATA_DIR"]) if config["DATA_DIR"] else None
    dataset = fixtures.load_dir(config["FIXTURES"], progress=config["FIXTURES_PROGRESS"])
    registry = Registry(dataset, keys, journal=journal,
                        page_cap=LOCAL_PAGE_CAP if config["LOCAL_API"] else PAGE_CAP,
                        max_offices=config["MAX_OFFICES"])
    if journal is not None:
        journal.open(registry)
    return registry


def init_health(app: Flask) -> None:
    """``GET /__admin/health``: no key needed, answered with ``--no-admin`` too, for CI
    jobs that wait for the mock."""
    app.extensions["mockserver.started"] = time.monotonic()
    app.get("/__admin/health")(getHealth)


def getHealth() -> Response:
    """The server's health (``health``) as JSON."""
    return current_app.json.response(health(current_app))


def health(app: Flask) -> dict[str, Any]:
    """Status, version, uptime, how many offices, and the dataset's counts."""
    registry = app.extensions["mockserver"]
    return {"status": "ok", "version": __version__,
            "uptime_seconds": round(time.monotonic() - app.extensions["mockserver.started"], 3),
            "offices": len(registry),
            "dataset": {kind: registry.dataset.count(kind) for kind in RECORD_TYPES}}


def init_access_log(app: Flask) -> None:
    """One line per request on the ``mockserver.access`` logger, with its time."""
    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access_log(response: Response) -> Response:
        if not access_log.isEnabledFor(logging.INFO):  # --quiet: skip building the line
            return response
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        # not request.full_path: it raises on a query string that is not UTF-8
        query = request.query_string.decode("utf-8", "backslashreplace")
        pair = routes.sent_key_pair()
        office = pair[1] if pair else None
        error = response.get_json(silent=True) if 400 <= response.status_code < 500 else None
        entry = {"remote": request.remote_addr, "method": request.method, "path": request.path,
                 "query": query, "status": response.status_code, "ms": round(elapsed, 1),
                 "office": office, "error": error if isinstance(error, str) else None,
                 "warnings": blueprints.warnings()}
        access_log.info('%s "%s %s%s" %s %.1fms%s%s%s', request.remote_addr, request.method,
                        request.path, f"?{query}" if query else "", response.status_code, elapsed,
                        f" office={_short(office)}" if office else "",
                        f" {json.dumps(entry['error'])}" if entry["error"] else "",
                        "".join(f" warning: {text}" for text in entry["warnings"]),
                        extra={"request": entry})
        return response


def _short(key: str) -> str:
    """A customer key as the log shows it: its first 12 characters."""
    return key if len(key) <= 12 else key[:12] + "..."
