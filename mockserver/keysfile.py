"""The keys file (``--keys``): developer keys with their permissions, customer keys with
their office versions, disabled keys and strict mode, read into the store's KeyPolicy.

``developers: {KEY: {permissions: [ReadAll], disabled: "true"}}``,
``customers: {KEY: {version: "23.1.5", disabled: "false"}}``, ``strict: "true"``.
Every error names the file, the key and the problem in words, with what is valid.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .fixtures import FixtureError, read_yaml
from .problems import nearest, shown
from .store import PERMISSIONS, KeyPolicy, parse_version

SECTIONS = {"developers": ("permissions", "disabled"), "customers": ("version", "disabled")}
TOP_LEVEL = (*SECTIONS, "strict")


def _all_known(names: Any, known: tuple[str, ...], what: str, where: str) -> None:
    """FixtureError at the first of *names* that is not *known*, with a did-you-mean."""
    for name in names:
        if name not in known:
            near = nearest(str(name), known)
            hint = f"did you mean {near}? " if near else ""
            raise FixtureError(f"{where}: {shown(name)} is not {what}; {hint}valid: {', '.join(known)}")


def _flag(value: Any, where: str) -> bool:
    if value not in ("true", "false"):
        raise FixtureError(f'{where}: {shown(value)} is not "true" or "false"')
    return value == "true"


def _permissions(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list):
        raise FixtureError(f"{where}: permissions must be a list such as [ReadAll] or "
                           f"[ReadAll, AllOthers], not {shown(value)}")
    _all_known(value, PERMISSIONS, "a permission", f"{where}: permissions")
    return frozenset(value)


def _version(value: Any, where: str) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        parse_version(value)
    except ValueError:
        raise FixtureError(f'{where}: version {shown(value)} is not an Open Dental version: '
                           f'write it as a quoted text such as "24.4.22"') from None
    return value


def load_keys(source: str | Path | Mapping[str, Any] | None, strict: bool = False) -> KeyPolicy:
    """The key policy from a keys file (or its parsed content); None accepts any key pair.
    FixtureError naming the file, the key and the problem when it is not valid."""
    if source is None:
        return KeyPolicy(strict=strict)
    origin = "keys"
    if not isinstance(source, Mapping):
        origin = str(source)
        try:
            source = read_yaml(Path(source).read_text(encoding="utf-8"), origin)
        except OSError as exc:
            raise FixtureError(f"{origin}: cannot read: {exc.strerror}") from None
    if not isinstance(source, Mapping):
        raise FixtureError(f"{origin}: must be a mapping with {', '.join(TOP_LEVEL)}, not {shown(source)}")
    _all_known(source, TOP_LEVEL, "a section of a keys file", origin)
    read: dict[str, dict[str, dict[str, Any]]] = {}
    for section, settings_known in SECTIONS.items():
        entries = source.get(section) or {}
        if not isinstance(entries, Mapping):
            raise FixtureError(f"{origin}: {section} must be a mapping of each key to its "
                               f"settings, not {shown(entries)}")
        kind = section[:-1]  # "developer", "customer"
        read[section] = {}
        for key, settings in entries.items():
            where = f"{origin}: {section}: {kind} key {shown(str(key))}"
            settings = settings or {}
            if not isinstance(settings, Mapping):
                raise FixtureError(f"{where}: its settings must be a mapping such as "
                                   f"{{{settings_known[0]}: ..., disabled: \"false\"}}, not {shown(settings)}")
            _all_known(settings, settings_known, f"a setting of a {kind} key", where)
            read[section][str(key)] = {
                "disabled": _flag(settings.get("disabled", "false"), f"{where}: disabled"),
                **({"permissions": _permissions(settings.get("permissions", list(PERMISSIONS)), where)}
                   if section == "developers" else
                   {"version": _version(settings["version"], where) if "version" in settings else None})}
    return KeyPolicy(
        developers={key: s["permissions"] for key, s in read["developers"].items()},
        customers={key: s["version"] for key, s in read["customers"].items()},
        disabled=frozenset((kind, key) for kind, section in (("Developer", "developers"),
                                                            ("Customer", "customers"))
                           for key, s in read[section].items() if s["disabled"]),
        strict=strict or _flag(source.get("strict", "false"), f"{origin}: strict"))
