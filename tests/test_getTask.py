"""GET /tasks/{TaskNum} (operationId getTask): SPEC §3."""
import pytest

from conftest import TASK_FIELDS

DOC_1408 = {
    "TaskNum": 1408, "TaskListNum": 14, "DateTask": "0001-01-01", "KeyNum": 33,
    "Descript": "The attached patient has requested a call back regarding their upcoming appointment.",
    "TaskStatus": "New", "IsRepeating": "false", "DateType": "None", "FromNum": 0,
    "ObjectType": "Patient", "DateTimeEntry": "2024-12-10 13:08:47", "UserNum": 1,
    "DateTimeFinished": "0001-01-01 00:00:00", "PriorityDefNum": 260, "ReminderGroupId": "",
    "ReminderType": "NoReminder", "ReminderFrequency": 0, "DateTimeOriginal": "2024-12-10 13:08:47",
    "SecDateTEdit": "2024-12-10 13:09:02", "DescriptOverride": "", "IsReadOnly": "false"}


def test_getTask_doc_example_exactly(api):
    r = api.get("/tasks/1408")
    assert r.status_code == 200
    assert r.get_json() == DOC_1408
    assert list(r.get_json()) == TASK_FIELDS


def test_getTask_unknown_is_404(api):
    r = api.get("/tasks/424242")
    assert (r.status_code, r.get_json()) == (404, "Task not found.")


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "0x10", "1e3", "99999999999999999999"])
def test_getTask_non_integer_TaskNum_is_400(api, raw):
    r = api.get(f"/tasks/{raw}")
    assert (r.status_code, r.get_json()) == (400, "TaskNum is invalid.")


def test_getTask_returns_a_created_task(api):
    created = api.post("/tasks", json={"TaskListNum": 14, "Descript": "Call back", "UserNum": 1})
    num = created.get_json()["TaskNum"]
    r = api.get(f"/tasks/{num}")
    assert (r.status_code, r.get_json()) == (200, created.get_json())


def test_getTask_reminder_type_flags_joined_the_dotnet_way(api):
    assert api.get("/tasks/9108").get_json()["ReminderType"] == "Weekly, Monday"
    assert api.get("/tasks/9110").get_json()["ReminderType"] == "Once"
