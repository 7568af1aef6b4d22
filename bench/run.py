"""The benchmark: the mock server (on waitress and on granian) against a plain Flask
baseline, in one run.

    .venv/bin/python bench/run.py [--duration 3] [--repeat 3] [--sizes 1000,100000] [--skip-setup]

Setup installs wrk (apt-get) and gunicorn and granian (pip, into this interpreter's
environment) when missing. For each size it generates a fixtures folder
(mockserver/generate.py), starts ``mockserver serve --quiet`` twice (``--server waitress``
and ``--server granian``, one process each) and the baseline (bench/baseline_app.py under
gunicorn, 2 workers x 4 gthreads), and the same baseline in one process (1 worker x 4
gthreads), for a comparison of one process with one process, and on the mock's own
server (mockserver.wsgi: waitress, one thread), for what the mock's own work costs on
top of its server's. Each mock is first started and stopped with no dataset cache and no
compiled modules of the package (a cold start), then started again (warm); every server
is started STARTS times, the last one kept for the runs, and the median start is
reported. With every size's servers up, wrk (32 connections, bench/wrk.lua) drives each
of them for GET one, GET a filtered list, PUT and POST. The runs are interleaved (each
repeat goes round all servers at all sizes), so a noisy moment on a shared machine hits
all of them, and a size is compared with another run by run. It reads the servers' CPU
time and memory from /proc, then measures creating 1,000 offices in-process. Results: a
markdown table in bench/results/ (raw JSON, every run's req/s included, in
bench/results/raw/). Numbers are only comparable within one run: read the ratios.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
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
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from mockserver.fixtures import load_dir  # noqa: E402
from mockserver.generate import TASKS_PER_LIST, generate, write_dir  # noqa: E402
from mockserver.store import Registry  # noqa: E402

HEADERS = {"Authorization": "ODFHIR bench/bench", "Content-Type": "application/json"}
CALLS = ("get", "list", "put", "post")  # POST last: it grows the table
CALL_NAMES = {"get": "GET one task", "list": "GET filtered list (~10)", "put": "PUT", "post": "POST"}
CONNECTIONS = 32
MOCKS = ("waitress", "granian")  # `mockserver serve --server`; each is compared with the baseline
GUNICORN = {"baseline": 2, "baseline-1": 1}  # the baseline app under gunicorn: workers (4 gthreads each)
ON_WAITRESS = "baseline-waitress"  # the baseline app on the mock's own server, one thread
BASELINES = (*GUNICORN, ON_WAITRESS)
# the baselines each mock's req/s is also set against, besides "baseline" (the issue's)
ALSO_AGAINST = {"baseline-1": "the baseline in one process (gunicorn, 1 worker)",
                ON_WAITRESS: "the baseline's app on the mock's own server (waitress, 1 thread)"}
STARTS = 3  # starts timed per server, size and kind of start: one start alone is too noisy
GRANIAN = "granian==2.8.7"  # the `fast` extra of setup.cfg
TICKS = os.sysconf("SC_CLK_TCK")
# Python keeps what it compiles (__pycache__) unless PYTHONDONTWRITEBYTECODE is set, as it
# is on some CI machines and was on this benchmark's: then every start compiles the
# package's sources again (about 45 ms of a start on 2026-12-03). The servers here keep
# them, as a developer's machine does; a cold start deletes the package's first.
KEEP_BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}  # empty is unset


def setup() -> None:
    """Install wrk, gunicorn and granian if they are missing."""
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


class Server:
    """A server process started for the benchmark, with its time to first answer."""

    def __init__(self, name: str, command: list[str], port: int, env: dict | None = None):
        self.name, self.port = name, port
        # a file, not a pipe: nobody drains a pipe during the run and a full one blocks the server
        self.log = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.process = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=ROOT,
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
        probe = urllib.request.Request(f"{self.url}/api/v1/tasks/1000", headers=HEADERS)
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.log.read().decode()[-2000:]}")
            try:
                # the first request may build the office (all tasks): a long timeout
                with urllib.request.urlopen(probe, timeout=timeout) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):  # not listening yet
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


def start_mock(kind: str, fixtures: Path, cache: Path) -> Server:
    """``mockserver serve`` with its validated-dataset cache in *cache*."""
    port = free_port()
    return Server(kind, [sys.executable, "-m", "mockserver", "serve", "--quiet", "--server", kind,
                         "--port", str(port), "--fixtures", str(fixtures)], port,
                  env={"XDG_CACHE_HOME": str(cache), **KEEP_BYTECODE})


def cold_start(kind: str, fixtures: Path, cache: Path) -> dict:
    """Start and stop a mock STARTS times with an empty dataset cache and no compiled
    modules of the package: it compiles its sources and parses and validates every fixture
    (a fresh checkout, or changed fixtures), and fills both caches. The median start."""
    ready, rss = [], []
    for _ in range(STARTS):
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(ROOT / "mockserver" / "__pycache__", ignore_errors=True)
        server = start_mock(kind, fixtures, cache)
        try:
            ready.append(server.ready_s)
            rss.append(memory_mib(server.process.pid))
        finally:
            server.stop()
    return {"cold_ready_s": statistics.median(ready), "cold_ready_runs": ready,
            "cold_rss_mib": statistics.median(rss)}


def started_again(start: Callable[[], Server]) -> tuple[Server, list[float]]:
    """*start* STARTS times, stopping all but the last server: that one, and every start's
    time to its first answer."""
    ready = []
    for _ in range(STARTS - 1):
        server = start()
        ready.append(server.ready_s)
        server.stop()
    server = start()
    return server, [*ready, server.ready_s]


def start_baseline(name: str, tasks: int) -> Server:
    """The baseline app with *tasks* tasks, under gunicorn or (ON_WAITRESS) on the mock's server."""
    port = free_port()
    command = [sys.executable, str(BENCH / "baseline_app.py"), str(port)] if name == ON_WAITRESS \
        else [sys.executable, "-m", "gunicorn", "-w", str(GUNICORN[name]), "-k", "gthread",
              "--threads", "4", "-b", f"127.0.0.1:{port}", "--chdir", str(BENCH),
              "--log-level", "warning", "baseline_app:app"]
    return Server(name, command, port,
                  env={"BENCH_TASKS": str(tasks), "PYTHONPATH": str(ROOT), **KEEP_BYTECODE})


def drive(servers: dict[int, list[Server]], call: str, duration: float, repeat: int = 1) -> dict:
    """Per (size, server name): the median (by req/s) of *repeat* wrk runs of *call*, after a
    1 s warm-up.

    Each repeat goes round every server, and each server's sizes one after the other, so
    a noisy moment hits them all: the mock against the baseline, and a mock at 100,000
    tasks against itself at 1,000, are runs seconds apart (see ``scale``). Repeats
    because the baseline is bimodal: gunicorn's two workers do not always share wrk's
    connections, and then it runs at half speed. Every run's req/s is kept (``rps_runs``,
    in the order run).
    """
    commands = {}
    for size, started in servers.items():
        lists = max(1, size // TASKS_PER_LIST)
        for server in started:
            commands[size, server.name] = (server, [
                "wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{duration:g}s", "--latency",
                "-s", str(BENCH / "wrk.lua"), server.url, "--", call, str(size), str(lists)])
    for _, command in commands.values():
        subprocess.run([*command[:6], "1s", *command[7:]], check=True, capture_output=True)
    order = sorted(commands, key=lambda key: (key[1], key[0]))  # by server, then size
    runs: dict[tuple[int, str], list[dict]] = {key: [] for key in order}
    for _ in range(repeat):
        for key in order:
            runs[key].append(measure(*commands[key]))
    return {key: {**sorted(done, key=lambda r: r["rps"])[len(done) // 2],
                  "rps_runs": [r["rps"] for r in done],
                  "errors": sum(r["errors"] for r in done), "non2xx": sum(r["non2xx"] for r in done)}
            for key, done in runs.items()}


def measure(server: Server, command: list[str]) -> dict:
    """One wrk run; req/s, latency and requests per server CPU-second."""
    cpu_before = cpu_seconds(server.process.pid)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(server.process.pid) - cpu_before
    stats = json.loads(output.strip().splitlines()[-1])
    seconds = stats["duration_us"] / 1e6
    return {"rps": stats["requests"] / seconds, "p50_ms": stats["p50_us"] / 1000,
            "p99_ms": stats["p99_us"] / 1000, "per_cpu_s": stats["requests"] / max(cpu, 1e-9),
            "requests": stats["requests"], "errors": stats["errors"], "non2xx": stats["non2xx"]}


def bench_servers(sizes: dict[int, Path], duration: float, repeat: int) -> dict:
    """Per size and server: start the mocks (cold, then warm) and the baseline one after the
    other, size after size, then drive all of them together."""
    servers: dict[int, list[Server]] = {}
    results: dict[int, dict] = {}
    try:
        for size, fixtures in sizes.items():
            print(f"{size:,} tasks: starting {', '.join(MOCKS)} and the baselines...", flush=True)
            cache = fixtures.parent / "cache"
            cold = {kind: cold_start(kind, fixtures, cache) for kind in MOCKS}
            started = servers[size] = []
            ready = {}
            # one at a time: nothing else is busy while one starts; the mocks warm (the
            # caches are filled), the baselines have none
            for name, start in [*((kind, partial(start_mock, kind, fixtures, cache)) for kind in MOCKS),
                                *((name, partial(start_baseline, name, size)) for name in BASELINES)]:
                server, ready[name] = started_again(start)
                started.append(server)
            results[size] = {s.name: {"ready_s": statistics.median(ready[s.name]),
                                      "ready_runs": ready[s.name],
                                      "rss_ready_mib": memory_mib(s.process.pid),
                                      "pss_ready_mib": memory_mib(s.process.pid, "Pss"),
                                      **cold.get(s.name, {})} for s in started}
        for call in CALLS:
            print(f"driving {CALL_NAMES[call]}...", flush=True)
            for (size, name), result in drive(servers, call, duration, repeat).items():
                results[size][name][call] = result
        for size, started in servers.items():
            for server in started:
                results[size][server.name]["rss_after_mib"] = memory_mib(server.process.pid)
    finally:
        for started in servers.values():
            for server in started:
                server.stop()
    return results


# --- offices -----------------------------------------------------------------------------

def bench_offices(fixtures: Path, count: int = 1000, writers: int = 20) -> dict:
    """Creating *count* offices from one seed, the first write in a new office, and what
    each of *writers* offices that wrote (a POST and a PUT) adds: memory, and time in a
    full garbage collection with the seed frozen out of it, as ``serve`` does."""
    registry = Registry(load_dir(fixtures))
    registry.office("warm")  # the seed's records are resolved once, on the first office
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


# --- report ------------------------------------------------------------------------------

def ratio(mock: float, base: float, higher_is_better: bool = True) -> str:
    if not base or not mock:
        return "n/a"
    return f"{(mock / base if higher_is_better else base / mock):.2f}x"


def _latency(run: dict) -> str:
    return f"{run['p50_ms']:.1f} / {run['p99_ms']:.1f}"


def _compare(label: str, by_server: dict, value: Any, show: Any, higher_is_better: bool = True,
             baseline: str = "baseline") -> str:
    """A row: each mock's value and its ratio to *baseline*, then the baseline's."""
    base = value(by_server[baseline])
    cells = [label]
    for kind in MOCKS:
        cells += [show(value(by_server[kind])), ratio(value(by_server[kind]), base, higher_is_better)]
    return "| " + " | ".join([*cells, show(base)]) + " |"


def _change(runs: list[float], reference: list[float]) -> list[float]:
    """Each run against the reference run made just before it (the same repeat), in %."""
    return sorted((run / ref - 1) * 100 for run, ref in zip(runs, reference))


def scale(sizes: dict) -> list[str]:
    """Markdown: each larger size's req/s against the smallest's, per server and call.

    A run is compared with the same server's run at the smallest size in the same repeat
    (seconds apart, see ``drive``): the median of those paired changes, and their range.
    """
    ordered = sorted(sizes, key=int)
    if len(ordered) < 2:
        return []
    names = [*MOCKS, *BASELINES]
    lines = []
    for size in ordered[1:]:
        lines += [f"## {int(size):,} tasks against {int(ordered[0]):,}", "",
                  "Change in req/s, run by run: median (lowest to highest).", "",
                  "| call | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for call in CALLS:
            cells = []
            for name in names:
                changes = _change(sizes[size][name][call]["rps_runs"], sizes[ordered[0]][name][call]["rps_runs"])
                cells.append(f"{changes[len(changes) // 2]:+.0f}% ({changes[0]:+.0f} to {changes[-1]:+.0f})")
            lines.append(f"| {CALL_NAMES[call]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def table(results: dict) -> str:
    """The markdown report: per size, throughput and latency, CPU, start and memory; then
    each larger size against the smallest, and offices."""
    lines = [f"# Benchmark {results['when']}", "",
             f"Machine: {results['machine']}. wrk -t1 -c{CONNECTIONS} -d{results['duration']}s, "
             f"median of {results['repeat']} runs per call and server, every server at every size driven in turn "
             "(all runs' req/s in the raw JSON). Mock: `mockserver serve --quiet --server waitress` "
             "(the default) and `--server granian`, one process each. Baseline: "
             "bench/baseline_app.py (Flask + dict, gunicorn 2 workers x 4 gthreads). "
             "Ratio = mock / baseline (for latency, memory and start time: baseline / mock), "
             "so above 1.00x the mock is better; in brackets, against the baseline's best run "
             "(its median drops when gunicorn's workers share the connections badly). "
             "Baseline, 1 worker: the same app in one gunicorn process (4 gthreads), "
             "one process against one. Baseline on waitress: the same app on the mock's own "
             "server (mockserver.wsgi, waitress with one thread), so the ratio is the mock's "
             "own work against the baseline's on the same server. "
             "POST runs last and adds tasks during its runs. "
             f"Start times: the median of {STARTS} starts.", ""]
    mock_columns = "".join(f" {kind} req/s | ratio (vs best) | {kind} p50 / p99 ms |" for kind in MOCKS)
    pairs = "".join(f" {kind} | ratio |" for kind in MOCKS)
    for size, by_server in results["sizes"].items():
        base = by_server["baseline"]
        lines += [f"## {int(size):,} tasks", "",
                  f"| call |{mock_columns} baseline req/s (runs) | baseline p50 / p99 ms |",
                  "|---|" + "---|---|---|" * len(MOCKS) + "---|---|"]
        for call in CALLS:
            b = base[call]
            # which servers had socket errors or timeouts (wrk's) or a non-2xx answer
            failing = [name for name, r in by_server.items() if r[call]["errors"] or r[call]["non2xx"]]
            flag = f" (errors: {', '.join(failing)})" if failing else ""
            cells = [CALL_NAMES[call] + flag]
            for kind in MOCKS:
                m = by_server[kind][call]
                cells += [f"{m['rps']:,.0f}",
                          f"{ratio(m['rps'], b['rps'])} ({ratio(m['rps'], max(b['rps_runs']))})", _latency(m)]
            runs = ", ".join(f"{rps:,.0f}" for rps in b["rps_runs"])
            lines.append("| " + " | ".join([*cells, f"{b['rps']:,.0f} ({runs})", _latency(b)]) + " |")
        for other, title in ALSO_AGAINST.items():
            lines += ["", f"| req/s against {title} |{pairs} {other} |",
                      "|---|" + "---|---|" * len(MOCKS) + "---|"]
            lines += [_compare(CALL_NAMES[call], by_server, lambda r, c=call: r[c]["rps"],
                               "{:,.0f}".format, baseline=other) for call in CALLS]
        lines += ["", f"| requests per server CPU-second |{pairs} baseline |",
                  "|---|" + "---|---|" * len(MOCKS) + "---|"]
        lines += [_compare(CALL_NAMES[call], by_server, lambda r, c=call: r[c]["per_cpu_s"], "{:,.0f}".format)
                  for call in CALLS]
        lines += ["", f"| |{pairs} baseline |", "|---|" + "---|---|" * len(MOCKS) + "---|",
                  _compare("ready after start, cold: no dataset cache, no compiled modules", by_server,
                           lambda r: r.get("cold_ready_s", r["ready_s"]) * 1000, "{:,.0f} ms".format, False),
                  _compare("ready after start, warm: both caches filled", by_server,
                           lambda r: r["ready_s"] * 1000, "{:,.0f} ms".format, False),
                  _compare("RSS when ready, cold start", by_server,
                           lambda r: r.get("cold_rss_mib", r["rss_ready_mib"]), "{:.0f} MiB".format, False),
                  _compare("RSS when ready", by_server, lambda r: r["rss_ready_mib"], "{:.0f} MiB".format, False),
                  _compare("PSS when ready", by_server, lambda r: r["pss_ready_mib"], "{:.0f} MiB".format, False),
                  _compare("RSS after the run", by_server, lambda r: r["rss_after_mib"], "{:.0f} MiB".format,
                           False), ""]
    lines += scale(results["sizes"])
    lines += ["## Offices", "", "| tasks in the seed | 1,000 new offices | memory per office "
              "(tracemalloc) | first write in a new office | per office that wrote: memory, "
              "time added to a full garbage collection |", "|---|---|---|---|---|"]
    for size, o in results["offices"].items():
        wrote = (f"{o['kib_per_writer']:,.0f} KiB, {o['full_gc_ms_per_writer']:.2f} ms"
                 if "kib_per_writer" in o else "n/a")
        lines.append(f"| {int(size):,} | {o['seconds'] * 1000:.0f} ms | {o['kib_per_office']:.1f} KiB "
                     f"| {o['first_write_ms']:.1f} ms | {wrote} |")
    lines += ["", "Memory and CPU are summed over a server's processes: the gunicorn master and its "
              "two workers (each holds its own copy of the tasks); granian's main process and the "
              "worker forked from it, which share most pages: RSS counts those twice, PSS once. "
              "The baseline has no cache: its two start-up rows are the same start."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs per call (the median is kept)")
    parser.add_argument("--sizes", default="1000,100000", help="task counts, comma-separated")
    parser.add_argument("--skip-setup", action="store_true", help="do not install wrk/gunicorn")
    parser.add_argument("--output", type=Path, help="markdown file (default: bench/results/<date>.md)")
    args = parser.parse_args()
    if not args.skip_setup:
        setup()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results: dict = {"when": when, "duration": args.duration, "repeat": args.repeat, "sizes": {}, "offices": {},
                     "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="mockbench-") as tmp:
        folders = {size: write_dir(generate(size), Path(tmp, str(size))) for size in sizes}
        results["sizes"] = bench_servers(folders, args.duration, args.repeat)
        for size, fixtures in folders.items():
            print(f"{size:,} tasks: offices...", flush=True)
            results["offices"][size] = bench_offices(fixtures)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    output = args.output or BENCH / "results" / f"{stamp}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table(results), encoding="utf-8")
    raw = BENCH / "results" / "raw" / f"{stamp}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(output.read_text(encoding="utf-8"))
    print(f"written: {output} (raw: {raw})")


if __name__ == "__main__":
    main()
