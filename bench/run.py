"""The benchmark: the mock server against a plain Flask baseline, in one run.

    .venv/bin/python bench/run.py [--duration 3] [--repeat 3] [--sizes 1000,100000] [--skip-setup]

Setup installs wrk (apt-get) and gunicorn (pip, into this interpreter's environment)
when missing. For each size it generates a fixtures folder (mockserver/generate.py),
starts ``mockserver serve --quiet`` (waitress, one process) and the baseline
(bench/baseline_app.py under gunicorn, 2 workers x 4 gthreads), and drives each with
wrk (32 connections, bench/wrk.lua) for GET one, GET a filtered list, PUT and POST.
It reads the servers' CPU time and RSS from /proc, then measures creating 1,000
offices in-process. Results: a markdown table in bench/results/ (raw JSON in
bench/results/raw/). Numbers are only comparable within one run: read the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

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
TICKS = os.sysconf("SC_CLK_TCK")


def setup() -> None:
    """Install wrk and gunicorn if they are missing."""
    if shutil.which("wrk") is None:
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gunicorn"], check=True)


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


def rss_mib(pid: int) -> float:
    """Resident memory of a process tree, MiB."""
    total = 0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmRSS:")), 0)
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


def start_mock(fixtures: Path) -> Server:
    port = free_port()
    return Server("mock", [sys.executable, "-m", "mockserver", "serve", "--quiet", "--port",
                           str(port), "--fixtures", str(fixtures)], port)


def start_baseline(tasks: int) -> Server:
    port = free_port()
    return Server("baseline", [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread",
                               "--threads", "4", "-b", f"127.0.0.1:{port}", "--chdir", str(BENCH),
                               "--log-level", "warning", "baseline_app:app"],
                  port, env={"BENCH_TASKS": str(tasks), "PYTHONPATH": str(ROOT)})


def drive(server: Server, call: str, tasks: int, duration: float, repeat: int = 1) -> dict:
    """The median (by req/s) of *repeat* wrk runs of *call*, after a 1 s warm-up.

    Repeats because the baseline is bimodal: gunicorn's two workers do not always
    share wrk's connections, and then it runs at half speed.
    """
    lists = max(1, tasks // TASKS_PER_LIST)
    command = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{duration:g}s", "--latency",
               "-s", str(BENCH / "wrk.lua"), server.url, "--", call, str(tasks), str(lists)]
    subprocess.run([*command[:6], "1s", *command[7:]], check=True, capture_output=True)
    runs = sorted((measure(server, command) for _ in range(repeat)), key=lambda r: r["rps"])
    return {**runs[len(runs) // 2], "rps_runs": [r["rps"] for r in runs],
            "errors": sum(r["errors"] for r in runs), "non2xx": sum(r["non2xx"] for r in runs)}


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


def bench_server(server: Server, tasks: int, duration: float, repeat: int) -> dict:
    result = {"ready_s": server.ready_s, "rss_ready_mib": rss_mib(server.process.pid)}
    try:
        for call in CALLS:
            result[call] = drive(server, call, tasks, duration, repeat)
        result["rss_after_mib"] = rss_mib(server.process.pid)
    finally:
        server.stop()
    return result


# --- offices -----------------------------------------------------------------------------

def bench_offices(fixtures: Path, count: int = 1000) -> dict:
    """Creating *count* offices from one seed, and the first write in a new office."""
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
    return {"offices": count, "seconds": elapsed, "kib_per_office": memory / 1024 / count,
            "first_write_ms": first_write * 1000}


# --- report ------------------------------------------------------------------------------

def ratio(mock: float, base: float, higher_is_better: bool = True) -> str:
    if not base or not mock:
        return "n/a"
    return f"{(mock / base if higher_is_better else base / mock):.2f}x"


def table(results: dict) -> str:
    """The markdown report: one table per size, then offices."""
    lines = [f"# Benchmark {results['when']}", "",
             f"Machine: {results['machine']}. wrk -t1 -c{CONNECTIONS} -d{results['duration']}s, "
             f"median of {results['repeat']} runs per call (all runs' req/s in the raw JSON). "
             "Mock: `mockserver serve --quiet` (waitress, one process). Baseline: "
             "bench/baseline_app.py (Flask + dict, gunicorn 2 workers x 4 gthreads). "
             "Ratio = mock / baseline (for latency, memory and start time: baseline / mock), "
             "so above 1.00x the mock is better. POST runs last and adds tasks during its run.", ""]
    for size, by_server in results["sizes"].items():
        mock, base = by_server["mock"], by_server["baseline"]
        lines += [f"## {int(size):,} tasks", "",
                  "| call | mock req/s | baseline req/s | ratio | mock p50 / p99 ms | "
                  "baseline p50 / p99 ms | mock req/CPU-s | baseline req/CPU-s | ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for call in CALLS:
            m, b = mock[call], base[call]
            flag = " (errors!)" if m["errors"] or m["non2xx"] or b["errors"] or b["non2xx"] else ""
            lines.append(
                f"| {CALL_NAMES[call]}{flag} | {m['rps']:,.0f} | {b['rps']:,.0f} | {ratio(m['rps'], b['rps'])} "
                f"| {m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} "
                f"| {m['per_cpu_s']:,.0f} | {b['per_cpu_s']:,.0f} | {ratio(m['per_cpu_s'], b['per_cpu_s'])} |")
        lines += ["", "| | mock | baseline | ratio |", "|---|---|---|---|",
                  f"| ready after start (first 200) | {mock['ready_s'] * 1000:,.0f} ms "
                  f"| {base['ready_s'] * 1000:,.0f} ms | {ratio(mock['ready_s'], base['ready_s'], False)} |",
                  f"| RSS when ready | {mock['rss_ready_mib']:.0f} MiB | {base['rss_ready_mib']:.0f} MiB "
                  f"| {ratio(mock['rss_ready_mib'], base['rss_ready_mib'], False)} |",
                  f"| RSS after the run | {mock['rss_after_mib']:.0f} MiB | {base['rss_after_mib']:.0f} MiB "
                  f"| {ratio(mock['rss_after_mib'], base['rss_after_mib'], False)} |", ""]
    lines += ["## Offices", "", "| tasks in the seed | 1,000 new offices | memory per office "
              "(tracemalloc) | first write in a new office |", "|---|---|---|---|"]
    for size, o in results["offices"].items():
        lines.append(f"| {int(size):,} | {o['seconds'] * 1000:.0f} ms | {o['kib_per_office']:.1f} KiB "
                     f"| {o['first_write_ms']:.1f} ms |")
    lines += ["", "Baseline RSS and CPU are the gunicorn master plus its two workers; "
              "each baseline worker holds its own copy of the tasks."]
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
    with tempfile.TemporaryDirectory(prefix="mockbench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            fixtures = write_dir(generate(size), Path(tmp, str(size)))
            print(f"{size:,} tasks: mock...", flush=True)
            mock = bench_server(start_mock(fixtures), size, args.duration, args.repeat)
            print(f"{size:,} tasks: baseline...", flush=True)
            baseline = bench_server(start_baseline(size), size, args.duration, args.repeat)
            results["sizes"][size] = {"mock": mock, "baseline": baseline}
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
