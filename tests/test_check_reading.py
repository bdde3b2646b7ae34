"""`check` reads students' workbooks as a grader does: each layout feature seen in real files,
made by tests/messy.py, with the verdict a careful grader gives (exit status and wrong columns)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.course import trace
from tests.messy import Layout, make
from workbook_builder.check import audit
from workbook_builder.check.audit_report import ALL_RIGHT, INCOMPLETE, WRONG, status
from workbook_builder.check.netmodel import course
from workbook_builder.check.table import Table
from workbook_builder.check.verdict import SheetReport
from workbook_builder.network.reference import QUANTITIES
from workbook_builder.network.spec import Network


@pytest.fixture(autouse=True)
def engine_opener_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """audit() in-process guards the engine's file opener; give it back after each test."""
    from formulas.excel import xlreader

    monkeypatch.setattr(xlreader, "load_workbook", xlreader.load_workbook)
    yield


def verdict(tmp_path: Path, layout: Layout) -> tuple[int, list[SheetReport]]:
    path = make(tmp_path / "student.xlsx", layout)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    reports = audit.audit(path, work)
    return status(reports), reports


def wrong(reports: list[SheetReport]) -> dict[str, str | None]:
    return {c.name: c.diagnosis for r in reports for c in r.columns if c.ok is False}


def every_quantity_checked(reports: list[SheetReport]) -> None:
    (r,) = reports
    found = {c.name for c in r.columns if c.ok}
    assert found == set(QUANTITIES) - {"δ_o1", "δ_o2", "δ_h1", "δ_h2"}, sorted(found)
    assert r.missing == []


def grads(form: str) -> dict[str, str]:
    return {f"∂E/∂w{k}": form.format(k=k) for k in range(1, 9)}


HEADER_SPELLINGS = {
    "math italic ∂ (U+1D715)": grads("𝜕E/𝜕w{k}"),
    "eth ð": grads("ðE_t/ðw{k}"),
    "Cyrillic schwa Ә": grads("ӘE/Әw{k}"),
    "E∂w": grads("E∂w{k}"),
    "∂E_total/∂w": grads("∂E_total/∂w{k}"),
    "dE/dw": grads("dE/dw{k}"),
    "dEt/dw": grads("dEt/dw{k}"),
    "O typed as 0": {"a_o1": "a_01", "a_o2": "a_02"},
    "E-total": {"E_tot": "E-total"},
    "Etotal": {"E_tot": "Etotal"},
    "E total": {"E_tot": "E total"},
    "out_h": {"a_h1": "out_h1", "a_h2": "out_h2", "a_o1": "out_o1", "a_o2": "out_o2"},
    "upper case and spaces": {"w1": " W1 ", "h1": "H1", "E1": "E 1"},
}


@pytest.mark.parametrize("headers", HEADER_SPELLINGS.values(), ids=HEADER_SPELLINGS)
def test_header_spellings(headers: dict[str, str], tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(headers=headers))
    assert code == ALL_RIGHT
    every_quantity_checked(reports)


def test_one_mistyped_header_is_placed_by_its_neighbours(tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(headers={"w3": "Z"}))
    assert code == ALL_RIGHT
    every_quantity_checked(reports)
    assert any("'Z', read as w3 from its place beside w2 and w4" in n for n in reports[0].notes)


def test_two_unreadable_headers_side_by_side(tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(headers={"h2": "net 2nd hidden", "a_h2": "??"}))
    assert code == ALL_RIGHT
    every_quantity_checked(reports)
    assert sum("read as" in n or "by what its cells compute" in n for n in reports[0].notes) == 2


def test_a_column_is_found_by_what_it_computes() -> None:
    """Away from its neighbours, a column is recognised by its values: the one unnamed column
    equal to the quantity's rule on its row's own upstream cells (here a_h2, not the junk)."""
    net = Network()
    tr = trace(net, 0.5, 6)
    given = {q: v for q, v in tr.items() if q != "a_h2"}
    given.update({name: np.full(6, value) for name, value in
                  zip(("i1", "i2", "t1", "t2"), (*net.inputs, *net.targets), strict=True)})
    given["η"] = np.full(6, 0.5)
    columns = {q: k for k, q in enumerate(given, start=1)}
    table = Table("S", 1, columns, list(range(2, 8)), unknown={40: "B", 41: "C"})
    junk = tr["a_h2"] * (1 + 1e-6)
    audit.identify_by_values(table, given, {40: junk, 41: tr["a_h2"]}, course())
    assert table.columns["a_h2"] == 41
    assert table.notes == ["column AO, headed 'C', found as a_h2 by what its cells compute"]


def test_helper_columns_with_meaningless_headers(tmp_path: Path) -> None:
    """Helpers headed A-D hold the δ terms: recognised as such by their values, and checked."""
    code, reports = verdict(tmp_path, Layout(helpers=True))
    assert code == ALL_RIGHT
    (r,) = reports
    assert {c.name for c in r.columns if c.ok} == set(QUANTITIES)
    assert sum("by what its cells compute" in n for n in r.notes) == 4


def test_a_mistake_in_a_helper_column_is_reported_where_it_lands(tmp_path: Path) -> None:
    """δh2 (helper "D") built from a_h1: the gradients it feeds are named, with the cause."""
    def template_bug(r: int, first: int, f: dict[str, str]) -> None:
        f["δh2"] = f["δh2"].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")  # a_h2 -> a_h1

    code, reports = verdict(tmp_path, Layout(helpers=True, edit=template_bug))
    assert code == WRONG
    found = wrong(reports)
    assert set(found) == {"∂E/∂w3", "∂E/∂w4"}  # the helper, no longer a δ, stays unnamed
    assert all(d == "uses a_h1 where a_h2 belongs" for d in found.values()), found


def test_text_row_between_header_and_epoch_0(tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(text_rows=1))
    assert code == ALL_RIGHT
    every_quantity_checked(reports)
    assert reports[0].epochs == 8


ETA_LABELS = {
    "ɳ (U+0273)": Layout(eta_label="ɳ"),
    "η=": Layout(eta_label="η="),
    "LR=": Layout(eta_label="LR="),
    "Learning Rate eta": Layout(eta_label="Learning Rate eta"),
    "lr": Layout(eta_label="lr"),
    "two cells right": Layout(eta_label="η", eta_cell="C1"),
    "below": Layout(eta_label="η", eta_cell="A2"),
    "no label": Layout(eta_label=None, eta_cell="H1"),
}


@pytest.mark.parametrize("layout", ETA_LABELS.values(), ids=ETA_LABELS)
def test_eta_wherever_it_is(layout: Layout, tmp_path: Path) -> None:
    layout = dataclasses.replace(layout, eta=0.7)
    code, reports = verdict(tmp_path, layout)
    assert code == ALL_RIGHT
    assert reports[0].eta == 0.7 and reports[0].eta_source == f"cell {layout.eta_cell}"


def test_a_mirror_of_eta_is_not_taken_for_it(tmp_path: Path) -> None:
    """An "η" label at the top whose cell is =AL20 (the real one, lower down): the updates
    multiply by AL20, so that is the cell to read and to vary."""
    layout = Layout(eta_label="learning rate", eta_label_cell="AK20", eta_cell="AL20",
                    mirror_eta="A1", header_row=4)
    code, reports = verdict(tmp_path, layout)
    assert code == ALL_RIGHT, wrong(reports)
    assert reports[0].eta_source == "cell AL20"


def test_google_sheets_pow_is_judged_as_power(tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(power="POW"))
    assert code == ALL_RIGHT
    every_quantity_checked(reports)
    (note,) = [n for n in reports[0].notes if "POW" in n]
    assert "16 cell(s)" in note and "#NAME?" in note and "judged as POWER" in note


def test_google_sheets_pow_does_not_hide_a_mistake(tmp_path: Path) -> None:
    def no_half(r: int, first: int, f: dict[str, str]) -> None:
        f["E2"] = f["E2"].replace("0.5*", "")

    code, reports = verdict(tmp_path, Layout(power="POW", edit=no_half))
    assert code == WRONG and set(wrong(reports)) == {"E2"}


def test_a_cell_from_the_wrong_row_is_named(tmp_path: Path) -> None:
    """a_h1 computed from h1 three rows below: named, row offset and all."""
    def three_below(r: int, first: int, f: dict[str, str]) -> None:
        f["a_h1"] = f"=1/(1+EXP(-M{r + 3}))"

    code, reports = verdict(tmp_path, Layout(edit=three_below, rows=10))
    assert code == WRONG
    found = wrong(reports)
    assert set(found) == {"a_h1"}
    assert "a_h1 uses h1 from row r+3" in (found["a_h1"] or ""), found


def test_quantities_not_in_the_sheet_make_it_incomplete(tmp_path: Path) -> None:
    """No E1 and E2 columns (E_tot written in one go): what is there is right, and E_total is
    judged through E1's and E2's own equations, but E1 and E2 are missing: exit 3, never "all
    right"."""
    def one_go(r: int, first: int, f: dict[str, str]) -> None:
        f["E_tot"] = f"=0.5*(A{r}-R{r})^2+0.5*(B{r}-T{r})^2"

    code, reports = verdict(tmp_path, Layout(drop=("E1", "E2"), edit=one_go))
    assert code == INCOMPLETE
    (r,) = reports
    assert r.missing == ["E1", "E2"]
    assert all(c.ok for c in r.columns), [(c.name, c.diagnosis) for c in r.columns if not c.ok]
    assert "E_total" in {c.name for c in r.columns}


def test_a_total_written_in_one_go_is_still_judged(tmp_path: Path) -> None:
    """E_tot in one go from the sums o1, o2 (columns Q, S) where a_o1, a_o2 (R, T) belong:
    without E1 and E2 columns E_total is still judged, through their equations: WRONG."""
    def one_go(r: int, first: int, f: dict[str, str]) -> None:
        f["E_tot"] = f"=0.5*(A{r}-Q{r})^2+0.5*(B{r}-S{r})^2"

    code, reports = verdict(tmp_path, Layout(drop=("E1", "E2"), edit=one_go))
    assert code == WRONG
    assert set(wrong(reports)) == {"E_total"}


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) not installed; CI=true makes this a failure")
@pytest.mark.parametrize(("layout", "expected"), [
    (Layout(helpers=True, text_rows=1, headers=grads("dE/dw{k}")), ALL_RIGHT),
    (Layout(power="POW", edit=lambda r, first, f: f.update(
        {g: f[g].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})") for g in ("∂E/∂w3", "∂E/∂w4")})),
     WRONG),
], ids=["right", "template bug"])
def test_saved_through_libreoffice(layout: Layout, expected: int, tmp_path: Path) -> None:
    """The same workbooks after a round trip through LibreOffice (its XML: shared strings,
    its own formula and style parts): the same verdicts."""
    from workbook_builder.sheet import render

    original = make(tmp_path / "student.xlsx", layout)
    (tmp_path / "lo").mkdir()
    saved = render.recalculated_copy(original, tmp_path / "lo")
    assert saved.read_bytes() != original.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    reports = audit.audit(saved, work)
    assert status(reports) == expected
    if expected == WRONG:
        assert set(wrong(reports)) == {"∂E/∂w3", "∂E/∂w4"}


def test_rows_repeating_a_formula_are_proved_by_their_text(tmp_path: Path) -> None:
    code, reports = verdict(tmp_path, Layout(rows=40))
    assert code == ALL_RIGHT and reports[0].epochs == 40
    (note,) = [n for n in reports[0].notes if "checked by their text" in n]
    assert note.startswith("rows 16–43 repeat row 5's formulas")


LATE = 4 + 30  # a row far below the rows recomputed by default


def late_typed_number(r: int, first: int, f: dict[str, object]) -> None:
    if r == LATE:  # the right value at the given inputs, typed: only recomputing can tell
        f["a_o2"] = float(trace(Network(), 0.5, 31)["a_o2"][30])


def late_other_formula(r: int, first: int, f: dict[str, str]) -> None:
    if r >= LATE:
        for g in ("∂E/∂w3", "∂E/∂w4"):
            f[g] = f[g].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")


@pytest.mark.parametrize("every_row", [False, True])
@pytest.mark.parametrize(("edit", "guilty"), [(late_typed_number, {"a_o2"}),
                                              (late_other_formula, {"∂E/∂w3", "∂E/∂w4"})],
                         ids=["typed number", "other formula"])
def test_a_row_that_breaks_its_column_pattern_is_recomputed(
        edit: object, guilty: set[str], every_row: bool, tmp_path: Path) -> None:
    path = make(tmp_path / "student.xlsx", Layout(rows=40, edit=edit))  # type: ignore[arg-type]
    (tmp_path / "work").mkdir()
    reports = audit.audit(path, tmp_path / "work", every_row=every_row)
    assert status(reports) == WRONG
    found = {c.name: c for r in reports for c in r.columns if c.ok is False}
    assert set(found) == guilty
    assert all(c.first_wrong_row == LATE for c in found.values())
