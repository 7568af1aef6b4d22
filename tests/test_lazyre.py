"""Patterns that marshmallow and PyYAML compile on import are compiled on first use
(mockserver.lazyre): the mock starts without them, and they work as before when used."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
import textwrap

import pytest

from mockserver.lazyre import LazyPattern, compiled_on_first_use


def run_python(code: str) -> str:
    """*code* in a fresh interpreter (marshmallow and yaml not imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_mock_starts_and_answers_without_compiling_them():
    out = run_python("""
        import re
        compile_before = re.compile
        from mockserver import create_app
        import marshmallow.validate, yaml.reader
        app = create_app()
        answer = app.test_client().get("/api/v1/tasks/1408", headers={
            "Authorization": "ODFHIR a/b", "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.status_code
        assert re.compile is compile_before
        for pattern in (marshmallow.validate.Email.USER_REGEX,
                        marshmallow.validate.Email.DOMAIN_REGEX, yaml.reader.Reader.NON_PRINTABLE):
            print(type(pattern).__name__, "compiled" in vars(pattern))
    """)
    assert out.split("\n")[:3] == ["LazyPattern False"] * 3


def test_they_work_as_compiled_once_used():
    out = run_python("""
        import mockserver.app, yaml
        from marshmallow import ValidationError, validate
        email = validate.Email()
        print(email("ann@example.com"), email("ann@bücher.example"))
        for bad in ("ann@-example.com", "ann@exa mple.com", "a nn@example.com"):
            try:
                email(bad)
            except ValidationError:
                print("rejected", bad)
        try:  # the pure-Python reader checks for characters YAML does not allow
            yaml.load("text: \\x07", Loader=yaml.SafeLoader)
        except yaml.reader.ReaderError:
            print("not printable")
    """)
    assert out.splitlines() == ["ann@example.com ann@bücher.example", "rejected ann@-example.com",
                                "rejected ann@exa mple.com", "rejected a nn@example.com",
                                "not printable"]


def test_only_the_named_modules_patterns_are_deferred(tmp_path, monkeypatch):
    (tmp_path / "lazy_probe.py").write_text("import re\nPATTERN = re.compile('[a-z]+', re.I)\n")
    (tmp_path / "eager_probe.py").write_text("import re\nPATTERN = re.compile('[a-z]+', re.I)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_probe", "eager_probe"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    compile_before = re.compile
    with compiled_on_first_use("lazy_probe"):
        import eager_probe
        import lazy_probe
    assert re.compile is compile_before
    assert type(eager_probe.PATTERN) is re.Pattern
    assert type(lazy_probe.PATTERN) is LazyPattern
    assert "compiled" not in vars(lazy_probe.PATTERN)
    assert lazy_probe.PATTERN.fullmatch("AbC") and not lazy_probe.PATTERN.fullmatch("a1")
    assert lazy_probe.PATTERN.compiled == re.compile("[a-z]+", re.I)


def test_compile_is_restored_when_the_import_fails():
    compile_before = re.compile
    with pytest.raises(ModuleNotFoundError), compiled_on_first_use("no_such_module"):
        importlib.import_module("no_such_module")
    assert re.compile is compile_before


def test_a_probe_for_a_special_attribute_does_not_compile():
    pattern = LazyPattern("[a-z]+")
    assert not getattr(pattern, "__isabstractmethod__", False)  # as ABCMeta's class creation asks
    assert "compiled" not in vars(pattern)
    assert pattern.search("12ab").group() == "ab"
