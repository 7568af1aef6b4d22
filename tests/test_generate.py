"""mockserver generate-fixtures: valid, deterministic, realistic synthetic datasets."""
from __future__ import annotations

from click.testing import CliRunner

from mockserver import create_app
from mockserver.cli import main
from mockserver.fixtures import load_dir

from conftest import Api


def generate(folder, *args):
    result = CliRunner().invoke(main, ["generate-fixtures", "--output", str(folder), *args])
    assert result.exit_code == 0, result.output
    return folder


def test_generate_fixtures_writes_a_valid_deterministic_dataset(tmp_path):
    first = generate(tmp_path / "a", "--tasks", "500", "--seed", "7")
    again = generate(tmp_path / "b", "--tasks", "500", "--seed", "7")
    other = generate(tmp_path / "c", "--tasks", "500", "--seed", "8")
    assert [f.name for f in sorted(first.iterdir())] == [
        "appointments.yaml", "definitions.yaml", "office.yaml", "patients.yaml",
        "tasklists.yaml", "tasknotes.yaml", "tasks.yaml", "userods.yaml"]
    for file in first.iterdir():
        assert file.read_bytes() == (again / file.name).read_bytes()
    assert (first / "tasks.yaml").read_bytes() != (other / "tasks.yaml").read_bytes()
    result = CliRunner().invoke(main, ["check-fixtures", str(first)])
    assert result.exit_code == 0 and "500 tasks, 566 tasknotes, 4 tasklists" in result.output
    tasks = load_dir(first).records["tasks"]
    assert {t.ObjectType for t in tasks} == {"None", "Patient", "Appointment"}
    assert len({t.TaskStatus for t in tasks}) == 3


def test_listTasks_on_generated_data_sees_the_recent_quarter(tmp_path):
    folder = generate(tmp_path, "--tasks", "1000")
    api = Api(create_app({"TESTING": True, "FIXTURES": str(folder), "LOCAL_API": True}).test_client())
    recent = api.get("/tasks", query={"Limit": 1000}).get_json()
    assert 150 < len(recent) < 330  # 14 of 60 days: about 233
    one_list = api.get("/tasks", query={"TaskListNum": 1, "TaskStatus": "New"}).get_json()
    assert 1 <= len(one_list) <= 25  # "about 10", the benchmark's filtered list
    assert {t["TaskListNum"] for t in one_list} == {1}


def test_generate_fixtures_shows_progress_on_stderr(tmp_path):
    result = CliRunner().invoke(main, ["generate-fixtures", "--tasks", "300", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # off a terminal: click's label when a step starts, a count when it is done
    assert result.stderr.splitlines() == ["generating tasks", "generating tasks: done (300)",
                                          "writing records", "writing records: done (701)"]
    assert result.stdout == f"{tmp_path}: 300 tasks (seed 0)\n"


def test_generate_fixtures_refuses_more_than_the_bound(tmp_path):
    result = CliRunner().invoke(main, ["generate-fixtures", "--tasks", "1000001", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert ("Invalid value for --tasks: 1,000,001 tasks is more than 1,000,000, the most generated: "
            "`serve` holds about 1 GB per 100,000 tasks, so 1,000,001 would need about 10 GB.") \
        in result.stderr
    assert not any(tmp_path.iterdir())
    assert "at most 1,000,000" in CliRunner().invoke(main, ["generate-fixtures", "--help"]).output
