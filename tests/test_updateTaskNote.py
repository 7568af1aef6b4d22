"""PUT /tasknotes/{TaskNoteNum} (operationId updateTaskNote): DateTimeNote and Note only."""
import pytest

DOC_BODY = {"DateTimeNote": "2025-01-16 09:12:00",
            "Note": "Sending back to mark done. Edit: Actually, I still need this open."}


def test_updateTaskNote_doc_example(api):
    created = api.post("/tasknotes", json={"TaskNum": 64, "UserNum": 8, "Note": "Sending back to mark done."})
    assert created.get_json()["TaskNoteNum"] == 582
    r = api.put("/tasknotes/582", json=DOC_BODY)
    assert (r.status_code, r.get_json()) == (200, {"TaskNoteNum": 582, "TaskNum": 64, "UserNum": 8, **DOC_BODY})


def test_updateTaskNote_one_field_keeps_the_other(api):
    r = api.put("/tasknotes/563", json={"Note": "Changed."})
    assert r.get_json()["DateTimeNote"] == "2025-01-15 12:46:34" and r.get_json()["Note"] == "Changed."


@pytest.mark.parametrize("field", ["TaskNum", "UserNum", "TaskNoteNum"])
def test_updateTaskNote_keys_cannot_change(api, field):
    r = api.put("/tasknotes/563", json={field: 1, "Note": "x"})
    assert (r.status_code, r.get_json()) == (400, f"{field} cannot be changed.")
    assert api.get("/tasknotes/563").get_json()["Note"] == "Sending to Dr. Smith's list."


@pytest.mark.parametrize("body, message", [
    ({}, "Request body must set DateTimeNote or Note."),
    ({"Note": " "}, "Note cannot be blank."),
    ({"DateTimeNote": "2025-02-30 00:00:00"}, "DateTimeNote format must be yyyy-MM-dd HH:mm:ss"),
    ({"Note": 3}, "Note must be a string.")])
def test_updateTaskNote_bad_body_is_400(api, body, message):
    r = api.put("/tasknotes/563", json=body)
    assert (r.status_code, r.get_json()) == (400, message)


def test_updateTaskNote_unknown_is_404(api):
    r = api.put("/tasknotes/424242", json={"Note": "x"})
    assert (r.status_code, r.get_json()) == (404, "TaskNote not found.")
