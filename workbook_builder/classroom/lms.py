"""A roster as the class's LMS gives it: a plain CSV with an ``id`` column, Moodle's grade
export or a Canvas gradebook export, read into the students and what the exports need back.

Moodle's grade export ("Export > Plain text file"): ``First name, Last name, ID number,
Institution, Department, Email address``, then one column per grade item
(``Assignment: Backprop (Real)``) and ``Last downloaded from this course``. The id is the
``ID number`` where every student has one, else the ``Email address`` (Moodle's import maps
either back to the user).

Canvas's gradebook export ("Export Entire Gradebook"): ``Student, ID, SIS User ID, SIS Login ID,
[Integration ID,] Section``, one column per assignment (``Backprop (123456)``), then the read-only
totals (``Current Score`` …); under the header a ``Points Possible`` row (and, in newer exports,
a ``Manual Posting`` row), and the course's ``Student, Test``. The id is Canvas's ``ID``: the
number its "Download Submissions" archive puts in every file name (``smithjane_1234_…``).

The roster's identity columns (a plain roster's every column) travel with the key (``key.csv``)
and come back out in the exports; what the exports need beyond the columns (which LMS, which
column is the id and which the grade, the points possible) is ``lms.json`` beside the key.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: Moodle's identity columns, in the order its export writes them
MOODLE_IDENTITY = ("First name", "Last name", "ID number", "Institution", "Department",
                   "Email address")
#: Canvas's identity columns (Integration ID only where the account uses it)
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
#: Canvas's read-only columns after the assignments (its import ignores them)
CANVAS_TOTALS = re.compile(r"(?:Current|Final|Unposted Current|Unposted Final) "
                           r"(?:Score|Points|Grade)|.* (?:Current|Final) (?:Score|Points)|"
                           r".*\((?:Current|Final) (?:Score|Points)\)|Override (?:Score|Grade)"
                           r"|Unposted Final Grade|Unposted Current Grade")
#: Canvas rows under the header that are no student
CANVAS_SPECIAL_ROWS = ("Points Possible", "Manual Posting")
CANVAS_ASSIGNMENT = re.compile(r".+ \(\d+\)")
CANVAS_TEST_STUDENT = "Student, Test"
#: the grade column an export writes when the roster named none
DEFAULT_GRADE_COLUMN = "Backprop workbook"
LMS_FILE = "lms.json"


class LmsError(ValueError):
    """An LMS file that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Lms:
    """What a roster from an LMS leaves for the exports."""

    kind: str  # "moodle", "canvas", or "plain"
    id_column: str  # the roster column the ids came from
    grade_column: str | None = None  # the assignment's column, where the roster had one
    points_possible: float | None = None  # Canvas's, for that column
    name_columns: tuple[str, ...] = ()  # what a folder of an LMS download names a student by

    def dump(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def load(cls, path: Path) -> Lms:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["kind"], data["id_column"], data.get("grade_column"),
                       data.get("points_possible"), tuple(data.get("name_columns") or ()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LmsError(f"{path}: not the lms.json that assign wrote ({exc})") from None


Rows = list[tuple[int, dict[str, str]]]


@dataclass(frozen=True)
class Roster:
    """A roster's students as rows (every column kept), which column is the id, and the LMS."""

    header: list[str]
    #: one per student: the spreadsheet row (the header is row 1) and header -> value, stripped
    rows: list[tuple[int, dict[str, str]]]
    lms: Lms


def kind_of(header: list[str]) -> str:
    """Which roster this header is: "canvas", "moodle" or "plain"."""
    names = set(header)
    if {"Student", "ID", "SIS Login ID", "Section"} <= names:
        return "canvas"
    if {"ID number", "Email address"} <= names and ("First name" in names
                                                     or "Last name" in names):
        return "moodle"
    return "plain"


def read(path: Path, header: list[str], rows: list[dict[str, str]],
         id_column: str | None = None) -> Roster:
    """The roster of a CSV already split into ``header`` and ``rows`` (roster.read_table);
    ``id_column`` names the column of the ids (an export in another language: "ID-Nummer")."""
    clean = [(k, {(h or "").strip(): (v or "").strip() for h, v in r.items() if h is not None})
             for k, r in enumerate(rows, start=2)]
    if id_column is not None:
        if id_column not in header:
            raise LmsError(f"{path}: no column {id_column!r} (--id-column); the header is "
                           f"{', '.join(repr(h) for h in header) or 'empty'}")
        if kind_of(header) == "plain":
            return _plain(header, clean, id_column)
        found = read(path, header, rows)  # Moodle's or Canvas's own rows and columns
        return replace(found, lms=replace(found.lms, id_column=id_column))
    kind = kind_of(header)
    if kind == "canvas":
        return _canvas(path, header, clean)
    if kind == "moodle":
        return _moodle(path, header, clean)
    id_column = next((h for h in header if h.lower() == "id"), None)
    if id_column is None:
        raise LmsError(f"{path}: no 'id' column (the header is "
                       f"{', '.join(repr(h) for h in header) or 'empty'}); add a column "
                       "headed id with one id per student, give the LMS's own export "
                       "(Moodle's grade export, a Canvas gradebook export), or name the "
                       "column with --id-column")
    return _plain(header, clean, id_column)


def _plain(header: list[str], rows: Rows, id_column: str) -> Roster:
    names = tuple(h for h in header if h.lower() in ("name", "full name", "student", "first name",
                                                     "last name", "surname", "given name"))
    return Roster(header, rows, Lms("plain", id_column, name_columns=names))


def _moodle(path: Path, header: list[str], rows: Rows) -> Roster:
    every_number = rows and all(r.get("ID number") for _, r in rows)
    id_column = "ID number" if every_number else "Email address"
    grades = [h for h in header if h.endswith("(Real)") or h.endswith("(Percentage)")
              or h.endswith("(Letter)")]
    grade = next((h for h in grades if h.startswith("Assignment:")), grades[0] if grades
                 else None)
    names = tuple(h for h in ("First name", "Last name") if h in header)
    return Roster(header, rows, Lms("moodle", id_column, grade, None, names))


def _canvas(path: Path, header: list[str], rows: Rows) -> Roster:
    points: dict[str, str] = {}
    students: Rows = []
    for k, row in rows:
        label = row.get("Student", "")
        if label in CANVAS_SPECIAL_ROWS or (not row.get("ID") and any(
                v in CANVAS_SPECIAL_ROWS for v in row.values())):
            if label == "Points Possible":  # Canvas's own rows, no student (Manual Posting
                points = row  # leaves the Student cell empty: its text is under assignments)
            continue
        if label == CANVAS_TEST_STUDENT:  # the course's test student (Student View)
            continue
        students.append((k, row))
    # an assignment's column is named with its id, "Backprop (123456)"; custom columns
    # ("Notes") and the read-only totals are not
    assignments = [h for h in header if h not in CANVAS_IDENTITY and CANVAS_ASSIGNMENT.fullmatch(h)
                   and not CANVAS_TOTALS.fullmatch(h)]
    grade = assignments[0] if len(assignments) == 1 else next(
        (h for h in assignments if "backprop" in h.lower()), None)
    possible = None
    if grade is not None and points.get(grade):
        try:
            possible = float(points[grade])
        except ValueError:
            possible = None
    lms = Lms("canvas", "ID", grade, possible, ("Student",))
    return Roster(header, students, lms)


def name_words(extra: dict[str, str], columns: tuple[str, ...]) -> tuple[str, ...]:
    """A student's name as lower-case words, first name first ("Smith, Jane" in Canvas's
    Student column too); empty where the roster has fewer than two."""
    words: list[str] = []
    for column in columns:
        value = extra.get(column, "")
        if column == "Student" and "," in value:  # Canvas: "Smith, Jane"
            last, _, first = value.partition(",")
            value = f"{first} {last}"
        words += [w.lower() for w in re.findall(r"[^\W_]+", unicodedata.normalize("NFC", value))]
    return tuple(words) if len(words) >= 2 else ()


def name_in(words: tuple[str, ...], path_words: set[str]) -> bool:
    """Does a path hold the name: each word ("Jane Smith_1234_assignsubmission_file_", as
    Moodle's download names a folder), or run together, last name first or not ("smithjane",
    as Canvas's download names a file)?"""
    if not words:
        return False
    return set(words) <= path_words or "".join(words) in path_words or \
        "".join(words[-1:] + words[:-1]) in path_words


def lms_path(key: Path) -> Path:
    return key.parent / LMS_FILE
