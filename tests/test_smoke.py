"""The docs' own examples (apitasks.md) work as written against the default dataset."""


def test_getTask_doc_example(api):
    r = api.get("/tasks/1408")
    assert r.status_code == 200
    body = r.get_json()
    assert list(body) == [
        "TaskNum", "TaskListNum", "DateTask", "KeyNum", "Descript", "TaskStatus", "IsRepeating",
        "DateType", "FromNum", "ObjectType", "DateTimeEntry", "UserNum", "DateTimeFinished",
        "PriorityDefNum", "ReminderGroupId", "ReminderType", "ReminderFrequency",
        "DateTimeOriginal", "SecDateTEdit", "DescriptOverride", "IsReadOnly"]
    assert body["DateTimeEntry"] == "2024-12-10 13:08:47"
    assert body["DateTimeFinished"] == "0001-01-01 00:00:00"
    assert body["IsRepeating"] == "false"


def test_createTask_doc_example(api):
    r = api.post("/tasks", json={
        "TaskListNum": 3842, "Descript": "Please attach the Insurance card and info for this patient.",
        "UserNum": 12, "KeyNum": 73, "ObjectType": "Patient", "DateTimeEntry": "2022-10-12 08:00:00",
        "PriorityDefNum": 90, "DescriptOverride": "Patient insurance task"})
    assert r.status_code == 201
    assert r.headers["Location"].endswith(f"/api/v1/tasks/{r.get_json()['TaskNum']}")
