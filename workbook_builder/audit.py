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
import re
import shutil
import signal
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt
import openpyxl
from openpyxl.utils.cell import coordinate_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder.reference import DELTAS, GRADIENTS, WEIGHTS, Array, sigmoid

MAX_BYTES = 20_000_000
MAX_FORMULAS = 40_000  # the formulas engine needs ~2.5 ms a formula to load
MAX_ROWS = 5_000  # epoch rows checked per table
DEFAULT_TIMEOUT = 300  # seconds for the whole check
RTOL, ATOL = 1e-9, 1e-15
#: the changed inputs: different enough that a_h1 ≠ a_h2, i1 ≠ i2, t1 ≠ t2 and no weight repeats
CHANGED = {"i1": 0.3, "i2": -0.4, "t1": 0.15, "t2": 0.8,
           "w1": 0.31, "w2": -0.42, "w3": 0.57, "w4": 0.12,
           "w5": -0.23, "w6": 0.66, "w7": 0.48, "w8": -0.35}  # fmt: skip
ETA_FACTOR = 1.5  # the changed run also scales η, where the sheet has an η cell

FORWARD = ("h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total")
CHECKED = WEIGHTS + FORWARD + DELTAS + GRADIENTS
EXAMPLE = ("i1", "i2", "t1", "t2")
#: names a substitution may confuse with each other: one group each
GROUPS = (("a_h1", "a_h2"), ("a_o1", "a_o2"), ("h1", "h2"), ("o1", "o2"), ("i1", "i2"),
          ("t1", "t2"), WEIGHTS, ("δ_o1", "δ_o2"), ("E1", "E2"))  # fmt: skip


class AuditError(Exception):
    """The file cannot be checked at all; the message says what was wrong and what to do."""


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


def find_table(ws: Worksheet) -> Table | None:
    """The row naming the most quantities (w1..w8 and E_total at least), and what is below it."""
    best: tuple[int, dict[str, int]] | None = None
    for row in ws.iter_rows(min_row=1, max_row=min(ws.max_row, 200)):
        found: dict[str, int] = {}
        for c in row:
            name = normalise(c.value)
            if name is not None and name != "η" and name not in found:
                found[name] = c.column
        if set(WEIGHTS) | {"E_total"} <= found.keys() and (best is None or
                                                            len(found) > len(best[1])):
            best = (row[0].row, found)
    if best is None:
        return None
    header, columns = best
    first_w = columns["w1"]
    rows = []
    for r in range(header + 1, ws.max_row + 1):
        if ws.cell(r, first_w).value is None:
            break
        rows.append(r)
    table = Table(ws.title, header, columns, rows)
    table.params = find_params(ws, table)
    return table


def find_params(ws: Worksheet, table: Table) -> dict[str, str]:
    """Labelled cells (``i1``, ``t2``, ``η (learning rate)``, ``b1``) with a value right of or
    below the label, outside the table's header row."""
    wanted = {"i1", "i2", "t1", "t2", "b1", "b2", "η"} - table.columns.keys()
    params: dict[str, str] = {}
    for row in ws.iter_rows(min_row=1, max_row=min(ws.max_row, table.header_row + 5000)):
        for c in row:
            if c.row == table.header_row or (c.row in table.rows and c.column in
                                             table.columns.values()):
                continue
            name = normalise(c.value)
            if name not in wanted or name in params:
                continue
            for r, col in ((c.row, c.column + 1), (c.row + 1, c.column)):
                v = ws.cell(r, col).value
                if isinstance(v, int | float) or (isinstance(v, str) and v.startswith("=")):
                    params[name] = f"{get_column_letter(col)}{r}"
                    break
    return params


# --- the checks ------------------------------------------------------------------------------
class Values:
    """Quantity -> values down the table's rows, with an optional name substitution."""

    def __init__(self, data: dict[str, Array], n: int, rename: dict[str, str] | None = None):
        self.data, self.n, self.rename = data, n, rename or {}
        self.read: list[str] = []

    def __getitem__(self, name: str) -> Array:
        self.read.append(name)
        name = self.rename.get(name, name)
        if name in ("b1", "b2") and name not in self.data:
            return np.zeros(self.n)
        return self.data[name]

    def prev(self, name: str) -> Array:
        """The row above (NaN for the first row, which has none)."""
        return np.concatenate([[np.nan], self[name][:-1]])


def d_o(v: Values, k: int) -> Array:
    a = v[f"a_o{k}"]
    return (a - v[f"t{k}"]) * a * (1 - a)


def d_h(v: Values, k: int) -> Array:
    a = v[f"a_h{k}"]
    w_to_o1, w_to_o2 = ("w5", "w7") if k == 1 else ("w6", "w8")
    return (d_o(v, 1) * v[w_to_o1] + d_o(v, 2) * v[w_to_o2]) * a * (1 - a)


def update(k: int, sign: float = -1.0) -> Callable[[Values], Array]:
    return lambda v: v.prev(f"w{k}") + sign * v["η"] * v.prev(f"∂E/∂w{k}")


Rule = Callable[[Values], Array]
#: each quantity from the sheet's own upstream cells; the gradients from a_o, a_h, w, t, i
RULES: dict[str, Rule] = {
    **{f"w{k}": update(k) for k in range(1, 9)},
    "h1": lambda v: v["w1"] * v["i1"] + v["w2"] * v["i2"] + v["b1"],
    "h2": lambda v: v["w3"] * v["i1"] + v["w4"] * v["i2"] + v["b1"],
    "a_h1": lambda v: sigmoid(v["h1"]),
    "a_h2": lambda v: sigmoid(v["h2"]),
    "o1": lambda v: v["w5"] * v["a_h1"] + v["w6"] * v["a_h2"] + v["b2"],
    "o2": lambda v: v["w7"] * v["a_h1"] + v["w8"] * v["a_h2"] + v["b2"],
    "a_o1": lambda v: sigmoid(v["o1"]),
    "a_o2": lambda v: sigmoid(v["o2"]),
    "E1": lambda v: 0.5 * (v["t1"] - v["a_o1"]) ** 2,
    "E2": lambda v: 0.5 * (v["t2"] - v["a_o2"]) ** 2,
    "E_total": lambda v: v["E1"] + v["E2"],
    "δ_o1": lambda v: d_o(v, 1),
    "δ_o2": lambda v: d_o(v, 2),
    "δ_h1": lambda v: d_h(v, 1),
    "δ_h2": lambda v: d_h(v, 2),
    "∂E/∂w1": lambda v: d_h(v, 1) * v["i1"],
    "∂E/∂w2": lambda v: d_h(v, 1) * v["i2"],
    "∂E/∂w3": lambda v: d_h(v, 2) * v["i1"],
    "∂E/∂w4": lambda v: d_h(v, 2) * v["i2"],
    "∂E/∂w5": lambda v: d_o(v, 1) * v["a_h1"],
    "∂E/∂w6": lambda v: d_o(v, 1) * v["a_h2"],
    "∂E/∂w7": lambda v: d_o(v, 2) * v["a_h1"],
    "∂E/∂w8": lambda v: d_o(v, 2) * v["a_h2"],
}


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
@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise AuditError when the block runs longer than ``seconds`` (POSIX main thread)."""
    def stop(signum: int, frame: FrameType | None) -> None:
        raise AuditError(f"gave up after {seconds:g} s: the workbook is too large or too "
                         "complex to recompute; raise --timeout or check a smaller copy")

    if not hasattr(signal, "setitimer"):
        yield
        return
    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def open_workbook(path: Path) -> openpyxl.Workbook:
    """openpyxl's view of the formulas, after the checks a hostile file needs."""
    if not path.exists():
        raise AuditError(f"{path}: no such file")
    if path.is_dir():
        raise AuditError(f"{path} is a folder; give an .xlsx file")
    size = path.stat().st_size
    if size == 0:
        raise AuditError(f"{path} is empty; give an .xlsx workbook")
    if size > MAX_BYTES:
        raise AuditError(f"{path} is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB")
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise AuditError(f"{path} is password-protected (encrypted) or an old .xls file; save "
                         "an unprotected .xlsx copy and check that")
    if not zipfile.is_zipfile(path):
        raise AuditError(f"{path} is not an .xlsx workbook (not a zip archive)")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n.lower().endswith("vbaproject.bin") for n in names) or \
            path.suffix.lower() in (".xlsm", ".xltm"):
        raise AuditError(f"{path} holds macros; macros are never run here: save it as .xlsx "
                         "(macro-free) and check that")
    if any(n.startswith("xl/externalLinks/") for n in names):
        raise AuditError(f"{path} links to other workbooks, which are not followed; break the "
                         "links (Excel: Data > Edit Links > Break Link) and check again")
    try:
        return openpyxl.load_workbook(path)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise AuditError(f"{path} cannot be read as a workbook: {exc}") from None


def engine_key(book: str, sheet: str, address: str) -> str:
    return f"'[{book}]{sheet.upper()}'!{address}"


def as_number(v: Any) -> float:
    return float(v) if isinstance(v, int | float | np.number) and not isinstance(v, bool) \
        else float("nan")


def column_values(solution: Any, book: str, table: Table) -> dict[str, Array]:
    """Every quantity down the rows (NaN where a cell is empty, an error or not computed)."""
    data: dict[str, Array] = {}
    for name, col in table.columns.items():
        values = []
        for r in table.rows:
            cell = solution.get(engine_key(book, table.sheet, f"{get_column_letter(col)}{r}"))
            values.append(as_number(cell.value[0, 0]) if cell is not None else np.nan)
        data[name] = np.asarray(values, dtype=float)
    n = len(table.rows)
    for name, address in table.params.items():
        cell = solution.get(engine_key(book, table.sheet, address))
        data[name] = np.full(n, as_number(cell.value[0, 0]) if cell is not None else np.nan)
    return data


def changed_inputs(ws: Worksheet, book: str, table: Table, eta: float) -> dict[str, float]:
    """Engine inputs for the changed run: the example, the first row's weights and η."""
    inputs: dict[str, float] = {}
    for name in EXAMPLE:
        if name in table.params:
            inputs[engine_key(book, table.sheet, table.params[name])] = CHANGED[name]
        elif name in table.columns:  # a column: every row gets the new value
            letter = get_column_letter(table.columns[name])
            for r in table.rows:
                inputs[engine_key(book, table.sheet, f"{letter}{r}")] = CHANGED[name]
    for name in WEIGHTS:
        address = f"{get_column_letter(table.columns[name])}{table.rows[0]}"
        inputs[engine_key(book, table.sheet, address)] = CHANGED[name]
    if "η" in table.params:
        inputs[engine_key(book, table.sheet, table.params["η"])] = eta * ETA_FACTOR
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


def check_column(name: str, table: Table, runs: list[dict[str, Array]], ws: Worksheet,
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
             if not (isinstance(ws.cell(r, col).value, str) and
                     str(ws.cell(r, col).value).startswith("="))]
    if typed:
        result.diagnosis = (f"holds a typed number, not a formula, in row {typed[0]}"
                            + (f" and {len(typed) - 1} more" if len(typed) > 1 else ""))
    elif np.isnan(result.got or np.nan):
        value = ws.cell(result.first_wrong_row or 0, col).value
        result.diagnosis = f"row {result.first_wrong_row} does not evaluate to a number " \
                           f"(formula {value!r}: an error, a circular reference or an " \
                           "unsupported function)"
    elif name in WEIGHTS and eta_cell and (drift := eta_drift(ws, table, col, eta_cell)):
        result.diagnosis = drift
    else:
        result.diagnosis = diagnose(name, runs, n)
        if result.diagnosis is None and result.when == "changed inputs":
            result.diagnosis = "right at the given inputs only: it disagrees when the inputs " \
                               "and initial weights change"
    return result


def eta_drift(ws: Worksheet, table: Table, col: int, eta_cell: str) -> str | None:
    """A weight update whose η reference has no $ and so moves as the formula is copied down."""
    eta_col, eta_row = coordinate_from_string(eta_cell)
    pattern = re.compile(rf"(?<![A-Z$])\$?{eta_col}(\d+)\b")
    for r in table.rows[1:]:
        formula = ws.cell(r, col).value
        if not isinstance(formula, str):
            continue
        refs = [int(m.group(1)) for m in pattern.finditer(formula) if "$" + str(m.group(1))
                not in formula]
        if refs and refs[0] != eta_row:
            return (f"row {r} refers to {eta_col}{refs[0]} where the η cell {eta_cell} belongs: "
                    f"η is referenced without $ and drifts as the formula is copied down")
    return None


def check_sheet(ws: Worksheet, table: Table, solution: Any, changed: Any | None, book: str,
                eta: float, eta_source: str) -> SheetReport:
    runs = [column_values(solution, book, table)]
    if changed is not None:
        runs.append(column_values(changed, book, table))
    for run in runs:
        run.setdefault("η", np.full(len(table.rows), eta))
    results = [check_column(name, table, runs, ws, table.params.get("η"))
               for name in CHECKED if name in table.columns]
    missing = [n for n in (*CHECKED, *EXAMPLE) if n not in table.columns and
               n not in table.params and n not in DELTAS]
    return SheetReport(table.sheet, table.header_row, len(table.rows), eta, eta_source,
                       results, missing)


def audit(path: Path, timeout: float = DEFAULT_TIMEOUT,
          progress: Callable[[str], None] | None = None) -> list[SheetReport]:
    """Check every table in the workbook.

    Args:
        path: the workbook.
        timeout: seconds the whole check may take.
        progress: told, in words, about the slow step before it starts.

    Returns:
        One report per sheet that holds a table.

    Raises:
        AuditError: the file cannot be read, holds no table, or is too large or too slow.
    """
    import formulas

    with time_limit(timeout):
        wb = open_workbook(path)
        tables = [(ws, t) for ws in wb.worksheets if (t := find_table(ws)) is not None]
        if not tables:
            raise AuditError(f"{path}: no sheet has a header row naming w1..w8 and E_total "
                             "(looked for the course template's headers: i1 i2 t1 t2 w1..w8 "
                             "h1 a_h1 ... E_total ∂E/∂w1..∂E/∂w8)")
        for ws, t in tables:
            if len(t.rows) < 2:
                raise AuditError(f"sheet {ws.title!r}: the table has {len(t.rows)} epoch rows "
                                 "below its header; it needs at least 2")
            if len(t.rows) > MAX_ROWS:
                raise AuditError(f"sheet {ws.title!r}: {len(t.rows)} epoch rows; the limit is "
                                 f"{MAX_ROWS:,}: check a shorter copy")
        n_formulas = sum(1 for ws in wb.worksheets for row in ws.iter_rows() for c in row
                         if c.data_type == "f")
        if n_formulas > MAX_FORMULAS:
            raise AuditError(f"{path} has {n_formulas:,} formulas; the limit is "
                             f"{MAX_FORMULAS:,} (about {MAX_FORMULAS * 0.0025 / 60:.0f} min of "
                             "recomputing): check a copy with fewer epochs or sheets")
        if progress is not None:
            progress(f"recomputing {n_formulas:,} formulas in {len(tables)} table(s) with the "
                     f"formulas engine (about {max(1, round(n_formulas * 0.004))} s)")
        with tempfile.TemporaryDirectory(prefix="workbook-builder-audit-") as tmp:
            copy = Path(tmp) / "book.xlsx"  # a plain name for the engine's cell keys
            shutil.copyfile(path, copy)
            with contextlib.redirect_stderr(io.StringIO()):  # the engine's progress bars
                try:
                    model = formulas.ExcelModel().loads(str(copy)).finish()
                    solution = model.calculate()
                except AuditError:
                    raise
                except Exception as exc:
                    raise AuditError(f"{path}: the formulas engine cannot load it: "
                                     f"{type(exc).__name__}: {exc}") from None
                reports = []
                for ws, t in tables:
                    given = column_values(solution, copy.name, t)
                    if "η" in t.params:
                        eta, source = float(given.get("η", [np.nan])[0]), f"cell {t.params['η']}"
                    else:
                        inferred = infer_eta(given)
                        if inferred is None:
                            raise AuditError(f"sheet {ws.title!r}: no η cell (a label such as "
                                             "'η', 'lr' or 'learning rate') and η cannot be "
                                             "inferred from the weight rows")
                        eta, source = inferred, "inferred from consecutive weight rows"
                    changed = model.calculate(inputs=changed_inputs(ws, copy.name, t, eta))
                    reports.append(check_sheet(ws, t, solution, changed, copy.name, eta,
                                               source))
    return reports


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a value that is not a finite number becomes null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(path: Path, reports: list[SheetReport]) -> dict[str, Any]:
    report = {"file": str(path), "ok": all(r.ok for r in reports),
              "sheets": [{**asdict(r), "ok": r.ok} for r in reports]}
    return dict(_finite(report))


def _number(value: float | None, digits: int = 10) -> str:
    return f"{value:.{digits}g}" if value is not None and np.isfinite(value) else "no number"


def to_lines(reports: list[SheetReport]) -> list[str]:
    lines = []
    for r in reports:
        eta = f"{r.eta:.6g}" if r.eta is not None else "?"
        lines.append(f"sheet {r.sheet!r}: header in row {r.header_row}, {r.epochs} epochs, "
                     f"η = {eta} ({r.eta_source})")
        for c in r.columns:
            if c.ok and c.diagnosis:  # a quantity whose inputs the sheet lacks
                lines.append(f"  {c.name:<8} {c.column:>3}  {c.diagnosis}")
            elif c.ok:
                lines.append(f"  {c.name:<8} {c.column:>3}  ok")
            else:
                lines.append(f"  {c.name:<8} {c.column:>3}  WRONG from row {c.first_wrong_row} "
                             f"under the {c.when}: expected {_number(c.expected)}, got "
                             f"{_number(c.got)} (relative error {_number(c.rel_error, 2)})"
                             + (f"; {c.diagnosis}" if c.diagnosis else ""))
        if r.missing:
            lines.append(f"  not in the sheet (not checked): {', '.join(r.missing)}")
    wrong = [(r.sheet, c.name) for r in reports for c in r.columns if not c.ok]
    checked = sum(len(r.columns) for r in reports)
    lines.append(f"{'all right' if not wrong else 'WRONG'}: {checked - len(wrong)} of {checked} "
                 f"columns right in {len(reports)} sheet(s)"
                 + (": " + ", ".join(f"{s}!{n}" for s, n in wrong) if wrong else "")
                 + "; checked at the given and at changed inputs")
    return lines
