"""The application factory: ``create_app(config)``; all state lives in ``app.extensions``."""
from __future__ import annotations

import io
import logging
import time
from importlib import import_module
from typing import IO, Any, Callable, Mapping

from flask import Flask, Request, Response, g, request, url_for
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.routing import MapAdapter, Rule
from werkzeug.urls import iri_to_uri
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_content_length

from .lazyre import compiled_on_first_use

with compiled_on_first_use("marshmallow.validate", "yaml.reader"):  # start-up: see lazyre
    import_module("marshmallow")
    import_module("yaml")
from . import admin, errors, fixtures, persist
from .openapi import docs
from .routes import api
from .store import LOCAL_PAGE_CAP, PAGE_CAP, Registry

access_log = logging.getLogger("mockserver.access")

DEFAULTS: dict[str, Any] = {
    "FIXTURES": None,  # a fixtures folder; None = the default dataset shipped in the package
    "FIXTURE_CACHE": None,  # a folder for validated datasets (mockserver serve: the user's)
    # write a dataset validated afresh to FIXTURE_CACHE only when the jobs in
    # app.extensions[LATER] run (mockserver serve: once it answers), not in create_app
    "FIXTURE_CACHE_LATER": False,
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
}


# what Map.bind_to_environ reads from a request, besides its path, method and query string
HOST_KEYS = ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme", "SCRIPT_NAME",
             "HTTP_CONNECTION", "HTTP_UPGRADE")
PLAIN_SCHEMES = {"ws": "http", "wss": "https"}  # werkzeug's WebSocket schemes
BOUND_HOSTS = 64  # the Host header is the client's to choose: keep only so many
MATCHES = 4096  # routing results kept (MatchingAdapter): paths are the client's too
LATER = "mockserver.later"  # app.extensions key: jobs for whoever serves the app to run later


class MockRequest(Request):
    """Flask's request, reading a body of known length in one call.

    werkzeug reads a body through a LimitedStream, 64 KiB at a time until the stream
    runs dry: for the API's small bodies, 3% of a PUT's instructions and 7 to 10% of its
    server CPU time on either server. The limits and errors stay werkzeug's: 413 over
    MAX_CONTENT_LENGTH, ClientDisconnected for a short body; a chunked body (no
    Content-Length) still goes through werkzeug's stream.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        """The request body, as werkzeug's ``Request.stream`` gives it."""
        length = get_content_length(self.environ)
        if length is None:
            return super().stream
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        stream = self.environ["wsgi.input"]
        parts = [stream.read(length)]  # waitress and granian give it all in one read
        got = len(parts[0])
        while got < length:  # WSGI does not promise that: read on until the end
            part = stream.read(length - got)
            if not part:
                raise ClientDisconnected()
            parts.append(part)
            got += len(part)
        return io.BytesIO(b"".join(parts))


class MatchingAdapter(MapAdapter):
    """werkzeug's MapAdapter for one request, which remembers what its request matched,
    for the next request with the same host, path and method (in *matches*, at *key*).

    werkzeug walks its rules on every request: 8-12 us, 3-4% of a GET's server CPU time.
    What a path, method and host binding match never changes once the app serves (Flask
    allows no new rules then); redirects and errors are raised again each time, never kept.
    """

    def __init__(self, matches: dict[tuple[Any, ...], tuple[Rule, dict[str, Any]]],
                 key: tuple[Any, ...], *args: Any):
        super().__init__(*args)
        self._matches, self._key = matches, key

    def match(self, path_info: str | None = None, method: str | None = None,
              return_rule: bool = False, query_args: Any = None,
              websocket: bool | None = None) -> tuple[Any, Mapping[str, Any]]:
        """``MapAdapter.match``; the match of the request's own path and method, as Flask
        asks for it, remembered."""
        if path_info is not None or method is not None or websocket is not None \
                or not return_rule:
            return super().match(path_info, method, return_rule, query_args, websocket)
        found = self._matches.get(self._key)
        if found is None:
            found = super().match(return_rule=True, query_args=query_args)
            if len(self._matches) < MATCHES:
                self._matches[self._key] = found
        return found[0], dict(found[1])  # the arguments are the request's to change


class MockServer(Flask):
    """Flask, with four answers it gives per request remembered instead.

    Each costs about as much as a hook: whether a view or hook is a coroutine function
    (never changes), the URL map bound to the request's host, what a path and method
    matched there (MatchingAdapter), and the start of an external URL for that host (the
    same for every request of a client: only the path, method and query string are new).
    """

    request_class = MockRequest

    def __init__(self, import_name: str):
        super().__init__(import_name, static_folder=None)  # no static files: no /static route
        self._synchronous: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._bound: dict[tuple[Any, ...], MapAdapter] = {}
        self._matches: dict[tuple[Any, ...], tuple[Rule, dict[str, Any]]] = {}
        self._prefixes: dict[tuple[Any, ...], str] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ensure_sync, once per function."""
        found = self._synchronous.get(func)
        if found is None:
            found = self._synchronous[func] = super().ensure_sync(func)
        return found

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Flask's URL adapter, bound to a host once (Flask's own way: the first time), and
        never a WebSocket one.

        werkzeug matches a request that asks to upgrade to a WebSocket against WebSocket
        rules only: the API has none, so every such request got a 405 that named the
        wrong methods. The mock answers it as the plain HTTP request it also is.
        """
        adapter = self._bind(request)
        if adapter is not None and adapter.websocket:
            adapter = MapAdapter(self.url_map, adapter.server_name, adapter.script_name,
                                 adapter.subdomain, PLAIN_SCHEMES[adapter.url_scheme],
                                 adapter.path_info, adapter.default_method, adapter.query_args)
        return adapter

    def _bind(self, request: Request | None) -> MapAdapter | None:
        config = self.config
        if request is None or config["SERVER_NAME"] is not None or \
                config["TRUSTED_HOSTS"] is not None or self.subdomain_matching:
            return super().create_url_adapter(request)  # binding depends on more than HOST_KEYS
        host = _host(request.environ)
        bound = self._bound.get(host)
        if bound is None:
            bound = super().create_url_adapter(request)
            if len(self._bound) < BOUND_HOSTS:
                self._bound[host] = bound
            return bound
        return MatchingAdapter(self._matches, (host, request.path, request.method), self.url_map,
                               bound.server_name, bound.script_name, bound.subdomain,
                               bound.url_scheme, request.path, request.method,
                               request.query_string.decode("utf-8", "replace"))

    def external_url(self, endpoint: str, name: str, value: int) -> str:
        """``url_for(endpoint, **{name: value}, _external=True)`` as werkzeug sends it in a
        header (``iri_to_uri``'s URI), for an endpoint whose rule ends in the variable *name*.

        The URI before the value is built once per host (url_for and iri_to_uri were a
        fifth of a POST); an int's digits need no quoting, so the rest is the value as text.
        """
        key = (endpoint, name, *_host(request.environ))
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = iri_to_uri(url_for(endpoint, **{name: "0"}, _external=True)).removesuffix("0")
            if len(self._prefixes) < BOUND_HOSTS:
                self._prefixes[key] = prefix
        return f"{prefix}{int(value)}"


def _host(environ: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a URL built for this request depends on, besides the rule: its HOST_KEYS."""
    return tuple(environ.get(name) for name in HOST_KEYS)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the mock server. *config* overrides DEFAULTS (and any Flask setting)."""
    app = MockServer(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.json.sort_keys = False  # field order is part of the contract
    keys = fixtures.load_keys(app.config["KEYS"], strict=app.config["STRICT_KEYS"])
    journal = persist.FileJournal(app.config["DATA_DIR"]) if app.config["DATA_DIR"] else None
    later: list[Callable[[], None]] = []
    app.extensions[LATER] = later
    dataset = fixtures.load_dir(app.config["FIXTURES"], app.config["FIXTURE_CACHE"],
                                later.append if app.config["FIXTURE_CACHE_LATER"] else None)
    registry = app.extensions["mockserver"] = Registry(
        dataset, keys, page_cap=LOCAL_PAGE_CAP if app.config["LOCAL_API"] else PAGE_CAP,
        journal=journal)
    if journal is not None:
        journal.open(registry)  # replays the offices of the last run
    errors.register(app)
    app.register_blueprint(api)
    app.register_blueprint(docs)  # GET /openapi.yaml

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
        access_log.info('%s "%s %s%s" %s %.1fms', request.remote_addr, request.method,
                        request.path, f"?{query}" if query else "", response.status_code, elapsed)
        return response

    admin.init_app(app)  # after the timer, so the access log counts injected delays
    return app
