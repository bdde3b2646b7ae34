"""The formulas engine's side of a check: its cell keys, the values it computed as columns,
the changed run's inputs, the ranges it must read, and the walls around it (no other file
opened; formulas it cannot parse replaced by =NA())."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl.utils.cell import (
    get_column_letter,
)

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
    return float(v) if isinstance(v, int | float | np.number) and not isinstance(v, bool) \
        else float("nan")



def column_values(solution: Any, book: str, table: Table) -> dict[str, Array]:
    """Every quantity down the rows (NaN where a cell is empty, an error or not computed)."""
    data: dict[str, Array] = {}
    for name, col in table.columns.items():
        values = []
        for r in table.rows:
            cell = solution.get(engine_key(book, table, f"{get_column_letter(col)}{r}"))
            values.append(as_number(cell.value[0, 0]) if cell is not None else np.nan)
        data[name] = np.asarray(values, dtype=float)
    n = len(table.rows)
    for name in table.params:
        cell = solution.get(param_key(book, table, name))
        data[name] = np.full(n, as_number(cell.value[0, 0]) if cell is not None else np.nan)
    return data



def unknown_values(solution: Any, book: str, table: Table) -> dict[int, Array]:
    """The values of the columns whose header named nothing (helpers, mistyped headers)."""
    out = {}
    for col in table.unknown:
        letter = get_column_letter(col)
        cells = [solution.get(engine_key(book, table, f"{letter}{r}")) for r in table.rows]
        out[col] = np.asarray([as_number(c.value[0, 0]) if c is not None else np.nan
                               for c in cells], dtype=float)
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

    opener = xlreader.load_workbook
    allowed_real = os.path.realpath(allowed)

    def load_only_the_copy(filename: Any, *args: Any, **kwargs: Any) -> Any:
        if os.path.realpath(str(filename)) != allowed_real:
            raise AuditError(f"a formula needs another file ({filename}); it is not opened")
        return opener(filename, *args, **kwargs)

    xlreader.load_workbook = load_only_the_copy



def replace_invalid(ws: Any, grid: Cells, table: Table) -> dict[tuple[int, int], str]:
    """Formulas of the table that the engine cannot parse (``=U5+``, cut off), replaced by
    ``=NA()`` in the engine's copy so that the rest is still checked; returns them by cell.

    Each column repeats a formula down its rows, so each distinct R1C1 form is parsed once."""
    from formulas import Parser

    bad: dict[tuple[int, int], str] = {}
    verdicts: dict[object, bool] = {}
    for col in (*table.columns.values(), *table.unknown):
        for r in (*table.rows, *table.repeated):
            formula = grid.get((r, col))
            if not (isinstance(formula, str) and formula.startswith("=")):
                continue
            form = r1c1(formula, r, col)
            if form not in verdicts:
                try:
                    Parser().ast(formula)
                    verdicts[form] = True
                except Exception:
                    verdicts[form] = False
            if not verdicts[form]:
                bad[r, col] = formula
                ws._cells[r, col].value = "=NA()"
    return bad
