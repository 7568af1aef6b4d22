"""Shortcuts taken for speed give exactly what the general code gives."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
import yaml
from flask import Flask
from hypothesis import given, settings, strategies as st

from mockserver import schemas
from mockserver.fixtures import FixtureError, _Loader, default_dir, read_yaml
from mockserver.schemas import (DATE_FORMAT, DATETIME_FORMAT, ISO_FORMATTERS, DefinitionSchema,
                                FormatQuery, TaskNumPath, TaskQuery, TaskSchema, compile_format,
                                dump, dump_json, load)
from mockserver.store import MAX_ID, TASK_STATUSES, BadRequest, Definition, Task


@settings(max_examples=200, derandomize=True)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_getTask_iso_formatters_equal_the_default_formats(when):
    assert ISO_FORMATTERS["date"](when) == compile_format(DATE_FORMAT)(when)
    assert ISO_FORMATTERS["datetime"](when) == compile_format(DATETIME_FORMAT)(when)
    assert ISO_FORMATTERS["date"](when.date()) == compile_format(DATE_FORMAT)(when)


def test_listTasks_empty_query_loads_defaults_each_time():
    first = load(TaskQuery, {})
    assert first == {"Offset": 0}
    first["Offset"] = 5  # a caller changing its result does not change the next one
    assert load(TaskQuery, {}) == {"Offset": 0}
    assert load(FormatQuery, {}) == {}


def test_getTask_empty_input_still_reports_required_fields():
    for _ in range(2):  # the error is raised every time, not cached away
        with pytest.raises(BadRequest, match="TaskNum is required."):
            load(TaskNumPath, {})


moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
tasks = st.builds(
    Task, TaskNum=st.integers(0, MAX_ID), TaskListNum=st.integers(0, MAX_ID),
    DateTask=st.dates(), Descript=st.text(max_size=5), TaskStatus=st.sampled_from(TASK_STATUSES),
    IsRepeating=st.booleans(), ReminderType=st.integers(0, 4095), DateTimeEntry=moments,
    DateTimeOriginal=moments, DescriptOverride=st.text(max_size=5))
definitions = st.builds(Definition, DefNum=st.integers(0, 10), Category=st.integers(0, 40),
                        IsHidden=st.booleans(), ItemOrder=st.integers(0, 3))
formats = st.sampled_from([{}, {"date": compile_format("dd/MM/yyyy"),
                                "datetime": compile_format("M/d/yyyy h:mm:ss tt")}])


@settings(max_examples=100, derandomize=True)
@given(st.lists(tasks, max_size=3), st.lists(definitions, max_size=3), formats)
def test_listTasks_dump_equals_marshmallow_dump(task_rows, definition_rows, fmt):
    for schema, rows in ((TaskSchema, task_rows), (DefinitionSchema, definition_rows)):
        reference = schema(many=True)
        reference.od_formats = fmt
        assert dump(schema, rows, fmt, many=True) == reference.dump(rows)
        for row in rows:
            assert list(dump(schema, row, fmt)) == list(reference.dump([row])[0])  # key order


@settings(max_examples=100, derandomize=True)
@given(st.lists(tasks, max_size=3), formats)
def test_listTasks_json_text_equals_flask_jsonify(task_rows, fmt):
    app = Flask(__name__)
    app.json.sort_keys = False  # as create_app
    with app.app_context():
        for obj, many in ((task_rows, True), *((row, False) for row in task_rows)):
            expected = app.json.response(dump(TaskSchema, obj, fmt, many=many)).get_data(as_text=True)
            assert dump_json(TaskSchema, obj, fmt, many=many) + "\n" == expected
            assert dump_json(TaskSchema, obj, fmt, many=many) + "\n" == expected  # cached


def test_getTask_text_cache_follows_each_change_and_each_format():
    task = Task(TaskNum=1, Descript="before")
    before = dump_json(TaskSchema, task)
    changed = dataclasses.replace(task, Descript="after")
    assert '"before"' in before and '"after"' in dump_json(TaskSchema, changed)
    assert dump_json(TaskSchema, task) == before
    dated = dump_json(TaskSchema, task, {"date": compile_format("dd/MM/yyyy")})
    assert '"01/01/0001"' in dated and '"0001-01-01"' in before


def test_getTask_text_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(schemas, "TEXT_CACHE_SIZE", 5)
    rows = [Task(TaskNum=n) for n in range(12)]
    assert dump_json(TaskSchema, rows, many=True) == json.dumps(
        dump(TaskSchema, rows, many=True), separators=(",", ":"))
    assert len(schemas._TEXT_CACHE) <= 5


YAML_CASES = [
    "", "# nothing\n", "- 1\n- two\n- {a: 2024-01-01, b: true, c: [1, 2]}\n", "[1, 2]\n",
    "- &x {a: 1}\n- *x\n- b: *x\n", "&top [1, *top]\n", "!!seq [1]\n", "- !!str 1\n",
    "a: 1\n", "plain\n", "--- [1]\n...\n", "- 1\n--- [2]\n", "- [1\n", "- a: 1\n  a: 2\n",
    "- !!python/object:os.system x\n", "- *nope\n",
]


@pytest.mark.parametrize("text", YAML_CASES)
def test_read_yaml_lists_item_by_item_equal_whole_document(text):
    try:
        whole = yaml.load(text, Loader=_Loader)  # noqa: S506 - a (C)SafeLoader
    except yaml.YAMLError:
        with pytest.raises(FixtureError, match="not valid YAML"):
            read_yaml(text, "case")
    else:
        assert repr(read_yaml(text, "case")) == repr(whole)  # repr: one case is recursive


def test_read_yaml_default_fixtures_equal_whole_documents():
    for file in default_dir().glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        assert read_yaml(text, file.name) == yaml.load(text, Loader=_Loader)  # noqa: S506
