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
    #: right where judged, but from this row on (at ``when``) an input was not a number, so
    #: the column was not checked whole: it earns no points (points.py)
    unjudged_from: int | None = None
    #: right given its inputs, some of which are wrong columns (their names): the mistake is
    #: charged once, there; this column keeps its points (follow-through)
    given_wrong: list[str] = field(default_factory=list)


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
    #: mistakes that belong to no checked column (a helper column that calls RAND): WRONG
    findings: list[str] = field(default_factory=list)
    #: why the numbers checked may not be what Excel shows (precision as displayed): the
    #: sheet cannot be "all right"
    caveats: list[str] = field(default_factory=list)
    #: what a grader should know and the numbers cannot say (the file was made by the
    #: builder itself); they do not change the verdict
    signals: list[str] = field(default_factory=list)
    #: the numbers the sheet was checked against, as found in it (inputs, targets, initial
    #: weights, η); None where a value is not a number
    against: dict[str, float | None] = field(default_factory=dict)
    #: the id a starter workbook carries ("student id" label), to match a file to a student
    student_id: str | None = None
    #: what independent work does not share, compared across a class (copies.py): the file's
    #: hash, its metadata, a hash of every table cell, the wrong columns' formulas in R1C1
    fingerprint: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every quantity found, checked and right, and nothing else found wrong."""
        return not self.missing and not self.findings and not self.caveats and \
            all(c.ok is True for c in self.columns)

    @property
    def wrong(self) -> bool:
        return bool(self.findings) or any(c.ok is False for c in self.columns)
