"""--data-dir: every acknowledged write survives a restart, a crash included."""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from conftest import Api
from liveserver import SERVERS, LiveServer, all_notes, all_tasks
from mockserver import create_app
from mockserver.cli import main
from mockserver.fixtures import load_dir
from mockserver.journal import LEGACY, LOCK, TEMPORARY
from mockserver.persist import PersistError, inspect

NEW_TASK = {"TaskListNum": 3842, "Descript": "Call the lab.", "UserNum": 12}


def _app(folder: Path):
    return create_app({"TESTING": True, "DATA_DIR": str(folder)})


def _close(app) -> None:
    app.extensions["mockserver"].journal.close()


def _appended(app) -> Path:
    """The journal file *app* appends to."""
    return app.extensions["mockserver"].journal.path


@pytest.fixture
def restart(tmp_path):
    """``restart()`` stops the current in-process server and starts one on the same folder."""
    apps = []

    def start():
        if apps:
            _close(apps[-1])
        apps.append(_app(tmp_path))
        return apps[-1], Api(apps[-1].test_client())

    yield start
    _close(apps[-1])


def test_createTask_updateTask_survive_restart(restart):
    _, api = restart()
    created = api.post("/tasks", json=NEW_TASK).get_json()
    updated = api.put(f"/tasks/{created['TaskNum']}", json={"TaskStatus": "Done"}).get_json()
    other = api.as_key("ODFHIR devkey/other").put("/tasks/1408", json={"Descript": "x"}).get_json()
    _, api = restart()
    assert api.get(f"/tasks/{created['TaskNum']}").get_json() == updated
    assert api.as_key("ODFHIR devkey/other").get("/tasks/1408").get_json() == other
    assert api.get("/tasks/1408").get_json() != other  # still isolated after replay
    after = api.post("/tasks", json=NEW_TASK).get_json()
    assert after["TaskNum"] == created["TaskNum"] + 1  # TaskNums are never reused


def test_createTaskNote_updateTaskNote_survive_restart(restart):
    _, api = restart()
    created = api.post("/tasknotes", json={"TaskNum": 64, "UserNum": 4, "Note": "Kept."}).get_json()
    updated = api.put("/tasknotes/563", json={"Note": "Changed."}).get_json()
    _, api = restart()
    assert api.get(f"/tasknotes/{created['TaskNoteNum']}").get_json() == created
    assert api.get("/tasknotes/563").get_json() == updated
    after = api.post("/tasknotes", json={"TaskNum": 64, "UserNum": 4, "Note": "Next."}).get_json()
    assert after["TaskNoteNum"] == created["TaskNoteNum"] + 1


def test_updateTask_reminder_copy_survives_restart(restart):
    _, api = restart()
    api.put("/tasks/9109", json={"TaskStatus": "Done"})
    before = api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json()
    _, api = restart()
    assert api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json() == before


def test_reset_put_and_clock_survive_restart(restart, tmp_path):
    app, api = restart()
    registry = app.extensions["mockserver"]
    gone = api.as_key("ODFHIR devkey/gone").post("/tasks", json=NEW_TASK).get_json()
    registry.reset("gone")
    imported = registry.new_office("imported", load_dir(None))
    imported.create_task(NEW_TASK)
    registry.put(imported)
    registry.put(imported)  # registered again: still the office that is recorded
    imported.create_task(NEW_TASK)
    frozen = datetime(2031, 5, 6, 7, 8, 9)
    registry.office("clocked").clock.set(frozen, frozen=True)
    registry.office("clocked").clock.advance(timedelta(hours=1))
    app, api = restart()
    registry = app.extensions["mockserver"]
    assert api.as_key("ODFHIR devkey/gone").get(f"/tasks/{gone['TaskNum']}").status_code == 404
    assert registry.office("imported").get_task(gone["TaskNum"]).Descript == NEW_TASK["Descript"]
    assert registry.office("imported").get_task(gone["TaskNum"] + 1).Descript == NEW_TASK["Descript"]
    assert registry.office("clocked").clock.now() == frozen + timedelta(hours=1)


def test_createTask_on_an_office_reset_meanwhile_is_not_replayed(restart):
    app, api = restart()
    registry = app.extensions["mockserver"]
    in_use = registry.office("custkey")  # a request holds the office...
    registry.reset("custkey")  # ...while the control API resets it
    late = in_use.create_task(NEW_TASK)
    _, api = restart()
    assert api.get(f"/tasks/{late.TaskNum}").status_code == 404


def test_state_import_keeping_the_clock_still_records_clock_changes(restart):
    app, _ = restart()
    registry = app.extensions["mockserver"]
    old = registry.office("custkey")
    replacement = registry.new_office("custkey", load_dir(None), clock=old.clock)
    registry.put(replacement)  # as PUT /__admin/state does: the office keeps its clock
    frozen = datetime(2030, 1, 2, 3, 4, 5)
    replacement.clock.set(frozen, frozen=True)
    app, _ = restart()
    assert app.extensions["mockserver"].office("custkey").clock.now() == frozen


def test_torn_last_line_of_the_journal_is_ignored_with_bytes_and_office(restart, tmp_path, caplog):
    app, api = restart()
    created = api.post("/tasks", json=NEW_TASK).get_json()
    torn = b'{"op":"tasks","id":1,"tasks":[{"TaskNum":'  # a crash mid-write
    with open(_appended(app), "ab") as journal:
        journal.write(torn)
    with caplog.at_level(logging.WARNING, logger="mockserver.persist"):
        app, api = restart()
    assert f"ignoring a torn last line ({len(torn)} bytes, office \"custkey\")" in caplog.text
    assert api.get(f"/tasks/{created['TaskNum']}").get_json() == created
    assert inspect(tmp_path).sound and not inspect(tmp_path).notes  # compacted: nothing torn


def test_createTask_failed_journal_write_is_a_500_and_changes_nothing(restart, monkeypatch):
    app, api = restart()
    api.post("/tasks", json=NEW_TASK)  # the office is recorded; the next write appends
    journal, real_write = app.extensions["mockserver"].journal, os.write

    def disk_full(fd, data):
        if fd != journal._fd:
            return real_write(fd, data)
        real_write(fd, bytes(data[: len(data) // 2]))  # half a line reaches the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    before = api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json()
    monkeypatch.setattr(os, "write", disk_full)
    r = api.client.post("/api/v1/tasks", json=NEW_TASK, headers=api.headers)
    monkeypatch.setattr(os, "write", real_write)
    assert (r.status_code, r.get_json()) == (500, "Internal server error.")
    assert api.get("/tasks", query={"DateTimeOriginal": "0001-01-01 00:00:00"}).get_json() == before
    created = api.post("/tasks", json=NEW_TASK).get_json()
    _, api = restart()  # no half line was left in the middle of the journal
    assert api.get(f"/tasks/{created['TaskNum']}").get_json() == created


def test_corrupt_line_in_the_middle_stops_the_start(tmp_path):
    app = _app(tmp_path)
    Api(app.test_client()).post("/tasks", json=NEW_TASK)
    _close(app)
    journal = _appended(app)
    journal.write_bytes(b"{not json\n" + journal.read_bytes())
    with pytest.raises(PersistError, match=re.escape(f"{journal}: line 1: no checksum")):
        _app(tmp_path)


def test_data_dir_used_by_another_server_is_refused(restart, tmp_path):
    restart()
    with pytest.raises(PersistError, match="used by another running server"):
        _app(tmp_path)


def test_data_dir_never_follows_a_planted_symlink(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    data = tmp_path / "data"
    data.mkdir()
    (data / LEGACY).symlink_to(outside)
    with pytest.raises(PersistError, match="cannot open"):
        _app(data)
    assert outside.read_text() == "precious"


def test_data_dir_symlink_in_place_of_the_compaction_file_is_refused(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    data = tmp_path / "data"
    data.mkdir()
    (data / TEMPORARY).symlink_to(outside)
    with pytest.raises(PersistError, match="cannot write"):
        _app(data)
    assert outside.read_text() == "precious"


def test_customer_keys_never_become_file_names(tmp_path):
    app = _app(tmp_path / "data")
    api = Api(app.test_client())
    for key in ("..", ".", "lock", LEGACY, "snapshot.1.jsonl", "%2e%2e"):
        assert api.as_key(f"ODFHIR devkey/{key}").post("/tasks", json=NEW_TASK).status_code == 201
    _close(app)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "journal.1.jsonl", "lock", "snapshot.1.jsonl"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


# --- live servers: graceful stop and SIGKILL --------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", SERVERS)
def test_createTask_survives_graceful_restart_of_live_server(tmp_path, kind):
    with LiveServer("--server", kind, "--data-dir", str(tmp_path)) as server, server.session() as session:
        created = session.post(f"{server.api}/tasks", json=NEW_TASK).json()
        before = all_tasks(session, server.api)
        assert server.stop() == 0
    with LiveServer("--server", kind, "--data-dir", str(tmp_path)) as server, server.session() as session:
        assert all_tasks(session, server.api) == before
        assert before[created["TaskNum"]] == created


WRITERS = 8
KILL_AFTER = 150  # acknowledged writes before the SIGKILL
MAX_WRITES = 2000  # per writer: the load stops by itself even if the kill never comes
# the writes each writer makes in turn: (method, resource, its key, its text field)
WRITES = (("POST", "tasks", "TaskNum", "Descript"), ("PUT", "tasks", "TaskNum", "Descript"),
          ("POST", "tasknotes", "TaskNoteNum", "Note"), ("PUT", "tasknotes", "TaskNoteNum", "Note"))


def _writer(server: LiveServer, customer: str, acked: dict, pending: dict, failures: list,
            count: threading.Semaphore, stop: threading.Event) -> None:
    """POST and PUT tasks and notes in turn (a note on the writer's latest task), recording
    each acknowledged result by resource and the one in flight."""
    with server.session(customer) as session:
        for i in range(MAX_WRITES):
            if stop.is_set():
                return
            method, resource, key, field = WRITES[i % len(WRITES)]
            text = f"{customer} write {i}"
            if method == "POST" or not acked[resource]:
                method, url = "POST", f"{server.api}/{resource}"
                body = ({**NEW_TASK, "Descript": text} if resource == "tasks" else
                        {"TaskNum": max(acked["tasks"], default=1408), "UserNum": 12, "Note": text})
                pending.update(op="POST", resource=resource, text=text)
            else:
                num = max(acked[resource])
                url, body = f"{server.api}/{resource}/{num}", {field: text}
                pending.update(op="PUT", resource=resource, num=num, text=text)
            try:
                response = session.request(method, url, json=body)
            except requests.RequestException:  # refused, reset, or a truncated answer
                return  # the server is gone: this write may or may not have been kept
            if response.status_code not in (200, 201):
                failures.append(f"{customer}: {response.status_code} {response.text}")
                return
            acked[resource][response.json()[key]] = response.json()
            pending.clear()
            count.release()


def _check_survivors(resource: str, field: str, seed: dict, final: dict, acked: dict,
                     pending: dict) -> None:
    """Every acknowledged write of *resource* is in *final*; the one in flight (*pending*)
    may or may not be; nothing else changed from *seed*."""
    maybe = pending if pending.get("resource") == resource else {}
    for num, record in acked.items():
        if maybe.get("op") == "PUT" and maybe["num"] == num and final[num][field] == maybe["text"]:
            continue
        assert final[num] == record
    extra = set(final) - set(seed) - set(acked)
    assert len(extra) <= 1
    for num in extra:
        assert maybe.get("op") == "POST" and final[num][field] == maybe["text"]
    assert {num for num in seed if final[num] != seed[num]} <= set(acked)


def _wait_until_unlocked(folder: Path) -> None:
    """Until no process holds the data folder (granian's worker stops after its parent)."""
    fd = os.open(folder / LOCK, os.O_RDWR)
    try:
        for _ in range(600):  # bounded: 60 s
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.1)
        raise AssertionError(f"{folder} is still locked: an orphan process serves on")
    finally:
        os.close(fd)  # releases the lock taken here


@pytest.mark.slow
@pytest.mark.parametrize("kind", SERVERS)
def test_tasks_and_tasknotes_every_acknowledged_write_survives_sigkill(tmp_path, kind):
    """POST and PUT /tasks and /tasknotes under load, SIGKILL, restart: each acknowledged
    write is there."""
    customers = [f"crash-{n}" for n in range(WRITERS)]
    acked = {c: {"tasks": {}, "tasknotes": {}} for c in customers}
    pending = {c: {} for c in customers}
    count, stop, failures = threading.Semaphore(0), threading.Event(), []
    with LiveServer("--server", kind, "--data-dir", str(tmp_path)) as server:
        with server.session() as session:
            seed = {"tasks": all_tasks(session, server.api),
                    "tasknotes": all_notes(session, server.api)}
        threads = [threading.Thread(target=_writer,
                                    args=(server, c, acked[c], pending[c], failures, count, stop))
                   for c in customers]
        for thread in threads:
            thread.start()
        for _ in range(KILL_AFTER):
            assert count.acquire(timeout=60), f"the write load stalled: {failures}"
        server.kill()  # in the middle of the load: writers have requests in flight
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures
    assert any(acked[c]["tasknotes"] for c in customers)  # notes were written before the kill
    _wait_until_unlocked(tmp_path)
    with LiveServer("--server", kind, "--data-dir", str(tmp_path)) as server:
        for customer in customers:
            with server.session(customer) as session:
                final = {"tasks": all_tasks(session, server.api),
                         "tasknotes": all_notes(session, server.api)}
            for resource, field in (("tasks", "Descript"), ("tasknotes", "Note")):
                _check_survivors(resource, field, seed[resource], final[resource],
                                 acked[customer][resource], pending[customer])
    report = inspect(tmp_path)  # compacted on start, nothing damaged or torn
    assert report.sound and not report.notes


def test_serve_data_dir_in_use_is_a_clear_error(restart, tmp_path):
    restart()
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: {tmp_path}: used by another running server" in result.output
