"""The OpenAPI document: valid, generated from the code, committed up to date, served."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from flask.testing import FlaskClient
from hypothesis import example, given, settings, strategies as st
from openapi_spec_validator import validate

from mockserver import openapi
from mockserver.cli import main
from mockserver.routes import api
from mockserver.docexamples import response_example
from mockserver.dotnetformat import FORMAT_STRING_PATTERN, compile_format
from mockserver.schemas import DATE_PATTERN

COMMITTED = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_openapi_document_is_valid():
    validate(openapi.build())


def test_openapi_covers_every_api_view(app):
    views = {rule.endpoint.removeprefix(f"{api.name}.") for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith(f"{api.name}.")}
    operations = {op["operationId"] for item in openapi.build()["paths"].values()
                  for op in item.values()}
    assert views == operations


def test_openapi_check_passes_on_committed_file():
    result = CliRunner().invoke(main, ["openapi", "--check", str(COMMITTED)])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_openapi_check_fails_on_a_stale_copy(tmp_path):
    stale = tmp_path / "openapi.yaml"
    stale.write_text(COMMITTED.read_text().replace("Task not found.", "No such task."))
    result = CliRunner().invoke(main, ["openapi", "--check", str(stale)])
    assert result.exit_code == 1
    assert "is out of date" in result.output
    assert "+                  value: Task not found." in result.output


def test_openapi_check_fails_after_an_unregenerated_change(monkeypatch):
    # as if someone added a body rule in openapi.py and forgot to regenerate
    monkeypatch.setitem(openapi.DEPENDENT_REQUIRED, "DescriptOverride", ["Descript"])
    result = CliRunner().invoke(main, ["openapi", "--check", str(COMMITTED)])
    assert result.exit_code == 1
    assert "+        DescriptOverride:" in result.output


def test_openapi_output_writes_the_document(tmp_path):
    target = tmp_path / "spec.yaml"
    result = CliRunner().invoke(main, ["openapi", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == COMMITTED.read_text()


def test_openapi_print_is_the_document():
    result = CliRunner().invoke(main, ["openapi"])
    assert result.exit_code == 0
    assert result.output == COMMITTED.read_text()


def test_openapi_yaml_is_served_without_auth(app):
    # a plain client: the shared one may insist on JSON, and the YAML is no API answer
    response = FlaskClient(app, app.response_class).get("/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert yaml.safe_load(response.get_data(as_text=True)) == yaml.safe_load(COMMITTED.read_text())


def test_openapi_declares_what_the_brief_asks():
    doc = openapi.build()
    post = doc["paths"]["/tasks"]["post"]["responses"]["201"]
    assert post["headers"]["Location"]["required"] is True
    assert set(post["links"]) == {"getTask", "updateTask", "listTaskNotes"}
    create = doc["components"]["schemas"]["TaskCreate"]
    assert create["dependentRequired"] == {"KeyNum": ["ObjectType"]}
    task_num = doc["paths"]["/tasks/{TaskNum}"]["get"]["parameters"][0]
    assert task_num["schema"]["maximum"] == 2**63 - 1 and task_num["schema"]["example"] == 1408
    assert doc["components"]["securitySchemes"]["ODFHIR"]["name"] == "Authorization"


def _accepted(text: str) -> bool:
    try:
        compile_format(text)
    except ValueError:
        return False
    return True


@settings(max_examples=3000)
@given(st.text(alphabet="yMdHhmstfzgKFaxX'\"\\ -/:\n", max_size=10))
def test_openapi_format_string_pattern_is_the_parser(text):
    # the document's pattern must accept exactly what the server accepts (ST201/ST202)
    assert bool(re.search(FORMAT_STRING_PATTERN, text)) == _accepted(text)


@given(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32))
@example(2000, 2, 29)
@example(1900, 2, 29)
@example(4, 2, 29)
@example(0, 1, 1)
@example(9999, 12, 31)
def test_openapi_date_pattern_is_the_calendar(year, month, day):
    try:
        valid = bool(date(year, month, day))
    except ValueError:
        valid = False
    assert bool(re.fullmatch(DATE_PATTERN, f"{year:04d}-{month:02d}-{day:02d}")) == valid


def test_openapi_body_examples_work_on_the_default_fixtures(api):
    paths = openapi.build()["paths"]
    create = paths["/tasks"]["post"]["requestBody"]["content"]["application/json"]["example"]
    update = paths["/tasks/{TaskNum}"]["put"]["requestBody"]["content"]["application/json"]["example"]
    created = api.post("/tasks", json=create)
    assert created.status_code == 201, created.get_json()
    updated = api.put("/tasks/6857", json=update)
    assert updated.status_code == 200, updated.get_json()


# --- the document is what the routes do: operation by operation ---------------------------

DOC = openapi.build()
OPERATIONS = [(path, method, operation) for path, item in DOC["paths"].items()
              for method, operation in item.items()]
BAD_VALUE = {"integer": "x1", "string": "\x00not one of them"}


def _url(path: str) -> str:
    return path.replace("{TaskNum}", "1408").replace("{TaskNoteNum}", "563")


def _call(api, method: str, path: str, query: dict | None = None, body=None):
    operation = DOC["paths"][path][method]
    if body is None and "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]["example"]
    return getattr(api, method)(_url(path), query=query or {}, json=body)


def _validate(instance, schema) -> None:
    jsonschema.validate(instance, {**schema, "components": DOC["components"]},
                        cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("path, method, operation", OPERATIONS,
                         ids=[op["operationId"] for _, _, op in OPERATIONS])
def test_openapi_each_operation_loads_its_declared_parameters_and_body(api, path, method, operation):
    for parameter in operation["parameters"]:
        if parameter["in"] != "query" or "pattern" in parameter["schema"]:
            continue  # the path's TaskNum is tested with every view; formats: below
        bad = BAD_VALUE["integer" if parameter["schema"]["type"] == "integer" else "string"]
        r = _call(api, method, path, {parameter["name"]: bad})
        assert (r.status_code, r.get_json().split()[0]) == (400, parameter["name"])
    for name in ("DateFormatString", "DateTimeFormatString"):
        r = _call(api, method, path, {name: "FFF"})
        assert (r.status_code, r.get_json().split()[0]) == (400, name)
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        schema = DOC["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
        for name in schema["properties"]:
            r = _call(api, method, path, body={**body["example"], name: [1]})
            assert (r.status_code, r.get_json().split()[0]) == (400, name)


@pytest.mark.parametrize("path, method, operation", OPERATIONS,
                         ids=[op["operationId"] for _, _, op in OPERATIONS])
def test_openapi_each_operation_answers_its_declared_response(api, path, method, operation):
    r = _call(api, method, path, {"DateTimeOriginal": "0001-01-01 00:00:00"}
              if operation["operationId"] == "listTasks" else None)
    [(status, declared)] = [(s, d) for s, d in operation["responses"].items() if s.startswith("2")]
    assert r.status_code == int(status), r.get_json()
    assert r.get_json(), "an empty answer proves nothing"
    _validate(r.get_json(), declared["content"]["application/json"]["schema"])
    for header, spec in declared.get("headers", {}).items():
        assert re.search(spec["schema"]["pattern"], r.headers[header])
    _validate(api.get("/tasks/99999999").get_json(), DOC["components"]["schemas"]["Error"])


@pytest.mark.parametrize("path, method, operation", OPERATIONS,
                         ids=[op["operationId"] for _, _, op in OPERATIONS])
def test_openapi_each_operation_has_a_documented_response_example(path, method, operation):
    """The docs' answer to the operation's example (docexamples.py) is in the document and
    is what its response schema allows."""
    [(status, declared)] = [(s, d) for s, d in operation["responses"].items() if s.startswith("2")]
    content = declared["content"]["application/json"]
    assert content["example"] == response_example(operation["operationId"])
    _validate(content["example"], content["schema"])
    if "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]
        _validate(body["example"], body["schema"])
