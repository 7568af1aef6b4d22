"""The one place where exceptions become HTTP responses: always a JSON string.

Open Dental answers errors with a plain message; we send it as a JSON string with
``Content-Type: application/json`` for every 4xx, routing errors (404, 405) included,
so no client ever gets an HTML page.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from .store import ApiError, BadRequest, NotFound, Unauthorized, Unavailable

log = logging.getLogger(__name__)
BODY_LIMIT_TEXT = "16.8M"  # apiimplementation: "maximum content length of 16.8M characters"
BODY_TOO_LARGE = f"Request body exceeds the {BODY_LIMIT_TEXT} character limit."


def error_response(status: int, message: str) -> Response:
    """A response whose body is *message* as a JSON string."""
    response = current_app.json.response(message)
    response.status_code = status
    return response


# the HTTP status of each kind of store error
STATUSES: dict[type[ApiError], int] = {BadRequest: 400, Unauthorized: 401, NotFound: 404,
                                       Unavailable: 503}


def status_of(error: ApiError) -> int:
    """The HTTP status of a store error."""
    return next(status for kind, status in STATUSES.items() if isinstance(error, kind))


def _api_error(error: ApiError) -> Response:
    status = status_of(error)
    response = error_response(status, error.message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'ODFHIR realm="Open Dental API"'
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        message = f"The resource {request.path} does not exist."
    elif status == 405:
        # werkzeug collects the methods in a set: sort them for a stable message and Allow
        error.valid_methods = sorted(error.valid_methods or ())  # type: ignore[attr-defined]
        message = f"Method {request.method} is not allowed here. Allowed: {', '.join(error.valid_methods)}."
    elif status == 413:  # Open Dental's status vocabulary has no 413
        status, message = 400, BODY_TOO_LARGE
    elif isinstance(error, ClientDisconnected):
        message = "Request body is shorter than its Content-Length."
    else:
        message = f"{error.name}."
    response = error_response(status, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. Allow on 405
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "Internal server error.")


def init_app(app: Flask) -> None:
    """Install the JSON-string error handlers on *app*."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
