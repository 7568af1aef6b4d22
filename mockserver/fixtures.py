"""Fixtures: the YAML dataset every office starts from, the keys file, state export.

A fixture folder has one file per resource (tasks.yaml, tasklists.yaml,
definitions.yaml, userods.yaml, patients.yaml, appointments.yaml) plus office.yaml.
Records use the wire format of schemas.py; timestamps may be relative to the office
clock (``now``, ``now-3d``, ``now-2h30m``). Everything is validated on load, and an
error names the file, the record and the field.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Hashable
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import RAISE, Schema, fields

from .schemas import RECORD_FORMATS, RECORD_SCHEMAS, OdBool, OdEnum, OdSchema, OdString, dump
from .store import (DEFAULT_UTC_OFFSET, DEFAULT_VERSION, PERMISSIONS, RECORD_TYPES,
                    TASK_PRIORITIES, ApiError, Dataset, KeyPolicy, Office, parse_utc_offset,
                    parse_version, primary_key)

OFFICE = "office"  # office.yaml: settings of the office itself


class FixtureError(ValueError):
    """A fixture set, state import or keys file that does not validate."""


# libyaml's parser where PyYAML has it (three times faster), else the pure-Python one
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(SafeLoader):
    """Safe YAML that keeps dates and true/false as strings, exactly as on the wire, and
    refuses a key given twice (PyYAML would silently keep the last)."""

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
        return super().construct_mapping(node, deep=deep)


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()}


def read_yaml(text: str | bytes, origin: str) -> Any:
    """Parse YAML safely (no object tags); FixtureError naming *origin* if it is not YAML."""
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise FixtureError(f"{origin}: not valid YAML: {exc}") from None


def default_dir() -> Path:
    """The default dataset shipped in the package."""
    return Path(str(resources.files("mockserver.default_fixtures")))


def load_dir(folder: str | Path | None = None) -> Dataset:
    """Load and validate a fixtures folder (default: the shipped dataset)."""
    path = Path(folder) if folder is not None else default_dir()
    if not path.is_dir():
        raise FixtureError(f"{path}: not a folder of fixtures")
    _check_names(path)
    documents, root = {}, path.resolve()
    for name in (*RECORD_SCHEMAS, OFFICE):
        file = path / f"{name}.yaml"
        if file.is_file():
            if not file.resolve().is_relative_to(root):  # a symlink must stay inside
                raise FixtureError(f"{file}: resolves outside the fixtures folder {path}")
            documents[name] = read_yaml(file.read_bytes(), str(file))
    if not documents:
        raise FixtureError(f"{path}: holds none of the fixture files "
                           f"({', '.join(f'{name}.yaml' for name in (*RECORD_SCHEMAS, OFFICE))})")
    return parse_documents(documents, origin=str(path))


def _check_names(path: Path) -> None:
    """FixtureError for a YAML file whose name is close to a fixture file's but not it
    (``tasks.yml``, ``task.yaml``, ``Tasks.yaml``): it would be silently left out."""
    known = (*RECORD_SCHEMAS, OFFICE)
    for file in sorted(path.iterdir()):
        if file.suffix not in (".yaml", ".yml") or file.name in {f"{k}.yaml" for k in known}:
            continue
        close = difflib.get_close_matches(file.stem.lower(), known, n=1, cutoff=0.8)
        if close:
            raise FixtureError(f"{file}: not a fixture file name; did you mean {close[0]}.yaml?")


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
    records: dict[str, list[Any]] = {}
    for kind, schema in RECORD_SCHEMAS.items():
        rows = documents.get(kind) or []
        if not isinstance(rows, list):
            raise FixtureError(f"{_where(origin, kind)}: must be a list of records")
        records[kind] = _load_records(kind, schema, rows, origin)
    _check_references(records, origin)
    return Dataset(records, *_office_settings(documents.get(OFFICE), origin))


def _load_records(kind: str, schema: type[Schema], rows: list[Any], origin: str) -> list[Any]:
    """*rows* as records of *kind*: FixtureError naming the first record at fault."""
    loader = schema()
    loader.allow_relative = True  # fixtures may say now-3d
    cls, key = RECORD_TYPES[kind], primary_key(RECORD_TYPES[kind])
    loaded, seen = [], set()
    for index, row in enumerate(rows, 1):
        problem = None  # the record's name is only worked out for an error
        if not isinstance(row, dict):
            problem = "must be a mapping of field to value"
        else:
            try:
                values = loader.load(row, unknown=RAISE)
            except ApiError as exc:
                problem = exc.message
            else:
                required = [f.name for f in dataclasses.fields(cls)
                            if f.default is dataclasses.MISSING and f.name not in values]
                if required:
                    problem = f"{required[0]} is required."
                elif values[key] in seen:
                    problem = f"{key} {values[key]} is used twice."
        if problem is not None:
            raise FixtureError(f"{_where(origin, kind, index, row)}: {problem}")
        seen.add(values[key])
        if "userGroupNums" in values:
            values["userGroupNums"] = tuple(values["userGroupNums"])
        loaded.append(cls(**values))
    return loaded


def _office_settings(settings: Any, origin: str) -> tuple[str, str]:
    """office.yaml's version and utc_offset."""
    where = _where(origin, OFFICE)
    if settings is None:
        return DEFAULT_VERSION, DEFAULT_UTC_OFFSET
    if not isinstance(settings, dict) or set(settings) - {"version", "utc_offset"}:
        raise FixtureError(f"{where}: may only set version and utc_offset")
    version = settings.get("version", DEFAULT_VERSION)
    offset = settings.get("utc_offset", DEFAULT_UTC_OFFSET)
    try:
        parse_version(version if isinstance(version, str) else "")
    except ValueError:
        raise FixtureError(f'{where}: version must be a quoted version such as "24.4.13"') from None
    try:
        parse_utc_offset(offset if isinstance(offset, str) else "")
    except ValueError:
        raise FixtureError(f'{where}: utc_offset must be a quoted offset such as "-07:00", '
                           f"not {offset!r}") from None
    return version, offset


def _check_references(records: Mapping[str, list[Any]], origin: str) -> None:
    """Every foreign key of the dataset must resolve, as in a real database."""
    keys = {kind: {getattr(r, primary_key(RECORD_TYPES[kind])) for r in rows} | {0}
            for kind, rows in records.items()}
    priorities = {d.DefNum for d in records["definitions"] if d.Category == TASK_PRIORITIES} | {0}
    objects = {"Patient": keys["patients"] - {0}, "Appointment": keys["appointments"] - {0}}
    rules = {  # kind -> (field, check)
        "tasks": [("TaskListNum", lambda r: r.TaskListNum in keys["tasklists"]),
                  ("UserNum", lambda r: r.UserNum in keys["userods"]),
                  ("KeyNum", lambda r: r.ObjectType not in objects
                   or r.KeyNum in objects[r.ObjectType]),
                  ("PriorityDefNum", lambda r: r.PriorityDefNum in priorities)],
        "tasklists": [("Parent", lambda r: r.Parent in keys["tasklists"])],
        "appointments": [("PatNum", lambda r: r.PatNum in keys["patients"])],
        "tasknotes": [("TaskNum", lambda r: r.TaskNum in keys["tasks"] - {0}),
                      ("UserNum", lambda r: r.UserNum in keys["userods"] - {0})],
    }
    for kind, checks in rules.items():
        for index, row in enumerate(records[kind], 1):
            for name, ok in checks:
                if not ok(row):
                    key = primary_key(RECORD_TYPES[kind])
                    raise FixtureError(f"{_where(origin, kind, index, {key: getattr(row, key)})}: "
                                       f"{name} {getattr(row, name)} does not resolve.")


def export_office(office: Office) -> dict[str, Any]:
    """The office's data in fixture form (absolute timestamps), for /__admin/state and the
    persistence journal."""
    with office.lock:
        documents: dict[str, Any] = {OFFICE: {"version": office.version,
                                              "utc_offset": office.utc_offset_text}}
        for kind, schema in RECORD_FORMATS.items():
            documents[kind] = dump(schema, office.records(kind), many=True)
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
