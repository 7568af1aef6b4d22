"""Fixtures (SPEC §4): relative timestamps, validation with file/record/field, check-fixtures."""
import subprocess
import sys
from datetime import date, datetime

import pytest
from click.testing import CliRunner

from conftest import Api, fixture_dir
from mockserver.cli import main
from mockserver.fixtures import default_dir
from mockserver.store import Clock

NOW = datetime(2030, 1, 1, 12, 0, 0)


@pytest.fixture
def future_office(app):
    """An office of key "future" whose clock stood at NOW when it was created."""
    registry = app.extensions["mockserver"]
    clock = Clock()
    clock.set(NOW, frozen=True)
    office = registry.new_office("future", clock=clock)
    registry.put(office)
    return office


def test_fixtures_relative_times_resolve_against_the_office_clock(future_office):
    tasks = future_office.tasks
    assert tasks.get(9101).DateTimeOriginal == datetime(2029, 12, 31, 12, 0)  # now-1d
    assert tasks.get(9104).DateTimeOriginal == datetime(2030, 1, 1, 9, 30)  # now-2h30m
    assert tasks.get(9103).DateTimeOriginal == datetime(2029, 12, 29, 12, 0)  # now-3d
    assert tasks.get(9108).DateTimeEntry == datetime(2030, 1, 3, 12, 0)  # now+2d
    assert tasks.get(9107).DateTask == date(2030, 1, 1)  # a date field: now is today
    assert future_office.appointments[755].AptDateTime == datetime(2030, 1, 4, 12, 0)
    assert tasks.get(1408).DateTimeOriginal == datetime(2024, 12, 10, 13, 8, 47)  # absolute stays


def test_fixtures_relative_times_over_http(client, future_office):
    api = Api(client, "ODFHIR dev/future")
    assert api.get("/tasks/9104").get_json()["DateTimeOriginal"] == "2030-01-01 09:30:00"
    # the 14-day window of the same clock: 9101..9110 are inside, 9111.. outside
    assert [t["TaskNum"] for t in api.get("/tasks").get_json()] == list(range(9101, 9111))


def test_fixtures_default_set_has_both_sides_of_the_window(api):
    recent = {t["TaskNum"] for t in api.get("/tasks").get_json()}
    every = {t["TaskNum"] for t in api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json()}
    assert recent and every - recent >= {9111, 9112, 9113, 1408}
    statuses = {(t["TaskStatus"], t["ObjectType"]) for t in api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json()}
    assert {s for s, _ in statuses} == {"New", "Viewed", "Done"}
    assert {o for _, o in statuses} == {"None", "Patient", "Appointment"}


def check(folder):
    return CliRunner().invoke(main, ["check-fixtures", str(folder)])


def test_check_fixtures_default_set_is_ok():
    result = check(default_dir())
    assert result.exit_code == 0, result.output
    assert "OK (19 tasks, 3 tasknotes, 8 tasklists, 10 definitions, 7 userods, 4 patients, 3 appointments; version 24.4.22)" \
        in result.output


TASK = "{TaskNum: 1, TaskListNum: 14, Descript: x, UserNum: 1"


@pytest.mark.parametrize("files,expected", [
    # bad type
    ({"tasks": f"- {TASK}}}\n- {{TaskNum: 2, TaskListNum: \"14\"}}\n"},
     "tasks.yaml, record 2 (TaskNum 2): TaskListNum is invalid."),
    ({"tasks": f"- {TASK}, IsReadOnly: yes}}\n"},
     'tasks.yaml, record 1 (TaskNum 1): IsReadOnly must be "true" or "false".'),
    ({"tasks": f"- {TASK}, DateTimeEntry: 2024-12-10}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ({"tasks": f"- {TASK}, DateTimeEntry: now-3x}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): DateTimeEntry format must be yyyy-MM-dd HH:mm:ss"),
    ({"tasks": f"- {TASK}, TaskStatus: done}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): TaskStatus must be one of: New, Viewed, Done."),
    ({"tasks": f"- {TASK}, ReminderType: \"Weekly, Funday\"}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): ReminderType is invalid."),
    # unknown field
    ({"tasks": f"- {TASK}, Descrpit: typo}}\n"}, "tasks.yaml, record 1 (TaskNum 1): Descrpit is not a known field."),
    ({"userods": "- {UserNum: 1, Password: secret}\n"}, "userods.yaml, record 1 (UserNum 1): Password is not a known field."),
    # duplicate primary key
    ({"tasks": f"- {TASK}}}\n- {TASK}}}\n"}, "tasks.yaml, record 2 (TaskNum 1): TaskNum 1 is used twice."),
    # duplicate YAML key inside a record
    ({"tasks": f"- {TASK}, Descript: y}}\n"}, "tasks.yaml: not valid YAML: found duplicate key 'Descript'"),
    # missing primary key
    ({"patients": "- {LName: Doe}\n"}, "patients.yaml, record 1: PatNum is required."),
    # dangling foreign keys
    ({"tasks": "- {TaskNum: 1, TaskListNum: 999, Descript: x, UserNum: 1}\n"},
     "tasks.yaml, record 1 (TaskNum 1): TaskListNum 999 does not resolve."),
    ({"tasks": f"- {TASK}, UserNum: 77}}\n".replace(", UserNum: 1,", ",")},
     "tasks.yaml, record 1 (TaskNum 1): UserNum 77 does not resolve."),
    ({"tasks": f"- {TASK}, ObjectType: Patient, KeyNum: 755}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): KeyNum 755 does not resolve."),
    ({"tasks": f"- {TASK}, PriorityDefNum: 8}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): PriorityDefNum 8 does not resolve."),
    # the first record at fault, whichever check finds it (checks go a column at a time)
    ({"tasks": f"- {TASK}, PriorityDefNum: 8}}\n- {{TaskNum: 2, TaskListNum: 999, Descript: x, UserNum: 1}}\n"},
     "tasks.yaml, record 1 (TaskNum 1): PriorityDefNum 8 does not resolve."),
    ({"tasks": "- {TaskNum: 1, TaskListNum: 14, Descript: x, UserNum: 77, PriorityDefNum: 8}\n"},
     "tasks.yaml, record 1 (TaskNum 1): UserNum 77 does not resolve."),
    ({"appointments": "- {AptNum: 1, PatNum: 5}\n", "tasks": "[]\n"}, "appointments.yaml, record 1 (AptNum 1): PatNum 5 does not resolve."),
    ({"tasklists": "- {TaskListNum: 1, Parent: 2}\n", "tasks": "[]\n"},
     "tasklists.yaml, record 1 (TaskListNum 1): Parent 2 does not resolve."),
    # bad YAML and bad shapes
    ({"tasks": f"- {TASK}\n"}, "tasks.yaml: not valid YAML"),
    ({"tasks": "TaskNum: 1\n"}, "tasks.yaml: must be a list of records"),
    ({"tasks": "- just text\n"}, "tasks.yaml, record 1: must be a mapping of field to value"),
    ({"office": "version: 24.4\n"}, 'office.yaml: version must be a quoted version such as "24.4.13"'),
    ({"office": "colour: blue\n"}, "office.yaml: may only set version"),
])
def test_check_fixtures_names_file_record_and_field(tmp_path, files, expected):
    folder = fixture_dir(tmp_path, **files)
    result = check(folder)
    assert result.exit_code == 1
    assert f"Error: {folder}/{expected}" in result.output


def test_check_fixtures_never_runs_yaml_tags(tmp_path):
    marker = tmp_path / "pwned"
    folder = fixture_dir(tmp_path, tasks=f"- !!python/object/apply:os.system [\"touch {marker}\"]\n")
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/tasks.yaml: not valid YAML: could not determine a constructor" in result.output
    assert not marker.exists()


def test_check_fixtures_missing_folder(tmp_path):
    result = check(tmp_path / "nope")
    assert result.exit_code == 1 and "not a folder of fixtures" in result.output


def test_check_fixtures_real_command_exit_codes(tmp_path):
    bad = fixture_dir(tmp_path, tasks="- {TaskNum: 1, TaskListNum: 14, Descript: x, UserNum: 1, Foo: 1}\n")
    run = [sys.executable, "-m", "mockserver", "check-fixtures"]
    failed = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert f"{bad}/tasks.yaml, record 1 (TaskNum 1): Foo is not a known field." in failed.stderr
    passed = subprocess.run([*run, str(default_dir())], capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stderr


@pytest.mark.parametrize("server", ["granian", "waitress"])
def test_serve_refuses_bad_fixtures(tmp_path, server):
    # granian's worker loads them: its error comes from that process, before any banner
    folder = fixture_dir(tmp_path, tasks="- {TaskNum: x}\n")
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0",
                           "--server", server, "--fixtures", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "TaskNum is invalid." in done.stderr
    assert "listening" not in done.stdout


@pytest.mark.parametrize("name, expected", [("tasks.yml", "tasks"), ("task.yaml", "tasks"),
                                            ("Tasks.yaml", "tasks"), ("userod.yaml", "userods")])
def test_check_fixtures_near_file_name_is_an_error(tmp_path, name, expected):
    folder = fixture_dir(tmp_path)
    (folder / name).write_text("[]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check-fixtures", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / name}: not a fixture file name; did you mean {expected}.yaml?" in result.output


def test_check_fixtures_folder_without_fixture_files_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = CliRunner().invoke(main, ["check-fixtures", str(tmp_path)])
    assert result.exit_code == 1 and f"{tmp_path}: holds none of the fixture files (tasks.yaml," in result.output


def test_health_answers_without_a_key_and_without_the_control_api():
    from conftest import make_app
    import mockserver
    for admin in (True, False):
        r = make_app({"ADMIN_API": admin}).test_client().get("/__admin/health")
        body = r.get_json()
        assert (r.status_code, body["status"], body["version"]) == (200, "ok", mockserver.__version__)
        assert body["dataset"]["tasks"] == 19 and body["offices"] == 0
