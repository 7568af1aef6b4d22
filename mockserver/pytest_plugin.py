"""pytest plugin: a live Open Dental Tasks mock and a fresh office for every test.

Registered through the ``pytest11`` entry point, so installing the package is enough.
Fixtures (all prefixed ``opendental`` so they never clash with a project's own):

- ``opendental``: a :class:`MockOffice` on the live server, with a new random customer
  key: its ``base_url``, ready ``headers``, and helpers for state, journal, faults and
  clock. Tests never see each other's offices, under pytest-xdist too (every worker
  process runs its own server).
- ``opendental_server`` (session): the live server (waitress on a free 127.0.0.1 port,
  in a thread), started the first time a test asks for it: nothing runs otherwise.
- ``opendental_inprocess``: the same :class:`MockOffice` over Flask's test client, no
  socket; ``.client`` is the test client. A dropped connection raises
  ``mockserver.admin.ConnectionDropped`` there.
- ``opendental_config`` (session): the ``create_app`` config of both; override it in
  a conftest.py, e.g. to serve your own fixtures folder.

Only the standard library is imported here at collection time; the server's modules
load when a fixture is first used.
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from datetime import datetime
from typing import Any, Callable, Iterator

import pytest

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/__admin"
DEVELOPER_KEY = "pytest"
Transport = Callable[[str, str, dict, "bytes | None"], "tuple[int, bytes]"]


class ControlError(Exception):
    """A control-API call answered with an error (its status and JSON-string message)."""

    def __init__(self, status: int, message: Any):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class MockOffice:
    """One office of the mock (one customer key): where it is, and how to steer it."""

    def __init__(self, transport: Transport, url: str, customer_key: str | None = None,
                 developer_key: str = DEVELOPER_KEY, client: Any = None):
        self._send = transport
        self.client = client  # the Flask test client, in process
        self.url = url  # the server root: "http://127.0.0.1:PORT", "" in process
        self.base_url = url + API_PREFIX
        self.developer_key = developer_key
        self.customer_key = customer_key or f"pytest-{uuid.uuid4().hex}"
        self.authorization = f"ODFHIR {self.developer_key}/{self.customer_key}"
        self.headers = {"Authorization": self.authorization, "Content-Type": "application/json"}

    def control(self, method: str, path: str, body: Any = None, /, **query: Any) -> Any:
        """Call /__admin{path} for this office; the decoded JSON, or ControlError."""
        params = {k: v for k, v in query.items() if v is not None}
        target = ADMIN_PREFIX + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        status, raw = self._send(method, target, self.headers, data)
        result = json.loads(raw) if raw else None
        if status >= 400:
            raise ControlError(status, result)
        return result

    # -- data --
    def reset(self) -> None:
        """Restart this office from the fixtures: data, clock, journal and faults."""
        self.control("POST", "/reset")

    def state(self) -> dict[str, Any]:
        """The office's data in fixture form."""
        return self.control("GET", "/state")

    def load_state(self, documents: dict[str, Any]) -> dict[str, Any]:
        """Replace the office's data with fixture documents ({"tasks": [...], ...})."""
        return self.control("PUT", "/state", documents)

    # -- journal --
    def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The /api/v1 requests this office received, oldest first; *path* is a glob
        on the part after /api/v1, such as ``/tasks/*``."""
        return self.control("GET", "/requests", method=method, path=path)

    def clear_requests(self) -> int:
        """Empty the journal; how many entries it had."""
        return self.control("DELETE", "/requests")["deleted"]

    # -- faults --
    def fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault: ``fault(path="/tasks/*", status=504, times=1)``, ``drop=True``,
        ``delay_ms=200``, ``probability=0.5, seed=1``; returns it with its ``id``."""
        return self.control("POST", "/faults", spec)

    def faults(self) -> list[dict[str, Any]]:
        return self.control("GET", "/faults")

    def clear_faults(self) -> int:
        return self.control("DELETE", "/faults")["deleted"]

    # -- clock --
    def clock(self) -> dict[str, Any]:
        """``{"now": "yyyy-MM-dd HH:mm:ss", "frozen": bool}``."""
        return self.control("GET", "/clock")

    def set_clock(self, now: datetime | str | None = None, frozen: bool | None = None) -> dict[str, Any]:
        """Move the office clock to *now* and/or freeze or release it."""
        body: dict[str, Any] = {}
        if now is not None:
            body["now"] = now.strftime("%Y-%m-%d %H:%M:%S") if isinstance(now, datetime) else now
        if frozen is not None:
            body["frozen"] = frozen
        return self.control("PUT", "/clock", body)

    def advance(self, by: int | str) -> dict[str, Any]:
        """Move the clock by seconds or a duration such as ``"15d"`` or ``"2h30m"``."""
        return self.control("POST", "/clock/advance", {"by": by})


def http_transport(url: str) -> Transport:
    """Send control calls over HTTP with urllib (no proxies: the server is local)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(method: str, path: str, headers: dict, body: bytes | None) -> tuple[int, bytes]:
        request = urllib.request.Request(url + path, data=body, headers=headers, method=method)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()
    return send


def flask_transport(client: Any) -> Transport:
    """Send control calls through a Flask test client."""
    def send(method: str, path: str, headers: dict, body: bytes | None) -> tuple[int, bytes]:
        response = client.open(path, method=method, headers=headers, data=body)
        return response.status_code, response.get_data()
    return send


class LiveServer:
    """The mock on waitress, on a free 127.0.0.1 port, served from a daemon thread."""

    def __init__(self, config: dict[str, Any]):
        from .app import create_app
        from .wsgi import WaitressServer

        self.app = create_app({**config, "ADMIN_API": True})  # the fixtures need it
        self._server = WaitressServer(self.app, host="127.0.0.1", port=0, threads=8)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="opendental-mock",
                                        daemon=True)
        self._thread.start()

    def new_office(self, customer_key: str | None = None,
                   developer_key: str = DEVELOPER_KEY) -> MockOffice:
        """A handle on an office: a fresh random customer key unless given (a keys file
        with ``STRICT_KEYS`` needs listed keys)."""
        return MockOffice(http_transport(self.url), self.url, customer_key, developer_key)

    def close(self) -> None:
        """Stop serving."""
        self._server.stop(self._thread)


PATHS = ("FIXTURES", "KEYS", "DATA_DIR")  # config keys that name files or folders


def rooted(config: dict[str, Any], root: Path) -> dict[str, Any]:
    """*config* with its relative paths (FIXTURES, KEYS, DATA_DIR) made absolute against
    *root*, pytest's rootdir: the same folder whichever directory pytest runs from."""
    relative = [key for key in PATHS if isinstance(config.get(key), (str, Path))
                and not Path(config[key]).is_absolute()]
    return {**config, **{key: str(root / config[key]) for key in relative}}


@pytest.fixture(scope="session")
def opendental_config() -> dict[str, Any]:
    """``create_app`` config of the plugin's servers; override to change fixtures, keys..."""
    return {}


@pytest.fixture(scope="session")
def opendental_server(opendental_config: dict[str, Any],
                      request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The live mock server of this test session (of this xdist worker)."""
    server = LiveServer(rooted(opendental_config, request.config.rootpath))
    yield server
    server.close()


@pytest.fixture
def opendental(opendental_server: LiveServer) -> Iterator[MockOffice]:
    """A fresh office on the live server; forgotten after the test."""
    office = opendental_server.new_office()
    yield office
    office.reset()


@pytest.fixture(scope="session")
def opendental_app(opendental_config: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    """The mock as a Flask app, in process."""
    from .app import create_app

    config = rooted(opendental_config, request.config.rootpath)
    return create_app({**config, "TESTING": True, "ADMIN_API": True})


@pytest.fixture
def opendental_inprocess(opendental_app: Any) -> Iterator[MockOffice]:
    """A fresh office of the in-process app; ``.client`` is its Flask test client."""
    client = opendental_app.test_client()
    office = MockOffice(flask_transport(client), "", client=client)
    yield office
    office.reset()
