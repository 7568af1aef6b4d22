"""GET /tasks (operationId listTasks): filters, the 14-day default, SPEC §3."""
from datetime import datetime, timedelta

import pytest

from conftest import ALL_TIME, office

RECENT = list(range(9101, 9111))  # the default dataset's tasks inside the 14-day window


def nums(response):
    assert response.status_code == 200, response.get_json()
    return [t["TaskNum"] for t in response.get_json()]


def test_listTasks_default_hides_tasks_older_than_14_days(api):
    assert nums(api.get("/tasks")) == RECENT


def test_listTasks_default_window_follows_the_office_clock(api, app):
    clock = office(app).clock
    original = datetime.strptime(api.get("/tasks/9110").get_json()["DateTimeOriginal"],
                                 "%Y-%m-%d %H:%M:%S")
    clock.set(original + timedelta(days=14), frozen=True)
    assert 9110 in nums(api.get("/tasks"))  # exactly 14 days old: still >=
    clock.advance(timedelta(seconds=1))
    assert 9110 not in nums(api.get("/tasks"))


def test_listTasks_explicit_DateTimeOriginal_is_inclusive(api):
    r = api.get("/tasks", query={"DateTimeOriginal": "2022-10-07 11:17:41"})
    found = nums(r)
    assert 9093 in found and 9027 not in found and 9004 in found
    # task 64 (2025-01-15) and the recent ones, not 1408 (2024-12-10 13:08:47)
    assert nums(api.get("/tasks", query={"DateTimeOriginal": "2024-12-10 13:08:48"}))[:2] == [64, 9101]


def test_listTasks_doc_example_object_type(api):
    r = api.get("/tasks", query={"ObjectType": "Appointment",
                                 "DateTimeOriginal": "2022-07-01 05:30:00"})
    assert nums(r) == [9027, 9103, 9106, 9113]
    assert all(t["ObjectType"] == "Appointment" for t in r.get_json())


def test_listTasks_doc_example_status_and_list(api):
    query = {"TaskStatus": "New", "TaskListNum": 74}
    assert nums(api.get("/tasks", query=query)) == [9101, 9108]
    assert nums(api.get("/tasks", query={**query, **ALL_TIME})) == [9004, 9027, 9093, 9101, 9108]


def test_listTasks_TaskListNum_zero_is_the_main_trunk(api):
    assert nums(api.get("/tasks", query={"TaskListNum": 0})) == [9105]


def test_listTasks_unknown_TaskListNum_is_empty(api):
    r = api.get("/tasks", query={"TaskListNum": 999, **ALL_TIME})
    assert (r.status_code, r.get_json()) == (200, [])


def test_listTasks_KeyNum_without_ObjectType_is_400(api):
    r = api.get("/tasks", query={"KeyNum": 73})
    assert (r.status_code, r.get_json()) == (400, "ObjectType is required when KeyNum is specified.")


@pytest.mark.parametrize("object_type,message", [("Patient", "Patient not found."),
                                                 ("Appointment", "Appointment not found.")])
def test_listTasks_unknown_KeyNum_is_404(api, object_type, message):
    r = api.get("/tasks", query={"ObjectType": object_type, "KeyNum": 999})
    assert (r.status_code, r.get_json()) == (404, message)


def test_listTasks_patient_key_is_a_patnum_not_an_aptnum(api):
    # 755 is an appointment, not a patient: the KeyNum is checked against the ObjectType
    r = api.get("/tasks", query={"ObjectType": "Patient", "KeyNum": 755})
    assert (r.status_code, r.get_json()) == (404, "Patient not found.")


def test_listTasks_ObjectType_and_KeyNum(api):
    assert nums(api.get("/tasks", query={"ObjectType": "Patient", "KeyNum": 73, **ALL_TIME})) \
        == [6857, 9093, 9102]
    assert nums(api.get("/tasks", query={"ObjectType": "Appointment", "KeyNum": 755, **ALL_TIME})) \
        == [9027, 9103]


def test_listTasks_ObjectType_None_with_KeyNum_ands_both(api):
    assert nums(api.get("/tasks", query={"ObjectType": "None", "KeyNum": 73})) == []
    assert nums(api.get("/tasks", query={"ObjectType": "None", "KeyNum": 0})) \
        == [9101, 9105, 9107, 9108, 9109, 9110]


@pytest.mark.parametrize("status,expected", [("New", [9101, 9104, 9105, 9107, 9108, 9110]),
                                             ("Viewed", [9102, 9106, 9109]), ("Done", [9103])])
def test_listTasks_TaskStatus(api, status, expected):
    assert nums(api.get("/tasks", query={"TaskStatus": status})) == expected


def test_listTasks_filters_combine_with_and(api):
    query = {"TaskListNum": 74, "ObjectType": "Patient", "TaskStatus": "Viewed"}
    assert nums(api.get("/tasks", query=query)) == [9102]
    assert nums(api.get("/tasks", query={**query, "TaskStatus": "Done"})) == []


def test_listTasks_unknown_query_params_are_ignored(api):
    assert nums(api.get("/tasks", query={"Foo": "bar", "taskstatus": "nonsense"})) == RECENT


@pytest.mark.parametrize("query,message", [
    ({"TaskStatus": "new"}, "TaskStatus must be one of: New, Viewed, Done."),
    ({"ObjectType": "Patients"}, "ObjectType must be one of: None, Patient, Appointment."),
    ({"DateTimeOriginal": "2022-07-01"}, "DateTimeOriginal format must be yyyy-MM-dd HH:mm:ss"),
    ({"DateTimeOriginal": "2022-13-01 00:00:00"}, "DateTimeOriginal format must be yyyy-MM-dd HH:mm:ss"),
    ({"TaskListNum": "abc"}, "TaskListNum is invalid."),
    ({"KeyNum": "-3", "ObjectType": "Patient"}, "KeyNum is invalid."),
])
def test_listTasks_bad_filter_is_400(api, query, message):
    r = api.get("/tasks", query=query)
    assert (r.status_code, r.get_json()) == (400, message)


def test_listTasks_sees_new_tasks(api):
    num = api.post("/tasks", json={"TaskListNum": 0, "Descript": "x", "UserNum": 1}).get_json()["TaskNum"]
    assert nums(api.get("/tasks", query={"TaskListNum": 0})) == [9105, num]
