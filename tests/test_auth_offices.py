"""Auth, the keys file, version gating, Content-Type and office isolation (SPEC §1, §4)."""
import pytest

from conftest import ALL_TIME, Api, fixture_dir, freeze, make_app, snapshot

MINIMAL = {"TaskListNum": 14, "Descript": "Call the lab.", "UserNum": 1}
KEYS = """
developers:
  reader: {permissions: [ReadAll]}
  writer: {permissions: [ReadAll, AllOthers]}
  off: {disabled: "true"}
customers:
  cust: {}
  gone: {disabled: "true"}
  v22315: {version: "22.3.15"}
  v22316: {version: "22.3.16"}
  v22317: {version: "22.3.17"}
  v22415: {version: "22.4.15"}
  v24209: {version: "24.2.9"}
  v24210: {version: "24.2.10"}
  v24412: {version: "24.4.12"}
"""
FORMAT = "ODFHIR {DeveloperKey}/{CustomerKey}"


@pytest.fixture
def keyed(tmp_path):
    """A server with a keys file (not strict)."""
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS, encoding="utf-8")
    return make_app({"KEYS": str(path)})


def call(app, auth, method="GET", path="/tasks/1408", **kw):
    return Api(app.test_client(), auth)(method, path, **kw)


# --- the Authorization header ---------------------------------------------------------

def test_auth_missing_is_401(api, app):
    before = snapshot(app)
    r = api.post("/tasks", json=MINIMAL, headers={"Authorization": None})
    assert (r.status_code, r.get_json()) == (401, f"Authorization header is required: {FORMAT}.")
    assert r.headers["WWW-Authenticate"].startswith("ODFHIR")
    assert snapshot(app) == before


@pytest.mark.parametrize("header", ["Bearer abc", "ODFHIR abc", "ODFHIR a/b/c", "ODFHIR /b", "ODFHIR a/",
                                    "odfhir a/b", "ODFHIR a b/c", "ODFHIRa/b", "", "Basic YTpi"])
def test_auth_malformed_is_401(api, header):
    r = api.get("/tasks/1408", headers={"Authorization": header})
    assert (r.status_code, r.get_json()) == (401, f"Authorization header must be {FORMAT}.")


def test_auth_any_well_formed_pair_by_default(api):
    assert api.get("/tasks/1408", headers={"Authorization": "ODFHIR x-1/y_2"}).status_code == 200


def test_auth_before_content_type(api):
    r = api.get("/tasks/1408", headers={"Authorization": None, "Content-Type": None})
    assert r.status_code == 401


# --- the keys file ----------------------------------------------------------------------

def test_keys_ReadAll_only_may_read_not_write(keyed):
    assert call(keyed, "ODFHIR reader/cust").status_code == 200
    assert call(keyed, "ODFHIR reader/cust", path="/tasks", query=ALL_TIME).status_code == 200
    for method, path in (("POST", "/tasks"), ("PUT", "/tasks/1408")):
        r = call(keyed, "ODFHIR reader/cust", method, path, json=MINIMAL)
        assert (r.status_code, r.get_json()) == (401, "Developer key lacks the AllOthers permission.")
    assert call(keyed, "ODFHIR reader/cust").get_json()["Descript"].startswith("The attached")
    assert call(keyed, "ODFHIR writer/cust", "POST", "/tasks", json=MINIMAL).status_code == 201


@pytest.mark.parametrize("auth,message", [("ODFHIR off/cust", "Developer key is invalid or disabled."),
                                          ("ODFHIR writer/gone", "Customer key is invalid or disabled.")])
def test_keys_disabled_is_401(keyed, auth, message):
    for method in ("GET", "PUT"):
        r = call(keyed, auth, method, json={"Descript": "x"})
        assert (r.status_code, r.get_json()) == (401, message)


def test_keys_not_strict_accepts_unlisted_keys(keyed):
    assert call(keyed, "ODFHIR stranger/newcomer", "POST", "/tasks", json=MINIMAL).status_code == 201


@pytest.mark.parametrize("strict_in", ["config", "file"])
def test_keys_strict_rejects_unlisted_keys(tmp_path, strict_in):
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS + ('strict: "true"\n' if strict_in == "file" else ""), encoding="utf-8")
    app = make_app({"KEYS": str(path), "STRICT_KEYS": strict_in == "config"})
    assert call(app, "ODFHIR writer/cust").status_code == 200
    for auth, message in (("ODFHIR stranger/cust", "Developer key is invalid or disabled."),
                          ("ODFHIR writer/newcomer", "Customer key is invalid or disabled.")):
        r = call(app, auth)
        assert (r.status_code, r.get_json()) == (401, message)



def test_keys_strict_unlisted_keys_leave_no_office_journal_or_harness_state(tmp_path):
    """A rejected key pair creates nothing: 20,000 unlisted keys cannot grow the server."""
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS, encoding="utf-8")
    app = make_app({"KEYS": str(path), "STRICT_KEYS": True})
    client = app.test_client()
    for n in range(20_000):
        r = client.get("/api/v1/tasks/1408", headers={"Authorization": f"ODFHIR writer/stranger{n}",
                                                      "Content-Type": "application/json"})
        assert r.status_code == 401
    assert call(app, "ODFHIR writer/cust").status_code == 200  # a listed key still works
    assert [office.key for office in app.extensions["mockserver"].offices()] == ["cust"]
    assert list(app.extensions["mockserver.admin"].customers()) == ["cust"]

# --- version gating -----------------------------------------------------------------------

@pytest.mark.parametrize("customer,method,path,title,since", [
    ("v24412", "GET", "/tasks/1408", "Tasks GET (single)", "24.4.13"),
    ("v22315", "GET", "/tasks", "Tasks GET (multiple)", "22.3.16"),
    ("v22316", "POST", "/tasks", "Tasks POST", "22.3.17"),
    ("v22317", "PUT", "/tasks/1408", "Tasks PUT", "22.4.15"),
])
def test_version_gating_per_office(keyed, customer, method, path, title, since):
    before = snapshot(keyed, customer)
    r = call(keyed, f"ODFHIR writer/{customer}", method, path, json=MINIMAL)
    assert (r.status_code, r.get_json()) == (400, f"{title} requires version {since} or later.")
    assert snapshot(keyed, customer) == before


@pytest.mark.parametrize("customer,method,path", [
    ("v22415", "GET", "/tasks"), ("v22415", "POST", "/tasks"), ("v22415", "PUT", "/tasks/1408"),
    ("v22315", "GET", "/tasklists"), ("cust", "GET", "/tasks/1408"),
])
def test_version_gating_allows_from_the_version_on(keyed, customer, method, path):
    r = call(keyed, f"ODFHIR writer/{customer}", method, path, json={**MINIMAL, "Descript": "y"})
    assert r.status_code in (200, 201), r.get_json()


def test_version_gating_tasklists(tmp_path):
    app = make_app({"KEYS": {"customers": {"old": {"version": "22.3.14"}}}})
    r = call(app, "ODFHIR a/old", path="/tasklists")
    assert (r.status_code, r.get_json()) == (400, "TaskLists GET requires version 22.3.15 or later.")


def test_updateTask_TaskStatus_requires_24_2_10(keyed):
    r = call(keyed, "ODFHIR writer/v24209", "PUT", json={"TaskStatus": "Done"})
    assert (r.status_code, r.get_json()) == (400, "TaskStatus requires version 24.2.10 or later.")
    r = call(keyed, "ODFHIR writer/v24209", "PUT", json={"Descript": "older offices may do this"})
    assert (r.status_code, r.get_json()["TaskStatus"]) == (200, "New")
    r = call(keyed, "ODFHIR writer/v24210", "PUT", json={"TaskStatus": "Done"})
    assert (r.status_code, r.get_json()["TaskStatus"]) == (200, "Done")


def test_version_from_fixtures_office_file(tmp_path):
    app = make_app({"FIXTURES": fixture_dir(tmp_path, office='version: "23.1.1"\n')})
    r = call(app, "ODFHIR a/b")
    assert (r.status_code, r.get_json()) == (400, "Tasks GET (single) requires version 24.4.13 or later.")
    assert call(app, "ODFHIR a/b", path="/tasks").status_code == 200


# --- Content-Type ------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,content_type", [
    ("GET", "/tasks/1408", None), ("GET", "/tasks", "text/plain"), ("POST", "/tasks", None),
    ("POST", "/tasks", "text/json"), ("PUT", "/tasks/1408", "application/x-www-form-urlencoded"),
    ("GET", "/userods", "application/jsonp"),
])
def test_content_type_must_be_json(api, app, method, path, content_type):
    before = snapshot(app)
    r = api(method, path, data='{"Descript": "x"}', headers={"Content-Type": content_type})
    assert (r.status_code, r.get_json()) == (400, "Content-Type must be application/json.")
    assert snapshot(app) == before


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON",
                                          'application/json;foo="a;b"', " application/json "])
def test_content_type_parameters_and_case_allowed(api, content_type):
    for _ in range(2):  # the second answer comes from what the first remembered
        r = api.post("/tasks", data='{"TaskListNum": 0, "Descript": "x", "UserNum": 1}',
                     headers={"Content-Type": content_type})
        assert r.status_code == 201


def test_lenient_content_type_switch():
    api = Api(make_app({"LENIENT_CONTENT_TYPE": True}).test_client())
    assert api.get("/tasks/1408", headers={"Content-Type": None}).status_code == 200
    r = api.post("/tasks", data='{"TaskListNum": 0, "Descript": "x", "UserNum": 1}',
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 201
    # the body rules still hold
    r = api.post("/tasks", data="TaskListNum=0", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.get_json()) == (400, "Request body is not valid JSON.")


# --- offices ---------------------------------------------------------------------------------

def test_offices_never_see_each_others_writes(api, app):
    alice, bob = api.as_key("ODFHIR dev/alice"), api.as_key("ODFHIR dev/bob")
    pristine = snapshot(app, "bob")
    made = alice.post("/tasks", json=MINIMAL).get_json()["TaskNum"]
    assert alice.put("/tasks/1408", json={"Descript": "alice was here"}).status_code == 200
    assert bob.get(f"/tasks/{made}").status_code == 404
    assert bob.get("/tasks/1408").get_json()["Descript"].startswith("The attached")
    assert made not in [t["TaskNum"] for t in bob.get("/tasks", query=ALL_TIME).get_json()]
    assert snapshot(app, "bob") == pristine
    # bob's own TaskNums are counted in bob's office
    assert bob.post("/tasks", json=MINIMAL).get_json()["TaskNum"] == made


def test_offices_fresh_key_starts_from_the_fixtures(api, app):
    pristine = snapshot(app, "bob")
    alice = api.as_key("ODFHIR dev/alice")
    alice.post("/tasks", json=MINIMAL)
    alice.put("/tasks/9101", json={"TaskStatus": "Done"})
    fresh = snapshot(app, "carol")
    assert fresh == pristine
    assert [t["TaskNum"] for t in fresh["tasks"]] == [64, 1408, 6857, 9004, 9027, 9093, *range(9101, 9114)]
    assert next(t for t in fresh["tasks"] if t["TaskNum"] == 9101)["TaskStatus"] == "New"


def test_offices_belong_to_the_customer_key(api):
    made = api.as_key("ODFHIR dev1/shared").post("/tasks", json=MINIMAL).get_json()["TaskNum"]
    assert api.as_key("ODFHIR dev2/shared").get(f"/tasks/{made}").status_code == 200


def test_offices_have_their_own_clocks(api, app):
    freeze(app, "2031-05-06 07:08:09")
    mine = api.post("/tasks", json=MINIMAL).get_json()
    theirs = api.as_key("ODFHIR dev/other").post("/tasks", json=MINIMAL).get_json()
    assert mine["DateTimeOriginal"] == "2031-05-06 07:08:09"
    assert theirs["DateTimeOriginal"] != mine["DateTimeOriginal"]


def test_keys_disabling_a_developer_key_leaves_a_same_named_customer_key():
    app = make_app({"KEYS": {"developers": {"same": {"disabled": "true"}}}})
    client = app.test_client()
    assert Api(client, "ODFHIR same/x").get("/tasks/1408").status_code == 401
    assert Api(client, "ODFHIR other/same").get("/tasks/1408").status_code == 200
