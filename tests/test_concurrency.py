"""Many clients at once against a live server (waitress, granian): no 5xx, no leaks, no lost writes.

Each client computes the state its acknowledged writes must have produced and compares
it with what the server returns at the end (old tasks included, via DateTimeOriginal).
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from liveserver import SERVERS, LiveServer, all_tasks

CLIENTS = 32
ROUNDS = 15  # requests per client: POST, PUT, GET in turn
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=SERVERS)
def server(request):
    with LiveServer("--server", request.param, "--threads", "16") as live:
        yield live


def _run_client(server: LiveServer, customer: str, tag: str) -> dict:
    """POST/PUT/GET on *customer*'s office; the acknowledged records and every status."""
    rng = random.Random(tag)
    acknowledged: dict[int, dict] = {}
    statuses: list[int] = []
    with server.session(customer) as session:
        for i in range(ROUNDS):
            if i % 3 == 0 or not acknowledged:
                r = session.post(f"{server.api}/tasks", json={
                    "TaskListNum": 3842, "Descript": f"{tag} created {i}", "UserNum": 12})
                statuses.append(r.status_code)
                assert r.status_code == 201, r.text
                acknowledged[r.json()["TaskNum"]] = r.json()
            elif i % 3 == 1:
                num = rng.choice(sorted(acknowledged))
                body = rng.choice([{"Descript": f"{tag} edited {i}"}, {"TaskStatus": "Done"},
                                   {"TaskStatus": "Viewed", "PriorityDefNum": 90}])
                r = session.put(f"{server.api}/tasks/{num}", json=body)
                statuses.append(r.status_code)
                assert r.status_code == 200, r.text
                acknowledged[num] = r.json()
            else:
                num = rng.choice(sorted(acknowledged))
                r = session.get(f"{server.api}/tasks/{num}")
                statuses.append(r.status_code)
                assert r.status_code == 200, r.text
                assert r.json() == acknowledged[num]  # only this client writes its tasks
    return {"tag": tag, "acknowledged": acknowledged, "statuses": statuses}


def _parallel(server: LiveServer, customers: list[str]) -> list[dict]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_run_client, server, customer, f"client-{n}")
                   for n, customer in enumerate(customers)]
        return [f.result() for f in futures]


def test_createTask_updateTask_32_offices_in_parallel(server):
    customers = [f"office-{n}" for n in range(CLIENTS)]
    with server.session(customers[0]) as session:
        seed = all_tasks(session, server.api)  # every office starts as a copy of this
    results = _parallel(server, customers)
    for customer, result in zip(customers, results):
        assert all(s < 500 for s in result["statuses"])
        with server.session(customer) as session:
            final = all_tasks(session, server.api)
        expected = {**seed, **result["acknowledged"]}
        assert final == expected  # exactly the acknowledged writes: nothing lost, nothing extra
        foreign = {t["Descript"] for t in final.values()
                   if t["Descript"].startswith("client-")
                   and not t["Descript"].startswith(result["tag"] + " ")}
        assert not foreign, f"{customer} sees other offices' tasks: {foreign}"


def test_createTask_updateTask_32_clients_on_one_office(server):
    with server.session("shared") as session:
        seed = all_tasks(session, server.api)
    results = _parallel(server, ["shared"] * CLIENTS)
    created = [num for result in results for num in result["acknowledged"] if num not in seed]
    assert len(created) == len(set(created))  # TaskNums are never handed out twice
    with server.session("shared") as session:
        final = all_tasks(session, server.api)
    assert set(final) == set(seed) | set(created)
    for result in results:
        assert all(s < 500 for s in result["statuses"])
        for num, record in result["acknowledged"].items():
            assert final[num] == record  # each client's last acknowledged write survived
