"""The control API (/__admin, SPEC §5), in process: every endpoint, its bad input, isolation."""
from __future__ import annotations

import json

from datetime import datetime, timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app
from openapi_spec_validator import validate

from mockserver import create_app
from mockserver.admin import CLOCK_MAX, ConnectionDropped
from mockserver.harness import MAX_FAULTS
from mockserver.pytest_plugin import ControlError, MockOffice, flask_transport

from conftest import AUTH, HEADERS, Api

CONTROL_CALLS = [  # (method, path) of every control endpoint
    ("POST", "/__admin/reset"), ("GET", "/__admin/state"), ("PUT", "/__admin/state"),
    ("GET", "/__admin/requests"), ("DELETE", "/__admin/requests"), ("POST", "/__admin/faults"),
    ("GET", "/__admin/faults"), ("DELETE", "/__admin/faults"), ("DELETE", "/__admin/faults/1"),
    ("GET", "/__admin/clock"), ("PUT", "/__admin/clock"), ("POST", "/__admin/clock/advance"),
    ("GET", "/__admin/office"), ("GET", "/__admin/offices")]
NEW_TASK = {"TaskListNum": 74, "Descript": "Order gloves", "UserNum": 1}


@pytest.fixture
def control(client) -> MockOffice:
    """The control API for the office of the ``api`` fixture's key pair."""
    return MockOffice(flask_transport(client), "", customer_key="custkey", developer_key="devkey")


@pytest.fixture
def other(client) -> MockOffice:
    """Another office (customer key) of the same server."""
    return MockOffice(flask_transport(client), "", customer_key="other")


def rejected(call, *args, **kwargs) -> str:
    """The message of a control call that must fail with 400."""
    with pytest.raises(ControlError) as caught:
        call(*args, **kwargs)
    assert caught.value.status == 400, caught.value
    assert isinstance(caught.value.message, str)
    return caught.value.message


@pytest.fixture
def raw(app) -> FlaskClient:
    """A plain test client: injected faults answer 5xx, which other helpers would reject."""
    return FlaskClient(app, app.response_class)


def get(raw, path: str, auth: str = AUTH):
    """GET /api/v1{path} through a plain client."""
    return raw.get(f"/api/v1{path}", headers={**HEADERS, "Authorization": auth})


def descripts(api, **query) -> set[str]:
    return {t["Descript"] for t in api.get("/tasks", query={"TaskListNum": 74, **query}).get_json()}


# --- scope and auth -------------------------------------------------------------------

@pytest.mark.parametrize("method,path", CONTROL_CALLS)
def test_control_needs_a_key_pair(client, method, path):
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert "Authorization header is required" in response.get_json()


def test_control_without_strict_keys_serves_a_disabled_key():
    # a test can still set up, and read the journal of, an office whose key it disabled
    app = create_app({"TESTING": True, "KEYS": {"customers": {"gone": {"disabled": "true"}}}})
    control = MockOffice(flask_transport(app.test_client()), "", "gone")
    assert control.advance("1d")["frozen"] is False
    assert control.state()["tasks"]


def test_control_unknown_path_is_json_404(client):
    response = client.get("/__admin/nothing", headers={"Authorization": AUTH})
    assert response.status_code == 404
    assert response.get_json() == "The resource /__admin/nothing does not exist."


def test_control_is_off_with_ADMIN_API_false():
    app = create_app({"TESTING": True, "ADMIN_API": False})
    client = app.test_client()
    for method, path in CONTROL_CALLS:
        response = client.open(path, method=method, headers={"Authorization": AUTH}, json={})
        assert response.status_code == 404 and response.mimetype == "application/json"
    assert Api(client).get("/tasks/1408").status_code == 200
    assert "mockserver.admin" not in app.extensions


def test_serve_no_admin_turns_the_control_api_off(monkeypatch):
    from click.testing import CliRunner

    from mockserver import cli

    served = []

    class FakeServer:
        effective_port = 1

        def __init__(self, app, *args):
            served.append(app)

        def run(self):
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(cli, "WaitressServer", FakeServer)
    serve = ["serve", "--server", "waitress", "--quiet"]
    assert CliRunner().invoke(cli.main, [*serve, "--no-admin"]).exit_code == 0
    assert CliRunner().invoke(cli.main, serve).exit_code == 0
    assert [app.config["ADMIN_API"] for app in served] == [False, True]


# --- reset ----------------------------------------------------------------------------

def test_resetOffice_restores_data_clock_journal_and_faults(api, control):
    num = api.post("/tasks", json=NEW_TASK).get_json()["TaskNum"]
    control.advance("3d")
    control.fault(path="/nothing", status=503)
    assert control.reset() is None
    assert api.get(f"/tasks/{num}").status_code == 404
    assert control.faults() == []
    assert [r["path"] for r in control.requests()] == [f"/api/v1/tasks/{num}"]
    assert control.clock()["now"] < (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")


def test_resetOffice_leaves_other_offices(api, control, other):
    other_api = api.as_key("ODFHIR devkey/other")
    other.set_clock("2030-01-01 00:00:00", frozen=True)
    other_api.post("/tasks", json=NEW_TASK)
    other.fault(path="/nothing", status=503)
    control.reset()
    assert "Order gloves" in descripts(other_api)
    assert other.clock() == {"now": "2030-01-01 00:00:00", "frozen": True}
    assert len(other.faults()) == 1 and len(other.requests()) == 2


def test_resetOffice_scope_all_resets_every_office(api, control, other):
    api.as_key("ODFHIR devkey/other").post("/tasks", json=NEW_TASK)
    other.set_clock("2030-01-01 00:00:00", frozen=True)
    assert control.control("POST", "/reset", scope="all") == {"scope": "all"}
    assert other.clock()["frozen"] is False
    assert other.requests() == []
    assert "Order gloves" not in descripts(api.as_key("ODFHIR devkey/other"))


@pytest.mark.parametrize("query,message", [
    ({"scope": "everything"}, "scope must be office or all."),
    ({"scop": "all"}, "scop is not a known field.")])
def test_resetOffice_bad_query(control, query, message):
    assert rejected(control.control, "POST", "/reset", **query) == message


# --- state ----------------------------------------------------------------------------

def test_getState_exports_fixture_form(api, control):
    num = api.post("/tasks", json=NEW_TASK).get_json()["TaskNum"]
    state = control.state()
    assert state["office"] == {"version": "24.4.22", "utc_offset": "-07:00"}
    assert {t["TaskNum"] for t in state["tasks"]} >= {1408, 9004, num}
    assert {*state} == {"office", "tasks", "tasknotes", "tasklists", "definitions", "userods", "patients",
                        "appointments"}


def test_putState_replaces_the_data_and_keeps_the_clock(api, control, other):
    control.set_clock("2031-05-01 10:00:00", frozen=True)
    state = control.state()
    state["tasks"] = [{"TaskNum": 5, "TaskListNum": 74, "Descript": "Only task", "UserNum": 1,
                       "DateTimeOriginal": "now-1d"}]
    state["tasknotes"] = []
    result = control.load_state(state)
    assert [t["DateTimeOriginal"] for t in result["tasks"]] == ["2031-04-30 10:00:00"]
    assert descripts(api) == {"Only task"}
    assert api.post("/tasks", json=NEW_TASK).get_json()["TaskNum"] == 6
    assert control.clock() == {"now": "2031-05-01 10:00:00", "frozen": True}
    assert 1408 in {t["TaskNum"] for t in other.state()["tasks"]}  # other offices untouched


def test_putState_with_some_resources_keeps_the_others(api, control):
    before = control.state()
    users = [*before["userods"], {"UserNum": 77, "UserName": "New"}]
    after = control.load_state({"userods": users})
    assert [u["UserNum"] for u in after["userods"]] == [u["UserNum"] for u in users]
    assert {k: v for k, v in after.items() if k != "userods"} == \
        {k: v for k, v in before.items() if k != "userods"}
    assert api.post("/tasknotes", json={"TaskNum": 64, "UserNum": 77, "Note": "Hi"}).status_code == 201


def test_putState_round_trip_is_identity(control):
    before = control.state()
    assert control.load_state(before) == before


def test_putState_keeps_journal_and_faults(api, control):
    control.fault(path="/nothing", status=503)
    api.get("/tasks/1408")
    control.load_state(control.state())
    assert len(control.faults()) == 1 and len(control.requests()) == 1


@pytest.mark.parametrize("documents,message", [
    ({"tasks": [{"TaskNum": 1, "Descript": 5}]},
     "state/tasks.yaml: record 1 (TaskNum 1): Descript: 5 is not text; valid: text (quote a value "
     "that YAML would read as a number or a list)"),
    ({"tasks": [{"TaskNum": 1, "TaskListNum": 999}]},
     "state/tasks.yaml: record 1 (TaskNum 1): TaskListNum: 999 does not resolve; valid: a TaskListNum "
     "of tasklists.yaml, or 0 (the main trunk)"),
    ({"tasks": [{"TaskNum": 1}, {"TaskNum": 1}]},
     "state/tasks.yaml: record 2 (TaskNum 1): TaskNum: 1 is used twice (first by record 1); each "
     "record needs its own"),
    ({"tasks": {"TaskNum": 1}}, "state/tasks.yaml: must be a list of records"),
    ({"tasks": [7]}, "state/tasks.yaml: record 1: must be a mapping of field to value"),
    ({"tasks": [{"TaskNum": 1, "Color": "red"}]},
     "state/tasks.yaml: record 1 (TaskNum 1): Color: not a field of tasks; the fields are TaskNum, "
     "TaskListNum, DateTask, KeyNum, Descript, TaskStatus, IsRepeating, DateType, FromNum, "
     "ObjectType, DateTimeEntry, UserNum, DateTimeFinished, PriorityDefNum, ReminderGroupId, "
     "ReminderType, ReminderFrequency, DateTimeOriginal, SecDateTEdit, DescriptOverride, IsReadOnly"),
    ({"widgets": []}, "state: unknown resource 'widgets'; expected tasks, tasknotes, "
                      "tasklists, definitions, userods, patients, appointments, office"),
    ({"office": {"version": 24}},
     'state/office.yaml: version: 24 is not a version; valid: a quoted version such as "24.4.13"'),
    ({"tasks": [{"TaskNum": 1, "DateTimeOriginal": "now-99999999999d"}]},
     'state/tasks.yaml: record 1 (TaskNum 1): DateTimeOriginal: "now-99999999999d" is too far from '
     'now; valid: yyyy-MM-dd HH:mm:ss such as "2024-12-10 13:08:47", or a time relative to the '
     "office clock: now, now-3d, now-3d4h, now-2h30m, now+1d"),
])
def test_putState_rejects_bad_documents_and_keeps_the_data(api, control, documents, message):
    num = api.post("/tasks", json=NEW_TASK).get_json()["TaskNum"]
    before = control.state()
    # the first problem (the office's notes, kept, name tasks that are gone: said after it)
    assert rejected(control.load_state, documents).splitlines()[0] == message
    assert control.state() == before
    assert api.get(f"/tasks/{num}").status_code == 200


@pytest.mark.parametrize("raw,message", [
    (b"", "Request body is required: a JSON object."),
    (b"[]", "Request body must be a JSON object."),
    (b"tasks: []", "Request body is not valid JSON.")])
def test_putState_rejects_non_objects(client, raw, message):
    response = client.put("/__admin/state", data=raw, headers={"Authorization": AUTH})
    assert (response.status_code, response.get_json()) == (400, message)


def test_putState_relative_time_beyond_the_calendar_is_400(control):
    control.set_clock("8999-06-01 00:00:00", frozen=True)
    documents = {"tasks": [{"TaskNum": 1, "DateTimeOriginal": "now+999999d"}], "tasknotes": []}
    assert "out of range" in rejected(control.load_state, documents)
    assert 1408 in {t["TaskNum"] for t in control.state()["tasks"]}


# --- journal --------------------------------------------------------------------------

def test_listRequests_records_what_the_client_sent(api, control):
    control.set_clock("2030-01-02 03:04:05", frozen=True)
    api.post("/tasks", json=NEW_TASK, query={"DateFormatString": "MM/dd/yyyy"})
    api.get("/tasks/abc", headers={"Content-Type": "text/plain"})
    created, bad = control.requests()
    assert created["method"] == "POST" and created["path"] == "/api/v1/tasks"
    assert created["query"] == {"DateFormatString": "MM/dd/yyyy"}
    assert created["headers"] == {"Content-Type": "application/json", "Authorization": AUTH}
    assert created["body"] == NEW_TASK and created["status"] == 201
    assert created["time"] == "2030-01-02 03:04:05" and created["wall_time"].endswith("+00:00")
    assert created["fault"] is None
    assert bad["status"] == 400 and bad["headers"]["Content-Type"] == "text/plain"
    assert bad["id"] > created["id"]


def test_listRequests_body_is_text_unless_json(api, control):
    api.post("/tasks", data=b"Descript=x")
    api.post("/tasks", data=b"\xff\xfe")
    api.post("/tasks", data=b'{"a": NaN}')
    api.post("/tasks", data=b'{"a": 1e999}')
    api.post("/tasks", data=b'[1.5, "x"]')
    assert [r["body"] for r in control.requests()] == [
        "Descript=x", "\ufffd\ufffd", '{"a": NaN}', '{"a": 1e999}', [1.5, "x"]]
    assert [r["body_size"] for r in control.requests()] == [10, 2, 10, 12, 10]


def test_listRequests_keeps_a_long_body_as_truncated_text(api, control):
    api.post("/tasks", json={"Descript": "x" * 70_000})
    entry = control.requests()[0]
    assert len(entry["body"]) == 64 * 1024 and entry["body_size"] > 70_000


@pytest.mark.parametrize("char", ["x", "\u00e9", "\u20ac", "\U0001f600"])  # 1 to 4 UTF-8 bytes
def test_listRequests_truncates_multibyte_text_at_the_character_limit(api, control, char):
    text = "[" + char * 70_000  # not JSON: kept as text
    api.post("/tasks", data=text.encode())
    entry = control.requests()[0]
    assert entry["body"] == text[:64 * 1024] and entry["body_size"] == len(text.encode())


def test_listRequests_records_a_get_without_a_body(api, control):
    api.get("/tasks/1408")
    entry = control.requests()[0]
    assert (entry["body"], entry["body_size"], entry["query"]) == (None, 0, {})


def test_listRequests_records_a_body_over_the_limit_without_it():
    app = create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 10})
    client = app.test_client()
    response = client.post("/api/v1/tasks", data=b"x" * 100, headers=HEADERS)
    assert response.status_code == 400
    entry = MockOffice(flask_transport(client), "", "custkey").requests()[0]
    assert (entry["status"], entry["body"], entry["body_size"]) == (400, None, 100)


def test_listRequests_records_a_body_cut_short_as_a_400():
    # the client promised more body than it sent (it went away): the view's 400 stands,
    # and journaling the body afterwards must not turn it into a 500
    app = create_app()
    environ = EnvironBuilder("/api/v1/tasks", method="POST", headers=HEADERS,
                             data=b'{"TaskListNum": 1, "Descript": "x", "UserNum": 1}').get_environ()
    environ["CONTENT_LENGTH"] = "100"
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    assert (status, json.loads(b"".join(body))) == (
        "400 BAD REQUEST", "Request body is shorter than its Content-Length.")
    entry = MockOffice(flask_transport(app.test_client()), "", "custkey").requests()[0]
    assert (entry["status"], entry["body"], entry["body_size"]) == (400, None, 100)


def test_listRequests_filters_by_method_and_path(api, control):
    api.get("/tasks/1408")
    api.get("/tasks")
    api.post("/tasks", json=NEW_TASK)
    assert [r["path"] for r in control.requests(method="GET")] == ["/api/v1/tasks/1408", "/api/v1/tasks"]
    assert [r["method"] for r in control.requests(path="/tasks")] == ["GET", "POST"]
    assert len(control.requests(path="/api/v1/tasks/*")) == 1
    assert control.requests(method="PUT") == []


def test_listRequests_skips_control_calls_and_anonymous_requests(client, api, control):
    control.clock()
    api.get("/tasks/1408", headers={"Authorization": None})
    client.get("/api/v1/tasks/1408", headers={"Authorization": "Basic abc"})
    assert control.requests() == []


def test_listRequests_is_bounded(app, api, control):
    app.extensions["mockserver.admin"].journal_size = 3
    for num in (1408, 6857, 9004, 9027):
        api.get(f"/tasks/{num}")
    assert [r["path"][-4:] for r in control.requests()] == ["6857", "9004", "9027"]


def test_listRequests_is_per_office(api, control, other):
    api.get("/tasks/1408")
    api.as_key("ODFHIR devkey/other").get("/tasks/6857")
    assert [r["path"] for r in control.requests()] == ["/api/v1/tasks/1408"]
    assert [r["path"] for r in other.requests()] == ["/api/v1/tasks/6857"]


def test_listRequests_records_requests_of_a_disabled_key():
    app = create_app({"TESTING": True, "KEYS": {"customers": {"custkey": {"disabled": "true"}}}})
    client = app.test_client()
    client.get("/api/v1/tasks/1408", headers=HEADERS)
    control = MockOffice(flask_transport(client), "", "custkey")
    assert [r["status"] for r in control.requests()] == [401]


@pytest.mark.parametrize("query,message", [
    ({"method": "get"}, "method must be one of: *, GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS."),
    ({"path": ""}, "path must be 1 to 1000 characters."),
    ({"status": "200"}, "status is not a known field.")])
def test_listRequests_bad_query(control, query, message):
    assert rejected(control.control, "GET", "/requests", **query) == message


def test_clearRequests_empties_only_this_journal(api, control, other):
    api.get("/tasks/1408")
    api.as_key("ODFHIR devkey/other").get("/tasks/1408")
    assert control.clear_requests() == 1
    assert control.requests() == [] and len(other.requests()) == 1
    assert control.clear_requests() == 0


# --- faults ---------------------------------------------------------------------------

def test_createFault_answers_with_status_and_body(raw, api, control):
    fault = control.fault(method="GET", path="/tasks/*", status=504, body="Upstream timed out.")
    assert fault == {"id": 1, "method": "GET", "path": "/tasks/*", "status": 504,
                     "body": "Upstream timed out.", "delay_ms": 0, "drop": False, "times": None,
                     "probability": 1.0, "seed": None, "hits": 0}
    response = get(raw, "/tasks/1408")
    assert (response.status_code, response.get_json()) == (504, "Upstream timed out.")
    assert api.post("/tasks", json=NEW_TASK).status_code == 201  # other method
    assert api.get("/tasks").status_code == 200  # other path
    assert [r["fault"] for r in control.requests()] == [1, None, None]
    assert control.faults()[0]["hits"] == 1


def test_createFault_default_body_names_the_status(api, control):
    control.fault(status=410)
    assert api.get("/tasks/1408").get_json() == "Gone."


def test_createFault_times_then_gone(raw, control):
    control.fault(path="/tasks/1408", status=503, times=2)
    assert [get(raw, "/tasks/1408").status_code for _ in range(3)] == [503, 503, 200]
    assert control.faults() == []


def test_createFault_accepts_the_full_api_path(api, control):
    assert control.fault(path="/api/v1/tasks/1408", status=404)["path"] == "/tasks/1408"
    assert api.get("/tasks/1408").status_code == 404


def test_createFault_first_added_wins(api, control):
    control.fault(path="/tasks/1408", status=401, times=1)
    control.fault(path="/tasks/*", status=404)
    assert [api.get("/tasks/1408").status_code for _ in range(2)] == [401, 404]


def test_createFault_seeded_probability_is_repeatable(raw, control, other):
    def pattern(office):
        office.fault(path="/tasks/1408", status=503, probability=0.5, seed=42)
        return [get(raw, "/tasks/1408", office.authorization).status_code for _ in range(20)]

    first = pattern(control)
    second = pattern(other)
    assert first == second and {503, 200} == set(first)


def test_createFault_probability_zero_never_fires(raw, control):
    control.fault(status=503, probability=0)
    assert {get(raw, "/tasks/1408").status_code for _ in range(10)} == {200}


def test_createFault_delay_only_lets_the_request_through(api, control):
    control.fault(path="/tasks/1408", delay_ms=1, times=1)
    assert api.get("/tasks/1408").status_code == 200
    assert control.requests()[0]["fault"] == 1


def test_createFault_drop_raises_in_process(api, control):
    control.fault(path="/tasks/1408", drop=True, times=1)
    with pytest.raises(ConnectionDropped):
        api.get("/tasks/1408")
    assert isinstance(ConnectionDropped(), ConnectionError)
    assert [(r["status"], r["fault"]) for r in control.requests()] == [(None, 1)]


def test_createFault_never_touches_control_or_other_offices(raw, api, control, other):
    control.fault(status=503)
    assert control.clock()["frozen"] is False  # /__admin still works
    assert api.as_key("ODFHIR devkey/other").get("/tasks/1408").status_code == 200
    assert other.faults() == []
    assert get(raw, "/tasks/1408").status_code == 503


@pytest.mark.parametrize("spec,message", [
    ({}, "A fault needs a status, drop or delay_ms."),
    ({"status": 503, "drop": True}, "A fault cannot both drop the connection and send a status."),
    ({"body": "x", "delay_ms": 5}, "A fault body needs a status."),
    ({"status": 200}, "status must be an integer from 400 to 599."),
    ({"status": "503"}, "status must be an integer from 400 to 599."),
    ({"status": 503.0}, "status must be an integer from 400 to 599."),
    ({"status": 503, "body": {"a": 1}}, "body must be a string."),
    ({"delay_ms": 30_001}, "delay_ms must be an integer from 0 to 30000."),
    ({"delay_ms": True}, "delay_ms must be an integer from 0 to 30000."),
    ({"drop": "true"}, "drop must be true or false."),
    ({"drop": 1}, "drop must be true or false."),
    ({"status": 503, "times": 0}, "times must be an integer from 1 to 1000000."),
    ({"status": 503, "probability": 1.5}, "probability must be from 0 to 1."),
    ({"status": 503, "probability": "0.5"}, "probability must be a number."),
    ({"status": 503, "probability": True}, "probability must be a number."),
    ({"status": 503, "seed": -1}, "seed must be an integer from 0 to 9223372036854775807."),
    ({"status": 503, "method": "get"}, "method must be one of: *, GET, POST, PUT."),
    ({"status": 503, "method": "DELETE"}, "method must be one of: *, GET, POST, PUT."),
    ({"status": 503, "path": ""}, "path must be 1 to 1000 characters."),
    ({"status": 500, "path": "tasks/1408"},
     "path must start with / or * (a glob on the path after /api/v1, such as /tasks/*)"),
    ({"status": 503, "path": 5}, "path must be a string."),
    ({"status": 503, "delay": 5}, "delay is not a known field."),
])
def test_createFault_bad_input(control, spec, message):
    assert rejected(control.fault, **spec) == message
    assert control.faults() == []


def test_createFault_not_an_object(client):
    response = client.post("/__admin/faults", data=b"[1]", headers={"Authorization": AUTH})
    assert (response.status_code, response.get_json()) == (400, "Request body must be a JSON object.")


def test_createFault_is_bounded(control):
    for _ in range(MAX_FAULTS):
        control.fault(path="/nothing", status=503)
    assert rejected(control.fault, status=503) == f"An office can have at most {MAX_FAULTS} faults."


def test_listFaults_in_order_with_remaining_times(raw, control):
    control.fault(path="/tasks/1408", status=503, times=3)
    control.fault(path="/tasks", delay_ms=1)
    get(raw, "/tasks/1408")
    assert [(f["id"], f["times"], f["hits"]) for f in control.faults()] == [(1, 2, 1), (2, None, 0)]


def test_clearFaults_removes_all_of_this_office(api, control, other):
    control.fault(status=503)
    control.fault(status=504)
    other.fault(status=503)
    assert control.clear_faults() == 2
    assert api.get("/tasks/1408").status_code == 200
    assert len(other.faults()) == 1


def test_deleteFault_removes_one(control, other):
    first, second = control.fault(status=503), control.fault(status=504)
    assert control.control("DELETE", f"/faults/{first['id']}")["status"] == 503
    assert [f["id"] for f in control.faults()] == [second["id"]]
    with pytest.raises(ControlError) as caught:
        other.control("DELETE", f"/faults/{second['id']}")  # ids are per office
    assert (caught.value.status, caught.value.message) == (404, "Fault not found.")
    assert rejected(control.control, "DELETE", "/faults/abc") == "FaultId is invalid."


# --- clock ----------------------------------------------------------------------------

def test_getClock_is_the_office_time(control):
    clock = control.clock()
    assert clock["frozen"] is False
    assert abs(datetime.strptime(clock["now"], "%Y-%m-%d %H:%M:%S") - datetime.now()) < timedelta(hours=1)


def test_setClock_drives_every_now_of_the_api(api, control):
    control.set_clock("2030-03-01 09:00:00", frozen=True)
    task = api.post("/tasks", json=NEW_TASK).get_json()
    assert task["DateTimeEntry"] == task["DateTimeOriginal"] == task["SecDateTEdit"] == "2030-03-01 09:00:00"
    control.advance("1h")
    done = api.put(f"/tasks/{task['TaskNum']}", json={"TaskStatus": "Done"}).get_json()
    assert done["SecDateTEdit"] == done["DateTimeFinished"] == "2030-03-01 10:00:00"


def test_setClock_freeze_and_release(control):
    assert control.set_clock(frozen=True)["frozen"] is True
    released = control.set_clock("2040-01-01 00:00:00", frozen=False)
    assert released["frozen"] is False and released["now"] >= "2040-01-01 00:00:00"
    assert control.set_clock()["frozen"] is False  # {} changes nothing


def test_advanceClock_moves_the_14_day_window(api, control):
    control.set_clock(frozen=True)
    api.post("/tasks", json=NEW_TASK)
    assert "Order gloves" in descripts(api)
    assert control.advance("14d")["frozen"] is True
    assert "Order gloves" in descripts(api)  # DateTimeOriginal >= now - 14 days
    control.advance(1)
    assert "Order gloves" not in descripts(api)
    control.advance("-1d")
    assert "Order gloves" in descripts(api)


def test_advanceClock_units(control):
    control.set_clock("2030-01-01 00:00:00", frozen=True)
    assert control.advance("2h30m")["now"] == "2030-01-01 02:30:00"
    assert control.advance(-90)["now"] == "2030-01-01 02:28:30"
    assert control.advance("+1d1s")["now"] == "2030-01-02 02:28:31"


def test_clock_is_per_office(control, other):
    control.set_clock("2030-01-01 00:00:00", frozen=True)
    control.advance("3d")
    assert other.clock()["frozen"] is False
    assert other.clock()["now"] < "2030"


@pytest.mark.parametrize("body,message", [
    ({"now": "2030-01-01"}, "now format must be yyyy-MM-dd HH:mm:ss"),
    ({"now": "now-3d"}, "now format must be yyyy-MM-dd HH:mm:ss"),
    ({"now": None}, "now format must be yyyy-MM-dd HH:mm:ss"),
    ({"frozen": "true"}, "frozen must be true or false."),
    ({"time": "2030-01-01 00:00:00"}, "time is not a known field."),
    ({"now": "1899-12-31 23:59:59"}, "The office clock must stay from 1900-01-01 00:00:00 "
                                     "to before 9000-01-01 00:00:00."),
])
def test_setClock_bad_input(control, body, message):
    before = control.clock()["frozen"]
    assert rejected(control.control, "PUT", "/clock", body) == message
    assert control.clock()["frozen"] == before


@pytest.mark.parametrize("body,message", [
    ({}, "by is required."),
    ({"by": "3 days"}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": ""}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": 1.5}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": True}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": 10**30}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": "99999999999d"}, 'by must be whole seconds or a duration such as "3d", "2h30m" or "-1d".'),
    ({"by": "999999999d"}, "The office clock must stay from 1900-01-01 00:00:00 "
                           "to before 9000-01-01 00:00:00."),
    ({"by": "-99999d"}, "The office clock must stay from 1900-01-01 00:00:00 "
                        "to before 9000-01-01 00:00:00."),
    ({"by": "1d", "frozen": True}, "frozen is not a known field."),
])
def test_advanceClock_bad_input(control, body, message):
    before = control.set_clock("2030-01-01 00:00:00", frozen=True)
    assert rejected(control.control, "POST", "/clock/advance", body) == message
    assert control.clock() == before


def test_clock_limit_is_just_below_CLOCK_MAX(control):
    assert control.set_clock("8999-12-31 23:59:59", frozen=True)["now"] == "8999-12-31 23:59:59"
    assert "must stay" in rejected(control.advance, 1)
    assert CLOCK_MAX.year == 9000


# --- spec and robustness --------------------------------------------------------------

def test_getAdminSpec_is_valid_openapi_of_every_control_call(raw):
    response = raw.get("/__admin/openapi.yaml")
    assert response.status_code == 200 and response.mimetype == "application/yaml"
    spec = yaml.safe_load(response.get_data(as_text=True))
    validate(spec)
    operations = {(method.upper(), path.replace("{FaultId}", "1"))
                  for path, item in spec["paths"].items() for method in item}
    assert operations == set(CONTROL_CALLS)
    assert spec["paths"]["/__admin/faults"]["post"]["operationId"] == "createFault"
    assert "&id" not in response.get_data(as_text=True)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
BODY_FIELDS = st.dictionaries(
    st.sampled_from(["status", "body", "delay_ms", "drop", "times", "probability", "seed",
                     "method", "path", "now", "frozen", "by", "tasks", "office", "userods"]),
    JSON, max_size=5)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=st.sampled_from(CONTROL_CALLS), body=BODY_FIELDS | JSON,
       query=st.dictionaries(st.sampled_from(["scope", "method", "path", "x"]), st.text(max_size=8), max_size=2))
def test_control_never_answers_5xx(app, call, body, query):
    method, path = call
    response = app.test_client().open(path, method=method, json=body, query_string=query,
                                      headers={"Authorization": "ODFHIR fuzz/fuzz"})
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    if response.status_code >= 400:
        assert isinstance(response.get_json(), str)


def test_listRequests_shows_the_response_beside_the_request(api, control):
    api.post("/tasks", json={**NEW_TASK, "Descrpt": "typo"})
    api.get("/tasks/999999")
    created, missing = control.requests()
    assert created["response"]["status"] == 201 == created["status"]
    assert created["response"]["body"]["Descript"] == "Order gloves"
    headers = created["response"]["headers"]
    assert headers["Location"].endswith(f"/api/v1/tasks/{created['response']['body']['TaskNum']}")
    assert headers["X-Mock-Warning"] == created["warnings"][0]
    assert missing["response"] == {"status": 404, "headers": missing["response"]["headers"],
                                   "body": "Task not found."}
    assert missing["response"]["headers"]["Content-Type"] == "application/json"


def test_listRequests_response_is_null_for_a_dropped_connection(raw, control):
    control.fault(path="/tasks/1408", drop=True)
    with pytest.raises(ConnectionDropped):
        get(raw, "/tasks/1408")
    assert control.requests()[0]["response"] is None


def test_listRequests_keeps_the_client_label(api, control):
    api.get("/tasks/1408", headers={"X-Mock-Client": "page"})
    assert control.requests()[0]["headers"]["X-Mock-Client"] == "page"
