"""The class kit: each student's numbers, starter workbooks with a live self-check, the key,
matching submissions to students, and points."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from tests.course import trace
from workbook_builder.check import audit
from workbook_builder.check.audit_report import ALL_RIGHT, WRONG, status
from workbook_builder.classroom import kit, points, roster
from workbook_builder.classroom.roster import RosterError, Student
from workbook_builder.classroom.starter import CHECK_SHEET, SHEET, build_starter
from workbook_builder.network import topology
from workbook_builder.network.reference import QUANTITIES, WEIGHTS
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import layout

SECRET = b"a teacher's secret"


@pytest.fixture(autouse=True)
def engine_opener_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from formulas.excel import xlreader

    monkeypatch.setattr(xlreader, "load_workbook", xlreader.load_workbook)
    yield


def checked(path: Path, work: Path) -> list[audit.SheetReport]:  # type: ignore[name-defined]
    from formulas.excel import xlreader

    opener = xlreader.load_workbook
    work.mkdir(parents=True, exist_ok=True)
    try:
        return audit.audit(path, work)
    finally:
        xlreader.load_workbook = opener


# --- numbers --------------------------------------------------------------------------------
def test_each_student_has_own_numbers_from_secret_and_id() -> None:
    a, b = roster.numbers_for(SECRET, "s001"), roster.numbers_for(SECRET, "s002")
    assert a == roster.numbers_for(SECRET, "s001")  # deterministic
    assert a != b and a != roster.numbers_for(b"another secret", "s001")
    for n in (a, b):
        values = (*n.network.inputs, *n.network.targets, *n.network.weights)
        assert all(0.05 <= v <= 0.95 and round(v, 2) == v for v in values)
        assert 0.3 <= n.eta <= 1.0
        e = trace(n.network, n.eta, roster.VISIBLE_EPOCHS + 1)["E_total"]
        assert e[-1] <= roster.VISIBLE_SHARE * e[0]  # the error falls visibly


def test_a_fixed_eta_for_everyone() -> None:
    assert roster.numbers_for(SECRET, "s001", eta=0.5).eta == 0.5


# --- the roster -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("name,email\nAna,a@x\n", "no 'id' column"),
    ("id,name\n1,Ana\n,Bo\n", "row 3: the id is empty"),
    ("id,name\n1,Ana\n2,Bo\n1,Cy\n", "row 4: id '1' is also in row 2"),
    ("id\n", "no students"),
    ("id\n../x\n", "row 2: id '../x' has characters"),
])
def test_a_bad_roster_names_the_row(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError, match=message.replace("(", r"\(")) as info:
        roster.read_roster(path)
    assert "\n" not in str(info.value)


def test_roster_as_spreadsheets_save_it(tmp_path: Path) -> None:
    """A BOM, semicolons, Latin-1, other columns carried along."""
    path = tmp_path / "roster.csv"
    path.write_bytes("ID;Name\n7;Müller\n8;Bo\n".encode("utf-8-sig"))
    assert [s.id for s in roster.read_roster(path)] == ["7", "8"]
    path.write_bytes("id,name\n7,Müller\n".encode("latin-1"))
    (s,) = roster.read_roster(path)
    assert s.extra == {"name": "Müller"}


# --- the kit --------------------------------------------------------------------------------
def test_assign_writes_starters_answers_and_key(tmp_path: Path) -> None:
    students = [Student(f"s{k:02d}", {}) for k in range(1, 6)]
    made = kit.assign(students, tmp_path / "kit", SECRET, epochs=12, eta=None)
    folder = made.folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(f"{s.id}.xlsx" for s in students), "answers", "key.csv"])
    assert len(list((folder / "answers").iterdir())) == 5
    key = roster.read_key(folder / "key.csv")
    assert set(key) == {s.id for s in students}
    assert key["s03"] == roster.numbers_for(SECRET, "s03")
    header = (folder / "key.csv").read_text().splitlines()[0]
    assert header == "id,i1,i2,t1,t2,w1,w2,w3,w4,w5,w6,w7,w8,eta"


def test_assign_never_writes_over_a_folder_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "notes.txt").write_text("mine")
    with pytest.raises(RosterError, match="already holds files"):
        kit.assign([Student("a", {})], tmp_path / "kit", SECRET, 5, None)
    assert [p.name for p in (tmp_path / "kit").iterdir()] == ["notes.txt"]


def test_answer_workbooks_pass_check_with_full_points(tmp_path: Path) -> None:
    made = kit.assign([Student("s1", {}), Student("s2", {})], tmp_path / "kit", SECRET, 12,
                      None)
    key = roster.read_key(made.folder / "key.csv")
    for sid in ("s1", "s2"):
        reports = checked(made.folder / "answers" / f"{sid}.xlsx", tmp_path / f"w{sid}")
        assert status(reports) == ALL_RIGHT
        assert roster.whose_numbers(reports[0].against, key) == [sid]
        assert points.score(reports).points == 100


def fill(path: Path, wrong: str | None = None, rows: int | None = None) -> None:
    """Type the builder's own formulas into a starter (one column wrong on request)."""
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET]
    epochs = rows if rows is not None else ws.max_row - layout.HEADER_ROW - 1 + 1
    lay = layout.plan(NetSpec())  # the starter's cells are the course's block and columns
    eq = {**topology.equations(lay.spec), **topology.updates(lay.spec)}
    for epoch in range(epochs):
        for name in QUANTITIES:
            if epoch == 0 and name in WEIGHTS:
                continue
            text = lay.template(eq[name]).format(**lay.row_numbers(epoch))
            if name == wrong:  # a sign flipped, or a product made a quotient
                text = text.replace("-", "+", 1) if "-" in text else text.replace("*", "/", 1)
            ws.cell(layout.epoch_row(epoch) + 1, layout.COLUMN[name] + 1, text)
    wb.save(path)


def test_a_filled_starter_is_checked_against_its_student(tmp_path: Path) -> None:
    numbers = roster.numbers_for(SECRET, "s7")
    path = build_starter("s7", numbers, 10, tmp_path / "s7.xlsx")
    fill(path)
    reports = checked(path, tmp_path / "w")
    assert status(reports) == ALL_RIGHT
    assert reports[0].student_id == "s7"
    key = {"s7": numbers, "s8": roster.numbers_for(SECRET, "s8")}
    assert roster.whose_numbers(reports[0].against, key) == ["s7"]


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
def test_the_self_check_turns_as_formulas_are_typed(tmp_path: Path) -> None:
    """In LibreOffice: an empty starter says "to do" everywhere; filled right, every column
    says ✔; with the sign of one column's formula flipped, that column says ✘ (and the one
    column that adds it)."""
    from workbook_builder.sheet import render

    numbers = roster.numbers_for(SECRET, "s9")
    states = {}
    for case, wrong in (("empty", None), ("right", None), ("one wrong", "E2")):
        path = build_starter("s9", numbers, 6, tmp_path / f"{case}.xlsx")
        if case != "empty":
            fill(path, wrong)
        (tmp_path / case).mkdir()
        copy = render.recalculated_copy(path, tmp_path / case)
        ws = openpyxl.load_workbook(copy, data_only=True)[CHECK_SHEET]
        states[case] = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(5, 5 + 31)}
    assert set(states["empty"].values()) == {"· to do"}
    assert set(states["right"].values()) == {"✔ right"}, states["right"]
    # E_total adds E2: it is ✘ too (the sheet compares values; it says to fix the first ✘)
    assert {k for k, v in states["one wrong"].items() if v != "✔ right"} == {"E2", "E_total"}
    assert states["one wrong"]["E2"] == "✘ wrong from epoch 0"


# --- matching and copies --------------------------------------------------------------------
@pytest.mark.parametrize(("relative", "expected"), [
    ("Jane Smith_1234_assignsubmission_file_/backprop.xlsx", "1234"),
    ("1234-backprop.xlsx", "1234"),
    ("smithjane_1234_998877_backprop.xlsx", "1234"),
    ("jane.smith@uni.edu_backprop.xlsx", "jane.smith@uni.edu"),
    ("group A/12345.xlsx", None),  # 12345 is nobody's; 1234 is not inside it as a word
    ("1234_and_5678.xlsx", None),  # two ids: ambiguous
])
def test_a_submission_is_matched_by_the_id_in_its_path(relative: str, expected: str | None,
                                                       tmp_path: Path) -> None:
    ids = {"1234", "5678", "jane.smith@uni.edu"}
    assert roster.id_from_path(tmp_path / relative, ids, tmp_path) == expected


def test_another_students_numbers_are_named(tmp_path: Path) -> None:
    key = {sid: roster.numbers_for(SECRET, sid) for sid in ("a", "b", "c")}
    found = {k: v for k, v in key["b"].as_against().items()}
    assert roster.whose_numbers(found, key) == ["b"]
    found["w3"] = 0.123
    assert roster.whose_numbers(found, key) == []


# --- points ---------------------------------------------------------------------------------
def test_a_wrong_workbook_loses_the_points_of_its_wrong_quantities(tmp_path: Path) -> None:
    path = build_starter("s1", roster.numbers_for(SECRET, "s1"), 10, tmp_path / "s1.xlsx")
    fill(path, wrong="∂E/∂w5")
    reports = checked(path, tmp_path / "w")
    assert status(reports) == WRONG
    score = points.score(reports)
    # one of 8 gradients; the starter has δ columns, so the gradients are worth 20 (points.py)
    assert score.points == pytest.approx(100 - 20 / 8)
    assert score.lost == ["gradients: ∂E/∂w5 (−2.5)"]


def test_a_rubric_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "points.toml"
    path.write_text('[all]\npoints = 10\nquantities = ["E_total", "w1"]\n')
    (part,) = points.read_rubric(path)
    assert part.points == 10 and part.quantities == ("E_total", "w1")
    path.write_text('[all]\npoints = 10\nquantities = ["E_tot"]\n')
    with pytest.raises(points.PointsError, match="names no quantity E_tot"):
        points.read_rubric(path)


def test_the_default_rubric_is_100_points() -> None:
    assert sum(p.points for p in points.DEFAULT_RUBRIC) == 100
    assert np.isclose(points.score([]).points, 0)


# --- the command line -----------------------------------------------------------------------
def test_assign_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.cli.main import main

    (tmp_path / "roster.csv").write_text("id,name\nu1,Ana\nu2,Bo\n", encoding="utf-8")
    code = main(["assign", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "kit"),
                 "--epochs", "10"])
    assert code == 0
    out = capsys.readouterr().out
    assert "2 starter workbook(s)" in out and "secret.txt" in out
    assert (tmp_path / "kit" / "secret.txt").stat().st_mode & 0o077 == 0
    secret = (tmp_path / "kit" / "secret.txt").read_text().strip().encode()
    assert roster.read_key(tmp_path / "kit" / "key.csv")["u2"] == \
        roster.numbers_for(secret, "u2")


def test_assign_refuses_a_bad_roster_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.cli.main import main

    (tmp_path / "roster.csv").write_text("id\nu1\nu1\n", encoding="utf-8")
    code = main(["assign", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "kit"),
                 "--secret", "long enough secret"])
    err = capsys.readouterr().err
    assert code == 2 and "row 3: id 'u1' is also in row 2" in err and err.count("\n") == 1
    assert not (tmp_path / "kit").exists()


def test_check_a_class_against_the_key(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An LMS download: each student's folder. s1 and s2 hand in their answers; s3 hands in
    s1's answer (another student's numbers); s4's workbook has a wrong gradient."""
    import csv

    from workbook_builder.cli.main import main

    made = kit.assign([Student(f"s{k}", {}) for k in range(1, 5)], tmp_path / "kit", SECRET,
                      12, None)
    lms = tmp_path / "download"
    for sid, source in (("s1", "s1"), ("s2", "s2"), ("s3", "s1")):
        folder = lms / f"Student {sid.upper()}_{sid}_assignsubmission_file_"
        folder.mkdir(parents=True)
        shutil.copyfile(made.folder / "answers" / f"{source}.xlsx", folder / "backprop.xlsx")
    s4 = lms / "Student S4_s4_assignsubmission_file_"
    s4.mkdir()
    path = build_starter("s4", made.numbers["s4"], 12, s4 / "backprop.xlsx")
    fill(path, wrong="∂E/∂w5")
    code = main(["check", str(lms), "--roster", str(made.folder / "key.csv"),
                 "--csv", str(tmp_path / "grades.csv"), "--jobs", "2"])
    assert code == 1  # s4 is wrong
    with (tmp_path / "grades.csv").open(encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
        f.seek(0)
        assert f.readline().startswith("id,score,feedback,")
    assert set(rows) == {"s1", "s2", "s3", "s4"}
    assert float(rows["s1"]["score"]) == 100 and float(rows["s2"]["score"]) == 100
    assert "uses the numbers of student s1" in rows["s3"]["signals"]
    assert "possible copy of" in rows["s3"]["signals"]  # the same bytes as s1's
    assert float(rows["s4"]["score"]) == pytest.approx(100 - 20 / 8)  # see above
    assert "∂E/∂w5" in rows["s4"]["feedback"]
    table = capsys.readouterr().out
    assert "| student | score |" in table


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
def test_assign_render_draws_the_first_starter(tmp_path: Path) -> None:
    from PIL import Image

    from workbook_builder.cli.main import main

    (tmp_path / "roster.csv").write_text("id\nu1\nu2\n", encoding="utf-8")
    assert main(["assign", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "kit"),
                 "--secret", "a long secret", "--epochs", "5", "--render", "-q"]) == 0
    pictures = sorted((tmp_path / "kit" / "preview").iterdir())
    assert [p.name for p in pictures] == ["starter-backprop.png", "starter-self-check.png"]
    for p in pictures:
        with Image.open(p) as img:
            assert img.width > 1000  # a printed page, cropped to what it shows


def test_the_numbers_signal_says_what_it_found() -> None:
    from workbook_builder.classroom.grading import numbers_signals

    key = {sid: roster.numbers_for(SECRET, sid) for sid in ("a", "b")}
    own: dict[str, float | None] = dict(key["a"].as_against())
    assert numbers_signals(own, "a", key) == []
    assert numbers_signals(own, "b", key) == ["uses the numbers of student a"]
    assert numbers_signals({**own, "w3": 0.123}, "a", key) == [
        "its numbers are nobody's in the roster (not student a's)"]
    assert numbers_signals({**own, "i1": None}, "a", key) == [
        "its numbers could not be compared with student a's: the sheet has no number for i1"]
    assert numbers_signals({**own, "η": None}, "a", key) == []  # η inferred: the rest compared
