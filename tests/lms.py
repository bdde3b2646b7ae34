"""A class folder laid out as an LMS download: a folder per student, the same file name in
each, and the odd entries real downloads hold — two students' files of one name in two groups,
a Latin-1 file name, a link loop, a dangling link, a link out of the folder, a link to a folder,
a named pipe, an .ods, and files a grader never means (hidden, Office lock files, macOS
archive folders, notes). Used by tests/test_check_class.py and benchmarks/bench_class.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LATIN1 = os.fsdecode(b"M\xfcller.xlsx")  # as Linux shows a name written on Windows in Latin-1


def lms_download(folder: Path, students: int, right: Path, wrong: Path,
                 ods: Path | None) -> dict[str, str]:
    """Write the class under ``folder``: ``students`` folders (one in 25 holds ``right``, one
    in 25 ``wrong``, the rest a file that is not a workbook) and 9 odd entries.

    Returns:
        Every row the check must give, by name: its verdict ("all right", "WRONG", "cannot
        check") or, for an entry that is not read, a word of the reason.
    """
    expected: dict[str, str] = {}
    for k in range(students):
        name = f"student{k:03d}/submission.xlsx"
        target = folder / name
        target.parent.mkdir(parents=True)
        if k % 25 == 0:
            shutil.copyfile(right, target)
            expected[name] = "all right"
        elif k % 25 == 1:
            shutil.copyfile(wrong, target)
            expected[name] = "WRONG"
        else:
            target.write_text(f"student {k}: not a workbook")
            expected[name] = "cannot check"
    for group in ("groupA", "groupB"):
        (folder / group).mkdir()
    shutil.copyfile(right, folder / "groupA" / "smith.xlsx")
    shutil.copyfile(wrong, folder / "groupB" / "smith.xlsx")
    shutil.copyfile(right, folder / "groupA" / LATIN1)
    expected |= {"groupA/smith.xlsx": "all right", "groupB/smith.xlsx": "WRONG",
                 f"groupA/{LATIN1}": "all right"}
    os.symlink("loop.xlsx", folder / "groupA" / "loop.xlsx")
    os.symlink("handed-in-late.xlsx", folder / "groupA" / "gone.xlsx")
    outside = folder.parent / f"{folder.name}-answers.xlsx"
    shutil.copyfile(right, outside)
    os.symlink(outside, folder / "groupA" / "answers.xlsx")
    os.symlink("..", folder / "groupB" / "back")
    os.mkfifo(folder / "groupB" / "pipe.xlsx")
    expected |= {"groupA/loop.xlsx": "link loop", "groupA/gone.xlsx": "dangling link",
                 "groupA/answers.xlsx": "outside the folder", "groupB/back/": "link to a folder",
                 "groupB/pipe.xlsx": "named pipe"}
    if ods is not None:
        shutil.copyfile(ods, folder / "groupB" / "lee.ods")
        expected["groupB/lee.ods"] = "all right"
    else:
        (folder / "groupB" / "lee.ods").write_text("not a spreadsheet")
        expected["groupB/lee.ods"] = "cannot check"
    for skipped in (".hidden.xlsx", "groupA/~$smith.xlsx", "notes.txt", "__MACOSX/._x.xlsx"):
        (folder / skipped).parent.mkdir(exist_ok=True)
        (folder / skipped).write_text("never picked up")
    return expected
