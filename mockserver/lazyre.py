"""Regular expressions compiled on first use instead of on import.

Python compiles a character class of many thousands of characters slowly, one character at
a time. marshmallow.validate compiles its Email validator's patterns the moment it is
imported, one of them a case-insensitive class of 65,000 characters (27-38 ms on
2026-12-03, a tenth of the mock's start-up at 1,000 tasks), and PyYAML's pure-Python
reader one more (5-7 ms). The mock validates no email and reads YAML with libyaml, so it
never needs them.
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Iterator


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled the first time any of its attributes is used."""

    def __init__(self, pattern: str, flags: int = 0):
        self.source, self.source_flags = pattern, flags

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern."""
        return re.compile(self.source, self.source_flags)

    def __getattr__(self, name: str) -> Any:  # only for what the instance lacks: the Pattern's
        if name.startswith("__"):  # a probe such as ABCMeta's __isabstractmethod__: no compile
            raise AttributeError(name)
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"LazyPattern({self.source[:40]!r}..., {self.source_flags!r})"


@contextmanager
def compiled_on_first_use(*modules: str) -> Iterator[None]:
    """While the block runs, ``re.compile`` called from the code of *modules* (by module
    name) returns a LazyPattern. Use it around the first import of those modules; once
    they are imported it changes nothing."""
    compile_now = re.compile

    def deferred(pattern: Any, flags: int = 0) -> Any:
        if isinstance(pattern, str) and sys._getframe(1).f_globals.get("__name__") in modules:
            return LazyPattern(pattern, flags)
        return compile_now(pattern, flags)

    re.compile = deferred
    try:
        yield
    finally:
        re.compile = compile_now
