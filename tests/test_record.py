"""``mockserver record``: the upstream is the mock itself (the pytest plugin's live server,
or a ``mockserver serve`` subprocess), on loopback."""
from __future__ import annotations

import http.server
import json
import re
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from liveserver import LiveServer
from mockserver.cli import main
from mockserver.upstream import Upstream

SINCE = "2000-01-01 00:00:00"  # every task of the default data set but the docs' oldest


def run_record(office, *args: str, customer: str | None = None):
    """`mockserver record` against *office*'s server, with its key pair in the environment."""
    env = {"OD_DEVELOPER_KEY": office.developer_key,
           "OD_CUSTOMER_KEY": customer or office.customer_key}
    return CliRunner().invoke(main, ["record", "--upstream", office.base_url, *args], env=env)


def records(folder: Path, kind: str) -> list[dict]:
    return json.loads((folder / f"{kind}.yaml").read_text(encoding="utf-8"))


def upstream_session(office) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update(office.headers)
    return session


@pytest.fixture
def with_note(opendental):
    """The upstream office with a note on a recent task (the default notes are on old ones)."""
    session = upstream_session(opendental)
    task = session.get(f"{opendental.base_url}/tasks").json()[0]
    note = session.post(f"{opendental.base_url}/tasknotes",
                        json={"TaskNum": task["TaskNum"], "UserNum": 1, "Note": "Called\r\nback."})
    assert note.status_code == 201, note.text
    return opendental


def test_record_writes_fixtures_that_serve_every_recorded_get_byte_for_byte(with_note, tmp_path):
    office, out = with_note, tmp_path / "recorded"
    result = run_record(office, "--output", str(out), "--since", SINCE)
    assert result.exit_code == 0, result.output
    assert "GET /tasks: " in result.stderr  # progress on stderr
    assert office.customer_key not in result.output
    checked = CliRunner().invoke(main, ["check-fixtures", str(out)])
    assert checked.exit_code == 0, checked.output

    tasks, notes = records(out, "tasks"), records(out, "tasknotes")
    assert len(tasks) > 10 and "Called back." in [note["Note"] for note in notes]
    assert 33 in [patient["PatNum"] for patient in records(out, "patients")]  # ids only
    assert {"AptNum": 755, "PatNum": 0, "AptDateTime": "0001-01-01 00:00:00"} in records(out, "appointments")

    session = upstream_session(office)
    gets = [("/tasks", {"DateTimeOriginal": SINCE}), ("/tasks", {}),
            ("/tasklists", {}), ("/tasklists", {"TaskListStatus": "Archived"}),
            ("/definitions", {"Category": "33", "includeHidden": "true"}),
            ("/userods", {"includeHidden": "true", "includeCEMT": "true"}),
            *(("/tasknotes", {"TaskNum": str(note["TaskNum"])}) for note in notes),
            *((f"/tasks/{task['TaskNum']}", {}) for task in tasks)]
    with LiveServer("--fixtures", str(out)) as served, served.session(office.customer_key) as mock:
        mock.headers["Authorization"] = office.headers["Authorization"]
        for path, params in gets:
            upstream = session.get(office.base_url + path, params=params)
            answer = mock.get(served.api + path, params=params)
            assert (answer.status_code, answer.content) == (upstream.status_code, upstream.content), path


def test_record_sends_only_get(opendental, tmp_path):
    opendental.clear_requests()
    assert run_record(opendental, "--output", str(tmp_path / "out")).exit_code == 0
    methods = {entry["method"] for entry in opendental.requests()}
    assert methods == {"GET"}


def test_relative_writes_times_relative_to_now(opendental, tmp_path):
    out = tmp_path / "out"
    result = run_record(opendental, "--output", str(out), "--relative", "--since", SINCE)
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["check-fixtures", str(out)]).exit_code == 0
    for task in records(out, "tasks"):
        assert re.fullmatch(r"now(-(\d+d)?(\d+h)?(\d+m)?(\d+s)?)?", task["DateTimeOriginal"]), task
        assert task["DateTimeFinished"] == "0001-01-01 00:00:00" or \
            task["DateTimeFinished"].startswith("now")
    assert all(row["DateTimeEntry"].startswith("now-") for row in records(out, "tasklists"))


def test_anonymize_keeps_ids_references_and_lengths(opendental, tmp_path):
    plain, hidden = tmp_path / "plain", tmp_path / "anonymized"
    assert run_record(opendental, "--output", str(plain), "--since", SINCE).exit_code == 0
    result = run_record(opendental, "--output", str(hidden), "--since", SINCE, "--anonymize")
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["check-fixtures", str(hidden)]).exit_code == 0
    for kind, text in (("tasks", "Descript"), ("tasklists", "Descript"), ("userods", "UserName"),
                       ("userods", "emailAddress")):
        for before, after in zip(records(plain, kind), records(hidden, kind), strict=True):
            assert {k: v for k, v in before.items() if k != text and not k.endswith("Name")
                    and k not in ("DescriptOverride", "emailAddress")} == \
                {k: v for k, v in after.items() if k != text and not k.endswith("Name")
                 and k not in ("DescriptOverride", "emailAddress")}
            assert len(after[text]) == len(before[text])
            assert after[text] != before[text] or not re.search(r"[A-Za-z0-9]", before[text])
            assert after[text].count("@") == before[text].count("@")
    assert records(plain, "patients") == records(hidden, "patients")


def test_limit_caps_the_tasks(opendental, tmp_path):
    out = tmp_path / "out"
    result = run_record(opendental, "--output", str(out), "--since", SINCE, "--limit", "2")
    assert result.exit_code == 0, result.output
    assert len(records(out, "tasks")) == 2
    assert CliRunner().invoke(main, ["check-fixtures", str(out)]).exit_code == 0


def test_503_and_429_are_retried(opendental, tmp_path):
    opendental.fault(method="GET", path="/tasklists", status=503, times=1)
    opendental.fault(method="GET", path="/definitions", status=429, body="Too many requests.", times=1)
    result = run_record(opendental, "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    statuses = [(e["path"], e["status"]) for e in opendental.requests()]
    assert ("/api/v1/tasklists", 503) in statuses and ("/api/v1/definitions", 429) in statuses
    assert statuses.count(("/api/v1/definitions", 200)) == 1


def test_a_lasting_upstream_error_stops_with_its_message(opendental, tmp_path):
    opendental.fault(method="GET", path="/userods", status=404, body="Not here.")
    result = run_record(opendental, "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "/userods" in result.output and 'answered 404: "Not here."' in result.output
    assert "--upstream is the API's base URL ending in /api/v1" in result.output


@pytest.mark.slow
def test_401_from_the_upstream_is_a_clear_message(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("strict: \"true\"\ndevelopers: {devkey: {}}\ncustomers: {custkey: {}}\n")
    with LiveServer("--server", "waitress", "--keys", str(keys)) as upstream:
        result = CliRunner().invoke(main, ["record", "--upstream", upstream.api, "--output",
                                           str(tmp_path / "out")],
                                    env={"OD_DEVELOPER_KEY": "devkey", "OD_CUSTOMER_KEY": "secret-other"})
    assert result.exit_code == 1
    assert "answered 401" in result.output and "OD_CUSTOMER_KEY" in result.output
    assert "secret-other" not in result.output


def test_keys_come_only_from_the_environment(opendental, tmp_path):
    result = CliRunner().invoke(main, ["record", "--upstream", opendental.base_url, "--output",
                                       str(tmp_path / "out")],
                                env={"OD_DEVELOPER_KEY": "devkey", "OD_CUSTOMER_KEY": None})
    assert result.exit_code == 1
    assert "OD_CUSTOMER_KEY must hold your customer key" in result.output


def test_record_refuses_a_folder_that_is_not_empty(opendental, tmp_path):
    (tmp_path / "tasks.yaml").write_text("[]\n")
    result = run_record(opendental, "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "not empty" in result.output


class Throttled(http.server.BaseHTTPRequestHandler):
    """Answers the first request 429 with ``Retry-After: 1``, then ``[]``; notes when each
    request came (the mock's faults send no Retry-After header)."""

    arrivals: list[float] = []

    def do_GET(self) -> None:
        self.arrivals.append(time.monotonic())
        first = len(self.arrivals) == 1
        body = b'"Too many requests."' if first else b"[]"
        self.send_response(429 if first else 200)
        if first:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_429_is_retried_after_the_time_retry_after_asks():
    Throttled.arrivals.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Upstream(f"http://127.0.0.1:{server.server_port}/api/v1", "dev", "cust",
                      backoff=0) as upstream:
            assert upstream.get("/tasks") == []
    finally:
        server.shutdown()
        server.server_close()
    first, second = Throttled.arrivals
    assert second - first >= 1  # without backoff, only Retry-After makes it wait
