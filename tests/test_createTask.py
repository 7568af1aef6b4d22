"""POST /tasks (operationId createTask): defaults, strict types, validation order, SPEC §3."""
import pytest

from conftest import Api, TASK_FIELDS, fixture_dir, freeze, make_app, office, snapshot

MINIMAL = {"TaskListNum": 14, "Descript": "Call the lab.", "UserNum": 1}
DOC_BODY = {"TaskListNum": 3842, "Descript": "Please attach the Insurance card and info for this patient.",
            "UserNum": 12, "KeyNum": 73, "ObjectType": "Patient",
            "DateTimeEntry": "2022-10-12 08:00:00", "PriorityDefNum": 90,
            "DescriptOverride": "Patient insurance task"}
NOW = "2025-03-04 09:10:11"


def test_createTask_doc_example(api, app):
    freeze(app, NOW)
    r = api.post("/tasks", json=DOC_BODY)
    assert r.status_code == 201
    body = r.get_json()
    assert list(body) == TASK_FIELDS
    # as documented, except TaskNum and the server times (the docs' UserNum 1 is a typo
    # of the docs: the request's UserNum 12 is stored)
    assert body == {
        "TaskNum": body["TaskNum"], "TaskListNum": 3842, "DateTask": "0001-01-01", "KeyNum": 73,
        "Descript": DOC_BODY["Descript"], "TaskStatus": "New", "IsRepeating": "false",
        "DateType": "None", "FromNum": 0, "ObjectType": "Patient",
        "DateTimeEntry": "2022-10-12 08:00:00", "UserNum": 12,
        "DateTimeFinished": "0001-01-01 00:00:00", "PriorityDefNum": 90, "ReminderGroupId": "",
        "ReminderType": "NoReminder", "ReminderFrequency": 0, "DateTimeOriginal": NOW,
        "SecDateTEdit": NOW, "DescriptOverride": "Patient insurance task", "IsReadOnly": "false"}


def test_createTask_201_with_location_of_the_new_task(api):
    r = api.post("/tasks", json=MINIMAL)
    assert r.status_code == 201
    num = r.get_json()["TaskNum"]
    assert r.headers["Location"] == f"http://localhost/api/v1/tasks/{num}"
    assert api.get(f"/tasks/{num}").get_json() == r.get_json()


def test_createTask_defaults(api, app):
    freeze(app, NOW)
    body = api.post("/tasks", json=MINIMAL).get_json()
    assert {k: body[k] for k in ("TaskStatus", "DateTimeEntry", "DateTimeOriginal", "SecDateTEdit",
                                 "KeyNum", "ObjectType", "DescriptOverride", "DateTask",
                                 "DateTimeFinished", "PriorityDefNum", "IsRepeating", "DateType",
                                 "FromNum", "ReminderGroupId", "ReminderType", "ReminderFrequency",
                                 "IsReadOnly")} == {
        "TaskStatus": "New", "DateTimeEntry": NOW, "DateTimeOriginal": NOW, "SecDateTEdit": NOW,
        "KeyNum": 0, "ObjectType": "None", "DescriptOverride": "", "DateTask": "0001-01-01",
        "DateTimeFinished": "0001-01-01 00:00:00", "PriorityDefNum": 260, "IsRepeating": "false",
        "DateType": "None", "FromNum": 0, "ReminderGroupId": "", "ReminderType": "NoReminder",
        "ReminderFrequency": 0, "IsReadOnly": "false"}


def test_createTask_explicit_DateTimeEntry_kept_and_DateTimeOriginal_is_now(api, app):
    freeze(app, NOW)
    body = api.post("/tasks", json={**MINIMAL, "DateTimeEntry": "2020-02-29 23:59:59"}).get_json()
    assert (body["DateTimeEntry"], body["DateTimeOriginal"]) == ("2020-02-29 23:59:59", NOW)


def test_createTask_TaskListNum_zero_is_the_main_trunk(api):
    r = api.post("/tasks", json={**MINIMAL, "TaskListNum": 0})
    assert (r.status_code, r.get_json()["TaskListNum"]) == (201, 0)


def test_createTask_ObjectType_None_stores_KeyNum_0(api):
    # no patient or appointment check either: the KeyNum means nothing without an object
    body = api.post("/tasks", json={**MINIMAL, "ObjectType": "None", "KeyNum": 999}).get_json()
    assert (body["ObjectType"], body["KeyNum"]) == ("None", 0)


@pytest.mark.parametrize("object_type,key", [("Patient", 33), ("Appointment", 756)])
def test_createTask_with_object(api, object_type, key):
    body = api.post("/tasks", json={**MINIMAL, "ObjectType": object_type, "KeyNum": key}).get_json()
    assert (body["ObjectType"], body["KeyNum"]) == (object_type, key)


def test_createTask_KeyNum_without_ObjectType_is_400(api, app):
    before = snapshot(app)
    r = api.post("/tasks", json={**MINIMAL, "KeyNum": 73})
    assert (r.status_code, r.get_json()) == (400, "ObjectType is required when KeyNum is specified.")
    assert snapshot(app) == before


def test_createTask_ObjectType_Patient_without_KeyNum_is_404(api):
    # KeyNum defaults to 0, which is no patient (decided)
    r = api.post("/tasks", json={**MINIMAL, "ObjectType": "Patient"})
    assert (r.status_code, r.get_json()) == (404, "Patient not found.")


def test_createTask_ignores_fields_it_does_not_set(api, app):
    freeze(app, NOW)
    body = api.post("/tasks", json={**MINIMAL, "TaskStatus": "Done", "TaskNum": 1, "IsReadOnly": "true",
                                    "DateTimeOriginal": "2001-01-01 00:00:00", "FromNum": 7,
                                    "Unknown": {"nested": [1]}}).get_json()
    assert body["TaskNum"] > 9113
    assert (body["TaskStatus"], body["IsReadOnly"], body["DateTimeOriginal"], body["FromNum"]) == \
        ("New", "false", NOW, 0)


def test_createTask_TaskNums_increase_and_are_never_reused(api):
    made = [api.post("/tasks", json=MINIMAL).get_json()["TaskNum"] for _ in range(3)]
    api.put("/tasks/9109", json={"TaskStatus": "Done"})  # inserts the reminder's next copy
    made.append(api.post("/tasks", json=MINIMAL).get_json()["TaskNum"])
    assert made[0] > 9113 and made == sorted(set(made)) and made[3] == made[2] + 2


def test_createTask_DescriptOverride_up_to_256_chars(api):
    r = api.post("/tasks", json={**MINIMAL, "DescriptOverride": "x" * 256})
    assert (r.status_code, r.get_json()["DescriptOverride"]) == (201, "x" * 256)
    r = api.post("/tasks", json={**MINIMAL, "DescriptOverride": "x" * 257})
    assert (r.status_code, r.get_json()) == (400, "DescriptOverride must be at most 256 characters.")


@pytest.mark.parametrize("field,value,message", [
    ("TaskListNum", "14", "TaskListNum is invalid."),
    ("TaskListNum", 14.0, "TaskListNum is invalid."),
    ("TaskListNum", True, "TaskListNum is invalid."),
    ("TaskListNum", -1, "TaskListNum is invalid."),
    ("TaskListNum", 2**63, "TaskListNum is invalid."),
    ("UserNum", "1", "UserNum is invalid."),
    ("UserNum", None, "UserNum is invalid."),
    ("KeyNum", 73.5, "KeyNum is invalid."),
    ("PriorityDefNum", False, "PriorityDefNum is invalid."),
    ("Descript", 5, "Descript must be a string."),
    ("Descript", ["a"], "Descript must be a string."),
    ("DescriptOverride", None, "DescriptOverride must be a string."),
    ("ObjectType", "patient", "ObjectType must be one of: None, Patient, Appointment."),
    ("ObjectType", 1, "ObjectType must be one of: None, Patient, Appointment."),
    ("DateTimeEntry", "2022-10-12T08:00:00", "DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ("DateTimeEntry", "2022-10-12", "DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ("DateTimeEntry", "2022-02-30 08:00:00", "DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ("DateTimeEntry", "2022-10-12 24:00:00", "DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
])
def test_createTask_strict_types_name_the_field(api, app, field, value, message):
    before = snapshot(app)
    body = {**MINIMAL, "ObjectType": "Patient", "KeyNum": 73, field: value}
    r = api.post("/tasks", json=body)
    assert (r.status_code, r.get_json()) == (400, message)
    assert snapshot(app) == before


@pytest.mark.parametrize("missing", ["TaskListNum", "Descript", "UserNum"])
def test_createTask_required_fields(api, missing):
    body = {k: v for k, v in MINIMAL.items() if k != missing}
    r = api.post("/tasks", json=body)
    assert (r.status_code, r.get_json()) == (400, f"{missing} is required.")


def test_createTask_empty_Descript_counts_as_missing(api):
    r = api.post("/tasks", json={**MINIMAL, "Descript": ""})
    assert (r.status_code, r.get_json()) == (400, "Descript is required.")


@pytest.mark.parametrize("body,message", [
    # type errors in the order of SPEC §2, whatever the order in the body
    ({"UserNum": "1", "TaskListNum": "14", "Descript": "x"}, "TaskListNum is invalid."),
    ({"DateTimeEntry": "soon", "ObjectType": "Nope", **MINIMAL}, "ObjectType must be one of: None, Patient, Appointment."),
    ({"DescriptOverride": 1, "PriorityDefNum": "90", **MINIMAL}, "PriorityDefNum is invalid."),
    # type errors before required fields
    ({"DescriptOverride": 5}, "DescriptOverride must be a string."),
    ({"Descript": "x", "UserNum": "1"}, "UserNum is invalid."),
    # required fields in §2 order
    ({}, "TaskListNum is required."),
    ({"Descript": "x"}, "TaskListNum is required."),
    ({"TaskListNum": 14, "Descript": ""}, "Descript is required."),
    # required fields before references
    ({"TaskListNum": 999, "Descript": "x"}, "UserNum is required."),
    # references in §2 order
    ({**MINIMAL, "TaskListNum": 999, "UserNum": 999}, "TaskList not found."),
    ({**MINIMAL, "UserNum": 999, "PriorityDefNum": 1}, "User not found."),
    ({**MINIMAL, "ObjectType": "Patient", "KeyNum": 999, "UserNum": 999}, "Patient not found."),
])
def test_createTask_validation_order(api, body, message):
    r = api.post("/tasks", json=body)
    assert r.get_json() == message


@pytest.mark.parametrize("change,message", [
    ({"TaskListNum": 999}, "TaskList not found."),
    ({"UserNum": 999}, "User not found."),
    ({"ObjectType": "Patient", "KeyNum": 999}, "Patient not found."),
    ({"ObjectType": "Appointment", "KeyNum": 999}, "Appointment not found."),
    ({"ObjectType": "Appointment", "KeyNum": 33}, "Appointment not found."),
    ({"PriorityDefNum": 99999}, "Definition not found."),
    ({"PriorityDefNum": 8}, "Definition not found."),  # a definition, but not Category 33
])
def test_createTask_unknown_reference_is_404(api, app, change, message):
    before = snapshot(app)
    r = api.post("/tasks", json={**MINIMAL, **change})
    assert (r.status_code, r.get_json()) == (404, message)
    assert snapshot(app) == before


@pytest.mark.parametrize("priority", [0, 358, 361, 362])
def test_createTask_PriorityDefNum_zero_or_any_task_priority(api, priority):
    r = api.post("/tasks", json={**MINIMAL, "PriorityDefNum": priority})
    assert (r.status_code, r.get_json()["PriorityDefNum"]) == (201, priority)


def test_createTask_archived_task_list_is_still_a_task_list(api):
    assert api.post("/tasks", json={**MINIMAL, "TaskListNum": 102}).status_code == 201


def _default_priority(tmp_path, definitions: str) -> int:
    app = make_app({"FIXTURES": fixture_dir(tmp_path, tasks="[]\n", definitions=definitions)})
    r = Api(app.test_client()).post("/tasks", json=MINIMAL)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["PriorityDefNum"]


@pytest.mark.parametrize("definitions,expected", [
    # the non-hidden TaskPriorities definition with ItemValue D
    ("- {DefNum: 5, Category: 33, ItemOrder: 0}\n- {DefNum: 6, Category: 33, ItemValue: D, ItemOrder: 1}\n", 6),
    # a hidden D does not count: the first by ItemOrder
    ("- {DefNum: 5, Category: 33, ItemOrder: 2}\n- {DefNum: 6, Category: 33, ItemOrder: 1}\n"
     "- {DefNum: 7, Category: 33, ItemValue: D, ItemOrder: 0, isHidden: \"true\"}\n", 6),
    # no D at all: the first by ItemOrder; other categories never count
    ("- {DefNum: 3, Category: 1, ItemValue: D, ItemOrder: 0}\n- {DefNum: 9, Category: 33, ItemOrder: 4}\n"
     "- {DefNum: 8, Category: 33, ItemOrder: 3}\n", 8),
    # only hidden task priorities: 0 (a hidden priority is never the default)
    ("- {DefNum: 5, Category: 33, ItemValue: D, ItemOrder: 0, isHidden: \"true\"}\n", 0),
    # no task priorities: 0
    ("- {DefNum: 3, Category: 1, ItemValue: D, ItemOrder: 0}\n", 0),
    ("[]\n", 0),
])
def test_createTask_default_priority_fallbacks(tmp_path, definitions, expected):
    assert _default_priority(tmp_path, definitions) == expected


def test_createTask_writes_only_its_own_office(api, app):
    other = snapshot(app, "other")
    api.post("/tasks", json=MINIMAL)
    assert snapshot(app, "other") == other
    assert len(office(app).tasks) == len(office(app, "other").tasks) + 1


def test_createTask_ignored_fields_are_warned_about_not_refused(api, client):
    r = api.post("/tasks", json={**MINIMAL, "Descrpt": "typo", "TaskNum": 5, "Color": "red"})
    assert r.status_code == 201 and r.get_json()["TaskNum"] != 5
    assert r.headers.getlist("X-Mock-Warning") == [
        'ignored field "Descrpt" (did you mean "Descript"?)', 'ignored field "TaskNum"',
        'ignored field "Color"']
    journal = client.get("/__admin/requests", headers=api.headers).get_json()
    assert journal[-1]["warnings"] == r.headers.getlist("X-Mock-Warning")
    assert "X-Mock-Warning" not in api.post("/tasks", json=MINIMAL).headers
