"""Check a workbook in a limited child process: the child's entry and the parent's call.

The child runs ``audit`` (and, when asked, writes the annotated copy); the parent waits with
a deadline and a memory cap (isolation.py) and gets the reports back as JSON.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workbook_builder import isolation
from workbook_builder.audit import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, audit
from workbook_builder.files import atomic_path
from workbook_builder.foreign import AuditError
from workbook_builder.verdict import ColumnResult, SheetReport

#: what the child reports as a refusal (one line for the user) rather than a crash
REFUSED = (AuditError,)


def audit_json(path: str, workdir: str, progress: bool, annotated: str | None = None,
               every_row: bool = False) -> list[dict[str, Any]]:
    """The child process's entry: ``audit`` with JSON in and out; with ``annotated``, also
    write the annotated copy there (inside the child, since it parses the file again)."""
    def say(text: str) -> None:
        print(f"python -m workbook_builder check: {text}", file=sys.stderr, flush=True)

    reports = audit(Path(path), Path(workdir), say if progress else None, every_row)
    if annotated is not None:
        from workbook_builder.annotate import annotate

        annotate(Path(path), reports, Path(annotated))
    return [asdict(r) for r in reports]


def check_isolated(path: Path, timeout: float = DEFAULT_TIMEOUT,
                   max_memory_mb: int = DEFAULT_MEMORY_MB, progress: bool = False,
                   annotate_to: Path | None = None,
                   started: Callable[[Any], None] | None = None,
                   every_row: bool = False) -> list[SheetReport]:
    """``audit`` in a child process that is killed at ``timeout`` seconds and cannot use more
    than ``max_memory_mb``; nothing it writes outlives the call.

    Args:
        annotate_to: also write an annotated copy there (atomically).
        started: told the child process as it starts (the class mode stops them all on Ctrl-C).

    Raises:
        AuditError: the file cannot be checked, or a limit was reached (the message says which).
    """
    with isolation.workspace("workbook-builder-check-") as folder:
        annotated = folder / "annotated.xlsx"
        try:
            answer = isolation.run_limited(
                "workbook_builder.checker:audit_json",
                {"path": str(path.resolve()), "workdir": str(folder), "progress": progress,
                 "annotated": str(annotated) if annotate_to is not None else None,
                 "every_row": every_row},
                timeout=timeout, max_memory_mb=max_memory_mb, folder=folder, started=started)
        except (isolation.LimitError, isolation.RefusedError) as exc:
            raise AuditError(str(exc)) from None
        if annotate_to is not None:
            with atomic_path(annotate_to) as part:
                shutil.copyfile(annotated, part)
    return [SheetReport(**{**r, "columns": [ColumnResult(**c) for c in r["columns"]]})
            for r in answer]
