"""The check's report: text lines for people, JSON for programs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from workbook_builder.audit import SheetReport


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a value that is not a finite number becomes null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(path: Path, reports: list[SheetReport]) -> dict[str, Any]:
    report = {"file": str(path), "ok": all(r.ok for r in reports),
              "sheets": [{**asdict(r), "ok": r.ok} for r in reports]}
    return dict(_finite(report))


def _number(value: float | None, digits: int = 10) -> str:
    return f"{value:.{digits}g}" if value is not None and np.isfinite(value) else "no number"


def to_lines(reports: list[SheetReport]) -> list[str]:
    lines = []
    for r in reports:
        eta = f"{r.eta:.6g}" if r.eta is not None else "?"
        lines.append(f"sheet {r.sheet!r}: header in row {r.header_row}, {r.epochs} epochs, "
                     f"η = {eta} ({r.eta_source})")
        for c in r.columns:
            if c.ok and c.diagnosis:  # a quantity whose inputs the sheet lacks
                lines.append(f"  {c.name:<8} {c.column:>3}  {c.diagnosis}")
            elif c.ok:
                lines.append(f"  {c.name:<8} {c.column:>3}  ok")
            else:
                lines.append(f"  {c.name:<8} {c.column:>3}  WRONG from row {c.first_wrong_row} "
                             f"under the {c.when}: expected {_number(c.expected)}, got "
                             f"{_number(c.got)} (relative error {_number(c.rel_error, 2)})"
                             + (f"; {c.diagnosis}" if c.diagnosis else ""))
        if r.missing:
            lines.append(f"  not in the sheet (not checked): {', '.join(r.missing)}")
    wrong = [(r.sheet, c.name) for r in reports for c in r.columns if not c.ok]
    checked = sum(len(r.columns) for r in reports)
    lines.append(f"{'all right' if not wrong else 'WRONG'}: {checked - len(wrong)} of {checked} "
                 f"columns right in {len(reports)} sheet(s)"
                 + (": " + ", ".join(f"{s}!{n}" for s, n in wrong) if wrong else "")
                 + "; checked at the given and at changed inputs")
    return lines
