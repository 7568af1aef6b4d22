"""The pytest plugin: a live server over real sockets, xdist isolation, the docs' examples."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from mockserver.harness import JOURNAL_SIZE
from mockserver.pytest_plugin import ControlError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SOURCES = (ROOT / "README.md", ROOT / "docs" / "pytest-plugin.md")
EXAMPLE = re.compile(r"<!-- example: (\S+\.py) -->\n```python\n(.*?)\n```", re.S)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest on *folder* in a new interpreter, as a user would run it (plugin by entry point)."""
    (folder / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")  # no outer config
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # nor outer run's
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def passed(result: subprocess.CompletedProcess) -> int:
    found = re.search(r"(\d+) passed", result.stdout)
    return int(found[1]) if found else 0


def test_opendental_serves_over_a_real_socket(opendental):
    response = requests.get(f"{opendental.base_url}/tasks/1408", headers=opendental.headers, timeout=10)
    assert response.status_code == 200 and response.json()["TaskNum"] == 1408
    assert opendental.base_url.startswith("http://127.0.0.1:")
    assert opendental.requests()[0]["headers"]["Authorization"] == opendental.authorization


def test_opendental_server_answers_oversized_headers_with_a_400(opendental):
    # waitress itself answers this, before the app, in plain text
    r = requests.get(f"{opendental.base_url}/tasks/1408", timeout=30,
                     headers={**opendental.headers, "X-Padding": "x" * 300_000})
    assert r.status_code == 431
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith("Request Header Fields Too Large")


def test_opendental_rejected_control_call_raises_ControlError(opendental):
    with pytest.raises(ControlError) as caught:
        opendental.fault(status=503, delay=5)
    assert (caught.value.status, caught.value.message) == (400, "delay is not a known field.")


def test_opendental_drop_is_a_dropped_connection_not_a_5xx(opendental):
    opendental.fault(path="/tasks/1408", drop=True, times=1)
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError, match="Remote end closed connection"):
            session.get(f"{opendental.base_url}/tasks/1408", headers=opendental.headers, timeout=10)
        after = session.get(f"{opendental.base_url}/tasks/1408", headers=opendental.headers, timeout=10)
    assert after.status_code == 200
    assert [r["status"] for r in opendental.requests()] == [None, 200]


def test_opendental_delay_trips_a_client_timeout(opendental):
    opendental.fault(path="/tasks", delay_ms=2000, times=1)
    with pytest.raises(requests.ReadTimeout):  # the server sleeps 2 s; the client waits 0.2 s
        requests.get(f"{opendental.base_url}/tasks", headers=opendental.headers, timeout=0.2)


def test_opendental_faults_and_journal_are_thread_safe(opendental):
    opendental.fault(path="/tasks/1408", status=503, times=50)

    def fetch(_: int) -> int:
        return requests.get(f"{opendental.base_url}/tasks/1408", headers=opendental.headers,
                            timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(100)))
    assert statuses.count(503) == 50 and statuses.count(200) == 50
    journal = opendental.requests()
    assert len(journal) == 100 <= JOURNAL_SIZE
    assert len({entry["id"] for entry in journal}) == 100


def test_opendental_offices_of_one_server_are_isolated(opendental, opendental_server):
    neighbour = opendental_server.new_office()
    opendental.fault(status=503)
    opendental.advance("30d")
    response = requests.get(f"{neighbour.base_url}/tasks/1408", headers=neighbour.headers, timeout=10)
    assert response.status_code == 200
    assert neighbour.faults() == [] and len(neighbour.requests()) == 1
    assert neighbour.clock()["now"] < opendental.clock()["now"]
    neighbour.reset()


def test_opendental_inprocess_uses_the_flask_test_client(opendental_inprocess):
    office = opendental_inprocess
    office.fault(path="/tasks/1408", status=504, times=1)
    response = office.client.get("/api/v1/tasks/1408", headers=office.headers)
    assert (response.status_code, response.get_json()) == (504, "Gateway Timeout.")
    assert office.client.get("/api/v1/tasks/1408", headers=office.headers).status_code == 200
    assert office.base_url == "/api/v1"
    assert [r["status"] for r in office.requests(path="/tasks/*")] == [504, 200]


PARALLEL_SUITE = '''
import os
from pathlib import Path

import requests
import pytest


@pytest.mark.parametrize("n", range(24))
def test_office_sees_only_itself(opendental, n):
    (Path(__file__).parent / "workers" / os.environ["PYTEST_XDIST_WORKER"]).touch()
    assert opendental.requests() == [] and opendental.faults() == []
    if n % 3 == 0:
        opendental.reset()
    now = f"2030-01-{n + 1:02d} 12:00:00"
    opendental.set_clock(now, frozen=True)
    opendental.fault(path="/tasks/1408", status=400 + n, times=1)
    base, headers = opendental.base_url, opendental.headers
    created = requests.post(f"{base}/tasks", headers=headers, timeout=30,
                            json={"TaskListNum": 74, "Descript": f"task {n}", "UserNum": 1})
    assert created.status_code == 201 and created.json()["DateTimeOriginal"] == now
    listed = requests.get(f"{base}/tasks", params={"TaskListNum": 74}, headers=headers, timeout=30)
    assert [t["Descript"] for t in listed.json() if t["Descript"].startswith("task ")] == [f"task {n}"]
    assert requests.get(f"{base}/tasks/1408", headers=headers, timeout=30).status_code == 400 + n
    assert [(r["method"], r["status"]) for r in opendental.requests()] == [
        ("POST", 201), ("GET", 200), ("GET", 400 + n)]
    assert opendental.clock() == {"now": now, "frozen": True}
    assert opendental.faults() == []
'''


@pytest.mark.slow
def test_plugin_suite_runs_under_xdist_without_interference(tmp_path):
    (tmp_path / "test_parallel_offices.py").write_text(textwrap.dedent(PARALLEL_SUITE))
    (tmp_path / "workers").mkdir()
    result = run_pytest(tmp_path, "-n", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == 24
    assert len(list((tmp_path / "workers").iterdir())) == 4  # every worker (and its server) ran tests


@pytest.mark.slow
def test_docs_examples_run(tmp_path):
    examples = [found for source in EXAMPLE_SOURCES
                for found in EXAMPLE.findall(source.read_text(encoding="utf-8"))]
    assert examples, "the docs have no <!-- example: NAME.py --> python block"
    tests = 0
    for name, code in examples:
        (tmp_path / name).write_text(code + "\n", encoding="utf-8")
        tests += len(re.findall(r"^def test_", code, re.M))
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == tests >= 8


def test_plugin_is_cheap_when_unused():
    # pytest loads the plugin in every run (entry point): it must not import the server
    code = "import sys, mockserver.pytest_plugin; print(sorted({'flask', 'waitress'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.slow
def test_relative_fixtures_path_is_read_from_the_rootdir(tmp_path):
    """A conftest.py that names its fixtures folder relative to the project works from any
    directory pytest is started in."""
    project = tmp_path / "project"
    (project / "tests" / "deep").mkdir(parents=True)
    (project / "my-fixtures").mkdir()
    (project / "my-fixtures" / "tasks.yaml").write_text("- {TaskNum: 5, Descript: Mine}\n")
    (project / "tests" / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture(scope='session')\n"
        "def opendental_config():\n    return {'FIXTURES': 'my-fixtures'}\n")
    (project / "tests" / "deep" / "test_mine.py").write_text(
        "def test_mine(opendental_inprocess):\n"
        "    r = opendental_inprocess.client.get('/api/v1/tasks/5', headers=opendental_inprocess.headers)\n"
        "    assert r.get_json()['Descript'] == 'Mine'\n")
    (project / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
                            cwd=project / "tests" / "deep", env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
