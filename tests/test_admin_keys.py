"""The control API and the keys (SPEC §5, decided): strict keys, ReadAll, the admin token,
the journal's masked developer key, and the office limit."""
from __future__ import annotations

import pytest
import yaml

from mockserver import create_app
from mockserver.admin import ADMIN_TOKEN_HEADER

from conftest import HEADERS

KEYS = {"strict": "true",
        "developers": {"dev": {}, "reader": {"permissions": ["ReadAll"]},
                       "off": {"disabled": "true"}},
        "customers": {"office": {}, "closed": {"disabled": "true"}}}
READS = [("GET", "/__admin/state"), ("GET", "/__admin/requests"), ("GET", "/__admin/faults"),
         ("GET", "/__admin/office"),
         ("GET", "/__admin/clock")]
CHANGES = [("POST", "/__admin/reset", None), ("PUT", "/__admin/state", {"tasks": []}),
           ("DELETE", "/__admin/requests", None), ("POST", "/__admin/faults", {"status": 500}),
           ("DELETE", "/__admin/faults", None), ("DELETE", "/__admin/faults/1", None),
           ("PUT", "/__admin/clock", {"frozen": True}),
           ("POST", "/__admin/clock/advance", {"by": "1d"})]
ALL_CALLS = [(method, path, None) for method, path in READS] + CHANGES


def client_for(**config):
    app = create_app({"TESTING": True, "KEYS": KEYS, **config})
    return app, app.test_client()


def call(client, method, path, body, developer, customer, **headers):
    return client.open(path, method=method, json=body,
                       headers={**headers, "Authorization": f"ODFHIR {developer}/{customer}"})


@pytest.mark.parametrize("method,path,body", ALL_CALLS)
@pytest.mark.parametrize("developer,customer,message", [
    ("dev", "stranger", "Customer key is invalid or disabled."),
    ("stranger", "office", "Developer key is invalid or disabled."),
    ("off", "office", "Developer key is invalid or disabled."),
    ("dev", "closed", "Customer key is invalid or disabled.")])
def test_control_under_strict_keys_refuses_unlisted_and_disabled_keys(
        method, path, body, developer, customer, message):
    app, client = client_for()
    response = call(client, method, path, body, developer, customer)
    assert response.status_code == 401 and response.get_json() == message
    assert len(app.extensions["mockserver"]) == 0  # nothing was created for it


def test_control_under_strict_keys_refuses_an_unlisted_key_without_wiping_anything():
    app, client = client_for()
    assert call(client, "POST", "/api/v1/tasks", {"TaskListNum": 74, "Descript": "x", "UserNum": 1},
                "dev", "office", **HEADERS).status_code == 201
    assert call(client, "POST", "/__admin/reset", None, "dev", "stranger").status_code == 401
    response = client.post("/__admin/reset?scope=all",
                           headers={"Authorization": "ODFHIR dev/stranger"})
    assert response.status_code == 401
    assert len(app.extensions["mockserver"]) == 1


@pytest.mark.parametrize("strict", [True, False])
def test_control_read_all_key_reads_but_changes_nothing(strict):
    app, client = client_for(KEYS={**KEYS, "strict": "true" if strict else "false"})
    for method, path in READS:
        assert call(client, method, path, None, "reader", "office").status_code == 200, path
    before = client.get("/__admin/state", headers={"Authorization": "ODFHIR reader/office"}).get_json()
    for method, path, body in CHANGES:
        response = call(client, method, path, body, "reader", "office")
        assert response.status_code == 401, path
        assert response.get_json() == "Developer key lacks the AllOthers permission."
    assert client.get("/__admin/state", headers={"Authorization": "ODFHIR reader/office"}).get_json() == before
    # the same office, set up with a developer key that may change it
    assert call(client, "PUT", "/__admin/clock", {"frozen": True}, "dev", "office").status_code == 200


def test_reset_all_under_strict_keys_without_a_token_is_off_and_says_how_to_enable_it():
    app, client = client_for()
    response = client.post("/__admin/reset?scope=all", headers={"Authorization": "ODFHIR dev/office"})
    assert response.status_code == 401
    assert "--admin-token" in response.get_json() and ADMIN_TOKEN_HEADER in response.get_json()
    assert client.post("/__admin/reset", headers={"Authorization": "ODFHIR dev/office"}).status_code == 200


@pytest.mark.parametrize("keys", [KEYS, None])
def test_reset_all_needs_the_admin_token_when_one_is_set(keys):
    app, client = client_for(KEYS=keys, ADMIN_TOKEN="s3cret")
    registry = app.extensions["mockserver"]
    auth = {"Authorization": "ODFHIR dev/office"}
    call(client, "GET", "/api/v1/tasks/1408", None, "dev", "office", **HEADERS)
    for sent in ({}, {ADMIN_TOKEN_HEADER: "wrong"}, {ADMIN_TOKEN_HEADER: "s3cret "}):
        response = client.post("/__admin/reset?scope=all", headers={**auth, **sent})
        assert response.status_code == 401 and ADMIN_TOKEN_HEADER in response.get_json()
        assert len(registry) == 1
    response = client.post("/__admin/reset?scope=all", headers={**auth, ADMIN_TOKEN_HEADER: "s3cret"})
    assert response.status_code == 200 and len(registry) == 0


def test_reset_all_without_strict_keys_or_token_works_as_before():
    app = create_app({"TESTING": True})
    client = app.test_client()
    client.get("/api/v1/tasks/1408", headers={**HEADERS, "Authorization": "ODFHIR a/b"})
    assert client.post("/__admin/reset?scope=all", headers={"Authorization": "ODFHIR a/c"}).status_code == 200
    assert len(app.extensions["mockserver"]) == 0


@pytest.mark.parametrize("strict,shown", [("true", "ODFHIR ********/office"),
                                          ("false", "ODFHIR dev/office")])
def test_journal_masks_the_developer_key_under_strict_keys(strict, shown):
    app, client = client_for(KEYS={**KEYS, "strict": strict})
    call(client, "GET", "/api/v1/tasks/1408", None, "dev", "office", **HEADERS)
    entries = client.get("/__admin/requests", headers={"Authorization": "ODFHIR dev/office"}).get_json()
    assert [e["headers"]["Authorization"] for e in entries] == [shown]


def test_new_office_beyond_the_limit_is_a_503_and_the_others_keep_working():
    app = create_app({"TESTING": True, "MAX_OFFICES": 2})
    client = app.test_client()

    def get(customer):
        return client.get("/api/v1/tasks/1408", headers={**HEADERS, "Authorization": f"ODFHIR d/{customer}"})
    assert get("one").status_code == get("two").status_code == 200
    refused = get("three")
    assert refused.status_code == 503 and refused.mimetype == "application/json"
    assert "limit of 2 offices" in refused.get_json() and "--max-offices" in refused.get_json()
    assert client.get("/__admin/state", headers={"Authorization": "ODFHIR d/three"}).status_code == 503
    assert get("one").status_code == 200 and len(app.extensions["mockserver"]) == 2
    client.post("/__admin/reset", headers={"Authorization": "ODFHIR d/one"})
    assert get("three").status_code == 200


def test_journal_is_bounded_in_bytes_per_office():
    app = create_app({"TESTING": True})
    app.extensions["mockserver.admin"].journal_bytes = 1_000_000
    client = app.test_client()
    auth = {**HEADERS, "Authorization": "ODFHIR d/big"}
    body = '{"Descript": "' + "x" * 200_000 + '"}'
    for _ in range(20):
        client.post("/api/v1/tasks", data=body, headers=auth)
    entries = client.get("/__admin/requests", headers=auth).get_json()
    assert 1 <= len(entries) <= 5  # 256 KiB kept per body at most
    assert [e["id"] for e in entries] == list(range(21 - len(entries), 21))


@pytest.mark.parametrize("developer,customer,method,headers", [
    ("dev", "closed", "GET", HEADERS),  # a disabled customer key
    ("off", "office", "GET", HEADERS),  # a disabled developer key
    ("reader", "office", "POST", HEADERS),  # a ReadAll-only key writing
    ("dev", "office", "GET", {}),  # no Content-Type
])
def test_a_rejected_api_request_creates_no_office_but_is_journaled(developer, customer, method, headers):
    app, client = client_for()
    response = call(client, method, "/api/v1/tasks", {"TaskListNum": 74} if method == "POST" else None,
                    developer, customer, **{k: v for k, v in headers.items() if k != "Authorization"})
    assert response.status_code in (400, 401)
    assert app.extensions["mockserver"].offices() == []
    entries = app.extensions["mockserver.admin"].of(customer).entries()
    assert [received.status for _, received in entries] == [response.status_code]


def test_the_control_api_document_declares_the_admin_token_header():
    _, client = client_for()
    spec = yaml.safe_load(client.get("/__admin/openapi.yaml").get_data(as_text=True))
    for path, method in (("/__admin/reset", "post"), ("/__admin/offices", "get")):
        [header] = [p for p in spec["paths"][path][method]["parameters"] if p["in"] == "header"]
        assert (header["name"], header["required"]) == (ADMIN_TOKEN_HEADER, False)
