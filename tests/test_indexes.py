"""TaskTable's indexes answer every list query exactly as a plain scan would (SPEC §3 GET /tasks).

Property-based: random tables, random inserts and replaces (also after copy()), random
filters, DateTimeOriginal bounds, Offset and Limit. Small value ranges so filters hit.
"""
from __future__ import annotations

import sys
import tracemalloc
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from mockserver.store import OBJECT_TYPES, TASK_STATUSES, Task, TaskTable

BASE = datetime(2024, 1, 1)

SETTINGS = settings(max_examples=150, derandomize=True)

moments = st.integers(0, 6).map(lambda d: BASE + timedelta(days=d))
values = {
    "TaskListNum": st.integers(0, 3),
    "TaskStatus": st.sampled_from(TASK_STATUSES),
    "ObjectType": st.sampled_from(OBJECT_TYPES),
    "KeyNum": st.integers(0, 2),
}
# what a replace may change: every indexed field (DateTimeOriginal never changes in the store)
changes = st.fixed_dictionaries({}, optional={**values, "Descript": st.text(max_size=3)})
filters = st.fixed_dictionaries({}, optional=values)
queries = st.tuples(filters, st.none() | moments, st.integers(0, 6), st.integers(1, 6))


@st.composite
def tables(draw) -> list[Task]:
    """Tasks with distinct TaskNums, in any order."""
    nums = draw(st.lists(st.integers(1, 40), unique=True, max_size=10))
    return [Task(TaskNum=n, DateTimeOriginal=draw(moments),
                 **draw(st.fixed_dictionaries({}, optional=values))) for n in nums]


@st.composite
def edits(draw) -> list[tuple[str, object]]:
    """A sequence of ("insert", fields) and ("replace", (position, changes))."""
    return draw(st.lists(st.one_of(
        st.tuples(st.just("insert"), st.tuples(moments, st.fixed_dictionaries({}, optional=values))),
        st.tuples(st.just("replace"), st.tuples(st.integers(0, 3), changes))), max_size=20))


def scan(tasks, filters, since, offset, limit) -> list[Task]:
    """The reference: every task, by TaskNum, tested one by one."""
    matches = [t for t in sorted(tasks, key=lambda t: t.TaskNum)
               if (since is None or t.DateTimeOriginal >= since)
               and all(getattr(t, k) == v for k, v in filters.items())]
    return matches[offset:offset + limit]


def apply(table: TaskTable, model: dict[int, Task], steps) -> None:
    """Apply *steps* to the table and to a plain dict model of it."""
    for kind, payload in steps:
        if kind == "insert":
            when, fields = payload
            task = Task(TaskNum=max(model, default=0) + 1, DateTimeOriginal=when, **fields)
            table.insert(task)
        elif model:
            position, fields = payload
            old = model[sorted(model)[position % len(model)]]
            task = replace(old, **fields)
            table.replace(task)
        else:
            continue
        model[task.TaskNum] = task


def check(table: TaskTable, model: dict[int, Task], query) -> None:
    """The drawn query, and every one-field filter on a stored value, equal the scan."""
    assert table.query(*query) == scan(model.values(), *query)
    assert [t for t in table] == [model[num] for num in sorted(model)]  # by TaskNum
    assert len(table) == len(model) and table.max_num() == max(model, default=0)
    assert all(table.get(num) is task for num, task in model.items())
    for name in values:
        for value in {getattr(t, name) for t in model.values()}:
            single = ({name: value}, None, 0, len(model))
            assert table.query(*single) == scan(model.values(), *single)


@SETTINGS
@given(tables(), queries)
def test_listTasks_index_query_equals_scan(tasks, query):
    check(TaskTable(tasks), {t.TaskNum: t for t in tasks}, query)


@SETTINGS
@given(tables(), edits(), queries)
def test_listTasks_index_stays_right_after_inserts_and_replaces(tasks, steps, query):
    table, model = TaskTable(tasks), {t.TaskNum: t for t in tasks}
    apply(table, model, steps)
    check(table, model, query)


@SETTINGS
@given(tables(), edits(), edits(), edits(), queries)
def test_listTasks_index_copy_is_independent(tasks, before, after, original_after, query):
    """A copy shares the index lists until a table changes one: neither table sees the
    other's writes, whichever writes first."""
    table, model = TaskTable(tasks), {t.TaskNum: t for t in tasks}
    apply(table, model, before)
    twin, twin_model = table.copy(), dict(model)
    apply(twin, twin_model, after)
    apply(table, model, original_after)
    check(twin, twin_model, query)
    check(table, model, query)
    third, third_model = twin.copy(), dict(twin_model)  # a copy of a copy, written first
    apply(third, third_model, original_after)
    check(twin, twin_model, query)
    check(third, third_model, query)


def test_task_table_copy_shares_the_rows_until_written():
    """An office's first write copies the seed's table, which must not copy its rows: an
    office that writes costs its changes, not a copy of every task."""
    tasks = [Task(TaskNum=n, TaskListNum=n % 100, TaskStatus=TASK_STATUSES[n % 3],
                  ObjectType=OBJECT_TYPES[n % 3], KeyNum=n % 1000,
                  DateTimeOriginal=BASE + timedelta(minutes=n)) for n in range(1, 20_001)]
    table = TaskTable(tasks)
    tracemalloc.start()
    try:
        twin = table.copy()
        twin.replace(replace(tasks[0], TaskStatus=TASK_STATUSES[2], Descript="changed"))
        twin.insert(Task(TaskNum=20_001, TaskListNum=1, DateTimeOriginal=BASE))
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert used < sys.getsizeof({t.TaskNum: t for t in tasks})  # not even a dict of the rows
    assert table.get(1) is tasks[0] and twin.get(1).Descript == "changed"
    assert len(table) == 20_000 and len(twin) == 20_001 and table.get(20_001) is None


def test_task_table_refuses_two_tasks_with_one_TaskNum():
    with pytest.raises(ValueError):
        TaskTable([Task(TaskNum=5), Task(TaskNum=3), Task(TaskNum=5, Descript="again")])
    assert [t.TaskNum for t in TaskTable([Task(TaskNum=5), Task(TaskNum=3)])] == [3, 5]
