"""The validated-dataset cache of `mockserver serve`: a hit is the same Dataset, any change
to the fixtures' bytes or a damaged cache file means a fresh load from YAML."""
from __future__ import annotations

import gc
import hashlib
import marshal
import stat
import time

import pytest
from click.testing import CliRunner

from conftest import fixture_dir, make_app
from liveserver import SERVERS, LiveServer
from mockserver import fixtures
from mockserver.app import LATER
from mockserver.cli import main
from mockserver.fixtures import DatasetCache, FixtureError, default_cache_dir, load_dir
from mockserver.store import Clock

TASKS = """\
- {TaskNum: 1, TaskListNum: 14, Descript: absolute, UserNum: 1, DateTask: "2024-02-29",
   DateTimeEntry: "2024-02-29 23:59:58", DateTimeOriginal: "0001-01-01 00:00:00"}
- {TaskNum: 2, TaskListNum: 14, Descript: relative, UserNum: 1, DateTask: now-1d,
   DateTimeEntry: now-2h30m, DateTimeOriginal: now-2h30m, IsReadOnly: "true"}
- {TaskNum: 3, TaskListNum: 14, Descript: relative, UserNum: 1, DateTask: "2024-02-29",
   DateTimeEntry: now, DateTimeOriginal: now+1d}
"""


@pytest.fixture
def parses(monkeypatch):
    """Counts the YAML files parsed (a cache hit parses none)."""
    seen = []
    real = fixtures.read_yaml

    def counting(text, origin):
        seen.append(origin)
        return real(text, origin)

    monkeypatch.setattr(fixtures, "read_yaml", counting)
    return seen


@pytest.fixture
def folder(tmp_path):
    return fixture_dir(tmp_path, tasks=TASKS)


def cache_files(cache):
    return list(cache.glob("*.marshal"))


WAIT = 20  # seconds: upper bound of a wait on the subprocess, never a measurement


def test_hit_is_the_same_dataset_without_parsing(tmp_path, folder, parses):
    cache = tmp_path / "cache"
    fresh = load_dir(folder, cache)
    assert len(parses) == 7 and len(cache_files(cache)) == 1
    parses.clear()
    cached = load_dir(folder, cache)
    assert parses == []
    assert cached == fresh == load_dir(folder)  # dates, datetimes, RelativeTimes, booleans
    now = Clock().now()
    assert list(cached.materialize(now)["tasks"]) == list(fresh.materialize(now)["tasks"])


def test_cache_folder_is_private(tmp_path, folder):
    cache = tmp_path / "a" / "cache"
    load_dir(folder, cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in cache_files(cache))


def test_folder_open_to_others_is_neither_read_nor_written(tmp_path, folder, parses, caplog):
    cache = tmp_path / "cache"
    load_dir(folder, cache)
    cache.chmod(0o755)
    parses.clear()
    assert load_dir(folder, cache) == load_dir(folder)
    assert len(parses) == 14 and "open to other users" in caplog.text


@pytest.mark.parametrize("change", [
    lambda f: (f / "tasks.yaml").write_text((f / "tasks.yaml").read_text().replace("now-1d", "now-2d")),
    lambda f: (f / "patients.yaml").write_bytes((f / "patients.yaml").read_bytes() + b" "),
    lambda f: (f / "office.yaml").unlink(),
])
def test_any_byte_change_is_a_miss(tmp_path, folder, parses, change):
    cache = tmp_path / "cache"
    load_dir(folder, cache)
    change(folder)
    parses.clear()
    assert load_dir(folder, cache) == load_dir(folder)
    assert parses and len(cache_files(cache)) == 1  # the folder's entry was replaced


def test_other_code_or_version_is_a_miss(tmp_path, folder, monkeypatch):
    def head():
        return DatasetCache(tmp_path, folder.resolve(), {"tasks": folder / "tasks.yaml"}).head

    before = head()
    monkeypatch.setattr(fixtures, "_package_version", lambda: "99.0")
    assert head() != before


@pytest.mark.parametrize("damage", [
    lambda raw: b"",
    lambda raw: raw[:len(raw) // 2],
    lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # checksum no longer matches
    lambda raw: b"garbage" + raw,
])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path, folder, parses, damage):
    cache = tmp_path / "cache"
    expected = load_dir(folder, cache)
    (entry,) = cache_files(cache)
    entry.write_bytes(damage(entry.read_bytes()))
    parses.clear()
    assert load_dir(folder, cache) == expected
    assert parses
    parses.clear()
    assert load_dir(folder, cache) == expected and parses == []  # rewritten


@pytest.mark.parametrize("content", [
    {"records": 1}, {"times": ([], [], []), "records": {"tasks": [{"DateTask": 5}]}}, [], 7,
    {"version": "24.4.13", "relative": False, "times": ([], [], []),  # a record left out
     "records": {"tasks": [(("TaskNum",), [0], [[1]]), (("TaskNum",), [0], [[2]])]}}])
def test_marshal_data_of_another_shape_is_ignored(tmp_path, folder, parses, content):
    cache = tmp_path / "cache"
    expected = load_dir(folder, cache)
    (entry,) = cache_files(cache)
    packed = marshal.dumps(content)
    head = DatasetCache(cache, folder.resolve(), fixtures_of(folder)).head
    assert entry.read_bytes().startswith(head)
    entry.write_bytes(head + hashlib.sha256(packed).digest() + packed)
    parses.clear()
    assert load_dir(folder, cache) == expected and parses


def fixtures_of(folder):
    return {f.stem: f for f in sorted(folder.glob("*.yaml"))}


def test_packing_keeps_the_parsed_dataset(folder):
    parsed = fixtures._parse_files(fixtures_of(folder), folder)
    assert parsed.relative and fixtures._unpack(fixtures._pack(parsed)) == parsed


def test_invalid_fixtures_are_never_cached(tmp_path):
    cache = tmp_path / "cache"
    bad = fixture_dir(tmp_path, tasks="- {TaskNum: x}\n")
    for _ in range(2):
        with pytest.raises(FixtureError, match="TaskNum is invalid."):
            load_dir(bad, cache)
    assert not cache.exists() or cache_files(cache) == []


def test_unwritable_cache_only_warns(tmp_path, folder, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert load_dir(folder, blocker / "cache") == load_dir(folder)
    assert "cannot write the dataset cache" in caplog.text


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "opendental-tasks-mock"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "opendental-tasks-mock"


def test_app_uses_the_cache_only_when_configured(tmp_path, folder):
    cache = tmp_path / "cache"
    make_app({"FIXTURES": str(folder)})
    assert not cache.exists()
    make_app({"FIXTURES": str(folder), "FIXTURE_CACHE": str(cache)})
    assert len(cache_files(cache)) == 1


@pytest.mark.parametrize("flags,cached", [([], True), (["--no-cache"], False)])
def test_serve_caches_unless_told_not_to(monkeypatch, flags, cached):
    seen = []

    def create_app(config):
        seen.append(config["FIXTURE_CACHE"])
        raise FixtureError("stop here")

    monkeypatch.setattr("mockserver.cli.create_app", create_app)
    result = CliRunner().invoke(main, ["serve", "--port", "0", *flags])
    assert result.exit_code == 1 and seen == [default_cache_dir() if cached else None]
    assert gc.isenabled()


def test_release_free_memory_is_harmless_everywhere(monkeypatch):
    from mockserver import cli
    cli._release_free_memory()  # glibc here: really trims
    monkeypatch.setattr(cli.sys, "platform", "darwin")
    cli._release_free_memory()


def test_only_the_latest_datasets_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(fixtures, "CACHE_ENTRIES", 2)
    cache = tmp_path / "cache"
    entries = []
    for n in range(3):
        (tmp_path / str(n)).mkdir()
        load_dir(fixture_dir(tmp_path / str(n)), cache)
        entries.append({f.name for f in cache_files(cache)} - set().union(*entries))
    assert {f.name for f in cache_files(cache)} == entries[1] | entries[2]


def test_a_write_handed_to_later_happens_only_when_run(tmp_path, folder, parses):
    cache, jobs = tmp_path / "cache", []
    fresh = load_dir(folder, cache, later=jobs.append)
    assert len(jobs) == 1 and cache_files(cache) == []
    jobs[0]()
    parses.clear()
    assert load_dir(folder, cache, later=jobs.append) == fresh
    assert parses == [] and len(jobs) == 1  # a hit: nothing to write


def test_app_hands_the_write_to_its_later_jobs_when_configured(tmp_path, folder):
    cache = tmp_path / "cache"
    app = make_app({"FIXTURES": str(folder), "FIXTURE_CACHE": str(cache),
                    "FIXTURE_CACHE_LATER": True})
    (job,) = app.extensions[LATER]
    assert cache_files(cache) == []
    job()
    assert len(cache_files(cache)) == 1


@pytest.mark.parametrize("kind", SERVERS)
def test_serve_writes_the_cache_once_it_answers(tmp_path, folder, monkeypatch, kind):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    entry = DatasetCache(default_cache_dir(), folder.resolve(), fixtures_of(folder))
    with LiveServer("--server", kind, "--fixtures", str(folder)) as server, \
            server.session() as session:
        assert session.get(f"{server.api}/tasks/1").status_code == 200
        deadline = time.monotonic() + WAIT
        while entry.read() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert entry.read() == load_dir(folder)
        assert server.stop() == 0
