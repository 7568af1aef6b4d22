"""POST /tasknotes (operationId createTaskNote): required fields, references, SPEC-like rules."""
import pytest

from conftest import freeze

DOC_BODY = {"TaskNum": 64, "UserNum": 4, "Note": "Sending back to mark done."}


def test_createTaskNote_doc_example(api, app):
    freeze(app, "2025-01-16 08:29:51")
    r = api.post("/tasknotes", json=DOC_BODY)
    assert r.status_code == 201
    assert r.get_json() == {"TaskNoteNum": 582, "TaskNum": 64, "UserNum": 4,
                            "DateTimeNote": "2025-01-16 08:29:51", "Note": "Sending back to mark done."}
    assert r.headers["Location"] == "http://localhost/api/v1/tasknotes/582"
    assert api.get("/tasknotes/582").get_json() == r.get_json()


@pytest.mark.parametrize("missing", ["TaskNum", "UserNum", "Note"])
def test_createTaskNote_required_field(api, missing):
    body = {k: v for k, v in DOC_BODY.items() if k != missing}
    r = api.post("/tasknotes", json=body)
    assert (r.status_code, r.get_json()) == (400, f"{missing} is required.")


@pytest.mark.parametrize("note", ["", "   ", "\r\n\t"])
def test_createTaskNote_blank_note_is_400(api, note):
    r = api.post("/tasknotes", json={**DOC_BODY, "Note": note})
    assert (r.status_code, r.get_json()) == (400, "Note cannot be blank.")


@pytest.mark.parametrize("field, value, message", [
    ("TaskNum", 424242, "Task not found."), ("UserNum", 424242, "User not found.")])
def test_createTaskNote_unknown_reference_is_404(api, field, value, message):
    r = api.post("/tasknotes", json={**DOC_BODY, field: value})
    assert (r.status_code, r.get_json()) == (404, message)


@pytest.mark.parametrize("field, value", [("TaskNum", "64"), ("UserNum", 4.5), ("Note", 7),
                                          ("TaskNum", True), ("Note", None)])
def test_createTaskNote_wrong_type_is_400(api, field, value):
    r = api.post("/tasknotes", json={**DOC_BODY, field: value})
    assert r.status_code == 400 and r.get_json().startswith(field)


def test_createTaskNote_control_characters_and_a_long_note_are_kept(api):
    note = "a\x00b\u2028" + "x" * 100_000
    r = api.post("/tasknotes", json={**DOC_BODY, "Note": note})
    assert r.status_code == 201 and api.get(f"/tasknotes/{r.get_json()['TaskNoteNum']}").get_json()["Note"] == note


def test_createTaskNote_ReadAll_key_is_401():
    from conftest import Api, make_app
    app = make_app({"KEYS": {"developers": {"reader": {"permissions": ["ReadAll"]}}}})
    r = Api(app.test_client(), "ODFHIR reader/c").post("/tasknotes", json=DOC_BODY)
    assert (r.status_code, r.get_json()) == (401, "Developer key lacks the AllOthers permission.")
