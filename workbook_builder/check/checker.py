"""Check a workbook in a limited child process: the child's entry and the parent's call.

The child runs ``audit`` (and, when asked, writes the annotated copy); the parent waits with
a deadline and a memory cap (isolation.py) and gets the reports back as JSON. Any way the child
fails — no answer, a garbled one, one of the wrong shape — is "cannot check", never a verdict.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workbook_builder import isolation
from workbook_builder.check.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    MAX_BYTES,
    AuditError,
)
from workbook_builder.check.verdict import ColumnResult, SheetReport
from workbook_builder.files import atomic_path

#: what the child reports as a refusal (one line for the user) rather than a crash
REFUSED = (AuditError,)
#: the child's entry (a test points it at a misbehaving one)
ENTRY = "workbook_builder.check.checker:audit_json"
#: the least --max-memory: importing numpy, openpyxl and all of formulas' functions maps 275 MB
#: of address space (measured, VmPeak), and checking the smallest table needs 350-400 MB; with
#: less, the engine's lazy imports fail and are retried until the deadline (measured at 200 MB)
#: formats LibreOffice converts to .xlsx before the check
CONVERTED = (".ods", ".xls")


def _readable(source: Path, workdir: Path) -> tuple[Path, str | None]:
    """The file to audit: ``source`` itself, or LibreOffice's .xlsx copy of an .ods or .xls
    (converted here, in the limited child: a hostile file meets LibreOffice under the same
    deadline and memory cap), with a note saying so."""
    kind = source.suffix.lower()
    if kind not in CONVERTED:
        return source, None
    from workbook_builder.sheet.render import RenderError, to_xlsx

    if not source.is_file():
        raise AuditError(f"{source}: no such file")
    if source.stat().st_size > MAX_BYTES:
        raise AuditError(f"{source} is {source.stat().st_size / 1e6:.0f} MB; the limit is "
                         f"{MAX_BYTES / 1e6:.0f} MB")
    folder = workdir / "converted"
    folder.mkdir()
    copy = folder / f"student{kind}"  # LibreOffice never sees the student's file name
    shutil.copyfile(source, copy)
    try:
        converted = to_xlsx(copy, folder)
    except RenderError as exc:
        raise AuditError(f"{source}: a {kind} file is converted to .xlsx by LibreOffice "
                         f"before the check, which failed: {exc}") from None
    return converted, f"converted from {kind} by LibreOffice; the check read its .xlsx copy"


def audit_json(path: str, workdir: str, progress: bool, annotated: str | None = None,
               every_row: bool = False, network: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
    """The child process's entry: ``audit`` with JSON in and out; with ``annotated``, also
    write the annotated copy there (inside the child, since it parses the file again)."""
    from workbook_builder.check.audit import audit  # the child's work: its libraries here

    def say(text: str) -> None:
        print(f"python -m workbook_builder check: {text}", file=sys.stderr, flush=True)

    source = Path(path)
    readable, note = _readable(source, Path(workdir))
    try:
        reports = audit(readable, Path(workdir), say if progress else None, every_row, network)
    except AuditError as exc:  # name the student's file, not the converted copy
        raise AuditError(str(exc).replace(str(readable), str(source))) from None
    if note is not None:
        for report in reports:
            report.notes.insert(0, note)
    if annotated is not None:
        from workbook_builder.check.annotate import annotate

        annotate(readable, reports, Path(annotated))
    return [asdict(r) for r in reports]


GRADE_ENTRY = "workbook_builder.check.annotate:add_grade"


def grade_annotated(annotated: Path, lines: list[str], timeout: float, max_memory_mb: int,
                    pool: isolation.WorkerPool | None = None) -> None:
    """Write the grade's ``lines`` into an annotated copy's Check sheet, in a limited child (the
    copy holds the student's text) or one of ``pool``'s workers.

    Raises:
        AuditError: the child failed or reached a limit.
    """
    kwargs = {"path": str(annotated.resolve()), "lines": lines}
    try:
        with pool.task_folder() if pool is not None else \
                isolation.workspace("workbook-builder-check-") as folder:
            if pool is not None:
                pool.run(GRADE_ENTRY, kwargs, folder)
            else:
                isolation.run_limited(GRADE_ENTRY, kwargs, timeout=timeout,
                                      max_memory_mb=max_memory_mb, folder=folder)
    except (isolation.LimitError, isolation.RefusedError) as exc:
        raise AuditError(f"{annotated}: the grade could not be written into it ({exc})") \
            from None


def _reports(answer: Any) -> list[SheetReport]:
    """The child's JSON as reports; an answer of any other shape is the checker failing."""
    try:
        if not isinstance(answer, list):
            raise TypeError(f"a list was expected, not {type(answer).__name__}")
        return [SheetReport(**{**r, "columns": [ColumnResult(**c) for c in r["columns"]]})
                for r in answer]
    except (TypeError, KeyError, ValueError) as exc:
        raise AuditError(f"the checker's answer could not be read ({exc}); the file was not "
                         "checked") from None


def check_isolated(path: Path, timeout: float = DEFAULT_TIMEOUT,
                   max_memory_mb: int = DEFAULT_MEMORY_MB, progress: bool = False,
                   annotate_to: Path | None = None,
                   started: Callable[[Any], None] | None = None,
                   every_row: bool = False, network: dict[str, Any] | None = None,
                   pool: isolation.WorkerPool | None = None) -> list[SheetReport]:
    """``audit`` in a child process that is killed at ``timeout`` seconds and cannot use more
    than ``max_memory_mb``; nothing it writes outlives the call.

    Args:
        annotate_to: also write an annotated copy there (atomically).
        started: told the child process as it starts (the class mode stops them all on Ctrl-C).
        network: the network's fields (JSON: lists and numbers), see audit.audit.
        pool: check it by one of this pool's workers (a class), whose limits then hold
            instead of ``timeout`` and ``max_memory_mb``.

    Raises:
        AuditError: the file cannot be checked, a limit was reached, or the checker failed in
            any way (the message says which).
    """
    try:
        with pool.task_folder() if pool is not None else \
                isolation.workspace("workbook-builder-check-") as folder:
            annotated = folder / "annotated.xlsx"
            kwargs = {"path": str(path.resolve()), "workdir": str(folder), "progress": progress,
                      "annotated": str(annotated) if annotate_to is not None else None,
                      "every_row": every_row, "network": network}
            try:
                answer = pool.run(ENTRY, kwargs, folder) if pool is not None else \
                    isolation.run_limited(ENTRY, kwargs, timeout=timeout,
                                          max_memory_mb=max_memory_mb, folder=folder,
                                          started=started)
            except (isolation.LimitError, isolation.RefusedError) as exc:
                raise AuditError(str(exc)) from None
            reports = _reports(answer)
            if annotate_to is not None:
                if not annotated.is_file():
                    raise AuditError("the checker wrote no annotated copy; the file was not "
                                     "checked")
                with atomic_path(annotate_to) as part:
                    shutil.copyfile(annotated, part)
    except OSError as exc:  # the temporary folder full or gone, the annotated copy unwritable
        raise AuditError(f"{path} could not be checked: {exc.strerror or exc}"
                         + (f": {exc.filename}" if exc.filename else "")) from None
    return reports
