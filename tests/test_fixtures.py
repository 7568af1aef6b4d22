"""Fixtures (SPEC §4): relative timestamps, validation (every problem with file, line, record,
field, value and what is valid), check-fixtures, the progress of a large load."""
import subprocess
import sys
from contextlib import contextmanager
from datetime import date, datetime

import pytest
from click.testing import CliRunner

from conftest import Api, fixture_dir
from liveserver import SERVERS, LiveServer
from mockserver.cli import main
from mockserver.fixtures import PROGRESS_BYTES, default_dir, load_dir
from mockserver.generate import generate, write_dir
from mockserver.progress import report
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


INT = "valid: a whole number from 0 to 9223372036854775807, unquoted"
DATETIME = ('valid: yyyy-MM-dd HH:mm:ss such as "2024-12-10 13:08:47", or a time relative to '
            "the office clock: now, now-3d, now-3d4h, now-2h30m, now+1d")


@pytest.mark.parametrize("files,expected", [
    # bad type: the value given and what is valid
    ({"tasks": f"- {TASK}}}\n- {{TaskNum: 2, TaskListNum: \"14\"}}\n"},
     f'tasks.yaml:2: record 2 (TaskNum 2): TaskListNum: "14" is quoted, which makes it text; {INT}'),
    ({"tasks": f"- {TASK}, IsReadOnly: yes}}\n"},
     'tasks.yaml:1: record 1 (TaskNum 1): IsReadOnly: "yes" is not valid; valid: "true" or "false", quoted'),
    ({"tasks": f"- {TASK}, DateTimeEntry: 2024-12-10}}\n"},
     'tasks.yaml:1: record 1 (TaskNum 1): DateTimeEntry: "2024-12-10" has no time; '
     f'write "2024-12-10 00:00:00" for midnight; {DATETIME}'),
    ({"tasks": f"- {TASK}, DateTimeEntry: now-3x}}\n"},
     'tasks.yaml:1: record 1 (TaskNum 1): DateTimeEntry: "now-3x" is not a relative time '
     f"(now, then + or - and numbers with d, h, m or s); {DATETIME}"),
    ({"tasks": f"- {TASK}, TaskStatus: done}}\n"},
     'tasks.yaml:1: record 1 (TaskNum 1): TaskStatus: "done" is not valid (did you mean Done?); '
     "valid: New, Viewed, Done"),
    ({"tasks": f"- {TASK}, ReminderType: \"Weekly, Funday\"}}\n"},
     'tasks.yaml:1: record 1 (TaskNum 1): ReminderType: "Weekly, Funday" names \'Funday\', which is '
     "not a reminder type (did you mean Sunday?); valid: one or more of NoReminder, Daily, Weekly,"),
    ({"tasks": f"- {TASK}, Descript: 12}}\n".replace("Descript: x, ", "")},
     "tasks.yaml:1: record 1 (TaskNum 1): Descript: 12 is not text; valid: text (quote a value"),
    ({"tasks": f"- {TASK}, Descript: null}}\n".replace("Descript: x, ", "")},
     "tasks.yaml:1: record 1 (TaskNum 1): Descript: no value given (null); valid: text"),
    # unknown field: the nearest known one, or the list
    ({"tasks": f"- {TASK}, Descrpit: typo}}\n"},
     "tasks.yaml:1: record 1 (TaskNum 1): Descrpit: not a field of tasks; did you mean Descript?"),
    ({"userods": "- {UserNum: 1, Password: secret}\n"},
     "userods.yaml:1: record 1 (UserNum 1): Password: not a field of userods; the fields are UserNum, "
     "UserName, userGroupNums,"),
    # duplicate primary key
    ({"tasks": f"- {TASK}}}\n- {TASK}}}\n"},
     "tasks.yaml:2: record 2 (TaskNum 1): TaskNum: 1 is used twice (first by record 1); each record "
     "needs its own"),
    # duplicate YAML key inside a record
    ({"tasks": f"- {TASK}, Descript: y}}\n"}, "tasks.yaml: not valid YAML: found duplicate key 'Descript'"),
    # missing primary key
    ({"patients": "- {LName: Doe}\n"},
     f"patients.yaml:1: record 1: PatNum: missing; every record of patients.yaml needs it ({INT})"),
    # dangling foreign keys: what they must name
    ({"tasks": "- {TaskNum: 1, TaskListNum: 999, Descript: x, UserNum: 1}\n"},
     "tasks.yaml:1: record 1 (TaskNum 1): TaskListNum: 999 does not resolve; valid: a TaskListNum of "
     "tasklists.yaml, or 0 (the main trunk)"),
    ({"tasks": f"- {TASK}, UserNum: 77}}\n".replace(", UserNum: 1,", ",")},
     "tasks.yaml:1: record 1 (TaskNum 1): UserNum: 77 does not resolve; valid: a UserNum of userods.yaml, or 0"),
    ({"tasks": f"- {TASK}, ObjectType: Patient, KeyNum: 755}}\n"},
     "tasks.yaml:1: record 1 (TaskNum 1): KeyNum: 755 does not resolve; valid: a PatNum of patients.yaml "
     "(ObjectType is Patient)"),
    ({"tasks": f"- {TASK}, PriorityDefNum: 8}}\n"},
     "tasks.yaml:1: record 1 (TaskNum 1): PriorityDefNum: 8 does not resolve; valid: a DefNum of "
     "definitions.yaml with Category 33 (TaskPriorities), or 0"),
    ({"appointments": "- {AptNum: 1, PatNum: 5}\n", "tasks": "[]\n"},
     "appointments.yaml:1: record 1 (AptNum 1): PatNum: 5 does not resolve;"),
    ({"tasklists": "- {TaskListNum: 1, Parent: 2}\n", "tasks": "[]\n"},
     "tasklists.yaml:1: record 1 (TaskListNum 1): Parent: 2 does not resolve;"),
    ({"tasknotes": "- {TaskNoteNum: 1, TaskNum: 5, UserNum: 1}\n"},
     "tasknotes.yaml:1: record 1 (TaskNoteNum 1): TaskNum: 5 does not resolve; valid: a TaskNum of tasks.yaml"),
    # bad YAML and bad shapes
    ({"tasks": f"- {TASK}\n"}, "tasks.yaml: not valid YAML"),
    ({"tasks": "TaskNum: 1\n"}, "tasks.yaml:1: must be a list of records"),
    ({"tasks": "- just text\n"}, "tasks.yaml:1: record 1: must be a mapping of field to value"),
    ({"office": "version: 24.4\n"},
     'office.yaml:1: version: 24.4 is not a version; valid: a quoted version such as "24.4.13"'),
    ({"office": "utc_offset: \"+25:00\"\n"}, 'office.yaml:1: utc_offset: "+25:00" is not a UTC offset; '
                                           'valid: a quoted offset such as "-07:00", from -14:00 to +14:00'),
    ({"office": "version: \"24.4.1\"\ncolour: blue\n"},
     "office.yaml:2: colour: not an office setting; office.yaml may only set version and utc_offset"),
    ({"office": "utc_ofset: \"+01:00\"\n"}, "office.yaml:1: utc_ofset: not an office setting; office.yaml "
                                             "may only set version and utc_offset (did you mean utc_offset?)"),
])
def test_check_fixtures_names_file_line_record_field_value_and_what_is_valid(tmp_path, files, expected):
    folder = fixture_dir(tmp_path, **files)
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/{expected}" in result.output


def test_check_fixtures_reports_every_problem_of_a_folder_at_once(tmp_path):
    folder = fixture_dir(tmp_path, tasks=(
        "- TaskNum: 1\n"
        "  TaskListNum: 14\n"
        "  Descript: fine\n"
        "  UserNum: 1\n"
        "- TaskNum: 2\n"
        "  TaskListNum: 14\n"
        "  Descrip: typo\n"
        "  UserNum: 1\n"
        "  TaskStatus: Finished\n"
        "- {TaskNum: 3, TaskListNum: 999, Descript: x, UserNum: 1}\n"
        "- {TaskNum: 1, TaskListNum: 14, Descript: x, UserNum: 1}\n"),
        tasklists="- {TaskListNum: 14, Descript: Main, DateTimeEntry: \"2024-02-30 10:00:00\"}\n",
        office='version: "24"\n')
    result = check(folder)
    assert result.exit_code == 1
    lines = result.output.removeprefix("Error: ").replace(f"{folder}/", "").splitlines()
    assert lines == [
        "tasks.yaml:7: record 2 (TaskNum 2): Descrip: not a field of tasks; did you mean Descript?",
        "tasks.yaml:9: record 2 (TaskNum 2): TaskStatus: \"Finished\" is not valid; valid: New, Viewed, Done",
        "tasks.yaml:10: record 3 (TaskNum 3): TaskListNum: 999 does not resolve; valid: a TaskListNum of "
        "tasklists.yaml, or 0 (the main trunk)",
        "tasks.yaml:11: record 4 (TaskNum 1): TaskNum: 1 is used twice (first by record 1); each record "
        "needs its own",
        'tasklists.yaml:1: record 1 (TaskListNum 14): DateTimeEntry: "2024-02-30 10:00:00" is not a date: '
        f"day 30 does not exist in February 2024 (it has 29 days); {DATETIME}",
        'office.yaml:1: version: "24" is not a version; valid: a quoted version such as "24.4.13"',
    ]  # and no "does not resolve" for the tasks of task list 14: its own problem is reported


@pytest.mark.parametrize("field, value, expected", [
    ("DateTask", "2023-02-29", "is not a date: day 29 does not exist in February 2023 (it has 28 days)"),
    ("DateTask", "2024-04-31", "is not a date: day 31 does not exist in April 2024 (it has 30 days)"),
    ("DateTask", "2024-13-01", "is not a date: month 13 does not exist (months go from 01 to 12)"),
    ("DateTask", "0000-01-01", "is not a date: year 0000 does not exist (years start at 0001)"),
    ("DateTask", "2024-12-10 10:00:00", 'has a time; a date is only yyyy-MM-dd ("2024-12-10")'),
    ("DateTask", "12/10/2024", "is not in the format yyyy-MM-dd; valid: yyyy-MM-dd such as "
                               '"2024-12-10", or a day relative to the office clock: now, now-3d,'),
    ("DateTimeEntry", "2024-12-10 24:00:00", "is not a time: hour 24 does not exist (hours go from 00 to 23)"),
    ("DateTimeEntry", "2024-12-10 10:60:00", "is not a time: minute 60 does not exist (they go from 00 to 59)"),
    ("DateTimeEntry", "2024-12-10 10:00:61", "is not a time: second 61 does not exist (they go from 00 to 59)"),
    ("DateTimeEntry", "now-99999999999d", "is too far from now"),
])
def test_check_fixtures_says_which_part_of_a_date_does_not_exist(tmp_path, field, value, expected):
    folder = fixture_dir(tmp_path, tasks=f'- {TASK}, {field}: "{value}"}}\n')
    result = check(folder)
    assert result.exit_code == 1
    assert f'{folder}/tasks.yaml:1: record 1 (TaskNum 1): {field}: "{value}" {expected}' in result.output


def test_check_fixtures_lists_at_most_50_problems_and_counts_the_rest(tmp_path):
    rows = "".join(f"- {{TaskNum: {n}, TaskListNum: 14, Descript: x, UserNum: 1, Colour: red}}\n"
                   for n in range(1, 61))
    result = check(fixture_dir(tmp_path, tasks=rows))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 51 and lines[-1] == "... and 10 more problems"
    assert lines[49].endswith("tasks.yaml:50: record 50 (TaskNum 50): Colour: not a field of tasks; "
                              "the fields are TaskNum, TaskListNum, DateTask, KeyNum, Descript, "
                              "TaskStatus, IsRepeating, DateType, FromNum, ObjectType, DateTimeEntry, "
                              "UserNum, DateTimeFinished, PriorityDefNum, ReminderGroupId, "
                              "ReminderType, ReminderFrequency, DateTimeOriginal, SecDateTEdit, "
                              "DescriptOverride, IsReadOnly")


def test_check_fixtures_reports_every_unreadable_file(tmp_path):
    folder = fixture_dir(tmp_path, tasks=f"- {TASK}\n", userods="- {UserNum: 1\n")
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/tasks.yaml: not valid YAML" in result.output
    assert f"{folder}/userods.yaml: not valid YAML" in result.output


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
    assert f"{bad}/tasks.yaml:1: record 1 (TaskNum 1): Foo: not a field of tasks; the fields are" \
        in failed.stderr
    passed = subprocess.run([*run, str(default_dir())], capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stderr


@pytest.mark.parametrize("server", ["granian", "waitress"])
def test_serve_refuses_bad_fixtures(tmp_path, server):
    # granian's worker loads them: its error comes from that process, before any banner
    folder = fixture_dir(tmp_path, tasks="- {TaskNum: x}\n")
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0",
                           "--server", server, "--fixtures", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f'{folder}/tasks.yaml:1: record 1 (TaskNum "x"): TaskNum: "x" is not valid; valid: a whole' \
        in done.stderr
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


@pytest.fixture(scope="module")
def large_folder(tmp_path_factory):
    """A generated folder whose tasks.yaml passes the 1 MiB past which loading reports."""
    return write_dir(generate(5000), tmp_path_factory.mktemp("large"))


@pytest.mark.slow
def test_loading_a_large_folder_reports_each_step_of_its_large_files(large_folder):
    told = []

    @contextmanager
    def progress(label, total):
        steps = []
        yield steps.append
        told.append((label, total, sum(steps)))

    dataset = load_dir(large_folder, progress=progress)
    notes = dataset.count("tasknotes")
    size = (large_folder / "tasks.yaml").stat().st_size
    assert size >= PROGRESS_BYTES > (large_folder / "tasknotes.yaml").stat().st_size
    assert told == [("parsing tasks.yaml", size, size), ("building tasks.yaml", 5000, 5000),
                    ("building tasknotes.yaml", notes, notes),  # parsed quietly: under 1 MiB
                    ("checking tasks.yaml", 5000, 5000), ("checking tasknotes.yaml", notes, notes)]


@pytest.mark.slow
def test_check_fixtures_shows_the_progress_of_a_large_folder_on_stderr(large_folder):
    result = check(large_folder)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == ["parsing tasks.yaml",
                         f"parsing tasks.yaml: done ({(large_folder / 'tasks.yaml').stat().st_size:,})"]
    assert "checking tasks.yaml: done (5,000)" in lines
    assert result.stdout.startswith(f"{large_folder}: OK (5000 tasks,")


def test_check_fixtures_of_a_small_folder_shows_no_progress():
    result = check(default_dir())
    assert result.exit_code == 0 and result.stderr == ""


def test_progress_off_a_terminal_is_a_line_every_interval(capsys):
    with report("checking tasks.yaml", 3, interval=0) as step:
        for _ in range(3):
            step(1)
    assert capsys.readouterr().err.splitlines() == [
        "checking tasks.yaml", "checking tasks.yaml: 1 of 3", "checking tasks.yaml: 2 of 3",
        "checking tasks.yaml: 3 of 3", "checking tasks.yaml: done (3)"]


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_serve_shows_the_progress_of_a_large_folder_before_its_banner(large_folder, server):
    # granian loads the fixtures in its worker process: the progress comes from there
    with LiveServer("--server", server, "--fixtures", str(large_folder)) as started:
        assert "checking tasks.yaml: done (5,000)" in started.errors().splitlines()
        assert started.session().get(f"{started.api}/tasks/1000").status_code == 200
