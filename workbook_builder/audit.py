"""Judge a hand-made backprop workbook: recompute its table, check every cell locally, diagnose.

Each cell is checked against what its quantity should be, computed from the sheet's own upstream
cells (a_h1 from the sheet's h1, next-row w6 from this row's w6, ∂E/∂w6 and η, ...), so one wrong
formula is reported once, as the root cause. Because two formulas can agree at the given numbers,
the workbook's own formulas are evaluated again with changed inputs, and a column passes only if
it is right under both.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
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
from workbook_builder.foreign import (
    AuditError,
    Cells,
    Table,
    cells,
    engine_copy,
    find_table,
    open_workbook,
    rows_to_recompute,
)
from workbook_builder.reference import (
    DELTAS,
    EXAMPLE,
    QUANTITIES,
    RULES,
    WEIGHTS,
    Array,
    Rule,
    Values,
    update,
)
from workbook_builder.verdict import ColumnResult, SheetReport

MAX_ROWS = 5_000  # epoch rows checked per table
DEFAULT_TIMEOUT = 300  # seconds for the whole check (the child process is killed then)
DEFAULT_MEMORY_MB = 2048  # the child process's address-space cap
RTOL, ATOL = 1e-9, 1e-15
#: the changed inputs: different enough that a_h1 ≠ a_h2, i1 ≠ i2, t1 ≠ t2 and no weight repeats
CHANGED = {"i1": 0.3, "i2": -0.4, "t1": 0.15, "t2": 0.8,
           "w1": 0.31, "w2": -0.42, "w3": 0.57, "w4": 0.12,
           "w5": -0.23, "w6": 0.66, "w7": 0.48, "w8": -0.35}  # fmt: skip
ETA_FACTOR = 1.5  # the changed run also scales η, where the sheet has an η cell

CHECKED = QUANTITIES
#: names a substitution may confuse with each other: one group each
GROUPS = (("a_h1", "a_h2"), ("a_o1", "a_o2"), ("h1", "h2"), ("o1", "o2"), ("i1", "i2"),
          ("t1", "t2"), WEIGHTS, ("δ_o1", "δ_o2"), ("E1", "E2"))  # fmt: skip


# --- the checks ------------------------------------------------------------------------------
def mismatches(got: Array, expected: Array) -> npt.NDArray[np.bool_]:
    """Rows where the sheet disagrees (rows with no expectation, NaN, are skipped)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    return bad & ~np.isnan(expected) | (np.isnan(got) & ~np.isnan(expected))


def explains(rule: Rule, data: list[dict[str, Array]], n: int, rename: dict[str, str],
             got: list[Array]) -> bool:
    """Does ``rule`` with names substituted reproduce the sheet's column in every run?"""
    try:
        return all(not mismatches(g, rule(Values(d, n, rename))).any()
                   for d, g in zip(data, got, strict=True))
    except KeyError:
        return False


def scaled(rule: Rule, factor: float) -> Rule:
    return lambda v: factor * rule(v)


def diagnose(name: str, data: list[dict[str, Array]], n: int) -> str | None:
    """What the wrong column seems to compute instead, when a simple hypothesis explains it."""
    got = [d[name] for d in data]
    probe = Values(data[0], n)
    RULES[name](probe)
    used = list(dict.fromkeys(probe.read))
    for x in used:  # one name where another belongs
        for group in GROUPS:
            if x in group:
                for y in group:
                    if y != x and y not in used and explains(RULES[name], data, n, {x: y}, got):
                        return f"uses {y} where {x} belongs"
    for i, x in enumerate(used):  # two names swapped
        for y in used[i + 1:]:
            if any(x in g and y in g for g in GROUPS) and explains(
                    RULES[name], data, n, {x: y, y: x}, got):
                return f"swaps {x} and {y}"
    if name in WEIGHTS:
        k = int(name[1])
        if explains(update(k, +1.0), data, n, {}, got):
            return f"adds η·∂E/∂{name} instead of subtracting it (sign error)"
        if explains(lambda v: v.prev(name), data, n, {}, got):
            return "never changes: the update is missing"
    for factor, text in ((2.0, "twice the right value (is the ½ missing?)"),
                         (0.5, "half the right value"),
                         (-1.0, "the right value with the wrong sign")):
        if explains(scaled(RULES[name], factor), data, n, {}, got):
            return text
    return None


# --- evaluating the workbook -----------------------------------------------------------------
def engine_key(book: str, table: Table, address: str) -> str:
    return f"'[{book}]{table.engine_sheet}'!{address}"


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
    for name, address in table.params.items():
        cell = solution.get(engine_key(book, table, address))
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
                       unknown: dict[int, Array]) -> None:
    """Quantities no header named, found by what a column computes: the one unnamed column
    whose every row equals the quantity's rule applied to that row's own upstream cells."""
    n = len(table.rows)
    for name in CHECKED:
        if name in table.columns:
            continue
        fits = []
        for col, values in unknown.items():
            if col in table.columns.values() or np.isnan(values).all():
                continue
            try:
                expected = RULES[name](Values({**given, name: values}, n))
            except KeyError:
                break  # an input of the rule is missing: nothing can be tested
            if not mismatches(values, expected).any():
                fits.append(col)
        if len(fits) == 1:
            col = fits[0]
            table.columns[name] = col
            given[name] = unknown[col]
            table.notes.append(f"column {get_column_letter(col)}, headed "
                               f"{table.unknown[col]!r}, found as {name} by what its cells "
                               "compute")


def changed_inputs(book: str, table: Table, eta: float) -> dict[str, float]:
    """Engine inputs for the changed run: the example, the first row's weights and η."""
    inputs: dict[str, float] = {}
    for name in EXAMPLE:
        if name in table.params:
            inputs[engine_key(book, table, table.params[name])] = CHANGED[name]
        elif name in table.columns:  # a column: every row gets the new value
            letter = get_column_letter(table.columns[name])
            for r in table.rows:
                inputs[engine_key(book, table, f"{letter}{r}")] = CHANGED[name]
    for name in WEIGHTS:
        address = f"{get_column_letter(table.columns[name])}{table.rows[0]}"
        inputs[engine_key(book, table, address)] = CHANGED[name]
    if "η" in table.params:
        inputs[engine_key(book, table, table.params["η"])] = eta * ETA_FACTOR
    return inputs


def infer_eta(data: dict[str, Array]) -> float | None:
    """η from consecutive weight rows: (w_now − w_next) / ∂E/∂w_now, the median over cells."""
    ratios: list[float] = []
    for k in range(1, 9):
        w, g = data[f"w{k}"], data.get(f"∂E/∂w{k}")
        if g is None:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (w[:-1] - w[1:]) / g[:-1]
        ratios.extend(r[np.isfinite(r) & (np.abs(g[:-1]) > 1e-12)])
    return float(np.median(ratios)) if ratios else None


def check_column(name: str, table: Table, runs: list[dict[str, Array]], grid: Cells,
                 eta_cell: str | None) -> ColumnResult:
    col = table.columns[name]
    letter = get_column_letter(col)
    n = len(table.rows)
    result = ColumnResult(name, letter, True)
    for label, data in zip(("given inputs", "changed inputs"), runs, strict=False):
        try:
            expected = RULES[name](Values(data, n))
        except KeyError as missing:
            return ColumnResult(name, letter, None,
                                diagnosis=f"not checked: the sheet has no {missing.args[0]}")
        bad = np.flatnonzero(mismatches(data[name], expected))
        if bad.size:
            i = int(bad[0])
            got, exp = float(data[name][i]), float(expected[i])
            result = ColumnResult(name, letter, False, table.rows[i], exp, got,
                                  abs(got - exp) / abs(exp) if exp else float("inf"), label,
                                  wrong_rows=[table.rows[int(j)] for j in bad])
            break
    if result.ok:
        return result
    typed = [r for r in table.rows[1 if name in WEIGHTS else 0:]
             if not str(grid.get((r, col), "")).startswith("=")]
    if typed:
        result.diagnosis = (f"holds a typed number, not a formula, in row {typed[0]}"
                            + (f" and {len(typed) - 1} more" if len(typed) > 1 else ""))
    elif shifted := wrong_row(grid, table, name, result.first_wrong_row or 0):
        result.diagnosis = shifted
    elif np.isnan(result.got or np.nan):
        value = grid.get((result.first_wrong_row or 0, col))
        result.diagnosis = f"row {result.first_wrong_row} does not evaluate to a number " \
                           f"(formula {value!r}: an error, a circular reference or an " \
                           "unsupported function)"
    elif name in WEIGHTS and eta_cell and (drift := eta_drift(grid, table, col, eta_cell)):
        result.diagnosis = drift
    else:
        result.diagnosis = diagnose(name, runs, n)
        if result.diagnosis is None and result.when == "changed inputs":
            result.diagnosis = "right at the given inputs only: it disagrees when the inputs " \
                               "and initial weights change"
    return result


def wrong_row(grid: Cells, table: Table, name: str, row: int) -> str | None:
    """A formula that reads another row's cells where its own row's belong (a weight update
    reads the row above): "a_h1 uses h1 from row r+3". Such a chain can run backwards into a
    cycle, which the engine cannot evaluate; the formula text still shows it."""
    formula = grid.get((row, table.columns[name]))
    if not isinstance(formula, str) or not formula.startswith("="):
        return None
    by_column = {col: q for q, col in table.columns.items()}
    expected = -1 if name in WEIGHTS else 0
    for token in Tokenizer(formula).items:
        if token.type != Token.OPERAND or token.subtype != Token.RANGE or "!" in token.value \
                or ":" in token.value or "$" in token.value:
            continue
        letters, r = coordinate_from_string(token.value)
        quantity = by_column.get(column_index_from_string(letters))
        if quantity is None or r not in table.rows or quantity in ("η", *EXAMPLE):
            continue
        offset = r - row
        if offset != expected and not (name in WEIGHTS and quantity == name):
            where = f"row r{offset:+d}" if offset else "the same row"
            return (f"row {row}: {name} uses {quantity} from {where} (row {r}) where "
                    f"{'the row above' if expected else 'its own row'} belongs")
    return None


def eta_drift(grid: Cells, table: Table, col: int, eta_cell: str) -> str | None:
    """A weight update whose η reference has no $ and so moves as the formula is copied down."""
    eta_col, eta_row = coordinate_from_string(eta_cell)
    pattern = re.compile(rf"(?<![A-Z$])\$?{eta_col}(\d+)\b")
    for r in table.rows[1:]:
        formula = grid.get((r, col))
        if not isinstance(formula, str):
            continue
        refs = [int(m.group(1)) for m in pattern.finditer(formula) if "$" + str(m.group(1))
                not in formula]
        if refs and refs[0] != eta_row:
            return (f"row {r} refers to {eta_col}{refs[0]} where the η cell {eta_cell} belongs: "
                    f"η is referenced without $ and drifts as the formula is copied down")
    return None


def check_sheet(grid: Cells, table: Table, solution: Any, changed: Any | None, book: str,
                eta: float, eta_source: str) -> SheetReport:
    runs = [column_values(solution, book, table)]
    if changed is not None:
        runs.append(column_values(changed, book, table))
    for run in runs:
        run.setdefault("η", np.full(len(table.rows), eta))
    results = [check_column(name, table, runs, grid, table.params.get("η"))
               for name in CHECKED if name in table.columns]
    # δ columns are optional (the course template has none: its gradients are written out)
    missing = [n for n in (*CHECKED, *EXAMPLE) if n not in table.columns and
               n not in table.params and n not in DELTAS]
    for c in results:
        if c.ok is False and c.wrong_rows:  # the repeated rows below hold the same formula
            c.wrong_rows += table.repeated
    return SheetReport(table.sheet, table.header_row, len(table.rows) + len(table.repeated),
                       eta, eta_source, results, missing, list(table.notes))


def table_ranges(book: str, table: Table) -> list[str]:
    """The engine ranges a check reads: the table below its header, and each parameter cell."""
    used = [*table.columns.values(), *table.unknown]
    first, last = min(used), max(used)
    body = (f"{get_column_letter(first)}{table.rows[0]}:"
            f"{get_column_letter(last)}{table.rows[-1]}")
    return [engine_key(book, table, body),
            *(engine_key(book, table, a) for a in table.params.values())]


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
          every_row: bool = False) -> list[SheetReport]:
    """Check every table in the workbook (in the limited child process: see checker.check_isolated).

    Args:
        path: the workbook.
        workdir: a private folder for the engine's copy.
        progress: told, in words, about the slow step before it starts.
        every_row: recompute every row, not only those that do not repeat a formula above.

    Returns:
        One report per sheet that holds a table.

    Raises:
        AuditError: the file cannot be read, holds no table, or refers to other files.
    """
    import formulas

    wb = open_workbook(path)
    grids = {ws.title: cells(ws) for ws in wb.worksheets}
    tables = [(grids[ws.title], t) for ws in wb.worksheets
              if (t := find_table(ws, grids[ws.title])) is not None]
    if not tables:
        raise AuditError(f"{path}: no sheet has a header row naming w1..w8 and E_total "
                         "(looked for the course template's headers: i1 i2 t1 t2 w1..w8 "
                         "h1 a_h1 ... E_total ∂E/∂w1..∂E/∂w8)")
    for _, t in tables:
        if len(t.rows) < 2:
            raise AuditError(f"sheet {t.sheet!r}: the table has {len(t.rows)} epoch rows "
                             "below its header; it needs at least 2")
        if len(t.rows) > MAX_ROWS:
            raise AuditError(f"sheet {t.sheet!r}: {len(t.rows)} epoch rows; the limit is "
                             f"{MAX_ROWS:,}: check a shorter copy")
    if not every_row:
        for grid, t in tables:
            keep = rows_to_recompute(grid, t)
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
    copy = workdir / "book.xlsx"  # a plain name for the engine's cell keys
    names, google = engine_copy(wb, copy)
    for _, t in tables:
        t.engine_sheet = names[t.sheet]
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
            model = formulas.ExcelModel()
            model.add_book(str(copy))
            model.complete(ranges)
            model.finish()
            solution = model.calculate()
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
            identify_by_values(t, given, unknown_values(solution, copy.name, t))
            if "η" in t.params:
                eta, source = float(given.get("η", [np.nan])[0]), f"cell {t.params['η']}"
            elif t.eta_literal is not None:
                eta, source = t.eta_literal, "typed into the weight updates"
            else:
                inferred = infer_eta(given)
                if inferred is None:
                    raise AuditError(f"sheet {t.sheet!r}: no η cell (a label such as "
                                     "'η', 'lr' or 'learning rate') and η cannot be "
                                     "inferred from the weight rows")
                eta, source = inferred, "inferred from consecutive weight rows"
            etas.append((eta, source))
        # one changed run for all tables: each table's inputs, weights and η are set
        # explicitly, so a link between sheets cannot carry one table's change into another
        inputs: dict[str, float] = {}
        for (_, t), (eta, _) in zip(tables, etas, strict=True):
            inputs.update(changed_inputs(copy.name, t, eta))
        changed = model.calculate(inputs=inputs)
        reports = [check_sheet(grid, t, solution, changed, copy.name, eta, source)
                   for (grid, t), (eta, source) in zip(tables, etas, strict=True)]
    return reports
