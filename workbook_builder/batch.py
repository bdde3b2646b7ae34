"""Check a whole class: many workbooks, each in its own limited child process, several at once.

Only the waiting happens in threads here; every workbook is opened and recomputed in its own
child process (isolation.py), so one broken or hostile file costs one row of the table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from workbook_builder.audit_report import ALL_RIGHT, CANNOT_CHECK, INCOMPLETE, WRONG, status
from workbook_builder.checker import check_isolated
from workbook_builder.foreign import AuditError
from workbook_builder.verdict import SheetReport

#: what `check` picks up in a folder (refused ones get their row with the reason)
SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
VERDICT = {ALL_RIGHT: "all right", WRONG: "WRONG", INCOMPLETE: "incomplete",
           CANNOT_CHECK: "cannot check"}
#: the exit status of a class is its worst file's: cannot check > wrong > incomplete > right
SEVERITY = {ALL_RIGHT: 0, INCOMPLETE: 1, WRONG: 2, CANNOT_CHECK: 3}


@dataclass
class Row:
    """One file's line of the class table."""

    file: str
    status: int
    seconds: float
    wrong: list[str] = field(default_factory=list)  # "sheet!quantity: diagnosis"
    not_checked: list[str] = field(default_factory=list)
    error: str | None = None  # why it could not be checked
    reports: list[SheetReport] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return VERDICT[self.status]


def collect(paths: Iterable[Path]) -> list[Path]:
    """The files to check: each file given, and the workbooks in each folder given (sorted,
    not recursive; hidden and Office lock files skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES
                            and p.is_file() and not p.name.startswith((".", "~$")))
        else:
            files.append(path)
    return files


def annotated_name(folder: Path, source: Path) -> Path:
    return folder / f"{source.stem}.checked.xlsx"


def row_for(path: Path, timeout: float, max_memory_mb: int, annotate_dir: Path | None,
            started: Callable[[subprocess.Popen[bytes]], None] | None,
            every_row: bool = False) -> Row:
    began = time.perf_counter()
    try:
        reports = check_isolated(path, timeout, max_memory_mb, annotate_to=None if
                                 annotate_dir is None else annotated_name(annotate_dir, path),
                                 started=started, every_row=every_row)
    except AuditError as exc:
        return Row(str(path), CANNOT_CHECK, time.perf_counter() - began,
                   error=str(exc).replace("\n", " "))
    return Row(
        str(path), status(reports), time.perf_counter() - began,
        wrong=[f"{r.sheet}!{c.name}" + (f": {c.diagnosis}" if c.diagnosis else "")
               for r in reports for c in r.columns if c.ok is False],
        not_checked=[f"{r.sheet}!{c.name}" for r in reports for c in r.columns if c.ok is None]
        + [f"{r.sheet}!{n}" for r in reports for n in r.missing],
        reports=reports,
    )


def check_all(files: list[Path], jobs: int, timeout: float, max_memory_mb: int,
              annotate_dir: Path | None = None,
              done: Callable[[Row], None] | None = None, every_row: bool = False) -> list[Row]:
    """Every file checked, ``jobs`` at a time, rows in the order of ``files``.

    On Ctrl-C every running checker is killed before KeyboardInterrupt goes on.
    """
    running: set[subprocess.Popen[bytes]] = set()
    lock = threading.Lock()

    def started(proc: subprocess.Popen[bytes]) -> None:
        with lock:
            running.add(proc)

    rows: dict[Path, Row] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(row_for, f, timeout, max_memory_mb, annotate_dir, started,
                               every_row): f for f in files}
        for future in as_completed(futures):
            row = future.result()
            rows[futures[future]] = row
            if done is not None:
                done(row)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        pool.shutdown(wait=True)
    return [rows[f] for f in files]


def worst(rows: list[Row]) -> int:
    return max((r.status for r in rows), key=SEVERITY.__getitem__, default=ALL_RIGHT)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[Row]) -> list[str]:
    """The class table for people (and READMEs)."""
    lines = ["| file | verdict | wrong (diagnosis) | not found or not checked | seconds |",
             "| --- | --- | --- | --- | ---: |"]
    for r in rows:
        wrong = "; ".join(r.wrong) if r.wrong else (r.error or "")
        lines.append(f"| {_cell(Path(r.file).name)} | {r.verdict} | {_cell(wrong)} | "
                     f"{_cell(', '.join(r.not_checked))} | {r.seconds:.1f} |")
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICT.values()}
    lines.append("")
    lines.append(f"{len(rows)} file(s): " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return lines


CSV_FIELDS = ("file", "verdict", "exit_status", "wrong", "not_checked", "error", "seconds")


def csv_rows(rows: list[Row]) -> list[dict[str, object]]:
    return [{"file": r.file, "verdict": r.verdict, "exit_status": r.status,
             "wrong": "; ".join(r.wrong), "not_checked": "; ".join(r.not_checked),
             "error": r.error or "", "seconds": round(r.seconds, 2)} for r in rows]
