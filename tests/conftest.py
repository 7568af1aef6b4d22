"""Shared fixtures: an app per test (fresh offices), its test client, request helpers."""
from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import settings

from mockserver import create_app
from mockserver.fixtures import default_dir, export_office

# No test fails on time: hypothesis's default 200 ms deadline per example is a timed
# assertion, and these machines are shared and noisy.
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")

BASE = "/api/v1"
AUTH = "ODFHIR devkey/custkey"
HEADERS = {"Authorization": AUTH, "Content-Type": "application/json"}


def assert_api_response(response) -> None:
    """Every answer of the server, errors included: no 5xx, never HTML, always JSON."""
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]


class CheckedClient(FlaskClient):
    """A test client that checks every response, so raw ``client`` calls are covered too."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert_api_response(response)
        return response


def make_app(config: dict | None = None):
    """A server with *config* whose test client checks every response."""
    app = create_app({"TESTING": True, **(config or {})})
    app.test_client_class = CheckedClient
    return app


@pytest.fixture
def app():
    """A fresh server: every office starts from the default fixtures."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """Calls /api/v1 with a key pair's headers; ``api.get("/tasks/1408")``."""

    def __init__(self, client, auth: str = AUTH):
        self.client = client
        self.headers = {"Authorization": auth, "Content-Type": "application/json"}

    def __call__(self, method: str, path: str, *, json: Any = None, data: Any = None,
                 headers: dict | None = None, query: dict | None = None):
        merged = {**self.headers, **(headers or {})}
        merged = {k: v for k, v in merged.items() if v is not None}  # None removes a header
        response = self.client.open(BASE + path, method=method, json=json, data=data,
                                    headers=merged, query_string=query)
        assert_api_response(response)
        return response

    def get(self, path: str, **kw):
        return self("GET", path, **kw)

    def post(self, path: str, **kw):
        return self("POST", path, **kw)

    def put(self, path: str, **kw):
        return self("PUT", path, **kw)

    def as_key(self, auth: str) -> "Api":
        """The same client with another Authorization header (another office)."""
        return Api(self.client, auth)


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def office(app, customer: str = "custkey"):
    """The store's office behind a customer key (for asserting stored data)."""
    return app.extensions["mockserver"].office(customer)


def snapshot(app, customer: str = "custkey") -> dict:
    """An office's whole data in fixture form, to prove a request changed nothing."""
    return export_office(office(app, customer))


TASK_FIELDS = [
    "TaskNum", "TaskListNum", "DateTask", "KeyNum", "Descript", "TaskStatus", "IsRepeating",
    "DateType", "FromNum", "ObjectType", "DateTimeEntry", "UserNum", "DateTimeFinished",
    "PriorityDefNum", "ReminderGroupId", "ReminderType", "ReminderFrequency",
    "DateTimeOriginal", "SecDateTEdit", "DescriptOverride", "IsReadOnly"]
ALL_TIME = {"DateTimeOriginal": "0001-01-01 00:00:00"}  # list filter that hides nothing


def freeze(app, when: str, customer: str = "custkey") -> str:
    """Freeze an office's clock at *when* ("yyyy-MM-dd HH:mm:ss"); returns *when*."""
    office(app, customer).clock.set(datetime.strptime(when, "%Y-%m-%d %H:%M:%S"), frozen=True)
    return when


def fixture_dir(tmp_path: Path, **files: str) -> Path:
    """A copy of the default fixtures with some files (``tasks="..."`` YAML text) replaced;
    without the default notes when the tasks or users are replaced (they name theirs)."""
    folder = tmp_path / "fixtures"
    folder.mkdir()
    for source in default_dir().glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    if {"tasks", "userods"} & set(files):
        (folder / "tasknotes.yaml").write_text("[]\n", encoding="utf-8")
    for kind, text in files.items():
        (folder / f"{kind}.yaml").write_text(text, encoding="utf-8")
    return folder
