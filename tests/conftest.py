"""Shared fixtures: the default workbook is built once, the slow engines run once a session."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.course import traces
from workbook_builder.network.reference import Trace
from workbook_builder.network.spec import Run
from workbook_builder.sheet.writer import build

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def own_temporary_folder(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test its own temporary folder (TMPDIR, for it and its children): what a test
    inspects there ("no checker's workspace is left") is its own, never another run's."""
    folder = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


@pytest.fixture(scope="session")
def default_run() -> Run:
    return Run()


@pytest.fixture(scope="session")
def default_traces(default_run: Run) -> list[Trace]:
    return traces(default_run.network, default_run.learning_rates, default_run.epochs)


@pytest.fixture(scope="session")
def default_workbook(tmp_path_factory: pytest.TempPathFactory, default_run: Run) -> Path:
    """The default workbook, built fresh (named like the committed one)."""
    return build(default_run, tmp_path_factory.mktemp("book") / "backprop.xlsx")


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds WB_TEST_MARKER=marker: a test's own children, not
    another run's (children inherit the environment, so a checker outliving its parent shows)."""
    found = []
    needle = f"WB_TEST_MARKER={marker}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:  # gone, or not ours to read
                continue
    return found


#: runs ``python -m workbook_builder`` with Ctrl-C turned back into KeyboardInterrupt: a child
#: of a background job (``pytest ... &``) starts with SIGINT ignored, and Python then leaves it so
_INTERRUPTIBLE = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                  "runpy.run_module('workbook_builder', run_name='__main__', alter_sys=True)")


def cli(*argv: str) -> list[str]:
    """The command line ``python -m workbook_builder ARGV`` that SIGINT interrupts."""
    return [sys.executable, "-c", _INTERRUPTIBLE, *argv]


#: the process-limit tests (time limit, Ctrl-C, a killed parent) need a check that is still
#: running when the signal comes: the formulas engine, the path a check falls back to, takes
#: ~30 s on `slow_workbook` (2 cores); the own evaluator finishes it in ~3 s
SLOW_ENGINE = {"WORKBOOK_BUILDER_ENGINE": "formulas"}


def slow_workbook(path: Path) -> Path:
    """A builder workbook of 24 rate sheets (~9,000 formulas the check recomputes)."""
    return build(Run(epochs=20, learning_rates=tuple(round(0.05 * k, 2) for k in range(1, 25))),
                 path)
