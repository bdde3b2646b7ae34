"""Judge a hand-made backprop workbook: recompute its table, check every cell locally, diagnose.

Each cell is checked against what its quantity should be, computed from the sheet's own upstream
cells (a_h1 from the sheet's h1, next-row w6 from this row's w6, ∂E/∂w6 and η, ...), so one wrong
formula is reported once, as the root cause. Because two formulas can agree at the given numbers,
the workbook's own formulas are evaluated again with changed inputs, and a column passes only if
it is right under both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    get_column_letter,
)

from workbook_builder import isolation
from workbook_builder.check.foreign import (
    AuditError,
    Cells,
    Table,
    cells,
    engine_copy,
    open_workbook,
    r1c1,
    resolve_names,
    rows_to_recompute,
    volatile_calls,
)
from workbook_builder.check.netmodel import (
    Model,
    Rule,
    contrasting,
    kink_names,
    uncovered_pieces,
)
from workbook_builder.check.verdict import ColumnResult, SheetReport
from workbook_builder.network.reference import Array, Values

MAX_ROWS = 5_000  # epoch rows checked per table
DEFAULT_TIMEOUT = 300  # seconds for the whole check (the child process is killed then)
DEFAULT_MEMORY_MB = 2048  # the child process's address-space cap
RTOL, ATOL = 1e-9, 1e-15
ETA_FACTOR = 1.5  # the changed run also scales η, where the sheet has an η cell
CHANGED_ETA = 0.75  # ... and sets it to this where η is not a number (or 0)



# --- the checks ------------------------------------------------------------------------------
def mismatches(got: Array, expected: Array, scale: Array | None = None
               ) -> npt.NDArray[np.bool_]:
    """Rows where the sheet disagrees with a finite expectation (a value that is not a finite
    number disagrees with every one). Rows whose expectation is not finite are not judged
    here: check_column reports them as not checked, never as right.

    Without ``scale`` the tolerance is relative to the expectation; with it (netmodel's
    error_scale: the size of what the formula combines, ≥ its value) relative to that, so a
    result that cancels (½(t − a)² near its target, −LN(a) of a near-certain output) is
    judged by how far rounding can move it, not by its own tiny size."""
    with np.errstate(invalid="ignore"):
        if scale is None:
            close = np.isclose(got, expected, rtol=RTOL, atol=ATOL)
        else:
            close = np.abs(got - expected) <= RTOL * np.abs(scale) + ATOL
        bad = ~close | ~np.isfinite(got)
    return bad & np.isfinite(expected)


def expect(model: Model, name: str, data: dict[str, Array], n: int,
           rename: dict[str, str] | None = None) -> tuple[Array, Array | None, Values]:
    """``name``'s rule on a run's values: the expectation, its tolerance scale and the
    Values read (which names the rule used)."""
    probe = model.values(data, n, rename)
    expected = model.rules[name](probe)
    return expected, model.scale(name, model.values(data, n, rename)), probe


Mask = npt.NDArray[np.bool_]


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
    from workbook_builder.check.netdiagnose import concept_hypotheses

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


# --- evaluating the workbook -----------------------------------------------------------------
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


def identify_by_values(table: Table, given: dict[str, Array],
                       unknown: dict[int, Array], model: Model) -> None:
    """Quantities no header named, found by what a column computes: the one unnamed column
    whose every row equals the quantity's rule applied to that row's own upstream cells."""
    n = len(table.rows)
    for name in model.checked:
        if name in table.columns:
            continue
        fits = []
        for col, values in unknown.items():
            if col in table.columns.values() or np.isnan(values).all():
                continue
            try:
                expected, scale, _ = expect(model, name, {**given, name: values}, n)
            except KeyError:
                break  # an input of the rule is missing: nothing can be tested
            if not mismatches(values, expected, scale).any():
                fits.append(col)
        if len(fits) == 1:
            col = fits[0]
            table.columns[name] = col
            given[name] = unknown[col]
            table.notes.append(f"column {get_column_letter(col)}, headed "
                               f"{table.unknown[col]!r}, found as {name} by what its cells "
                               "compute")


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
        changed = eta * ETA_FACTOR if np.isfinite(eta) and eta != 0 else CHANGED_ETA
        inputs[param_key(book, table, "η")] = changed
    return inputs


def infer_eta(data: dict[str, Array], model: Model) -> float | None:
    """η from consecutive weight rows: (w_now − w_next) / ∂E/∂w_now, the median over cells."""
    ratios: list[float] = []
    for p, gradient in model.gradients.items():
        w, g = data.get(p), data.get(gradient)
        if g is None or w is None:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (w[:-1] - w[1:]) / g[:-1]
        ratios.extend(r[np.isfinite(r) & (np.abs(g[:-1]) > 1e-12)])
    return float(np.median(ratios)) if ratios else None


def check_column(name: str, table: Table, runs: list[dict[str, Array]], grid: Cells,
                 eta_cell: str | None, invalid: dict[tuple[int, int], str] | None,
                 model: Model) -> ColumnResult:
    """One column's verdict: right only if every row that must hold a value held a finite
    number equal to the rule's finite expectation, at the given and at the changed inputs."""
    col = table.columns[name]
    letter = get_column_letter(col)
    n = len(table.rows)
    invalid = invalid or {}
    all_rows = [*table.rows, *table.repeated]
    for r in all_rows:  # a volatile function decides nothing by chance: it is the finding
        if calls := volatile_calls(grid.get((r, col))):
            return ColumnResult(
                name, letter, False, r, diagnosis=f"row {r} calls {calls[0]}(), whose value "
                "changes at every recalculation: the column cannot hold the network's numbers "
                f"(judged with {calls[0]}() fixed, so this verdict is the same on every run)",
                wrong_rows=[q for q in all_rows if volatile_calls(grid.get((q, col)))])
    learned = name in model.parameters
    if learned and not np.isfinite(runs[0][name][0]):
        r = table.rows[0]
        what = "weight" if name.startswith("w") else "value"
        return ColumnResult(name, letter, False, r, got=float(runs[0][name][0]),
                            when="given inputs", wrong_rows=[r],
                            diagnosis=f"the initial {what} in row {r} is not a number "
                            f"({grid.get((r, col))!r})")
    result = ColumnResult(name, letter, True)
    unjudged: tuple[str, int, list[str]] | None = None  # run, first row, what is not a number
    for label, data in zip(("given inputs", "changed inputs"), runs, strict=False):
        try:
            expected, scale, probe = expect(model, name, data, n)
        except KeyError as missing:
            return ColumnResult(name, letter, None,
                                diagnosis=f"not checked: the sheet has no {missing.args[0]}")
        bad = np.flatnonzero(mismatches(data[name], expected, scale))
        if bad.size:
            i = int(bad[0])
            got, exp = float(data[name][i]), float(expected[i])
            result = ColumnResult(name, letter, False, table.rows[i], exp, got,
                                  abs(got - exp) / abs(exp) if exp else float("inf"), label,
                                  wrong_rows=[table.rows[int(j)] for j in bad])
            break
        required = np.ones(n, dtype=bool)
        if learned:
            required[0] = False  # the initial weights are inputs (checked above)
        if unjudged is None and (holes := np.flatnonzero(required & ~np.isfinite(expected))
                                 ).size:
            i = int(holes[0])
            culprits = [q for q in dict.fromkeys(probe.read) if q in data and not
                        np.isfinite(data[q][i] if not learned else
                                    data[q][max(i - 1, 0)])]
            unjudged = (label, table.rows[i], culprits)
    if result.ok is False:
        result.diagnosis = explain_wrong(name, table, runs, grid, eta_cell, result, invalid,
                                         model)
        return result
    if unjudged is not None:  # right where judged; check_sheet decides what the rest means
        label, row, culprits = unjudged
        what = (", ".join(culprits) + (" are" if len(culprits) > 1 else " is")) if culprits \
            else "a value it needs is"
        result.when, result.unjudged_from = label, row
        result.diagnosis = UNJUDGED.format(row=row, label=label, what=what)
    return result


#: a column right wherever it could be judged, with rows whose upstream is not a number
UNJUDGED = "right where checked; from row {row} at the {label} {what} not a number"


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
        if offset != expected and not (name in model.parameters and quantity == name):
            where = f"row r{offset:+d}" if offset else "the same row"
            return (f"row {row}: {name} uses {quantity} from {where} (row {r}) where "
                    f"{'the row above' if expected else 'its own row'} belongs")
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


def check_inputs(table: Table, runs: list[dict[str, Array]], grid: Cells,
                 model: Model) -> list[ColumnResult]:
    """The example and η, as the sheet holds them at the given inputs: each must be a finite
    number (η = 1/0, =NA(), "0,5" typed as text, a circular reference: wrong, and named)."""
    results = []
    for name in (*model.given, *model.fixed, "η"):
        if name in table.params:
            letters, row = coordinate_from_string(table.params[name].replace("$", ""))
            if name in table.param_sheets:
                letters = f"{table.param_sheets[name]}!{letters}"
            cells_ = [(row, column_index_from_string(letters.rpartition("!")[2]))]
            values = runs[0][name][:1]
        elif name in table.columns and name in model.given:
            letters = get_column_letter(table.columns[name])
            cells_ = [(r, table.columns[name]) for r in table.rows]
            values = runs[0][name]
        else:
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            r, c = cells_[int(bad[0])]
            where = f"{table.param_sheets[name]}!" if name in table.param_sheets else ""
            content = table.param_content.get(name, grid.get((r, c))) \
                if name in table.params else grid.get((r, c))
            results.append(ColumnResult(
                name, letters, False, r, got=float(values[int(bad[0])]), when="given inputs",
                wrong_rows=[cells_[int(i)][0] for i in bad],
                diagnosis=f"{name} (cell {where}{get_column_letter(c)}{r}) is not a number "
                f"({content!r}): nothing that uses it can be right; the columns "
                "that use it are checked at the changed inputs, where the check sets it"))
    return results


def volatile_elsewhere(grid: Cells, table: Table) -> list[str]:
    """Volatile calls in the cells a check reads but judges as no column: helper columns and
    the η/example cells."""
    found = []
    for col, header in table.unknown.items():
        for r in (*table.rows, *table.repeated):
            if calls := volatile_calls(grid.get((r, col))):
                found.append(f"column {get_column_letter(col)} (headed {header!r}) calls "
                             f"{calls[0]}() in row {r}: its value changes at every "
                             "recalculation")
                break
    for name in table.params:
        if calls := volatile_calls(table.param_content.get(name)):
            found.append(f"{name} (cell {param_cell(table, name)}) calls {calls[0]}(): its "
                         "value changes at every recalculation")
    return found


def found_numbers(table: Table, runs: list[dict[str, Array]], model: Model
                  ) -> dict[str, float | None]:
    """The numbers the sheet was checked against: its example, initial weights and η."""
    given = runs[0]
    out: dict[str, float | None] = {}
    for name in (*model.given, *model.parameters, *model.fixed, "η"):
        if name in given:
            value = float(given[name][0])
            out[name] = value if np.isfinite(value) else None
    return out


def check_sheet(grid: Cells, table: Table, solution: Any, changed: Any | None, book: str,
                eta: float, eta_source: str,
                invalid: dict[tuple[int, int], str] | None,
                model: Model) -> SheetReport:
    runs = [column_values(solution, book, table)]
    if changed is not None:
        runs.append(column_values(changed, book, table))
    for run in runs:
        run.setdefault("η", np.full(len(table.rows), eta))
    results = check_inputs(table, runs, grid, model)
    results += [check_column(name, table, runs, grid, table.params.get("η"), invalid, model)
                for name in model.checked if name in table.columns]
    # δ columns are optional (the course template has none: its gradients are written out)
    needed = (*model.checked, *model.given, *(n for n in model.fixed if n not in model.defaults))
    missing = [n for n in needed if n not in table.columns and
               n not in table.params and n not in model.optional]
    for c in results:
        if c.ok is False and c.wrong_rows and c.name in table.columns:
            c.wrong_rows += table.repeated  # the repeated rows below hold the same formula
    # Rows that could not be judged (an upstream value is not a number) follow a cell that is
    # itself reported wrong (every chain of non-numbers starts at a wrong cell or input, and
    # both are judged): the root cause is named once and the verdict is WRONG. Should none be
    # wrong, those columns are not checked, never right.
    unjudged = [c for c in results if c.ok and c.unjudged_from is not None]
    if unjudged and not any(c.ok is False for c in results):
        for c in unjudged:
            c.ok = None
    for c in unjudged:
        if c.ok:
            c.diagnosis = f"{c.diagnosis} (after a wrong cell upstream)"
    return SheetReport(table.sheet, table.header_row, len(table.rows) + len(table.repeated),
                       eta, eta_source, results, missing, list(table.notes),
                       findings=table.findings + volatile_elsewhere(grid, table),
                       against=found_numbers(table, runs, model))


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


def audit(path: Path, workdir: Path, progress: Callable[[str], None] | None = None,
          every_row: bool = False, network: dict[str, Any] | None = None,
          min_rows: int = 0) -> list[SheetReport]:
    """Check every table in the workbook (in the limited child process: see checker.check_isolated).

    Args:
        path: the workbook.
        workdir: a private folder for the engine's copy.
        progress: told, in words, about the slow step before it starts.
        every_row: recompute every row, not only those that do not repeat a formula above.
        min_rows: recompute at least this many rows (a second pass: see uncovered_pieces).
        network: the network's fields (netrun.FIELDS, as --spec and the options give them);
            None: the 2-2-2 network, or what the headers show (netdetect.py).

    Returns:
        One report per sheet that holds a table.

    Raises:
        AuditError: the file cannot be read, holds no table, or refers to other files.
    """
    import formulas

    from workbook_builder.check import netdetect

    wb = open_workbook(path)
    name_notes = resolve_names(wb)
    grids = {ws.title: cells(ws) for ws in wb.worksheets}
    try:
        model, tables, read_as = netdetect.tables_for(wb, grids, network)
    except AuditError as exc:
        raise AuditError(f"{path}: {exc}") from None
    for _, t in tables:
        t.notes[:0] = name_notes.get(t.sheet, []) + read_as
    for _, t in tables:
        if len(t.rows) < 2:
            raise AuditError(f"sheet {t.sheet!r}: the table has {len(t.rows)} epoch rows "
                             "below its header; it needs at least 2")
        if len(t.rows) > MAX_ROWS:
            raise AuditError(f"sheet {t.sheet!r}: {len(t.rows)} epoch rows; the limit is "
                             f"{MAX_ROWS:,}: check a shorter copy")
    if not every_row:
        for grid, t in tables:
            kinks = kink_names(model)
            # the model's rows (netmodel.ROWS; with kinks, a second pass recomputes more
            # where the trace takes a piece they do not)
            keep = rows_to_recompute(grid, t, kinks, max(min_rows, model.rows))
            if keep < len(t.rows):
                t.rows, t.repeated = t.rows[:keep], t.rows[keep:]
                t.notes.append(f"rows {t.repeated[0]}–{t.repeated[-1]} repeat row "
                               f"{t.rows[1]}'s formulas (the same in R1C1 form): checked by "
                               f"their text; rows {t.rows[0]}–{t.rows[-1]} recomputed")
    for _, t in tables:  # the engine need not even read the rows proved by their text
        repeated = set(t.repeated)
        ws_cells = wb[t.sheet]._cells
        for key in [k for k in ws_cells if k[0] in repeated]:
            del ws_cells[key]
    invalid = {t.sheet: replace_invalid(wb[t.sheet], grid, t) for grid, t in tables}
    copy = workdir / "book.xlsx"  # a plain name for the engine's cell keys
    names, google, _ = engine_copy(wb, copy)
    for _, t in tables:
        t.engine_sheet = names[t.sheet]
        t.engine_sheets = names
        if t.sheet in google:
            cells_ = google[t.sheet]
            t.notes.append(f"{len(cells_)} cell(s) use POW, a Google Sheets function that Excel "
                           f"and LibreOffice cannot compute (#NAME? there), e.g. "
                           f"{cells_[0].removeprefix('cell ')}: judged as POWER")
    guard_other_files(copy)
    n_formulas = sum(1 for grid, t in tables for (r, c), v in grid.items()
                     if r in t.rows and isinstance(v, str) and v.startswith("="))
    if progress is not None:
        progress(f"recomputing {n_formulas:,} formulas in {len(tables)} table(s) with the "
                 f"formulas engine (about {max(1, round(n_formulas * 0.004))} s)")
    ranges = [r for _, t in tables for r in table_ranges(copy.name, t)]
    with contextlib.redirect_stderr(io.StringIO()):  # the engine's progress bars
        try:
            engine = formulas.ExcelModel()
            engine.add_book(str(copy))
            engine.complete(ranges)
            engine.finish()
            solution = engine.calculate()
        except AuditError:
            raise
        except Exception as exc:
            if isolation.out_of_memory(exc):
                raise
            raise AuditError(f"{path}: the formulas engine cannot load it: "
                             f"{type(exc).__name__}: {exc}".replace("\n", " ")) from None
        etas = []
        for _, t in tables:
            given = column_values(solution, copy.name, t)
            identify_by_values(t, given, unknown_values(solution, copy.name, t), model)
            if "η" in t.params:
                eta, source = float(given.get("η", [np.nan])[0]), f"cell {t.params['η']}"
            elif t.eta_literal is not None:
                eta, source = t.eta_literal, "typed into the weight updates"
            else:
                inferred = infer_eta(given, model)
                if inferred is None:
                    raise AuditError(f"sheet {t.sheet!r}: no η cell (a label such as "
                                     "'η', 'lr' or 'learning rate') and η cannot be "
                                     "inferred from the weight rows")
                eta, source = inferred, "inferred from consecutive weight rows"
            etas.append((eta, source))
        # one changed run for all tables: each table's inputs, weights and η are set
        # explicitly, so a link between sheets cannot carry one table's change into another
        inputs: dict[str, float] = {}
        models = {t.sheet: dataclasses.replace(model, changed=contrasting(
            model, column_values(solution, copy.name, t))) for _, t in tables}
        for (_, t), (eta, _) in zip(tables, etas, strict=True):
            inputs.update(changed_inputs(copy.name, t, eta, models[t.sheet]))
        for (_, t), (eta, _) in zip(tables, etas, strict=True):
            if not (t.piecewise and t.repeated):
                continue
            changed_eta = (eta * ETA_FACTOR if np.isfinite(eta) and eta != 0 else CHANGED_ETA) \
                if "η" in t.params else eta
            uncovered = uncovered_pieces(models[t.sheet], column_values(solution, copy.name, t),
                                         len(t.rows), len(t.rows) + len(t.repeated), eta,
                                         changed_eta)
            if uncovered is not None:  # a later row takes a piece no recomputed row took:
                why, needed = uncovered  # again, recomputing the rows down to its last one
                total = len(t.rows) + len(t.repeated)
                again = min_rows > 0 or needed >= total
                reports = audit(path, workdir, progress, again, network,  # the same copy path
                                0 if again else needed)
                for report in reports:
                    report.notes.append(
                        f"columns {', '.join(t.piecewise)} are piecewise (MAX, IF) and {why}, "
                        f"a piece the first {len(t.rows)} rows do not take: "
                        + ("every row recomputed" if again else
                           f"the first {needed} rows recomputed, which take every piece"))
                return reports
            t.notes.append(f"columns {', '.join(t.piecewise)} are piecewise (MAX, IF): proved "
                           "by their text too, since the network's trace from this sheet's "
                           f"values takes no piece below row {t.rows[-1]} that the rows "
                           "above do not (at the given or the changed inputs)")
        changed = engine.calculate(inputs=inputs)
        reports = [check_sheet(grid, t, solution, changed, copy.name, eta, source,
                               invalid[t.sheet], model)
                   for (grid, t), (eta, source) in zip(tables, etas, strict=True)]
    caveats, signals = workbook_remarks(wb)
    sid = next((i for grid in grids.values() if (i := student_id(grid)) is not None), None)
    for report, (grid, _) in zip(reports, tables, strict=True):
        report.caveats += caveats
        report.signals += signals
        report.student_id = sid
        report.fingerprint = fingerprint(path, wb, grids, report, grid)
    return reports


def fingerprint(path: Path, wb: Any, grids: dict[str, Cells], report: SheetReport,
                grid: Cells) -> dict[str, str]:
    """What two independent submissions do not share (see copies.py)."""
    props = wb.properties
    content = hashlib.sha256()
    for title in sorted(grids):
        for key, value in sorted(grids[title].items()):
            content.update(f"{title}\x00{key}\x00{value!r}\x01".encode())
    out = {"file": hashlib.sha256(path.read_bytes()).hexdigest(),
           "content": content.hexdigest(),
           "creator": str(props.creator or ""),
           "last_modified_by": str(props.lastModifiedBy or ""),
           "created": props.created.isoformat() if props.created else ""}
    for c in report.columns:
        if c.ok is False and c.first_wrong_row is not None:
            col = column_index_from_string(c.column) if c.column.isalpha() else 0
            formula = grid.get((c.first_wrong_row, col))
            if isinstance(formula, str) and formula.startswith("="):
                out[f"wrong {c.name}"] = str(r1c1(formula, c.first_wrong_row, col))
    return out


#: labels of a student's id (the starter writes "student id"); a bare "id" is too common a
#: header to take its neighbour for one
ID_LABELS = ("studentid", "student", "studentnumber", "matriculationnumber")


def student_id(grid: Cells) -> str | None:
    """The value right of a "student id" label (a starter workbook has one), as text."""
    for (r, c), value in sorted(grid.items()):
        if isinstance(value, str) and re.sub(r"[\s_.:#-]", "", value.lower()) in ID_LABELS:
            found = grid.get((r, c + 1))
            if isinstance(found, float) and found.is_integer():
                found = int(found)
            if isinstance(found, int | str) and not str(found).startswith("=") and \
                    str(found).strip():
                return str(found).strip()
    return None


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


#: what the builder writes as the file's author (writer.py): its own output is not hand-made
BUILDER_AUTHOR = "workbook_builder"


def workbook_remarks(wb: Any) -> tuple[list[str], list[str]]:
    """Caveats (the numbers checked may not be what Excel shows) and signals for the grader,
    from the workbook's settings and metadata."""
    caveats, signals = [], []
    calc = getattr(wb, "calculation", None)
    if calc is not None and calc.fullPrecision is False:
        caveats.append("the workbook is set to 'precision as displayed' (Excel: File > Options "
                       "> Advanced): Excel rounds every value to the digits it shows, so its "
                       "numbers are not the ones checked here; turn the setting off and check "
                       "again")
    creator = (wb.properties.creator or "").strip()
    if creator == BUILDER_AUTHOR:
        signals.append("made by workbook_builder itself (its metadata says so), not by hand")
    return caveats, signals
