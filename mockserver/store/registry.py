"""Every office of a server: the seed dataset they start from, the key policy, and the
registry that creates an office on its customer key's first use."""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from .clock import Clock, RelativeTime
from .office import PAGE_CAP, Journal, Office
from .records import (DEFAULT_UTC_OFFSET, DEFAULT_VERSION, PERMISSIONS, READ_ALL, RECORD_TYPES,
                      TIME_FIELDS, Unauthorized, Unavailable, primary_key)
from .tasktable import NoteTable, TaskTable

TABLES = {"tasks": TaskTable, "tasknotes": NoteTable}  # kinds that offices write
# Offices a server holds at most: each customer key is one, so a client (or a fuzzer) that
# invents keys would otherwise grow the server without end. A reset frees its office.
MAX_OFFICES = 1000

V = TypeVar("V")


def get_or_create(table: dict[str, V], lock: threading.Lock, key: str,
                  make: Callable[[str], V]) -> V:
    """``table[key]``, made by ``make(key)`` under *lock* the first time. Every request
    asks: a hit is a plain dict read, which needs no lock."""
    found = table.get(key)
    if found is not None:
        return found
    with lock:
        found = table.get(key)
        if found is None:
            found = table[key] = make(key)
        return found


@dataclass(frozen=True)
class Dataset:
    """Validated fixture records, kind -> records; a time field may hold a RelativeTime
    until an office resolves it against its clock."""

    records: Mapping[str, Sequence[Any]]
    version: str = DEFAULT_VERSION
    utc_offset: str = DEFAULT_UTC_OFFSET
    relative: bool = field(init=False, compare=False)  # any RelativeTime: offices resolve anew

    def __post_init__(self) -> None:
        object.__setattr__(self, "relative", any(
            isinstance(getattr(record, name), RelativeTime)
            for kind, records in self.records.items() for record in records
            for name in TIME_FIELDS[kind]))

    def count(self, kind: str) -> int:
        """How many records of *kind* there are."""
        return len(self.records.get(kind, ()))

    def materialize(self, now: datetime) -> dict[str, Any]:
        """The records at office time *now*: kind -> {key: record}; tasks as a TaskTable."""
        tables: dict[str, Any] = {}
        for kind, cls in RECORD_TYPES.items():
            records = [_resolved(record, TIME_FIELDS[kind], now)
                       for record in self.records.get(kind, ())]
            if kind in TABLES:
                tables[kind] = TABLES[kind](records)
            else:
                key = primary_key(cls)
                tables[kind] = {getattr(r, key): r
                                for r in sorted(records, key=lambda r: getattr(r, key))}
        return tables


def _resolved(record: Any, names: Iterable[str], now: datetime) -> Any:
    """*record* with each RelativeTime among its *names* fields resolved at *now*."""
    changes = {name: value.resolve(now) for name in names
               if isinstance(value := getattr(record, name), RelativeTime)}
    return dataclasses.replace(record, **changes) if changes else record


@dataclass(frozen=True)
class KeyPolicy:
    """The optional keys file: developer keys with permissions, customer keys with versions."""

    developers: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> permissions
    customers: Mapping[str, str | None] = field(default_factory=dict)  # key -> version override
    disabled: frozenset[tuple[str, str]] = frozenset()  # ("Developer" | "Customer", key)
    strict: bool = False

    def admit(self, developer: str, customer: str) -> None:
        """Raise Unauthorized (as ``check`` would) for a key pair whose customer key may
        hold no office: one the keys file does not list, under strict keys."""
        if self.strict and customer not in self.customers:
            self.check(developer, customer, READ_ALL)

    def check(self, developer: str, customer: str, permission: str) -> None:
        """Raise Unauthorized unless the key pair may use *permission*."""
        for kind, key, known in (("Developer", developer, self.developers),
                                 ("Customer", customer, self.customers)):
            if (kind, key) in self.disabled or (self.strict and key not in known):
                raise Unauthorized(f"{kind} key is invalid or disabled.")
        self.check_permission(developer, permission)

    def check_permission(self, developer: str, permission: str) -> None:
        """Raise Unauthorized unless the developer key has *permission*."""
        if permission not in self.developers.get(developer, PERMISSIONS):
            raise Unauthorized(f"Developer key lacks the {permission} permission.")

    def check_control(self, developer: str, customer: str, permission: str) -> None:
        """The control API's rule: under strict keys the API's own (``check``); otherwise
        only the permission, so that a test can still read the journal of a key that it
        disabled."""
        if self.strict:
            self.check(developer, customer, permission)
        else:
            self.check_permission(developer, permission)


class Registry:
    """Every office of a server, created from the seed dataset on a key's first use."""

    SEED_REUSE = timedelta(seconds=60)  # offices made within a minute share resolved records

    def __init__(self, dataset: Dataset, keys: KeyPolicy | None = None,
                 page_cap: int = PAGE_CAP, journal: Journal | None = None,
                 max_offices: int = MAX_OFFICES):
        self.dataset = dataset
        self.keys = keys or KeyPolicy()
        self.page_cap = page_cap
        self.max_offices = max_offices
        self.journal = journal  # None: offices live in memory only
        self._offices: dict[str, Office] = {}
        self._lock = threading.Lock()
        self._seed: tuple[datetime, dict[str, Any]] | None = None

    def _tables(self, now: datetime) -> dict[str, Any]:
        # Relative fixture times are resolved against the new office's clock, but
        # offices created close together may share one resolution: cheap offices.
        if self._seed is None or (self.dataset.relative
                                  and abs(now - self._seed[0]) > self.SEED_REUSE):
            self._seed = (now, self.dataset.materialize(now))
        return self._seed[1]

    def warm(self) -> None:
        """Resolve the seed's records now rather than on the first request."""
        self._tables(Clock().now())

    def new_office(self, key: str, dataset: Dataset | None = None,
                   clock: Clock | None = None) -> Office:
        """A fresh office for *key* from *dataset* (default: the seed); not yet registered."""
        clock = clock or Clock()
        now = clock.now()
        tables = dataset.materialize(now) if dataset is not None else self._tables(now)
        seed = dataset or self.dataset
        return Office(key, tables, self.keys.customers.get(key) or seed.version, clock,
                      self.page_cap, self.journal, seed.utc_offset)

    def office(self, customer: str) -> Office:
        """The office of a customer key, created on first use; Unavailable when that
        would make more than ``max_offices`` (the offices there are keep working)."""
        return get_or_create(self._offices, self._lock, customer, self._first_use)

    def find(self, customer: str) -> Office | None:
        """The office of a customer key if it has one (none is created)."""
        return self._offices.get(customer)

    def check_room(self, customer: str) -> None:
        """Unavailable if *customer* has no office and the server holds ``max_offices``."""
        if customer not in self._offices and len(self._offices) >= self.max_offices:
            raise Unavailable(
                f"The server holds its limit of {self.max_offices} offices (--max-offices), "
                "so a new customer key cannot get one. Free offices with POST /__admin/reset "
                "(or ?scope=all), or restart with a higher --max-offices.")

    def _first_use(self, key: str) -> Office:
        self.check_room(key)  # under the lock: the limit holds however many keys arrive
        return self.new_office(key)

    def put(self, office: Office) -> None:
        """Register (or replace) an office under its key."""
        with self._lock:
            if self.journal is not None:
                replaced = self._offices.get(office.key)
                self._detach([replaced] if replaced is not office else [])
                self.journal.office(office)
            self._offices[office.key] = office

    def reset(self, customer: str | None = None) -> None:
        """Forget one office (or all): the next request starts from the seed again."""
        with self._lock:
            if self.journal is not None:
                self._detach(self._offices.values() if customer is None
                             else [self._offices.get(customer)])
                self.journal.reset(customer)
            if customer is None:
                self._offices.clear()
            else:
                self._offices.pop(customer, None)

    @staticmethod
    def _detach(offices: Iterable[Office | None]) -> None:
        # a replaced office may still be in use by a request; its writes are no longer
        # visible, so they must not reach the journal (replay would resurrect them)
        for office in offices:
            if office is not None:
                office.detach()

    def offices(self) -> list[Office]:
        """The registered offices, in the order they were first used."""
        with self._lock:
            return list(self._offices.values())

    def __len__(self) -> int:
        return len(self._offices)
