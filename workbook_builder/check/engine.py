"""The evaluating side of a check: the cell keys, the two calculations (this package's
evaluator, or the formulas engine where it cannot), the values computed as columns, the
changed run's inputs, the ranges read, and the walls around the formulas engine (no other file
opened; formulas it cannot parse replaced by =NA())."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl.utils.cell import (
    coordinate_to_tuple,
    get_column_letter,
)

from workbook_builder import isolation
from workbook_builder.check.foreign import AuditError, Cells
from workbook_builder.check.netmodel import Model
from workbook_builder.check.repeats import r1c1
from workbook_builder.check.table import Table
from workbook_builder.network.reference import Array

ETA_FACTOR = 1.5  # the changed run also scales η, where the sheet has an η cell
CHANGED_ETA = 0.75  # ... and sets it to this where η is not a number (or 0)


def changed_eta(eta: float) -> float:
    """η in the changed run: scaled, or a fixed number where the sheet's η is none (=1/0)."""
    return eta * ETA_FACTOR if np.isfinite(eta) and eta != 0 else CHANGED_ETA


def engine_key(book: str, table: Table, address: str) -> str:
    return f"'[{book}]{table.engine_sheet}'!{address}"


def param_key(book: str, table: Table, name: str) -> str:
    """The engine's key of a value cell, on the table's sheet or another (param_sheets)."""
    sheet = table.param_sheets.get(name)
    engine = table.engine_sheets.get(sheet, table.engine_sheet) if sheet else table.engine_sheet
    return f"'[{book}]{engine}'!{table.params[name]}"


def param_cell(table: Table, name: str) -> str:
    """A value cell as a person reads it: ``B6``, or ``Network!B6`` on another sheet."""
    sheet = table.param_sheets.get(name)
    return f"{sheet}!{table.params[name]}" if sheet else table.params[name]


def as_number(v: Any) -> float:
    """A computed value as the check compares it: NaN for blanks, text, logicals, errors."""
    return float(v) if isinstance(v, int | float | np.number) and not isinstance(v, bool) \
        else float("nan")


def column_values(solution: Solution, book: str, table: Table) -> dict[str, Array]:
    """Every quantity down the rows (NaN where a cell is empty, an error or not computed)."""
    data: dict[str, Array] = {}
    for name, col in table.columns.items():
        values = []
        for r in table.rows:
            values.append(as_number(solution.get(engine_key(book, table,
                                                             f"{get_column_letter(col)}{r}"))))
        data[name] = np.asarray(values, dtype=float)
    n = len(table.rows)
    for name in table.params:
        data[name] = np.full(n, as_number(solution.get(param_key(book, table, name))))
    return data


def unknown_values(solution: Solution, book: str, table: Table) -> dict[int, Array]:
    """The values of the columns whose header named nothing (helpers, mistyped headers)."""
    out = {}
    for col in table.unknown:
        letter = get_column_letter(col)
        out[col] = np.asarray([as_number(solution.get(engine_key(book, table, f"{letter}{r}")))
                               for r in table.rows], dtype=float)
    return out


def changed_inputs(book: str, table: Table, eta: float, model: Model
                   ) -> dict[str, float]:
    """Engine inputs for the changed run: the examples, the fixed biases, the first row's
    parameters and η."""
    inputs: dict[str, float] = {}
    for name in (*model.given, *model.fixed):
        if name not in model.changed:
            continue
        if name in table.params:
            inputs[param_key(book, table, name)] = model.changed[name]
        elif name in table.columns:  # a column: every row gets the new value
            letter = get_column_letter(table.columns[name])
            for r in table.rows:
                inputs[engine_key(book, table, f"{letter}{r}")] = model.changed[name]
    for name in model.parameters:
        if name not in table.columns:
            continue
        address = f"{get_column_letter(table.columns[name])}{table.rows[0]}"
        inputs[engine_key(book, table, address)] = model.changed[name]
    if "η" in table.params:  # η that is not a number (=1/0) gets one, so the rest is checked
        inputs[param_key(book, table, "η")] = changed_eta(eta)
    return inputs


def table_ranges(book: str, table: Table) -> list[str]:
    """The engine ranges a check reads: the table below its header, and each parameter cell."""
    used = [*table.columns.values(), *table.unknown]
    first, last = min(used), max(used)
    body = (f"{get_column_letter(first)}{table.rows[0]}:"
            f"{get_column_letter(last)}{table.rows[-1]}")
    return [engine_key(book, table, body), *(param_key(book, table, n) for n in table.params)]


def guard_other_files(allowed: Path) -> None:
    """Make the formulas engine refuse to open any file but ``allowed``.

    A second wall behind foreign.engine_copy's refusal of external references: the engine
    resolves such a reference by opening the file, so its opener is replaced for this
    process (the limited child, which exits when the check is done).
    """
    from formulas.excel import xlreader

    # the library's own opener, not the guard a previous check of this process put there (a
    # pool's worker checks many files)
    opener = getattr(xlreader, "_workbook_builder_opener", xlreader.load_workbook)
    xlreader._workbook_builder_opener = opener
    allowed_real = os.path.realpath(allowed)

    def load_only_the_copy(filename: Any, *args: Any, **kwargs: Any) -> Any:
        if os.path.realpath(str(filename)) != allowed_real:
            raise AuditError(f"a formula needs another file ({filename}); it is not opened")
        return opener(filename, *args, **kwargs)

    xlreader.load_workbook = load_only_the_copy


def parses(formula: str, row: int, col: int) -> bool:
    """Is ``formula`` a formula at all? This package's parser accepts it, or (what that parser
    does not read: Google's POW, functions it lacks) the formulas engine's does."""
    from workbook_builder.check.evaluate import parse
    from workbook_builder.check.excel import Unsupported

    try:
        parse(formula, row, col)
        return True
    except Unsupported:
        pass
    from formulas import Parser

    try:
        Parser().ast(formula)
        return True
    except Exception:
        return False


def replace_invalid(ws: Any, grid: Cells, table: Table) -> dict[tuple[int, int], str]:
    """Formulas of the table that the engine cannot parse (``=U5+``, cut off), replaced by
    ``=NA()`` in the engine's copy so that the rest is still checked; returns them by cell.

    Each column repeats a formula down its rows, so each distinct R1C1 form is parsed once."""
    bad: dict[tuple[int, int], str] = {}
    verdicts: dict[object, bool] = {}
    for col in (*table.columns.values(), *table.unknown):
        for r in (*table.rows, *table.repeated):
            formula = grid.get((r, col))
            if not (isinstance(formula, str) and formula.startswith("=")):
                continue
            form = r1c1(formula, r, col)
            if form not in verdicts:
                verdicts[form] = parses(formula, r, col)
            if not verdicts[form]:
                bad[r, col] = formula
                ws._cells[r, col].value = "=NA()"
    return bad


#: the values a run computed, by engine key (``'[book.xlsx]S1'!B5``); plain Python values
Solution = Mapping[str, Any]
#: which evaluator a check uses: "auto" (this package's, the formulas engine where it cannot),
#: or "formulas" (always the formulas engine: the benchmark's and the tests' old path)
ENGINE_VARIABLE = "WORKBOOK_BUILDER_ENGINE"
_KEY = re.compile(r"'\[(?P<book>[^\]]+)\](?P<sheet>[^']+)'!(?P<first>\$?[A-Z]+\$?\d+)"
                  r"(?::(?P<last>\$?[A-Z]+\$?\d+))?")


def _cells_of(key: str) -> list[tuple[str, int, int]]:
    m = _KEY.fullmatch(key)
    if m is None:
        raise ValueError(f"not an engine key: {key}")
    (c1, r1), (c2, r2) = (coordinate_to_tuple(m["first"].replace("$", ""))[::-1],
                          coordinate_to_tuple((m["last"] or m["first"]).replace("$", ""))[::-1])
    return [(m["sheet"].upper(), r, c) for r in range(min(r1, r2), max(r1, r2) + 1)
            for c in range(min(c1, c2), max(c1, c2) + 1)]


def calculation(wb: Any, copy: Path, ranges: list[str], source: Path
                ) -> tuple[Calculation | FormulasCalculation, Solution]:
    """The calculation of the engine's copy ``wb`` (saved to ``copy`` only if the formulas
    engine is needed) and its values at the given inputs.

    Raises:
        AuditError: the formulas engine cannot load the copy (``source`` names the file).
    """
    from workbook_builder.check.excel import Unsupported

    if os.environ.get(ENGINE_VARIABLE, "auto") != "formulas":
        try:
            own = Calculation(wb, copy.name, ranges)
            return own, own.solve()
        except Unsupported:
            pass  # the formulas engine computes what this evaluator does not
        except Exception as exc:  # a formula nested too deep, or a fault of ours: the same
            if isolation.out_of_memory(exc):
                raise
    wb.save(copy)
    guard_other_files(copy)
    try:
        preload_formulas()
        engine = FormulasCalculation(copy, ranges)
        return engine, engine.solve()
    except AuditError:
        raise
    except Exception as exc:
        if isolation.out_of_memory(exc):
            raise
        raise AuditError(f"{source}: the formulas engine cannot load it: "
                         f"{type(exc).__name__}: {exc}".replace("\n", " ")) from None


class Calculation:
    """The workbook's values at the given inputs and at changed ones, by this package's
    evaluator (check/evaluate.py): each distinct formula compiled once.

    Raises:
        excel.Unsupported: a formula it does not compute as Excel would (the caller then
            uses FormulasCalculation).
    """

    name = "own"

    def __init__(self, wb: Any, book: str, ranges: list[str]) -> None:
        from workbook_builder.check.evaluate import Book

        self.book = Book(wb)
        self.keys: dict[tuple[str, int, int], str] = {}
        for key in ranges:
            sheet_part = key[:key.index("!") + 1]
            for cell in _cells_of(key):
                self.keys[cell] = f"{sheet_part}{get_column_letter(cell[2])}{cell[1]}"

    def solve(self, inputs: Mapping[str, float] | None = None) -> Solution:
        given = {cell: value for key, value in (inputs or {}).items()
                 for cell in _cells_of(key)}
        values = self.book.calculate(self.keys, given)
        return {key: values.get(cell) for cell, key in self.keys.items()}


def preload_formulas() -> None:
    """Import all that the formulas engine imports lazily (0.7 s), before it reads the copy:
    with too little memory this fails at once (a clear "memory limit"), not half-way in a
    library that catches the ImportError and retries until the deadline. Only where the formulas
    engine is needed: this package's evaluator needs none of it."""
    import numpy.random  # noqa: F401  (formulas' RAND reaches it lazily)
    from formulas.functions import get_functions

    get_functions()


class FormulasCalculation:
    """The same, by the formulas engine, reading the saved copy ``path``."""

    name = "formulas"

    def __init__(self, path: Path, ranges: list[str]) -> None:
        import formulas

        self.engine = formulas.ExcelModel()
        self.engine.add_book(str(path))
        self.engine.complete(ranges)
        self.engine.finish()

    def solve(self, inputs: Mapping[str, float] | None = None) -> Solution:
        solution = self.engine.calculate(inputs=dict(inputs)) if inputs else \
            self.engine.calculate()
        return _FormulasValues(solution)


class _FormulasValues(Mapping[str, Any]):
    """The formulas engine's solution as plain values: a cell's is its 1×1 array's entry."""

    def __init__(self, solution: Any) -> None:
        self.solution = solution

    def __getitem__(self, key: str) -> Any:
        return self.solution[key].value[0, 0]

    def __iter__(self) -> Any:
        return iter(self.solution)

    def __len__(self) -> int:
        return len(self.solution)
