"""Schemathesis fuzzes every operation of the committed openapi.yaml against the app.

All checks run (the built-ins and the two of mockserver.st_hooks), in every phase:
examples, coverage, fuzzing (positive and negative data), and the stateful phase over
the document's links. The app runs in-process and every run starts from fresh
offices, so a run is repeatable; MOCKSERVER_FUZZ_EXAMPLES raises the budget (default 25
examples per operation and 25 stateful scenarios) for a deep run.
"""
from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import settings

from mockserver import create_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("MOCKSERVER_FUZZ_EXAMPLES", "25"))

# the toml names the hooks module (custom format, checks, hooks) and the auth; the same
# file drives `schemathesis run` against a live server
schema = schemathesis.openapi.from_path(
    ROOT / "openapi.yaml", config=schemathesis.Config.from_path(ROOT / "schemathesis.toml"))
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True)
schema.app = create_app({"TESTING": True})


def _fresh_offices() -> None:
    schema.app.extensions["mockserver"].reset()


def _conformance_test(operation_id: str):
    @schema.include(operation_id=operation_id).parametrize()
    def test(case):
        """Every check on every generated case of the operation."""
        case.call_and_validate()
    return test


# one test per operation, named after it (test_getTask_conforms...), so a failure names it
for _operation in schema.get_all_operations():
    _id = _operation.ok().definition.raw["operationId"]
    globals()[f"test_{_id}_conforms"] = _conformance_test(_id)


class TaskWorkflow(schema.as_state_machine()):
    """Chains createTask -> getTask/updateTask -> getTask through the document's links."""

    def setup(self) -> None:
        _fresh_offices()  # each scenario starts from the fixtures


TestTaskWorkflow = TaskWorkflow.TestCase
TestTaskWorkflow.settings = settings(TestTaskWorkflow.settings, max_examples=EXAMPLES,
                                     derandomize=True, stateful_step_count=8)


def setup_module() -> None:
    _fresh_offices()
