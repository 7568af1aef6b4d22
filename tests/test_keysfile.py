"""The keys file's errors name the file, the key and the problem in words, with what is
valid; `serve` and `check`-style callers print them as they are."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from mockserver import cli
from mockserver.fixtures import FixtureError
from mockserver.keysfile import load_keys


@pytest.mark.parametrize("text,message", [
    ("developers: {ci: {permissions: [ReadAl]}}",
     'developers: developer key "ci": permissions: "ReadAl" is not a permission; did you mean '
     "ReadAll? valid: ReadAll, AllOthers"),
    ("developers: {ci: {permissions: ReadAll}}",
     'developers: developer key "ci": permissions must be a list such as [ReadAll] or '
     '[ReadAll, AllOthers], not "ReadAll"'),
    ("developers: {ci: {disabled: yes}}",
     'developers: developer key "ci": disabled: "yes" is not "true" or "false"'),
    ("developers: {ci: {permisions: [ReadAll]}}",
     'developers: developer key "ci": "permisions" is not a setting of a developer key; '
     "did you mean permissions? valid: permissions, disabled"),
    ("customers: {office: {version: 24.x}}",
     'customers: customer key "office": version "24.x" is not an Open Dental version: write '
     'it as a quoted text such as "24.4.22"'),
    ("customers: {office: {version: 24.1}}",
     'customers: customer key "office": version 24.1 is not an Open Dental version'),
    ("customers: [office]", 'customers must be a mapping of each key to its settings, not ["office"]'),
    ("strict: on", 'strict: "on" is not "true" or "false"'),
    ("developer: {}", '"developer" is not a section of a keys file; did you mean developers? '
                      "valid: developers, customers, strict"),
])
def test_keys_file_errors_name_the_file_key_and_problem(tmp_path, text, message):
    path = tmp_path / "keys.yaml"
    path.write_text(text + "\n")
    with pytest.raises(FixtureError) as caught:
        load_keys(str(path))
    assert str(caught.value).startswith(f"{path}: {message}")


def test_serve_prints_the_keys_file_error_and_exits_1(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("developers: {ci: {permissions: [ReadAl]}}\n")
    result = CliRunner().invoke(cli.main, ["serve", "--keys", str(path), "--port", "0"])
    assert result.exit_code == 1
    assert f'{path}: developers: developer key "ci": permissions: "ReadAl"' in result.output


def test_a_valid_keys_file_reads_as_before():
    policy = load_keys({"developers": {"d": {"permissions": ["ReadAll"], "disabled": "true"}},
                        "customers": {"c": {"version": "23.1.5"}, "e": None}, "strict": "true"})
    assert policy.developers == {"d": frozenset({"ReadAll"})}
    assert policy.customers == {"c": "23.1.5", "e": None}
    assert policy.disabled == {("Developer", "d")} and policy.strict
