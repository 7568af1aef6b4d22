"""Wire conventions of SPEC §1: field order, types, unset dates, format strings, paging."""
import pytest

from conftest import ALL_TIME, TASK_FIELDS, Api, fixture_dir, freeze, make_app

MINIMAL = {"TaskListNum": 14, "Descript": "Call the lab.", "UserNum": 1}


def test_wire_field_order_everywhere(api):
    assert list(api.get("/tasks/1408").get_json()) == TASK_FIELDS
    assert all(list(t) == TASK_FIELDS for t in api.get("/tasks", query=ALL_TIME).get_json())
    assert list(api.post("/tasks", json=MINIMAL).get_json()) == TASK_FIELDS
    assert list(api.put("/tasks/1408", json={"Descript": "x"}).get_json()) == TASK_FIELDS


def test_wire_booleans_are_strings_and_enums_are_names(api):
    task = api.get("/tasks/9107").get_json()
    assert (task["IsRepeating"], task["IsReadOnly"], task["DateType"]) == ("true", "true", "Day")
    task = api.get("/tasks/9103").get_json()
    assert (task["IsRepeating"], task["IsReadOnly"], task["TaskStatus"], task["ObjectType"]) == \
        ("false", "false", "Done", "Appointment")
    assert isinstance(task["KeyNum"], int) and isinstance(task["PriorityDefNum"], int)


def test_wire_unset_date_and_datetime(api):
    task = api.get("/tasks/1408").get_json()
    assert (task["DateTask"], task["DateTimeFinished"]) == ("0001-01-01", "0001-01-01 00:00:00")


def test_wire_dates_are_office_local_without_zone(api, app):
    freeze(app, "2025-07-01 23:59:58")
    task = api.post("/tasks", json=MINIMAL).get_json()
    assert task["DateTimeOriginal"] == "2025-07-01 23:59:58"


def _entry(api, when, date_format=None, datetime_format=None):
    num = api.post("/tasks", json={**MINIMAL, "DateTimeEntry": when}).get_json()["TaskNum"]
    query = {k: v for k, v in (("DateFormatString", date_format),
                               ("DateTimeFormatString", datetime_format)) if v is not None}
    r = api.get(f"/tasks/{num}", query=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


@pytest.mark.parametrize("when,pattern,expected", [
    ("2025-03-04 09:05:07", "yyyy yy MM M dd d", "2025 25 03 3 04 4"),
    ("2025-03-04 09:05:07", "HH H hh h mm ss tt", "09 9 09 9 05 07 AM"),
    ("2025-11-24 21:45:59", "HH H hh h mm ss tt", "21 21 09 9 45 59 PM"),
    ("2025-11-24 00:30:00", "hh h tt H", "12 12 AM 0"),
    ("2025-11-24 12:30:00", "hh h tt", "12 12 PM"),
    ("2025-03-04 09:05:07", "dd/MM/yyyy HH:mm:ss", "04/03/2025 09:05:07"),
    ("2025-03-04 09:05:07", "M/d/yyyy h:mm tt", "3/4/2025 9:05 AM"),
    ("2025-03-04 09:05:07", "yyyy'T'HH 'at' mm", "2025T09 at 05"),  # quoted literals
    ("2025-03-04 09:05:07", "yyyyMMdd", "20250304"),
])
def test_wire_DateTimeFormatString_tokens(api, when, pattern, expected):
    task = _entry(api, when, datetime_format=pattern)
    assert task["DateTimeEntry"] == expected
    assert task["DateTask"] == "0001-01-01"  # dates keep their own format


def test_wire_DateFormatString_formats_dates_only(api):
    task = api.get("/tasks/1408", query={"DateFormatString": "MM/dd/yyyy"}).get_json()
    assert (task["DateTask"], task["DateTimeEntry"]) == ("01/01/0001", "2024-12-10 13:08:47")


def test_wire_unset_datetime_keeps_its_zero_padded_year_in_any_format(api):
    task = api.get("/tasks/1408", query={"DateTimeFormatString": "yyyy/MM/dd HH:mm"}).get_json()
    assert task["DateTimeFinished"] == "0001/01/01 00:00"


def test_wire_format_strings_apply_to_every_response(api):
    query = {"DateTimeFormatString": "dd.MM.yyyy", "DateFormatString": "yy"}
    assert api.get("/tasks", query={**query, **ALL_TIME}).get_json()[1]["DateTimeEntry"] == "10.12.2024"
    r = api.post("/tasks", json={**MINIMAL, "DateTimeEntry": "2022-10-12 08:00:00"}, query=query)
    assert (r.status_code, r.get_json()["DateTimeEntry"], r.get_json()["DateTask"]) == (201, "12.10.2022", "01")
    r = api.put("/tasks/1408", json={"Descript": "x"}, query=query)
    assert r.get_json()["DateTimeEntry"] == "10.12.2024"
    assert api.get("/tasklists", query=query).get_json()[0]["DateTimeEntry"] == "04.03.2019"


@pytest.mark.parametrize("name", ["DateFormatString", "DateTimeFormatString"])
@pytest.mark.parametrize("pattern,problem", [
    ("MMMMM dd", "the unsupported token 'MMMMM'"), ("ddddd", "the unsupported token 'ddddd'"),
    ("HH:mm:ss zzzz", "the unsupported token 'zzzz'"), ("ss.FFF", "the unsupported token 'FFF'"),
    ("HH:mm K", "the unsupported token 'K'"), ("ss.ffff", "the unsupported token 'ffff'"),
    ("yyyyy", "the unsupported token 'yyyyy'"), ("'only text'", "no date or time token"),
    ("", "an empty format"),
])
def test_wire_unsupported_format_is_400(api, app, name, pattern, problem):
    r = api.get("/tasks/1408", query={name: pattern})
    assert (r.status_code, r.get_json()) == (400, f"{name} has {problem}.")


def test_wire_bad_format_is_400_before_404(api):
    r = api.get("/tasks/424242", query={"DateFormatString": "FFF"})
    assert (r.status_code, r.get_json()) == (400, "DateFormatString has the unsupported token 'FFF'.")


@pytest.mark.parametrize("pattern, text", [
    ("dd/MM/yyyy HH:mm:ss zzz", "10/12/2024 13:08:47 -07:00"),  # apiimplementation's example
    ("ddd, d MMM yyyy h:mm tt zz", "Tue, 10 Dec 2024 1:08 PM -07"),
    ("dddd MMMM d, HH:mm:ss.fff z", "Tuesday December 10, 13:08:47.000 -7")])
def test_wire_dotnet_names_fractions_and_office_offset(api, pattern, text):
    r = api.get("/tasks/1408", query={"DateTimeFormatString": pattern})
    assert r.get_json()["DateTimeEntry"] == text


def test_wire_utc_offset_from_office_yaml(tmp_path):
    from conftest import Api, fixture_dir, make_app
    folder = fixture_dir(tmp_path, office='version: "24.4.22"\nutc_offset: "+05:30"\n')
    api = Api(make_app({"FIXTURES": str(folder)}).test_client())
    r = api.get("/tasks/1408", query={"DateTimeFormatString": "zzz"})
    assert r.get_json()["DateTimeEntry"] == "+05:30"


def test_wire_crlf_in_text_answered_as_a_space_and_stored_as_sent(api):
    r = api.post("/tasks", json={**MINIMAL, "Descript": "Line 1\r\nLine 2\nLine 3"})
    assert r.get_json()["Descript"] == "Line 1 Line 2\nLine 3"
    state = api.client.get("/__admin/state", headers=api.headers).get_json()
    assert {t["Descript"] for t in state["tasks"]} >= {"Line 1\r\nLine 2\nLine 3"}


# --- paging ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A fixture folder with 1205 recent tasks, DateTimeOriginal decreasing as TaskNum grows."""
    rows = "".join(f"- {{TaskNum: {n}, TaskListNum: 14, Descript: t{n}, UserNum: 1, "
                   f"DateTimeOriginal: now-{n}m}}\n" for n in range(1, 1206))
    return fixture_dir(tmp_path_factory.mktemp("many"), tasks=rows)


def page(api, **query):
    r = api.get("/tasks", query=query)
    assert r.status_code == 200, r.get_json()
    return [t["TaskNum"] for t in r.get_json()]


def test_wire_paging_defaults_and_clamp(many):
    api = Api(make_app({"FIXTURES": many}).test_client())
    assert page(api) == list(range(1, 101))  # Offset 0, Limit 100, by TaskNum
    assert page(api, Offset=100) == list(range(101, 201))
    assert page(api, Limit=7, Offset=3) == list(range(4, 11))
    assert page(api, Limit=101) == list(range(1, 101))
    assert page(api, Limit=10**6) == list(range(1, 101))
    assert page(api, Offset=1200) == list(range(1201, 1206))
    assert page(api, Offset=5000) == []


def test_wire_paging_local_api_cap_is_1000(many):
    api = Api(make_app({"FIXTURES": many, "LOCAL_API": True}).test_client())
    assert page(api) == list(range(1, 1001))
    assert page(api, Limit=5000, Offset=1) == list(range(2, 1002))
    assert page(api, Limit=5) == list(range(1, 6))


def test_wire_list_order_is_TaskNum_not_creation_time(api):
    # 9004's DateTimeOriginal is later than 9027's and 9093's, yet it comes first
    assert page(api, TaskListNum=74, TaskStatus="New", **ALL_TIME)[:3] == [9004, 9027, 9093]


@pytest.mark.parametrize("query,message", [
    ({"Limit": 0}, "Limit must be an integer of at least 1."),
    ({"Limit": -5}, "Limit must be an integer of at least 1."),
    ({"Limit": "ten"}, "Limit must be an integer of at least 1."),
    ({"Limit": "1.5"}, "Limit must be an integer of at least 1."),
    ({"Limit": ""}, "Limit must be an integer of at least 1."),
    ({"Offset": -1}, "Offset is invalid."),
    ({"Offset": "x"}, "Offset is invalid."),
    ({"Offset": " 1"}, "Offset is invalid."),
])
@pytest.mark.parametrize("path", ["/tasks", "/tasklists", "/definitions", "/userods"])
def test_wire_bad_paging_is_400(api, path, query, message):
    r = api.get(path, query=query)
    assert (r.status_code, r.get_json()) == (400, message)


@pytest.mark.parametrize("path", ["/tasks", "/tasklists", "/definitions", "/userods"])
def test_wire_largest_offset_is_an_empty_page(api, path):
    r = api.get(path, query={"Offset": 2**63 - 1, "Limit": 100})
    assert (r.status_code, r.get_json()) == (200, [])
    r = api.get(path, query={"Offset": 2**63})
    assert (r.status_code, r.get_json()) == (400, "Offset is invalid.")
