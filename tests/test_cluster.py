"""``mockserver cluster``: offices sharded over processes behind nginx, routed by key."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import defaultdict

import pytest
import requests

from liveserver import HEADERS, LiveServer, all_tasks, raw_exchange
from mockserver.cluster import Cluster, find_nginx, render_config

PROCESSES = 3
KEYS = [f"office-{n}" for n in range(12)]
BACKEND = "X-Mockserver-Backend"  # which process answered (nginx adds it)
pytestmark = pytest.mark.slow


def _install_nginx() -> str | None:
    """nginx, installed from Debian packages if missing; None if that is impossible."""
    if find_nginx() is None and shutil.which("apt-get"):
        for command in (["apt-get", "install", "-y", "nginx"], ["apt-get", "update"],
                        ["apt-get", "install", "-y", "nginx"]):
            if find_nginx() is None:
                subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=600, check=False)
    return find_nginx()


@pytest.fixture(scope="module")
def cluster():
    if _install_nginx() is None:
        pytest.skip("nginx is not installed and apt-get could not install it")
    with LiveServer("--processes", str(PROCESSES), command=("cluster",)) as server:
        yield server


def test_cluster_offices_are_sticky_and_isolated(cluster):
    backends = defaultdict(set)
    created = {}
    with cluster.session() as session:
        for key in KEYS:
            auth = {"Authorization": f"ODFHIR devkey/{key}"}
            r = session.post(f"{cluster.api}/tasks", headers=auth, json={
                "TaskListNum": 3842, "Descript": f"made by {key}", "UserNum": 12})
            assert r.status_code == 201, r.text
            created[key] = r.json()
            backends[key].add(r.headers[BACKEND])
            for _ in range(3):  # the write is readable: the same process answers every time
                again = session.get(f"{cluster.api}/tasks/{r.json()['TaskNum']}", headers=auth)
                assert again.json() == r.json()
                backends[key].add(again.headers[BACKEND])
    assert all(len(seen) == 1 for seen in backends.values())  # sticky
    assert len({next(iter(seen)) for seen in backends.values()}) > 1  # spread over processes
    for key in KEYS:  # isolated: no office sees another's task
        with cluster.session(key) as session:
            mine = [t for t in all_tasks(session, cluster.api).values()
                    if t["Descript"].startswith("made by ")]
        assert mine == [created[key]]


def test_cluster_each_office_lives_in_exactly_one_process(cluster):
    with cluster.session("only-here") as session:
        r = session.post(f"{cluster.api}/tasks", json={
            "TaskListNum": 3842, "Descript": "only here", "UserNum": 12})
        home = r.headers[BACKEND]
        others = {session.get(f"{cluster.api}/tasks/1408", headers={
            "Authorization": f"ODFHIR devkey/{key}"}).headers[BACKEND] for key in KEYS} - {home}
        for backend in others:  # asked directly, the other processes never saw the write
            found = session.get(f"http://{backend}/api/v1/tasks", params={"Limit": 100})
            assert "only here" not in {t["Descript"] for t in found.json()}
        direct = session.get(f"http://{home}/api/v1/tasks/{r.json()['TaskNum']}")
        assert direct.json() == r.json()


@pytest.mark.parametrize("method, path, headers, body, status, message", [
    ("POST", "/tasks", {}, {"Descript": "x"}, 400, "TaskListNum is required."),
    ("GET", "/tasks/999999", {}, None, 404, "Task not found."),
    ("GET", "/tasks/1408", {"Authorization": None}, None, 401,
     "Authorization header is required: ODFHIR {DeveloperKey}/{CustomerKey}."),
    ("DELETE", "/tasks/1408", {}, None, 405, "Method DELETE is not allowed here."),
    ("GET", "/nothing", {}, None, 404, "The resource /api/v1/nothing does not exist."),
])
def test_cluster_4xx_passes_through_as_json(cluster, method, path, headers, body, status, message):
    with cluster.session() as session:
        for name, value in headers.items():
            session.headers.pop(name) if value is None else session.headers.update({name: value})
        r = session.request(method, cluster.api + path, json=body)
    assert (r.status_code, r.headers["Content-Type"]) == (status, "application/json")
    assert r.json().startswith(message)  # 405 goes on with the allowed methods


def test_cluster_body_over_the_limit_is_the_backends_json_400(cluster):
    # over twice the limit: refused from the Content-Length, before the body (a smaller
    # one is read first: test_connections.py)
    host = cluster.url.removeprefix("http://").rsplit(":", 1)[0]
    answer = raw_exchange(cluster.url, (f"POST /api/v1/tasks HTTP/1.1\r\nHost: {host}\r\n"
                                        f"Authorization: {HEADERS['Authorization']}\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Content-Length: 33600001\r\n"
                                        "Connection: close\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 400")
    assert answer.endswith(b'"Request body exceeds the 16.8M character limit."\n')


def test_cluster_headers_beyond_nginx_buffers_are_a_json_400(cluster):
    host = cluster.url.removeprefix("http://").rsplit(":", 1)[0]
    answer = raw_exchange(cluster.url, f"GET /api/v1/tasks?x={'a' * 400_000} HTTP/1.1\r\n"
                                       f"Host: {host}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in answer
    assert answer.endswith(b'"The request is malformed or its headers are too large."')


def test_cluster_process_down_is_a_json_503_and_never_another_process():
    if _install_nginx() is None:
        pytest.skip("nginx is not installed and apt-get could not install it")
    with Cluster(2, "127.0.0.1", 0) as running, requests.Session() as session:
        url = running.start() + "/api/v1/tasks/1408"
        session.trust_env = False  # loopback only
        session.headers.update(HEADERS)
        home = session.get(url).headers[BACKEND]
        proc = next(p for p, backend in running.backends if backend.endswith(home))
        proc.kill()
        proc.wait()
        # granian's worker stops once it sees its `serve` gone: until then it may still answer
        for _ in range(100):
            r = session.get(url)
            if r.status_code != 200:
                break
            assert r.headers[BACKEND].endswith(home)  # never another process
            time.sleep(0.1)
    assert (r.status_code, r.headers["Content-Type"], r.json()) == (
        503, "application/json", "The process holding this office is not available.")


def test_cluster_stops_every_process_on_sigterm():
    if _install_nginx() is None:
        pytest.skip("nginx is not installed and apt-get could not install it")
    server = LiveServer("--processes", "2", command=("cluster",))
    with server.session() as session:
        backends = {session.get(f"{server.api}/tasks/1408", headers={
            "Authorization": f"ODFHIR devkey/{key}"}).headers[BACKEND] for key in KEYS}
    assert server.stop() == 0
    for address in [*backends, server.url.removeprefix("http://")]:
        host, port = address.rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5).close()


def test_cluster_data_dir_keeps_each_office_in_its_process_across_restarts(tmp_path):
    if _install_nginx() is None:
        pytest.skip("nginx is not installed and apt-get could not install it")
    created = {}
    with LiveServer("--processes", "2", "--data-dir", str(tmp_path), command=("cluster",)) as server:
        for key in KEYS[:4]:
            with server.session(key) as session:
                created[key] = session.post(f"{server.api}/tasks", json={
                    "TaskListNum": 3842, "Descript": f"kept by {key}", "UserNum": 12}).json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["process-0", "process-1"]
    with LiveServer("--processes", "2", "--data-dir", str(tmp_path), command=("cluster",)) as server:
        for key, task in created.items():
            with server.session(key) as session:
                assert session.get(f"{server.api}/tasks/{task['TaskNum']}").json() == task


def test_render_config_keeps_every_path_in_the_prefix(tmp_path):
    config = render_config(tmp_path, "127.0.0.1:8080", ["127.0.0.1:1", "127.0.0.1:2"])
    assert "@@" not in config
    assert "hash $customer consistent;" in config
    assert "server 127.0.0.1:1 max_fails=0;" in config and "server 127.0.0.1:2 max_fails=0;" in config
    for line in config.splitlines():
        if "_path " in line or line.strip().startswith(("pid ", "error_log ")):
            assert str(tmp_path) in line, line
