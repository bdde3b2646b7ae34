"""Where each quantity of any small network lives: the Network sheet, a rate sheet's columns.

Zero-based rows and columns (XlsxWriter's convention); A1 text from XlsxWriter's helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xlsxwriter.utility import xl_col_to_name, xl_range_abs, xl_rowcol_to_cell

from workbook_builder import topology
from workbook_builder.equations import Expr
from workbook_builder.layout import GUIDE, NETWORK, SUMMARY, quote, slug
from workbook_builder.netrun import NetRun
from workbook_builder.spec import sheet_name
from workbook_builder.topology import NetSpec

EPOCH = "epoch"
# --- a rate sheet: title, note, η, note, the chart, then the table -------------------------
TITLE_ROW, NOTE_ROW, ETA_ROW, NOTE2_ROW = 0, 1, 2, 3
ETA_CELL = (ETA_ROW, 3)  # its label, left-aligned, from column B: no spill into column A
CHART_ROW = 4
CHART_ROWS = 12  # the chart's height in default (20 px) rows
CHART_SIZE = (640, 20 * CHART_ROWS)  # pixels
GROUP_ROW = CHART_ROW + CHART_ROWS  # what each block of columns is
HEADER_ROW = GROUP_ROW + 1
FIRST_EPOCH_ROW = HEADER_ROW + 1
# --- the Network sheet ---------------------------------------------------------------------
NETWORK_NOTE_ROWS = (1, 2)
EXAMPLES_HEADER_ROW = 4
VALUE_COL = 1  # a parameter's initial value, right of its name
# --- the Summary ---------------------------------------------------------------------------
SUMMARY_EPOCHS = (0, 10, 50)  # besides the last
SUMMARY_HEADER_ROW = 2
SUMMARY_CHART_SIZE = (720, 400)

_SUFFIX = re.compile(r"\[(\d+)\]$")


def example_of(name: str) -> int:
    """The example a quantity belongs to (0-based; 0 with one example)."""
    m = _SUFFIX.search(name)
    return int(m.group(1)) - 1 if m else 0


def kind(name: str) -> str:
    """A column's group: epoch, weights, biases, forward, loss, deltas, gradients."""
    if name == EPOCH:
        return "epoch"
    if re.fullmatch(r"w\d+", name):
        return "weights"
    if name.startswith("b_"):
        return "biases"
    if name.startswith("δ_"):
        return "deltas"
    if name.startswith("∂E/∂"):
        return "gradients"
    if name.startswith("E"):
        return "loss"
    return "forward"


@dataclass(frozen=True)
class NetLayout:
    """A network's sheets: the Network sheet's cells and a rate sheet's columns."""

    spec: NetSpec
    columns: tuple[str, ...]  # the rate sheet's, left to right; the header text is the name
    network_cells: dict[str, tuple[int, int]]  # given values and initial parameters

    @property
    def column(self) -> dict[str, int]:
        return {name: col for col, name in enumerate(self.columns)}

    def groups(self) -> list[tuple[int, int, str]]:
        """Blocks of columns with their label: (first, last, label)."""
        out: list[tuple[int, int, str]] = []
        several = len(self.spec.examples) > 1
        for col, name in enumerate(self.columns[1:], start=1):
            group = kind(name)
            if several and group in ("forward", "loss", "deltas") and name != "E_total":
                label = f"{group if group != 'forward' else 'forward pass'}, example " \
                        f"{example_of(name) + 1}"
            else:
                label = {"forward": "forward pass", "deltas": "δ terms"}.get(group, group)
            if out and out[-1][2] == label:
                out[-1] = (out[-1][0], col, label)
            else:
                out.append((col, col, label))
        return out


def plan(spec: NetSpec) -> NetLayout:
    """The columns: epoch, the parameters, each example's forward pass then its loss terms,
    E_total, the δ terms, the gradients."""
    eq = topology.equations(spec)
    per_example: dict[int, list[str]] = {}
    rest: list[str] = []
    for name in eq:
        if kind(name) in ("forward", "loss") and name != "E_total":
            per_example.setdefault(example_of(name), []).append(name)
    for e in sorted(per_example):  # forward first, then loss terms, within each example
        per_example[e].sort(key=lambda n: kind(n) == "loss")
    rest = ["E_total"] + [n for n in eq if kind(n) == "deltas"] + \
        [n for n in eq if kind(n) == "gradients"]
    columns = (EPOCH, *topology.parameters(spec),
               *(n for e in sorted(per_example) for n in per_example[e]), *rest)
    assert len(set(columns)) == len(columns) == 1 + len(topology.parameters(spec)) + len(eq)
    cells: dict[str, tuple[int, int]] = {}
    n_in, n_out = spec.layers[0], spec.layers[-1]
    for e in range(len(spec.examples)):
        sfx = topology.example_suffix(spec, e)
        row = EXAMPLES_HEADER_ROW + 1 + e
        for j in range(n_in):
            cells[f"i{j + 1}{sfx}"] = (row, 1 + j)
        for k in range(n_out):
            cells[f"t{k + 1}{sfx}"] = (row, 1 + n_in + k)
    row = EXAMPLES_HEADER_ROW + len(spec.examples) + 3  # a blank row, then a header
    names = [*topology.parameters(spec)]
    if spec.biases is not None and not spec.train_biases:
        names += [f"b{layer}" for layer in range(1, len(spec.layers))]
    for k, name in enumerate(names):
        cells[name] = (row + k, VALUE_COL)
    return NetLayout(spec, columns, cells)


def parameter_header_row(lay: NetLayout) -> int:
    return EXAMPLES_HEADER_ROW + len(lay.spec.examples) + 2


def network_ref(lay: NetLayout, name: str) -> str:
    """The Network sheet's cell of a given value or initial parameter: ``'Network'!$B$9``."""
    row, col = lay.network_cells[name]
    return f"{quote(NETWORK)}!" + str(xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True))


def eta_cell() -> str:
    return str(xl_rowcol_to_cell(*ETA_CELL, row_abs=True, col_abs=True))


def epoch_row(epoch: int) -> int:
    return FIRST_EPOCH_ROW + epoch


def cell(lay: NetLayout, name: str, epoch: int, absolute: bool = False) -> str:
    return str(xl_rowcol_to_cell(epoch_row(epoch), lay.column[name], row_abs=absolute,
                                 col_abs=absolute))


def template(lay: NetLayout, expr: Expr) -> str:
    """A formula as a ``str.format`` template over the row numbers: ``{r0}`` this epoch's
    (1-based), ``{r1}`` the epoch above's; η and the Network sheet's values absolute."""
    column = lay.column
    letters = {name: xl_col_to_name(col) for name, col in column.items()}

    def resolve(name: str, lag: int) -> str:
        if name in column:
            return f"{letters[name]}{{r{lag}}}"
        if name == "η":
            return eta_cell()
        return network_ref(lay, name)

    return "=" + expr.excel(resolve)


def row_numbers(epoch: int) -> dict[str, int]:
    """The values for ``template``'s fields at an epoch."""
    return {"r0": epoch_row(epoch) + 1, "r1": epoch_row(epoch)}


def column_range(lay: NetLayout, sheet: str, name: str, epochs: int) -> str:
    col = lay.column[name]
    return f"{quote(sheet)}!" + str(xl_range_abs(epoch_row(0), col, epoch_row(epochs - 1), col))


def summary_row(index: int) -> int:
    return SUMMARY_HEADER_ROW + 1 + index


def summary_eta_cell(index: int) -> str:
    return f"{quote(SUMMARY)}!" + str(xl_rowcol_to_cell(summary_row(index), 0, row_abs=True,
                                                         col_abs=True))


def shape(spec: NetSpec) -> str:
    """``3-4-4-2``."""
    return "-".join(str(n) for n in spec.layers)


def describe(spec: NetSpec) -> str:
    """One line: the network, its activations, loss, examples and biases."""
    if spec.train_biases:
        biases = "trainable biases"
    elif spec.biases is not None:
        biases = "fixed biases"
    else:
        biases = "no biases"
    n = len(spec.examples)
    return (f"a {shape(spec)} network: {spec.activation} hidden, {spec.output_activation} "
            f"output, {spec.loss} loss, {n} example{'s' if n > 1 else ''}, {biases}")


#: a rate sheet prints (and renders) its first epochs, one page per view of its columns
PRINT_EPOCHS = 20
VIEW_COLUMNS = 10  # columns a printed view holds besides the epoch (~150 characters)
PRINT_SCALE = 55  # percent, as the default workbook's views


def views(lay: NetLayout) -> list[tuple[int, int]]:
    """A rate sheet's printed views, left to right: (first, last) column, whole groups of
    columns together where they fit, a larger group split."""
    out: list[tuple[int, int]] = []
    for first, last, _ in lay.groups():
        while first <= last:
            end = min(last, first + VIEW_COLUMNS - 1)
            if out and end - out[-1][0] < VIEW_COLUMNS and out[-1][1] == first - 1:
                out[-1] = (out[-1][0], end)
            else:
                out.append((first, end))
            first = end + 1
    return out


def pictures(run: NetRun) -> list[str]:
    """The rendered pictures' names, one per printed page: Guide, Network, Summary, then each
    rate sheet's views (its chart is on the first)."""
    count = len(views(plan(run.net)))
    return [slug(GUIDE), slug(NETWORK), slug(SUMMARY),
            *(f"{slug(sheet_name(lr))}-{k}" for lr in run.learning_rates
              for k in range(1, count + 1))]
