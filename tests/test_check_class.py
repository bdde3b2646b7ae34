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

from tests.conftest import REPO, processes_with
from tests.messy import Layout, make
from workbook_builder.cli import main
from workbook_builder.spec import Run
from workbook_builder.writer import build


def template_bug(r: int, first: int, f: dict[str, str]) -> None:
    """The class template's a_h1-for-a_h2 in ∂E/∂w3 and ∂E/∂w4."""
    for g in ("∂E/∂w3", "∂E/∂w4"):
        f[g] = f[g].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")


def one_go(r: int, first: int, f: dict[str, str]) -> None:
    f["E_tot"] = f"=0.5*(A{r}-Q{r})^2+0.5*(B{r}-S{r})^2"


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
            "carol.xlsx": ("incomplete", 3), "dave.xlsx": ("cannot check", 2)}


def test_a_folder_gives_a_class_table_that_agrees_with_each_file(
        classroom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "class.csv"
    assert main(["check", str(classroom), "--csv", str(table), "--jobs", "2"]) == 2  # worst
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
        build(Run(epochs=40), folder / f"s{k}.xlsx")  # ~40 s each to check
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-m", "workbook_builder", "check", str(folder)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "WB_TEST_MARKER": marker})
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


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
def test_annotated_copies_of_a_class_open_in_libreoffice(
        classroom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbook_builder import render

    notes = tmp_path / "annotated"
    assert main(["check", str(classroom), "--annotate", str(notes)]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in notes.iterdir()) == [
        "alice.checked.xlsx", "bob.checked.xlsx", "carol.checked.xlsx"]
    (tmp_path / "lo").mkdir()
    saved = render.recalculated_copy(notes / "bob.checked.xlsx", tmp_path / "lo")
    values = openpyxl.load_workbook(saved, data_only=True)["Backprop"]
    assert values["Z4"].value == pytest.approx(0.0003518686651, rel=1e-9)  # still its formula
