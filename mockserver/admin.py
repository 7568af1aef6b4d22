"""The control API under /__admin: reset, state, request journal, faults and clock (SPEC §5).

This is the test harness's side of the mock, never part of the Open Dental contract.
Every call is scoped to the office of its ``Authorization`` header's customer key, so
tests that use different keys never touch each other's data, clock, journal or faults.
Under strict keys the key pair follows the API's rules: an unlisted or disabled key gets
a 401 and creates nothing. Always, a ``ReadAll``-only key may read (GET) but not change
anything. ``reset?scope=all`` reaches every office: it needs the admin token
(``ADMIN_TOKEN``, sent as ``X-Mock-Admin-Token``) when one is set, and is off under strict
keys without one. ``--no-admin`` (``ADMIN_API = False``) turns it all off.

Its schemas are in adminschemas.py.
"""
from __future__ import annotations

import contextlib
import functools
import hmac
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from flask import Flask, Request, Response, current_app, g, request
from waitress.channel import ClientDisconnected
import werkzeug.exceptions
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from . import errors, fixtures
from .blueprints import Blueprint, warnings
from .harness import BODY_LIMIT, Fault, Harness, Received, journal_body
from .routes import ADMITTED, api_path, key_pair, registry
from .adminschemas import (ADMIN_TOKEN_HEADER, AdminTokenHeader, AdvanceSchema, ClockSchema,
                           DeletedSchema, FaultPath, FaultSchema, JournalEntrySchema, JournalQuery,
                           OfficeSchema, ResetQuery, ResetResult)
from .schemas import parse_json_object
from .store import (ALL_OTHERS, READ_ALL, RECORD_TYPES, BadRequest, Clock, NotFound, Office,
                    Unauthorized)

admin = Blueprint("admin", __name__, url_prefix="/__admin")

EXTENSION = "mockserver.admin"  # app.extensions key of the Harness
BODY_BYTES = 4 * BODY_LIMIT  # UTF-8: BODY_LIMIT characters never take more bytes
CLOCK_MIN, CLOCK_MAX = datetime(1900, 1, 1), datetime(9000, 1, 1)  # room for any "now - 14 days"
MASKED_KEY = "********"  # a developer key in the journal under strict keys


class ConnectionDropped(ClientDisconnected, ConnectionError):
    """Raised while sending a response that a ``drop`` fault swallows.

    Waitress closes the connection without writing a byte when the response body
    raises ClientDisconnected before its first chunk, so an HTTP client sees the server
    hang up (requests: ``ConnectionError``). Under granian the head goes out and the body
    is cut short of its Content-Length (requests: ``ChunkedEncodingError``). In process,
    Flask's test client raises this exception (a ``ConnectionError``) from the call itself.
    """


def harness() -> Harness:
    """The app's journals and faults."""
    return current_app.extensions[EXTENSION]


# --- hooks on /api/v1 requests ---------------------------------------------------------

def _dropped_body() -> Iterator[bytes]:
    raise ConnectionDropped("The mock dropped the connection (fault injection).")
    yield b""  # a generator: it raises when the server starts sending the body


def _apply(fault: Fault) -> Response | None:
    if fault.delay_ms:
        time.sleep(fault.delay_ms / 1000)
    if fault.drop:
        # a length that the body never delivers: the client cannot take it for an answer
        return Response(_dropped_body(), content_type="application/json", headers={"Content-Length": "1"})
    if fault.status is not None:
        message = fault.body if fault.body is not None else f"{HTTP_STATUS_CODES.get(fault.status, 'Error')}."
        return errors.error_response(fault.status, message)
    return None  # a delay only: the request goes on


def _admitted(customer: str) -> Response | None:
    """Journal an admitted /api/v1 request (after it is answered) and apply the first
    fault of its office that fires for it (routes.ADMITTED)."""
    # The office is created only once the request passes every check (routes): a
    # rejected request creates none. Over the office limit a new key keeps nothing.
    registry().check_room(customer)
    office = registry().find(customer)
    office_harness = harness().of(customer)
    fault = office_harness.trigger(request.method, api_path(request.path))
    office_time = office.clock.now() if office is not None else Clock().now()  # a new office's
    g.admin_journal = (customer, office_harness, office_time, datetime.now(timezone.utc), fault)
    return _apply(fault) if fault is not None else None


# request headers the journal keeps; X-Mock-Client is a label a client may send so that
# its requests can be told apart (the control page sends "page")
JOURNAL_HEADERS = {"Content-Type": "CONTENT_TYPE", "Authorization": "HTTP_AUTHORIZATION",
                   "X-Mock-Client": "HTTP_X_MOCK_CLIENT"}


def _captured_body(req: Request) -> tuple[bytes, int]:
    """The start of the request body (enough for BODY_LIMIT characters) and its size."""
    if "CONTENT_LENGTH" not in req.environ and "HTTP_TRANSFER_ENCODING" not in req.environ:
        return b"", 0  # HTTP/1.1: no body (most GETs); werkzeug would still set up a stream
    try:
        raw = req.get_data(cache=True)
    except (RequestEntityTooLarge, werkzeug.exceptions.ClientDisconnected):
        return b"", req.content_length or 0  # the view answered 400 already
    return raw[:BODY_BYTES], len(raw)


def _journal_headers(environ: dict[str, Any], customer: str) -> dict[str, str]:
    """The JOURNAL_HEADERS the client sent; under strict keys, where keys are secrets
    the keys file hands out, the developer key in ``Authorization`` is masked (an
    admitted request's header holds *customer*'s key pair)."""
    headers = {name: environ[key] for name, key in JOURNAL_HEADERS.items() if key in environ}
    if "Authorization" in headers and registry().keys.strict:
        headers["Authorization"] = f"ODFHIR {MASKED_KEY}/{customer}"
    return headers


def _after_api_request(response: Response) -> Response:
    context = g.pop("admin_journal", None)
    if context is None:
        return response
    customer, office_harness, office_time, wall_time, fault = context
    req = request
    environ = req.environ
    body, size = _captured_body(req)
    dropped = fault is not None and fault.drop
    office_harness.record(Received(
        office_time, wall_time, req.method, req.path, req.query_string, _journal_headers(environ, customer),
        body, size, None if dropped else response.status_code,
        fault.id if fault is not None else None, warnings(),
        {} if dropped else _response_headers(response),
        b"" if dropped or response.is_streamed else response.get_data()[:BODY_BYTES]))
    return response


def _response_headers(response: Response) -> dict[str, str]:
    """The answer's headers, a repeated one (X-Mock-Warning) joined by ", " as HTTP does."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _journal_entry(entry_id: int, received: Received) -> dict[str, Any]:
    """A journal entry in JournalEntrySchema's form."""
    return {"id": entry_id, "time": received.time,
            "wall_time": received.wall_time.isoformat(timespec="milliseconds"),
            "method": received.method, "path": received.path, "query": received.query(),
            "headers": received.headers, "body": journal_body(received.body, received.body_size),
            "body_size": received.body_size, "status": received.status, "fault": received.fault,
            "warnings": received.warnings,
            "response": None if received.status is None else {
                "status": received.status, "headers": received.response_headers,
                "body": journal_body(received.response_body, len(received.response_body))}}


# --- the control views -----------------------------------------------------------------

def control(summary: str, *, raw_body: bool = False, raw_response: bool = False) -> Callable:
    """Declare a control view: scoped to the caller's office, and documented with
    *summary*. Before anything else is read, the key pair must pass the key rules
    (``caller``); a view gets the caller's customer key first. *raw_body*/*raw_response*: fixture
    documents, any JSON object, which no schema describes."""
    any_object = {"content": {"application/json": {"schema": {"type": "object"}}}}

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(caller(), *args, **kwargs)
        doc: dict[str, Any] = {"operationId": view.__name__, "summary": summary,
                               "description": view.__doc__}
        if raw_body:
            doc["requestBody"] = {"required": True, **any_object}
        if raw_response:
            doc["responses"] = {"200": {"description": "OK", **any_object}}
        return admin.doc(**doc)(wrapper)
    return decorate


def caller() -> str:
    """The customer key of a control call whose key pair passes the key rules
    (``KeyPolicy.check_control``: 401), with ``ReadAll`` for a GET and ``AllOthers`` for a
    change."""
    developer, customer = key_pair()
    registry().keys.check_control(developer, customer,
                                  READ_ALL if request.method == "GET" else ALL_OTHERS)
    return customer


def require_admin_token(what: str, sent: str) -> None:
    """401 unless the caller may reach beyond its own office (*what*, for the message):
    with an admin token configured, the request must have sent it (*sent*); without one,
    only a server without strict keys (the single-user sandbox) allows it."""
    token = current_app.config["ADMIN_TOKEN"]
    if token is None:
        if registry().keys.strict:
            raise Unauthorized(
                f"{what} is off under strict keys: start the server with --admin-token "
                f"(or MOCKSERVER_ADMIN_TOKEN) and send the token in the {ADMIN_TOKEN_HEADER} header.")
        return
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise Unauthorized(f"{what} needs the admin token, sent in the {ADMIN_TOKEN_HEADER} header.")


def _clock(office: Office) -> dict[str, Any]:
    return {"now": office.clock.now(), "frozen": office.clock.frozen}


@contextlib.contextmanager
def _clock_of(customer: str) -> Iterator[Office]:
    """The caller's office, locked: the API reads the clock under this lock."""
    office = registry().office(customer)
    with office.lock:
        yield office


def _check_clock(when: datetime) -> None:
    if not CLOCK_MIN <= when < CLOCK_MAX:
        raise BadRequest(f"The office clock must stay from {CLOCK_MIN:%Y-%m-%d %H:%M:%S} "
                         f"to before {CLOCK_MAX:%Y-%m-%d %H:%M:%S}.")


@admin.route("/reset", methods=["POST"])
@control("Restart this office (or every office) from the fixtures: data, clock, journal, faults")
@admin.arguments(ResetQuery, location="query", as_kwargs=True)
@admin.arguments(AdminTokenHeader, location="headers", as_kwargs=True)
@admin.response(200, ResetResult)
def resetOffice(customer: str, scope: str, token: str) -> Any:
    """Forget the office; its next request starts from the fixtures. ``scope=all``
    needs the server's admin token, when it has one, in the X-Mock-Admin-Token header
    (and is off under strict keys without one)."""
    if scope == "all":
        require_admin_token("Resetting every office (scope=all)", token)
    target = None if scope == "all" else customer
    registry().reset(target)
    harness().reset(target)
    return {"scope": scope}


def _summary(office: Office) -> dict[str, Any]:
    return {"customer_key": office.key, "version": office.version, "clock": _clock(office),
            "counts": {kind: office.count(kind) for kind in RECORD_TYPES}}


@admin.route("/office", methods=["GET"])
@control("This office at a glance: version, clock, records of each resource")
@admin.response(200, OfficeSchema)
def getOffice(customer: str) -> Any:
    """The office's customer key, version, clock and counts."""
    return _summary(registry().office(customer))


@admin.route("/offices", methods=["GET"])
@control("Every office of the server (the admin token, when the server has one)")
@admin.arguments(AdminTokenHeader, location="headers", as_kwargs=True)
@admin.response(200, OfficeSchema(many=True))
def listOffices(customer: str, token: str) -> Any:
    """Every office, in the order first used. It reaches beyond the caller's office: it
    needs the admin token, in X-Mock-Admin-Token, when the server has one (and is off
    under strict keys without one)."""
    require_admin_token("Listing every office", token)
    return [_summary(office) for office in registry().offices()]


@admin.route("/state", methods=["GET"])
@control("Export this office's data in fixture form", raw_response=True)
def getState(customer: str) -> Response:
    """The office's records, as fixture documents with absolute timestamps."""
    return current_app.json.response(fixtures.export_office(registry().office(customer)))


@admin.route("/state", methods=["PUT"])
@control("Replace this office's data (fixture form); its clock, journal and faults stay",
         raw_body=True, raw_response=True)
def putState(customer: str) -> Response:
    """Make fixture documents the office's data: the resources given replace the
    office's, the others stay; a 400 leaves it unchanged."""
    documents = parse_json_object(request.get_data())
    office = registry().office(customer)
    try:
        dataset = fixtures.parse_documents({**fixtures.export_office(office), **documents},
                                           origin="state")
    except fixtures.FixtureError as exc:
        raise BadRequest(str(exc)) from None
    try:
        replacement = registry().new_office(customer, dataset, clock=office.clock)
    except OverflowError:
        raise BadRequest("state: a relative timestamp is out of range from the office clock.") from None
    registry().put(replacement)
    return current_app.json.response(fixtures.export_office(replacement))


@admin.route("/requests", methods=["GET"])
@control("This office's /api/v1 requests, oldest first (the last 1000)")
@admin.arguments(JournalQuery, location="query", as_kwargs=True)
@admin.response(200, JournalEntrySchema(many=True))
def listRequests(customer: str, **params: Any) -> Any:
    """The journal, optionally only one method and a path glob."""
    return [_journal_entry(*entry) for entry in harness().of(customer).entries(**params)]


@admin.route("/requests", methods=["DELETE"])
@control("Empty this office's journal")
@admin.response(200, DeletedSchema)
def clearRequests(customer: str) -> Any:
    """Forget the office's journal."""
    return {"deleted": harness().of(customer).clear_journal()}


@admin.route("/faults", methods=["POST"])
@control("Add a fault for this office's matching /api/v1 requests")
@admin.arguments(FaultSchema, location="json")
@admin.response(201, FaultSchema)
def createFault(customer: str, spec: dict[str, Any]) -> Any:
    """Add a fault; it applies after the faults added before it."""
    return harness().of(customer).add_fault(spec)


@admin.route("/faults", methods=["GET"])
@control("This office's active faults")
@admin.response(200, FaultSchema(many=True))
def listFaults(customer: str) -> Any:
    """The faults in the order they are tried."""
    return harness().of(customer).faults()


@admin.route("/faults", methods=["DELETE"])
@control("Remove every fault of this office")
@admin.response(200, DeletedSchema)
def clearFaults(customer: str) -> Any:
    """Remove all of the office's faults."""
    return {"deleted": len(harness().of(customer).remove_faults())}


@admin.route("/faults/<FaultId>", methods=["DELETE"])
@control("Remove one fault")
@admin.arguments(FaultPath, location="path", as_kwargs=True)
@admin.response(200, FaultSchema)
def deleteFault(customer: str, FaultId: int) -> Any:
    """Remove one fault; 404 if the office has no such fault."""
    removed = harness().of(customer).remove_faults(FaultId)
    if not removed:
        raise NotFound("Fault not found.")
    return removed[0]


@admin.route("/clock", methods=["GET"])
@control("This office's clock")
@admin.response(200, ClockSchema)
def getClock(customer: str) -> Any:
    """The office's now (every "now" of the API) and whether it is frozen."""
    return _clock(registry().office(customer))


@admin.route("/clock", methods=["PUT"])
@control("Set and/or freeze this office's clock")
@admin.arguments(ClockSchema, location="json")
@admin.response(200, ClockSchema)
def setClock(customer: str, changes: dict[str, Any]) -> Any:
    """Move the clock to ``now`` and/or freeze (``frozen: true``) or release it."""
    with _clock_of(customer) as office:
        if "now" in changes:
            _check_clock(changes["now"])
        office.clock.set(changes.get("now"), changes.get("frozen"))
    return _clock(office)


@admin.route("/clock/advance", methods=["POST"])
@control("Move this office's clock forward (or back)")
@admin.arguments(AdvanceSchema, location="json", as_kwargs=True)
@admin.response(200, ClockSchema)
def advanceClock(customer: str, by: timedelta) -> Any:
    """Advance the clock by seconds or a duration such as "3d"."""
    with _clock_of(customer) as office:
        try:
            target = office.clock.now() + by
        except OverflowError:  # beyond datetime's range: the same clear 400
            target = CLOCK_MAX
        _check_clock(target)
        office.clock.advance(by)
    return _clock(office)


def init_app(app: Flask) -> None:
    """Install the control API and its /api/v1 hooks, unless ``ADMIN_API`` is off."""
    if not app.config.get("ADMIN_API", True):
        return
    app.extensions[EXTENSION] = Harness()
    app.register_blueprint(admin)
    app.extensions.setdefault(ADMITTED, []).append(_admitted)
    app.after_request(_after_api_request)
