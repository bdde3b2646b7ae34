"""LMS files as the platforms write them, from their documentation: Moodle's grade export
(Grades > Export > Plain text file) and assignment download (a folder per participant named
``Full name_participantid_assignsubmission_file_``), Canvas's gradebook export (Gradebook >
Export: identity columns, the assignments, read-only totals, a ``Points Possible`` row and the
course's test student) and its "Download Submissions" archive (flat files named
``lastfirst_userid_submissionid_name``, ``lastfirst_LATE_…`` when late)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

#: (first, last, ID number, email): the second has no ID number in the Moodle-with-gaps export
PEOPLE = (("Jane", "Smith", "00123", "jane.smith@uni.example"),
          ("Ömer", "Yılmaz", "00124", "omer.yilmaz@uni.example"),
          ("Li", "Wei", "00125", "li.wei@uni.example"))


def moodle_export(path: Path, with_id_numbers: bool = True) -> Path:
    rows = [["First name", "Last name", "ID number", "Institution", "Department",
             "Email address", "Assignment: Backprop workbook (Real)",
             "Last downloaded from this course"]]
    for k, (first, last, number, email) in enumerate(PEOPLE):
        idn = number if with_id_numbers or k != 1 else ""
        rows.append([first, last, idn, "Example University", "Computer Science", email, "-",
                     "1764979200"])
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # Moodle writes a BOM
        csv.writer(f).writerows(rows)
    return path


def moodle_download(folder: Path, answers: dict[str, Path]) -> Path:
    """Each student's answer in Moodle's download layout (participant ids 4001…); ``answers``
    by ID number (the first two students hand in)."""
    for k, (first, last, number, _) in enumerate(PEOPLE):
        if number in answers:
            target = folder / f"{first} {last}_{4001 + k}_assignsubmission_file_" / \
                "backprop.xlsx"
            target.parent.mkdir(parents=True)
            shutil.copyfile(answers[number], target)
    return folder


#: (sortable name, Canvas user id, SIS user id, SIS login id)
CANVAS_PEOPLE = (("Smith, Jane", "20001", "00123", "jsmith"),
                 ("Yılmaz, Ömer", "20002", "00124", "oyilmaz"),
                 ("Wei, Li", "20003", "00125", "lwei"))


def canvas_export(path: Path) -> Path:
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
              "Backprop workbook (123456)", "Quiz 1 (123457)", "Notes", "Current Points",
              "Final Points",
              "Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score",
              "Current Grade", "Unposted Current Grade", "Final Grade", "Unposted Final Grade"]
    rows = [header,  # a manually posted assignment: Canvas's row under the header, no student
            ["", "", "", "", "", "Manual Posting", "", "", *[""] * 10],
            ["    Points Possible", "", "", "", "", "10.00", "5.00", "", *["(read only)"] * 10]]
    for name, uid, sis, login in CANVAS_PEOPLE:
        rows.append([name, uid, sis, login, "DL 101 Fall", "", "4.00", "late", "4.00", "4.00",
                     "80.00", "80.00", "26.67", "26.67", "B-", "B-", "F", "F"])
    rows.append(["Student, Test", "29999", "", "5f1e0c0d", "DL 101 Fall", "", "", "", "0.00",
                 "0.00", "", "", "0.00", "0.00", "", "", "F", "F"])
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    return path


def canvas_download(folder: Path, answers: dict[str, Path], late: str = "") -> Path:
    """Each answer as Canvas's archive names it (flat: lastfirst_userid_submissionid_name);
    ``answers`` by Canvas user id; ``late``: that user's file is marked LATE."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, uid, _, _) in enumerate(CANVAS_PEOPLE):
        if uid in answers:
            lastfirst = "".join(ch for ch in name.lower() if ch.isalnum())
            mark = "_LATE" if uid == late else ""
            shutil.copyfile(answers[uid], folder / f"{lastfirst}{mark}_{uid}_{70001 + k}_"
                            "backprop.xlsx")
    return folder
