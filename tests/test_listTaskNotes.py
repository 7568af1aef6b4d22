"""GET /tasknotes (operationId listTaskNotes): filters, paging, 404 for unknown filters."""
import pytest

from conftest import make_app
from mockserver.store import PAGE_CAP

DOC_567 = {"TaskNoteNum": 567, "TaskNum": 64, "UserNum": 4, "DateTimeNote": "2025-01-15 13:27:12",
           "Note": "Got it, thanks."}


def test_listTaskNotes_doc_example_exactly(api):
    r = api.get("/tasknotes", query={"TaskNum": 64})
    assert r.status_code == 200
    assert [n["TaskNoteNum"] for n in r.get_json()] == [563, 567]
    assert r.get_json()[1] == DOC_567


def test_listTaskNotes_every_note_by_TaskNoteNum_without_filters(api):
    nums = [n["TaskNoteNum"] for n in api.get("/tasknotes").get_json()]
    assert nums == sorted(nums) and {563, 567} <= set(nums)


def test_listTaskNotes_by_user_and_both(api):
    assert [n["TaskNoteNum"] for n in api.get("/tasknotes", query={"UserNum": 4}).get_json()] == [567]
    both = api.get("/tasknotes", query={"TaskNum": 64, "UserNum": 8}).get_json()
    assert [n["TaskNoteNum"] for n in both] == [563]


def test_listTaskNotes_existing_task_without_notes_is_empty(api):
    r = api.get("/tasknotes", query={"TaskNum": 6857})
    assert (r.status_code, r.get_json()) == (200, [])


@pytest.mark.parametrize("query, message", [({"TaskNum": 424242}, "Task not found."),
                                            ({"UserNum": 424242}, "User not found.")])
def test_listTaskNotes_unknown_filter_is_404(api, query, message):
    r = api.get("/tasknotes", query=query)
    assert (r.status_code, r.get_json()) == (404, message)


@pytest.mark.parametrize("name", ["TaskNum", "UserNum", "Offset", "Limit"])
def test_listTaskNotes_bad_integer_is_400(api, name):
    r = api.get("/tasknotes", query={name: "x"})
    assert r.status_code == 400 and r.get_json().startswith(name)


def test_listTaskNotes_pages_like_every_list(api):
    for n in range(PAGE_CAP + 5):
        assert api.post("/tasknotes", json={"TaskNum": 6857, "UserNum": 1, "Note": f"n{n}"}).status_code == 201
    first = api.get("/tasknotes", query={"TaskNum": 6857}).get_json()
    rest = api.get("/tasknotes", query={"TaskNum": 6857, "Offset": PAGE_CAP}).get_json()
    assert len(first) == PAGE_CAP and len(rest) == 5
    assert first[-1]["TaskNoteNum"] < rest[0]["TaskNoteNum"]


def test_listTaskNotes_offices_do_not_share_notes(api):
    api.post("/tasknotes", json={"TaskNum": 64, "UserNum": 4, "Note": "mine"})
    other = api.as_key("ODFHIR devkey/other").get("/tasknotes", query={"TaskNum": 64}).get_json()
    assert [n["TaskNoteNum"] for n in other] == [563, 567]


def test_listTaskNotes_index_answers_a_task_of_many_notes(tmp_path):
    from conftest import fixture_dir
    notes = "".join(f"- {{TaskNoteNum: {n}, TaskNum: {1 + n % 50}, UserNum: 2, Note: n}}\n"
                    for n in range(1, 2001))
    tasks = "".join(f"- {{TaskNum: {n}}}\n" for n in range(1, 51))
    app = make_app({"FIXTURES": str(fixture_dir(tmp_path, tasks=tasks, userods="- {UserNum: 2}\n",
                                                tasknotes=notes))})
    from conftest import Api
    got = Api(app.test_client()).get("/tasknotes", query={"TaskNum": 7}).get_json()
    assert [n["TaskNoteNum"] for n in got] == list(range(6, 2001, 50))
