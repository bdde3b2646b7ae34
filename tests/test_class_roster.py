"""Every roster student accounted for (classroom/submissions.py): a row for a student who
handed in nothing, one graded file for a student with several (the newest), a row for a file
that matches nobody; two files of one student are not each other's "possible copy"."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from workbook_builder.classroom import kit
from workbook_builder.classroom.roster import Student
from workbook_builder.cli.main import main
from workbook_builder.network.spec import Run
from workbook_builder.sheet import writer

SECRET = b"a teacher's secret"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> kit.Kit:
    students = [Student(sid, {}) for sid in ("00121", "00122", "00123", "00124", "00125")]
    return kit.assign(students, tmp_path_factory.mktemp("k") / "kit", SECRET, 12, None)


def download(made: kit.Kit, folder: Path) -> Path:
    """00121 hands in once; 00122 twice (first.xlsx older, second.xlsx newer, the same bytes);
    00123 and 00124 not at all; 00125 once; and a file of nobody on the roster."""
    answers = made.folder / "answers"
    for sid, name in (("00121", "work.xlsx"), ("00122", "first.xlsx"),
                      ("00122", "second.xlsx"), ("00125", "work.xlsx")):
        (folder / sid).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(answers / f"{sid}.xlsx", folder / sid / name)
    os.utime(folder / "00122" / "first.xlsx", ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(folder / "00122" / "second.xlsx", ns=(1_800_000_000 * 10**9,) * 2)
    (folder / "stranger").mkdir()
    shutil.copyfile(answers / "00121.xlsx", folder / "stranger" / "mine.xlsx")
    return folder


def rows_of(table: Path) -> list[dict[str, str]]:
    with table.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("missing", ["empty", "zero"])
def test_every_roster_student_has_a_row_and_one_graded_file(
        made: kit.Kit, tmp_path: Path, missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = download(made, tmp_path / "download")
    table = tmp_path / "grades.csv"
    code = main(["check", str(folder), "--roster", str(made.folder / "key.csv"), "--csv",
                 str(table), "--no-submission", missing, "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out  # every file is right; a student with no file is no file's status
    rows = rows_of(table)
    by_file = {r["file"]: r for r in rows if r["file"]}
    nothing = [r for r in rows if not r["file"]]
    assert sorted(r["id"] for r in nothing) == ["00123", "00124"]  # in no file, still a row
    for r in nothing:
        assert r["verdict"] == "no submission" and r["feedback"] == "no submission"
        assert r["score"] == ("0.0" if missing == "zero" else "")
        assert r["exit_status"] == ""
    newer, older = by_file["00122/second.xlsx"], by_file["00122/first.xlsx"]
    assert float(newer["score"]) == 100 and older["score"] == ""
    assert "this one, the newest, is graded (not graded: 00122/first.xlsx)" in newer["signals"]
    assert "not graded" in older["signals"] and "00122/second.xlsx" in older["signals"]
    assert "possible copy" not in newer["signals"] + older["signals"]  # one student's two
    stranger = by_file["stranger/mine.xlsx"]
    assert stranger["id"] == "" and "no roster id" in stranger["signals"]
    assert "possible copy of stranger/mine.xlsx" in by_file["00121/work.xlsx"]["signals"]
    graded = [r for r in rows if r["id"] and r["score"] not in ("",)]
    assert sorted({r["id"] for r in rows if r["id"]}) == ["00121", "00122", "00123", "00124",
                                                         "00125"]
    assert len([r for r in graded if r["file"]]) == 3  # 00121, 00122's newest, 00125
    assert "5 file(s): 5 all right; 2 roster student(s) handed in nothing" in out


def test_a_ring_of_four_copies_is_named_whole_and_a_template_is_nobodys_copy(
        made: kit.Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """00121's answer handed in by 00121 and under three other ids (byte-identical), and the
    workbook the teacher handed out (the builder's), unchanged, by 00125 and a stranger."""
    folder = tmp_path / "download"
    answers = made.folder / "answers"
    for sid in ("00121", "00122", "00123", "00124"):
        (folder / sid).mkdir(parents=True)
        shutil.copyfile(answers / "00121.xlsx", folder / sid / "work.xlsx")
    template = writer.build(Run(epochs=12, learning_rates=(0.5,)), tmp_path / "template.xlsx")
    for who in ("00125", "stranger"):
        (folder / who).mkdir()
        shutil.copyfile(template, folder / who / "work.xlsx")
    table = tmp_path / "grades.csv"
    key = str(made.folder / "key.csv")
    assert main(["check", str(folder), "--roster", key, "--csv", str(table)]) == 0
    capsys.readouterr()  # without --template, the two who handed in the template are a pair
    assert "possible copy of stranger/work.xlsx" in {
        r["file"]: r for r in rows_of(table)}["00125/work.xlsx"]["signals"]
    assert main(["check", str(folder), "--roster", key, "--csv", str(table),
                 "--template", str(template)]) == 0
    capsys.readouterr()
    rows = {r["file"]: r for r in rows_of(table) if r["file"]}
    ring = [f"{sid}/work.xlsx" for sid in ("00121", "00122", "00123", "00124")]
    for name in ring:  # each names the other three: a group of any size
        others = [o for o in ring if o != name]
        for other in others:
            assert f"possible copy of {other}: byte-identical files" in rows[name]["signals"]
        assert float(rows[name]["score"]) == 100  # a signal never changes the score by itself
    # the original holds its own numbers; it is told who else holds them
    assert "its numbers (student 00121's) are in another file" in rows["00121/work.xlsx"][
        "signals"]
    for name in ("00125/work.xlsx", "stranger/work.xlsx"):
        assert "possible copy" not in rows[name]["signals"], rows[name]["signals"]
    # --copies zero: every file a copy signal names scores 0, and the feedback says why
    notes = tmp_path / "annotated"
    assert main(["check", str(folder), "--roster", key, "--csv", str(table),
                 "--template", str(template), "--copies", "zero", "--annotate",
                 str(notes)]) == 0
    capsys.readouterr()
    rows = {r["file"]: r for r in rows_of(table) if r["file"]}
    for name in ring:
        assert rows[name]["score"] == "0.0" and "possible copy" in rows[name]["feedback"]
    assert float(rows["00125/work.xlsx"]["score"]) == 100
    # each annotated copy's Check sheet: the score the table gives and the copy signals
    check = openpyxl.load_workbook(notes / "00122" / "work.checked.xlsx")["Check"]
    lines = [str(c.value) for c in check["A"] if c.value is not None]
    assert lines[1].startswith("score set to 0: a possible copy") and lines[2] == \
        "student: 00122"
    assert "signal: possible copy of 00121/work.xlsx: byte-identical files" in lines


def test_a_template_that_does_not_exist_is_refused(made: kit.Kit, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = download(made, tmp_path / "download")
    assert main(["check", str(folder), "--template", str(tmp_path / "nope.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--template" in err and "no such file" in err
