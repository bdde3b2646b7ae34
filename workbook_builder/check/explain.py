"""Why a column is wrong, in words: a slip of names, another row's cell, a drifting η, a
typed number, a formula the engine cannot compute, or a few odd rows.

The slips are hypotheses (audit.check_column found the column wrong): one name where another
belongs, two swapped, and the concept slips of netdiagnose; the first that reproduces the
column in every run is the diagnosis."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
)

from workbook_builder.check.compare import Mask, expect, mismatches
from workbook_builder.check.foreign import Cells
from workbook_builder.check.netdiagnose import concept_hypotheses
from workbook_builder.check.netmodel import Model, Rule
from workbook_builder.check.repeats import r1c1
from workbook_builder.check.table import Table
from workbook_builder.check.verdict import ColumnResult
from workbook_builder.network.reference import Array


def explains(rule: Rule, data: list[dict[str, Array]], n: int, rename: dict[str, str],
             got: list[Array], only: list[Mask] | None, model: Model,
             name: str | None = None) -> bool:
    """Does ``rule`` with names substituted reproduce the sheet's column in every run (in the
    rows of ``only``, where given: the rows found wrong)? Judged with ``name``'s tolerance."""
    try:
        for k, (d, g) in enumerate(zip(data, got, strict=True)):
            expected = rule(model.values(d, n, rename))
            scale = model.scale(name, model.values(d, n)) if name is not None else None
            rows = only[k] if only is not None else np.ones(n, dtype=bool)
            if not np.isfinite(expected[rows]).all() or \
                    mismatches(g, expected, scale)[rows].any():
                return False
        return True
    except KeyError:
        return False



def hypotheses(name: str, data: list[dict[str, Array]], n: int, model: Model
               ) -> list[tuple[Rule, dict[str, str], str]]:
    """What a wrong column may compute instead: (rule, names substituted, the words for it),
    most specific first."""
    rules = model.rules
    probe = model.values(data[0], n)
    rules[name](probe)
    used = list(dict.fromkeys(probe.read))
    out: list[tuple[Rule, dict[str, str], str]] = []
    for x in used:  # one name where another belongs (even one the formula uses elsewhere)
        for group in model.groups:
            if x in group:
                out += [(rules[name], {x: y}, f"uses {y} where {x} belongs")
                        for y in group if y != x]
    for i, x in enumerate(used):  # two names swapped
        out += [(rules[name], {x: y, y: x}, f"swaps {x} and {y}") for y in used[i + 1:]
                if any(x in g and y in g for g in model.groups)]
    return out + concept_hypotheses(model, name)



def diagnose(name: str, data: list[dict[str, Array]], n: int,
             only: list[Mask] | None, model: Model) -> str | None:
    """What the wrong column seems to compute instead, when a simple hypothesis explains it
    (in the rows of ``only``, where given)."""
    got = [d[name] for d in data]
    judged = [np.isfinite(model.rules[name](model.values(d, n))) for d in data]  # not row 0's
    only = judged if only is None else [a & b for a, b in zip(only, judged, strict=True)]
    for rule, rename, text in hypotheses(name, data, n, model):
        if any(_all_zero(data, y) for y in rename.values()):
            continue  # "uses a_h1[3]" of a neuron that is off throughout only drops a term
        if explains(rule, data, n, rename, got, only, model, name):
            return text
    return None



def _all_zero(data: list[dict[str, Array]], name: str) -> bool:
    """Is ``name`` 0 in every row of every run (a dead ReLU neuron, a zero input)?"""
    return all(name in d and not np.any(d[name]) for d in data)



def explain_wrong(name: str, table: Table, runs: list[dict[str, Array]], grid: Cells,
                  eta_cell: str | None, result: ColumnResult,
                  invalid: dict[tuple[int, int], str], model: Model) -> str | None:
    """The diagnosis of a wrong column: what it seems to compute instead, or why not."""
    col = table.columns[name]
    n = len(table.rows)
    row = result.first_wrong_row or 0
    learned = name in model.parameters
    typed = [r for r in table.rows[1 if learned else 0:]
             if not str(grid.get((r, col), "")).startswith("=")]
    if typed:
        never = ": the bias never learns (the network's biases are trained)" \
            if name.startswith("b_") and len(typed) >= len(table.rows) - 1 else ""
        return (f"holds a typed number, not a formula, in row {typed[0]}"
                + (f" and {len(typed) - 1} more" if len(typed) > 1 else "") + never)
    if (row, col) in invalid:
        return f"row {row}'s formula {invalid[row, col]!r} is not a valid formula"
    if shifted := wrong_row(grid, table, name, row, model):
        return shifted
    if learned and eta_cell and (drift := eta_drift(grid, table, col, eta_cell)):
        return drift
    if not np.isfinite(result.got if result.got is not None else np.nan):
        formula = grid.get((row, col))
        if unknown := unsupported_functions(formula):
            return (f"row {row} calls {unknown[0]}, which this checker cannot compute "
                    f"(formula {formula!r})")
        return (f"row {row} does not evaluate to a number (formula {formula!r}: an error, a "
                "circular reference or an unsupported function)")
    diagnosis = diagnose(name, runs, n, None, model)
    if diagnosis is not None:
        return diagnosis
    # a few rows wrong, the rest right: say which, and what those rows compute
    only = [mismatches(d[name], *expect(model, name, d, n)[:2]) for d in runs]
    wrong_at = sorted({table.rows[int(i)] for m in only for i in np.flatnonzero(m)})
    if len(wrong_at) < n - (1 if learned else 0):
        where = f"row {wrong_at[0]}" if len(wrong_at) == 1 else \
            "rows " + ", ".join(map(str, wrong_at[:5])) + (" …" if len(wrong_at) > 5 else "")
        odd = [r for r in wrong_at if differs_from_column(grid, table, col, r)]
        what = diagnose(name, runs, n, only, model)
        return (f"wrong in {where} only" + (": there " + what if what else "")
                + ("; the formula there differs from the rest of the column" if odd else ""))
    if result.when == "changed inputs":
        return ("right at the given inputs only: it disagrees when the inputs and initial "
                "weights change")
    return None



def differs_from_column(grid: Cells, table: Table, col: int, row: int) -> bool:
    """Is the formula at ``row`` another one (in R1C1 form) than most of its column's?"""
    forms = Counter(r1c1(grid.get((r, col)), r, col) for r in table.rows[1:])
    common, _ = forms.most_common(1)[0]
    return r1c1(grid.get((row, col)), row, col) != common



def unsupported_functions(formula: object) -> list[str]:
    """The functions a formula calls that the formulas engine does not compute."""
    if not (isinstance(formula, str) and formula.startswith("=")):
        return []
    import formulas

    known = formulas.get_functions()
    try:
        tokens = Tokenizer(formula).items
    except Exception:
        return []
    return [t.value[:-1].upper() for t in tokens if t.type == Token.FUNC and
            t.subtype == Token.OPEN and t.value[:-1].upper() not in known]



def wrong_row(grid: Cells, table: Table, name: str, row: int, model: Model
              ) -> str | None:
    """A formula that reads another row's cells where its own row's belong (a weight update
    reads the row above): "a_h1 uses h1 from row r+3". Such a chain can run backwards into a
    cycle, which the engine cannot evaluate; the formula text still shows it."""
    formula = grid.get((row, table.columns[name]))
    if not isinstance(formula, str) or not formula.startswith("="):
        return None
    by_column = {col: q for q, col in table.columns.items()}
    expected = -1 if name in model.parameters else 0
    # the rows the network's own formula reads each quantity from (an optimizer's state: its
    # own value from the row above, the gradient from its row)
    lags: dict[str, set[int]] = {}
    for q, lag in model.exprs[name].names() if name in model.exprs else []:
        lags.setdefault(q, set()).add(lag)
    for token in Tokenizer(formula).items:
        if token.type != Token.OPERAND or token.subtype != Token.RANGE or "!" in token.value \
                or ":" in token.value:
            continue
        m = re.fullmatch(r"\$?([A-Za-z]{1,3})(\$?)(\d+)", token.value)
        if m is None or m[2]:  # a fixed row ($B$1, B$1) does not move with the formula
            continue
        letters, r = m[1].upper(), int(m[3])
        quantity = by_column.get(column_index_from_string(letters))
        if quantity is None or r not in table.rows or quantity in ("η", *model.given):
            continue
        offset = r - row
        right = -offset in lags[quantity] if quantity in lags else offset == expected
        if not right and not (name in model.parameters and quantity == name):
            where = f"row r{offset:+d}" if offset else "the same row"
            above = 1 in lags[quantity] if quantity in lags else expected
            return (f"row {row}: {name} uses {quantity} from {where} (row {r}) where "
                    f"{'the row above' if above else 'its own row'} belongs")
    return None



def eta_drift(grid: Cells, table: Table, col: int, eta_cell: str) -> str | None:
    """A weight update whose η reference has no $ and so moves as the formula is copied down:
    a reference in η's column, relative in its row, that is not η's row. The update's own
    previous weight (the row above, in the same column) is not taken for η, even when the
    weight's column is η's."""
    eta_letters, eta_row = coordinate_from_string(eta_cell.replace("$", ""))
    eta_col = column_index_from_string(eta_letters)
    for r in table.rows[1:]:
        formula = grid.get((r, col))
        if not isinstance(formula, str) or not formula.startswith("="):
            continue
        for token in Tokenizer(formula).items:
            if token.type != Token.OPERAND or token.subtype != Token.RANGE or \
                    "!" in token.value or ":" in token.value:
                continue
            m = re.fullmatch(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)", token.value)
            if m is None or m[3] or column_index_from_string(m[2].upper()) != eta_col:
                continue
            ref_row = int(m[4])
            if ref_row == eta_row or (col == eta_col and ref_row == r - 1):
                continue
            return (f"row {r} refers to {eta_letters}{ref_row} where the η cell {eta_cell} "
                    "belongs: η is referenced without $ and drifts as the formula is copied "
                    "down")
    return None
