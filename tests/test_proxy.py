"""``mockserver serve --proxy URL``: the upstream is the mock itself (the pytest plugin's
live server), the proxy an in-process app (and once a ``serve`` subprocess), on loopback."""
from __future__ import annotations

import socket

import pytest
import requests

from liveserver import LiveServer
from mockserver.app import create_app
from mockserver.openapi import build
from mockserver.proxy import Proxy


@pytest.fixture
def proxied(opendental):
    """(upstream office, proxy test client) with the office's headers."""
    client = create_app({"TESTING": True, "PROXY": opendental.base_url}).test_client()
    return opendental, client


def upstream_get(office, path: str, **params: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(office.base_url + path, params=params, headers=office.headers)


def test_a_get_is_answered_with_the_upstreams_response(proxied):
    office, client = proxied
    answer = client.get("/api/v1/tasks/1408", headers=office.headers,
                        query_string={"DateFormatString": "dd/MM/yyyy"})
    direct = upstream_get(office, "/tasks/1408", DateFormatString="dd/MM/yyyy")
    assert (answer.status_code, answer.get_data()) == (200, direct.content)
    forwarded = office.requests(path="/tasks/1408")[0]
    assert forwarded["headers"]["Authorization"] == office.authorization
    assert forwarded["query"] == {"DateFormatString": "dd/MM/yyyy"}
    journal = client.get("/__admin/requests", headers=office.headers).get_json()
    assert [(e["method"], e["path"], e["status"]) for e in journal] == [("GET", "/api/v1/tasks/1408", 200)]
    assert client.get("/__admin/deviations", headers=office.headers).get_json() == []


def test_writes_and_errors_are_forwarded_with_their_headers(proxied):
    office, client = proxied
    created = client.post("/api/v1/tasks", headers=office.headers,
                          json={"TaskListNum": 14, "UserNum": 1, "Descript": "Through the proxy."})
    assert created.status_code == 201
    assert created.headers["Location"].startswith(office.base_url + "/tasks/")
    assert upstream_get(office, f"/tasks/{created.get_json()['TaskNum']}").status_code == 200
    missing = client.get("/api/v1/tasks/1408", headers={"Authorization": office.authorization})
    assert (missing.status_code, missing.get_json()) == (400, "Content-Type must be application/json.")
    statuses = [e["status"] for e in client.get("/__admin/requests", headers=office.headers).get_json()]
    assert statuses == [201, 400]


def test_an_undocumented_answer_is_a_deviation(proxied):
    office, client = proxied
    office.fault(method="GET", path="/tasks/*", status=503, body="Down for maintenance.")
    answer = client.get("/api/v1/tasks/1408", headers=office.headers)
    assert (answer.status_code, answer.get_json()) == (503, "Down for maintenance.")
    assert client.get("/__admin/requests", headers=office.headers).get_json()[0]["status"] == 503
    deviations = client.get("/__admin/deviations", headers=office.headers).get_json()
    assert [(d["operation"], d["status"]) for d in deviations] == [("getTask", 503)]
    assert deviations[0]["problems"][0].startswith("status 503 is not documented")
    assert client.delete("/__admin/deviations", headers=office.headers).get_json() == {"deleted": 1}


def test_a_body_that_does_not_match_the_schema_is_described():
    class Answer:  # the parts of a requests.Response that the check reads
        status_code = 200
        headers = {"Content-Type": "application/json; charset=utf-8"}

        @staticmethod
        def json():
            return [{"TaskNum": "1408", "TaskStatus": "Finished"}]

    problems = Proxy("http://127.0.0.1:9/api/v1", build("api")).problems("listTasks", Answer())
    assert any(p.startswith("body[0].TaskNum: '1408' is not of type 'integer'") for p in problems), problems
    assert any(p.startswith("body[0].TaskStatus: 'Finished' is not one of") for p in problems), problems


def test_an_unreachable_upstream_is_a_502():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = create_app({"TESTING": True, "PROXY": f"http://127.0.0.1:{port}/api/v1"}).test_client()
    answer = client.get("/api/v1/tasks", headers={"Authorization": "ODFHIR a/b",
                                                  "Content-Type": "application/json"})
    assert answer.status_code == 502
    assert answer.get_json().startswith(f"The upstream http://127.0.0.1:{port}/api/v1 cannot be reached")


@pytest.mark.slow
def test_serve_proxy_forwards(opendental):
    with LiveServer("--server", "waitress", "--proxy", opendental.base_url) as proxy:
        answer = proxy.session(opendental.customer_key).get(proxy.api + "/tasks/1408")
        direct = upstream_get(opendental, "/tasks/1408")
    assert (answer.status_code, answer.content) == (200, direct.content)
