"""The documentation: the MkDocs site builds with no warning (every link and picture resolves),
the README stays a landing page, and what the commands' --help prints is in the docs: every
long option in docs/reference.md, every percentage figure somewhere in docs/."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = REPO / "docs"
#: the commands, as `python -m MODULE [COMMAND] --help` runs them
COMMANDS = {
    "build": ("workbook_builder",),
    "check": ("workbook_builder", "check"),
    "assign": ("workbook_builder", "assign"),
    "merge": ("workbook_builder", "merge"),
    "autograder gradescope": ("workbook_builder", "autograder", "gradescope"),
    "autograder run": ("workbook_builder", "autograder", "run"),
    "mnist-train": ("mnist.train",),
    "mnist-evaluate": ("mnist.evaluate",),
}
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
PERCENTAGE = re.compile(r"\d+\.\d+ ?%")
IN_CI = os.environ.get("CI") == "true"


def needs(module: str, what: str) -> pytest.MarkDecorator:
    """Skip where ``module`` is not installed, except in CI (CI=true), where that fails."""
    return pytest.mark.skipif(importlib.util.find_spec(module) is None and not IN_CI,
                              reason=f"{module} not installed ({what}); CI=true makes this a "
                              "failure")


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def help_text(command: str) -> str:
    """The command's --help, unwrapped wide so that no figure is split across lines."""
    proc = subprocess.run([sys.executable, "-m", *COMMANDS[command], "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs("mkdocs", "pip install -e '.[docs]'")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(site)], cwd=REPO, capture_output=True, text=True, timeout=540,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    for page in ("index.html", "student/index.html", "teacher/index.html", "grader/index.html",
                 "mnist/index.html", "reference/index.html", "proofs/index.html",
                 "development/index.html"):
        assert (site / page).is_file(), page
    # generated/ joins the site (docs/hooks.py); the hook itself does not
    assert (site / "generated" / "lr-0.5-forward.png").is_file()
    assert (site / "generated" / "backprop.xlsx").is_file()
    assert not (site / "hooks.py").exists()
    assert "generated/lr-0.5-weights.png" in (site / "student" / "index.html").read_text(
        encoding="utf-8")


def test_readme_is_a_landing_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 160
    for page in ("student", "teacher", "grader", "mnist"):
        assert f"(docs/{page}.md)" in readme, page
    assert "(CHANGELOG.md)" in readme and (REPO / "CHANGELOG.md").is_file()
    assert "mkdocs serve" in readme and "mkdocs build" in readme


@pytest.mark.parametrize("command", [
    *(c for c in COMMANDS if not c.startswith("mnist")),
    *(pytest.param(c, marks=needs("torch", "the [mnist] extra"))
      for c in COMMANDS if c.startswith("mnist")),
])
def test_help_is_documented(command: str) -> None:
    text = help_text(command)
    options = set(LONG_OPTION.findall(text))
    assert options, text
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    missing = sorted(o for o in options
                     if not re.search(re.escape(o) + r"(?![\w-])", reference))
    assert not missing, f"{command} --help options not in docs/reference.md: {missing}"
    docs = docs_text()
    figures = set(PERCENTAGE.findall(text))
    absent = sorted(f for f in figures if f not in docs)
    assert not absent, f"{command} --help figures not in docs/: {absent}"
