"""Mini-batch sheets: which examples each row steps on.

A table whose example columns change from row to row steps on mini-batches (the builder's
``--batch-size``): its columns are judged row by row with the inputs and targets each row
holds (audit.check_sheet), and here the choice of those examples. The convention is the
builder's (topology.batch_examples): N examples a row, taken in order and cycling (row r's
k-th is the data set's example (r·N + k) mod M). The data set is the workbook's table of
examples: a header row naming each input and target (``i1 i2 t1``, ``x1 x2 y1``) over one row
of numbers per example (the builder's Network sheet).

- every row takes the examples the convention names: right;
- a row holds values that are none of the examples: wrong, naming the row;
- the rows take the examples in another order, there is no table of the examples to compare
  with, or some rows were proved by their text and not recomputed (their examples unread):
  not checked (the sheet is never all right, and does not earn those points).
"""

from __future__ import annotations

import numpy as np
from openpyxl.utils.cell import get_column_letter

from workbook_builder.check.foreign import Cells
from workbook_builder.check.names import canonical
from workbook_builder.check.netmodel import Model
from workbook_builder.check.table import Table
from workbook_builder.check.verdict import ColumnResult
from workbook_builder.network import topology
from workbook_builder.network.reference import Array

#: the pseudo quantity of the examples each row takes (points.kind_of: a forward-pass share)
BATCH = "examples of each row"
SPELLINGS = {"i": ("i{}", "x{}", "input{}"), "t": ("t{}", "y{}", "target{}")}


def varying(table: Table, run: dict[str, Array], model: Model) -> list[str]:
    """The example columns whose values change from row to row."""
    return [n for n in model.given if n in table.columns and
            np.unique(run[n][np.isfinite(run[n])]).size > 1]


def data_set(grids: dict[str, Cells], table: Table, n_in: int, n_out: int
             ) -> tuple[str, list[tuple[float, ...]]] | None:
    """The workbook's table of examples: where its header is, and each example's inputs then
    targets; None where no header row names every input and target over rows of numbers."""
    wanted = [(kind, j) for kind, count in (("i", n_in), ("t", n_out))
              for j in range(1, count + 1)]
    for sheet, grid in grids.items():
        rows: dict[int, dict[tuple[str, int], int]] = {}
        for (r, c), value in grid.items():
            if not isinstance(value, str) or (sheet == table.sheet and r == table.header_row):
                continue
            text = canonical(value)
            for kind, j in wanted:
                if text in (s.format(j) for s in SPELLINGS[kind]):
                    rows.setdefault(r, {}).setdefault((kind, j), c)
        for r, found in sorted(rows.items()):
            if len(found) < len(wanted):
                continue
            cols = [found[w] for w in wanted]
            examples = []
            below = r + 1
            while all(_number(grid.get((below, c))) for c in cols):
                examples.append(tuple(float(grid[(below, c)]) for c in cols))
                below += 1
            if len(examples) >= 2:
                return f"{sheet}!{get_column_letter(min(cols))}{r}", examples
    return None


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def judge(table: Table, run: dict[str, Array], model: Model,
          grids: dict[str, Cells]) -> list[ColumnResult]:
    """The verdict on the examples each row takes (see the module's docstring); none where
    the rows do not change their examples."""
    changing = varying(table, run, model)
    if not changing:
        return []
    spec = model.spec
    n_in, n_out, slots = spec.layers[0], spec.layers[-1], len(spec.examples)
    letters = ", ".join(get_column_letter(table.columns[n]) for n in changing[:4])
    found = data_set(grids, table, n_in, n_out)
    if found is None:
        return [ColumnResult(BATCH, letters, None, diagnosis=(
            f"not checked: the examples change from row to row ({', '.join(changing[:4])}"
            f"{' …' if len(changing) > 4 else ''}): mini-batches; each row is judged with the "
            "inputs and targets it holds, but which examples a row takes is not (no table of "
            "the examples, a header i1 … t1 … over one row per example, to compare with)"))]
    where, examples = found
    data = np.array(examples)
    m = len(examples)
    names = [f"{kind}{j}" for kind, count in (("i", n_in), ("t", n_out))
             for j in range(1, count + 1)]
    other_order: tuple[int, int, int, int] | None = None
    for index, row in enumerate(table.rows):
        for k in range(slots):
            sfx = topology.example_suffix(spec, k)
            try:
                held = np.array([run[f"{n}{sfx}"][index] for n in names])
            except KeyError:
                return []  # an example column not shown: judged missing elsewhere
            same = np.flatnonzero(np.all(np.isclose(data, held, rtol=1e-12, atol=0.0), axis=1))
            expected = (index * slots + k) % m
            if not same.size:
                return [ColumnResult(BATCH, letters, False, row, wrong_rows=[row], diagnosis=(
                    f"row {row}'s example {k + 1} ({', '.join(f'{v:g}' for v in held)}) is "
                    f"none of the {m} examples of the table at {where}"))]
            if expected not in same and other_order is None:
                other_order = (row, k, int(same[0]), expected)
    if table.repeated:  # rows proved by their formulas' text: their examples were not read
        return [ColumnResult(BATCH, letters, None, diagnosis=(
            f"not checked: rows {table.repeated[0]}–{table.repeated[-1]} were proved by their "
            "formulas' text, not recomputed, so which examples they take was not read (rows "
            f"{table.rows[0]}–{table.rows[-1]} take them in order, cycling)"))]
    if other_order is not None:
        row, k, got, expected = other_order
        return [ColumnResult(BATCH, letters, None, diagnosis=(
            f"not checked: the rows take the examples of the table at {where} in another "
            f"order than {slots} at a time, in order, cycling (row {row}'s example {k + 1} is "
            f"example {got + 1}, not {expected + 1}); each row is judged with the examples it "
            "holds"))]
    return [ColumnResult(BATCH, letters, True, diagnosis=(
        f"mini-batches of {slots} of the {m} examples at {where}, in order, cycling"))]
