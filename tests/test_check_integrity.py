"""`check` cannot be fooled: every attack that once made a wrong workbook pass, or a right one
fail or crash, with the verdict a careful grader gives (tests/messy.py makes the workbooks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from tests.messy import Layout, make
from workbook_builder.check import audit
from workbook_builder.check.audit_report import ALL_RIGHT, INCOMPLETE, WRONG, status, to_lines
from workbook_builder.check.foreign import AuditError
from workbook_builder.check.verdict import SheetReport

Post = Callable[[openpyxl.Workbook], None]


@pytest.fixture(autouse=True)
def engine_opener_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """audit() in-process guards the engine's file opener; give it back after each test."""
    from formulas.excel import xlreader

    monkeypatch.setattr(xlreader, "load_workbook", xlreader.load_workbook)
    yield


def checked(tmp_path: Path, layout: Layout, post: Post | None = None,
            every_row: bool = False, name: str = "student") -> list[SheetReport]:
    path = make(tmp_path / f"{name}.xlsx", layout)
    if post is not None:
        wb = openpyxl.load_workbook(path)
        post(wb)
        wb.save(path)
    work = tmp_path / f"{name}-work"
    work.mkdir()
    from formulas.excel import xlreader

    opener = xlreader.load_workbook
    try:
        return audit.audit(path, work, every_row=every_row)
    finally:  # audit() guards the engine's opener for the rest of the (child) process
        xlreader.load_workbook = opener


def wrong(reports: list[SheetReport]) -> dict[str, str | None]:
    return {c.name: c.diagnosis for r in reports for c in r.columns if c.ok is False}


def set_cell(address: str, value: object) -> Post:
    def post(wb: openpyxl.Workbook) -> None:
        wb.active[address] = value
    return post


def sign_error_in_w6(r: int, first: int, f: dict[str, str]) -> None:
    if r > first:
        f["w6"] = f["w6"].replace("-$B$1", "+$B$1")


def typed_w2(r: int, first: int, f: dict[str, object]) -> None:
    if r == first + 2:
        f["w2"] = 0.2


# --- η (or an input) that is not a number never makes a sheet right ---------------------------
NOT_A_NUMBER = {"=1/0": "=1/0", "=NA()": "=NA()", "0,5 typed as text": "0,5",
                "circular": "=B1"}


@pytest.mark.parametrize("eta", NOT_A_NUMBER.values(), ids=NOT_A_NUMBER)
def test_eta_that_is_not_a_number_is_wrong_and_the_rest_still_checked(
        eta: str, tmp_path: Path) -> None:
    """η = 1/0 once made every expectation NaN, every row skipped: "all right", exit 0, even
    with a sign error and a typed weight planted. Now η is named, and the other mistakes are
    still found at the changed inputs, where the check gives η a number."""
    def both(r: int, first: int, f: dict[str, str]) -> None:
        sign_error_in_w6(r, first, f)
        typed_w2(r, first, f)  # type: ignore[arg-type]

    reports = checked(tmp_path, Layout(edit=both), set_cell("B1", eta))
    assert status(reports) == WRONG
    found = wrong(reports)
    assert set(found) == {"η", "w6", "w2"}, found
    assert "is not a number" in (found["η"] or "")
    assert "sign error" in (found["w6"] or "")
    assert "typed number" in (found["w2"] or "")
    (r,) = reports
    # the updates were judged only at the changed inputs: no weight is called plainly right
    assert all(c.diagnosis for c in r.columns if c.name.startswith("w")), r.columns


def test_an_input_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    reports = checked(tmp_path, Layout(), set_cell("C4", "=1/0"))  # i1 of epoch 0
    assert status(reports) == WRONG
    assert "i1" in wrong(reports)


def test_an_initial_weight_that_is_text_is_named(tmp_path: Path) -> None:
    reports = checked(tmp_path, Layout(), set_cell("F4", "0,2"))  # w2 of epoch 0
    assert status(reports) == WRONG
    assert "initial weight" in (wrong(reports).get("w2") or ""), wrong(reports)


# --- a row proof must be sound --------------------------------------------------------------
def late_row_if(r: int, first: int, f: dict[str, str]) -> None:
    if r > first:
        f["w1"] = f"=IF(ROW()>=20,1.01,1)*({f['w1'][1:]})"


def below_threshold(r: int, first: int, f: dict[str, str]) -> None:
    f["E_tot"] = f"=IF(U{r}+V{r}<0.0005,1.01,1)*(U{r}+V{r})"


@pytest.mark.parametrize(("layout", "guilty"), [
    (Layout(rows=30, edit=late_row_if), "w1"),
    (Layout(rows=60, eta=2.0, edit=below_threshold), "E_total"),
], ids=["IF(ROW()>=20)", "IF(E_total < threshold)"])
def test_a_formula_that_changes_lower_down_is_not_proved_by_its_text(
        layout: Layout, guilty: str, tmp_path: Path) -> None:
    """The same formula text on every row, right on the first rows, wrong from row 20 (or
    once E_total is small): recomputed, and WRONG without --every-row."""
    reports = checked(tmp_path, layout)
    assert status(reports) == WRONG
    assert set(wrong(reports)) == {guilty}
    assert any("every row recomputed" in n for n in reports[0].notes), reports[0].notes


def test_the_overflow_guard_still_proves_rows_by_text(tmp_path: Path) -> None:
    """MIN(709, −x) in σ is the builder's own overflow guard, not a branch worth recomputing."""
    def guarded(r: int, first: int, f: dict[str, str]) -> None:
        f["a_h1"] = f"=1/(1+EXP(MIN(709,-M{r})))"

    reports = checked(tmp_path, Layout(rows=40, edit=guarded))
    assert status(reports) == ALL_RIGHT
    assert any("checked by their text" in n for n in reports[0].notes)


# --- volatile functions ---------------------------------------------------------------------
def rand_in_e_total(r: int, first: int, f: dict[str, str]) -> None:
    f["E_tot"] = f"=(U{r}+V{r})*(1+(RAND()<0.5)*0.001)"


def test_rand_is_a_finding_and_the_verdict_is_the_same_every_run(tmp_path: Path) -> None:
    verdicts = []
    for k in range(3):
        reports = checked(tmp_path, Layout(edit=rand_in_e_total), name=f"s{k}")
        verdicts.append((status(reports), wrong(reports)))
    assert all(v == verdicts[0] for v in verdicts), verdicts
    code, found = verdicts[0]
    assert code == WRONG and set(found) == {"E_total"}
    assert "RAND()" in (found["E_total"] or "")


def test_now_in_a_helper_column_is_a_finding(tmp_path: Path) -> None:
    def now_in_helper(r: int, first: int, f: dict[str, str]) -> None:
        f["δo1"] = f["δo1"] + "*(1+0*NOW())"

    reports = checked(tmp_path, Layout(helpers=True, edit=now_in_helper))
    assert status(reports) == WRONG
    assert any("NOW()" in finding for finding in reports[0].findings), reports[0].findings


# --- ordinary Excel that once crashed or misjudged -------------------------------------------
def eta_as_name(r: int, first: int, f: dict[str, str]) -> None:
    for k, v in f.items():
        if isinstance(v, str):
            f[k] = v.replace("$B$1", "eta")


def define_eta(wb: openpyxl.Workbook) -> None:
    wb.defined_names["eta"] = DefinedName("eta", attr_text="Backprop!$B$1")


def test_eta_as_a_defined_name(tmp_path: Path) -> None:
    reports = checked(tmp_path, Layout(edit=eta_as_name), define_eta)
    assert status(reports) == ALL_RIGHT, wrong(reports)
    assert reports[0].eta_source == "cell B1"
    assert any("'eta' read as Backprop!$B$1" in n for n in reports[0].notes)


def test_eta_as_a_defined_name_does_not_hide_a_mistake(tmp_path: Path) -> None:
    def both(r: int, first: int, f: dict[str, str]) -> None:
        sign_error_in_w6(r, first, f)
        eta_as_name(r, first, f)

    reports = checked(tmp_path, Layout(edit=both), define_eta)
    assert status(reports) == WRONG
    assert set(wrong(reports)) == {"w6"}


def test_indirect_naming_the_sheet(tmp_path: Path) -> None:
    """The engine's copy renames sheets; text that INDIRECT reads is renamed with them."""
    def indirect(r: int, first: int, f: dict[str, str]) -> None:
        for k, v in f.items():
            if isinstance(v, str):
                f[k] = v.replace("$B$1", 'INDIRECT("Backprop!B1")')

    reports = checked(tmp_path, Layout(edit=indirect))
    assert status(reports) == ALL_RIGHT, wrong(reports)


def test_a_truncated_formula_is_a_wrong_cell_not_a_crash(tmp_path: Path) -> None:
    def cut(r: int, first: int, f: dict[str, str]) -> None:
        if r == first + 3:
            f["E_tot"] = f"=U{r}+"

    reports = checked(tmp_path, Layout(edit=cut))
    assert status(reports) == WRONG
    found = wrong(reports)
    assert set(found) == {"E_total"} and "not a valid formula" in (found["E_total"] or "")


def array_w1(r: int, first: int, f: dict[str, object]) -> None:
    if r > first:
        f["w1"] = ArrayFormula(f"E{r}", f["w1"])  # type: ignore[arg-type]


def test_array_formulas_are_read_as_formulas(tmp_path: Path) -> None:
    reports = checked(tmp_path, Layout(edit=array_w1))  # type: ignore[arg-type]
    assert status(reports) == ALL_RIGHT, wrong(reports)
    assert reports[0].epochs == 8


def test_an_array_formula_naming_another_workbook_is_refused(tmp_path: Path) -> None:
    def external(r: int, first: int, f: dict[str, object]) -> None:
        if r == first + 1:
            f["w1"] = ArrayFormula(f"E{r}", "='[other.xlsx]Sheet1'!A1")

    with pytest.raises(AuditError, match="refers to another file"):
        checked(tmp_path, Layout(edit=external))  # type: ignore[arg-type]


def test_eta_typed_into_the_updates_beside_a_labelled_cell(tmp_path: Path) -> None:
    """`=E33-0.5*X33` in all eight updates while a labelled η cell stays: the updates do not
    use that cell, so the changed run must not vary it (it once made 8 right columns WRONG)."""
    def typed(r: int, first: int, f: dict[str, str]) -> None:
        for k, v in f.items():
            if isinstance(v, str):
                f[k] = v.replace("$B$1", "0.5")

    reports = checked(tmp_path, Layout(edit=typed))
    assert status(reports) == ALL_RIGHT, wrong(reports)
    assert reports[0].eta_source == "typed into the weight updates"


# --- what it was checked against, and what a grader should know -------------------------------
def test_the_report_says_which_numbers_it_checked_against(tmp_path: Path) -> None:
    layout = dataclasses.replace(Layout(eta=7.0), weights=(1, 2, 3, 4, 5, 6, 7, 8))
    reports = checked(tmp_path, layout)
    against = reports[0].against
    assert against["η"] == 7.0 and against["w8"] == 8 and against["i1"] == 0.05
    assert any(line.startswith("  checked against the numbers it holds: i1 = 0.05")
               for line in to_lines(reports))


def test_precision_as_displayed_is_not_all_right(tmp_path: Path) -> None:
    def as_displayed(wb: openpyxl.Workbook) -> None:
        wb.calculation.fullPrecision = False

    reports = checked(tmp_path, Layout(), as_displayed)
    assert status(reports) == INCOMPLETE
    assert "precision as displayed" in reports[0].caveats[0]


def test_a_description_row_with_blank_weights_and_repeated_example_columns(
        tmp_path: Path) -> None:
    """A layout seen in real files: derivations (text) above the table, η labelled "Learning
    Rate", and under the header a row that describes each computed column in words while the
    weight cells of that row stay blank."""
    # header in row 8, the description row 9 (made by text_rows, then blanked but for the
    # words of three computed columns), epoch 0 in row 10
    layout = Layout(header_row=8, eta_label="Learning Rate", eta_label_cell="A6",
                    eta_cell="B6", text_rows=1)
    path = make(tmp_path / "student.xlsx", layout)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    for col in range(1, 32):  # the text row: words in the computed columns, weights blank
        ws.cell(9, col).value = None
    for col, text in ((13, "w1*i1+w2*i2"), (14, "sigmoid(h1)"), (23, "E1+E2")):
        ws.cell(9, col, text)
    ws["D1"] = "Derivations"
    ws["D2"] = "dE/dw5 = (a_o1 - t1) * a_o1 * (1 - a_o1) * a_h1"
    ws["D3"] = "w_new = w_old - learning rate * gradient"
    wb.save(path)
    (tmp_path / "work").mkdir()
    reports = audit.audit(path, tmp_path / "work")
    assert status(reports) == ALL_RIGHT, to_lines(reports)
    assert reports[0].epochs == 8 and reports[0].eta_source == "cell B6"


# --- diagnoses a student can act on ---------------------------------------------------------
# messy.py's columns: t1 A, t2 B, i1 C, i2 D, w1..w8 E..L, h1 M, a_h1 N, h2 O, a_h2 P, o1 Q,
# a_o1 R, o2 S, a_o2 T, E1 U, E2 V, E_tot W, ∂E/∂w1..∂E/∂w8 X..AE; epoch 0 in row 4, 8 rows
LAST = 11


def d_o(k: int, r: int, flipped: bool = False, t: str | None = None) -> str:
    a = "R" if k == 1 else "T"
    t = t or ("A" if k == 1 else "B")
    diff = f"{t}{r}-{a}{r}" if flipped else f"{a}{r}-{t}{r}"
    return f"({diff})*{a}{r}*(1-{a}{r})"


def edit(**by_name: Callable[[int], str]) -> Callable[[int, int, dict[str, str]], None]:
    def apply(r: int, first: int, f: dict[str, str]) -> None:
        for name, formula in by_name.items():
            if (text := formula(r)) and (r > first or not name.startswith("w")):
                f[name] = text
    return apply


DIAGNOSES = {
    "σ with the sign flipped": (
        edit(a_h1=lambda r: f"=1/(1+EXP(M{r}))"), "a_h1", "sign inside EXP is flipped"),
    "update with another weight's gradient": (
        edit(w4=lambda r: f"=H{r - 1}-$B$1*Z{r - 1}"), "w4", "uses ∂E/∂w3 where ∂E/∂w4 belongs"),
    "last row only, t2 for t1": (
        edit(E1=lambda r: f"=0.5*(B{r}-R{r})^2" if r == LAST else ""), "E1",
        "wrong in row 11 only: there uses t2 where t1 belongs; the formula there differs"),
    "first row only": (
        edit(h1=lambda r: f"=E{r}*D{r}+F{r}*D{r}" if r == 4 else ""), "h1",
        "wrong in row 4 only: there uses i2 where i1 belongs"),
    "hidden gradient without the path through o2": (
        edit(**{"∂E/∂w1": lambda r: f"=({d_o(1, r)}*I{r})*N{r}*(1-N{r})*C{r}"}), "∂E/∂w1",
        "leaves out the path through o2"),
    "one flipped (t − a) in a hidden gradient": (
        edit(**{"∂E/∂w2": lambda r: f"=({d_o(1, r)}*I{r}+{d_o(2, r, flipped=True)}*K{r})"
                                    f"*N{r}*(1-N{r})*D{r}"}), "∂E/∂w2",
        "path through o2 has the wrong sign"),
    "t1 where t2 belongs, t1 already in the formula": (
        edit(**{"∂E/∂w3": lambda r: f"=({d_o(1, r)}*J{r}+{d_o(2, r, t='A')}*L{r})"
                                    f"*P{r}*(1-P{r})*C{r}"}), "∂E/∂w3",
        "uses t1 where t2 belongs"),
    "a row shift written with $ columns": (
        edit(a_h1=lambda r: f"=1/(1+EXP(-$M{r + 1}))"), "a_h1", "uses h1 from row r+1"),
}


@pytest.mark.parametrize(("mistake", "guilty", "diagnosis"), DIAGNOSES.values(),
                         ids=DIAGNOSES)
def test_each_mistake_gets_its_explanation(mistake: Callable[[int, int, dict[str, str]], None],
                                           guilty: str, diagnosis: str,
                                           tmp_path: Path) -> None:
    reports = checked(tmp_path, Layout(edit=mistake))
    assert status(reports) == WRONG
    found = wrong(reports)
    assert set(found) == {guilty}, found
    assert diagnosis in (found[guilty] or ""), found


def test_a_sign_error_beside_eta_is_not_taken_for_eta_without_dollar(tmp_path: Path) -> None:
    """η in F1, above w2's column: the update's own F4, F5, ... are not η references."""
    def sign_error_w2(r: int, first: int, f: dict[str, str]) -> None:
        if r > first:
            f["w2"] = f"=F{r - 1}+$F$1*Y{r - 1}"

    layout = Layout(eta_label_cell="E1", eta_cell="F1", edit=sign_error_w2)
    reports = checked(tmp_path, layout)
    found = wrong(reports)
    assert set(found) == {"w2"} and "sign error" in (found["w2"] or ""), found


def test_columns_checked_only_in_part_earn_no_points(tmp_path: Path) -> None:
    """η = 1/0: every column after it could be judged only at the changed inputs. The verdict
    is WRONG, and the score must not hand out the points of columns never checked as given."""
    from workbook_builder.classroom import points

    reports = checked(tmp_path, Layout(), set_cell("B1", "=1/0"))
    assert status(reports) == WRONG
    assert points.score(reports).points == 0
