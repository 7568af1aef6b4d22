"""``mockserver serve --proxy URL``: every /api/v1 request goes to a real office and is
answered with the office's response, checked against the mock's OpenAPI document.

The forwarding runs as one of routes.ADMITTED's functions, after the control API's (so
an exchange is journaled in ``/__admin/requests`` with the upstream's status, and faults
still apply): a request is forwarded once its Authorization header names a key pair,
before the mock's own permission, Content-Type and version checks. Responses that the
document does not describe (an undocumented status or media type, a body that does not
match the operation's schema) are kept per office and listed by
``GET /__admin/deviations``.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from datetime import datetime, timezone
from typing import Any

import requests
from flask import Flask, Response, current_app, request
from jsonschema import Draft202012Validator

from . import admin
from .errors import error_response
from .routes import ADMITTED, api_path
from .store import get_or_create
from .upstream import TIMEOUT, media_type_of

EXTENSION = "mockserver.proxy"
DEVIATIONS_KEPT = 1000  # per office; the oldest go first
ERRORS_PER_BODY = 5  # schema errors listed per response
# headers that belong to one connection (RFC 9110 7.6.1), and those requests recomputes
NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                           "te", "trailer", "transfer-encoding", "upgrade", "host",
                           "content-length", "content-encoding"})


class Proxy:
    """The upstream, the OpenAPI document's operations, and the deviations by office."""

    def __init__(self, base_url: str, document: dict[str, Any]):
        self.base_url = base_url.rstrip("/")
        self.components = document.get("components", {})
        self.operations = {operation["operationId"]: operation
                           for methods in document["paths"].values() for operation in methods.values()}
        self._local = threading.local()  # a requests.Session per server thread
        self._deviations: dict[str, deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def forward(self) -> requests.Response:
        """The current request, sent to the upstream (no retries: the client sees what
        the office answers)."""
        path = api_path(request.path) or "/"
        url = self.base_url + path + (f"?{request.query_string.decode('latin-1')}"
                                      if request.query_string else "")
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in NOT_FORWARDED}
        return self.session().request(request.method, url, headers=headers,
                                      data=request.get_data(), timeout=TIMEOUT,
                                      allow_redirects=False)

    def problems(self, operation_id: str | None, response: requests.Response) -> list[str]:
        """How *response* departs from the document's description of the operation."""
        status = str(response.status_code)
        if operation_id is None:
            return [] if response.status_code in (404, 405) else [
                f"answered {status} where the document has no operation"]
        documented = self.operations[operation_id].get("responses", {})
        if status not in documented:
            return [f"status {status} is not documented (documented: {', '.join(documented)})"]
        described = self._resolved(documented[status])
        content = described.get("content")
        if not content:
            return []
        sent = media_type_of(response)
        if sent not in content:
            return [f"Content-Type {sent or '(none)'} is not documented ({', '.join(content)})"]
        try:
            body = response.json()
        except ValueError:
            return ["body is not JSON"]
        schema = {**content[sent].get("schema", {}), "components": self.components}
        return [f"body{_place(error.absolute_path)}: {error.message}"
                for error in itertools.islice(Draft202012Validator(schema).iter_errors(body),
                                              ERRORS_PER_BODY)]

    def _resolved(self, item: dict[str, Any]) -> dict[str, Any]:
        """A response object, following a ``#/components/responses/...`` reference."""
        ref = item.get("$ref", "")
        return self.components["responses"][ref.rsplit("/", 1)[1]] if ref else item

    def note(self, customer: str, operation_id: str | None, status: int, problems: list[str]) -> None:
        kept = get_or_create(self._deviations, self._lock, customer,
                             lambda _: deque(maxlen=DEVIATIONS_KEPT))
        kept.append({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                     "method": request.method, "path": request.path,
                     "query": request.args.to_dict(), "operation": operation_id,
                     "status": status, "problems": problems})

    def deviations(self, customer: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._deviations.get(customer, ()))

    def clear(self, customer: str) -> int:
        with self._lock:
            return len(self._deviations.pop(customer, ()))


def _place(path: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def proxy() -> Proxy:
    return current_app.extensions[EXTENSION]


def _forwarded(customer: str) -> Response:
    """Answer an admitted /api/v1 request with the upstream's response (routes.ADMITTED)."""
    upstream = proxy()
    try:
        response = upstream.forward()
    except requests.RequestException as exc:
        return error_response(502, f"The upstream {upstream.base_url} cannot be reached: "
                                   f"{type(exc).__name__}.")
    if current_app.config["ADMIN_API"]:  # deviations are read through the control API only
        operation = request.endpoint.rsplit(".", 1)[-1] if request.url_rule is not None else None
        problems = upstream.problems(operation, response)
        if problems:
            upstream.note(customer, operation, response.status_code, problems)
    headers = [(name, value) for name, value in response.headers.items()
               if name.lower() not in NOT_FORWARDED]
    return Response(response.content, status=response.status_code, headers=headers)


def getDeviations() -> Response:
    """The proxied responses of the caller's office that did not match the document."""
    return current_app.json.response(proxy().deviations(admin.caller()))


def deleteDeviations() -> Response:
    """Forget the caller's office's deviations."""
    return current_app.json.response({"deleted": proxy().clear(admin.caller())})


def init_app(app: Flask) -> None:
    """Forward /api/v1 to ``app.config["PROXY"]``, and serve ``/__admin/deviations``
    (with the control API)."""
    from .openapi import build

    app.extensions[EXTENSION] = Proxy(app.config["PROXY"], build("api"))
    app.extensions.setdefault(ADMITTED, []).append(_forwarded)
    if app.config["ADMIN_API"]:
        app.add_url_rule("/__admin/deviations", view_func=getDeviations, methods=["GET"])
        app.add_url_rule("/__admin/deviations", view_func=deleteDeviations, methods=["DELETE"])
