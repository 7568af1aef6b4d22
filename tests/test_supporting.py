"""The read-only supporting GETs: listTaskLists, listDefinitions, listUserods (SPEC §3)."""
import pytest


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_listTaskLists_default_is_active(api):
    lists = ok(api.get("/tasklists"))
    assert [t["TaskListNum"] for t in lists] == [14, 74, 200, 3842]
    assert {t["TaskListStatus"] for t in lists} == {"Active"}


def test_listTaskLists_doc_example_archived(api):
    lists = ok(api.get("/tasklists", query={"TaskListStatus": "Archived"}))
    assert lists[:2] == [
        {"TaskListNum": 102, "Descript": "Brittany", "Parent": 0, "DateTL": "0001-01-01",
         "IsRepeating": "false", "DateType": "None", "FromNum": 0, "ObjectType": "Patient",
         "DateTimeEntry": "2021-10-05 10:25:43", "TaskListStatus": "Archived"},
        {"TaskListNum": 103, "Descript": "Brittany Paperwork", "Parent": 102, "DateTL": "0001-01-01",
         "IsRepeating": "false", "DateType": "Week", "FromNum": 0, "ObjectType": "None",
         "DateTimeEntry": "2021-10-05 10:27:29", "TaskListStatus": "Archived"}]
    assert list(lists[0]) == ["TaskListNum", "Descript", "Parent", "DateTL", "IsRepeating", "DateType",
                              "FromNum", "ObjectType", "DateTimeEntry", "TaskListStatus"]
    assert [t["TaskListNum"] for t in lists] == [102, 103, 105, 107]


def test_listTaskLists_paging(api):
    assert [t["TaskListNum"] for t in ok(api.get("/tasklists", query={"Offset": 1, "Limit": 2}))] == [74, 200]
    assert ok(api.get("/tasklists", query={"Offset": 100})) == []


def test_listTaskLists_bad_status_is_400(api):
    r = api.get("/tasklists", query={"TaskListStatus": "archived"})
    assert (r.status_code, r.get_json()) == (400, "TaskListStatus must be one of: Active, Archived.")


def test_listDefinitions_doc_example_category_1(api):
    defs = ok(api.get("/definitions", query={"Category": 1}))
    assert {d["DefNum"]: d for d in defs} == {
        8: {"DefNum": 8, "ItemName": "Professional Discount", "ItemValue": "-", "Category": 1,
            "category": "AdjTypes", "isHidden": "false"},
        9: {"DefNum": 9, "ItemName": "Cash Discount", "ItemValue": "-", "Category": 1,
            "category": "AdjTypes", "isHidden": "false"},
        293: {"DefNum": 293, "ItemName": "Sales Tax", "ItemValue": "+", "Category": 1,
              "category": "AdjTypes", "isHidden": "false"}}
    assert list(defs[0]) == ["DefNum", "ItemName", "ItemValue", "Category", "category", "isHidden"]


def test_listDefinitions_task_priorities_hidden_only_when_asked(api):
    shown = ok(api.get("/definitions", query={"Category": 33}))
    assert [(d["DefNum"], d["ItemValue"], d["category"]) for d in shown] == [
        (90, "", "TaskPriorities"), (260, "D", "TaskPriorities"), (358, "", "TaskPriorities"),
        (361, "R", "TaskPriorities")]
    every = ok(api.get("/definitions", query={"Category": 33, "includeHidden": "true"}))
    assert [d["DefNum"] for d in every] == [90, 260, 358, 361, 362]
    assert every[-1]["isHidden"] == "true"


def test_listDefinitions_without_category_lists_all_shown(api):
    assert [d["DefNum"] for d in ok(api.get("/definitions"))] == [8, 9, 19, 90, 260, 293, 358, 361]


@pytest.mark.parametrize("query,message", [
    ({"includeHidden": "True"}, 'includeHidden must be "true" or "false".'),
    ({"Category": "TaskPriorities"}, "Category is invalid."),
])
def test_listDefinitions_bad_query_is_400(api, query, message):
    r = api.get("/definitions", query=query)
    assert (r.status_code, r.get_json()) == (400, message)


def test_listUserods_doc_example(api):
    users = ok(api.get("/userods"))
    assert users[0] == {
        "UserNum": 1, "UserName": "Lynda", "userGroupNums": [2], "EmployeeNum": 0, "employeeName": "",
        "ClinicNum": 1, "ProviderNum": 9, "providerName": "Lynda Larson, DMD",
        "emailAddress": "LyndaLarson@email.com", "IsHidden": "false", "UserNumCEMT": 0,
        "IsPasswordResetRequired": "false"}
    assert list(users[0]) == ["UserNum", "UserName", "userGroupNums", "EmployeeNum", "employeeName",
                              "ClinicNum", "ProviderNum", "providerName", "emailAddress", "IsHidden",
                              "UserNumCEMT", "IsPasswordResetRequired"]


@pytest.mark.parametrize("query,expected", [
    ({}, [1, 3, 4, 8, 12]),  # hidden user 2 and CEMT user 13 are left out
    ({"includeHidden": "true"}, [1, 2, 3, 4, 8, 12]),
    ({"includeCEMT": "true"}, [1, 3, 4, 8, 12, 13]),
    ({"includeHidden": "true", "includeCEMT": "true", "Limit": 2, "Offset": 5}, [12, 13]),
])
def test_listUserods_filters(api, query, expected):
    assert [u["UserNum"] for u in ok(api.get("/userods", query=query))] == expected


@pytest.mark.parametrize("path", ["/tasklists", "/definitions", "/userods"])
def test_supporting_gets_are_read_only(api, path):
    r = api.post(path, json={})
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/tasklists", "/definitions", "/userods"])
def test_supporting_gets_need_auth(api, path):
    r = api.get(path, headers={"Authorization": None})
    assert r.status_code == 401
