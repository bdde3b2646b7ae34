"""The check's report: text lines for people, JSON for programs."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workbook_builder.check.verdict import SheetReport


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a value that is not a finite number becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


#: the check's exit statuses (documented in the README and `check --help`)
#: a file's exit status; 2 is a usage error (bad options, an output that cannot be written),
#: refused before any file is read, never a file's verdict
ALL_RIGHT, WRONG, INCOMPLETE, CANNOT_CHECK = 0, 1, 3, 4


def status(reports: list[SheetReport]) -> int:
    """0: every quantity found, checked and right; 1: some column wrong; 3: what was found is
    right, but some quantities were not found or could not be checked."""
    if any(r.wrong for r in reports):
        return WRONG
    return ALL_RIGHT if all(r.ok for r in reports) else INCOMPLETE


VERDICTS = {ALL_RIGHT: "all right", WRONG: "WRONG", INCOMPLETE: "INCOMPLETE"}


def to_json(path: Path, reports: list[SheetReport]) -> dict[str, Any]:
    code = status(reports)
    report = {"file": str(path), "ok": code == ALL_RIGHT, "verdict": VERDICTS[code],
              "exit_status": code,
              "sheets": [{**asdict(r), "ok": r.ok} for r in reports]}
    return dict(_finite(report))


def _number(value: float | None, digits: int = 10) -> str:
    return f"{value:.{digits}g}" if value is not None and math.isfinite(value) else "no number"


def to_lines(reports: list[SheetReport]) -> list[str]:
    lines = []
    for r in reports:
        eta = f"{r.eta:.6g}" if r.eta is not None else "?"
        lines.append(f"sheet {r.sheet!r}: header in row {r.header_row}, {r.epochs} epochs, "
                     f"η = {eta} ({r.eta_source})")
        lines.extend(f"  note: {note}" for note in r.notes)
        lines.extend(f"  SIGNAL: {signal}" for signal in r.signals)
        if r.against:
            lines.append("  checked against the numbers it holds: " + ", ".join(
                f"{name} = {_number(value, 6)}" for name, value in r.against.items()))
        lines.extend(f"  WRONG: {finding}" for finding in r.findings)
        lines.extend(f"  NOT CHECKED: {caveat}" for caveat in r.caveats)
        for c in r.columns:
            if c.ok is None:
                lines.append(f"  {c.name:<8} {c.column:>3}  {c.diagnosis}")
            elif c.ok:
                lines.append(f"  {c.name:<8} {c.column:>3}  ok"
                             + (f" (right given wrong {', '.join(c.given_wrong)})"
                                if c.given_wrong else "")
                             + (f": {c.diagnosis}" if c.diagnosis else ""))
            elif c.expected is None:  # no number to compare: the diagnosis says why
                lines.append(f"  {c.name:<8} {c.column:>3}  WRONG in row {c.first_wrong_row}: "
                             f"{c.diagnosis}")
            else:
                lines.append(f"  {c.name:<8} {c.column:>3}  WRONG from row {c.first_wrong_row} "
                             f"under the {c.when}: expected {_number(c.expected)}, got "
                             f"{_number(c.got)} (relative error {_number(c.rel_error, 2)})"
                             + (f"; {c.diagnosis}" if c.diagnosis else ""))
        if r.missing:
            lines.append(f"  not in the sheet (not checked): {', '.join(r.missing)}")
    wrong = [f"{r.sheet}!{c.name}" for r in reports for c in r.columns if c.ok is False]
    wrong += [f"{r.sheet}: {finding}" for r in reports for finding in r.findings]
    unchecked = [f"{r.sheet}!{c.name}" for r in reports for c in r.columns if c.ok is None]
    missing = [f"{r.sheet}!{n}" for r in reports for n in r.missing]
    right = sum(c.ok is True for r in reports for c in r.columns)
    total = right + len(wrong) + len(unchecked) + len(missing)
    line = (f"{VERDICTS[status(reports)]}: {right} of {total} quantities checked and right in "
            f"{len(reports)} sheet(s)")
    if wrong:
        line += "; wrong: " + ", ".join(wrong)
    if unchecked or missing:
        line += "; not checked: " + ", ".join(unchecked + missing)
    if any(r.caveats for r in reports):
        line += "; not checked as Excel computes it (see above)"
    lines.append(line + "; checked at the given and at changed inputs")
    return lines
