"""Every roster student accounted for in a class table: one row per student who handed in
nothing, and for a student with several files, which one is graded.

The rule, for a student with several files: the newest (latest modification time; of equal
times, the last by name) is graded; the others keep their rows, verdicts and diagnoses, with no
score and a signal naming the graded one. A student with no file gets a row of their own:
"no submission", with an empty score or 0 (``--no-submission zero``).
"""

from __future__ import annotations

from collections.abc import Iterable

from workbook_builder.classroom.batch import NO_SUBMISSION, Row


def complete(rows: list[Row], roster_ids: Iterable[str], zero: bool = False) -> list[Row]:
    """``rows`` (a class's checked files, matched to students) with one graded file per
    student and a row for each roster student with none, in roster order at the end."""
    by_student: dict[str, list[Row]] = {}
    for r in rows:
        if r.student:
            by_student.setdefault(r.student, []).append(r)
    for student, own in by_student.items():
        if len(own) < 2:
            continue
        graded = max(own, key=lambda r: (r.mtime_ns or 0, r.file))
        others = [r.file for r in own if r is not graded]
        graded.signals.append(f"student {student} handed in {len(own)} files; this one, the "
                              f"newest, is graded (not graded: {', '.join(others)})")
        for r in own:
            if r is not graded:
                r.score = None
                r.signals.append(f"not graded: student {student} handed in {len(own)} files "
                                 f"and the newest, {graded.file}, is graded")
                r.feedback = f"not graded: a newer file of yours is ({graded.file}) | " \
                    + r.feedback
    missing = [Row("", NO_SUBMISSION, 0.0, student=sid, score=0.0 if zero else None,
                   error="no file of this student in the folders given",
                   feedback="no submission")
               for sid in dict.fromkeys(roster_ids) if sid not in by_student]
    return [*rows, *missing]
