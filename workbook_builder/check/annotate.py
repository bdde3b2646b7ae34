"""An annotated copy of a checked workbook: wrong cells red with a note, and a "Check" sheet.

Runs in the limited child process (it parses the student's file). openpyxl rewrites the file:
formulas, typed values, formats and comments are kept; charts and images are not (openpyxl does
not read them back), and formulas lose their cached results, so Excel and LibreOffice
recalculate on opening. The "Check" sheet says so.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from workbook_builder.check.audit_report import to_lines
from workbook_builder.check.verdict import SheetReport

CHECK_SHEET = "Check"
WRONG_FILL = PatternFill(fill_type="solid", start_color="FFFF9999", end_color="FFFF9999")
LOST = ("This copy was written by python -m workbook_builder check --annotate. Wrong cells are "
        "filled red and carry a note; checked and right cells are as they were. Kept: formulas, "
        "typed values, formats. Not kept: charts and images; formulas recalculate on opening.")


def annotate(source: Path, reports: list[SheetReport], out: Path) -> None:
    """Write ``source`` with the wrong cells of ``reports`` marked, and a Check sheet, to
    ``out`` (the caller moves it into place atomically)."""
    wb = openpyxl.load_workbook(source)
    for report in reports:
        ws = wb[report.sheet]
        for c in report.columns:
            if c.ok is not False:
                continue
            where, letters = ws, c.column
            if "!" in letters:  # an input on another sheet (the Network sheet's examples)
                title, _, letters = letters.rpartition("!")
                if title not in wb.sheetnames:
                    continue
                where = wb[title]
            for k, row in enumerate(c.wrong_rows):
                cell = where[f"{letters}{row}"]
                cell.fill = WRONG_FILL
                if k == 0:
                    text = (f"WRONG ({c.name})" + (
                        f" under the {c.when}: expected {c.expected:.10g}, got "
                        f"{c.got if c.got is None else f'{c.got:.10g}'}"
                        if c.expected is not None else "")
                            + (f". {c.diagnosis}" if c.diagnosis else "")
                            + (f". Rows {c.wrong_rows[0]}-{c.wrong_rows[-1]} of this column "
                               "are marked." if len(c.wrong_rows) > 1 else ""))
                    cell.comment = Comment(text, "check", width=360, height=140)
    name = CHECK_SHEET
    while name in wb.sheetnames:
        name += "_"
    sheet = wb.create_sheet(name, 0)
    sheet["A1"] = LOST
    sheet["A1"].font = Font(italic=True)
    for k, line in enumerate(to_lines(reports), start=3):
        sheet.cell(k, 1, line)
        if "WRONG" in line:
            sheet.cell(k, 1).font = Font(bold=True, color="FFC00000")
    sheet.column_dimensions["A"].width = 160
    wb.active = 0
    wb.save(out)
