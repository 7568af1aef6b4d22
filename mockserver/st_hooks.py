"""Schemathesis hooks for the mock's OpenAPI document (needs the ``test`` extras).

Loaded by the contract tests (``import mockserver.st_hooks``) and by ``schemathesis run``
through ``hooks = "mockserver.st_hooks"`` in schemathesis.toml. It lives in the package so
both find it wherever they run from. It registers a generator for the custom datetime
format, two checks (every 401/404 message is one the document declares; every operation
answers 2xx at least once, so auth and seed data really reach the API), and two hooks for
the two rules JSON Schema cannot state (docs/conformance.md). Checks and hooks only touch
this document's operations, not other specs (e.g. the control API's) in the same process:

- a query parameter may need another (``KeyNum`` needs ``ObjectType``, as bodies say with
  ``dependentRequired``): positive cases that break this are not generated;
- JSON Schema calls ``3.0`` an integer, the mock wants a JSON integer (``3``): integral
  floats in bodies are sent as integers, which the schema considers the same value.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st

from .openapi import DATETIME_FORMAT_NAME, DEPENDENT_REQUIRED, TITLE

schemathesis.openapi.format(
    DATETIME_FORMAT_NAME,
    # not strftime: it does not zero-pad year 1 on Linux
    st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: f"{d.year:04d}-{d:%m-%d %H:%M:%S}"),
)

POSITIVE = schemathesis.GenerationMode.POSITIVE
DECLARED_MESSAGE_STATUSES = (401, 404)  # fixed messages; 400 messages name the field


def _ours(case: Any) -> bool:
    return case.operation.schema.raw_schema.get("info", {}).get("title") == TITLE


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        for part in node["$ref"].removeprefix("#/").split("/"):
            document = document[part]
        node = document
    return node


@schemathesis.check
def declared_error_message(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 401 or 404 body must be one of the messages the operation's response lists."""
    if response.status_code not in DECLARED_MESSAGE_STATUSES or not _ours(case):
        return None
    document = case.operation.schema.raw_schema
    declared = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    if declared is None:  # undeclared status: status_code_conformance reports it
        return None
    media = _resolve(document, declared).get("content", {}).get("application/json", {})
    messages = [example["value"] for example in media.get("examples", {}).values()]
    body = response.json()
    if body not in messages:
        raise AssertionError(f"Undeclared {response.status_code} message {body!r}; "
                             f"the document lists {messages}")
    return True


@schemathesis.check
class EveryOperationSucceeds:
    """Fail the run if an operation never answered 2xx: then auth or the seed data did not
    reach it, and the checks that judge successful answers tested nothing there."""

    def __init__(self) -> None:
        self.tested: set[str] = set()
        self.reached: set[str] = set()

    def after_response(self, ctx: Any, response: Any, case: Any) -> None:
        """Note the operation, and whether it answered 2xx."""
        # only the operation's own method: the unsupported-method probes (OPTIONS...) do not count
        if _ours(case) and case.method.upper() == case.operation.method.upper():
            self.tested.add(case.operation.label)
            if 200 <= response.status_code < 300:
                self.reached.add(case.operation.label)

    def after_run(self, ctx: Any) -> None:
        """Name the operations that never answered 2xx."""
        never = sorted(self.tested - self.reached)
        if never:
            raise AssertionError(f"Never answered 2xx: {', '.join(never)}")


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    """Drop positive cases whose query has a parameter without the one it needs."""
    if not _ours(case) or (case.meta is not None and case.meta.generation.mode != POSITIVE):
        return True
    query = case.query or {}
    return all(set(needs) <= set(query) for name, needs in DEPENDENT_REQUIRED.items()
               if name in query)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    """Send integral floats in a JSON body as JSON integers."""
    if _ours(case) and isinstance(case.body, (dict, list)):
        case.body = _integral(case.body)
    return case
