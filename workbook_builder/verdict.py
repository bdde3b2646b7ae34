"""What a check found: one result per column, one report per sheet (plain data, no I/O).

Below audit (which fills them), audit_report (which prints them), annotate (which marks the
cells) and checker (which carries them out of the child process as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ColumnResult:
    name: str
    column: str  # letter
    ok: bool | None  # None: found but not checked (an input it needs is missing)
    first_wrong_row: int | None = None
    expected: float | None = None
    got: float | None = None
    rel_error: float | None = None
    when: str | None = None  # "given inputs" or "changed inputs"
    diagnosis: str | None = None
    wrong_rows: list[int] = field(default_factory=list)  # 1-based rows that disagree


@dataclass
class SheetReport:
    sheet: str
    header_row: int
    epochs: int
    eta: float | None
    eta_source: str
    columns: list[ColumnResult]
    missing: list[str]  # quantities of the network the sheet does not show
    notes: list[str] = field(default_factory=list)  # how columns and η were found

    @property
    def ok(self) -> bool:
        """Every quantity found, checked and right."""
        return not self.missing and all(c.ok is True for c in self.columns)

    @property
    def wrong(self) -> bool:
        return any(c.ok is False for c in self.columns)
