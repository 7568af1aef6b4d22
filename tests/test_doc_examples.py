"""Every example request of the Tasks, TaskNotes, TaskLists, Definitions and Userods pages
(mockserver/docexamples.py), sent to a default ``mockserver serve`` in the page's order on
a fresh office per page: the documented status, the documented fields in their order, and
the documented values except where the default data cannot hold them (docs/fidelity.md,
"The documented examples", gives each reason)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from liveserver import LiveServer
from mockserver.docexamples import EXAMPLES, Example

WAIT = 20  # seconds: upper bound of each request, never a measurement

# how far the default data answers as the page shows (default: every value); the reasons
# are in docs/fidelity.md
SHAPE = "fields only"  # status and fields in order; the values are not the page's
ITEMS = "items, not their order"  # each documented item is in the answer, by primary key
EMPTY = "[]"  # a page past the default data's records: 200 and an empty list
NOT_HELD: dict[str, Any] = {
    "GET /tasks?ObjectType=Appointment&DateTimeOriginal=2022-07-01%2005%3A30%3A00": SHAPE,
    "GET /tasks?TaskStatus=New&TaskListNum=74": SHAPE,
    "POST /tasks": {"TaskNum", "UserNum", "DateTimeOriginal", "SecDateTEdit"},
    "PUT /tasks/6857": {"DateTimeFinished", "SecDateTEdit"},
    "PUT /tasks/6857 (second body)": {"TaskStatus", "DateTimeFinished", "SecDateTEdit"},
    "POST /tasknotes": {"DateTimeNote"},
    "PUT /tasknotes/582": {"UserNum"},
    "GET /tasklists?TaskListStatus=Archived&Offset=100": EMPTY,
    "GET /definitions": ITEMS,
    "GET /definitions?Offset=200": EMPTY,
    "GET /definitions?Category=1": ITEMS,
    "GET /definitions?Category=1&includeHidden=true": ITEMS,
    "GET /userods": SHAPE,
}
# methods the mock does not serve (the supporting resources are read-only): its answer
NOT_SERVED = {
    "POST /definitions": (405, "Method POST is not allowed here. Allowed: GET, HEAD."),
    "POST /userods": (405, "Method POST is not allowed here. Allowed: GET, HEAD."),
    "PUT /userods/2": (404, "The resource /api/v1/userods/2 does not exist."),
}
# examples the default data answers as the page shows once the request reaches past the
# 14-day default window, or starts at the first page: that request
HELD_WITH = {
    "GET /tasks?TaskStatus=New&TaskListNum=74":
        "/tasks?TaskStatus=New&TaskListNum=74&DateTimeOriginal=0001-01-01%2000%3A00%3A00",
    "GET /tasklists?TaskListStatus=Archived&Offset=100": "/tasklists?TaskListStatus=Archived",
}


@pytest.fixture(scope="module")
def server():
    with LiveServer() as started:
        yield started


def _base_name(example: Example) -> str:
    return example.name.removesuffix(f" {example.label}") if example.label else example.name


def _check_record(got: dict, documented: dict, skip: set[str], where: str) -> None:
    assert list(got) == list(documented), f"{where}: fields"
    wrong = {k: (got[k], documented[k]) for k in documented
             if k not in skip and got[k] != documented[k]}
    assert not wrong, f"{where}: (answered, documented) {wrong}"


def _check(example: Example, got: Any, held: Any) -> None:
    where = example.name
    documented = example.answer
    if isinstance(documented, dict):
        skip = set(documented) if held == SHAPE else held or set()
        _check_record(got, documented, skip, where)
        return
    assert isinstance(got, list), f"{where}: a list"
    if held == EMPTY:
        assert got == [], where
        return
    assert got, f"{where}: an empty answer shows no fields"
    for item in got:  # a page writes its first item's field order (apiuserods.md strays)
        assert list(item) == list(documented[0]), f"{where}: fields of {item}"
    if held == SHAPE:
        return
    if held == ITEMS:
        key = next(iter(documented[0]))
        by_key = {item[key]: item for item in got}
        assert [by_key.get(item[key]) for item in documented] == documented, where
        return
    shown = got[:len(documented)] if example.etc else got
    assert shown == documented, where


@pytest.mark.parametrize("page", list(EXAMPLES))
def test_doc_examples_answer_as_documented(server, page):
    http = server.session(f"examples-{page}")  # a fresh office, used in the page's order
    for example in EXAMPLES[page]:
        r = http.request(example.method, server.api + example.path, json=example.body,
                         timeout=WAIT)
        got = json.loads(r.text)  # dicts keep the order of the wire
        if example.operation is None:
            assert (r.status_code, got) == NOT_SERVED[_base_name(example)], example.name
            continue
        assert r.status_code == example.status, f"{example.name}: {r.text}"
        _check(example, got, NOT_HELD.get(example.name))
        if r.status_code == 201:  # the new record's URL, named by its first field
            assert r.headers["Location"] == f"{server.api}{example.path}/{next(iter(got.values()))}"
        if example.name in HELD_WITH:
            again = http.get(server.api + HELD_WITH[example.name], timeout=WAIT)
            assert again.status_code == example.status, again.text
            _check(example, json.loads(again.text), None)


def test_doc_examples_cover_each_served_operation(app):
    """Each API operation has a documented example (the OpenAPI document carries them)."""
    views = {rule.endpoint.removeprefix("api.") for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("api.")}
    examples = {e.operation for page in EXAMPLES.values() for e in page} - {None}
    assert examples == views
    unknown = set(NOT_HELD) | set(NOT_SERVED) | set(HELD_WITH)
    names = {e.name for page in EXAMPLES.values() for e in page} | \
        {_base_name(e) for page in EXAMPLES.values() for e in page}
    assert unknown <= names  # no stale entry in the tables above
