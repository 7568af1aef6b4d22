"""Fixtures: the YAML dataset every office starts from, and the state export.

A fixture folder has one file per resource (tasks.yaml, tasklists.yaml,
definitions.yaml, userods.yaml, patients.yaml, appointments.yaml) plus office.yaml.
Records use the wire format of schemas.py; timestamps may be relative to the office
clock (``now``, ``now-3d``, ``now-2h30m``). Everything is validated on load, and the
error lists every problem (problems.py), each with its file, line, record and field.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, Callable, ContextManager, Iterator, Mapping

import yaml
from marshmallow import RAISE, Schema

from .problems import Problem, Problems, nearest, record_problems, shown, unresolved
from .schemas import RECORD_FORMATS, RECORD_SCHEMAS, dump
from .store import (DEFAULT_UTC_OFFSET, DEFAULT_VERSION, RECORD_TYPES, TASK_PRIORITIES, ApiError,
                    Dataset, Office, parse_utc_offset, parse_version, primary_key)

OFFICE = "office"  # office.yaml: settings of the office itself


class FixtureError(ValueError):
    """A fixture set, state import or keys file that does not validate: its message has
    every problem found (up to problems.MAX_REPORTED), one a line."""


Step = Callable[[int], None]
# progress(label, total): a context manager whose value is called with the size of each
# step done. The default says nothing; the CLI passes one that draws click's bar.
Progress = Callable[[str, int], ContextManager[Step]]
PROGRESS_BYTES = 1 << 20  # a file of at least 1 MiB (some 4,000 tasks) reports its parsing
PROGRESS_RECORDS = 3000  # and a file of at least 3,000 records its building and checking


@contextmanager
def quiet(label: str, total: int) -> Iterator[Step]:
    """Progress that says nothing."""
    yield lambda size: None


# libyaml's parser where PyYAML has it (three times faster), else the pure-Python one
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(SafeLoader):
    """Safe YAML that keeps dates and true/false as strings, exactly as on the wire, and
    refuses a key given twice (PyYAML would silently keep the last)."""

    built: Step | None = None  # told of each mapping built (a fixture file's records)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """A mapping; ConstructorError for a key given twice."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                break  # SafeLoader reports the unhashable key itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        if self.built is not None:
            self.built(1)
        return super().construct_mapping(node, deep=deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()}


class _Counted:
    """A file as the YAML parser reads it: each chunk's size is told to *step*."""

    def __init__(self, file: BinaryIO):
        self.file, self.name = file, file.name
        self.step: Step = lambda size: None

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.step(len(chunk))
        return chunk


def read_yaml(source: str | bytes | Path, origin: str, progress: Progress = quiet) -> Any:
    """Parse YAML (text, or a file whose parsing and building *progress* is told of)
    safely, without object tags; FixtureError naming *origin* if it is not YAML."""
    name = source.name if isinstance(source, Path) else origin
    size = source.stat().st_size if isinstance(source, Path) else 0
    with open(source, "rb") if isinstance(source, Path) else nullcontext(source) as opened:
        stream = _Counted(opened) if isinstance(source, Path) else None
        loader = Loader(opened if stream is None else stream)
        try:
            with (progress if size >= PROGRESS_BYTES else quiet)(f"parsing {name}", size) as step:
                if stream is not None:
                    stream.step = step
                root = loader.get_single_node()
            if root is None:
                return None
            count = len(root.value) if isinstance(root, yaml.SequenceNode) else 0
            building = progress if count >= PROGRESS_RECORDS else quiet
            with building(f"building {name}", count) as step:
                loader.built = step
                return loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise FixtureError(f"{origin}: not valid YAML: {exc}") from None
        finally:
            loader.dispose()


def default_dir() -> Path:
    """The default dataset shipped in the package."""
    return Path(str(resources.files("mockserver.default_fixtures")))


def load_dir(folder: str | Path | None = None, progress: Progress = quiet) -> Dataset:
    """Load and validate a fixtures folder (default: the shipped dataset), telling
    *progress* how the reading of a large file goes."""
    path = Path(folder) if folder is not None else default_dir()
    if not path.is_dir():
        raise FixtureError(f"{path}: not a folder of fixtures")
    _check_names(path)
    names = (*RECORD_SCHEMAS, OFFICE)
    files = {name: path / f"{name}.yaml" for name in names if (path / f"{name}.yaml").is_file()}
    if not files:
        raise FixtureError(f"{path}: holds none of the fixture files "
                           f"({', '.join(f'{name}.yaml' for name in names)})")
    documents, unreadable, root = {}, [], path.resolve()
    for name, file in files.items():
        try:
            if not file.resolve().is_relative_to(root):  # a symlink must stay inside
                raise FixtureError(f"{file}: resolves outside the fixtures folder {path}")
            documents[name] = read_yaml(file, str(file), progress)
        except FixtureError as exc:
            unreadable.append(str(exc))
    if unreadable:
        raise FixtureError("\n".join(unreadable))
    return parse_documents(documents, origin=str(path), progress=progress,
                           nodes=lambda kind: yaml.compose(files[kind].read_bytes(), Loader=Loader)
                           if kind in files else None)


def _check_names(path: Path) -> None:
    """FixtureError for a YAML file whose name is close to a fixture file's but not it
    (``tasks.yml``, ``task.yaml``, ``Tasks.yaml``): it would be silently left out."""
    known = (*RECORD_SCHEMAS, OFFICE)
    names = {f"{name}.yaml" for name in known}
    for file in sorted(path.iterdir()):
        if file.suffix not in (".yaml", ".yml") or file.name in names:
            continue
        close = nearest(file.stem, known, cutoff=0.8)
        if close:
            raise FixtureError(f"{file}: not a fixture file name; did you mean {close}.yaml?")


@dataclasses.dataclass
class _Loaded:
    """The records of one kind that validate, and what the rest leave behind."""

    records: list[Any]
    places: list[int]  # each record's place (from 1) among the rows of its file
    keys: set[int]  # the primary keys the rows that are not records give: they count as present


def parse_documents(documents: Mapping[str, Any], origin: str = "", progress: Progress = quiet,
                    nodes: Callable[[str], yaml.Node | None] | None = None) -> Dataset:
    """Validate fixture documents ({"tasks": [...], ..., "office": {...}}) into a Dataset;
    FixtureError with every problem found. *nodes* gives a kind's YAML node, for the line
    numbers of the problems; *progress* is told of the checking of a large kind."""
    if not isinstance(documents, Mapping):
        raise FixtureError(f"{origin or 'state'}: must be a mapping of resource to records")
    extra = set(documents) - {*RECORD_SCHEMAS, OFFICE}
    if extra:
        raise FixtureError(f"{origin or 'state'}: unknown resource {sorted(extra)[0]!r}; "
                           f"expected {', '.join([*RECORD_SCHEMAS, OFFICE])}")
    problems = Problems()
    loaded: dict[str, _Loaded] = {}
    unread = False
    for kind, schema in RECORD_SCHEMAS.items():
        rows = documents.get(kind) or []
        if not isinstance(rows, list):
            problems.add(Problem(kind, "must be a list of records"))
            rows, unread = [], True
        loaded[kind] = _load_records(kind, schema, rows, problems, progress)
    settings = _office_settings(documents.get(OFFICE), problems)
    if not unread:
        _check_references(loaded, problems)  # (with a kind unread, all would fail)
    if problems.count:
        raise FixtureError(problems.report(origin, (*RECORD_SCHEMAS, OFFICE),
                                           nodes or (lambda kind: None)))
    return Dataset({kind: found.records for kind, found in loaded.items()}, *settings)


def _load_records(kind: str, schema: type[Schema], rows: list[Any], problems: Problems,
                  progress: Progress) -> _Loaded:
    """*rows* as records of *kind*; the problems of the rows that are not are added to
    *problems*."""
    loader = schema()
    loader.allow_relative = True  # fixtures may say now-3d
    cls, key = RECORD_TYPES[kind], primary_key(RECORD_TYPES[kind])
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    found, seen = _Loaded([], [], set()), set()
    report = progress if len(rows) >= PROGRESS_RECORDS else quiet
    with report(f"checking {kind}.yaml", len(rows)) as step:
        for index, row in enumerate(rows, 1):
            step(1)
            values, refused = None, "must be a mapping of field to value"
            if isinstance(row, dict):
                try:
                    values = loader.load(row, unknown=RAISE)
                except ApiError as exc:
                    refused = exc.message
            if values is None or any(name not in values for name in required):
                _refuse(kind, key, index, row, refused, loader, required, problems)
                if isinstance(row, dict) and isinstance(row.get(key), int):
                    found.keys.add(row[key])
                continue
            if values[key] in seen:
                first = next(i for i, r in enumerate(rows, 1) if isinstance(r, dict)
                             and r.get(key) == values[key]) if problems.wanted else None
                problems.add(Problem(kind, f"{values[key]} is used twice (first by record "
                                           f"{first}); each record needs its own",
                                     index, f"{key} {values[key]}", key))
                continue
            seen.add(values[key])
            if "userGroupNums" in values:
                values["userGroupNums"] = tuple(values["userGroupNums"])
            found.records.append(cls(**values))
            found.places.append(index)
    return found


def _refuse(kind: str, key: str, index: int, row: Any, refused: str, loader: Schema,
            required: list[str], problems: Problems) -> None:
    """Add the problems of a row that is not a record of *kind* (*refused*: the first
    one, as the schema says it)."""
    if not isinstance(row, dict):
        problems.add(Problem(kind, refused, index))
        return
    name = f"{key} {shown(row[key])}" if key in row else ""
    found = record_problems(loader, row, required, kind)
    for field, text in found or [(None, refused)]:
        problems.add(Problem(kind, text, index, name, field))


# office.yaml's settings: name -> (default, parser, what it is, what is valid)
OFFICE_SETTINGS = {
    "version": (DEFAULT_VERSION, parse_version, "a version", 'a quoted version such as "24.4.13"'),
    "utc_offset": (DEFAULT_UTC_OFFSET, parse_utc_offset, "a UTC offset",
                   'a quoted offset such as "-07:00", from -14:00 to +14:00'),
}


def _office_settings(settings: Any, problems: Problems) -> tuple[str, str]:
    """office.yaml's version and utc_offset (the defaults for those with a problem)."""
    values = {name: default for name, (default, *_) in OFFICE_SETTINGS.items()}
    if settings is not None and not isinstance(settings, dict):
        problems.add(Problem(OFFICE, "must be a mapping that sets version and/or utc_offset"))
    elif settings is not None:
        for name in set(settings) - set(OFFICE_SETTINGS):
            near = nearest(str(name), OFFICE_SETTINGS)
            hint = f" (did you mean {near}?)" if near else ""
            problems.add(Problem(OFFICE, "not an office setting; office.yaml may only set version "
                                         f"and utc_offset{hint}", field=str(name)))
        for name, (default, parse, noun, valid) in OFFICE_SETTINGS.items():
            given = settings.get(name, default)
            try:
                parse(given if isinstance(given, str) else "")
                values[name] = given
            except ValueError:
                problems.add(Problem(OFFICE, f"{shown(given)} is not {noun}; valid: {valid}",
                                     field=name))
    return values["version"], values["utc_offset"]


def _check_references(loaded: Mapping[str, _Loaded], problems: Problems) -> None:
    """Every foreign key of the dataset must resolve, as in a real database (a row that
    is not a record still counts by the primary key it gives: its own problem says what
    is wrong with it)."""
    keys = {kind: {getattr(r, primary_key(RECORD_TYPES[kind])) for r in found.records}
            | found.keys | {0} for kind, found in loaded.items()}
    priorities = {d.DefNum for d in loaded["definitions"].records
                  if d.Category == TASK_PRIORITIES} | loaded["definitions"].keys | {0}
    objects = {"Patient": keys["patients"] - {0}, "Appointment": keys["appointments"] - {0}}
    tasks, users = keys["tasks"] - {0}, keys["userods"] - {0}  # a note needs a real one
    rules = {  # kind -> (field, check)
        "tasks": [("TaskListNum", lambda r: r.TaskListNum in keys["tasklists"]),
                  ("UserNum", lambda r: r.UserNum in keys["userods"]),
                  ("KeyNum", lambda r: r.ObjectType not in objects
                   or r.KeyNum in objects[r.ObjectType]),
                  ("PriorityDefNum", lambda r: r.PriorityDefNum in priorities)],
        "tasklists": [("Parent", lambda r: r.Parent in keys["tasklists"])],
        "appointments": [("PatNum", lambda r: r.PatNum in keys["patients"])],
        "tasknotes": [("TaskNum", lambda r: r.TaskNum in tasks),
                      ("UserNum", lambda r: r.UserNum in users)],
    }
    for kind, checks in rules.items():
        key = primary_key(RECORD_TYPES[kind])
        places = loaded[kind].places
        for position, row in enumerate(loaded[kind].records):
            for name, ok in checks:
                if not ok(row):
                    problems.add(Problem(kind, unresolved(kind, name, row), places[position],
                                         f"{key} {getattr(row, key)}", name))


def export_office(office: Office) -> dict[str, Any]:
    """The office's data in fixture form (absolute timestamps), for /__admin/state and the
    persistence journal."""
    with office.lock:
        documents: dict[str, Any] = {OFFICE: {"version": office.version,
                                              "utc_offset": office.utc_offset_text}}
        for kind, schema in RECORD_FORMATS.items():
            documents[kind] = dump(schema, office.records(kind), many=True)
    return documents
