"""The benchmark's baseline: a plain Flask app with a dict store serving the four task calls.

Same URL shapes and roughly the same JSON as the mock, with the least work a hand-written
server would do: no marshmallow, no offices, no indexes (the list is a scan), minimal
checks. Each process holds its own copy of the BENCH_TASKS generated tasks (default
1,000). bench/run.py serves ``app`` with the servers' own command lines, configured only
through their documented options, from the repository's root:

    BENCH_TASKS=1000 waitress-serve --listen=127.0.0.1:8080 --threads=1 bench.baseline_app:app
    BENCH_TASKS=1000 granian --interface wsgi --workers 1 --blocking-threads 1 bench.baseline_app:app
    BENCH_TASKS=1000 gunicorn -w 2 -k gthread --threads 4 --chdir bench baseline_app:app

``load_tasks(count)`` gives the same tasks as JSON-ready dicts: run.py writes them as
json-server's db.json.
"""
from __future__ import annotations

import itertools
import os
import threading
from datetime import datetime, timedelta

from flask import Flask, jsonify, request

from mockserver.generate import generate
from mockserver.store import RelativeTime

FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULTS = {"TaskListNum": 0, "DateTask": "0001-01-01", "KeyNum": 0, "Descript": "",
            "TaskStatus": "New", "IsRepeating": "false", "DateType": "None", "FromNum": 0,
            "ObjectType": "None", "DateTimeEntry": "0001-01-01 00:00:00", "UserNum": 0,
            "DateTimeFinished": "0001-01-01 00:00:00", "PriorityDefNum": 0,
            "ReminderGroupId": "", "ReminderType": "NoReminder", "ReminderFrequency": 0,
            "DateTimeOriginal": "0001-01-01 00:00:00", "SecDateTEdit": "0001-01-01 00:00:00",
            "DescriptOverride": "", "IsReadOnly": "false"}


def _absolute(value, now):
    relative = RelativeTime.parse(value) if isinstance(value, str) else None
    return relative.resolve(now).strftime(FORMAT) if relative else value


def load_tasks(count: int) -> dict[int, dict]:
    """The tasks of ``generate(count)`` by TaskNum, every field set, times absolute."""
    now = datetime.now().replace(microsecond=0)
    return {row["TaskNum"]: {"TaskNum": row["TaskNum"], **DEFAULTS,
                             **{k: _absolute(v, now) for k, v in row.items()}}
            for row in generate(count)["tasks"]}


app = Flask(__name__)
app.json.sort_keys = False
TASKS = load_tasks(int(os.environ.get("BENCH_TASKS", "1000")))
LOCK = threading.Lock()
NEXT = itertools.count(max(TASKS, default=0) + 1)


def _missing(num):
    return jsonify("Task not found."), 404


@app.get("/api/v1/tasks/<int:num>")
def get_task(num):
    task = TASKS.get(num)
    return jsonify(task) if task else _missing(num)


@app.get("/api/v1/tasks")
def list_tasks():
    args = request.args
    since = args.get("DateTimeOriginal") or (datetime.now() - timedelta(days=14)).strftime(FORMAT)
    wanted = {k: (int(args[k]) if k in ("TaskListNum", "KeyNum") else args[k])
              for k in ("TaskListNum", "KeyNum", "ObjectType", "TaskStatus") if k in args}
    offset, limit = int(args.get("Offset", 0)), min(int(args.get("Limit", 100)), 100)
    matches = (t for t in list(TASKS.values()) if t["DateTimeOriginal"] >= since
               and all(t[k] == v for k, v in wanted.items()))
    return jsonify(list(itertools.islice(matches, offset, offset + limit)))


@app.post("/api/v1/tasks")
def create_task():
    body = request.get_json()
    if not body.get("Descript") or "TaskListNum" not in body or "UserNum" not in body:
        return jsonify("TaskListNum, Descript and UserNum are required."), 400
    now = datetime.now().strftime(FORMAT)
    with LOCK:
        task = {"TaskNum": next(NEXT), **DEFAULTS, **body, "DateTimeOriginal": now,
                "SecDateTEdit": now}
        TASKS[task["TaskNum"]] = task
    return jsonify(task), 201


@app.put("/api/v1/tasks/<int:num>")
def update_task(num):
    body = request.get_json()
    with LOCK:
        task = TASKS.get(num)
        if task is None:
            return _missing(num)
        task = TASKS[num] = {**task, **body, "SecDateTEdit": datetime.now().strftime(FORMAT)}
    return jsonify(task)
