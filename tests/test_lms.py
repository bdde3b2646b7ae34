"""The LMSs' own files: assign reads Moodle's grade export and a Canvas gradebook export as the
roster (ids as text, every column carried into the key), check matches their downloads
(Moodle's folder per participant, by name; Canvas's flat files, by user id) and writes the
grades back in each one's import format (--export moodle / canvas)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests import lms_files, planted
from workbook_builder.classroom import roster
from workbook_builder.cli.main import main

SECRET = "a teacher's secret"


def rows_of(table: Path) -> list[list[str]]:
    with table.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def wrong_copy(answer: Path, out: Path) -> Path:
    """The answer with every ∂E/∂w1 doubled (a gradient mistake)."""
    return planted.plant(answer, out, "∂E/∂w1", lambda f, r: f + "*2")


def kit_from(folder: Path, export: Path) -> Path:
    """``assign`` on an LMS export, as a teacher runs it."""
    assert main(["assign", str(export), "--out", str(folder / "kit"), "--secret", SECRET,
                 "--epochs", "8", "-q"]) == 0
    return folder / "kit"


@pytest.fixture(scope="module")
def moodle_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("moodle")
    return kit_from(folder, lms_files.moodle_export(folder / "grades-export.csv"))


@pytest.fixture(scope="module")
def canvas_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("canvas")
    return kit_from(folder, lms_files.canvas_export(folder / "gradebook.csv"))


def test_moodle_export_is_a_roster_whose_columns_travel_with_the_key(moodle_kit: Path) -> None:
    key = roster.read_key(moodle_kit / "key.csv")
    assert list(key) == ["00123", "00124", "00125"]  # ID number, leading zeros kept
    assert key.extra["00124"]["Last name"] == "Yılmaz"
    assert key.extra["00123"]["Email address"] == "jane.smith@uni.example"
    assert key.lms is not None and key.lms.kind == "moodle"
    assert key.lms.grade_column == "Assignment: Backprop workbook (Real)"
    assert sorted(p.name for p in moodle_kit.glob("*.xlsx")) == \
        ["00123.xlsx", "00124.xlsx", "00125.xlsx"]


def test_moodle_without_id_numbers_takes_the_email(tmp_path: Path) -> None:
    export = lms_files.moodle_export(tmp_path / "export.csv", with_id_numbers=False)
    students, lms = roster.read_class(export)
    assert lms.id_column == "Email address"
    assert [s.id for s in students] == [p[3] for p in lms_files.PEOPLE]


def test_canvas_export_skips_its_own_rows_and_keeps_points_possible(canvas_kit: Path) -> None:
    key = roster.read_key(canvas_kit / "key.csv")
    assert list(key) == ["20001", "20002", "20003"]  # the test student and Points Possible: no
    assert key.lms is not None and key.lms.grade_column == "Backprop workbook (123456)"
    assert key.lms.points_possible == 10.0
    assert key.extra["20001"]["SIS User ID"] == "00123"


def test_a_plain_roster_without_id_names_what_it_takes(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    path = tmp_path / "r.csv"
    path.write_text("name,mail\nA,a@x\n", encoding="utf-8")
    assert main(["assign", str(path), "--out", str(tmp_path / "k"), "--secret", SECRET]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no 'id' column" in err and "Moodle" in err
    assert not (tmp_path / "k").exists()


def test_moodle_download_graded_and_exported_for_moodles_import(
        moodle_kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = moodle_kit / "answers"
    wrong = wrong_copy(answers / "00124.xlsx", tmp_path / "wrong.xlsx")
    download = lms_files.moodle_download(tmp_path / "download",
                                         {"00123": answers / "00123.xlsx", "00124": wrong})
    table, export = tmp_path / "class.csv", tmp_path / "moodle.csv"
    code = main(["check", str(download), "--roster", str(moodle_kit / "key.csv"), "--csv",
                 str(table), "--export", "moodle", str(export), "--jobs", "2"])
    assert code == 1, capsys.readouterr()
    rows = rows_of(export)
    assert rows[0] == ["First name", "Last name", "ID number", "Institution", "Department",
                       "Email address", "Assignment: Backprop workbook (Real)",
                       "Assignment: Backprop workbook (Feedback)"]
    by_id = {r[2]: r for r in rows[1:]}
    assert list(by_id) == ["00123", "00124", "00125"]  # roster order, every student
    assert by_id["00123"][6] == "100" and by_id["00123"][0] == "Jane"
    assert 0 < float(by_id["00124"][6]) < 100
    assert "∂E/∂w1" in by_id["00124"][7] and by_id["00124"][1] == "Yılmaz"
    assert by_id["00125"][6] == "" and by_id["00125"][7] == "no submission"


def test_canvas_download_graded_and_exported_in_its_points(
        canvas_kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = canvas_kit / "answers"
    download = lms_files.canvas_download(tmp_path / "subs",
                                         {"20001": answers / "20001.xlsx",
                                          "20003": answers / "20003.xlsx"}, late="20003")
    export = tmp_path / "canvas.csv"
    code = main(["check", str(download), "--roster", str(canvas_kit / "key.csv"),
                 "--export", "canvas", str(export), "--no-submission", "zero", "--jobs", "2"])
    assert code == 0, capsys.readouterr()
    rows = rows_of(export)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Backprop workbook (123456)"]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "10"
    assert [r[1] for r in rows[2:]] == ["20001", "20002", "20003"]
    assert [r[-1] for r in rows[2:]] == ["10", "0", "10"]  # out of Canvas's 10 points
    assert rows[2][0] == "Smith, Jane" and rows[3][2] == "00124"


def test_out_of_scales_the_export(canvas_kit: Path, tmp_path: Path) -> None:
    answers = canvas_kit / "answers"
    download = lms_files.canvas_download(tmp_path / "subs", {"20002": answers / "20002.xlsx"})
    export = tmp_path / "canvas.csv"
    assert main(["check", str(download), "--roster", str(canvas_kit / "key.csv"),
                 "--export", "canvas", str(export), "--out-of", "25"]) == 0
    rows = rows_of(export)
    assert rows[1][-1] == "25" and rows[3][-1] == "25" and rows[2][-1] == ""


@pytest.mark.parametrize(("extra", "expected"), [
    (["--export", "canvas", "x.csv"], "needs a key made from a Canvas gradebook export"),
    (["--export", "blackboard", "x.csv"], "the formats are moodle, canvas"),
    (["--export", "moodle", "x.txt"], "must end in .csv"),
])
def test_an_export_that_cannot_be_is_one_line(moodle_kit: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              extra: list[str], expected: str) -> None:
    extra = [tmp_path / e if e.startswith("x.") else e for e in extra]  # type: ignore[misc]
    code = main(["check", str(moodle_kit / "answers" / "00123.xlsx"), "--roster",
                 str(moodle_kit / "key.csv"), *map(str, extra)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and expected in err, err
    assert not (tmp_path / "x.csv").exists()


def test_an_export_needs_the_roster(moodle_kit: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(moodle_kit / "answers" / "00123.xlsx"), "--export", "moodle",
                 str(tmp_path / "m.csv")])
    assert code == 2 and "--roster" in capsys.readouterr().err


def test_a_plain_roster_exports_for_moodle_by_id_number(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("id,name,email\n007,Ada Lovelace,ada@x.example\n", encoding="utf-8")
    assert main(["assign", str(path), "--out", str(tmp_path / "kit"), "--secret", SECRET,
                 "--epochs", "6", "-q"]) == 0
    export = tmp_path / "m.csv"
    assert main(["check", str(tmp_path / "kit" / "answers" / "007.xlsx"), "--roster",
                 str(tmp_path / "kit" / "key.csv"), "--export", "moodle", str(export)]) == 0
    rows = rows_of(export)
    assert rows[0] == ["ID number", "name", "email", "Backprop workbook",
                       "Backprop workbook (Feedback)"]
    assert rows[1][:4] == ["007", "Ada Lovelace", "ada@x.example", "100"]
    assert json.loads((tmp_path / "kit" / "lms.json").read_text())["name_columns"] == ["name"]


def test_an_export_in_another_language_takes_id_column(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """Moodle writes its headers in the user's language: name the id column."""
    path = tmp_path / "bewertungen.csv"
    path.write_text("Vorname,Nachname,ID-Nummer,E-Mail-Adresse\n"
                    "Jana,Schmidt,0042,jana@uni.example\nOle,Berg,0043,ole@uni.example\n",
                    encoding="utf-8")
    assert main(["assign", str(path), "--out", str(tmp_path / "k0"), "--secret", SECRET]) == 2
    assert "--id-column" in capsys.readouterr().err
    assert main(["assign", str(path), "--out", str(tmp_path / "kit"), "--secret", SECRET,
                 "--epochs", "6", "--id-column", "ID-Nummer", "-q"]) == 0
    key = roster.read_key(tmp_path / "kit" / "key.csv")
    assert list(key) == ["0042", "0043"] and key.extra["0043"]["Nachname"] == "Berg"
    assert main(["assign", str(path), "--out", str(tmp_path / "k1"), "--secret", SECRET,
                 "--id-column", "Matrikel"]) == 2
    assert "no column 'Matrikel'" in capsys.readouterr().err


def test_a_spreadsheet_as_roster_asks_for_its_csv(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "grades.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    assert main(["assign", str(path), "--out", str(tmp_path / "kit"), "--secret", SECRET]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give the roster as CSV" in err


def test_the_key_keeps_identity_not_the_class_other_grades(canvas_kit: Path,
                                                            moodle_kit: Path) -> None:
    """An LMS export holds every grade of the course: the key keeps who each student is and
    the assignment's column, nothing else (it travels into autograders)."""
    canvas = roster.read_key(canvas_kit / "key.csv")
    assert set(canvas.columns) == {"Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                   "Backprop workbook (123456)"}
    moodle = roster.read_key(moodle_kit / "key.csv")
    assert "Last downloaded from this course" not in moodle.columns
    assert "Email address" in moodle.columns


def test_a_moodle_participant_number_is_not_taken_for_an_id(tmp_path: Path) -> None:
    """Moodle names a folder by the student and a participant number, which may equal another
    student's ID number: the name decides."""
    export = tmp_path / "export.csv"
    export.write_text("First name,Last name,ID number,Institution,Department,Email address\n"
                      "Jane,Smith,4002,U,D,jane@x.example\nOle,Berg,4001,U,D,ole@x.example\n",
                      encoding="utf-8")
    assert main(["assign", str(export), "--out", str(tmp_path / "kit"), "--secret", SECRET,
                 "--epochs", "6", "-q"]) == 0
    key = roster.read_key(tmp_path / "kit" / "key.csv")
    from workbook_builder.classroom.grading import _id_from_parts

    names, first = key.names(), key.names_first
    assert _id_from_parts("Jane Smith_4001_assignsubmission_file_/b.xlsx", set(key), names,
                          first) == "4002"
    assert _id_from_parts("4001-backprop.xlsx", set(key), names, first) == "4001"


def test_an_email_with_a_plus_is_an_id(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("First name,Last name,ID number,Institution,Department,Email address\n"
                      "Jane,Smith,,U,D,jane+dl@x.example\n", encoding="utf-8")
    students, _ = roster.read_class(export)
    assert [s.id for s in students] == ["jane+dl@x.example"]


def test_exports_are_refused_before_any_file_is_checked(
        moodle_kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "a.xlsx").write_text("not a workbook")
    key = str(moodle_kit / "key.csv")
    table = tmp_path / "g.csv"
    assert main(["check", str(folder), "--roster", key, "--csv", str(table), "--export",
                 "moodle", str(table)]) == 2
    assert "is also --csv" in capsys.readouterr().err
    assert main(["check", str(folder), "--roster", key, "--export", "moodle",
                 str(tmp_path / "m.csv"), "--export", "canvas", str(tmp_path / "m.csv")]) == 2
    assert "is also --export moodle" in capsys.readouterr().err
    assert main(["check", str(folder), "--roster", key, "--export", "canvas",
                 str(tmp_path / "c.csv")]) == 2
    captured = capsys.readouterr()
    assert "Canvas gradebook export" in captured.err and captured.out == ""
    assert not table.exists()
