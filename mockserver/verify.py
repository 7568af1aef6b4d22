"""``mockserver verify``: one fixed probe of requests, sent to a real office and to the mock
loaded with what ``mockserver record`` writes from that office, and every difference
between the two answers.

The probe reads (each list with filters and paging, one of each record by its id, the
date format options) and provokes each documented error (401 bad key, 400 missing
Content-Type, 404 unknown ids, 400 bad query values); with writes allowed it also creates
and changes one task and one note, their text marked as made by this command. An answer
pair differs in its status, its media type, an error's text, the set or the order of an
object's fields, a value's JSON type or string format (datetime, date, "true"/"false",
other text), a list's length, or a value; writes compare no values, because ids and
times are the server's own.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Iterator

from .generate import write_dir
from .record import DATETIME_FORMAT, build, fetch
from .schemas import DATE_PATTERN, DATETIME_PATTERN
from .routes import MEDIA_TYPE
from .upstream import Upstream, media_type_of

MOCK_AUTHORIZATION = "ODFHIR verify/verify"  # the in-process mock accepts any key pair
MARK = "Made by mockserver verify"
MAX_PER_PROBE = 20  # differences listed per probe; more are counted in one line
UNKNOWN_ID_GAP = 10**9  # an id this far above the recorded ones names no record
SHOWN = 70  # characters of a value shown in the table
CREATED = {"/tasks": ("task", "TaskNum"), "/tasknotes": ("note", "TaskNoteNum")}  # POST path


@dataclass(frozen=True)
class Probe:
    """One request of the probe; ``{task}`` and ``{note}`` in the path or body stand for
    the TaskNum and TaskNoteNum that the side's own POSTs created."""

    name: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str | None] = field(default_factory=dict)  # None: not sent
    body: Any = None
    values: bool = True  # compare values too (not for writes)


@dataclass(frozen=True)
class Exchange:
    status: int
    media_type: str
    body: Any  # decoded JSON, else the text


@dataclass(frozen=True)
class Difference:
    probe: str
    request: str
    where: str  # a place in the body such as [0].DateTimeEntry; "" for the answer itself
    what: str
    upstream: str
    mock: str


def probes(documents: dict[str, list[dict[str, Any]]], since: str, allow_writes: bool) -> list[Probe]:
    """The fixed probe, with ids taken from the recorded *documents*."""
    tasks, notes = documents["tasks"], documents["tasknotes"]
    window = {"DateTimeOriginal": since}
    ids = [t["TaskNum"] for t in tasks] + [n["TaskNoteNum"] for n in notes]
    unknown = max(ids, default=0) + UNKNOWN_ID_GAP
    reads = [
        Probe("tasks since the recording's date", "GET", "/tasks", window),
        Probe("tasks, default 14-day window", "GET", "/tasks"),
        Probe("tasks, a page of 2 at Offset 2", "GET", "/tasks", {**window, "Offset": "2", "Limit": "2"}),
        Probe("tasks by TaskStatus", "GET", "/tasks", {**window, "TaskStatus": "New"}),
        Probe("tasks by ObjectType", "GET", "/tasks", {**window, "ObjectType": "Patient"}),
        Probe("tasks with date format strings", "GET", "/tasks", {
            **window, "DateFormatString": "dd/MM/yyyy", "DateTimeFormatString": "MM/dd/yyyy hh:mm:ss tt"}),
        Probe("active task lists", "GET", "/tasklists"),
        Probe("archived task lists", "GET", "/tasklists", {"TaskListStatus": "Archived"}),
        Probe("task priorities", "GET", "/definitions", {"Category": "33", "includeHidden": "true"}),
        Probe("users", "GET", "/userods"),
        Probe("users, hidden and CEMT too", "GET", "/userods",
              {"includeHidden": "true", "includeCEMT": "true"}),
    ]
    if tasks:
        first = tasks[0]
        reads += [Probe("task by TaskNum", "GET", f"/tasks/{first['TaskNum']}"),
                  Probe("tasks by TaskListNum", "GET", "/tasks",
                        {**window, "TaskListNum": str(first["TaskListNum"])}),
                  Probe("notes of a task", "GET", "/tasknotes", {"TaskNum": str(first["TaskNum"])})]
    patient = next((t for t in tasks if t["ObjectType"] == "Patient"), None)
    if patient:
        reads.append(Probe("tasks by ObjectType and KeyNum", "GET", "/tasks", {
            **window, "ObjectType": "Patient", "KeyNum": str(patient["KeyNum"])}))
    if notes:
        reads += [Probe("note by TaskNoteNum", "GET", f"/tasknotes/{notes[0]['TaskNoteNum']}"),
                  Probe("notes of a noted task", "GET", "/tasknotes",
                        {"TaskNum": str(notes[0]["TaskNum"])})]
    found = reads + [
        Probe("401: malformed Authorization", "GET", "/tasks",
              headers={"Authorization": "ODFHIR not-a-key-pair"}),
        Probe("401: no Authorization", "GET", "/tasks", headers={"Authorization": None}),
        Probe("400: no Content-Type", "GET", "/tasks", headers={"Content-Type": None}),
        Probe("404: unknown TaskNum", "GET", f"/tasks/{unknown}"),
        Probe("400: TaskNum not a number", "GET", "/tasks/first"),
        Probe("400: unknown TaskStatus", "GET", "/tasks", {"TaskStatus": "Finished"}),
        Probe("400: negative Offset", "GET", "/tasks", {"Offset": "-1"}),
        Probe("400: Limit 0", "GET", "/tasks", {"Limit": "0"}),
        Probe("400: DateTimeOriginal not a datetime", "GET", "/tasks", {"DateTimeOriginal": "yesterday"}),
        Probe("400: KeyNum without ObjectType", "GET", "/tasks", {"KeyNum": "1"}),
        Probe("404: unknown patient", "GET", "/tasks", {"ObjectType": "Patient", "KeyNum": str(unknown)}),
        Probe("404: unknown TaskNoteNum", "GET", f"/tasknotes/{unknown}"),
    ]
    if allow_writes and tasks and documents["userods"]:
        made = f"{MARK} at {datetime.now():{DATETIME_FORMAT}}"
        users = documents["userods"]
        user = next((u for u in users if u["IsHidden"] == "false" and not u["UserNumCEMT"]),
                    users[0])["UserNum"]
        found += [
            Probe("create a task", "POST", "/tasks", body={
                "TaskListNum": tasks[0]["TaskListNum"], "UserNum": user, "Descript": made}, values=False),
            Probe("change the task", "PUT", "/tasks/{task}", body={
                "Descript": f"{made} (changed)", "TaskStatus": "Viewed"}, values=False),
            Probe("create a note", "POST", "/tasknotes", body={
                "TaskNum": "{task}", "UserNum": user, "Note": made}, values=False),
            Probe("change the note", "PUT", "/tasknotes/{note}", body={"Note": f"{made} (changed)"},
                  values=False),
        ]
    return found


def _filled(value: Any, made: dict[str, int]) -> Any:
    """*value* with the ``{task}``/``{note}`` placeholders replaced (0 if not created)."""
    if isinstance(value, dict):
        return {k: _filled(v, made) for k, v in value.items()}
    if isinstance(value, str) and re.fullmatch(r"\{(task|note)\}", value):
        return made.get(value[1:-1], 0)
    return value


def _exchange(status: int, media_type: str, raw: bytes) -> Exchange:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return Exchange(status, media_type, body)


class Side:
    """Where the probe's requests go: ``send`` one, keeping the ids its POSTs created."""

    def __init__(self) -> None:
        self.made: dict[str, int] = {}

    def run(self, probe: Probe) -> Exchange:
        path = probe.path.format(task=self.made.get("task", 0), note=self.made.get("note", 0))
        answer = self.send(replace(probe, path=path, body=_filled(probe.body, self.made)))
        if probe.method == "POST" and path in CREATED and answer.status == 201 \
                and isinstance(answer.body, dict):
            name, key = CREATED[path]
            self.made[name] = answer.body.get(key, 0)
        return answer

    def send(self, probe: Probe) -> Exchange:
        """Send *probe* (its placeholders filled); the answer."""
        raise NotImplementedError


class UpstreamSide(Side):
    def __init__(self, upstream: Upstream):
        super().__init__()
        self.upstream = upstream

    def send(self, probe: Probe) -> Exchange:
        response = self.upstream.send(probe.method, probe.path, probe.params, json=probe.body,
                                      headers=probe.headers)
        return _exchange(response.status_code, media_type_of(response), response.content)


class MockSide(Side):
    def __init__(self, client: Any):
        super().__init__()
        self.client = client

    def send(self, probe: Probe) -> Exchange:
        sent = {"Authorization": MOCK_AUTHORIZATION, "Content-Type": MEDIA_TYPE, **probe.headers}
        response = self.client.open(
            "/api/v1" + probe.path, method=probe.method, query_string=probe.params,
            headers={k: v for k, v in sent.items() if v is not None},
            data=None if probe.body is None else json.dumps(probe.body))
        return _exchange(response.status_code, response.mimetype, response.get_data())


# --- comparing -------------------------------------------------------------------------

def json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null"


def text_format(value: str) -> str:
    """What kind of text a string is: the API's datetime or date, a boolean, or text."""
    if re.fullmatch(DATETIME_PATTERN, value):
        return "datetime yyyy-MM-dd HH:mm:ss"
    if re.fullmatch(DATE_PATTERN, value):
        return "date yyyy-MM-dd"
    if value in ("true", "false"):
        return 'boolean "true"/"false"'
    return "text"


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _walk(upstream: Any, mock: Any, where: str, values: bool) -> Iterator[tuple[str, str, str, str]]:
    """(where, what, upstream, mock) for each difference between two JSON values."""
    if json_type(upstream) != json_type(mock):
        yield where, "type", json_type(upstream), json_type(mock)
    elif isinstance(upstream, dict):
        if set(upstream) != set(mock):
            only_up = [k for k in upstream if k not in mock]
            only_mock = [k for k in mock if k not in upstream]
            yield where, "fields", "only here: " + (", ".join(only_up) or "-"), \
                "only here: " + (", ".join(only_mock) or "-")
        else:
            if list(upstream) != list(mock):
                yield where, "field order", ", ".join(upstream), ", ".join(mock)
        for name in upstream:
            if name in mock:
                yield from _walk(upstream[name], mock[name], f"{where}.{name}" if where else name, values)
    elif isinstance(upstream, list):
        if values and len(upstream) != len(mock):
            yield where, "count", f"{len(upstream)} items", f"{len(mock)} items"
        for index, (a, b) in enumerate(zip(upstream, mock)):
            yield from _walk(a, b, f"{where}[{index}]", values)
    elif isinstance(upstream, str) and text_format(upstream) != text_format(mock):
        yield (where, "format", f"{text_format(upstream)}: {shown(upstream)}",
               f"{text_format(mock)}: {shown(mock)}")
    elif values and upstream != mock:
        yield where, "value", shown(upstream), shown(mock)


def compare(probe: Probe, upstream: Exchange, mock: Exchange) -> list[Difference]:
    """The differences between the two answers to *probe*."""
    request = probe.method + " " + probe.path + (
        "?" + "&".join(f"{k}={v}" for k, v in probe.params.items()) if probe.params else "")
    found: list[tuple[str, str, str, str]] = []
    if upstream.status != mock.status:
        found.append(("", "status", f"{upstream.status} {shown(upstream.body)}",
                      f"{mock.status} {shown(mock.body)}"))
    else:
        if upstream.media_type != mock.media_type:
            found.append(("", "media type", upstream.media_type, mock.media_type))
        if isinstance(upstream.body, str) and isinstance(mock.body, str):
            if upstream.body != mock.body:
                found.append(("", "error text" if upstream.status >= 400 else "value",
                              shown(upstream.body), shown(mock.body)))
        else:
            found += _walk(upstream.body, mock.body, "", probe.values)
    if len(found) > MAX_PER_PROBE:
        found = found[:MAX_PER_PROBE] + [("", "more", f"{len(found) - MAX_PER_PROBE} more differences", "")]
    return [Difference(probe.name, request, *row) for row in found]


# --- running ---------------------------------------------------------------------------

@dataclass
class Report:
    upstream: str
    probes: int
    differences: list[Difference]

    def as_json(self) -> str:
        return json.dumps({"upstream": self.upstream, "probes": self.probes,
                           "differences": [asdict(d) for d in self.differences]}, indent=2)

    def as_table(self) -> str:
        header = ("probe", "where", "what", "upstream", "mock")
        rows = [(f"{d.probe} ({d.request})", d.where, d.what, d.upstream, d.mock)
                for d in self.differences]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [header, *rows]] if rows else []
        lines.append(f"{len(self.differences)} differences in {self.probes} requests "
                     f"(upstream {self.upstream} against the mock)")
        return "\n".join(lines)


def verify(upstream: Upstream, since: datetime, now: datetime,
           progress: Any = lambda _: None) -> Report:
    """Record *upstream* into a temporary fixtures folder, load the mock from it in
    process, run the probe against both and compare."""
    from .app import create_app

    documents = build(fetch(upstream, since, progress=progress), upstream.base_url, now=now,
                      progress=progress)
    with tempfile.TemporaryDirectory(prefix="mockserver-verify-") as folder:
        write_dir(documents, folder)
        client = create_app({"TESTING": True, "FIXTURES": folder}).test_client()
        found = probes(documents, since.strftime(DATETIME_FORMAT), upstream.allow_writes)
        progress(f"probing: {len(found)} requests to each side")
        real, mock = UpstreamSide(upstream), MockSide(client)
        differences = [difference for probe in found
                       for difference in compare(probe, real.run(probe), mock.run(probe))]
    return Report(upstream.base_url, len(found), differences)
