"""The README and docs/: short README, every reference page linked and well formed, and the
set-up commands a new machine runs exactly as CI runs them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = ("fidelity", "fixtures", "keys", "control-api", "pytest-plugin",
         "reliability-and-security", "cluster", "conformance", "performance", "record-and-verify")
SERVE = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/mockserver serve"
TEST = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")  # relative markdown links to .md files
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_short():
    assert len(readme().splitlines()) < 250


def test_readme_links_every_docs_page():
    linked = set(LINK.findall(readme()))
    assert {f"docs/{page}.md" for page in PAGES} <= linked
    assert {f"docs/{p.name}" for p in DOCS.glob("*.md")} <= linked  # no page left unlinked


@pytest.mark.parametrize("source", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_every_linked_file_exists(source):
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (source.parent / target).is_file(), f"{source.name} links {target}"


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_opens_with_a_heading_and_a_paragraph(page):
    lines = (DOCS / f"{page}.md").read_text(encoding="utf-8").splitlines()
    assert re.match(r"# \S", lines[0]), "the first line is a level-1 heading"
    assert lines[1] == ""
    # then a paragraph of prose: what a user can do with the page
    assert lines[2] and not re.match(r"[#|<>]|```|[-*] |\d+\. ", lines[2]), lines[2]


def test_readme_has_exactly_the_two_set_up_commands():
    commands = [line.strip() for block in FENCE.findall(readme()) for line in block.splitlines()
                if line.strip().startswith("python3 -m venv")]
    assert commands == [SERVE, TEST]


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST in ci


def test_fidelity_keeps_a_source_for_every_rule():
    text = (DOCS / "fidelity.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 57
    for row in rows:
        source = row.rstrip(" |").rsplit(" | ", 1)[-1]
        assert re.search(r"\[doc\]|\[src\]|\(decided\)", source), row


def test_performance_leaves_the_latest_figures_to_the_bench_results():
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert "## Latest figures" in text and "bench/results/" in text
