"""PUT /tasks/{TaskNum} (operationId updateTask): partial updates and their rules, SPEC §3."""
from datetime import datetime, timedelta

import pytest

from conftest import ALL_TIME, Api, fixture_dir, freeze, make_app, snapshot

NOW = "2025-03-04 09:10:11"
LATER = "2025-03-05 10:00:00"
UNSET = "0001-01-01 00:00:00"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def put(api, num, body):
    r = api.put(f"/tasks/{num}", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_updateTask_doc_example_status(api, app):
    freeze(app, NOW)
    body = put(api, 6857, {"TaskStatus": "Done", "DateTimeEntry": "2023-01-12 08:00:00", "PriorityDefNum": 90})
    assert (body["TaskStatus"], body["DateTimeEntry"], body["PriorityDefNum"], body["DateTimeFinished"],
            body["SecDateTEdit"], body["DateTimeOriginal"]) == \
        ("Done", "2023-01-12 08:00:00", 90, NOW, NOW, "2023-01-10 08:23:36")
    assert api.get("/tasks/6857").get_json() == body


def test_updateTask_doc_example_fields(api):
    change = {"Descript": "Please attach the Insurance card and info for this patient.", "KeyNum": 73,
              "ObjectType": "Patient", "DateTimeEntry": "2023-01-12 08:00:00", "PriorityDefNum": 90,
              "DescriptOverride": "Patient insurance task"}
    body = put(api, 6857, change)
    assert {k: body[k] for k in change} == change
    assert (body["TaskListNum"], body["UserNum"], body["TaskStatus"]) == (3842, 1, "New")


def test_updateTask_is_partial(api):
    before = api.get("/tasks/1408").get_json()
    after = put(api, 1408, {"DescriptOverride": "Call back"})
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"DescriptOverride", "SecDateTEdit"}


def test_updateTask_unknown_task_is_404(api):
    r = api.put("/tasks/424242", json={"Descript": "x"})
    assert (r.status_code, r.get_json()) == (404, "Task not found.")


def test_updateTask_non_integer_TaskNum_is_400(api):
    r = api.put("/tasks/abc", json={"Descript": "x"})
    assert (r.status_code, r.get_json()) == (400, "TaskNum is invalid.")


def test_updateTask_Descript_on_Done_task_sets_Viewed(api):
    body = put(api, 9103, {"Descript": "Confirmed by phone."})
    assert (body["TaskStatus"], body["Descript"]) == ("Viewed", "Confirmed by phone.")


def test_updateTask_Descript_on_other_status_keeps_it(api):
    assert put(api, 1408, {"Descript": "x"})["TaskStatus"] == "New"
    assert put(api, 9102, {"Descript": "x"})["TaskStatus"] == "Viewed"


def test_updateTask_explicit_TaskStatus_wins_over_Descript_rule(api):
    assert put(api, 9103, {"Descript": "x", "TaskStatus": "Done"})["TaskStatus"] == "Done"
    assert put(api, 9103, {"Descript": "y", "TaskStatus": "New"})["TaskStatus"] == "New"


def test_updateTask_Done_sets_DateTimeFinished_once(api, app):
    freeze(app, NOW)
    assert put(api, 1408, {"TaskStatus": "Done"})["DateTimeFinished"] == NOW
    freeze(app, LATER)
    left = put(api, 1408, {"TaskStatus": "Viewed"})
    assert (left["TaskStatus"], left["DateTimeFinished"]) == ("Viewed", NOW)  # leaving Done keeps it
    again = put(api, 1408, {"TaskStatus": "Done"})
    assert (again["DateTimeFinished"], again["SecDateTEdit"]) == (NOW, LATER)


def test_updateTask_leaving_Done_keeps_DateTimeFinished(api):
    finished = api.get("/tasks/9103").get_json()["DateTimeFinished"]
    assert finished != UNSET
    assert put(api, 9103, {"TaskStatus": "New"})["DateTimeFinished"] == finished


def test_updateTask_ObjectType_None_stores_KeyNum_0(api):
    body = put(api, 1408, {"ObjectType": "None"})
    assert (body["ObjectType"], body["KeyNum"]) == ("None", 0)
    body = put(api, 9102, {"ObjectType": "None", "KeyNum": 73})
    assert (body["ObjectType"], body["KeyNum"]) == ("None", 0)


def test_updateTask_changing_only_ObjectType_rechecks_stored_KeyNum(api, app):
    before = snapshot(app)
    r = api.put("/tasks/1408", json={"ObjectType": "Appointment"})  # KeyNum 33 is a patient
    assert (r.status_code, r.get_json()) == (404, "Appointment not found.")
    r = api.put("/tasks/9027", json={"ObjectType": "Patient"})  # KeyNum 755 is an appointment
    assert (r.status_code, r.get_json()) == (404, "Patient not found.")
    r = api.put("/tasks/9004", json={"ObjectType": "Patient"})  # KeyNum 0 is no patient
    assert (r.status_code, r.get_json()) == (404, "Patient not found.")
    assert snapshot(app) == before


def test_updateTask_changing_only_ObjectType_keeps_a_KeyNum_that_resolves(tmp_path):
    # PatNum 5 and AptNum 5 both exist here, so the stored KeyNum passes the re-check
    folder = fixture_dir(
        tmp_path, patients="- {PatNum: 5}\n", appointments="- {AptNum: 5, PatNum: 5}\n",
        tasks="- {TaskNum: 1, TaskListNum: 14, Descript: x, UserNum: 1, ObjectType: Patient, KeyNum: 5}\n")
    api = Api(make_app({"FIXTURES": folder}).test_client())
    body = put(api, 1, {"ObjectType": "Appointment"})
    assert (body["ObjectType"], body["KeyNum"]) == ("Appointment", 5)


def test_updateTask_ObjectType_and_KeyNum_together(api):
    body = put(api, 9004, {"ObjectType": "Appointment", "KeyNum": 756})
    assert (body["ObjectType"], body["KeyNum"]) == ("Appointment", 756)


def test_updateTask_KeyNum_without_ObjectType_is_400(api):
    r = api.put("/tasks/1408", json={"KeyNum": 73})
    assert (r.status_code, r.get_json()) == (400, "ObjectType is required when KeyNum is specified.")


@pytest.mark.parametrize("change,status,message", [
    ({"ObjectType": "Patient", "KeyNum": 999}, 404, "Patient not found."),
    ({"ObjectType": "Appointment", "KeyNum": 999}, 404, "Appointment not found."),
    ({"PriorityDefNum": 8}, 404, "Definition not found."),
    ({"PriorityDefNum": 424242}, 404, "Definition not found."),
    ({"TaskStatus": "done"}, 400, "TaskStatus must be one of: New, Viewed, Done."),
    ({"DateTimeEntry": "2023-01-12"}, 400, "DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ({"Descript": ""}, 400, "Descript must not be empty."),
    ({"Descript": None}, 400, "Descript must be a string."),
    ({"KeyNum": "73", "ObjectType": "Patient"}, 400, "KeyNum is invalid."),
    ({"DescriptOverride": "y" * 257}, 400, "DescriptOverride must be at most 256 characters."),
    # §2 order: KeyNum comes before Descript and TaskStatus
    ({"TaskStatus": "x", "Descript": 1, "KeyNum": 1.5}, 400, "KeyNum is invalid."),
])
def test_updateTask_bad_change_changes_nothing(api, app, change, status, message):
    before = snapshot(app)
    r = api.put("/tasks/1408", json=change)
    assert (r.status_code, r.get_json()) == (status, message)
    assert snapshot(app) == before


def test_updateTask_PriorityDefNum_zero_clears_it(api):
    assert put(api, 1408, {"PriorityDefNum": 0})["PriorityDefNum"] == 0


@pytest.mark.parametrize("body", [{}, {"Descript": "Need to update Rebecca's contact information."},
                                  {"TaskStatus": "New", "PriorityDefNum": 358}])
def test_updateTask_no_op_keeps_SecDateTEdit(api, app, body):
    freeze(app, NOW)
    before = api.get("/tasks/9093").get_json()
    assert put(api, 9093, body) == before
    assert api.get("/tasks/9093").get_json() == before


def test_updateTask_change_moves_SecDateTEdit_not_DateTimeOriginal(api, app):
    freeze(app, NOW)
    body = put(api, 9093, {"DescriptOverride": "Contact info", "DateTimeOriginal": "2000-01-01 00:00:00"})
    assert (body["SecDateTEdit"], body["DateTimeOriginal"]) == (NOW, "2022-10-07 11:17:41")


def test_updateTask_ignores_TaskListNum_UserNum_and_read_only_fields(api):
    before = api.get("/tasks/1408").get_json()
    body = put(api, 1408, {"TaskListNum": 74, "UserNum": 12, "TaskNum": 5, "IsReadOnly": "true",
                           "DateTimeFinished": "2020-01-01 00:00:00", "ReminderType": "Daily",
                           "FromNum": 3})
    assert body == before
    # even with values of the wrong type: they are not read at all
    assert put(api, 1408, {"TaskListNum": "x", "UserNum": None}) == before


def _reminder(api, num):
    return api.get(f"/tasks/{num}").get_json()


def _new_copies(api, before):
    return [t for t in api.get("/tasks", query=ALL_TIME).get_json() if t["TaskNum"] not in before]


def test_updateTask_weekly_reminder_done_inserts_next_monday(api, app):
    old = _reminder(api, 9108)
    before = {t["TaskNum"] for t in api.get("/tasks", query=ALL_TIME).get_json()}
    freeze(app, NOW)
    done = put(api, 9108, {"TaskStatus": "Done"})
    assert (done["TaskStatus"], done["DateTimeFinished"]) == ("Done", NOW)
    [copy] = _new_copies(api, before)
    entry = parse(old["DateTimeEntry"])
    monday = next(entry + timedelta(days=n) for n in range(1, 8) if (entry + timedelta(days=n)).weekday() == 0)
    assert copy["TaskNum"] > max(before)
    assert copy == {**old, "TaskNum": copy["TaskNum"], "DateTimeEntry": f"{monday:%Y-%m-%d %H:%M:%S}",
                    "TaskStatus": "New", "DateTimeOriginal": NOW, "SecDateTEdit": NOW}
    # a second Done (already Done) makes no further copy
    put(api, 9108, {"TaskStatus": "Done", "Descript": "again"})
    assert len(_new_copies(api, before)) == 1


def test_updateTask_daily_reminder_done_inserts_next_day(api):
    old = _reminder(api, 9109)
    before = {t["TaskNum"] for t in api.get("/tasks", query=ALL_TIME).get_json()}
    put(api, 9109, {"TaskStatus": "Done"})
    [copy] = _new_copies(api, before)
    assert parse(copy["DateTimeEntry"]) == parse(old["DateTimeEntry"]) + timedelta(days=1)
    assert (copy["ReminderGroupId"], copy["ReminderType"], copy["TaskStatus"], copy["DateTimeFinished"]) == \
        ("2b8e44d1-daily", "Daily", "New", UNSET)


def test_updateTask_once_reminder_done_inserts_nothing(api):
    before = {t["TaskNum"] for t in api.get("/tasks", query=ALL_TIME).get_json()}
    put(api, 9110, {"TaskStatus": "Done"})
    put(api, 1408, {"TaskStatus": "Done"})  # no reminder at all
    assert _new_copies(api, before) == []


def test_updateTask_reminder_to_Viewed_inserts_nothing(api):
    before = {t["TaskNum"] for t in api.get("/tasks", query=ALL_TIME).get_json()}
    put(api, 9108, {"TaskStatus": "Viewed"})
    assert _new_copies(api, before) == []


@pytest.mark.parametrize("reminder,frequency,entry,expected", [
    ("Weekly, Monday", 1, "2025-03-05 08:00:00", "2025-03-10 08:00:00"),  # Wednesday -> Monday
    ("Weekly, Monday, Thursday", 1, "2025-03-03 08:00:00", "2025-03-06 08:00:00"),  # same week
    ("Weekly, Monday", 2, "2025-03-05 08:00:00", "2025-03-17 08:00:00"),  # every 2 weeks
    ("Weekly", 2, "2025-03-05 08:00:00", "2025-03-19 08:00:00"),
    ("Daily", 3, "2025-03-30 23:00:00", "2025-04-02 23:00:00"),
    ("Monthly", 1, "2025-01-31 08:00:00", "2025-02-28 08:00:00"),  # clamped to the month
    ("Yearly", 1, "2024-02-29 08:00:00", "2025-02-28 08:00:00"),
])
def test_updateTask_reminder_next_due_date(tmp_path, reminder, frequency, entry, expected):
    tasks = (f"- {{TaskNum: 1, TaskListNum: 14, Descript: R, UserNum: 1, ReminderGroupId: g1, "
             f"ReminderType: \"{reminder}\", ReminderFrequency: {frequency}, DateTimeEntry: \"{entry}\", "
             f"DateTimeOriginal: now}}\n")
    api = Api(make_app({"FIXTURES": fixture_dir(tmp_path, tasks=tasks)}).test_client())
    put(api, 1, {"TaskStatus": "Done"})
    copy = api.get("/tasks/2").get_json()
    assert (copy["DateTimeEntry"], copy["ReminderType"], copy["TaskStatus"]) == (expected, reminder, "New")


def test_updateTask_read_only_field_is_ignored_with_a_warning(api):
    r = api.put("/tasks/1408", json={"Descript": "x", "TaskListNum": 3})
    assert (r.status_code, r.get_json()["TaskListNum"]) == (200, 14)
    assert r.headers.getlist("X-Mock-Warning") == ['ignored field "TaskListNum"']
