"""`check` for a whole class: several files and folders at once, the class table (Markdown, CSV,
JSON), the worst status, Ctrl-C, and the annotated copy a student gets back."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import REPO, SLOW_ENGINE, cli, processes_with, slow_workbook
from tests.messy import Layout, make
from workbook_builder.cli.main import main


def template_bug(r: int, first: int, f: dict[str, str]) -> None:
    """The class template's a_h1-for-a_h2 in ∂E/∂w3 and ∂E/∂w4."""
    for g in ("∂E/∂w3", "∂E/∂w4"):
        f[g] = f[g].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")


def one_go(r: int, first: int, f: dict[str, str]) -> None:
    """E_total in one go, from a_o1 and a_o2 (columns R, T): right, but E1 and E2 missing."""
    f["E_tot"] = f"=0.5*(A{r}-R{r})^2+0.5*(B{r}-T{r})^2"


@pytest.fixture
def classroom(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    make(folder / "alice.xlsx")
    make(folder / "bob.xlsx", Layout(edit=template_bug))
    make(folder / "carol.xlsx", Layout(drop=("E1", "E2"), edit=one_go))
    (folder / "dave.xlsx").write_text("not a workbook")
    (folder / "notes.txt").write_text("not picked up")
    return folder


EXPECTED = {"alice.xlsx": ("all right", 0), "bob.xlsx": ("WRONG", 1),
            "carol.xlsx": ("incomplete", 3), "dave.xlsx": ("cannot check", 4)}


def test_a_folder_gives_a_class_table_that_agrees_with_each_file(
        classroom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "class.csv"
    assert main(["check", str(classroom), "--csv", str(table), "--jobs", "2"]) == 4  # worst
    out = capsys.readouterr().out
    for name, (verdict, _) in EXPECTED.items():
        (line,) = [x for x in out.splitlines() if x.startswith(f"| {name} |")]
        assert f"| {verdict} |" in line
    assert "uses a_h1 where a_h2 belongs" in out and "not an .xlsx workbook" in out
    with table.open(encoding="utf-8") as f:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(f)}
    assert set(rows) == set(EXPECTED)
    for name, (verdict, code) in EXPECTED.items():
        assert (rows[name]["verdict"], int(rows[name]["exit_status"])) == (verdict, code)
        assert main(["check", str(classroom / name)]) == code, name  # one file, same verdict
    capsys.readouterr()


def test_files_and_folders_mixed_as_json(classroom: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(classroom / "alice.xlsx"), str(classroom / "carol.xlsx"),
                 "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert [(Path(r["file"]).name, r["verdict"]) for r in report] == [
        ("alice.xlsx", "all right"), ("carol.xlsx", "incomplete")]
    assert report[1]["sheets"][0]["missing"] == ["E1", "E2"]


def test_an_empty_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no workbooks" in err


@pytest.mark.slow
def test_ctrl_c_stops_the_whole_class(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for k in range(4):
        slow_workbook(folder / f"s{k}.xlsx")  # ~30 s each to check
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(cli("check", str(folder)),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **SLOW_ENGINE, "WB_TEST_MARKER": marker})
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    time.sleep(0.5)
    children = processes_with(marker)
    assert children == []


def test_annotated_copy_marks_the_wrong_cells_only(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = make(tmp_path / "bob.xlsx", Layout(edit=template_bug))
    out = tmp_path / "bob-checked.xlsx"
    assert main(["check", str(source), "--annotate", str(out)]) == 1
    capsys.readouterr()
    before, after = openpyxl.load_workbook(source), openpyxl.load_workbook(out)
    assert after.sheetnames == ["Check", "Backprop"]
    assert any("WRONG" in str(c.value) for c in after["Check"]["A"])
    # the grade at the top of the Check sheet, and the sheet prints one page wide
    check = after["Check"]
    top = [str(check.cell(r, 1).value) for r in range(2, 8)]
    assert top[0].startswith("WRONG: ") and " of 100 points" in top[0]
    assert any(line.startswith("points lost: ") for line in top), top
    assert check.page_setup.fitToWidth == 1 and check.page_setup.fitToHeight == 0
    assert check.sheet_properties.pageSetUpPr.fitToPage

    ws, orig = after["Backprop"], before["Backprop"]
    for row in orig.iter_rows():
        for c in row:
            assert ws[c.coordinate].value == c.value, c.coordinate  # formulas and values kept
    red = {c.coordinate for row in ws.iter_rows() for c in row
           if c.fill is not None and c.fill.fgColor.rgb == "FFFF9999"}
    assert red == {f"{col}{r}" for col in ("Z", "AA") for r in range(4, 12)}
    assert "expected 0.0003517763216" in ws["Z4"].comment.text
    assert "uses a_h1 where a_h2 belongs" in ws["Z4"].comment.text
    assert ws["Y4"].comment is None


def test_a_name_in_the_grade_never_becomes_a_formula(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The grade's lines hold the student's sheet names: one that reads as a formula after
    the feedback's " | " stays text in the annotated copy's Check sheet."""
    source = make(tmp_path / "bob.xlsx", Layout(edit=template_bug))
    wb = openpyxl.load_workbook(source)
    wb["Backprop"].title = 'x | =HYPERLINK("e.vu") | y'
    wb.save(source)
    out = tmp_path / "bob-checked.xlsx"
    assert main(["check", str(source), "--annotate", str(out)]) == 1
    capsys.readouterr()
    check = openpyxl.load_workbook(out)["Check"]
    texts = [c for c in check["A"] if c.value is not None]
    assert any("HYPERLINK" in str(c.value) for c in texts)
    assert all(c.data_type != "f" for c in texts)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
def test_annotated_copies_of_a_class_open_in_libreoffice(
        classroom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.sheet import render

    notes = tmp_path / "annotated"
    assert main(["check", str(classroom), "--annotate", str(notes)]) == 4
    capsys.readouterr()
    assert sorted(p.name for p in notes.iterdir()) == [
        "alice.checked.xlsx", "bob.checked.xlsx", "carol.checked.xlsx"]
    for name in ("alice", "bob", "carol"):  # the grade of the class table is in each copy
        check = openpyxl.load_workbook(notes / f"{name}.checked.xlsx")["Check"]
        assert " of 100 points" in str(check["A2"].value), name
    (tmp_path / "lo").mkdir()
    saved = render.recalculated_copy(notes / "bob.checked.xlsx", tmp_path / "lo")
    values = openpyxl.load_workbook(saved, data_only=True)["Backprop"]
    assert values["Z4"].value == pytest.approx(0.0003518686651, rel=1e-9)  # still its formula


# --- an LMS download: subfolders, names, links, pipes, conversions --------------------------

HAVE_SOFFICE = shutil.which("soffice") is not None


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path | None]:
    """A right and a wrong small workbook, and the right one as .ods (None without soffice)."""
    folder = tmp_path_factory.mktemp("books")
    right = make(folder / "right.xlsx")
    wrong = make(folder / "wrong.xlsx", Layout(edit=template_bug))
    ods = None
    if HAVE_SOFFICE:
        from workbook_builder.sheet import render

        ods = render.convert(right, "ods", folder)
    return right, wrong, ods


def table_rows(out: str) -> dict[str, str]:
    """The Markdown table's rows by file name: the whole line."""
    return {line.split(" | ")[0][2:]: line for line in out.splitlines()
            if line.startswith("| ") and not line.startswith(("| file", "| ---"))}


def test_lms_download_gives_a_row_for_everything_and_a_copy_for_each(
        workbooks: tuple[Path, Path, Path | None], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tests.lms import LATIN1, lms_download
    from workbook_builder.escape import printable

    folder = tmp_path / "download"
    folder.mkdir()
    expected = lms_download(folder, 11, *workbooks)
    assert len(expected) == 20
    notes, table = tmp_path / "checked", tmp_path / "class.csv"
    assert main(["check", str(folder), "--annotate", str(notes), "--csv", str(table),
                 "--jobs", "2"]) == 4
    rows = table_rows(capsys.readouterr().out)
    assert set(rows) == {printable(n) for n in expected}  # "groupA/M\xfcller.xlsx"
    for name, want in expected.items():
        assert want in rows[printable(name)], rows[printable(name)]
    with table.open(encoding="utf-8") as f:
        assert [r["file"] for r in csv.DictReader(f)] == sorted(printable(n) for n in expected)
    copies = {p.relative_to(notes).as_posix() for p in notes.rglob("*") if p.is_file()}
    assert copies == {"student000/submission.checked.xlsx", "student001/submission.checked.xlsx",
                      "groupA/smith.checked.xlsx", "groupB/smith.checked.xlsx",
                      f"groupA/{LATIN1[:-5]}.checked.xlsx",
                      *(["groupB/lee.ods.checked.xlsx"] if HAVE_SOFFICE else [])}
    bob = openpyxl.load_workbook(notes / "groupB" / "smith.checked.xlsx")["Backprop"]
    assert "uses a_h1 where a_h2 belongs" in bob["Z4"].comment.text  # the wrong one's copy
    assert not (folder.parent / "download-answers.checked.xlsx").exists()


@pytest.mark.libreoffice
@pytest.mark.skipif(not HAVE_SOFFICE and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
@pytest.mark.parametrize("kind", ["ods", "xls"])
def test_ods_and_xls_are_converted_by_libreoffice_and_checked(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.sheet import render

    bob = render.convert(make(tmp_path / "bob.xlsx", Layout(edit=template_bug)), kind, tmp_path)
    assert main(["check", str(bob)]) == 1
    out = capsys.readouterr().out
    assert f"note: converted from .{kind} by LibreOffice" in out
    assert "uses a_h1 where a_h2 belongs" in out


# --- outputs: checked first, never over an input, CSV for one file -------------------------

def no_check(*args: object, **kwargs: object) -> None:
    raise AssertionError("a workbook was checked before the outputs were validated")


@pytest.mark.parametrize(("extra", "message"), [
    (["--csv", "{tmp}/missing/class.csv"], "does not exist"),
    (["--csv", "{tmp}/class.txt"], "must end in .csv"),
    (["--csv", "{tmp}"], "is a folder"),
    (["--annotate", "{tmp}/class/alice.xlsx"], "is a file"),
    (["--annotate", "{tmp}/class"], "write over the input"),
    (["--resume"], "--csv"),
    (["--resume", "--csv", "{tmp}/class/notes.csv"], "not a table written by check"),
])
def test_outputs_are_checked_before_any_work(
        extra: list[str], message: str, classroom: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.classroom import batch

    monkeypatch.setattr(batch, "check_isolated", no_check)
    make(classroom / "alice.checked.xlsx")  # what --annotate class/ would write for alice
    (classroom / "notes.csv").write_text("name,grade\nalice,A\n")
    argv = ["check", str(classroom), *(a.format(tmp=tmp_path) for a in extra)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_annotate_naming_the_input_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bob = make(tmp_path / "bob.xlsx", Layout(edit=template_bug))
    before = bob.read_bytes()
    assert main(["check", str(bob), "--annotate", str(bob)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "write over the input" in err
    assert bob.read_bytes() == before


def test_csv_for_one_file_is_a_one_row_table(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bob, junk = make(tmp_path / "bob.xlsx", Layout(edit=template_bug)), tmp_path / "junk.xlsx"
    junk.write_text("not a workbook")
    for path, code, verdict in ((bob, 1, "WRONG"), (junk, 4, "cannot check")):
        table = tmp_path / f"{path.stem}.csv"
        assert main(["check", str(path), "--csv", str(table)]) == code
        with table.open(encoding="utf-8") as f:
            (row,) = csv.DictReader(f)
        assert (row["file"], row["verdict"], row["exit_status"]) == (path.name, verdict, str(code))
    capsys.readouterr()


# --- an interrupted class keeps its rows; --resume checks the rest --------------------------

def test_interrupted_class_keeps_its_rows_and_resume_checks_only_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder.classroom import batch

    folder = tmp_path / "class"
    for k in range(6):
        (folder / f"s{k}").mkdir(parents=True)
        (folder / f"s{k}" / "work.xlsx").write_text(f"not a workbook {k}")
    table = tmp_path / "class.csv"
    checked: list[str] = []
    real = batch.check_isolated

    def interrupted_at_the_fourth(path: Path, *args: object, **kwargs: object) -> object:
        if path.parent.name == "s3":
            raise KeyboardInterrupt  # as Ctrl-C lands while the fourth file is checked
        checked.append(path.parent.name)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "check_isolated", interrupted_at_the_fourth)
    argv = ["check", str(folder), "--csv", str(table), "--jobs", "1"]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert list(table_rows(captured.out)) == ["s0/work.xlsx", "s1/work.xlsx", "s2/work.xlsx"]
    assert "interrupted: 3 of 6 file(s) checked" in captured.out
    assert "--resume" in captured.err
    with table.open(encoding="utf-8") as f:
        assert [r["file"] for r in csv.DictReader(f)] == ["s0/work.xlsx", "s1/work.xlsx",
                                                           "s2/work.xlsx"]

    checked.clear()
    monkeypatch.setattr(batch, "check_isolated", lambda path, *a, **k: (
        checked.append(path.parent.name), real(path, *a, **k))[1])
    (folder / "s1" / "work.xlsx").write_text("handed in again")  # changed: checked again
    assert main([*argv, "--resume"]) == 4
    assert checked == ["s1", "s3", "s4", "s5"]
    assert list(table_rows(capsys.readouterr().out)) == [f"s{k}/work.xlsx" for k in range(6)]
    with table.open(encoding="utf-8") as f:
        assert [r["file"] for r in csv.DictReader(f)] == [f"s{k}/work.xlsx" for k in range(6)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ctrl_c_on_an_lms_download_keeps_the_partial_table(
        workbooks: tuple[Path, Path, Path | None], tmp_path: Path) -> None:
    """The real thing: Ctrl-C to the command while it checks a class laid out as an LMS
    download; the rows done are printed and in the CSV, and nothing is left running."""
    from tests.lms import lms_download

    folder = tmp_path / "download"
    folder.mkdir()
    expected = lms_download(folder, 11, *workbooks)
    for k in range(3):  # slow ones last: the command is still busy when Ctrl-C comes
        (folder / f"zz{k}").mkdir()
        slow_workbook(folder / f"zz{k}" / "submission.xlsx")  # ~30 s each to check
    table = tmp_path / "class.csv"
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(cli("check", str(folder), "--csv", str(table), "--jobs", "2"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **SLOW_ENGINE, "WB_TEST_MARKER": marker})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(csv_names(table)) < len(expected):
        time.sleep(0.5)  # until every quick row is in the CSV
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rows = table_rows(out.decode())
    assert len(rows) == len(expected) and all(not n.startswith("zz") for n in rows)
    assert f"interrupted: {len(expected)} of {len(expected) + 3}" in out.decode()
    assert len(csv_names(table)) == len(expected)
    time.sleep(0.5)
    assert processes_with(marker) == []


def csv_names(table: Path) -> list[str]:
    if not table.exists():
        return []
    with table.open(encoding="utf-8") as f:
        return [r["file"] for r in csv.DictReader(f)]


# --- what is printed: no terminal escapes, no stray bytes, no formulas ----------------------

def test_names_are_printed_escaped_and_formulas_defused(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    names = {b"=HYPERLINK(1).xlsx": "'=HYPERLINK(1).xlsx", b"\x1b[2Jred.xlsx": "\\x1b[2Jred.xlsx",
             b"M\xfcller.xlsx": "M\\xfcller.xlsx", b"@sum.xlsx": "'@sum.xlsx",
             b"tab\tname.xlsx": "tab\\tname.xlsx"}
    for raw in names:
        with open(os.fsencode(folder) + b"/" + raw, "wb") as f:
            f.write(b"not a workbook")
    make(folder / "ok.xlsx", Layout(title="=evil\x9b31m\u202e"))  # C1 CSI, a bidi override
    table = tmp_path / "class.csv"
    outputs = []
    for fmt in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "workbook_builder", "check", str(folder),
                               "--csv", str(table), *fmt], cwd=REPO, capture_output=True,
                              env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
        assert done.returncode == 4, done.stderr
        assert b"Traceback" not in done.stderr
        outputs.append(done.stdout.decode("utf-8"))
    text, as_json = outputs
    rows = table_rows(text)
    assert set(names.values()) | {"ok.xlsx"} == set(rows)
    with table.open(encoding="utf-8") as f:
        assert {r["file"] for r in csv.DictReader(f)} == set(rows)
    report = json.loads(as_json)
    assert {r["file"] for r in report} == set(rows)
    (ok,) = [r for r in report if r["file"] == "ok.xlsx"]
    assert ok["sheets"][0]["sheet"] == "'=evil\\x9b31m\\u202e"
    for out in (text, as_json, table.read_text(encoding="utf-8")):
        assert not {"\x1b", "\x9b", "\u202e", "\t"} & set(out)
