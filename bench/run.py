"""The benchmark: the mock server against comparable baselines and peer mocks, in one run,
with the team's targets beside the figures.

    .venv/bin/python bench/run.py [--duration 3] [--repeat 3] [--starts 3] [--sizes 1000,100000]
                                  [--mock-default KIND] [--mock-servers KINDS] [--skip-setup]
                                  [--no-peers]

Setup installs wrk (apt-get), gunicorn and granian (pip, into this interpreter's
environment) and, when node is present, Prism and json-server (npm, into bench/.node/,
which bench/.gitignore keeps out of git) when they are missing.

For each size it generates a fixtures folder (``mockserver generate-fixtures``) and starts,
one at a time, each on 127.0.0.1:
- the mock on each server of MOCK_SERVERS: ``mockserver serve --quiet`` for the default
  server (read from ``mockserver serve --help``, or --mock-default), ``--server KIND`` for
  the others; the default is the one the targets are judged on;
- the baseline app (bench/baseline_app.py) on each of those servers, through the server's
  stock command line with the mock's processes and threads (``granian --interface wsgi
  --workers 1 --blocking-threads 1``, ``waitress-serve --threads=1``): the mock's work
  against a minimal app's on the same server;
- the baseline app under gunicorn, 2 workers x 4 gthreads: the earlier baseline, kept as
  context and for the requests per server CPU-second;
- at PEER_SIZE tasks only, the peer mocks: Prism serving the repository's openapi.yaml,
  and json-server serving the same tasks as a db.json.

Each server is started once untimed (it compiles its modules, and fills the dataset cache
of a mock that has one), then --starts times timed, from process start to its first 200;
the last one stays up. With every server up, wrk (CONNECTIONS connections, bench/wrk.lua)
drives each for GET one, GET a filtered list, PUT and POST, and the mocks also for a task's
notes (GET /tasknotes?TaskNum=, judged against the filtered list on the same mock): a 1 s
warm-up run that counts every answer's status, then --repeat measured runs, interleaved
(each repeat goes round all servers at all sizes), so a noisy moment hits all of them and a
size is compared with another run by run. GET one, the notes and PUT pick among the same
SPREAD tasks at every size, and
POST among their task lists, so a larger dataset is judged on the same number of distinct
tasks. Then bench/abuse.py runs against each mock at the smallest size, and 1,000 offices
are created in-process. Server CPU time and memory come from /proc. Results: a markdown
report in bench/results/ with every target beside its figure, and the raw JSON (every
run's req/s) in bench/results/raw/. Numbers are only comparable within one run: read the
ratios.

Reading the report. "Targets" lists each yardstick with its target, the default server's
figure and whether it is met, and the other servers' figures beside it (in brackets: not
judged). Then, per size: every server's req/s with its p50 / p99 latency; the mock's
req/s against each other server; requests per server CPU-second (for the mocks, against
gunicorn 2x4); the status of every answer in the warm-up run and any failure in the
measured runs (a non-2xx share means a call was not served as meant: look at it before
that server's figures); start time and memory. Then each larger size against the
smallest, run by run; the connection abuse; offices; and every server's command line.
With --repeat 2 a run takes about 9 minutes on 2 CPUs when every server starts within a
few seconds; each server is started --starts + 1 times per size, so a slow start counts
that many times.
"""
from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import abuse  # noqa: E402  (bench/abuse.py, next to this file)

HEADERS = {"Authorization": "ODFHIR bench/bench", "Content-Type": "application/json"}
CALLS = ("get", "list", "notes", "put", "post")  # POST last: it grows the table
CALL_NAMES = {"get": "GET one task", "list": "GET filtered list", "notes": "GET /tasknotes?TaskNum=",
              "put": "PUT", "post": "POST"}
MOCK_CALLS = ("notes",)  # calls only the mocks serve: the baseline app and the peers keep no notes
SHARED_CALLS = tuple(call for call in CALLS if call not in MOCK_CALLS)  # every server serves them
CONNECTIONS = 32
MOCK_SERVERS = ("granian", "waitress")  # the `mockserver serve --server` kinds benchmarked
DEFAULT_SERVER = "granian"  # serve's default when its --help does not name one
THREADS = 1  # serve's default --threads: the baselines on its servers run as many
GUNICORN = "gunicorn"  # the baseline app under gunicorn, 2 workers x 4 gthreads
# installed only if missing: granian is a dependency of the mock, but was the pinned
# `fast` extra before it became the default server
GRANIAN = "granian==2.8.7"
# Prism 5.14.2 is the newest that runs on node 20 (5.15 and later need node 24)
PEERS = {"prism": "@stoplight/prism-cli@5.14.2", "json-server": "json-server@0.17.4"}
NODE_DIR = BENCH / ".node"  # npm installs the peers here (git-ignored: bench/.gitignore)
PEER_SIZE = 1000  # the peers run at this size only
# GET one and PUT pick among the first SPREAD TaskNums at every size, and POST among the
# POST_LISTS task lists that generate-fixtures makes for SPREAD tasks (one per 125)
SPREAD = 1000
POST_LISTS = 8
STARTS = 3  # timed starts per server and size (--starts): one start alone is too noisy
WRK_TIMEOUT = "10s"  # wrk's default, 2 s, drops the slowest servers' requests (a scan of 100,000 tasks)
TICKS = os.sysconf("SC_CLK_TCK")
# Python keeps what it compiles (__pycache__) unless PYTHONDONTWRITEBYTECODE is set, as it
# is on some CI machines: then every start compiles the package again. The servers here
# keep it, as a developer's machine does.
KEEP_BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}  # empty is unset

# The team's targets, judged on the default server (see ``targets``).
SAME_SERVER_MIN = {"get": 0.8, "list": 1.5, "put": 0.8, "post": 0.8}  # against the baseline app there
PER_CPU_MIN = 1.0  # requests per server CPU-second, against gunicorn 2x4, every call
PRISM_MIN = 1.0  # req/s against Prism, every call
JSON_SERVER_MIN = {"put": 10.0, "post": 10.0}  # req/s against json-server
TARGET_SIZE = 1000  # the size goals 1 and 2 are judged at
LARGE_SIZE = 100_000
LARGE_CHANGE_MIN = -15.0  # GET one, PUT, POST at LARGE_SIZE against TARGET_SIZE, % (run by run)
LARGE_LIST_MIN = 40.0  # the list at LARGE_SIZE against the baseline app on the same server
LARGE_NOTES_MIN = 0.85  # a task's notes at LARGE_SIZE against the filtered list on the same mock
START_MAX = {TARGET_SIZE: 1.25, LARGE_SIZE: 1.0}  # start against the baseline app on the same server
RSS_MAX_MIB = {TARGET_SIZE: 50, LARGE_SIZE: 150}


def mock_name(kind: str) -> str:
    return f"mock-{kind}"


def serves(name: str, call: str) -> bool:
    """Whether the server *name* is driven for *call* (MOCK_CALLS: the mocks only)."""
    return call not in MOCK_CALLS or name.startswith("mock-")


def baseline_name(kind: str) -> str:
    return f"baseline-{kind}"


# --- setup -------------------------------------------------------------------------------

def setup(peers: bool) -> None:
    """Install wrk, gunicorn, granian and (if *peers* and node is present) the peer mocks
    when they are missing."""
    if shutil.which("wrk") is None:
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
    for module, requirement in (("gunicorn", "gunicorn"), ("granian", GRANIAN)):
        try:
            __import__(module)
        except ImportError:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", requirement], check=True)
    if peers and shutil.which("node") and shutil.which("npm") and peers_missing():
        print(f"installing {', '.join(PEERS.values())} into {NODE_DIR.relative_to(ROOT)}...", flush=True)
        NODE_DIR.mkdir(exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
                               "--loglevel=error", *PEERS.values()])
        if done.returncode != 0:
            print("npm install failed: the peer mocks will be skipped", flush=True)


def peers_missing() -> str | None:
    """Why the peer mocks cannot run (node absent, or not installed), or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    for spec in PEERS.values():
        package, version = spec.rsplit("@", 1)
        try:
            installed = json.loads((NODE_DIR / "node_modules" / package / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            installed = None
        if installed != version:
            return f"{spec} is not installed in bench/.node (run without --skip-setup)"
    return None


def peer_bin(name: str) -> str:
    return str(NODE_DIR / "node_modules" / ".bin" / name)


def script(name: str) -> str:
    """A console script of this interpreter's environment (granian, waitress-serve)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def default_server() -> str:
    """The server ``mockserver serve`` uses without --server, as its --help shows it
    (DEFAULT_SERVER if the help names none)."""
    text = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("--server"):
            block = [line]
            for more in lines[i + 1:]:  # the option's wrapped description, up to the next option
                if more.lstrip().startswith("-"):
                    break
                block.append(more)
            found = re.search(r"\[default: (\w+)\]", " ".join(" ".join(block).split()))
            if found and found.group(1) in MOCK_SERVERS:
                return found.group(1)
    return DEFAULT_SERVER


def code_version() -> str:
    """The commit measured, and which files outside bench/ differ from it (git), for the
    report; "unknown" without git."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line[3:] for line in status.splitlines() if not line[3:].startswith("bench/")]
    if not changed:
        return f"commit {commit}"
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f"commit {commit} with uncommitted changes to {shown}"


def versions() -> str:
    """The servers' versions, for the report."""
    found = []
    for package in ("granian", "waitress", "gunicorn", "Flask"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    if shutil.which("node"):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        found.append(f"node {node}")
    return ", ".join(found)


# --- processes ---------------------------------------------------------------------------

def tree(pid: int) -> list[int]:
    """*pid* and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process tree."""
    total = 0
    for p in tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime
    return total / TICKS


def memory_mib(pid: int, field: str = "Rss") -> float:
    """Memory of a process tree, MiB: the sum of each process's *field* in smaps_rollup.

    Rss counts the pages that forked processes share once per process; Pss splits each
    shared page among its sharers, so the tree's sum is what it really holds.
    """
    total = 0
    for p in tree(pid):
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in rollup.splitlines()
                       if line.startswith(f"{field}:")), 0)
    return total / 1024


# urllib without proxies: every request of the bench goes to 127.0.0.1
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """A server process started for the benchmark, with its time to first answer.

    *style* is how it spells the calls (bench/wrk.lua): ``mock`` (/api/v1/tasks...),
    ``prism`` or ``json-server`` (/tasks...).
    """

    def __init__(self, name: str, command: list[str], port: int, env: dict | None = None,
                 style: str = "mock", cwd: Path = ROOT):
        self.name, self.command, self.port, self.style = name, command, port, style
        # a file, not a pipe: nobody drains a pipe during the run and a full one blocks the server
        self.log = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.process = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=cwd,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        try:
            self.ready_s = self._wait_ready(started)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, started: float, timeout: float = 300) -> float:
        path = "/api/v1/tasks/1000" if self.style == "mock" else "/tasks/1000"
        probe = urllib.request.Request(self.url + path, headers=HEADERS)
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.log.read().decode()[-2000:]}")
            try:
                # the first request may build the office (all tasks): a long timeout
                with LOCAL.open(probe, timeout=timeout) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):  # not listening yet (or not a 200)
                time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(kind: str, default: str, fixtures: Path, cache: Path) -> Server:
    """``mockserver serve`` on server *kind*: no --server for the default. *cache* is its
    XDG_CACHE_HOME, so that a mock that keeps a dataset cache keeps it there."""
    port = free_port()
    command = [sys.executable, "-m", "mockserver", "serve", "--quiet", "--host", "127.0.0.1",
               "--port", str(port), "--fixtures", str(fixtures)]
    if kind != default:
        command += ["--server", kind]
    return Server(mock_name(kind), command, port, env={"XDG_CACHE_HOME": str(cache), **KEEP_BYTECODE})


def start_baseline(kind: str, tasks: int) -> Server:
    """The baseline app with *tasks* tasks on server *kind* (granian, waitress: the stock
    command line, THREADS threads, one process) or under gunicorn (GUNICORN: 2 x 4)."""
    port = free_port()
    app = "bench.baseline_app:app"
    if kind == "granian":
        command = [script("granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "1", "--blocking-threads", str(THREADS), "--log-level", "error", app]
    elif kind == "waitress":
        command = [script("waitress-serve"), f"--listen=127.0.0.1:{port}", f"--threads={THREADS}", app]
    elif kind == GUNICORN:
        command = [script("gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}",
                   "--chdir", str(BENCH), "--log-level", "warning", "baseline_app:app"]
    else:
        raise ValueError(f"no baseline command for the server {kind!r}")
    name = GUNICORN if kind == GUNICORN else baseline_name(kind)
    return Server(name, command, port, env={"BENCH_TASKS": str(tasks), "PYTHONPATH": str(ROOT), **KEEP_BYTECODE})


def start_prism() -> Server:
    """Prism's mock of the repository's openapi.yaml (static examples, its default;
    logging only fatal errors: it otherwise logs each answer)."""
    port = free_port()
    return Server("prism", [peer_bin("prism"), "mock", "--host", "127.0.0.1", "--port", str(port),
                            "--verboseLevel", "fatal", str(ROOT / "openapi.yaml")], port, style="prism")


def start_json_server(db: Path) -> Server:
    """json-server on *db* (its ``tasks``, keyed by TaskNum); it rewrites the file on every write."""
    port = free_port()
    return Server("json-server", [peer_bin("json-server"), "--id", "TaskNum", "--host", "127.0.0.1",
                                  "--port", str(port), "--quiet", db.name],
                  port, style="json-server", cwd=db.parent)


def timed_starts(start: Callable[[], Server], starts: int) -> tuple[Server, list[float]]:
    """One untimed start (compiled modules; a dataset cache if the server keeps one), then
    *starts* timed ones: the last server, left running, and each timed start's seconds."""
    start().stop()
    ready = []
    for i in range(starts):
        server = start()
        ready.append(server.ready_s)
        if i < starts - 1:
            server.stop()
    return server, ready


# --- fixtures ----------------------------------------------------------------------------

def generate_fixtures(tasks: int, folder: Path) -> Path:
    """A fixtures folder of *tasks* generated tasks (``mockserver generate-fixtures``)."""
    subprocess.run([sys.executable, "-m", "mockserver", "generate-fixtures", "--tasks", str(tasks),
                    "--output", str(folder)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder


def task_lists(fixtures: Path) -> int:
    """How many task lists a fixtures folder has."""
    return len(yaml.safe_load((fixtures / "tasklists.yaml").read_text(encoding="utf-8")))


def write_db(tasks: int, folder: Path) -> Path:
    """json-server's db.json: the baseline app's *tasks* tasks as the ``tasks`` collection."""
    from baseline_app import load_tasks  # bench/baseline_app.py
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "db.json"
    db.write_text(json.dumps({"tasks": list(load_tasks(tasks).values())}), encoding="utf-8")
    return db


# --- load --------------------------------------------------------------------------------

def wrk_command(server: Server, size: int, lists: int, call: str, duration: float,
                statuses: bool = False) -> list[str]:
    """wrk driving *call* on *server* (a dataset of *size* tasks in *lists* task lists)."""
    call_lists = lists if call == "list" else min(POST_LISTS, lists)
    return ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{duration:g}s", "--timeout", WRK_TIMEOUT,
            "--latency", "-s", str(BENCH / "wrk.lua"), server.url, "--", call, str(min(SPREAD, size)),
            str(call_lists), server.style, *(["statuses"] if statuses else [])]


def drive(servers: dict[int, list[Server]], lists: dict[int, int], call: str, duration: float,
          repeat: int) -> dict:
    """Per (size, server name): a 1 s warm-up run counting every answer's status, then the
    median (by req/s) of *repeat* wrk runs of *call*.

    Each repeat goes round every server, and each server's sizes one after the other, so
    a noisy moment hits them all: the mock against its baselines, and a mock at 100,000
    tasks against itself at 1,000, are runs seconds apart (see ``scale``). Every run's
    req/s is kept (``rps_runs``, in the order run).
    """
    commands = {(size, server.name): server for size, started in servers.items() for server in started
                if serves(server.name, call)}
    warmup = {}
    for (size, name), server in commands.items():
        warmup[size, name] = run_wrk(server, wrk_command(server, size, lists[size], call, 1, statuses=True))
    order = sorted(commands, key=lambda key: (key[1], key[0]))  # by server, then size
    runs: dict[tuple[int, str], list[dict]] = {key: [] for key in order}
    for _ in range(repeat):
        for size, name in order:
            server = commands[size, name]
            runs[size, name].append(run_wrk(server, wrk_command(server, size, lists[size], call, duration)))
    return {key: {**sorted(done, key=lambda r: r["rps"])[len(done) // 2],
                  "rps_runs": [r["rps"] for r in done],
                  "errors": sum(r["errors"] for r in done), "non2xx": sum(r["non2xx"] for r in done),
                  "warmup_statuses": warmup[key]["statuses"]}
            for key, done in runs.items()}


def run_wrk(server: Server, command: list[str]) -> dict:
    """One wrk run: req/s, latency, requests per server CPU-second, failures, statuses."""
    cpu_before = cpu_seconds(server.process.pid)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(server.process.pid) - cpu_before
    stats = json.loads(output.strip().splitlines()[-1])
    seconds = stats["duration_us"] / 1e6
    return {"rps": stats["requests"] / seconds, "p50_ms": stats["p50_us"] / 1000,
            "p99_ms": stats["p99_us"] / 1000, "per_cpu_s": stats["requests"] / max(cpu, 1e-9),
            "requests": stats["requests"], "errors": stats["errors"], "non2xx": stats["non2xx"],
            "statuses": stats["statuses"]}


def bench_servers(folders: dict[int, Path], db: Path | None, kinds: list[str], default: str,
                  starts: int, duration: float, repeat: int, abuse_seconds: float) -> dict:
    """Start every server, size after size, one at a time; drive all of them; then the
    connection abuse against each mock at the smallest size."""
    servers: dict[int, list[Server]] = {}
    results: dict = {"sizes": {}, "abuse": {}}
    lists = {size: task_lists(fixtures) for size, fixtures in folders.items()}
    try:
        for size, fixtures in folders.items():
            starters: dict[str, Callable[[], Server]] = {}
            for kind in kinds:
                starters[mock_name(kind)] = partial(start_mock, kind, default, fixtures, fixtures.parent / "cache")
                starters[baseline_name(kind)] = partial(start_baseline, kind, size)
            starters[GUNICORN] = partial(start_baseline, GUNICORN, size)
            if db is not None and size == PEER_SIZE:
                starters["prism"] = start_prism
                starters["json-server"] = partial(start_json_server, db)
            print(f"{size:,} tasks: starting {', '.join(starters)}...", flush=True)
            started = servers[size] = []
            by_server = results["sizes"][size] = {}
            for name, start in starters.items():
                server, ready = timed_starts(start, starts)
                started.append(server)
                by_server[name] = {"command": shlex.join(server.command), "ready_s": statistics.median(ready),
                                   "ready_runs": ready, "rss_ready_mib": memory_mib(server.process.pid),
                                   "pss_ready_mib": memory_mib(server.process.pid, "Pss")}
        for call in CALLS:
            print(f"driving {CALL_NAMES[call]}...", flush=True)
            for (size, name), result in drive(servers, lists, call, duration, repeat).items():
                results["sizes"][size][name][call] = result
        for size, started in servers.items():
            for server in started:
                results["sizes"][size][server.name]["rss_after_mib"] = memory_mib(server.process.pid)
        smallest = min(servers)
        for kind in kinds:
            server = next(s for s in servers[smallest] if s.name == mock_name(kind))
            print(f"connection abuse against {server.name}...", flush=True)
            results["abuse"][kind] = {"size": smallest, "scenarios": abuse.run_all(server.url, abuse_seconds)}
    finally:
        for started in servers.values():
            for server in started:
                server.stop()
    return results


# --- offices -----------------------------------------------------------------------------

def bench_offices(fixtures: Path, count: int = 1000, writers: int = 20) -> dict:
    """Creating *count* offices from one seed, the first write in a new office, and what
    each of *writers* offices that wrote (a POST and a PUT) adds: memory, and time in a
    full garbage collection (measured with every object made before them frozen out of
    the collector, so that its walk over the seed does not drown their share in noise).

    This uses the mock's internal API (mockserver.fixtures.load_dir, store.Registry);
    when that is not there (or has changed), the result says so and the run goes on.
    """
    try:
        from mockserver.fixtures import load_dir
        from mockserver.store import Registry
        # room for the warm-up office, *count* offices and *writers* more
        registry = Registry(load_dir(fixtures), max_offices=count + writers + 1)
        registry.office("warm")  # the seed's records are resolved once, on the first office
    except (ImportError, AttributeError, TypeError) as exc:
        return {"skipped": f"the mock's internal API differs: {exc}"}
    tracemalloc.start()
    started = time.perf_counter()
    for i in range(count):
        registry.office(f"customer-{i}")
    elapsed = time.perf_counter() - started
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    office = registry.office("customer-0")
    started = time.perf_counter()
    office.create_task({"TaskListNum": 1, "Descript": "first write", "UserNum": 1})
    first_write = time.perf_counter() - started
    gc.collect()
    gc.freeze()
    try:
        full_gc = _full_gc_seconds()
        tracemalloc.start()
        for i in range(writers):
            office = registry.office(f"writer-{i}")
            task = office.create_task({"TaskListNum": 1, "Descript": "a write", "UserNum": 1})
            office.update_task(task.TaskNum - 1, {"TaskStatus": "Viewed"})
        written, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        full_gc_each = (_full_gc_seconds() - full_gc) / writers
    finally:
        gc.unfreeze()
    return {"offices": count, "seconds": elapsed, "kib_per_office": memory / 1024 / count,
            "first_write_ms": first_write * 1000, "writers": writers,
            "kib_per_writer": written / 1024 / writers, "full_gc_ms_per_writer": full_gc_each * 1000}


def _full_gc_seconds(repeat: int = 5) -> float:
    """The fastest of *repeat* full garbage collections."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    return min(times)


# --- targets -----------------------------------------------------------------------------

def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _change(runs: list[float], reference: list[float]) -> list[float]:
    """Each run against the reference run made in the same repeat, in %, sorted."""
    return sorted((run / ref - 1) * 100 for run, ref in zip(runs, reference))


def size_change(sizes: dict, name: str, call: str, size: int, reference: int) -> float | None:
    """The median run-by-run change of *name*'s req/s of *call* from *reference* to *size*, %."""
    if size not in sizes or reference not in sizes or name not in sizes[size]:
        return None
    return statistics.median(_change(sizes[size][name][call]["rps_runs"], sizes[reference][name][call]["rps_runs"]))


def targets(results: dict, kind: str) -> list[tuple[str, str, float | str | None, str, bool | None]]:
    """Rows (goal, yardstick, figure, target, met) for the mock on *kind*: a figure of None
    (and met None) where this run has nothing to judge it by (a size or a peer missing)."""
    sizes, mock, base = results["sizes"], mock_name(kind), baseline_name(kind)
    small, large = sizes.get(TARGET_SIZE, {}), sizes.get(LARGE_SIZE, {})

    def rps(by_server: dict, name: str, call: str, field: str = "rps") -> float | None:
        return by_server[name][call][field] if call in by_server.get(name, {}) else None

    rows = []

    def add(goal: str, what: str, figure: float | None, at_least: float | None = None,
            at_most: float | None = None, show: str = "{:.2f}x") -> None:
        target = f">= {show.format(at_least)}" if at_least is not None else f"<= {show.format(at_most)}"
        met = None if figure is None else (figure >= at_least if at_least is not None else figure <= at_most)
        rows.append((goal, what, None if figure is None else show.format(figure), target, met))

    at = f"{TARGET_SIZE:,} tasks"
    for call in SHARED_CALLS:
        add("1", f"{CALL_NAMES[call]}, {at}: req/s against the baseline app on the same server",
            _ratio(rps(small, mock, call), rps(small, base, call)), SAME_SERVER_MIN[call])
    for call in SHARED_CALLS:
        add("1", f"{CALL_NAMES[call]}, {at}: requests per server CPU-second against gunicorn 2x4",
            _ratio(rps(small, mock, call, "per_cpu_s"), rps(small, GUNICORN, call, "per_cpu_s")), PER_CPU_MIN)
    for call in SHARED_CALLS:
        add("2", f"{CALL_NAMES[call]}, {at}: req/s against Prism",
            _ratio(rps(small, mock, call), rps(small, "prism", call)), PRISM_MIN)
    for call, least in JSON_SERVER_MIN.items():
        add("2", f"{CALL_NAMES[call]}, {at}: req/s against json-server",
            _ratio(rps(small, mock, call), rps(small, "json-server", call)), least)
    for call in ("get", "put", "post"):
        add("3", f"{CALL_NAMES[call]}: req/s at {LARGE_SIZE:,} tasks against {TARGET_SIZE:,}, "
                 f"the same {SPREAD:,} tasks (median change, run by run)",
            size_change(sizes, mock, call, LARGE_SIZE, TARGET_SIZE), LARGE_CHANGE_MIN, show="{:+.0f}%")
    add("3", f"GET filtered list, {LARGE_SIZE:,} tasks: req/s against the baseline app on the same server",
        _ratio(rps(large, mock, "list"), rps(large, base, "list")), LARGE_LIST_MIN, show="{:.1f}x")
    add("3", f"{CALL_NAMES['notes']}, {LARGE_SIZE:,} tasks: req/s against the GET filtered list on the same "
             "mock", _ratio(rps(large, mock, "notes"), rps(large, mock, "list")), LARGE_NOTES_MIN)
    for size, by_server in ((TARGET_SIZE, small), (LARGE_SIZE, large)):
        ready = by_server.get(mock, {}).get("ready_s")
        add("4", f"start to the first 200, {size:,} tasks: against the baseline app on the same server",
            _ratio(ready, by_server.get(base, {}).get("ready_s")), at_most=START_MAX[size])
    for size, by_server in ((TARGET_SIZE, small), (LARGE_SIZE, large)):
        add("4", f"RSS when ready, {size:,} tasks (all the server's processes)",
            by_server.get(mock, {}).get("rss_ready_mib"), at_most=RSS_MAX_MIB[size], show="{:.0f} MiB")
    for scenario in results["abuse"].get(kind, {}).get("scenarios", []):
        what = (f"{scenario['connections']} slowloris connections" if scenario["scenario"] == "slowloris"
                else f"{scenario['connections']} idle connections")
        rows.append(("5", f"normal GETs answered during {what}",
                     f"{scenario['answered']} of {scenario['gets']}", f"all {scenario['gets']}",
                     scenario["answered"] == scenario["gets"]))
    if kind not in results["abuse"]:
        rows.append(("5", "normal GETs answered during connection abuse", None, "all", None))
    return rows


# --- report ------------------------------------------------------------------------------

def label(name: str, default: str) -> str:
    """A server's column title."""
    if name.startswith("mock-"):
        kind = name.removeprefix("mock-")
        return f"mock, {kind}" + (" (default)" if kind == default else "")
    if name.startswith("baseline-"):
        return f"baseline app, {name.removeprefix('baseline-')}"
    return {GUNICORN: "gunicorn 2x4", "prism": "Prism", "json-server": "json-server"}.get(name, name)


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _statuses(result: dict) -> str:
    """The warm-up's status mix, and the measured runs' failures if any."""
    mix = ", ".join(f"{status} x{count:,}" for status, count in sorted(result["warmup_statuses"].items()))
    failures = []
    if result["non2xx"]:
        failures.append(f"{result['non2xx']:,} non-2xx")
    if result["errors"]:
        failures.append(f"{result['errors']:,} socket errors or timeouts")
    return (mix or "none") + (f"; runs: {', '.join(failures)}" if failures else "")


def _size_section(size: int, by_server: dict, kinds: list[str], default: str, starts: int) -> list[str]:
    """Markdown: one size's tables (req/s, ratios, CPU, answers, start and memory)."""
    names = list(by_server)
    head = _row(["", *(label(n, default) for n in names)])
    rule = "|---|" + "---|" * len(names)
    lines = [f"## {size:,} tasks", "", "Requests per second (median of the runs), and p50 / p99 latency in ms:", "",
             head, rule]
    for call in CALLS:
        lines.append(_row([CALL_NAMES[call], *(f"{by_server[n][call]['rps']:,.0f} "
                                               f"({by_server[n][call]['p50_ms']:.1f} / {by_server[n][call]['p99_ms']:.1f})"
                                               if call in by_server[n] else "n/a" for n in names)]))
    lines += ["", "The mock's req/s against each other server (column KIND / X: the mock on KIND against X):", ""]
    columns = []
    for kind in kinds:
        for other in (baseline_name(kind), GUNICORN, "prism", "json-server"):
            if other in by_server:
                columns.append((kind, other))
    lines += [_row(["", *(f"{k} / {label(o, default)}" for k, o in columns)]),
              "|---|" + "---|" * len(columns)]
    for call in CALLS:
        lines.append(_row([CALL_NAMES[call], *(
            _num(_ratio(by_server[mock_name(k)][call]["rps"], by_server[o].get(call, {}).get("rps")), "{:.2f}x")
            for k, o in columns)]))
    lines += ["", "Requests per server CPU-second (the mocks: in brackets, against gunicorn 2x4):", "", head, rule]
    for call in CALLS:
        cells = []
        for n in names:
            if call not in by_server[n]:
                cells.append("n/a")
                continue
            figure = by_server[n][call]["per_cpu_s"]
            against = (f" ({_num(_ratio(figure, by_server[GUNICORN][call]['per_cpu_s']), '{:.2f}x')})"
                       if n.startswith("mock-") and call in by_server.get(GUNICORN, {}) else "")
            cells.append(f"{figure:,.0f}{against}")
        lines.append(_row([CALL_NAMES[call], *cells]))
    lines += ["", "Answers: the status of every answer in the 1 s warm-up run, and any non-2xx answers, "
              "socket errors or timeouts in the measured runs:", "", head, rule]
    for call in CALLS:
        lines.append(_row([CALL_NAMES[call], *(_statuses(by_server[n][call]) if call in by_server[n] else "n/a"
                                               for n in names)]))
    lines += ["", f"Start (process start to the first 200, median of {starts} starts) and memory "
              "(summed over the server's processes):", "", head, rule]
    lines.append(_row(["ready after start", *(
        f"{by_server[n]['ready_s'] * 1000:,.0f} ms ({', '.join(f'{r * 1000:,.0f}' for r in by_server[n]['ready_runs'])})"
        for n in names)]))
    lines.append(_row(["start against the baseline app on the same server", *(
        _num(_ratio(by_server[n]["ready_s"], by_server.get(baseline_name(n.removeprefix('mock-')), {}).get("ready_s")),
             "{:.2f}x") if n.startswith("mock-") else "" for n in names)]))
    for title, field in (("RSS when ready", "rss_ready_mib"), ("PSS when ready", "pss_ready_mib"),
                         ("RSS after the runs", "rss_after_mib")):
        lines.append(_row([title, *(f"{by_server[n][field]:,.0f} MiB" for n in names)]))
    return lines + [""]


def scale(sizes: dict, default: str) -> list[str]:
    """Markdown: each larger size's req/s against the smallest's, per server and call.

    A run is compared with the same server's run at the smallest size in the same repeat
    (seconds apart, see ``drive``): the median of those paired changes, and their range.
    """
    ordered = sorted(sizes)
    if len(ordered) < 2:
        return []
    lines = []
    for size in ordered[1:]:
        names = [n for n in sizes[size] if n in sizes[ordered[0]]]
        lines += [f"## {size:,} tasks against {ordered[0]:,}", "",
                  f"Change in req/s, run by run: median (lowest to highest). GET one and PUT pick among "
                  f"the same {SPREAD:,} tasks at both sizes, POST among their {POST_LISTS} task lists.", "",
                  _row(["", *(label(n, default) for n in names)]), "|---|" + "---|" * len(names)]
        for call in CALLS:
            cells = []
            for name in names:
                if call not in sizes[size][name]:
                    cells.append("n/a")
                    continue
                changes = _change(sizes[size][name][call]["rps_runs"], sizes[ordered[0]][name][call]["rps_runs"])
                cells.append(f"{statistics.median(changes):+.0f}% ({changes[0]:+.0f} to {changes[-1]:+.0f})")
            lines.append(_row([CALL_NAMES[call], *cells]))
        lines.append("")
    return lines


def report(results: dict) -> str:
    """The markdown report: the targets, then per size every server's figures, the sizes
    against each other, the connection abuse, offices, and what ran."""
    default, kinds = results["default"], results["kinds"]
    lines = [f"# Benchmark {results['when']}", "",
             f"Code: {results['code']}. "
             f"Machine: {results['machine']}; {results['versions']}. "
             f"wrk -t1 -c{CONNECTIONS} -d{results['duration']}s, the median of {results['repeat']} runs per call "
             "and server (of an even number, the upper middle run), every server at every size driven in turn "
             "(every run's req/s is in the raw JSON). "
             f"The default server of `mockserver serve` here: {default} ({results['default_from']}); the targets "
             "are judged on it, the other servers' figures are shown beside them. Baseline app: "
             "bench/baseline_app.py (Flask and a dict, no validation), on each server through its stock "
             f"command line with the mock's processes and threads ({THREADS}), and under gunicorn "
             "2 workers x 4 gthreads (context). Ratio = the mock / the other server; start ratio = the "
             "mock's start / the baseline app's on the same server. "
             f"The run took {results['seconds'] / 60:.1f} minutes.", ""]
    if results.get("peers_skipped"):
        lines += [f"Prism and json-server: skipped ({results['peers_skipped']}).", ""]
    lines += ["## Targets", ""]
    tables = {kind: targets(results, kind) for kind in kinds}
    head = ["goal", "yardstick", "target"]
    for kind in kinds:
        head += [label(mock_name(kind), default), "met" if kind == default else "(met)"]
    lines += [_row(head), "|" + "---|" * len(head)]
    for i, (goal, what, _, target, _) in enumerate(tables[default]):
        cells = [goal, what, target]
        for kind in kinds:
            row = tables[kind][i] if i < len(tables[kind]) else None
            figure, met = (row[2], row[4]) if row else (None, None)
            verdict = "n/a" if met is None else ("met" if met else "missed")
            cells += [figure or "n/a", verdict if kind == default else f"({verdict})"]
        lines.append(_row(cells))
    judged = [row for row in tables[default] if row[4] is not None]
    lines += ["", f"The default ({default}): {sum(row[4] for row in judged)} of {len(judged)} targets met"
              + (f", {len(tables[default]) - len(judged)} not measured in this run" if len(judged) < len(tables[default]) else "")
              + ". Goal 5: bench/abuse.py, each scenario "
              f"{results['abuse_seconds']:g} s, {abuse.GETS} GETs of {abuse.PATH} on new connections "
              f"({abuse.GET_TIMEOUT_S:g} s timeout).", ""]
    for size, by_server in results["sizes"].items():
        lines += _size_section(size, by_server, kinds, default, results["starts"])
    lines += scale(results["sizes"], default)
    lines += ["## Connection abuse", ""]
    for kind, found in results["abuse"].items():
        lines += [f"- {label(mock_name(kind), default)}, {found['size']:,} tasks:"]
        lines += [f"  - {abuse.describe(scenario)}" for scenario in found["scenarios"]]
    lines += ["", "## Offices (in-process)", ""]
    offices = results["offices"]
    if any("skipped" not in o for o in offices.values()):
        lines += ["| tasks in the seed | 1,000 new offices | memory per office (tracemalloc) | first write in a "
                  "new office | per office that wrote: memory, time added to a full garbage collection |",
                  "|---|---|---|---|---|"]
    for size, o in offices.items():
        if "skipped" in o:
            lines.append(f"{size:,} tasks: skipped ({o['skipped']}).")
            continue
        lines.append(f"| {size:,} | {o['seconds'] * 1000:.0f} ms | {o['kib_per_office']:.1f} KiB "
                     f"| {o['first_write_ms']:.1f} ms | {o['kib_per_writer']:,.0f} KiB, "
                     f"{o['full_gc_ms_per_writer']:.2f} ms |")
    lines += ["", "## What ran", ""]
    for size, by_server in results["sizes"].items():
        for name, found in by_server.items():
            lines.append(f"- {size:,} tasks, {label(name, default)}: `{found['command']}`")
    lines += ["", "Paths: `$TMP` is the run's temporary folder. CPU time and memory are summed over a "
              "server's processes (gunicorn's master and workers; granian's main process and the worker "
              "it forks, which share most pages: RSS counts those twice, PSS once). Prism answers from "
              "openapi.yaml's examples and does not keep what PUT and POST send; json-server's PUT replaces "
              "the whole task, and it rewrites db.json on every write."]
    return "\n".join(lines) + "\n"


def rewrite_report(raw: Path, output: Path | None) -> None:
    """The markdown report of the run in *raw* (bench/results/raw/NAME.json), written to
    *output* (default: bench/results/NAME.md)."""
    results = json.loads(raw.read_text(encoding="utf-8"))
    # JSON keeps the sizes as strings
    results["sizes"] = {int(size): found for size, found in results["sizes"].items()}
    results["offices"] = {int(size): found for size, found in results["offices"].items()}
    output = output or BENCH / "results" / f"{raw.stem}.md"
    output.write_text(report(results), encoding="utf-8")
    print(f"written: {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs per call (the median is kept)")
    parser.add_argument("--starts", type=int, default=STARTS,
                        help="timed starts per server and size (after one untimed start; the median is kept)")
    parser.add_argument("--sizes", default=f"{TARGET_SIZE},{LARGE_SIZE}", help="task counts, comma-separated")
    parser.add_argument("--mock-default", choices=MOCK_SERVERS,
                        help="the server `mockserver serve` uses without --server (default: read from its --help)")
    parser.add_argument("--mock-servers", default=",".join(MOCK_SERVERS),
                        help="the `mockserver serve --server` kinds to run, each with its baseline app, "
                             "comma-separated (the default server among them)")
    parser.add_argument("--abuse-seconds", type=float, default=abuse.SECONDS, help="abuse time per scenario")
    parser.add_argument("--no-peers", action="store_true", help="skip Prism and json-server")
    parser.add_argument("--skip-setup", action="store_true", help="install nothing (wrk, gunicorn, granian, npm)")
    parser.add_argument("--output", type=Path, help="markdown file (default: bench/results/<date>.md)")
    parser.add_argument("--from-raw", type=Path, metavar="RAW",
                        help="measure nothing: write the report of an earlier run from its raw JSON")
    args = parser.parse_args()
    if args.from_raw:
        rewrite_report(args.from_raw, args.output)
        return
    if not args.skip_setup:
        setup(peers=not args.no_peers)
    default = args.mock_default or default_server()
    chosen = args.mock_servers.split(",")
    if default not in chosen or not set(chosen) <= set(MOCK_SERVERS):
        parser.error(f"--mock-servers: some of {', '.join(MOCK_SERVERS)}, the default ({default}) among them")
    kinds = [default, *(kind for kind in MOCK_SERVERS if kind != default and kind in chosen)]
    sizes = [int(s) for s in args.sizes.split(",")]
    peers_skipped = "--no-peers" if args.no_peers else peers_missing()
    if PEER_SIZE not in sizes:
        peers_skipped = peers_skipped or f"they run at {PEER_SIZE:,} tasks, not in --sizes"
    if peers_skipped:
        print(f"Prism and json-server skipped: {peers_skipped}", flush=True)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results: dict = {"when": when, "duration": args.duration, "repeat": args.repeat, "starts": args.starts,
                     "default": default,
                     "default_from": "--mock-default" if args.mock_default else "from `mockserver serve --help`",
                     "kinds": kinds, "peers_skipped": peers_skipped, "abuse_seconds": args.abuse_seconds,
                     "versions": versions(), "code": code_version(), "offices": {},
                     "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mockbench-") as tmp:
        folders = {size: generate_fixtures(size, Path(tmp, str(size), "fixtures")) for size in sizes}
        db = None if peers_skipped else write_db(PEER_SIZE, Path(tmp, "json-server"))
        results.update(bench_servers(folders, db, kinds, default, args.starts, args.duration, args.repeat,
                                     args.abuse_seconds))
        for size, found in results["sizes"].items():
            for server in found.values():
                server["command"] = server["command"].replace(tmp, "$TMP").replace(str(ROOT) + "/", "")
        for size, fixtures in folders.items():
            print(f"{size:,} tasks: offices...", flush=True)
            results["offices"][size] = bench_offices(fixtures)
    results["seconds"] = time.monotonic() - started
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    output = args.output or BENCH / "results" / f"{stamp}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report(results), encoding="utf-8")
    raw = BENCH / "results" / "raw" / f"{stamp}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(output.read_text(encoding="utf-8"))
    print(f"written: {output} (raw: {raw}); {results['seconds'] / 60:.1f} minutes")


if __name__ == "__main__":
    main()
