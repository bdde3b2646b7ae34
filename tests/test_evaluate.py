"""The check's own evaluator (check/evaluate.py) against Excel's semantics and two oracles.

- Excel's documented results for what students type (precedence, errors as values, lazy IF,
  numeric text, blanks); what it cannot compute is `Unsupported`, never a guess.
- Differential: every formula cell of the fixture workbooks (the course's network, other
  networks, messy and hand-made layouts, hostile cells), at the given inputs and at changed
  ones, by this evaluator and by the `formulas` engine (and LibreOffice for a sample).
- The reports: `check` with this evaluator and with the formulas engine (the old path) says the
  same, line for line, on planted mistakes, messy layouts, other networks and hostile files.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from tests import handmade, messy, planted
from tests.student import make as student
from tests.test_check_networks import MSE, PLANTED, SOFTMAX, XOR, fields, letters_of
from workbook_builder.check import audit
from workbook_builder.check.audit_report import to_lines
from workbook_builder.check.engine import ENGINE_VARIABLE, Calculation, FormulasCalculation
from workbook_builder.check.evaluate import Book
from workbook_builder.check.excel import Err, Unsupported
from workbook_builder.check.foreign import engine_copy
from workbook_builder.network.spec import Run
from workbook_builder.sheet import writer


def evaluate(formula: str, **cells: Any) -> Any:
    """``formula`` in A1 of a sheet holding ``cells`` (B1=2 …), by the own evaluator."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for address, value in cells.items():
        ws[address] = value
    ws["A1"] = formula
    return Book(wb).calculate([("S", 1, 1)])[("S", 1, 1)]


# --- Excel's semantics --------------------------------------------------------------------
# Expected values are Excel's (its documentation and behaviour), not this code's: e.g. unary
# minus binds tighter than ^ (-2^2 is 4), ^ is left-associative (2^3^2 is 64), 0^0 is #NUM!
@pytest.mark.parametrize(("formula", "expected"), [
    ("=-2^2", 4.0), ("=2^3^2", 64.0), ("=2^-1", 0.5), ("=10-2-3", 5.0), ("=2*-3", -6.0),
    ("=5%", 0.05), ("=1+2*3^2", 19.0), ("=(1+2)*3", 9.0), ('="3"+1', 4.0), ("=TRUE+1", 2.0),
    ('=" 2.5 "*2', 5.0), ("=ROUND(2.5,0)", 3.0), ("=ROUND(-2.5,0)", -3.0),
    ("=ROUND(1.005,2)", 1.01), ("=ROUNDUP(2.01,1)", 2.1), ("=ROUNDDOWN(-2.09,1)", -2.0),
    ("=LOG(8,2)", 3.0), ("=LOG10(1000)", 3.0), ("=LOG(100)", 2.0), ("=SIGN(-0.5)", -1.0),
    ("=ABS(-3)", 3.0), ("=POWER(4,0.5)", 2.0), ("=SQRT(16)", 4.0), ("=EXP(0)", 1.0),
    ("=LN(1)", 0.0), ("=TANH(0)", 0.0), ("=PI()", math.pi),
    ("=IF(TRUE,1,1/0)", 1.0), ("=IF(FALSE,1/0,2)", 2.0), ("=IF(FALSE,1)", False),
    ("=IFERROR(1/0,7)", 7.0), ("=IFERROR(3,7)", 3.0),
    ('="a"="A"', True), ("=1<2", True), ("=2<>2", False), ('="x"&1.5', "x1.5"),
    ("=AND(1,0)", False), ("=OR(0,1)", True), ("=NOT(0)", True),
    ("=ROW()", 1.0), ("=COLUMN()", 1.0),
], ids=lambda v: str(v))
def test_excel_semantics(formula: str, expected: Any) -> None:
    got = evaluate(formula)
    assert type(got) is type(expected), got
    assert got == (pytest.approx(expected, rel=1e-15) if isinstance(expected, float) else
                   expected), got


@pytest.mark.parametrize(("formula", "code"), [
    ("=1/0", "#DIV/0!"), ("=1/0+1", "#DIV/0!"), ("=SQRT(-1)", "#NUM!"), ("=LN(0)", "#NUM!"),
    ("=EXP(1000)", "#NUM!"), ("=1E+308*10", "#NUM!"), ("=0^0", "#NUM!"),
    ("=(-8)^(1/3)", "#NUM!"), ("=0^-1", "#DIV/0!"), ('="abc"+1', "#VALUE!"),
    ('=""+1', "#VALUE!"), ("=NA()", "#N/A"), ("=NA()*0", "#N/A"), ("=IF(1/0,1,2)", "#DIV/0!"),
    ("=AVERAGE(C1:C3)", "#DIV/0!"), ("=MAX(1,1/0)", "#DIV/0!"),
], ids=lambda v: str(v))
def test_errors_are_excels_values_and_propagate(formula: str, code: str) -> None:
    """Never a NaN that would compare as "no difference": Excel's error, carried along."""
    assert evaluate(formula) == Err(code)


def test_ranges_text_and_blanks_as_excel_reads_them() -> None:
    cells = {"B1": 2, "B2": 3, "B3": "text", "C1": 1.5}
    assert evaluate("=SUM(B1:B3)", **cells) == 5.0  # text in a range is skipped
    assert evaluate('=SUM(B1,"2")', **cells) == 4.0  # text typed as an argument is read
    assert evaluate("=B3+1", **cells) == Err("#VALUE!")  # text in arithmetic is not
    assert evaluate("=MIN(B1:B3,-4)", **cells) == -4.0
    assert evaluate("=SUMPRODUCT(B1:B2,C1:C2)", **cells) == 3.0  # a blank counts as 0
    assert evaluate("=SUMSQ(B1:B2)", **cells) == 13.0
    assert evaluate("=D4", **cells) == 0.0  # a formula showing a blank shows 0
    assert evaluate("=D4+1", **cells) == 1.0
    assert evaluate("=1/D4", **cells) == Err("#DIV/0!")


@pytest.mark.parametrize(("formula", "why"), [
    ("=OFFSET(B1,1,0)", "the function OFFSET"), ('=INDIRECT("B1")', "INDIRECT"),
    ("=MOD(5,3)", "the function MOD"), ("=SUM(B1:B2 B2:B3)", "an intersection"),
    ("=B1:B2", "a range as the value"), ("=SUM(B:B)", "does not read"),
    ("=A2", "circular"), ("=Nope!B1", "not there"), ("=SUM(B1:B2)*{1,2}", "unexpected"),
    ("=ROW(B1)", "the function ROW"),
])
def test_what_it_cannot_compute_is_unsupported(formula: str, why: str) -> None:
    with pytest.raises(Unsupported, match=why):
        evaluate(formula, B1=2, B2=3, A2="=A1+1")


def test_an_array_formula_is_unsupported() -> None:
    from openpyxl.worksheet.formula import ArrayFormula

    wb = openpyxl.Workbook()
    wb.active["A1"] = ArrayFormula("A1", "=SUM(B1:B2*C1:C2)")
    with pytest.raises(Unsupported, match="array formula"):
        Book(wb)


def test_each_distinct_r1c1_formula_is_compiled_once() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for r in range(1, 201):
        ws.cell(r, 1, 0.5 if r == 1 else f"=A{r - 1}*2+$C$1")  # one R1C1 form, 199 cells
    ws["C1"] = 1
    book = Book(wb)
    values = book.calculate([("S", 200, 1)])
    assert book.distinct == 1
    expected = 0.5
    for _ in range(199):
        expected = expected * 2 + 1
    assert values[("S", 200, 1)] == expected


# --- differential: the own evaluator against the formulas engine ---------------------------
Fixture = Callable[[Path], Path]


def _course(path: Path) -> Path:
    return writer.build(Run(epochs=6, learning_rates=(0.5, 2.0)), path)


def _hostile(path: Path) -> Path:
    """A messy layout with the cells that test an evaluator: an error in one row that the
    gradients carry, IF and IFERROR branches, numeric text, ROW(), a blank referred to."""
    def edit(r: int, first: int, f: dict[str, str]) -> None:
        if r == first + 3:
            f["h1"] = f"=IF(ROW()>{r - 1},1/0,0)"
        f["E_tot"] = f'=IFERROR(U{r}+V{r},"none")'
        f["h2"] = f'=IF(F{r}>0.2,{f["h2"][1:]},-({f["h2"][1:]}))*"1"+ZZ{r}'
    return messy.make(path, messy.Layout(edit=edit))


FIXTURES: dict[str, Fixture] = {
    "course 2-2-2": _course,
    "xor tanh biases": lambda p: planted.build(XOR, p, epochs=4),
    "softmax relu ce": lambda p: planted.build(SOFTMAX, p, epochs=4),
    "mse two examples": lambda p: planted.build(MSE, p, epochs=4),
    "messy helpers POW": lambda p: messy.make(p, messy.Layout(helpers=True, power="POW",
                                                              text_rows=2)),
    "hand-made softmax": lambda p: handmade.write(SOFTMAX, p, epochs=4, deltas=False),
    "hostile cells": _hostile,
}


def _same(own: Any, theirs: Any) -> bool:
    """One cell's value by both: errors by their code; numbers within 1e-12 relative (the
    engines evaluate the same IEEE operations in the same order; EXP/LN/TANH from math and
    NumPy may differ in the last bit, and a few roundings carried through 4–6 epochs stay far
    below 1e-12), or 1e-15 absolute for values that cancel to ~0 (a gradient at its optimum)."""
    if isinstance(own, Err) or type(theirs).__name__ == "XlError":
        return isinstance(own, Err) and own.code == str(theirs)
    if isinstance(own, bool) or isinstance(theirs, bool | np.bool_):
        return bool(own) == bool(theirs) and isinstance(own, bool)
    if isinstance(own, str) or isinstance(theirs, str):
        return own == theirs
    return math.isclose(float(own), float(theirs), rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("name", list(FIXTURES))
def test_every_formula_cell_matches_the_formulas_engine(name: str, tmp_path: Path) -> None:
    """Every formula cell of every sheet the own evaluator computes (the Summary's COUNTIF
    and the like are the formulas engine's, as in a check), at the given and changed inputs."""
    path = FIXTURES[name](tmp_path / "source.xlsx")
    wb = openpyxl.load_workbook(path)
    copy = tmp_path / "book.xlsx"
    titles = {new: old for old, new in engine_copy(wb, copy)[0].items()}
    keys, numbers, skipped = [], [], []
    for ws in wb.worksheets:
        mine = [f"'[book.xlsx]{ws.title.upper()}'!{cell.coordinate}"
                for cell in ws._cells.values() if cell.data_type == "f"]
        try:
            Calculation(wb, copy.name, mine).solve()
        except Unsupported:
            skipped.append(titles[ws.title])
            continue
        keys += mine
        numbers += [f"'[book.xlsx]{ws.title.upper()}'!{cell.coordinate}"
                    for cell in ws._cells.values()
                    if isinstance(cell.value, int | float) and not isinstance(cell.value, bool)]
    assert set(skipped) <= {"Summary"}, skipped  # every table sheet, the Guide, the Network
    assert len(keys) > 50
    own, theirs = Calculation(wb, copy.name, keys + numbers), \
        FormulasCalculation(copy, keys + numbers)
    changed = {numbers[0]: 0.123, numbers[-1]: -0.4}  # the changed run replaces inputs
    for inputs in (None, changed):
        a, b = own.solve(inputs), theirs.solve(inputs)
        bad = [(k, a[k], b[k]) for k in keys if not _same(a[k], b[k])]
        assert bad == [], f"{len(bad)} of {len(keys)} cells differ, e.g. {bad[:3]}"
    if name == "hostile cells":  # the error and the branches really are there
        values = list(own.solve().values())
        assert any(isinstance(v, Err) and v.code == "#DIV/0!" for v in values)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice")
def test_a_sample_matches_libreoffice(tmp_path: Path) -> None:
    """LibreOffice, the other independent engine, on two fixtures: every numeric formula cell
    it recalculates, within 1e-12 relative (its EXP differs from math.exp in the last bit)."""
    from workbook_builder.sheet.render import recalculated_copy

    for name in ("messy helpers POW", "xor tanh biases"):
        path = FIXTURES[name](tmp_path / f"{name.split()[0]}.xlsx")
        recalculated = recalculated_copy(path, tmp_path / f"lo-{name.split()[0]}")
        values = openpyxl.load_workbook(recalculated, data_only=True)
        wb = openpyxl.load_workbook(path)
        copy = tmp_path / "book.xlsx"
        names = engine_copy(wb, copy)[0]
        cells = [(title, cell.coordinate) for title in names if title != "Summary"
                 for cell in wb[names[title]]._cells.values() if cell.data_type == "f"]
        keys = [f"'[book.xlsx]{names[t].upper()}'!{a}" for t, a in cells]
        own = Calculation(wb, copy.name, keys).solve()
        compared = 0
        for (title, address), key in zip(cells, keys, strict=True):
            lo = values[title][address].value
            if isinstance(lo, int | float) and not isinstance(lo, bool):
                compared += 1
                assert math.isclose(own[key], lo, rel_tol=1e-12, abs_tol=1e-15), \
                    (title, address, own[key], lo)
        assert compared > 50


# --- the reports: the own evaluator and the formulas engine say the same -------------------
def _planted(case: str) -> Fixture:
    row = next(p for p in PLANTED if p[0] == case)
    _, spec, column, change, first, _ = row

    def make(path: Path) -> Path:
        source = planted.build(spec, path.with_name(f"{case}-source.xlsx"), epochs=4)
        return planted.plant(source, path, column, change(letters_of(source)), first)
    return make


def _edit(edit: Callable[[int, int, dict[str, str]], None], **layout: Any) -> Fixture:
    return lambda path: messy.make(path, messy.Layout(edit=edit, **layout))


def _template_bug(r: int, first: int, f: dict[str, str]) -> None:
    for g in ("∂E/∂w3", "∂E/∂w4"):
        f[g] = f[g].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")


def _mod_in_h1(r: int, first: int, f: dict[str, str]) -> None:
    f["h1"] = f"=MOD({f['h1'][1:]},1000)"  # a function the own evaluator does not know


def _rand(r: int, first: int, f: dict[str, str]) -> None:
    f["E_tot"] = f"=(U{r}+V{r})*(1+(RAND()<0.5)*0.001)"


def _late_if(r: int, first: int, f: dict[str, str]) -> None:
    if r > first:
        f["w1"] = f"=IF(ROW()>=20,1.01,1)*({f['w1'][1:]})"


def _typed(r: int, first: int, f: dict[str, str]) -> None:
    if r == first + 2:
        f["a_o2"] = "0.75"


REPORTED: dict[str, tuple[Fixture, dict[str, Any] | None]] = {
    "tanh slope as sigmoid": (_planted("tanh-slope-as-sigmoid"), fields(XOR)),
    "bias copied": (_planted("bias-copied"), fields(XOR)),
    "eta without dollar": (_planted("eta-without-dollar"), fields(XOR)),
    "softmax as separate": (_planted("softmax-as-separate"), fields(SOFTMAX)),
    "sigmoid sign": (_planted("sigmoid-sign"), fields(MSE)),
    "course template bug": (_edit(_template_bug), None),
    "helpers POW text rows": (_edit(lambda r, first, f: None, helpers=True, power="POW",
                                    text_rows=2, eta=None), None),
    "MOD: the fallback": (_edit(_mod_in_h1), None),
    "RAND in E_total": (_edit(_rand), None),
    "IF(ROW()) lower down": (_edit(_late_if, rows=24), None),
    "typed number": (_edit(_typed), None),
    "hostile cells": (_hostile, None),
    "course workbook": (_course, None),
}


def _report(path: Path, network: dict[str, Any] | None, work: Path) -> list[str]:
    work.mkdir()
    from formulas.excel import xlreader

    opener = xlreader.load_workbook
    try:
        return to_lines(audit.audit(path, work, network=network))
    finally:  # audit() guards the engine's opener for the rest of the (child) process
        xlreader.load_workbook = opener


@pytest.mark.parametrize("name", list(REPORTED))
def test_the_report_is_the_same_with_either_engine(name: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    make, network = REPORTED[name]
    path = make(tmp_path / "student.xlsx")
    monkeypatch.setenv(ENGINE_VARIABLE, "auto")
    own = _report(path, network, tmp_path / "own")
    monkeypatch.setenv(ENGINE_VARIABLE, "formulas")
    old = _report(path, network, tmp_path / "formulas")
    assert own == old
    assert len(own) > 10


def test_a_function_it_does_not_know_goes_to_the_formulas_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MOD in one column: the check still judges every column (by the formulas engine) and
    finds the sheet right, as before."""
    calls: list[str] = []
    original = FormulasCalculation.__init__

    def spy(self: FormulasCalculation, path: Path, ranges: list[str]) -> None:
        calls.append(path.name)
        original(self, path, ranges)

    monkeypatch.setattr(FormulasCalculation, "__init__", spy)
    path = messy.make(tmp_path / "mod.xlsx", messy.Layout(edit=_mod_in_h1))
    lines = _report(path, None, tmp_path / "work")
    assert calls, "the formulas engine was not used"
    assert any(" h1 " in line and line.rstrip().endswith("ok") for line in lines), lines
    calls.clear()
    _report(student(tmp_path / "plain.xlsx"), None, tmp_path / "work2")
    assert calls == []  # a plain workbook never reaches it
