"""Synthetic fixture folders of any size, for benchmarks and scale tests.

``generate(tasks, seed)`` builds documents in the fixture format (the same one
``mockserver check-fixtures`` validates); ``write_dir`` writes them as YAML files, the
records as JSON (which is YAML too): one record per line, read by json's fast parser.
Timestamps are relative (``now-12d3h``) so the 14-day default window of GET /tasks
always sees the same share of tasks, whenever the dataset is loaded.
"""
from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .fixtures import Progress, quiet
from .store import DEFAULT_VERSION, TASK_PRIORITIES, TASK_STATUSES, RelativeTime

# The largest dataset generated: `serve` holds about 1 GB per 100,000 tasks (their notes
# and references included; docs/performance.md), so this one needs some 10 GB, more
# than most machines that run tests have to spare.
MAX_TASKS = 1_000_000

SPREAD_DAYS = 60  # DateTimeOriginal is spread evenly over the last SPREAD_DAYS days
TASKS_PER_LIST = 125  # one list and one status inside the 14-day window: 125 x 14/60 x 1/3 ≈ 10 tasks
FIRST_TASKNUM = 1000
PRIORITIES = [(1, "Urgent", "", 0), (2, "Normal", "D", 1), (3, "Low", "", 2), (4, "Reminder", "R", 3)]
DESCRIPTIONS = ("Call back about the balance.", "Verify insurance before the visit.",
                "Order supplies for the hygiene room.", "Confirm the appointment by phone.",
                "Scan the signed consent form.", "Update contact information.",
                "Send the treatment plan by email.", "Follow up on the lab case.")
LAST_NAMES = ("Anderson", "Moss", "Smith", "Jones", "Garcia", "Nguyen", "Patel", "Larson")
FIRST_NAMES = ("Thomas", "Carrie", "Rebecca", "Brian", "Maria", "Linh", "Ravi", "Lynda")


NOTES_PER_TASK = (0, 0, 1, 1, 1, 2, 3)  # drawn per task: 1.14 on average
NOTES = ("Called, left a message.", "Waiting on the lab.", "Done on my side.",
         "Patient will call back.", "Moved to tomorrow.", "Sent to the doctor's list.")


def _ago(minutes: int) -> str:
    """A relative fixture timestamp *minutes* before now (``now-3d4h5m``)."""
    return RelativeTime(-timedelta(minutes=minutes)).text()


def generate(tasks: int, seed: int = 0, progress: Progress = quiet) -> dict[str, Any]:
    """Fixture documents with *tasks* tasks and proportionate reference data; *progress*
    is told of each task made.

    One task list per TASKS_PER_LIST tasks, one user per 500, one patient per 10 and one
    appointment per 20; a third of the tasks point to a patient, a sixth to an appointment;
    a task has 0 to 3 notes, 1 on average (NOTES_PER_TASK).
    """
    rng = random.Random(seed)
    n_lists = max(1, tasks // TASKS_PER_LIST)
    n_users = max(2, tasks // 500)
    n_patients = max(2, tasks // 10)
    n_appointments = max(2, tasks // 20)
    tasklists = [{"TaskListNum": i, "Descript": f"List {i}", "DateTimeEntry": _ago(400 * 24 * 60)}
                 for i in range(1, n_lists + 1)]
    userods = [{"UserNum": i, "UserName": f"user{i}", "userGroupNums": [1 + i % 3]}
               for i in range(1, n_users + 1)]
    patients = [{"PatNum": i, "LName": rng.choice(LAST_NAMES), "FName": rng.choice(FIRST_NAMES)}
                for i in range(1, n_patients + 1)]
    appointments = [{"AptNum": i, "PatNum": rng.randint(1, n_patients),
                     "AptDateTime": _ago(rng.randint(0, SPREAD_DAYS * 24 * 60))}
                    for i in range(1, n_appointments + 1)]
    definitions = [{"DefNum": num, "Category": TASK_PRIORITIES, "ItemName": name,
                    "ItemValue": value, "ItemOrder": order}
                   for num, name, value, order in PRIORITIES]
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    with progress("generating tasks", tasks) as step:
        for i in range(tasks):
            original = rng.randint(0, SPREAD_DAYS * 24 * 60)
            row: dict[str, Any] = {
                "TaskNum": FIRST_TASKNUM + i,
                "TaskListNum": rng.randint(1, n_lists),
                "Descript": rng.choice(DESCRIPTIONS),
                "TaskStatus": rng.choice(TASK_STATUSES),
                "DateTimeEntry": _ago(original),
                "UserNum": rng.randint(1, n_users),
                "PriorityDefNum": rng.choice(PRIORITIES)[0],
                "DateTimeOriginal": _ago(original),
                "SecDateTEdit": _ago(rng.randint(0, original)),
            }
            kind = rng.random()
            if kind < 1 / 3:
                row.update(ObjectType="Patient", KeyNum=rng.randint(1, n_patients))
            elif kind < 1 / 2:
                row.update(ObjectType="Appointment", KeyNum=rng.randint(1, n_appointments))
            rows.append(row)
            for _ in range(rng.choice(NOTES_PER_TASK)):
                notes.append({"TaskNoteNum": len(notes) + 1, "TaskNum": row["TaskNum"],
                              "UserNum": rng.randint(1, n_users), "Note": rng.choice(NOTES),
                              "DateTimeNote": _ago(rng.randint(0, original))})
            step(1)
    return {"tasks": rows, "tasknotes": notes, "tasklists": tasklists, "definitions": definitions,
            "userods": userods, "patients": patients, "appointments": appointments,
            "office": {"version": DEFAULT_VERSION}}


def write_dir(documents: dict[str, Any], folder: str | Path, progress: Progress = quiet) -> Path:
    """Write fixture documents as ``<kind>.yaml`` files into *folder* (created if needed);
    *progress* is told of each record written."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    total = sum(len(content) for content in documents.values() if isinstance(content, list))
    with progress("writing records", total) as step:
        for kind, content in documents.items():
            with open(path / f"{kind}.yaml", "w", encoding="utf-8") as out:
                if isinstance(content, list):  # records: a JSON array, one record per line
                    out.write("[\n")
                    for n, row in enumerate(content):
                        out.write((",\n" if n else "") + json.dumps(row, ensure_ascii=False))
                        step(1)
                    out.write("\n]\n")
                else:
                    yaml.safe_dump(content, out, sort_keys=False, default_flow_style=False)
    return path
