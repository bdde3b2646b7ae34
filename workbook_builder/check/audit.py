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
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    get_column_letter,
)

from workbook_builder.check import batches, optimizer_sheets
from workbook_builder.check.compare import expect, mismatches
from workbook_builder.check.engine import (
    calculation,
    changed_eta,
    changed_inputs,
    column_values,
    param_cell,
    replace_invalid,
    table_ranges,
    unknown_values,
)
from workbook_builder.check.explain import (
    explain_wrong,
)
from workbook_builder.check.foreign import (
    AuditError,
    Cells,
    cells,
    engine_copy,
    open_workbook,
    resolve_names,
    volatile_calls,
)
from workbook_builder.check.netmodel import Model
from workbook_builder.check.pieces import contrasting, kink_names, uncovered_pieces
from workbook_builder.check.remarks import (
    fingerprint,
    student_id,
    workbook_remarks,
)
from workbook_builder.check.repeats import rows_to_recompute
from workbook_builder.check.table import Table
from workbook_builder.check.verdict import ColumnResult, SheetReport
from workbook_builder.network.reference import Array

MAX_ROWS = 5_000  # epoch rows checked per table


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
                 model: Model, reads: dict[str, list[str]] | None = None) -> ColumnResult:
    """One column's verdict: right only if every row that must hold a value held a finite
    number equal to the rule's finite expectation, at the given and at the changed inputs.

    ``reads``, where given, is told the sheet's columns the rule read (``reads[name]``)."""
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
        if reads is not None:
            reads[name] = [q for q in dict.fromkeys(probe.read) if q in table.columns]
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
                model: Model, grids: dict[str, Cells] | None = None) -> SheetReport:
    runs = [column_values(solution, book, table)]
    if changed is not None:
        runs.append(column_values(changed, book, table))
    for run in runs:
        run.setdefault("η", np.full(len(table.rows), eta))
        if "step" in model.exprs:  # Adam's step t, where the sheet has no column of it: the
            run.setdefault("step", np.arange(1.0, len(table.rows) + 1))  # row's, from 1
    results = check_inputs(table, runs, grid, model)
    reads: dict[str, list[str]] = {}
    results += [check_column(name, table, runs, grid, table.params.get("η"), invalid, model,
                             reads)
                for name in model.checked if name in table.columns]
    wrong = {c.name for c in results if c.ok is False}
    for c in results:  # right from a wrong input: charged there, once (points.py)
        if c.ok is True:
            c.given_wrong = [q for q in reads.get(c.name, []) if q in wrong and q != c.name]
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
    results += batches.judge(table, runs[0], model, grids or {table.sheet: grid})
    roots = [c.name for c in results if c.ok is False]
    for c in unjudged:
        if c.ok:
            c.diagnosis = f"{c.diagnosis} (after a wrong cell upstream)"
            if c.unjudged_from is not None and c.unjudged_from > table.rows[0]:
                # judged right in the rows before the wrong cell's non-numbers reached it:
                # the mistake is charged there (follow-through keeps these points)
                c.given_wrong = c.given_wrong or roots
    return SheetReport(table.sheet, table.header_row, len(table.rows) + len(table.repeated),
                       eta, eta_source, results, missing, list(table.notes),
                       findings=table.findings + volatile_elsewhere(grid, table),
                       against=found_numbers(table, runs, model))


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
            kinks = kink_names(t.model or model)
            # the model's rows (netmodel.ROWS; with kinks, a second pass recomputes more
            # where the trace takes a piece they do not)
            keep = rows_to_recompute(grid, t, kinks, max(min_rows, (t.model or model).rows))
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
    names, google, _ = engine_copy(wb, copy, save=False)
    for _, t in tables:
        t.engine_sheet = names[t.sheet]
        t.engine_sheets = names
        if t.sheet in google:
            cells_ = google[t.sheet]
            t.notes.append(f"{len(cells_)} cell(s) use POW, a Google Sheets function that Excel "
                           f"and LibreOffice cannot compute (#NAME? there), e.g. "
                           f"{cells_[0].removeprefix('cell ')}: judged as POWER")
    n_formulas = sum(1 for grid, t in tables for (r, c), v in grid.items()
                     if r in t.rows and isinstance(v, str) and v.startswith("="))
    if progress is not None:
        progress(f"recomputing {n_formulas:,} formulas in {len(tables)} table(s)")
    ranges = [r for _, t in tables for r in table_ranges(copy.name, t)]
    with contextlib.redirect_stderr(io.StringIO()):  # the formulas engine's progress bars
        calc, solution = calculation(wb, copy, ranges, path)
        etas = []
        for _, t in tables:
            given = column_values(solution, copy.name, t)
            identify_by_values(t, given, unknown_values(solution, copy.name, t),
                               t.model or model)
            if "η" in t.params:
                eta, source = float(given.get("η", [np.nan])[0]), f"cell {t.params['η']}"
            elif t.eta_literal is not None:
                eta, source = t.eta_literal, "typed into the weight updates"
            else:
                inferred = infer_eta(given, t.model or model)
                if inferred is None:
                    raise AuditError(f"sheet {t.sheet!r}: no η cell (a label such as "
                                     "'η', 'lr' or 'learning rate') and η cannot be "
                                     "inferred from the weight rows")
                eta, source = inferred, "inferred from consecutive weight rows"
            etas.append((eta, source))
        # one changed run for all tables: each table's inputs, weights and η are set
        # explicitly, so a link between sheets cannot carry one table's change into another
        inputs: dict[str, float] = {}
        models = {t.sheet: dataclasses.replace(t.model or model, changed=contrasting(
            t.model or model, column_values(solution, copy.name, t))) for _, t in tables}
        for (_, t), (eta, _) in zip(tables, etas, strict=True):
            inputs.update(changed_inputs(copy.name, t, eta, models[t.sheet]))
        for (_, t), (eta, _) in zip(tables, etas, strict=True):
            if not (t.piecewise and t.repeated):
                continue
            eta_now = changed_eta(eta) if "η" in t.params else eta
            uncovered = uncovered_pieces(models[t.sheet], column_values(solution, copy.name, t),
                                         len(t.rows), len(t.rows) + len(t.repeated), eta,
                                         eta_now)
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
        changed = calc.solve(inputs)
        reports = [check_sheet(grid, t, solution, changed, copy.name, eta, source,
                               invalid[t.sheet], t.model or model, grids)
                   for (grid, t), (eta, source) in zip(tables, etas, strict=True)]
    caveats, signals = workbook_remarks(wb)
    sid = next((i for grid in grids.values() if (i := student_id(grid)) is not None), None)
    if model.spec.optimizer.name == "sgd":  # an optimizer's sheet: its updates not judged
        for report, (_, t) in zip(reports, tables, strict=True):
            if t.model is None:  # a sheet read as another optimizer's is judged as that
                optimizer_sheets.guard(report, list(t.unknown.values()), model.parameters)
    described, placeholder = netdetect.spec_of(network) if network else (None, True)
    differ = netdetect.examples_differ(reports[0].against, described) \
        if reports and described is not None and not placeholder else None
    for report, (grid, _) in zip(reports, tables, strict=True):
        report.caveats += caveats
        report.signals += signals + ([differ] if differ else [])
        report.student_id = sid
        report.fingerprint = fingerprint(path, wb, grids, report, grid)
    return reports


