"""GET /tasknotes/{TaskNoteNum} (operationId getTaskNote): apitasknotes.md."""
import pytest

from conftest import Api, fixture_dir, make_app

NOTE_FIELDS = ["TaskNoteNum", "TaskNum", "UserNum", "DateTimeNote", "Note"]
DOC_563 = {"TaskNoteNum": 563, "TaskNum": 64, "UserNum": 8, "DateTimeNote": "2025-01-15 12:46:34",
           "Note": "Sending to Dr. Smith's list."}


def test_getTaskNote_doc_example_exactly(api):
    r = api.get("/tasknotes/563")
    assert (r.status_code, r.get_json()) == (200, DOC_563)
    assert list(r.get_json()) == NOTE_FIELDS


def test_getTaskNote_unknown_is_404(api):
    r = api.get("/tasknotes/424242")
    assert (r.status_code, r.get_json()) == (404, "TaskNote not found.")


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "99999999999999999999"])
def test_getTaskNote_non_integer_TaskNoteNum_is_400(api, raw):
    r = api.get(f"/tasknotes/{raw}")
    assert (r.status_code, r.get_json()) == (400, "TaskNoteNum is invalid.")


def test_getTaskNote_date_time_format(api):
    r = api.get("/tasknotes/563", query={"DateTimeFormatString": "dd/MM/yyyy HH:mm"})
    assert r.get_json()["DateTimeNote"] == "15/01/2025 12:46"


def test_getTaskNote_needs_version_24_4_22(tmp_path):
    app = make_app({"KEYS": {"customers": {"old": {"version": "24.4.13"}}}})
    r = Api(app.test_client(), "ODFHIR dev/old").get("/tasknotes/563")
    assert (r.status_code, r.get_json()) == (400, "TaskNotes GET (single) requires version 24.4.22 or later.")


def test_getTaskNote_relative_fixture_time_resolves_on_the_office_clock(tmp_path):
    folder = fixture_dir(tmp_path, tasks="- {TaskNum: 1}\n", userods="- {UserNum: 2}\n",
                         tasknotes='- {TaskNoteNum: 5, TaskNum: 1, UserNum: 2, DateTimeNote: "now-1d"}\n')
    app = make_app({"FIXTURES": str(folder)})
    api = Api(app.test_client())
    api.client.put("/__admin/clock", json={"now": "2030-01-02 03:04:05", "frozen": True},
                   headers=api.headers)
    api.client.post("/__admin/reset", headers=api.headers)
    assert api.get("/tasknotes/5").status_code == 200
