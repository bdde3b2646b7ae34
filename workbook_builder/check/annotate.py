"""An annotated copy of a checked workbook: wrong cells red with a note, and a "Check" sheet.

Runs in the limited child process (it parses the student's file). openpyxl rewrites the file:
formulas, typed values, formats and comments are kept; charts and images are not (openpyxl does
not read them back), and formulas lose their cached results, so Excel and LibreOffice
recalculate on opening. The "Check" sheet says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill

from workbook_builder.check.audit_report import to_lines
from workbook_builder.check.verdict import SheetReport
from workbook_builder.escape import cell as defused

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
        sheet.cell(k, 1, cell_text(line))
        if "WRONG" in line:
            sheet.cell(k, 1).font = Font(bold=True, color="FFC00000")
    sheet.column_dimensions["A"].width = CHECK_WIDTH
    fit_rows(sheet)
    one_page_wide(sheet)
    wb.active = 0
    wb.save(out)


#: the Check sheet's one column (characters): its lines wrap within one printed page's width
CHECK_WIDTH = 110
WRAP = Alignment(wrap_text=True, vertical="top")
GRADE_FONT = Font(bold=True)


def cell_text(line: str) -> str:
    """A report line as the Check sheet's text: a student's sheet or file name inside it may
    start like a formula (``=HYPERLINK(…)``), which openpyxl would store as one: defused with a
    leading ``'``, its controls escaped (escape.cell)."""
    return defused(line)


def fit_rows(sheet: Any) -> None:
    """Wrap each line of column A within the column and make its row tall enough (a
    spreadsheet does not grow a row for wrapped text that openpyxl wrote)."""
    for row in sheet.iter_rows(min_col=1, max_col=1):
        cell = row[0]
        if cell.value is None:
            continue
        cell.alignment = WRAP
        lines = max(1, -(-len(str(cell.value)) // (CHECK_WIDTH - 10)))  # a margin for wide
        sheet.row_dimensions[cell.row].height = LINE_POINTS * lines  # letters


LINE_POINTS = 15  # a line of the default 11-point font


def one_page_wide(sheet: Any) -> None:
    """Print the sheet one page wide (as many pages long as it takes), landscape A4."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def add_grade(path: str, lines: list[str]) -> bool:
    """The limited child's entry (checker.grade_annotated): write the grade's ``lines`` (the
    score, the points lost, the signals) at the top of an annotated copy's Check sheet,
    replacing the file whole."""
    target = Path(path)
    wb = openpyxl.load_workbook(target)
    sheet = next((ws for ws in wb.worksheets if ws.title.startswith(CHECK_SHEET)), None)
    if sheet is None:
        raise ValueError(f"{target.name} has no {CHECK_SHEET} sheet")
    sheet.insert_rows(2, len(lines) + 1)
    for k, line in enumerate(lines, start=2):
        cell = sheet.cell(k, 1, cell_text(line))
        if k == 2:
            cell.font = GRADE_FONT
    for row in list(sheet.row_dimensions):  # insert_rows moves cells, not row heights
        del sheet.row_dimensions[row]
    fit_rows(sheet)
    part = target.with_name(f".{target.name}.part")
    wb.save(part)
    os.replace(part, target)
    return True
