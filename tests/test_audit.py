"""`check`: hand-made workbooks with one planted mistake each, hostile files, our own output."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.course import trace
from tests.student import FIRST, col, make
from workbook_builder.check import audit
from workbook_builder.cli.main import main
from workbook_builder.network.spec import Network, Run
from workbook_builder.sheet import layout
from workbook_builder.sheet.writer import build


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    """Run `check --json`; return the exit status and the parsed report."""
    status = main(["check", str(path), "--json", *extra])
    out = capsys.readouterr().out
    return status, json.loads(out) if out else {}


def wrong(report: dict) -> dict[str, dict]:
    return {c["name"]: c for s in report["sheets"] for c in s["columns"] if not c["ok"]}


def a_h1_for_a_h2(r: int, f: dict[str, str]) -> None:
    """The class template's bug: ∂E/∂w3 and ∂E/∂w4 with a_h1·(1 − a_h1)."""
    for g in ("∂E/∂w3", "∂E/∂w4"):
        f[g] = f[g].replace(f"{col('a_h2')}{r}", f"{col('a_h1')}{r}")


def sign_error_w6(r: int, f: dict[str, str]) -> None:
    if r > FIRST:
        f["w6"] = f["w6"].replace("-$B$1", "+$B$1")


def no_half_in_e2(r: int, f: dict[str, str]) -> None:
    f["E2"] = f["E2"].replace("0.5*", "")


def eta_without_dollar_w1(r: int, f: dict[str, str]) -> None:
    """=E4-B1*AD4 typed in the first update row, then copied down: B1 becomes B2, B3, ..."""
    if r > FIRST:
        f["w1"] = f["w1"].replace("$B$1", f"B{r - FIRST}")


TYPED_ROW = FIRST + 2


def typed_a_o2(r: int, f: dict[str, object]) -> None:
    """The right value at the given inputs, typed in: only the changed inputs can tell."""
    if r == TYPED_ROW:
        f["a_o2"] = float(trace(Network(), 0.5, 8)["a_o2"][r - FIRST])


def swapped_o2(r: int, f: dict[str, str]) -> None:
    f["o2"] = f"={col('w8')}{r}*{col('a_h1')}{r}+{col('w7')}{r}*{col('a_h2')}{r}"


MISTAKES = [
    (a_h1_for_a_h2, {"∂E/∂w3", "∂E/∂w4"}, "uses a_h1 where a_h2 belongs"),
    (sign_error_w6, {"w6"}, "sign error"),
    (no_half_in_e2, {"E2"}, "½ missing"),
    (eta_without_dollar_w1, {"w1"}, "without $"),
    (typed_a_o2, {"a_o2"}, f"typed number, not a formula, in row {TYPED_ROW}"),
    (swapped_o2, {"o2"}, "swaps w7 and w8"),
]


@pytest.mark.parametrize(("edit", "guilty", "diagnosis"), MISTAKES,
                         ids=[m[0].__name__ for m in MISTAKES])
def test_planted_mistake_is_named_once(edit: Callable[[int, dict[str, str]], None],
                                       guilty: set[str], diagnosis: str,
                                       tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    status, report = check(make(tmp_path / "student.xlsx", edit=edit), capsys)
    assert status == 1
    found = wrong(report)
    assert set(found) == guilty
    for c in found.values():
        assert diagnosis in c["diagnosis"], c


def test_typed_number_is_right_at_given_inputs_only(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, report = check(make(tmp_path / "s.xlsx", edit=typed_a_o2), capsys)
    assert wrong(report)["a_o2"]["when"] == "changed inputs"


def test_correct_sheet_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = check(make(tmp_path / "s.xlsx"), capsys)
    assert status == 0 and report["ok"]
    (sheet,) = report["sheets"]
    assert sheet["eta"] == 0.5 and sheet["eta_source"] == "cell B1"
    assert len(sheet["columns"]) == 27 and sheet["missing"] == []


def test_eta_typed_into_the_updates_is_read_from_them(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    def literal_eta(r: int, f: dict[str, str]) -> None:
        for k in range(1, 9):
            if r > FIRST:
                f[f"w{k}"] = f[f"w{k}"].replace("$B$1", "0.7")

    status, report = check(make(tmp_path / "s.xlsx", eta=None, edit=literal_eta), capsys)
    assert status == 0
    assert report["sheets"][0]["eta"] == 0.7
    assert report["sheets"][0]["eta_source"] == "typed into the weight updates"


@pytest.mark.parametrize("biases", [None, (0.35, 0.6)])
def test_builder_workbooks_pass_their_own_check(biases: tuple[float, float] | None,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = Run(epochs=10, learning_rates=(0.5, 1.0), network=Network(biases=biases))
    path = build(run, tmp_path / "ours.xlsx")
    status = main(["check", str(path)])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "all right: 62 of 62 quantities" in text
    sheets = [line for line in text.splitlines() if line.startswith("sheet ")]
    assert len(sheets) == 2 and all(f"(cell {layout.param_cell('η', absolute=False)})" in s
                                    for s in sheets)


def test_text_report_names_the_column(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(make(tmp_path / "s.xlsx", edit=no_half_in_e2))]) == 1
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if "WRONG from" in x]
    assert line.split()[0] == "E2" and f"row {FIRST}" in line
    assert lines[-1].startswith("WRONG: 26 of 27 quantities checked and right") and \
        "wrong: Backprop!E2" in lines[-1]


def test_circular_reference_and_unknown_function_are_verdicts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(r: int, f: dict[str, str]) -> None:
        if r == FIRST + 3:
            f["a_h1"] = f"=1/(1+EXP(-{col('h1')}{r}))+0*{col('a_h1')}{r}"  # refers to itself
            f["h2"] = f"=FOOBAR({col('w3')}{r})"

    status, report = check(make(tmp_path / "s.xlsx", edit=broken), capsys)
    assert status == 1
    found = wrong(report)
    assert set(found) == {"a_h1", "h2"}
    assert all("does not evaluate to a number" in c["diagnosis"] for c in found.values())


def hostile(tmp: Path) -> list[tuple[Path, str]]:
    ok = make(tmp / "ok.xlsx")
    (tmp / "text.xlsx").write_text("not a workbook")
    (tmp / "empty.xlsx").write_bytes(b"")
    (tmp / "locked.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    (tmp / "macro.xlsm").write_bytes(ok.read_bytes())
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "nothing to see"
    wb.save(tmp / "plain.xlsx")
    return [
        (tmp / "missing.xlsx", "no such file"),
        (tmp / "text.xlsx", "not an .xlsx workbook"),
        (tmp / "empty.xlsx", "is empty"),
        (tmp / "locked.xlsx", "password-protected"),
        (tmp / "macro.xlsm", "macros are never run"),
        (tmp / "plain.xlsx", "no sheet has a header row naming w1..w8"),
    ]


def test_hostile_files_get_one_line_and_exit_4(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be checked: 4; a path that does not exist is bad input: 2."""
    for path, message in hostile(tmp_path):
        assert main(["check", str(path)]) == (2 if "missing" in path.name else 4), path
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and message in captured.err, captured.err


def test_unused_external_link_part_is_ignored(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A link part that no formula uses (left over from a copied sheet) harms nothing."""
    linked = tmp_path / "linked.xlsx"
    linked.write_bytes(make(tmp_path / "ok.xlsx").read_bytes())
    with zipfile.ZipFile(linked, "a") as z:
        z.writestr("xl/externalLinks/externalLink1.xml", "<externalLink/>")
    status, report = check(linked, capsys)
    assert status == 0 and report["ok"]


def test_rows_limit_is_stated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make(tmp_path / "s.xlsx", rows=6)
    monkeypatch.setattr(audit, "MAX_ROWS", 5)
    with pytest.raises(audit.AuditError, match="6 epoch rows; the limit is 5"):
        audit.audit(path, tmp_path)
