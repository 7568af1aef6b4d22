"""``mockserver verify``: the upstream is the mock itself (the pytest plugin's live server,
or ``mockserver serve`` subprocesses with other settings), on loopback."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from liveserver import LiveServer
from mockserver.cli import main
from mockserver.verify import MARK, Exchange, Probe, compare


def run_verify(api: str, developer: str, customer: str, *args: str):
    env = {"OD_DEVELOPER_KEY": developer, "OD_CUSTOMER_KEY": customer}
    return CliRunner().invoke(main, ["verify", "--upstream", api, *args], env=env)


def differing_probes(result) -> set[str]:
    return {difference["probe"] for difference in json.loads(result.stdout)["differences"]}


def test_verify_against_the_same_mock_finds_no_difference(opendental):
    result = run_verify(opendental.base_url, opendental.developer_key, opendental.customer_key)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 differences in ")
    assert {entry["method"] for entry in opendental.requests()} == {"GET"}  # read-only
    assert opendental.customer_key not in result.output


def test_allow_writes_creates_and_changes_one_task_and_one_note(opendental):
    result = run_verify(opendental.base_url, opendental.developer_key, opendental.customer_key,
                        "--allow-writes", "--json")
    assert result.exit_code == 0, result.output
    writes = [(e["method"], e["path"], e["status"]) for e in opendental.requests()
              if e["method"] != "GET"]
    assert [(method, status) for method, _, status in writes] == [
        ("POST", 201), ("PUT", 200), ("POST", 201), ("PUT", 200)]
    created = [e["body"] for e in opendental.requests(method="POST")]
    assert created[0]["Descript"].startswith(MARK) and created[1]["Note"].startswith(MARK)


def test_a_differing_upstream_is_reported_in_the_table_and_as_json(opendental):
    opendental.fault(method="GET", path="/tasks/*", status=410, body="Gone.")
    table = run_verify(opendental.base_url, opendental.developer_key, opendental.customer_key)
    assert table.exit_code == 1, table.output
    row = next(line for line in table.stdout.splitlines() if line.startswith("task by TaskNum"))
    assert 'status' in row and '410 "Gone."' in row and "200 {" in row
    machine = run_verify(opendental.base_url, opendental.developer_key, opendental.customer_key,
                         "--json")
    assert machine.exit_code == 1
    report = json.loads(machine.stdout)
    by_probe = {d["probe"]: d for d in report["differences"]}
    assert by_probe["task by TaskNum"]["what"] == "status"
    assert by_probe["task by TaskNum"]["upstream"] == '410 "Gone."'
    assert set(by_probe) == {"task by TaskNum", "404: unknown TaskNum", "400: TaskNum not a number"}


def test_compare_names_each_kind_of_difference():
    probe = Probe("one task", "GET", "/tasks/1")
    upstream = Exchange(200, "application/json", {
        "TaskNum": 1, "TaskStatus": "New", "IsRepeating": "false",
        "DateTimeEntry": "2024-12-10 13:08:47", "KeyNum": 0, "Extra": 1})
    mock = Exchange(200, "application/json", {
        "TaskNum": 1, "TaskStatus": "Viewed", "IsRepeating": False,
        "DateTimeEntry": "12/10/2024", "KeyNum": 0})
    found = {(d.where, d.what) for d in compare(probe, upstream, mock)}
    assert found == {("", "fields"), ("TaskStatus", "value"), ("IsRepeating", "type"),
                     ("DateTimeEntry", "format")}
    reordered = Exchange(200, "application/json", {"KeyNum": 0, "TaskNum": 1})
    assert [d.what for d in compare(probe, Exchange(200, "application/json", {"TaskNum": 1, "KeyNum": 0}),
                                    reordered)] == ["field order"]
    errors = compare(probe, Exchange(404, "application/json", "Task not found."),
                     Exchange(404, "application/json", "Not found."))
    assert [(d.what, d.upstream, d.mock) for d in errors] == [
        ("error text", '"Task not found."', '"Not found."')]


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """A mock with an older office and a read-only developer key in its keys file."""
    keys = tmp_path_factory.mktemp("keys") / "keys.yaml"
    keys.write_text('developers: {reader: {permissions: [ReadAll]}}\n'
                    'customers: {old: {version: "23.1.5"}}\n')
    with LiveServer("--server", "waitress", "--keys", str(keys)) as server:
        yield server


@pytest.mark.slow
def test_an_older_office_differs_exactly_in_the_newer_methods(configured):
    result = run_verify(configured.api, "devkey", "old", "--json")
    assert result.exit_code == 1, result.output
    # GET /tasks/{TaskNum} needs 24.4.13 (whatever the TaskNum), the task notes 24.4.22
    assert differing_probes(result) == {"task by TaskNum", "404: unknown TaskNum",
                                        "400: TaskNum not a number", "notes of a task",
                                        "404: unknown TaskNoteNum"}


@pytest.mark.slow
def test_a_read_only_key_differs_exactly_in_the_writes(configured):
    assert run_verify(configured.api, "reader", "office-1").exit_code == 0
    result = run_verify(configured.api, "reader", "office-2", "--allow-writes", "--json")
    assert result.exit_code == 1, result.output
    assert differing_probes(result) == {"create a task", "change the task", "create a note",
                                        "change the note"}


@pytest.mark.slow
def test_a_lenient_content_type_differs_exactly_there():
    with LiveServer("--server", "waitress", "--lenient-content-type") as server:
        result = run_verify(server.api, "devkey", "custkey", "--json")
    assert result.exit_code == 1, result.output
    assert differing_probes(result) == {"400: no Content-Type"}
