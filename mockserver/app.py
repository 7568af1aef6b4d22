"""The application factory: ``create_app(config)``; all state lives in ``app.extensions``."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from flask import Flask, Response, g, request

from . import errors, fixtures
from .routes import api
from .store import LOCAL_PAGE_CAP, PAGE_CAP, Registry

access_log = logging.getLogger("mockserver.access")

DEFAULTS: dict[str, Any] = {
    "FIXTURES": None,  # a fixtures folder; None = the default dataset shipped in the package
    "KEYS": None,  # a keys file path, or its content as a mapping; None = any key pair
    "STRICT_KEYS": False,  # reject key pairs the keys file does not list
    "LENIENT_CONTENT_TYPE": False,  # accept requests without Content-Type: application/json
    "LOCAL_API": False,  # Local-API paging cap (1000 instead of 100)
    "MAX_CONTENT_LENGTH": 16_800_000,  # apiimplementation: 16.8M characters
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the mock server. *config* overrides DEFAULTS (and any Flask setting)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.json.sort_keys = False  # field order is part of the contract
    keys = fixtures.load_keys(app.config["KEYS"], strict=app.config["STRICT_KEYS"])
    app.extensions["mockserver"] = Registry(
        fixtures.load_dir(app.config["FIXTURES"]), keys,
        page_cap=LOCAL_PAGE_CAP if app.config["LOCAL_API"] else PAGE_CAP)
    errors.register(app)
    app.register_blueprint(api)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access_log(response: Response) -> Response:
        if not access_log.isEnabledFor(logging.INFO):  # --quiet: skip building the line
            return response
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info('%s "%s %s" %s %.1fms', request.remote_addr, request.method,
                        request.full_path.rstrip("?"), response.status_code, elapsed)
        return response

    return app
