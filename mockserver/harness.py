"""The test harness's per-office state: the request journal and the injected faults.

Plain thread-safe objects; admin.py feeds them from request hooks and serves them under
/__admin. One OfficeHarness per customer key, kept by the app's Harness.
"""
from __future__ import annotations

import fnmatch
import itertools
import json
import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from werkzeug.datastructures import Headers
from werkzeug.sansio.request import Request as SansioRequest

from .routes import api_path
from .store import BadRequest, get_or_create

JOURNAL_SIZE = 1000  # requests kept per office; the oldest are dropped first
# ... and bytes they may take (bodies, queries, headers): large bodies drop old entries sooner
JOURNAL_BYTES = 4 * 1024 * 1024
MAX_FAULTS = 100  # faults per office
BODY_LIMIT = 64 * 1024  # characters of a request body the journal keeps


class Received(NamedTuple):
    """One /api/v1 request as admin.py's hooks captured it.

    Recording happens on every API request, reading the journal rarely: so this keeps
    references and raw bytes, and the journal view parses and formats them when read.
    """

    time: datetime  # office clock
    wall_time: datetime  # UTC
    method: str
    path: str
    query_string: bytes  # raw: parsed by query() when the journal is read
    headers: dict[str, str]
    body: bytes  # the start of the body, enough for the journal's text limit
    body_size: int
    status: int | None  # None: the connection was dropped
    fault: int | None
    warnings: list[str]  # blueprints.warnings: ignored body fields
    response_headers: dict[str, str]  # what the mock answered (none when it dropped it)
    response_body: bytes  # its start, enough for BODY_LIMIT characters

    def query(self) -> dict[str, str]:
        """The query parameters, as ``request.args.to_dict()`` gave them (text that is not
        UTF-8, which the request was refused for, has U+FFFD in its place)."""
        utf8 = self.query_string.decode("utf-8", "replace").encode()
        return SansioRequest("GET", "http", None, "", self.path, utf8, Headers(), None).args.to_dict()

    def size(self) -> int:
        """Bytes this entry holds, as far as a client decides them."""
        return (len(self.body) + len(self.query_string) + len(self.path) + len(self.response_body)
                + sum(len(name) + len(value) for headers in (self.headers, self.response_headers)
                      for name, value in headers.items())
                + sum(len(text) for text in self.warnings))


@dataclass(eq=False)
class Fault:
    """A loaded FaultSchema plus its counters; changed only under its office's lock."""

    id: int
    method: str
    path: str
    status: int | None
    body: str | None
    delay_ms: int
    drop: bool
    times: int | None
    probability: float
    seed: int | None
    hits: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


class OfficeHarness:
    """One office's request journal and faults; thread-safe."""

    def __init__(self, journal_size: int = JOURNAL_SIZE, journal_bytes: int = JOURNAL_BYTES):
        self._lock = threading.Lock()
        self._journal: deque[tuple[int, Received]] = deque()
        self._journal_size, self._journal_bytes = journal_size, journal_bytes
        self._bytes = 0  # what the journal's entries hold (Received.size)
        self._faults: list[Fault] = []
        self._fault_ids = itertools.count(1)
        self._request_ids = itertools.count(1)

    def record(self, received: Received) -> None:
        """Append a request to the journal; the oldest entries go while it holds more
        than its entries or bytes allow (the newest always stays)."""
        with self._lock:
            self._journal.append((next(self._request_ids), received))
            self._bytes += received.size()
            while len(self._journal) > 1 and (len(self._journal) > self._journal_size
                                              or self._bytes > self._journal_bytes):
                self._bytes -= self._journal.popleft()[1].size()

    def entries(self, method: str | None = None, path: str | None = None) -> list[tuple[int, Received]]:
        """(id, request) journal entries, oldest first, filtered by method and path glob."""
        with self._lock:
            entries = list(self._journal)
        return [(i, r) for i, r in entries if (method in (None, "*", r.method)) and
                (path is None or fnmatch.fnmatchcase(api_path(r.path), path))]

    def clear_journal(self) -> int:
        with self._lock:
            count = len(self._journal)
            self._journal.clear()
            self._bytes = 0
            return count

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        with self._lock:
            if len(self._faults) >= MAX_FAULTS:
                raise BadRequest(f"An office can have at most {MAX_FAULTS} faults.")
            fault = Fault(id=next(self._fault_ids), **spec)
            self._faults.append(fault)
            return fault

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove_faults(self, fault_id: int | None = None) -> list[Fault]:
        """Remove every fault, or the one with *fault_id*; the removed ones."""
        with self._lock:
            removed = [f for f in self._faults if fault_id in (None, f.id)]
            self._faults = [f for f in self._faults if f not in removed]
            return removed

    def trigger(self, method: str, path: str) -> Fault | None:
        """The first fault that matches and fires for this request, counted as used."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and fault.rng.random() < fault.probability:
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
            return None


class Harness:
    """Every office's OfficeHarness, by customer key (``app.extensions["mockserver.admin"]``)."""

    def __init__(self, journal_size: int = JOURNAL_SIZE, journal_bytes: int = JOURNAL_BYTES):
        self.journal_size, self.journal_bytes = journal_size, journal_bytes
        self._offices: dict[str, OfficeHarness] = {}
        self._lock = threading.Lock()

    def of(self, customer: str) -> OfficeHarness:
        """The journal and faults of *customer*'s office, created on first use."""
        return get_or_create(self._offices, self._lock, customer,
                             lambda _: OfficeHarness(self.journal_size, self.journal_bytes))

    def customers(self) -> list[str]:
        """The customer keys that have a journal or faults, in the order first seen."""
        with self._lock:
            return list(self._offices)

    def reset(self, customer: str | None = None) -> None:
        """Forget one office's journal and faults (or every office's)."""
        with self._lock:
            if customer is None:
                self._offices.clear()
            else:
                self._offices.pop(customer, None)


def journal_body(raw: bytes, size: int) -> Any:
    """A captured body as the journal shows it: parsed JSON, else text; None if empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if size > len(raw) or len(text) > BODY_LIMIT:
        return text[:BODY_LIMIT]
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        return text


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    # 1e999 would become Infinity, which the journal could not send back as JSON
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value
