"""Throughput of `mockserver cluster`: 1 process vs 2 (vs N) behind nginx, on loopback.

    .venv/bin/python bench/cluster.py [--processes 1 2] [--seconds 5] [--connections 32]

Uses wrk (Debian package `wrk`) when installed, else a bounded Python load loop in
several client processes. The load spreads over 64 customer keys (offices): 3 of 4
requests are GET /tasks/1408, 1 of 4 is POST /tasks. Prints requests per second.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import time

import requests

from mockserver.cluster import Cluster

OFFICES = 64
NEW_TASK = {"TaskListNum": 3842, "Descript": "bench", "UserNum": 12}
WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local headers = {["Authorization"] = "ODFHIR bench/office-" .. (counter %% %(offices)d),
                   ["Content-Type"] = "application/json"}
  if counter %% 4 == 0 then
    return wrk.format("POST", "/api/v1/tasks", headers, '%(body)s')
  end
  return wrk.format("GET", "/api/v1/tasks/1408", headers)
end
"""


def _wrk(url: str, seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % {"offices": OFFICES, "body": json.dumps(NEW_TASK)})
        script.flush()
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name,
                              url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"errors during the run:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def _client(args: tuple[str, int, int]) -> int:
    url, worker, count = args
    done = 0
    with requests.Session() as session:
        session.trust_env = False  # loopback only
        session.headers["Content-Type"] = "application/json"
        for i in range(count):
            auth = {"Authorization": f"ODFHIR bench/office-{(worker * count + i) % OFFICES}"}
            if i % 4 == 3:
                r = session.post(f"{url}/api/v1/tasks", json=NEW_TASK, headers=auth)
            else:
                r = session.get(f"{url}/api/v1/tasks/1408", headers=auth)
            done += r.status_code < 300
    return done


def _python_load(url: str, seconds: int, connections: int) -> float:
    count = 200 * seconds  # per client: a bounded loop, not a timed one
    started = time.perf_counter()
    with multiprocessing.Pool(connections) as pool:
        done = sum(pool.map(_client, [(url, n, count) for n in range(connections)]))
    elapsed = time.perf_counter() - started
    if done != count * connections:
        raise SystemExit(f"{count * connections - done} requests failed")
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()
    load = _wrk if shutil.which("wrk") else _python_load
    print(f"load: {'wrk' if load is _wrk else 'python'}, {options.connections} connections, "
          f"{OFFICES} offices, 3 GET : 1 POST, {multiprocessing.cpu_count()} CPUs")
    results = {}
    for processes in options.processes:
        with Cluster(processes, "127.0.0.1", 0) as cluster:
            url = cluster.start()
            load(url, 1, options.connections)  # warm up: offices created, connections open
            results[processes] = load(url, options.seconds, options.connections)
        print(f"{processes} process(es): {results[processes]:8.0f} requests/s")
    first, *others = options.processes
    for processes in others:
        print(f"{processes} vs {first}: x{results[processes] / results[first]:.2f}")


if __name__ == "__main__":
    main()
