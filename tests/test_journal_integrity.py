"""--data-dir: damaged data is never dropped silently (the files, their checksums, the
generations, the conversion of earlier journals and `mockserver data check`)."""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Api
from mockserver import create_app
from mockserver.cli import main
from mockserver.fixtures import export_office
from mockserver.journal import LEGACY, TEMPORARY, decode, encode
from mockserver.persist import PersistError

NEW_TASK = {"TaskListNum": 3842, "Descript": "Call the lab.", "UserNum": 12}
OTHER = "ODFHIR devkey/other-office"


def _start(folder: Path):
    """A server on the data *folder* and an Api of its office "custkey"."""
    app = create_app({"TESTING": True, "DATA_DIR": str(folder)})
    return app, Api(app.test_client())


def _stop(app) -> None:
    app.extensions["mockserver"].journal.close()


def _restart(app, folder: Path):
    _stop(app)
    return _start(folder)


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file of *folder*, byte for byte."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _tasks(api: Api) -> list[dict]:
    return api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json()


def _two_offices(folder: Path):
    """A server on *folder* whose offices "custkey" and "other-office" were written to,
    then restarted: both are in the compacted snapshot.2.jsonl, then one more change
    in journal.2.jsonl. The app, the Api and each office's tasks."""
    app, api = _start(folder)
    api.post("/tasks", json=NEW_TASK)
    api.as_key(OTHER).post("/tasks", json=NEW_TASK)
    app, api = _restart(app, folder)
    api.put("/tasks/1408", json={"Descript": "Changed after the snapshot."})
    return app, api, {"custkey": _tasks(api), "other": _tasks(api.as_key(OTHER))}


# --- a compacted snapshot is never "torn" ------------------------------------------------

def test_snapshot_without_its_final_newline_drops_nothing(tmp_path, caplog):
    app, api, before = _two_offices(tmp_path)
    _stop(app)
    snapshot = tmp_path / "snapshot.2.jsonl"
    snapshot.write_bytes(snapshot.read_bytes()[:-1])
    with caplog.at_level(logging.WARNING, logger="mockserver.persist"):
        app, api = _start(tmp_path)
    assert not caplog.text
    assert _tasks(api) == before["custkey"]
    assert _tasks(api.as_key(OTHER)) == before["other"]
    _stop(app)


@pytest.mark.parametrize("cut", ["the last byte", "the last two bytes", "the end line",
                                 "the last office"])
def test_snapshot_cut_short_stops_the_start_and_changes_nothing(tmp_path, cut):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    snapshot = tmp_path / "snapshot.2.jsonl"
    lines = snapshot.read_bytes().splitlines(keepends=True)
    snapshot.write_bytes({"the last byte": b"".join(lines)[:-2] + b"\n",
                          "the last two bytes": b"".join(lines)[:-2],  # looks torn: is not
                          "the end line": b"".join(lines[:-1]),
                          "the last office": b"".join(lines[:-2] + lines[-1:])}[cut])
    contents = _contents(tmp_path)
    with pytest.raises(PersistError, match=re.escape(str(snapshot))):
        _start(tmp_path)
    assert _contents(tmp_path) == contents


# --- a line whose checksum fails stops the start ---------------------------------------

@pytest.mark.parametrize("name, number, office", [
    ("snapshot.2.jsonl", 2, '"other-office"'),  # the second office of the snapshot
    ("journal.2.jsonl", 1, '"custkey"'),  # a change appended after it
])
def test_corrupt_line_stops_the_start_naming_file_line_office_and_changes_nothing(
        tmp_path, name, number, office):
    app, api, _ = _two_offices(tmp_path)
    api.as_key(OTHER).post("/tasks", json=NEW_TASK)  # the damaged line is not the last
    _stop(app)
    path = tmp_path / name
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) > number
    lines[number - 1] = lines[number - 1].replace(b"Call the lab.", b"Call the lob.", 1) \
        if name.startswith("snapshot") else lines[number - 1].replace(b"Changed", b"Chunged")
    path.write_bytes(b"".join(lines))
    contents = _contents(tmp_path)
    with pytest.raises(PersistError) as refused:
        _start(tmp_path)
    assert f"{path}: line {number} (office {office}): checksum mismatch" in str(refused.value)
    assert "nothing in the data folder was changed" in str(refused.value)
    assert _contents(tmp_path) == contents  # no compaction, no rewrite, nothing removed


def test_serve_on_a_damaged_folder_says_why_and_changes_nothing(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    journal = tmp_path / "journal.2.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b"Changed", b"Chunged"))
    contents = _contents(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--server", "waitress", "--port", "0",
                                       "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: {journal}: line 1 (office \"custkey\"): checksum mismatch" in result.output
    assert _contents(tmp_path) == contents


def test_last_journal_line_that_fails_its_checksum_but_has_its_newline_is_not_torn(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    journal = tmp_path / "journal.2.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b"Changed", b"Chunged"))
    with pytest.raises(PersistError, match="line 1 .*checksum mismatch"):
        _start(tmp_path)


def test_last_journal_line_complete_but_for_its_newline_is_kept(tmp_path):
    app, api, before = _two_offices(tmp_path)
    _stop(app)
    journal = tmp_path / "journal.2.jsonl"
    journal.write_bytes(journal.read_bytes()[:-1])
    app, api = _start(tmp_path)
    assert api.get("/tasks/1408").get_json()["Descript"] == "Changed after the snapshot."
    _stop(app)


def test_line_that_checks_but_cannot_be_replayed_stops_the_start(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    journal = tmp_path / "journal.2.jsonl"
    with open(journal, "ab") as appended:
        appended.write(encode({"op": "clock", "id": 1, "clock": {"frozen": "someday"}}))
    contents = _contents(tmp_path)
    with pytest.raises(PersistError, match=re.escape(
            f'{journal}: line 2 (office "custkey"): cannot be replayed: ValueError: Invalid isoformat string')):
        _start(tmp_path)
    assert _contents(tmp_path) == contents


# --- generations -------------------------------------------------------------------------

def test_compaction_keeps_the_previous_generation_until_the_next_start(tmp_path):
    app, api = _start(tmp_path)
    api.post("/tasks", json=NEW_TASK)
    assert sorted(_contents(tmp_path)) == ["journal.1.jsonl", "lock", "snapshot.1.jsonl"]
    previous = _contents(tmp_path)
    app, api = _restart(app, tmp_path)
    current = _contents(tmp_path)
    assert sorted(current) == ["journal.1.jsonl", "journal.2.jsonl", "lock",
                               "snapshot.1.jsonl", "snapshot.2.jsonl"]
    assert {name: current[name] for name in previous} == previous  # kept as it was
    app, api = _restart(app, tmp_path)
    assert sorted(_contents(tmp_path)) == ["journal.2.jsonl", "journal.3.jsonl", "lock",
                                           "snapshot.2.jsonl", "snapshot.3.jsonl"]
    _stop(app)


def test_crash_between_writing_the_snapshot_and_its_rename_leaves_a_readable_folder(
        tmp_path, monkeypatch):
    app, api, before = _two_offices(tmp_path)
    _stop(app)
    real_replace = os.replace

    def crash(source, target):  # the process dies with the new snapshot still temporary
        raise OSError(5, "Input/output error", str(target))

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(PersistError, match="cannot write"):
        _start(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert {TEMPORARY, "journal.3.jsonl"} <= set(_contents(tmp_path))
    assert not (tmp_path / "snapshot.3.jsonl").exists()
    app, api = _start(tmp_path)
    assert _tasks(api) == before["custkey"]
    assert _tasks(api.as_key(OTHER)) == before["other"]
    assert TEMPORARY not in _contents(tmp_path)
    assert (tmp_path / "snapshot.3.jsonl").exists()
    _stop(app)


def test_current_snapshot_without_its_journal_stops_the_start(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    (tmp_path / "journal.2.jsonl").unlink()  # never a crash: it is made before the snapshot
    with pytest.raises(PersistError, match=r"journal\.2\.jsonl: missing"):
        _start(tmp_path)


def test_changes_without_their_snapshot_stop_the_start(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    (tmp_path / "snapshot.2.jsonl").unlink()  # the changes after it cannot be replayed
    with pytest.raises(PersistError, match=r"journal\.2\.jsonl: changes without snapshot\.2"):
        _start(tmp_path)


# --- journals of earlier versions ----------------------------------------------------------

def _legacy_line(record: dict) -> bytes:
    """A line as earlier versions wrote it: compact JSON, no checksum."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _write_legacy_journal(folder: Path) -> dict[str, list[dict]]:
    """journal.jsonl as earlier versions left it (an office, a task appended, a reset,
    an office reset meanwhile): the tasks each kept office must have."""
    app = create_app({"TESTING": True})
    registry, api = app.extensions["mockserver"], Api(app.test_client())
    clock = {"frozen": None, "offset": [0, 0, 0]}
    lines = [_legacy_line({"op": "office", "id": 1, "key": "custkey", "clock": clock,
                           "state": export_office(registry.office("custkey"))}),
             _legacy_line({"op": "office", "id": 2, "key": "gone", "clock": clock,
                           "state": export_office(registry.office("gone"))})]
    created = api.post("/tasks", json=NEW_TASK).get_json()
    row = next(row for row in export_office(registry.office("custkey"))["tasks"]
               if row["TaskNum"] == created["TaskNum"])
    lines += [_legacy_line({"op": "tasks", "tasks": [row], "id": 1}),
              _legacy_line({"op": "reset", "key": "gone"})]
    folder.mkdir(exist_ok=True)
    (folder / LEGACY).write_bytes(b"".join(lines))
    return {"custkey": _tasks(api)}


@pytest.mark.parametrize("final_newline", [True, False])
def test_journal_of_an_earlier_version_is_read_and_converted(tmp_path, final_newline):
    expected = _write_legacy_journal(tmp_path)
    if not final_newline:  # the probe's case: a whole office was dropped as "torn"
        (tmp_path / LEGACY).write_bytes((tmp_path / LEGACY).read_bytes()[:-1])
    legacy = (tmp_path / LEGACY).read_bytes()
    app, api = _start(tmp_path)
    assert _tasks(api) == expected["custkey"]
    assert len(app.extensions["mockserver"]) == 1  # "gone" was reset
    assert (tmp_path / LEGACY).read_bytes() == legacy  # kept, as the previous generation
    for name in ("snapshot.1.jsonl", "journal.1.jsonl"):
        for line in (tmp_path / name).read_bytes().splitlines():
            decode(line)  # the new format: every line has its checksum
    app, api = _restart(app, tmp_path)
    assert _tasks(api) == expected["custkey"]
    assert not (tmp_path / LEGACY).exists()  # removed once the next start succeeded
    _stop(app)


def test_torn_last_line_of_an_earlier_versions_journal_is_ignored(tmp_path, caplog):
    expected = _write_legacy_journal(tmp_path)
    torn = b'{"op":"tasks","tasks":[{"TaskNum":9'  # their id came last: the office is unknown
    with open(tmp_path / LEGACY, "ab") as journal:
        journal.write(torn)
    with caplog.at_level(logging.WARNING, logger="mockserver.persist"):
        app, api = _start(tmp_path)
    assert f"ignoring a torn last line ({len(torn)} bytes) left by a crash" in caplog.text
    assert _tasks(api) == expected["custkey"]
    _stop(app)


def test_unreadable_line_of_an_earlier_versions_journal_stops_the_start(tmp_path):
    _write_legacy_journal(tmp_path)
    journal = tmp_path / LEGACY
    journal.write_bytes(journal.read_bytes().replace(b'{"op":"reset"', b'{"op":"reset'))
    with pytest.raises(PersistError, match=rf'{LEGACY}: line 4 \(office "gone"\): not JSON'):
        _start(tmp_path)


# --- mockserver data check -------------------------------------------------------------------

def _check(folder: Path):
    return CliRunner().invoke(main, ["data", "check", str(folder)])


def test_data_check_reports_a_sound_folder_and_changes_nothing(tmp_path):
    app, api, before = _two_offices(tmp_path)
    frozen = api.client.put("/__admin/clock", headers=api.as_key(OTHER).headers,
                            json={"now": "2031-05-06 07:08:09", "frozen": True})
    assert frozen.status_code == 200
    contents = _contents(tmp_path)
    result = _check(tmp_path)  # while the server runs: no lock taken
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{tmp_path}: sound\n")
    assert "generation 2; generation 1 kept until the next start succeeds" in result.output
    assert re.search(r"snapshot\.2\.jsonl +[0-9,]+ bytes  current snapshot, 2 offices",
                     result.output)
    assert re.search(r"journal\.1\.jsonl +[0-9,]+ bytes  generation 1 \(previous\)", result.output)
    assert f'office "custkey": {len(before["custkey"])} tasks, ' in result.output
    assert 'office "other-office": ' in result.output
    assert "clock frozen at 2031-05-06 07:08:09" in result.output
    assert "clock running (real time)" in result.output
    assert _contents(tmp_path) == contents
    _stop(app)


def test_data_check_reports_each_problem_and_exits_1(tmp_path):
    app, _, _ = _two_offices(tmp_path)
    _stop(app)
    (tmp_path / "lock").unlink()
    snapshot = tmp_path / "snapshot.2.jsonl"
    snapshot.write_bytes(snapshot.read_bytes().replace(b"Call the lab.", b"Call the lob.", 1))
    journal = tmp_path / "journal.2.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b"Changed", b"Chunged"))
    contents = _contents(tmp_path)
    result = _check(tmp_path)
    assert result.exit_code == 1
    assert f"{tmp_path}: DAMAGED" in result.output
    assert f'problem: {snapshot}: line 1 (office "custkey"): checksum mismatch' in result.output
    assert f'problem: {journal}: line 1 (office "custkey"): checksum mismatch' in result.output
    assert _contents(tmp_path) == contents  # not even a lock file created


def test_data_check_notes_a_torn_tail_and_an_earlier_versions_journal(tmp_path):
    _write_legacy_journal(tmp_path)
    with open(tmp_path / LEGACY, "ab") as journal:
        journal.write(b'{"op":"tasks","id":1,"ta')
    result = _check(tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{LEGACY} of an earlier version (no checksums)" in result.output
    assert "note: " in result.output and "torn last line (24 bytes, office \"custkey\")" \
        in result.output


def test_data_check_of_a_cluster_folder_checks_each_process(tmp_path):
    for n in (1, 2):
        app, api = _start(tmp_path / f"process-{n}")
        api.post("/tasks", json=NEW_TASK)
        _stop(app)
    result = _check(tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'process-1'}: sound" in result.output
    assert f"{tmp_path / 'process-2'}: sound" in result.output


def test_data_check_of_an_empty_folder(tmp_path):
    result = _check(tmp_path)
    assert (result.exit_code, result.output) == (0, f"{tmp_path}: sound\n  no offices kept yet\n")
