"""Audit a hand-made backprop workbook: find its table, recompute it, check every cell locally.

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
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from openpyxl.utils.cell import coordinate_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder import isolation
from workbook_builder.foreign import AuditError, Cells, cells, engine_copy, open_workbook
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

MAX_ROWS = 5_000  # epoch rows checked per table
DEFAULT_TIMEOUT = 300  # seconds for the whole check (the child process is killed then)
DEFAULT_MEMORY_MB = 2048  # the child process's address-space cap
#: what the child reports as a refusal (one line for the user) rather than a crash
REFUSED = (AuditError,)
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


# --- reading the header --------------------------------------------------------------------
def normalise(text: object) -> str | None:
    """A header or label in canonical form (``E_tot`` -> ``E_total``), or None."""
    if not isinstance(text, str):
        return None
    s = re.sub(r"[\s_]+", "", text).lower().replace("∂", "d").replace("δ", "delta")
    s = s.replace("dtotal", "d").replace("etotal", "e").replace("etot", "e")
    if m := re.fullmatch(r"de/dw([1-8])", s):
        return f"∂E/∂w{m.group(1)}"
    if m := re.fullmatch(r"(?:out|a)(h|o)([12])", s):
        return f"a_{m.group(1)}{m.group(2)}"
    if m := re.fullmatch(r"(?:net)?(h|o)([12])", s):
        return f"{m.group(1)}{m.group(2)}"
    if m := re.fullmatch(r"delta(h|o)([12])", s):
        return f"δ_{m.group(1)}{m.group(2)}"
    if s in ("e", "etotal", "error", "loss"):
        return "E_total"
    if m := re.fullmatch(r"e([12])", s):
        return f"E{m.group(1)}"
    if re.fullmatch(r"[wibt][1-8]", s) and not (s[0] in "ibt" and s[1] not in "12"):
        return s
    if s.startswith(("η", "eta", "lr", "learningrate", "alpha")):
        return "η"
    if s in ("epoch", "epochs", "iteration", "step"):
        return "epoch"
    return None


@dataclass
class Table:
    """Where a sheet keeps its quantities: columns of the table, and labelled single cells."""

    sheet: str
    header_row: int  # 1-based
    columns: dict[str, int]  # quantity -> 1-based column
    rows: list[int]  # 1-based rows of the epochs
    params: dict[str, str] = field(default_factory=dict)  # i1/t1/b1/η -> A1 of the value cell
    engine_sheet: str = ""  # the sheet's name in the engine's copy (foreign.engine_copy)


def find_table(ws: Worksheet, grid: Cells) -> Table | None:
    """The row naming the most quantities (w1..w8 and E_total at least), and what is below it."""
    by_row: dict[int, dict[str, int]] = {}
    for (r, c), value in sorted(grid.items()):
        name = normalise(value)
        if r <= 200 and name is not None and name != "η":
            by_row.setdefault(r, {}).setdefault(name, c)
    best: tuple[int, dict[str, int]] | None = None
    for r, found in sorted(by_row.items()):
        if set(WEIGHTS) | {"E_total"} <= found.keys() and (best is None or
                                                            len(found) > len(best[1])):
            best = (r, found)
    if best is None:
        return None
    header, columns = best
    first_w = columns["w1"]
    rows = []
    r = header + 1
    while (r, first_w) in grid:
        rows.append(r)
        r += 1
    table = Table(ws.title, header, columns, rows)
    table.params = find_params(grid, table)
    return table


def find_params(grid: Cells, table: Table) -> dict[str, str]:
    """Labelled cells (``i1``, ``t2``, ``η (learning rate)``, ``b1``) with a value right of or
    below the label, outside the table's header row."""
    wanted = {"i1", "i2", "t1", "t2", "b1", "b2", "η"} - table.columns.keys()
    in_table = set(table.rows)
    table_columns = set(table.columns.values())
    params: dict[str, str] = {}
    for (row, col), value in sorted(grid.items()):
        if row == table.header_row or (row in in_table and col in table_columns):
            continue
        name = normalise(value)
        if name not in wanted or name in params:
            continue
        for r, c in ((row, col + 1), (row + 1, col)):
            v = grid.get((r, c))
            if (isinstance(v, int | float) and not isinstance(v, bool)) or (
                    isinstance(v, str) and v.startswith("=")):
                params[name] = f"{get_column_letter(c)}{r}"
                break
    return params


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


# --- the report ------------------------------------------------------------------------------
@dataclass
class ColumnResult:
    name: str
    column: str  # letter
    ok: bool
    first_wrong_row: int | None = None
    expected: float | None = None
    got: float | None = None
    rel_error: float | None = None
    when: str | None = None  # "given inputs" or "changed inputs"
    diagnosis: str | None = None


@dataclass
class SheetReport:
    sheet: str
    header_row: int
    epochs: int
    eta: float | None
    eta_source: str
    columns: list[ColumnResult]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.columns)


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
            result.diagnosis = f"not checked: the sheet has no {missing.args[0]}"
            return result
        bad = np.flatnonzero(mismatches(data[name], expected))
        if bad.size:
            i = int(bad[0])
            got, exp = float(data[name][i]), float(expected[i])
            result = ColumnResult(name, letter, False, table.rows[i], exp, got,
                                  abs(got - exp) / abs(exp) if exp else float("inf"), label)
            break
    if result.ok:
        return result
    typed = [r for r in table.rows[1 if name in WEIGHTS else 0:]
             if not str(grid.get((r, col), "")).startswith("=")]
    if typed:
        result.diagnosis = (f"holds a typed number, not a formula, in row {typed[0]}"
                            + (f" and {len(typed) - 1} more" if len(typed) > 1 else ""))
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
    missing = [n for n in (*CHECKED, *EXAMPLE) if n not in table.columns and
               n not in table.params and n not in DELTAS]
    return SheetReport(table.sheet, table.header_row, len(table.rows), eta, eta_source,
                       results, missing)


def table_ranges(book: str, table: Table) -> list[str]:
    """The engine ranges a check reads: the table below its header, and each parameter cell."""
    first, last = min(table.columns.values()), max(table.columns.values())
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


def audit(path: Path, workdir: Path,
          progress: Callable[[str], None] | None = None) -> list[SheetReport]:
    """Check every table in the workbook (in the limited child process: see check_isolated).

    Args:
        path: the workbook.
        workdir: a private folder for the engine's copy.
        progress: told, in words, about the slow step before it starts.

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
    copy = workdir / "book.xlsx"  # a plain name for the engine's cell keys
    names = engine_copy(wb, copy)
    for _, t in tables:
        t.engine_sheet = names[t.sheet]
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
        reports = []
        for grid, t in tables:
            given = column_values(solution, copy.name, t)
            if "η" in t.params:
                eta, source = float(given.get("η", [np.nan])[0]), f"cell {t.params['η']}"
            else:
                inferred = infer_eta(given)
                if inferred is None:
                    raise AuditError(f"sheet {t.sheet!r}: no η cell (a label such as "
                                     "'η', 'lr' or 'learning rate') and η cannot be "
                                     "inferred from the weight rows")
                eta, source = inferred, "inferred from consecutive weight rows"
            changed = model.calculate(inputs=changed_inputs(copy.name, t, eta))
            reports.append(check_sheet(grid, t, solution, changed, copy.name, eta, source))
    return reports


def audit_json(path: str, workdir: str, progress: bool) -> list[dict[str, Any]]:
    """The child process's entry: ``audit`` with JSON in and out."""
    def say(text: str) -> None:
        print(f"python -m workbook_builder check: {text}", file=sys.stderr, flush=True)

    return [asdict(r) for r in audit(Path(path), Path(workdir), say if progress else None)]


def check_isolated(path: Path, timeout: float = DEFAULT_TIMEOUT,
                   max_memory_mb: int = DEFAULT_MEMORY_MB,
                   progress: bool = False) -> list[SheetReport]:
    """``audit`` in a child process that is killed at ``timeout`` seconds and cannot use more
    than ``max_memory_mb``; nothing it writes outlives the call.

    Raises:
        AuditError: the file cannot be checked, or a limit was reached (the message says which).
    """
    with isolation.workspace("workbook-builder-check-") as folder:
        try:
            answer = isolation.run_limited(
                "workbook_builder.audit:audit_json",
                {"path": str(path.resolve()), "workdir": str(folder), "progress": progress},
                timeout=timeout, max_memory_mb=max_memory_mb, folder=folder)
        except (isolation.LimitError, isolation.RefusedError) as exc:
            raise AuditError(str(exc)) from None
    return [SheetReport(**{**r, "columns": [ColumnResult(**c) for c in r["columns"]]})
            for r in answer]


