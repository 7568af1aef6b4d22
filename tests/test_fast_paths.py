"""Shortcuts taken for speed give exactly what the general code gives."""
from __future__ import annotations

import dataclasses
import gc
import json
from datetime import date, datetime, timedelta
from operator import attrgetter

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from hypothesis import given, settings, strategies as st
from marshmallow import RAISE, post_dump
from marshmallow.validate import Range
from yaml.composer import Composer

from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.test import EnvironBuilder
from werkzeug.urls import iri_to_uri

from mockserver import create_app, fixtures, schemas
from mockserver.app import BOUND_HOSTS
from mockserver.harness import Received
from mockserver.admin import AdvanceSchema, ClockSchema, FaultSchema
from mockserver.cli import main
from mockserver.fixtures import (RECORD_SCHEMAS, FixtureError, _Loader, default_dir, load_dir,
                                 read_yaml)
from mockserver.schemas import (DATE_FORMAT, DATETIME_FORMAT, ISO_FORMATTERS, DefinitionSchema,
                                FormatQuery, OdSchema, QueryInteger, RecordLoader,
                                TaskCreateSchema, TaskListSchema, TaskNumPath, TaskQuery,
                                TaskSchema, TaskUpdateSchema, UserodSchema, _load_plan,
                                compile_format, dump, dump_json, load, load_path, load_query)
from mockserver.store import (MAX_ID, TASK_STATUSES, BadRequest, Definition, RelativeTime,
                              RECORD_TYPES, ReminderType, Task, TaskList, Userod, build_many,
                              evolve, primary_key, rows_of)

from conftest import fixture_dir, office


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
    assert load(FormatQuery, {}) == {}  # routes._formats answers {} for no query, unloaded


def test_listTasks_repeated_query_loads_equal_results_each_time():
    args = {"TaskListNum": "74", "TaskStatus": "New", "DateFormatString": "dd/MM/yyyy"}
    first = load_query(TaskQuery, args)
    assert first == load(TaskQuery, args)
    first.pop("DateFormatString")  # as split_formats does: the next result is whole again
    assert load_query(TaskQuery, args) == load(TaskQuery, args)
    for _ in range(2):  # an error is raised every time, not cached away
        with pytest.raises(BadRequest, match="TaskListNum is invalid."):
            load_query(TaskQuery, {"TaskListNum": "x"})


def test_getTask_empty_input_still_reports_required_fields():
    for _ in range(2):  # the error is raised every time, not cached away
        with pytest.raises(BadRequest, match="TaskNum is required."):
            load(TaskNumPath, {})


class _LimitPath(OdSchema):
    Limit = QueryInteger(minimum=1, required=True)


class _Odd(QueryInteger):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value.strip(), attr, data, **kwargs)


class _OddPath(OdSchema):
    TaskNum = _Odd(required=True)


def load_outcome_of(loader, *args):
    try:
        return "ok", loader(*args)
    except BadRequest as error:
        return "error", str(error)


# digits of other scripts, signs, spaces, huge numbers, the range's edges
path_texts = st.text(alphabet=st.sampled_from("0123456789٣²１+- x"), max_size=27) | \
    st.integers(-2, MAX_ID + 2).map(str) | st.sampled_from(["", "0", "1", "00", str(MAX_ID),
                                                            "9" * 25, "9" * 26, " 1", "1\n"])


@settings(max_examples=500, derandomize=True)
@given(st.sampled_from([(TaskNumPath, "TaskNum"), (_LimitPath, "Limit"), (_OddPath, "TaskNum")]),
       path_texts)
def test_getTask_path_integer_loads_as_marshmallow_loads_it(case, text):
    schema, name = case
    reference = load_outcome_of(lambda: schema().load({name: text})[name])
    assert load_outcome_of(load_path, schema, name, text) == reference
    assert load_outcome_of(lambda: load_query(schema, {name: text})[name]) == reference


def test_getTask_path_integer_fast_path_only_for_a_plain_field():
    assert schemas._quick(TaskNumPath, "TaskNum") is not None
    assert schemas._quick(_LimitPath, "Limit") is not None
    assert schemas._quick(_OddPath, "TaskNum") is None  # its own _deserialize
    narrowed = QueryInteger()
    narrowed.validators.append(Range(max=5))
    assert narrowed.quick() is None  # another validator
    assert schemas._quick(TaskQuery, "TaskListNum") is None  # a schema of many fields


moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
tasks = st.builds(
    Task, TaskNum=st.integers(0, MAX_ID), TaskListNum=st.integers(0, MAX_ID),
    DateTask=st.dates(), Descript=st.text(max_size=5), TaskStatus=st.sampled_from(TASK_STATUSES),
    IsRepeating=st.booleans(), ReminderType=st.integers(0, 4095), DateTimeEntry=moments,
    DateTimeOriginal=moments, DescriptOverride=st.text(max_size=5))
definitions = st.builds(Definition, DefNum=st.integers(0, 10), Category=st.integers(0, 40),
                        IsHidden=st.booleans(), ItemOrder=st.integers(0, 3))
tasklists = st.builds(TaskList, TaskListNum=st.integers(0, MAX_ID), Descript=st.text(max_size=5),
                      DateTL=st.dates(), DateTimeEntry=moments, IsRepeating=st.booleans())
userods = st.builds(Userod, UserNum=st.integers(0, 10), UserName=st.text(max_size=5),
                    userGroupNums=st.lists(st.integers(0, 9), max_size=3).map(tuple),
                    IsHidden=st.booleans())
# values a record's type does not promise: the compiled dumpers must still dump them as
# marshmallow does (None stays None, True is 1, a date in a datetime field is midnight)
odd_tasks = st.builds(
    Task, TaskNum=st.none() | st.booleans() | st.integers(), Descript=st.none() | st.text(max_size=3),
    IsRepeating=st.none() | st.integers(0, 1), DateTimeEntry=st.dates() | moments,
    DateTask=moments, ReminderType=st.sampled_from(list(ReminderType)))
formats = st.sampled_from([{}, {"date": compile_format("dd/MM/yyyy"),
                                "datetime": compile_format("M/d/yyyy h:mm:ss tt")},
                           {"date": compile_format("dd'\"é'\\\\MM"),  # dd'"é'\\MM
                            "datetime": compile_format("yyyy'\n\x7f\u2028'HH")}])
SCHEMA_ROWS = ((TaskSchema, tasks), (TaskSchema, odd_tasks), (DefinitionSchema, definitions),
               (TaskListSchema, tasklists), (UserodSchema, userods))
all_rows = st.tuples(*(st.lists(rows, max_size=3) for _, rows in SCHEMA_ROWS))


def marshmallow_dump(schema, obj, fmt, many):
    """The reference: marshmallow's own Schema.dump with the request's formats."""
    reference = schema(many=many)
    reference.od_formats = fmt
    return reference.dump(obj)


@settings(max_examples=100, derandomize=True)
@given(all_rows, formats)
def test_listTasks_dump_equals_marshmallow_dump(drawn, fmt):
    for (schema, _), rows in zip(SCHEMA_ROWS, drawn):
        # repr: equal types and key order too (True == 1, but not in JSON)
        assert repr(dump(schema, rows, fmt, many=True)) == repr(marshmallow_dump(schema, rows, fmt, True))
        for row in rows:
            assert repr(dump(schema, row, fmt)) == repr(marshmallow_dump(schema, row, fmt, False))


@settings(max_examples=100, derandomize=True)
@given(all_rows, formats)
def test_listTasks_json_text_equals_flask_jsonify(drawn, fmt):
    app = Flask(__name__)
    app.json.sort_keys = False  # as create_app
    with app.app_context():
        for (schema, _), rows in zip(SCHEMA_ROWS, drawn):
            for obj, many in ((rows, True), *((row, False) for row in rows)):
                reference = marshmallow_dump(schema, obj, fmt, many)
                expected = app.json.response(reference).get_data(as_text=True)
                assert dump_json(schema, obj, fmt, many=many) + "\n" == expected
                assert dump_json(schema, obj, fmt, many=many) + "\n" == expected  # cached


@dataclasses.dataclass(frozen=True)
class _Partial:
    """A frozen record without some of the schema's attributes, and one as a property."""

    TaskNum: int
    Descript: str = "x"
    late: int = dataclasses.field(init=False, default=7)

    @property
    def TaskStatus(self) -> str:
        return "Done"


class _Hooked(TaskSchema):
    @post_dump
    def mark(self, data, **kwargs):
        return {**data, "hooked": True}


@dataclasses.dataclass
class _Mutable:
    TaskNum: int


def test_getTask_dump_of_any_object_equals_marshmallow_dump():
    for schema, obj in ((TaskSchema, _Partial(5)), (TaskSchema, _Mutable(3)),
                        (TaskSchema, {"TaskNum": 4, "Descript": "d"}), (_Hooked, Task(TaskNum=1)),
                        (ClockSchema, {"now": datetime(2024, 1, 2), "frozen": True})):
        assert dump(schema, obj) == schema().dump(obj)
        assert list(dump(schema, obj)) == list(schema().dump(obj))
        assert dump(schema, [obj, obj], many=True) == schema(many=True).dump([obj, obj])
        assert dump_json(schema, obj) == json.dumps(schema().dump(obj), separators=(",", ":"))
    assert "TaskStatus" in dump(TaskSchema, _Partial(5)) and "late" not in dump(TaskSchema, _Partial(5))
    assert dump(_Hooked, [Task(TaskNum=1)], many=True)[0]["hooked"] is True


def test_getTask_text_cache_follows_each_change_and_each_format():
    task = Task(TaskNum=1, Descript="before")
    before = dump_json(TaskSchema, task)
    changed = dataclasses.replace(task, Descript="after")
    assert '"before"' in before and '"after"' in dump_json(TaskSchema, changed)
    assert dump_json(TaskSchema, task) == before
    dated = dump_json(TaskSchema, task, {"date": compile_format("dd/MM/yyyy")})
    assert '"01/01/0001"' in dated and '"0001-01-01"' in before


def test_getTask_text_cache_is_bounded(monkeypatch):
    # fresh: what earlier tests left in them decided what this one saw
    monkeypatch.setattr(schemas, "TEXT_CACHE_SIZE", 5)
    monkeypatch.setattr(schemas, "_TEXT_CACHE", {})
    monkeypatch.setattr(schemas, "_SEEN", set())
    rows = [Task(TaskNum=n) for n in range(12)]
    for row in rows:
        for _ in range(3):  # kept from the second dump on
            assert dump_json(TaskSchema, row) == json.dumps(dump(TaskSchema, row),
                                                            separators=(",", ":"))
        assert 0 < len(schemas._TEXT_CACHE) <= 5 and len(schemas._SEEN) <= 5
    assert dump_json(TaskSchema, rows, many=True) == json.dumps(
        dump(TaskSchema, rows, many=True), separators=(",", ":"))


def test_getTask_text_cache_keeps_a_record_sent_twice(monkeypatch):
    """A text is kept from the record's second dump on: a client reading at random from a
    large office seldom asks twice, and keeping all it was sent made each miss dearer."""
    monkeypatch.setattr(schemas, "_TEXT_CACHE", {})
    monkeypatch.setattr(schemas, "_SEEN", set())
    task = Task(TaskNum=1)
    text = dump_json(TaskSchema, task)
    assert schemas._TEXT_CACHE == {}
    assert dump_json(TaskSchema, task) == text
    assert list(schemas._TEXT_CACHE.values()) == [(task, text)]


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


class _GeneralLoader(_Loader):
    """_Loader without its shortcuts: Composer's own compose_node, the checked mappings."""

    compose_node = Composer.compose_node

    def _plain(self, node):
        return False


MORE_YAML = [
    "- {a: 1, a: 2}\n", "- {1: a, 1: b}\n", "- {a: 1, '1': 2, 1: 3}\n", "- {a: &v x, b: *v}\n",
    "- {<<: {a: 1}, b: 2}\n", "- {=: 1}\n", "- {a: !!str 1, b: ! 2, c: !!int '3'}\n",
    "- {a: , b: ~, c: null, d: 0x1F, e: 1.5, f: .inf, g: 2024-01-01, h: yes, i: '1'}\n",
    "- {a: {b: 1}, c: [1, {d: 2}]}\n", "- {[1]: a}\n", "- {a: 1}\n- {a: 1, a: 1}\n",
    "- {\"quoted key\": 'v', 'k2': \"v2\"}\n", "- {a: |\n    text\n  }\n", "- {a: !!binary aGk=}\n",
    "- TaskNum: 1\n  Descript: x\n  Descript: y\n",
]


def read_outcome(text):
    try:
        return "ok", repr(read_yaml(text, "case"))  # repr: one case is recursive
    except FixtureError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("text", YAML_CASES + MORE_YAML)
def test_read_yaml_shortcuts_give_what_the_general_paths_give(text, monkeypatch):
    fast = read_outcome(text)
    monkeypatch.setattr(fixtures, "_Loader", _GeneralLoader)
    assert read_outcome(text) == fast


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated fixtures folder (300 tasks)."""
    folder = tmp_path_factory.mktemp("generated")
    result = CliRunner().invoke(main, ["generate-fixtures", "--tasks", "300", "--output", str(folder)])
    assert result.exit_code == 0
    return folder


def test_read_yaml_shortcuts_on_real_fixtures(generated, monkeypatch):
    texts = [f.read_text() for folder in (default_dir(), generated)
             for f in sorted(folder.glob("*.yaml"))]
    fast = [read_outcome(text) for text in texts]
    monkeypatch.setattr(fixtures, "_Loader", _GeneralLoader)
    assert [read_outcome(text) for text in texts] == fast


# --- JSON read by json where YAML reads it the same ------------------------------------

def _not_json(text):
    raise ValueError("not JSON")


def yaml_outcome(text):
    """read_outcome without the JSON shortcut: what YAML alone gives."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixtures, "_read_json", _not_json)
        return read_outcome(text)


# JSON that YAML reads otherwise (or not at all): the shortcut must leave it to YAML
JSON_LEFT_TO_YAML = [
    "[1e5]", "[1.0e5]", "[1E+5]", "[NaN]", "[Infinity]", "[-Infinity]", "[true]", "false",
    '{"a": true}', '[{"a": [1, [false]]}]', '{"a": 1, "a": 2}', '[{"a": {"b": 1, "b": 1}}]',
    '{"a":\t1}', '[1,\t2]', '{"a"\n: 1}', '{"a"\r\n  : 1}', '{"a"\r: 1}',
    '{"' + "k" * 1100 + '": 1}', '{"a"' + " " * 1100 + ': 1}', '["a\\/b"]',
    '["\\ud83d\\ude00"]', '["\\ud800"]', '["a\x85b"]', '["\x7f"]', '["a\u2028b"]',
    '["\u00a0\x85"]', "\ufeff[1]", "[1] # comment", "[1]\n---\n[2]", "",
]
# JSON that YAML reads the same: the shortcut takes it
JSON_SHORTCUT = [
    "[]", "{}", "[1, -0, 0, 12345678901234567890, -7]", "[1.5, -0.5, 1.5E+3, 0.25e-2]",
    '{"a": null, "b": "true", "c": "1e5", "d": "~", "e": "<<", "=": 1, "<<": {"x": 1}}',
    '[{"a":1,"b":"x","c":[1,{"d":null}]}]', '[\r\n{"a": 1},\r\n{"a": 2}\r\n]',
    '["\\" \\\\ \\b\\f\\n\\r\\t \\u00e9 \\u0000 \\u0085"]', '["é 😀 \u00a0 # : - ? [ ] { }"]',
    '{"version": "24.4.13"}', '"text"', "7", "null",
    json.dumps([{"k" * 128: 1}]), json.dumps({"a": [1, 2]}, indent=2),
]


@pytest.mark.parametrize("text", JSON_LEFT_TO_YAML + JSON_SHORTCUT)
def test_read_yaml_json_shortcut_gives_what_yaml_gives(text):
    assert read_outcome(text) == yaml_outcome(text)


@pytest.mark.parametrize("text", JSON_LEFT_TO_YAML)
def test_read_yaml_json_shortcut_leaves_what_yaml_reads_otherwise_to_yaml(text):
    with pytest.raises((fixtures._NotLikeYaml, ValueError)):
        fixtures._read_json(text)


@pytest.mark.parametrize("text", JSON_SHORTCUT)
def test_read_yaml_json_shortcut_is_taken(text):
    assert fixtures._read_json(text) == json.loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=400, derandomize=True)
@given(json_values, st.sampled_from([(", ", ": "), (",", ":"), (" ,\n", " :  ")]),
       st.sampled_from([None, 0, 2]), st.booleans())
def test_read_yaml_json_shortcut_gives_what_yaml_gives_on_any_json(value, separators, indent, ascii):
    text = json.dumps(value, separators=separators, indent=indent, ensure_ascii=ascii)
    assert read_outcome(text) == yaml_outcome(text)


def test_read_yaml_json_shortcut_reads_generated_fixtures(generated):
    for file in sorted(generated.glob("*.yaml")):
        text = file.read_text()
        if file.name != "office.yaml":  # records are JSON, one per line; office.yaml is YAML
            assert fixtures._read_json(text) == yaml.load(text, Loader=_Loader)  # noqa: S506
        assert read_outcome(text) == yaml_outcome(text)


BAD_JSON_TASKS = [
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1},\n'
    ' {"TaskNum": 2, "TaskListNum": "14", "Descript": "x", "UserNum": 1}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1, "Descript": "y"}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1, "IsReadOnly": "yes"}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": 1e5, "UserNum": 1}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1, "DateTimeEntry": "now-3x"}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1, "Descrpit": "typo"}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1},\n'
    ' {"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1}]',
    '[{"TaskNum": 1, "TaskListNum": 999, "Descript": "x", "UserNum": 1}]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1}, "text"]',
    '[{"TaskNum": 1, "TaskListNum": 14, "Descript": "x", "UserNum": 1, "IsReadOnly": true}]',
]


def load_outcome(folder):
    try:
        return "ok", load_dir(folder)
    except FixtureError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("tasks", BAD_JSON_TASKS)
def test_json_fixtures_load_and_fail_as_the_same_yaml(tmp_path, tasks):
    folder = fixture_dir(tmp_path, tasks=tasks)
    fast = load_outcome(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixtures, "_read_json", _not_json)
        assert load_outcome(folder) == fast


# --- RecordLoader (fixtures) against Schema.load --------------------------------------

ODD_VALUES = [0, 1, -1, 2**63 - 1, 2**63, 1.5, True, False, None, "", "x", " 1", "1", [],
              [1], ["1"], {}, "now", "now-3d", "now-", "now+1d2h", "2024-02-29", "2023-02-29",
              "2024-02-29 23:59:59", "2024-02-29 24:00:00", "New", "new", "Done", "Patient",
              "true", "false", "True", "Weekly, Monday", "Weekly,Funday", "NoReminder", "0"]


def load_rows(loader, records):
    """RecordLoader.load_all's records as dicts, or None."""
    groups = loader.load_all(records)
    return None if groups is None else rows_of(groups)


def outcome(load, record):
    try:
        return "ok", load(record)
    except BadRequest as exc:
        return "error", exc.message


@pytest.mark.parametrize("kind", list(RECORD_SCHEMAS))
def test_fixture_record_loader_gives_what_marshmallow_gives(kind, generated):
    valid = [*read_yaml((default_dir() / f"{kind}.yaml").read_text(), kind),
             *read_yaml((generated / f"{kind}.yaml").read_text(), kind)]
    schema = RECORD_SCHEMAS[kind]()
    schema.allow_relative = True
    fast = RecordLoader(schema)
    assert fast.plan is not None  # the fast path is really taken
    records = list(valid)
    for name in schema.load_fields:
        key = schema.load_fields[name].data_key or name
        records += [{**valid[0], key: value} for value in ODD_VALUES]
        records.append({k: v for k, v in valid[0].items() if k != key})
    records += [{**valid[0], "Unknown": 1}, {}, {"Unknown": 1}]
    for record in records * 2:  # the second round answers from what the first remembered
        expected = outcome(lambda r: schema.load(r, unknown=RAISE), record)
        got = outcome(fast.load, record)
        assert got == expected, record
        if got[0] == "ok":
            assert list(got[1]) == list(expected[1])  # the same field order too
        # a column at a time: the same records, or None when one would not load
        together = load_rows(RecordLoader(schema), [valid[0], record, valid[-1]])
        if expected[0] == "ok":
            assert together[1] == expected[1] and list(together[1]) == list(expected[1])
        else:
            assert together is None, record
    everything = load_rows(fast, valid)
    assert everything == [schema.load(r, unknown=RAISE) for r in valid]
    assert [list(r) for r in everything] == [list(schema.load(r, unknown=RAISE)) for r in valid]
    assert fast.load_all([*valid, "text"]) is None and load_rows(fast, []) == []


def test_fixture_record_loader_makes_equal_values_one_object():
    schema = TaskSchema()
    rows = [json.loads('{"TaskNum": %d, "TaskListNum": 123456, "Descript": "same"}' % n)
            for n in (1, 2)]
    assert rows[0]["TaskListNum"] is not rows[1]["TaskListNum"]  # as a parser makes them
    first, second = load_rows(RecordLoader(schema), rows)
    assert first["TaskListNum"] is second["TaskListNum"] and first["Descript"] is second["Descript"]


def test_fixture_record_loader_falls_back_when_the_schema_has_more_than_fields():
    assert _load_plan(TaskNumPath()) is None  # a required field
    assert _load_plan(TaskQuery()) is None  # a load default
    assert _load_plan(TaskNumPath(), checks_required=True) is not None  # as load does
    assert RecordLoader(TaskNumPath()).load({"TaskNum": "5"}) == {"TaskNum": 5}
    with pytest.raises(BadRequest, match="TaskNum is required."):
        RecordLoader(TaskNumPath()).load({})


# --- load (request bodies) against Schema.load ------------------------------------------

BODY_SCHEMAS = [TaskCreateSchema, TaskUpdateSchema, TaskNumPath, FaultSchema, ClockSchema,
                AdvanceSchema]


def body_keys(schema: type) -> list[str]:
    return [field.data_key or name for name, field in schema().load_fields.items()]


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(BODY_SCHEMAS).flatmap(lambda schema: st.tuples(
    st.just(schema),
    st.dictionaries(st.sampled_from([*body_keys(schema), "Unknown", "TaskNum"]),
                    st.sampled_from(ODD_VALUES) | st.text(max_size=300) | st.integers()))))
def test_load_body_gives_what_marshmallow_gives(case):
    schema, body = case
    expected = outcome(schemas._instance(schema).load, body)
    for _ in range(2):  # the second time, every value of a pure field is remembered
        got = outcome(lambda data: load(schema, data), body)
        assert got == expected
        if got[0] == "ok":
            assert list(got[1]) == list(expected[1])  # the same field order too


def test_load_body_gives_what_marshmallow_gives_as_full_memos_start_afresh(monkeypatch):
    monkeypatch.setattr(schemas, "REMEMBERED", 3)
    # True after 1, 7.0 after 7: equal keys of another type, never the same load
    values = [1, True, 0, False, 7, 7.0, "7", *range(10), -1, "x" * 70, "Viewed", "viewed", None]
    for _ in range(3):
        for n in values:
            for schema, body in ((TaskCreateSchema, {"TaskListNum": n, "Descript": "d", "UserNum": 1}),
                                 (TaskUpdateSchema, {"TaskStatus": n}), (TaskUpdateSchema, {"KeyNum": n}),
                                 (TaskUpdateSchema, {"Descript": n})):
                assert outcome(lambda data: load(schema, data), body) == \
                    outcome(schemas._instance(schema).load, body)


def test_load_body_takes_the_fast_path_for_the_task_bodies():
    assert schemas._plan(TaskCreateSchema) is not None
    assert schemas._plan(TaskUpdateSchema) is not None
    assert load(TaskUpdateSchema, {"Descript": "x", "Other": 1}) == {"Descript": "x"}
    with pytest.raises(BadRequest, match="UserNum is required."):
        load(TaskCreateSchema, {"TaskListNum": 1, "Descript": "x"})


# --- MockServer.create_url_adapter against Flask's -----------------------------------------

def routing_outcome(adapter):
    try:
        rule, args = adapter.match(return_rule=True)
        return "match", rule.endpoint, args
    except RequestRedirect as redirect:
        return "redirect", redirect.new_url
    except HTTPException as error:
        return type(error).__name__, sorted(getattr(error, "valid_methods", None) or ())


wsgi_text = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1"))  # WSGI's str


@settings(max_examples=300, derandomize=True)
@given(path=st.sampled_from(["/api/v1/tasks/", "/api/v1/tasks", "/__admin/", "//api/v1/", "/", ""])
       .flatmap(lambda prefix: wsgi_text.map(lambda rest: prefix + rest)),
       method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "get", "OPTIONS"]),
       query=wsgi_text, host=st.sampled_from(["127.0.0.1:8080", "Example.COM", "localhost"]))
def test_url_adapter_bound_once_per_host_routes_as_flask_does(path, method, query, host):
    app = create_app()
    environ = EnvironBuilder("/", base_url=f"http://{host}/", method=method).get_environ()
    environ.update(PATH_INFO=path, QUERY_STRING=query)
    # the first binds and keeps the host; the second reuses it and keeps what it matched,
    # which the third reuses
    for _ in range(3):
        request = app.request_class(environ)
        ours, flasks = app.create_url_adapter(request), Flask.create_url_adapter(app, request)
        assert routing_outcome(ours) == routing_outcome(flasks)
        assert ours.build("api.getTask", {"TaskNum": 5}, force_external=True) == \
            flasks.build("api.getTask", {"TaskNum": 5}, force_external=True)


def test_url_adapter_keeps_a_bounded_number_of_hosts():
    app = create_app()
    for n in range(BOUND_HOSTS + 10):
        request = app.request_class(EnvironBuilder("/", base_url=f"http://h{n}/").get_environ())
        assert app.create_url_adapter(request).server_name == f"h{n}"
    assert len(app._bound) == BOUND_HOSTS


def test_url_adapter_keeps_a_bounded_number_of_matches(monkeypatch):
    monkeypatch.setattr("mockserver.app.MATCHES", 5)
    app = create_app()
    for num in range(12):
        for _ in range(2):  # the first request to the host binds it: no match kept
            environ = EnvironBuilder(f"/api/v1/tasks/{num}").get_environ()
            rule, args = app.create_url_adapter(app.request_class(environ)).match(return_rule=True)
            assert (rule.endpoint, args) == ("api.getTask", {"TaskNum": str(num)})
    assert len(app._matches) == 5


def test_url_adapter_gives_each_request_its_own_arguments(client):
    app = client.application
    request = app.request_class(EnvironBuilder("/api/v1/tasks/7").get_environ())
    app.create_url_adapter(request)  # binds the host
    first = app.create_url_adapter(request).match(return_rule=True)[1]
    first["TaskNum"] = "changed"
    assert app.create_url_adapter(request).match(return_rule=True)[1] == {"TaskNum": "7"}


# --- MockRequest's body against werkzeug's ----------------------------------------------

class Trickle:
    """A WSGI input that gives at most *step* bytes per read (WSGI allows short reads)."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        n = self.step if size < 0 else min(self.step, size)
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


@pytest.fixture(scope="module")
def small_body_app():
    """An app whose body limit the examples reach."""
    return create_app({"MAX_CONTENT_LENGTH": 60})


@settings(max_examples=300, derandomize=True)
@given(body=st.binary(max_size=80), step=st.integers(1, 90), declared=st.none() | st.integers(0, 90),
       terminated=st.booleans())
def test_request_body_reads_as_werkzeug_reads_it(small_body_app, body, step, declared, terminated):
    if terminated and declared is not None:
        declared = len(body)  # a server that ends the input ends it at the body's length
    outcomes = []
    for request_class in (small_body_app.request_class, Flask.request_class):
        environ = EnvironBuilder("/api/v1/tasks", method="POST").get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = Trickle(body, step)
        if declared is not None:
            environ["CONTENT_LENGTH"] = str(declared)
        if terminated:
            environ["wsgi.input_terminated"] = True
        with small_body_app.app_context():  # the limit is the app's
            try:
                outcomes.append(request_class(environ).get_data())
            except HTTPException as error:
                outcomes.append(type(error))
    assert outcomes[0] == outcomes[1]


# --- MockServer.external_url (POST's Location) against url_for as werkzeug sends it ----------

@pytest.fixture(scope="module")
def shared_app():
    """One app for every example: hosts seen in earlier examples are remembered."""
    return create_app()


@settings(max_examples=200, derandomize=True)
@given(host=st.sampled_from(["localhost", "127.0.0.1:8080", "Example.COM", "[::1]:80", "\xdcn\xef.de",
                             "xn--n3h.net:81", "a b", "h:0", "localhost:abc", "", None]) | wsgi_text,
       scheme=st.sampled_from(["http", "https"]), script=st.sampled_from(["", "/mock", "/\xfc b/%41"]),
       server_port=st.sampled_from(["80", "443", "8080"]))
def test_createTask_location_is_url_for_as_werkzeug_sends_it(shared_app, host, scheme, script, server_port):
    app = shared_app
    client = app.test_client()
    # no Host header (None): werkzeug uses SERVER_NAME and SERVER_PORT
    environ = {"HTTP_HOST": host, "wsgi.url_scheme": scheme, "SCRIPT_NAME": script,
               "SERVER_NAME": "server.example", "SERVER_PORT": server_port}
    for _ in range(2):  # the first builds and keeps the host's prefix, the second reuses it
        r = client.post("/api/v1/tasks", json={"TaskListNum": 14, "Descript": "x", "UserNum": 1},
                        headers={"Authorization": "ODFHIR a/b"}, environ_overrides=environ)
        assert r.status_code == 201
        request = app.request_class(EnvironBuilder("/api/v1/tasks", method="POST",
                                                   environ_overrides=environ).get_environ())
        flasks = Flask.create_url_adapter(app, request)
        assert r.headers["Location"] == iri_to_uri(
            flasks.build("api.getTask", {"TaskNum": r.get_json()["TaskNum"]}, force_external=True))


def test_external_url_keeps_a_bounded_number_of_hosts():
    app = create_app()
    for n in range(BOUND_HOSTS + 10):
        with app.test_request_context(base_url=f"http://h{n}/"):
            assert app.external_url("api.getTask", "TaskNum", 7) == f"http://h{n}/api/v1/tasks/7"
    assert len(app._prefixes) == BOUND_HOSTS


@settings(max_examples=300, derandomize=True)
@given(query=wsgi_text | st.lists(st.sampled_from(["a=1", "a=2", "b", "=", "&", "%zz", "c=%C3%A9",
                                                   "d=%FF", "+", "e=x+y"])).map("&".join))
def test_journal_query_is_what_request_args_gave(query):
    def request(query_string):
        environ = EnvironBuilder("/api/v1/tasks").get_environ()
        return Flask.request_class({**environ, "QUERY_STRING": query_string})

    received = Received(datetime.now(), datetime.now(), "GET", "/api/v1/tasks",
                        request(query).query_string, {}, b"", 0, 200, None)
    try:
        expected = request(query).args.to_dict()
    except UnicodeDecodeError:  # such a request is a 400 (test_bad_input); U+FFFD in the journal
        utf8 = query.encode("latin-1").decode("utf-8", "replace").encode().decode("latin-1")
        expected = request(utf8).args.to_dict()
    assert received.query() == expected


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(["", "+", "-"]),
       st.lists(st.none() | st.integers(0, 99) | st.integers(0, 10**20), min_size=4, max_size=4),
       st.booleans())
def test_relative_time_parse_is_timedelta_of_its_parts(sign, parts, as_date):
    text = "now" + sign + "".join(f"{n}{unit}" for n, unit in zip(parts, "dhms") if n is not None)
    given_parts = [n for n in parts if n is not None]
    expected = None
    if bool(sign) == bool(given_parts):  # "now", or a sign and at least one part
        days, hours, minutes, seconds = (n or 0 for n in parts)
        try:
            delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            expected = RelativeTime(-delta if sign == "-" else delta, as_date)
        except OverflowError:
            pass
    assert RelativeTime.parse(text, as_date) == expected


@settings(max_examples=100, derandomize=True)
@given(tasks, st.fixed_dictionaries({}, optional={
    "TaskNum": st.integers(0, 9), "Descript": st.text(max_size=3),
    "TaskStatus": st.sampled_from(TASK_STATUSES), "DateTimeEntry": moments}))
def test_updateTask_evolve_equals_dataclasses_replace(task, changes):
    assert evolve(task, changes) == dataclasses.replace(task, **changes)
    assert evolve(task, {}) is not task and evolve(task, {}) == task


def test_updateTask_evolve_refuses_unknown_fields():
    with pytest.raises(KeyError):
        evolve(Task(TaskNum=1), {"Nope": 1})


# --- store.build_many (the seed's records) against the records' classes ---------------

@pytest.mark.parametrize("source", ["default", "generated"])
def test_seed_records_built_a_field_at_a_time_equal_their_class_calls(source, generated):
    dataset = load_dir(default_dir() if source == "default" else generated)
    now = datetime(2026, 1, 2, 3, 4, 5)
    tables = dataset.materialize(now)
    for kind, cls in RECORD_TYPES.items():
        expected = [cls(**{name: value.resolve(now) if isinstance(value, RelativeTime) else value
                           for name, value in row.items()}) for row in dataset.rows(kind)]
        built = list(tables[kind]) if kind == "tasks" else list(tables[kind].values())
        key = primary_key(cls)
        assert sorted(built, key=attrgetter(key)) == sorted(expected, key=attrgetter(key))
        assert all(type(record) is cls for record in built)


def test_build_many_refuses_what_the_class_would_refuse_or_do_more():
    assert build_many(Task, 2, {"TaskNum": [1, 2]}) == [Task(1), Task(2)]
    with pytest.raises(TypeError, match="without TaskNum"):
        build_many(Task, 1, {"Descript": ["x"]})

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int = 0

        def __post_init__(self):
            raise ValueError

    with pytest.raises(TypeError, match="__post_init__"):
        build_many(Checked, 1, {})


def test_stored_records_leave_the_garbage_collector(app, api):
    """Records hold only plain values, so they are never part of a reference cycle, yet
    every full collection walked each one: the store untracks what it keeps (seed records,
    created, updated and reminder-copied tasks), as CPython does for tuples of such values."""
    created = api.post("/tasks", json={"TaskListNum": 3842, "Descript": "new", "UserNum": 12})
    updated = api.put(f"/tasks/{created.get_json()['TaskNum']}", json={"Descript": "changed"})
    api.put("/tasks/9109", json={"TaskStatus": "Done"})  # a daily reminder: a next copy
    assert (created.status_code, updated.status_code) == (201, 200)
    stored = office(app)
    records = [record for kind in RECORD_TYPES for record in
               (stored.tasks if kind == "tasks" else getattr(stored, kind).values())]
    assert {type(r) for r in records} == set(RECORD_TYPES.values())
    assert [r for r in records if gc.is_tracked(r)] == []
    plain = (int, str, date)  # bool, IntFlag and datetime too; what keeps untracking safe
    values = [getattr(r, name) for r in records for name in r.__slots__]
    assert all(isinstance(v, plain) or type(v) is tuple and all(isinstance(i, int) for i in v)
               for v in values)
