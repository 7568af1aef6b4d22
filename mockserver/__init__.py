"""Open Dental Tasks mock server: the Open Dental REST API Tasks resource, in memory."""
from __future__ import annotations

from importlib import metadata
from typing import Any

__all__ = ["__version__", "create_app"]

try:
    __version__ = metadata.version("opendental-tasks-mock")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so loading the pytest plugin (mockserver.pytest_plugin, an
    # entry point) does not pull Flask into every test run that never uses it.
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
