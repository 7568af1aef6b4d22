"""Connection abuse: does a server still answer a normal client while others hold
connections open?

    python bench/abuse.py URL [--seconds 15] [--gets 20] [--path /api/v1/tasks/1408]

Two scenarios, one after the other, each bounded in time (at most SECONDS plus twice
GET_TIMEOUT_S):

- slowloris: SLOWLORIS connections each send a request's first line and Host header, then
  one more header line every TRICKLE_S seconds, and never finish the request;
- idle: IDLE connections are opened and send nothing.

While the abuse lasts, a normal client starts GETS requests at a steady pace, each on a
new connection in a thread of its own, with a GET_TIMEOUT_S timeout on every socket
operation (``Authorization: ODFHIR bench/bench``, ``Content-Type: application/json``;
TaskNum 1408 is in the shipped fixtures and in every generated dataset of 500 tasks or
more). Each scenario reports how many were answered with 200, their latency, and how
many abusive connections the server still held open at the end. Loopback addresses only.
``run_all(url)`` is what bench/run.py calls.
"""
from __future__ import annotations

import argparse
import http.client
import json
import resource
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

SLOWLORIS = 150  # connections that send one header line every TRICKLE_S seconds
TRICKLE_S = 5.0
IDLE = 500  # connections that send nothing
GETS = 20  # normal GETs per scenario
SECONDS = 15.0  # how long each scenario's abuse lasts
GET_TIMEOUT_S = 5.0  # per socket operation of a normal GET
CONNECT_TIMEOUT_S = 1.0  # per abusive connection
PATH = "/api/v1/tasks/1408"
HEADERS = {"Authorization": "ODFHIR bench/bench", "Content-Type": "application/json"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def loopback_address(url: str) -> tuple[str, int]:
    """(host, port) of *url*; refuses anything but a loopback host."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.port is None:
        raise ValueError(f"{url}: only http://127.0.0.1:PORT (or localhost, ::1) is allowed")
    return parts.hostname, parts.port


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft limit on open files to *needed* if it is lower (up to the
    hard limit): the abuse holds IDLE sockets at once. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def open_connections(host: str, port: int, count: int, first_bytes: bytes, deadline: float
                     ) -> tuple[list[socket.socket], int]:
    """Up to *count* connections, each sending *first_bytes* (if any), until *deadline*:
    the sockets, and how many failed to connect or send."""
    sockets, failed = [], 0
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            failed += 1
            continue
        try:
            if first_bytes:
                sock.sendall(first_bytes)
        except OSError:
            failed += 1
            sock.close()
            continue
        sockets.append(sock)
    return sockets, failed


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Every TRICKLE_S seconds, one more header line on each socket, until *stop*."""
    line = 0
    while not stop.wait(TRICKLE_S):
        line += 1
        for sock in sockets:
            try:
                sock.sendall(f"X-Slow-{line}: {line}\r\n".encode())
            except OSError:  # the server closed it: still_open() counts it
                pass


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither closed *sock* nor answered on it."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # b"": the server closed it; bytes: it answered (a 4xx)
    except BlockingIOError:  # nothing to read: the server still waits for the request's end
        return True
    except OSError:  # reset by the server
        pass
    return False


def normal_get(host: str, port: int, path: str) -> tuple[str, float]:
    """One GET on a new connection: its outcome (the status, or the exception's name)
    and the seconds it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=GET_TIMEOUT_S)
    try:
        connection.request("GET", path, headers=HEADERS)
        response = connection.getresponse()
        response.read()
        outcome = str(response.status)
    except (OSError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
    finally:
        connection.close()
    return outcome, time.monotonic() - started


def scenario(url: str, name: str, seconds: float = SECONDS, gets: int = GETS, path: str = PATH) -> dict:
    """Run one scenario (``slowloris`` or ``idle``) against *url*; a dict of its figures."""
    host, port = loopback_address(url)
    count = SLOWLORIS if name == "slowloris" else IDLE
    raise_fd_limit(count + 256)
    first_bytes = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode() if name == "slowloris" else b""
    started = time.monotonic()
    deadline = started + seconds
    sockets, failed = open_connections(host, port, count, first_bytes, deadline)
    stop = threading.Event()
    trickler = threading.Thread(target=trickle, args=(sockets, stop), daemon=True)
    if name == "slowloris":
        trickler.start()
    outcomes: list[tuple[str, float]] = []  # (status or exception, seconds); append is thread-safe
    getters = []
    try:
        # the normal GETs, started at a steady pace over what is left of the scenario's
        # time, each in a thread of its own: one left unanswered does not hold up the next
        first_get = time.monotonic()
        interval = max(0.0, deadline - first_get) / gets
        for i in range(gets):
            time.sleep(max(0.0, first_get + i * interval - time.monotonic()))
            getter = threading.Thread(target=lambda: outcomes.append(normal_get(host, port, path)), daemon=True)
            getter.start()
            getters.append(getter)
        # each GET ends within its socket timeouts (connect, send, read); one that is still
        # waiting after that counts as not answered
        give_up = max(deadline, time.monotonic()) + 2 * GET_TIMEOUT_S
        for getter in getters:
            getter.join(max(0.0, give_up - time.monotonic()))
        finished = list(outcomes)
        held = sum(still_open(sock) for sock in sockets)
    finally:
        stop.set()
        if trickler.is_alive():
            trickler.join(TRICKLE_S + 1)
        for sock in sockets:
            sock.close()
    latencies = [latency for outcome, latency in finished if outcome == "200"]
    mix: dict[str, int] = {}
    for outcome, _ in finished:
        mix[outcome] = mix.get(outcome, 0) + 1
    mix["still waiting"] = gets - len(finished)
    mix = {outcome: count for outcome, count in mix.items() if count}
    return {"scenario": name, "connections": count, "opened": len(sockets), "failed_to_open": failed,
            "still_open": held, "gets": gets, "answered": len(latencies),
            "outcomes": mix,
            "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
            "max_ms": max(latencies) * 1000 if latencies else None,
            "seconds": time.monotonic() - started}


def run_all(url: str, seconds: float = SECONDS, gets: int = GETS, path: str = PATH) -> list[dict]:
    """Both scenarios, one after the other."""
    return [scenario(url, name, seconds, gets, path) for name in ("slowloris", "idle")]


def describe(result: dict) -> str:
    """One line: the abuse, then what the normal client got."""
    what = (f"{result['connections']} connections sending a header line every {TRICKLE_S:g} s"
            if result["scenario"] == "slowloris" else f"{result['connections']} idle connections")
    latency = (f", p50 {result['p50_ms']:.0f} ms, max {result['max_ms']:.0f} ms"
               if result["answered"] else "")
    others = [f"{k} x{v}" for k, v in result["outcomes"].items() if k != "200"]
    failed = f" ({', '.join(others)})" if others else ""
    return (f"{result['scenario']}: {what} ({result['opened']} opened, {result['still_open']} still "
            f"open at the end): {result['answered']} of {result['gets']} GETs answered{latency}{failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:30222")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="abuse time per scenario")
    parser.add_argument("--gets", type=int, default=GETS, help="normal GETs per scenario")
    parser.add_argument("--path", default=PATH, help="what the normal GETs ask for")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run_all(args.url, args.seconds, args.gets, args.path)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for result in results:
            print(describe(result))


if __name__ == "__main__":
    main()
