"""Grades for a class: each checked file matched to its student, its numbers compared with
that student's key, its points, the signals a grader should see, and one line of feedback.

Runs in the parent after the checks (the reports are plain data by then); copies.py compares
the files with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from workbook_builder.check.verdict import SheetReport
from workbook_builder.classroom import copies, points, roster


@dataclass
class Grade:
    student: str  # the roster id (or the starter's id cell without a roster), or ""
    score: float | None  # None: the file could not be checked
    out_of: float
    signals: list[str]  # for the grader
    feedback: str  # for the student: verdict, points, what is wrong


def grade(name: str, reports: list[SheetReport], verdict: str, wrong: list[str],
          error: str | None, key: dict[str, roster.Numbers] | None,
          rubric: tuple[points.Part, ...] = points.DEFAULT_RUBRIC) -> Grade:
    """One file's grade. ``name`` is its path under the folder given (LMS folder names hold
    the student's id)."""
    out_of = sum(p.points for p in rubric)
    signals = [s for r in reports[:1] for s in r.signals]
    cell_id = next((r.student_id for r in reports if r.student_id), None)
    student = cell_id or ""
    if key is not None:
        names = key.names() if isinstance(key, roster.Key) else None
        first = isinstance(key, roster.Key) and key.names_first
        by_name = _id_from_parts(name, set(key), names, first)
        if by_name and cell_id and cell_id != by_name and cell_id in key:
            signals.append(f"the file's name says student {by_name}, its student id cell "
                           f"says {cell_id}")
        student = by_name or (cell_id if cell_id in key else "")
        if not student:
            signals.append("no roster id in its name or its student id cell")
        if reports:
            signals += numbers_signals(reports[0].against, student, key)
    if error is not None or not reports:
        return Grade(student, None, out_of, signals,
                     f"could not be checked: {error or 'no table'}")
    score = points.score(reports, rubric)
    parts = [f"{verdict}: {score.points:g} of {out_of:g} points"]
    if wrong:
        parts.append("wrong: " + "; ".join(wrong))
    if score.lost:
        parts.append("points lost: " + "; ".join(score.lost))
    # the signals (other students' ids, copies) are for the grader, not the student's feedback
    return Grade(student, score.points, out_of, signals, " | ".join(parts))


def _id_from_parts(name: str, ids: set[str], names: dict[str, tuple[str, ...]] | None = None,
                   names_first: bool = False) -> str | None:
    """The id in a row's name (its path under the class folder: folders count as well as the
    file's name; a file given on its own: its name), else the one student's name in it."""
    root = PurePosixPath("/_class_")
    return roster.id_from_path(root / name, ids, root, names, names_first)


def numbers_signals(against: dict[str, float | None], student: str,
                    key: dict[str, roster.Numbers]) -> list[str]:
    """Whose numbers the sheet holds, when they are not its own student's."""
    if student:
        expected = _without_missing_eta(key[student].as_against(), against)
        if roster.same_numbers(against, expected):
            return []
        missing = [k for k in expected if against.get(k) is None]
        if missing:
            return [f"its numbers could not be compared with student {student}'s: the sheet "
                    f"has no number for {', '.join(missing)}"]
    owners = [sid for sid in roster.whose_numbers(against, key) if sid != student]
    if owners:
        return [f"uses the numbers of student {', '.join(owners)}"]
    return ["its numbers are nobody's in the roster" + (f" (not student {student}'s)"
                                                        if student else "")]


def _without_missing_eta(expected: dict[str, float], found: dict[str, float | None]
                         ) -> dict[str, float]:
    if found.get("η") is None:  # η inferred or typed: compare the rest
        expected = {k: v for k, v in expected.items() if k != "η"}
    return expected


def copy_signals(fingerprints: dict[str, dict[str, str]],
                 students: dict[str, str] | None = None,
                 handed_out: list[dict[str, str]] | None = None) -> dict[str, list[str]]:
    """Per file, "possible copy of <other>: reasons" for each pair copies.signals finds (not
    two files of one student: submissions.py says which of them is graded)."""
    out: dict[str, list[str]] = {}
    students = students or {}
    for pair in copies.signals(fingerprints, handed_out):
        if students.get(pair.a) and students.get(pair.a) == students.get(pair.b):
            continue
        reasons = "; ".join(pair.reasons)
        out.setdefault(pair.a, []).append(f"possible copy of {pair.b}: {reasons}")
        out.setdefault(pair.b, []).append(f"possible copy of {pair.a}: {reasons}")
    return out
