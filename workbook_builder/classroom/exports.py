"""A class's grades in an LMS's own import format: Moodle's CSV grade import and Canvas's
gradebook import, one row per roster student, in roster order, with the roster's columns.

Moodle (Grades > Import > CSV file): a header, an identity column that its import maps to the
user (``ID number`` or ``Email address``), the grade item's column and its feedback column
(``Assignment: Backprop (Real)`` and ``Assignment: Backprop (Feedback)``, the names Moodle's own
export gives them, so its import matches them). Canvas (Gradebook > Import): ``Student, ID, SIS
User ID, SIS Login ID, [Integration ID,] Section`` and the assignment's column
(``Backprop (123456)``), under the header a ``Points Possible`` row, as Canvas's export writes
them; Canvas's import takes no comments, so the feedback stays in ``--csv``.

A score is written in the assignment's points (``out_of``): Canvas's points possible where the
roster gave them, else the rubric's total. A student with no score (no file, or one that could
not be checked) gets an empty grade, which both imports leave as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from workbook_builder.classroom.batch import Row
from workbook_builder.classroom.lms import CANVAS_IDENTITY, DEFAULT_GRADE_COLUMN, MOODLE_IDENTITY
from workbook_builder.classroom.roster import Key
from workbook_builder.escape import cell, printable
from workbook_builder.files import atomic_path

FORMATS = ("moodle", "canvas")
#: columns the imports match users by: written as they are (a ' before a leading - or + would
#: match nobody); every other text is defused against formulas (escape.cell)
IDENTIFIERS = ("ID", "SIS User ID", "SIS Login ID", "Integration ID", "ID number",
               "Email address")
NOT_GRADED = "not graded: "  # submissions.py: a student's older file


class ExportError(ValueError):
    """An export that cannot be written from this key; the message says what to do."""


def graded_rows(rows: Sequence[Row], key: Key) -> dict[str, Row]:
    """Each roster student's graded row (the newest of several files; the 'no submission' row
    of a student with none)."""
    out: dict[str, Row] = {}
    for r in rows:
        if r.student in key and r.student not in out and \
                not any(s.startswith(NOT_GRADED) for s in r.signals):
            out[r.student] = r
    return out


def points(row: Row | None, rubric_total: float, out_of: float) -> str:
    if row is None or row.score is None or rubric_total <= 0:
        return ""
    return number(row.score / rubric_total * out_of)


def number(value: float) -> str:
    """Points to the hundredth, as typed: 97.5, 100, 1234.56 (``:g`` would cut 12345.67)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def default_out_of(key: Key, rubric_total: float) -> float:
    if key.lms is not None and key.lms.kind == "canvas" and key.lms.points_possible:
        return key.lms.points_possible
    return rubric_total


def moodle(rows: Sequence[Row], key: Key, rubric_total: float, out_of: float
           ) -> list[list[str]]:
    """Moodle's CSV grade import: identity columns, the grade, the feedback."""
    lms = key.lms
    if lms is not None and lms.kind == "moodle":
        identity = [c for c in MOODLE_IDENTITY if c in key.columns]
        grade = lms.grade_column or DEFAULT_GRADE_COLUMN
        carried = [c for c in key.columns if c not in identity and not _moodle_grade(c)]
        ids: list[str] = []
    else:  # a plain roster: the id is what Moodle calls the ID number
        identity, ids = ["ID number"], ["ID number"]
        grade = DEFAULT_GRADE_COLUMN
        carried = [c for c in key.columns if c != "ID number"]
    feedback = (grade.removesuffix(" (Real)") if grade.endswith(" (Real)") else grade) \
        + " (Feedback)"
    graded = graded_rows(rows, key)
    table = [[*identity, *carried, grade, feedback]]
    for sid in key:
        extra = key.extra.get(sid, {})
        row = graded.get(sid)
        table.append([*(sid if c in ids else _text(c, extra) for c in identity),
                      *(cell(extra.get(c, "")) for c in carried),
                      points(row, rubric_total, out_of),
                      cell(row.feedback if row is not None else "no submission")])
    return table


def _text(column: str, extra: dict[str, str]) -> str:
    value = extra.get(column, "")
    return printable(value) if column in IDENTIFIERS else cell(value)


def _moodle_grade(column: str) -> bool:
    """A column of Moodle's export that holds grades or dates, not who the student is."""
    return column.endswith(("(Real)", "(Percentage)", "(Letter)", "(Feedback)")) or \
        column.startswith("Last downloaded from")


def validate(kind: str, key: Key) -> None:
    """Refuse, before any file is checked, an export this key cannot give."""
    if kind == "canvas" and (key.lms is None or key.lms.kind != "canvas"
                             or "ID" not in key.columns):
        raise ExportError("--export canvas needs a key made from a Canvas gradebook export "
                          "(Canvas matches its import by Student, ID, SIS User ID, SIS Login "
                          "ID and Section): run assign on the export (Grades > Export), or "
                          "use --csv")


def canvas(rows: Sequence[Row], key: Key, rubric_total: float, out_of: float
           ) -> list[list[str]]:
    """Canvas's gradebook import: its identity columns, the assignment, Points Possible."""
    validate("canvas", key)
    assert key.lms is not None
    identity = [c for c in CANVAS_IDENTITY if c in key.columns]
    grade = key.lms.grade_column or DEFAULT_GRADE_COLUMN
    graded = graded_rows(rows, key)
    table = [[*identity, grade],
             ["Points Possible", *([""] * (len(identity) - 1)), number(out_of)]]
    for sid in key:
        extra = key.extra.get(sid, {})
        table.append([*(_text(c, extra) for c in identity),
                      points(graded.get(sid), rubric_total, out_of)])
    return table


def write(kind: str, target: Path, rows: Sequence[Row], key: Key, rubric_total: float,
          out_of: float | None = None) -> int:
    """Write the ``kind`` export to ``target`` (whole or not at all); returns its students."""
    scale = out_of if out_of is not None else default_out_of(key, rubric_total)
    table = (moodle if kind == "moodle" else canvas)(rows, key, rubric_total, scale)
    with atomic_path(target) as part, part.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(table)
    return len(key)


def unmatched(rows: Sequence[Row]) -> list[str]:
    """The files of the table that match no roster student (they are in no export)."""
    return [r.file for r in rows if r.file and not r.student]
