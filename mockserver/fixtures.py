"""Fixtures: the YAML dataset every office starts from, the keys file, state export.

A fixture folder has one file per resource (tasks.yaml, tasklists.yaml,
definitions.yaml, userods.yaml, patients.yaml, appointments.yaml) plus office.yaml.
Records use the wire format of schemas.py; timestamps may be relative to the office
clock (``now``, ``now-3d``, ``now-2h30m``). Everything is validated on load, and an
error names the file, the record and the field.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import marshal
import os
import re
import sys
import tempfile
from collections.abc import Hashable
from datetime import date, datetime, timedelta
from importlib import metadata
from importlib import resources
from itertools import chain, compress, repeat
from operator import attrgetter, is_, itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import (DocumentEndEvent, DocumentStartEvent, ScalarEvent, SequenceEndEvent,
                         SequenceStartEvent, StreamEndEvent)
from marshmallow import RAISE, Schema, fields

from .lazyre import LazyPattern
from .schemas import (AppointmentSchema, DefinitionRecordSchema, OdBool, OdEnum, OdSchema,
                      OdString, PatientSchema, RecordLoader, TaskListSchema, TaskSchema,
                      UserodSchema, group_by_fields)
from .store import (DEFAULT_VERSION, PERMISSIONS, TASK_PRIORITIES, ApiError, Dataset, Group,
                    KeyPolicy, Office, RelativeTime, build_many, parse_version, primary_key,
                    rows_of, RECORD_TYPES, TIME_FIELDS)

RECORD_SCHEMAS: dict[str, type[Schema]] = {
    "tasks": TaskSchema,
    "tasklists": TaskListSchema,
    "definitions": DefinitionRecordSchema,
    "userods": UserodSchema,
    "patients": PatientSchema,
    "appointments": AppointmentSchema,
}
OFFICE = "office"  # office.yaml: settings of the office itself


class FixtureError(ValueError):
    """A fixture set, state import or keys file that does not validate."""


# libyaml's parser when PyYAML has it: three times faster on 100,000 tasks (bench/),
# with the same safe constructor and the same resolvers as the pure-Python one.
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


class _Loader(_SafeBase, Composer):
    """Safe YAML that keeps dates and true/false as strings, exactly as on the wire.

    Composer's methods let read_yaml compose a list one item at a time.
    """

    def __init__(self, stream: str | bytes):
        super().__init__(stream)
        self._tags: dict[tuple[str, Any], str] = {}  # (scalar, implicit) -> resolved tag

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        """Composer.compose_node, shorter for a scalar without anchor (most of a fixture)."""
        event = self.peek_event()
        if type(event) is not ScalarEvent or event.anchor is not None or self.yaml_path_resolvers:
            return super().compose_node(parent, index)
        self.get_event()
        tag = event.tag
        if tag is None or tag == "!":
            # a fixture repeats its keys and many values: remember the first few thousand
            remembered = (event.value, event.implicit)
            tag = self._tags.get(remembered)
            if tag is None:
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
                if len(self._tags) < 4096:
                    self._tags[remembered] = tag
        return yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                               style=event.style)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """A mapping; a key given twice is an error (PyYAML would silently keep the last)."""
        if not self._plain(node):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    break  # SafeLoader reports the unhashable key itself
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)
        # text keys and scalar values (most of a fixture): what the lines above give,
        # without constructing every text twice
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.value in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"found duplicate key {key_node.value!r}", key_node.start_mark)
            mapping[key_node.value] = value_node.value if value_node.tag == _STR \
                else self.construct_object(value_node, deep=deep)
        return mapping

    def _plain(self, node: yaml.Node) -> bool:
        return (isinstance(node, yaml.MappingNode)
                and self.yaml_constructors.get(_STR) is SafeConstructor.construct_yaml_str
                and all(type(k) is yaml.ScalarNode and k.tag == _STR and type(v) is yaml.ScalarNode
                        for k, v in node.value))


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in _SafeBase.yaml_implicit_resolvers.items()}


def read_yaml(text: str | bytes, origin: str) -> Any:
    """Parse YAML safely (no object tags); FixtureError naming *origin* if it is not YAML.

    JSON that YAML reads the same way is read by json's parser instead (_read_json).
    """
    if isinstance(text, str):
        try:
            return _read_json(text)
        except (_NotLikeYaml, ValueError, RecursionError):
            pass  # not JSON, or JSON that YAML could read otherwise: YAML decides
    loader = _Loader(text)
    try:
        items = _list_items(loader)
        return items if items is not None else yaml.load(text, Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise FixtureError(f"{origin}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


# JSON is YAML (flow style): json's C parser reads the JSON files of generate-fixtures
# in 0.3 s at 100,000 tasks, libyaml in 4.3 s (bench/). It is used only where the two
# read the same text the same way; tests/test_fast_paths.py compares them.
class _NotLikeYaml(Exception):
    """JSON that YAML (PyYAML's YAML 1.1, _Loader) could read otherwise or reject."""


_KEY_LIMIT = 128  # YAML rejects a key that runs over 1024 characters up to its colon
_YAML_FLOAT = next(regexp for tag, regexp in _Loader.yaml_implicit_resolvers["1"]
                   if tag == "tag:yaml.org,2002:float")
# Characters YAML reads as JSON does: printable, no tab (libyaml and PyYAML differ on
# tabs), no line separators (YAML folds \x85 inside a quoted scalar).
# (compiled only for a file that is not ASCII: 7 ms)
_UNLIKE_CHARACTER = LazyPattern("[^\n\r -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe"
                                "\uff00-\ufffd\U00010000-\U0010ffff]")


def _read_json(text: str) -> Any:
    """*text* as json reads it, when YAML would read it the same way; ValueError for
    text that is not JSON, _NotLikeYaml for JSON that YAML could read otherwise."""
    document = json.loads(text, object_pairs_hook=_json_mapping, parse_float=_json_float,
                          parse_constant=_json_constant)  # first: YAML fails it at once
    if (not text.isascii() and _UNLIKE_CHARACTER.search(text)) or "\t" in text \
            or "\x7f" in text or " " * _KEY_LIMIT in text \
            or re.search(r"\n *:", text) or "\r" in text and re.search(r"\r *:", text) \
            or "\\" in text and re.search(r"\\/|\\u[dD][89abAB]", text):
        # a key and its colon on two lines is an error in YAML; \/ and escaped
        # surrogates are not read the same by every libyaml
        raise _NotLikeYaml
    _check_scalars(document)
    return document


def _json_mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _NotLikeYaml  # a duplicate key: YAML's error names it
    return mapping


def _json_float(text: str) -> float:
    if not _YAML_FLOAT.match(text):
        raise _NotLikeYaml  # YAML 1.1 reads 1e5 and 1.0e5 as text
    return float(text)


def _json_constant(name: str) -> Any:
    raise _NotLikeYaml  # NaN, Infinity: text in YAML


def _check_scalars(document: Any) -> None:
    """_NotLikeYaml for a boolean (text in _Loader's YAML) or a long key in *document*."""
    level = [document]
    while level:  # a nesting level at a time, in C-level passes: a fixture has two
        kinds = set(map(type, level))
        if bool in kinds:
            raise _NotLikeYaml
        mappings, lists = ([] if kind not in kinds else level if kinds == {kind}
                           else [v for v in level if type(v) is kind] for kind in (dict, list))
        if any(len(key) > _KEY_LIMIT for key in set(chain.from_iterable(mappings))):
            raise _NotLikeYaml
        level = [*chain.from_iterable(map(dict.values, mappings)), *chain.from_iterable(lists)]


def _list_items(loader: _Loader) -> list | None:
    """A document that is one plain list, built item by item; None for any other document.

    yaml.load composes the whole document's nodes before building anything: 900 MiB
    for 100,000 tasks, versus 220 MiB and half the time this way (bench/).
    """
    loader.anchors = {}  # Composer's state (its __init__ is not the loader's)
    loader.get_event()  # stream start
    if not loader.check_event(DocumentStartEvent):
        return None
    loader.get_event()
    start = loader.peek_event()
    if not isinstance(start, SequenceStartEvent) or start.anchor is not None or not start.implicit:
        return None
    loader.get_event()
    items = []
    while not loader.check_event(SequenceEndEvent):
        items.append(loader.construct_document(loader.compose_node(None, None)))
    loader.get_event()
    if not loader.check_event(DocumentEndEvent):
        return None
    loader.get_event()
    return items if loader.check_event(StreamEndEvent) else None  # more documents: an error


def default_dir() -> Path:
    """The default dataset shipped in the package."""
    return Path(str(resources.files("mockserver.default_fixtures")))


def load_dir(folder: str | Path | None = None, cache_dir: str | Path | None = None,
             later: Callable[[Callable[[], None]], None] | None = None) -> Dataset:
    """Load and validate a fixtures folder (default: the shipped dataset).

    With *cache_dir*, a dataset validated before from the very same bytes (and the same
    code) is read from the cache instead: the start of ``serve`` at 100,000 tasks. A
    dataset validated afresh is written there at once, or by the job handed to *later*
    (``serve`` runs it once it answers).
    """
    path = Path(folder) if folder is not None else default_dir()
    if not path.is_dir():
        raise FixtureError(f"{path}: not a folder of fixtures")
    files, root = {}, path.resolve()
    for name in (*RECORD_SCHEMAS, OFFICE):
        file = path / f"{name}.yaml"
        if file.is_file():
            if not file.resolve().is_relative_to(root):  # a symlink must stay inside
                raise FixtureError(f"{file}: resolves outside the fixtures folder {path}")
            files[name] = file
    cache = DatasetCache(Path(cache_dir), root, files) if cache_dir is not None else None
    found = cache.read() if cache is not None else None
    if found is not None:
        return found
    dataset = _parse_files(files, path)
    if cache is not None:
        write = functools.partial(cache.write, dataset)
        write() if later is None else later(write)
    return dataset


def _parse_files(files: Mapping[str, Path], path: Path) -> Dataset:
    documents = {name: read_yaml(file.read_text(encoding="utf-8"), str(file))
                 for name, file in files.items()}
    return parse_documents(documents, origin=str(path))


def _record_loader(schema: type[Schema]) -> Schema:
    loader = schema()
    loader.allow_relative = True  # fixtures may say now-3d
    return loader


def _where(origin: str, kind: str, index: int | None = None, row: Any = None) -> str:
    place = f"{origin}/{kind}.yaml" if origin else f"{kind}.yaml"
    if index is None:
        return place
    key = primary_key(RECORD_TYPES[kind])
    named = f" ({key} {row[key]})" if isinstance(row, dict) and key in row else ""
    return f"{place}, record {index}{named}"


def parse_documents(documents: Mapping[str, Any], origin: str = "") -> Dataset:
    """Validate fixture documents ({"tasks": [...], ..., "office": {...}}) into a Dataset."""
    if not isinstance(documents, Mapping):
        raise FixtureError(f"{origin or 'state'}: must be a mapping of resource to records")
    extra = set(documents) - {*RECORD_SCHEMAS, OFFICE}
    if extra:
        raise FixtureError(f"{origin or 'state'}: unknown resource {sorted(extra)[0]!r}; "
                           f"expected {', '.join([*RECORD_SCHEMAS, OFFICE])}")
    records: dict[str, tuple[Group, ...]] = {}
    for kind, schema in RECORD_SCHEMAS.items():
        rows = documents.get(kind) or []
        if not isinstance(rows, list):
            raise FixtureError(f"{_where(origin, kind)}: must be a list of records")
        loader, key = RecordLoader(_record_loader(schema)), primary_key(RECORD_TYPES[kind])
        groups = loader.load_all(rows)
        if groups is None or not _keys_unique(groups, key):
            # the error names the record
            groups = _columns(_load_each(loader, rows, key, origin, kind))
        for keys, _, columns in groups:
            if "userGroupNums" in keys:
                at = keys.index("userGroupNums")
                columns[at] = list(map(tuple, columns[at]))
        records[kind] = tuple(groups)
    _check_references(records, origin)
    version = _office_settings(documents.get(OFFICE), origin)
    indexed, times = _index_times(records)
    return Dataset(indexed, version, times)


def _index_times(records: Mapping[str, tuple[Group, ...]]) -> tuple[dict[str, tuple[Group, ...]],
                                                                    tuple[Any, ...]]:
    """*records* with each time as an index into the distinct times, and those times
    (Dataset's form): relative ones first, then datetimes, then dates, as _encode_times
    keeps them."""
    times: dict[int, Any] = {}  # id -> time: records share each RelativeTime (a slow hash)
    for kind, groups in records.items():
        for keys, _, columns in groups:
            for key, column in zip(keys, columns):
                if key in TIME_FIELDS[kind]:
                    times.update(zip(map(id, column), column))
    kinds = list(map(type, times.values()))  # grouped in C-level passes, not sorted by a key
    distinct = [*chain.from_iterable(compress(times.values(), map(is_, kinds, repeat(kind)))
                                     for kind in (RelativeTime, datetime, date))]
    index = dict(zip(map(id, distinct), range(len(distinct))))
    return {kind: tuple((keys, positions, [
        list(map(index.__getitem__, map(id, column))) if key in TIME_FIELDS[kind] else column
        for key, column in zip(keys, columns)]) for keys, positions, columns in groups)
        for kind, groups in records.items()}, tuple(distinct)


def _keys_unique(groups: Iterable[Group], key: str) -> bool:
    """Whether every record of *groups* has its primary *key*, each a different one."""
    keys = []
    for names, _, columns in groups:
        if key not in names:
            return False
        keys += columns[names.index(key)]
    return len(set(keys)) == len(keys)


def _load_each(loader: RecordLoader, rows: list[Any], key: str, origin: str,
               kind: str) -> list[dict[str, Any]]:
    """Load *rows* one by one: FixtureError naming the first record at fault."""
    loaded, seen = [], set()
    for index, row in enumerate(rows, 1):
        problem = None  # the record's name is only worked out for an error
        if not isinstance(row, dict):
            problem = "must be a mapping of field to value"
        else:
            try:
                values = loader.load(row)
            except ApiError as exc:
                problem = exc.message
            else:
                if key not in values:
                    problem = f"{key} is required."
                elif values[key] in seen:
                    problem = f"{key} {values[key]} is used twice."
        if problem is not None:
            raise FixtureError(f"{_where(origin, kind, index, row)}: {problem}")
        seen.add(values[key])
        loaded.append(values)
    return loaded


def _office_settings(settings: Any, origin: str) -> str:
    where = _where(origin, OFFICE)
    if settings is None:
        return DEFAULT_VERSION
    if not isinstance(settings, dict) or set(settings) - {"version"}:
        raise FixtureError(f"{where}: may only set version")
    version = settings.get("version", DEFAULT_VERSION)
    try:
        parse_version(version if isinstance(version, str) else "")
    except ValueError:
        raise FixtureError(f'{where}: version must be a quoted version such as "24.4.13"') from None
    return version


def _check_references(records: Mapping[str, tuple[Group, ...]], origin: str) -> None:
    """Every foreign key of the dataset must resolve, as in a real database."""
    keys = {kind: set(chain.from_iterable(columns[names.index(primary_key(RECORD_TYPES[kind]))]
                                          for names, _, columns in groups))
            for kind, groups in records.items()}
    priorities = {row["DefNum"] for row in rows_of(records["definitions"])
                  if row.get("Category") == TASK_PRIORITIES} | {0}
    tasklists, userods, patients = (keys[kind] | {0} for kind in ("tasklists", "userods",
                                                                   "patients"))
    objects = {"Patient": keys["patients"], "Appointment": keys["appointments"]}
    rules = {  # (field, the fields its check reads, check)
        "tasks": [("TaskListNum", (), lambda r: r.get("TaskListNum", 0) in tasklists),
                  ("UserNum", (), lambda r: r.get("UserNum", 0) in userods),
                  ("KeyNum", ("ObjectType",), lambda r: r.get("ObjectType", "None") not in objects
                   or r.get("KeyNum", 0) in objects[r["ObjectType"]]),
                  ("PriorityDefNum", (), lambda r: r.get("PriorityDefNum", 0) in priorities)],
        "tasklists": [("Parent", (), lambda r: r.get("Parent", 0) in tasklists)],
        "appointments": [("PatNum", (), lambda r: r.get("PatNum", 0) in patients)],
        "definitions": [("Category", (), lambda r: "Category" in r)],
    }
    for kind, checks in rules.items():
        # each distinct combination of the values a check reads, once: 100,000 tasks have
        # a few thousand
        if all(all(map(ok, _parts(records[kind], (name, *reads)))) for name, reads, ok in checks):
            continue
        for index, row in enumerate(rows_of(records[kind]), 1):
            for name, _, ok in checks:
                if not ok(row):
                    raise FixtureError(f"{_where(origin, kind, index, row)}: "
                                       f"{name} {row.get(name, '(missing)')} does not resolve.")


def _parts(groups: Iterable[Group], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The distinct parts of the records of *groups* made of the fields *names* (those
    they have)."""
    parts = []
    for keys, positions, columns in groups:
        present = [name for name in names if name in keys]
        values = set(zip(*(columns[keys.index(name)] for name in present))) if present \
            else {()} if positions else set()
        parts += (dict(zip(present, each)) for each in values)
    return parts


# --- the validated-dataset cache ------------------------------------------------------

def default_cache_dir() -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME (or ~/.cache)/opendental-tasks-mock."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "opendental-tasks-mock"


_CACHE_MAGIC = b"opendental-tasks-mock dataset cache 4\n"
CACHE_ENTRIES = 8  # datasets kept (about 7 MB each at 100,000 tasks)
_CODE = ("fixtures.py", "schemas.py", "store.py")  # modules that decide what a record is


_STAMP = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def _encode_times(values: Iterable[Any]) -> tuple[list, list, list]:
    """Distinct times as builtins (marshal knows no others), column-wise (a list of ints
    loads 4 times faster than tuples): RelativeTimes' days, seconds and as_date,
    datetimes' parts, dates' ordinals."""
    relative, stamps, days = [], [], []
    for value in values:
        (relative if isinstance(value, RelativeTime) else
         stamps if isinstance(value, datetime) else days).append(value)
    deltas = list(map(attrgetter("delta"), relative))
    return ([*(list(map(attrgetter(part), deltas)) for part in ("days", "seconds")),
             list(map(attrgetter("as_date"), relative))],
            [list(map(attrgetter(part), stamps)) for part in _STAMP],
            list(map(date.toordinal, days)))


def _decode_times(relative: list, stamps: list, days: list) -> list:
    days_of, seconds_of, as_date = relative
    if len({len(days_of), len(seconds_of), len(as_date)}) != 1 or len(set(map(len, stamps))) != 1:
        raise ValueError("times of another shape")
    return [*build_many(RelativeTime, len(as_date), {"delta": map(timedelta, days_of, seconds_of),
                                                     "as_date": as_date}),
            *map(datetime, *stamps), *map(date.fromordinal, days)]


def _pack(dataset: Dataset) -> bytes:
    """*dataset* as marshal data of builtins."""
    return marshal.dumps({"version": dataset.version, "records": dict(dataset.records),
                          "times": _encode_times(dataset.times)})


def _columns(rows: list[dict[str, Any]]) -> list[Group]:
    """*rows* as groups of the records with the same fields (store.Group)."""
    groups = []
    for keys, positions in group_by_fields(rows).items():
        members = list(map(rows.__getitem__, positions))
        groups.append((keys, positions, [list(map(itemgetter(key), members)) for key in keys]))
    return groups


def _unpack(packed: bytes) -> Dataset:
    """The Dataset of ``_pack``; ValueError, TypeError... for data of another shape."""
    content = marshal.loads(packed)
    times = tuple(_decode_times(*content["times"]))
    for kind, groups in content["records"].items():
        cls = RECORD_TYPES[kind]
        if sorted(chain.from_iterable(positions for _, positions, _ in groups)) \
                != list(range(sum(len(positions) for _, positions, _ in groups))):
            raise ValueError("a record is missing, or given twice")
        for keys, positions, columns in groups:
            if len(keys) != len(columns) or set(keys) - cls.__dataclass_fields__.keys() \
                    or primary_key(cls) not in keys \
                    or any(len(column) != len(positions) for column in columns) \
                    or not all(min(column, default=0) >= 0 and max(column, default=0) < len(times)
                               for key, column in zip(keys, columns) if key in TIME_FIELDS[kind]):
                raise ValueError("records of another shape")
    return Dataset(content["records"], content["version"], times)


class DatasetCache:
    """One fixtures folder's packed Dataset in a private per-user folder.

    The file holds a key made of the fixture files' bytes, the package's version and the
    code that validates them, then a checksum and the packed dataset: any change, a
    corrupt file or a folder others could write to means a fresh load.
    """

    def __init__(self, folder: Path, fixtures: Path, files: Mapping[str, Path]):
        self.folder = folder
        self.file = folder / (hashlib.sha256(str(fixtures).encode()).hexdigest()[:32] + ".marshal")
        key = hashlib.sha256(f"{_package_version()} {sys.version}".encode())
        here = Path(__file__).parent
        for name in (*_CODE, *sorted(files)):
            data = (here / name if name in _CODE else files[name]).read_bytes()
            key.update(f"\0{name}\0{len(data)}\0".encode())
            key.update(data)
        self.head = _CACHE_MAGIC + key.digest()

    def _private(self) -> bool:
        # others must not be able to plant a dataset: our own folder, closed to them
        try:
            info = self.folder.stat()
        except OSError:
            return False
        return info.st_uid == os.getuid() and not info.st_mode & 0o077

    def read(self) -> Dataset | None:
        """The cached Dataset, or None when there is none usable."""
        if not self._private():
            return None
        try:
            raw = self.file.read_bytes()
        except OSError:
            return None
        digest, packed = raw[len(self.head):len(self.head) + 32], raw[len(self.head) + 32:]
        if not raw.startswith(self.head) or hashlib.sha256(packed).digest() != digest:
            return None
        try:
            return _unpack(packed)
        except (ValueError, EOFError, TypeError, KeyError, IndexError, AttributeError):
            return None  # not what _pack writes: load afresh

    def write(self, dataset: Dataset) -> None:
        """Store *dataset* (best effort: a read-only home only costs the next start)."""
        packed = _pack(dataset)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._private():
                raise OSError(f"{self.folder} is open to other users")
            with tempfile.NamedTemporaryFile(dir=self.folder, delete=False) as out:
                try:
                    out.write(self.head + hashlib.sha256(packed).digest() + packed)
                except BaseException:
                    os.unlink(out.name)
                    raise
            os.replace(out.name, self.file)  # readers see the old file or the new one
            self._prune()
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the dataset cache: %s", exc)

    def _prune(self) -> None:
        # one entry per fixtures folder, and folders come and go (temporary ones for
        # benchmarks and tests): keep the most recently written few
        others = sorted((f for f in self.folder.glob("*.marshal") if f != self.file),
                        key=lambda f: f.stat().st_mtime_ns)
        for old in others[:max(len(others) - (CACHE_ENTRIES - 1), 0)]:
            old.unlink(missing_ok=True)


def _package_version() -> str:
    try:
        return metadata.version("opendental-tasks-mock")
    except metadata.PackageNotFoundError:  # run from a source tree
        return "source"


def export_office(office: Office) -> dict[str, Any]:
    """The office's data in fixture form (absolute timestamps), for /__admin/state."""
    with office.lock:
        tables = {"tasks": list(office.tasks), "tasklists": office.tasklists.values(),
                  "definitions": office.definitions.values(), "userods": office.userods.values(),
                  "patients": office.patients.values(), "appointments": office.appointments.values()}
        documents: dict[str, Any] = {OFFICE: {"version": office.version}}
        for kind, schema in RECORD_SCHEMAS.items():
            documents[kind] = schema(many=True).dump(list(tables[kind]))
    return documents


# --- the keys file ---------------------------------------------------------------------

class _DeveloperKey(OdSchema):
    permissions = fields.List(OdEnum(PERMISSIONS), load_default=list(PERMISSIONS))
    disabled = OdBool(load_default=False)


class _CustomerKey(OdSchema):
    version = OdString()
    disabled = OdBool(load_default=False)


def load_keys(source: str | Path | Mapping[str, Any] | None, strict: bool = False) -> KeyPolicy:
    """The key policy from a keys file (or its parsed content); None accepts any key pair.

    ``developers: {KEY: {permissions: [ReadAll], disabled: "true"}}``,
    ``customers: {KEY: {version: "23.1.5", disabled: "false"}}``, ``strict: "true"``.
    """
    if source is None:
        return KeyPolicy(strict=strict)
    origin = "keys"
    if not isinstance(source, Mapping):
        origin = str(source)
        try:
            source = read_yaml(Path(source).read_text(encoding="utf-8"), origin)
        except OSError as exc:
            raise FixtureError(f"{origin}: cannot read: {exc.strerror}") from None
    if not isinstance(source, Mapping) or set(source) - {"developers", "customers", "strict"}:
        raise FixtureError(f"{origin}: must be a mapping with developers, customers and strict")
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for section, schema in (("developers", _DeveloperKey), ("customers", _CustomerKey)):
        entries = source.get(section) or {}
        if not isinstance(entries, Mapping):
            raise FixtureError(f"{origin}: {section} must be a mapping of key to settings")
        sections[section] = {}
        for key, settings in entries.items():
            try:
                sections[section][str(key)] = schema().load(settings or {}, unknown=RAISE)
                if section == "customers" and "version" in sections[section][str(key)]:
                    parse_version(sections[section][str(key)]["version"])
            except (ApiError, ValueError) as exc:
                raise FixtureError(f"{origin}: {section}.{key}: "
                                   f"{getattr(exc, 'message', 'version is invalid.')}") from None
    strict_value = source.get("strict", "false")
    if strict_value not in ("true", "false"):
        raise FixtureError(f'{origin}: strict must be "true" or "false"')
    disabled = frozenset((kind, k) for kind, section in (("Developer", "developers"),
                                                         ("Customer", "customers"))
                         for k, s in sections[section].items() if s["disabled"])
    return KeyPolicy(
        developers={k: frozenset(s["permissions"]) for k, s in sections["developers"].items()},
        customers={k: s.get("version") for k, s in sections["customers"].items()},
        disabled=disabled, strict=strict or strict_value == "true")
