"""Where each quantity of any network lives: a rate sheet's block and columns, the Network sheet.

One plan for every network (``plan``): a rate sheet holds a title, a note, the parameter block
(η, and the network's values where they fit: one example and at most ``BLOCK_ROWS`` rows of
four label-value pairs — else they live on the Network sheet only), a second note, a row of
group labels where the sheet has several examples, the header, one row per epoch, and the chart
right of the table. The course's 2-2-2 network is the plan of its preset (``COURSE``); the
module-level constants below are its cells, which the starter workbook and the 2-2-2 reading of
``check`` share.

Rows and columns are zero-based (XlsxWriter's convention); A1 text comes from XlsxWriter's
utility helpers, never from hand-written column arithmetic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from xlsxwriter.utility import xl_col_to_name, xl_range_abs, xl_rowcol_to_cell

from workbook_builder.network import optimizers, topology
from workbook_builder.network.equations import Expr
from workbook_builder.network.spec import MAX_EPOCHS, sheet_name
from workbook_builder.network.topology import NetSpec

LR_LABEL = "η (learning rate)"
EPOCH = "epoch"
TITLE_ROW = 0
NOTE_ROW = 1
#: the rate sheet's title, note and parameter block start in column B: column A holds only the
#: epochs, and it repeats on every printed page
TEXT_COL = 1
BLOCK_ROW = 2  # η's row; the network's values, where they fit, in the rows below
PAIRS_PER_ROW = 4  # label-value pairs in a row of the block
BLOCK_ROWS = 4  # rows of network values a block holds: inputs and targets, weights, biases
#: epochs 0..PRINT_EPOCHS−1 are what a printed page (and a rendered picture) shows
PRINT_EPOCHS = 20
ROW_PX = 20  # default row height, pixels
COL_PX = 64  # default column width, pixels
CHART_ROW = 2  # beside the parameter block, down to the last printed epoch
CHART_WIDTH = 960  # pixels
CHART_COLUMNS = CHART_WIDTH // COL_PX + 1  # default-width columns the chart covers
#: a printed view holds at most this many columns besides the epoch (~150 characters, so its
#: digits read when the picture is 1000 pixels wide); a larger group of columns is split
VIEW_COLUMNS = 11
CHART_VIEW = "chart"
PAPER_A4 = 9  # XlsxWriter's paper code
PRINT_SCALE = 55  # percent: the widest view (11 columns) fits A4 landscape in LibreOffice
MARGIN_INCHES = 0.3

_SUFFIX = re.compile(r"\[(\d+)\]$")
#: an optimizer's state of a parameter (v_w1, s_w1, m_w1, m̂_w1, v̂_w1, v_b_h1) and its step
_STATE = re.compile(r"(?:v|s|m|m̂|v̂)_(?:w\d+|b_.+)")
#: a mini-batch row's examples: which one of the data set (ex), its inputs and targets
_BATCH = re.compile(r"(?:ex|[it]\d+)(?:\[\d+\])?")


def example_of(name: str) -> int:
    """The example a quantity belongs to (0-based; 0 with one example)."""
    m = _SUFFIX.search(name)
    return int(m.group(1)) - 1 if m else 0


def kind(name: str) -> str:
    """A column's group: epoch, weights, biases, batch (a mini-batch's examples), forward,
    loss, deltas, gradients, state (the optimizer's)."""
    if name == EPOCH:
        return "epoch"
    if _BATCH.fullmatch(name):
        return "batch"
    if name == optimizers.STEP or _STATE.fullmatch(name):
        return "state"
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


#: a printed view per stage of the computation, left to right
STAGE = {"weights": "weights", "biases": "weights", "batch": "forward", "forward": "forward",
         "loss": "forward",
         "deltas": "deltas", "gradients": "gradients", "state": "optimizer"}


@dataclass(frozen=True)
class View:
    """One printed page of a rate sheet: its name and first and last column."""

    name: str
    first: int
    last: int


@dataclass(frozen=True)
class Layout:
    """A network's sheets: the rate sheet's block and columns, the Network sheet's cells."""

    spec: NetSpec
    columns: tuple[str, ...]  # the rate sheet's, left to right; the header text is the name
    block: dict[str, tuple[int, int]]  # a rate sheet's value cells: η and (in_block) the rest
    network_cells: dict[str, tuple[int, int]]  # the Network sheet's value cells
    in_block: bool  # the network's values are in every rate sheet's block too (same cells)
    note2_row: int
    group_row: int | None  # labels over blocks of columns (several examples), or none
    header_row: int
    column: dict[str, int] = field(init=False, repr=False, compare=False)
    letters: dict[str, str] = field(init=False, repr=False, compare=False)  # w1 -> "B"

    def __post_init__(self) -> None:
        object.__setattr__(self, "column", {n: c for c, n in enumerate(self.columns)})
        object.__setattr__(self, "letters", {n: xl_col_to_name(c)
                                             for n, c in self.column.items()})

    @property
    def first_epoch_row(self) -> int:
        return self.header_row + 1

    def epoch_row(self, epoch: int) -> int:
        return self.first_epoch_row + epoch

    def cell(self, name: str, epoch: int, absolute: bool = False) -> str:
        """A1 text of a table cell, e.g. ``B10`` for w1 at epoch 0."""
        return str(xl_rowcol_to_cell(self.epoch_row(epoch), self.column[name],
                                     row_abs=absolute, col_abs=absolute))

    def value_ref(self, name: str) -> str:
        """How a rate sheet's formula points at η or a network value: its block cell
        (``$C$4``), else the Network sheet's (``'Network'!$B$6``)."""
        if name in self.block:
            row, col = self.block[name]
            return str(xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True))
        return self.network_ref(name)

    def network_ref(self, name: str) -> str:
        """The Network sheet's cell of a network value, e.g. ``'Network'!$C$4`` for i1."""
        row, col = self.network_cells[name]
        return f"{quote(NETWORK)}!" + str(xl_rowcol_to_cell(row, col, row_abs=True,
                                                            col_abs=True))

    def template(self, expr: Expr) -> str:
        """A formula as a ``str.format`` template over the row numbers: ``{r0}`` this epoch's
        (1-based), ``{r1}`` the epoch above's; η and the network's values absolute."""
        letters = self.letters

        def resolve(name: str, lag: int) -> str:
            if name in letters:
                return f"{letters[name]}{{r{lag}}}"
            return self.value_ref(name)

        return "=" + expr.excel(resolve)

    def row_numbers(self, epoch: int) -> dict[str, int]:
        """The values for ``template``'s fields at an epoch."""
        return {"r0": self.epoch_row(epoch) + 1, "r1": self.epoch_row(epoch)}

    def column_range(self, sheet: str, name: str, epochs: int) -> str:
        """Absolute range of a column over all epochs, with its sheet: ``'LR 0.5'!$T$10:$T$109``."""
        col = self.column[name]
        return f"{quote(sheet)}!" + str(xl_range_abs(self.epoch_row(0), col,
                                                     self.epoch_row(epochs - 1), col))

    @property
    def chart_col(self) -> int:
        """The chart sits right of the table, one empty column between."""
        return len(self.columns) + 1

    @property
    def chart_size(self) -> tuple[int, int]:
        """Pixels: from the block's row down to the last printed epoch."""
        return CHART_WIDTH, ROW_PX * (self.header_row - CHART_ROW + 1 + PRINT_EPOCHS)

    @property
    def views(self) -> tuple[View, ...]:
        """A rate sheet's printed pages, left to right: one per stage of the computation
        (weights, forward pass and loss, δ terms, gradients; a stage wider than VIEW_COLUMNS
        in parts of nearly equal width), then the chart."""
        out: list[View] = []
        stages: list[tuple[str, int, int]] = []
        for col, name in enumerate(self.columns[1:], start=1):
            stage = STAGE[kind(name)]
            if stages and stages[-1][0] == stage:
                stages[-1] = (stage, stages[-1][1], col)
            else:
                stages.append((stage, col, col))
        for stage, first, last in stages:
            pieces: list[tuple[int, int]] = []  # whole examples together, as many as fit
            for lo, hi in self._example_blocks(first, last):
                if pieces and hi - pieces[-1][0] < VIEW_COLUMNS:
                    pieces[-1] = (pieces[-1][0], hi)
                    continue
                parts = math.ceil((hi - lo + 1) / VIEW_COLUMNS)  # too wide: equal parts
                width = math.ceil((hi - lo + 1) / parts)
                pieces += [(start, min(hi, start + width - 1))
                           for start in range(lo, hi + 1, width)]
            out += [View(stage if k == 0 else f"{stage}-{k + 1}", lo, hi)
                    for k, (lo, hi) in enumerate(pieces)]
        out.append(View(CHART_VIEW, self.chart_col, self.chart_col + CHART_COLUMNS))
        return tuple(out)

    def _example_blocks(self, first: int, last: int) -> list[tuple[int, int]]:
        """Columns first..last cut where the example changes (E_total and the gradients
        belong to none: they stay with what they follow)."""
        blocks: list[tuple[int, int]] = []
        for col in range(first, last + 1):
            name = self.columns[col]
            same = blocks and (example_of(name) == example_of(self.columns[col - 1])
                               or "[" not in name)
            if same:
                blocks[-1] = (blocks[-1][0], col)
            else:
                blocks.append((col, col))
        return blocks

    def view(self, name: str) -> View:
        return next(v for v in self.views if v.name == name)

    def copied_inputs(self) -> tuple[str, ...]:
        """What every view but the first shows above its columns: η, then the example's
        inputs and targets where the block holds them."""
        given = [n for n in self.block if n[0] in "it"]
        return ("η", *topology.hyperparameters(self.spec), *given)

    def input_copy_cells(self, view: View) -> tuple[dict[str, tuple[int, int]], int] | None:
        """Where a view shows its copies of the inputs (name -> label cell; the value is right
        of it), and the row of its note: η first, then label-value pairs as many to a row as
        the view is wide, so that nothing spills onto the next printed page; None where they
        would not fit above the second note or in the view's width, or the view starts beside
        the block (whose columns it shares)."""
        per_row = (view.last - view.first + 1) // 2
        if per_row == 0 or view.first <= max(col for _, col in self.block.values()):
            return None
        row = self.block["η"][0]
        names = self.copied_inputs()
        cells = {"η": (row, view.first)}
        for k, name in enumerate(names[1:]):
            cells[name] = (row + 1 + k // per_row, view.first + 2 * (k % per_row))
        note_row = max(r for r, _ in cells.values()) + 1
        return (cells, note_row) if note_row < self.note2_row else None

    def groups(self) -> list[tuple[int, int, str]]:
        """Blocks of columns with their label: (first, last, label); a block that two printed
        views share is cut where the second starts."""
        out: list[tuple[int, int, str]] = []
        several = topology.slots(self.spec) > 1
        starts = {v.first for v in self.views}
        for col, name in enumerate(self.columns[1:], start=1):
            group = kind(name)
            if group == "batch":
                label = "the step's examples" if not several else \
                    f"batch example {example_of(name) + 1}"
            elif several and group in ("forward", "loss", "deltas") and name != "E_total":
                which = "batch example" if self.spec.batch_size is not None else "example"
                label = f"{group if group != 'forward' else 'forward pass'}, {which} " \
                        f"{example_of(name) + 1}"
            else:
                label = {"forward": "forward pass", "deltas": "δ terms",
                         "state": "optimizer state"}.get(group, group)
            starts_view = col in starts
            if out and out[-1][2] == label and not starts_view:
                out[-1] = (out[-1][0], col, label)
            else:  # a label over a printed page's columns only, so that each page shows it
                out.append((col, col, label))
        return out


def columns_of(spec: NetSpec) -> tuple[str, ...]:
    """epoch, the parameters, each example's forward pass (with mini-batches first which
    example it is, its inputs and targets; neuron by neuron: its sum, then its activation)
    and its loss terms, E_total, the δ terms, the gradients, the optimizer's
    state."""
    eq = topology.equations(spec)
    order = {name: k for k, name in enumerate(eq)}

    def neuron_key(name: str) -> tuple[int, int]:
        if kind(name) in ("batch", "loss"):
            return (0 if kind(name) == "batch" else 2), order[name]
        sum_name = name[2:] if name.startswith("a_") else name
        return 1, 2 * order[sum_name] + name.startswith("a_")

    per_example: dict[int, list[str]] = {}
    for name in eq:
        if kind(name) in ("batch", "forward", "loss") and name != "E_total":
            per_example.setdefault(example_of(name), []).append(name)
    forward = [n for e in sorted(per_example) for n in sorted(per_example[e], key=neuron_key)]
    rest = ["E_total"] + [n for n in eq if kind(n) == "deltas"] + \
        [n for n in eq if kind(n) == "gradients"] + [n for n in eq if kind(n) == "state"]
    columns = (EPOCH, *topology.parameters(spec), *forward, *rest)
    assert len(set(columns)) == len(columns) == 1 + len(topology.parameters(spec)) + len(eq)
    return columns


def _block_rows(spec: NetSpec) -> list[list[str]]:
    """The network's values in the block's rows: the example's inputs and targets, the
    weights, the biases (fixed or the trainable ones' initial values), four to a row."""
    params = list(topology.parameters(spec))
    weights = [p for p in params if kind(p) == "weights"]
    biases = [p for p in params if kind(p) == "biases"]
    if spec.biases is not None and not spec.train_biases:
        biases = [f"b{layer}" for layer in range(1, len(spec.layers))]
    given = [n for n in topology.constants(spec) if n[0] in "it"]
    rows: list[list[str]] = []
    for names in (given, weights, biases):
        rows += [names[k:k + PAIRS_PER_ROW] for k in range(0, len(names), PAIRS_PER_ROW)]
    return rows


def _list_cells(spec: NetSpec) -> dict[str, tuple[int, int]]:
    """The Network sheet of a network too large for a block: a table of the examples (one
    row each), then a list of the parameters and fixed biases."""
    cells: dict[str, tuple[int, int]] = {}
    n_in, n_out = spec.layers[0], spec.layers[-1]
    for e in range(len(spec.examples)):
        row = EXAMPLES_HEADER_ROW + 1 + e
        for j in range(n_in):
            cells[topology.data_name(spec, f"i{j + 1}", e)] = (row, 1 + j)
        for k in range(n_out):
            cells[topology.data_name(spec, f"t{k + 1}", e)] = (row, 1 + n_in + k)
    row = EXAMPLES_HEADER_ROW + len(spec.examples) + 3  # a blank row, then a header
    names = [*topology.parameters(spec)]
    if spec.biases is not None and not spec.train_biases:
        names += [f"b{layer}" for layer in range(1, len(spec.layers))]
    for k, name in enumerate(names):
        cells[name] = (row + k, VALUE_COL)
    return cells


def plan(spec: NetSpec) -> Layout:
    """Where everything of ``spec``'s workbook goes (see the module's docstring)."""
    rows = _block_rows(spec)
    in_block = len(spec.examples) == 1 and len(rows) <= BLOCK_ROWS
    block = {"η": (BLOCK_ROW, TEXT_COL + 1)}
    # the optimizer's hyperparameters beside η: inputs of each rate sheet, like η
    block.update({h: (BLOCK_ROW, TEXT_COL + 3 + 2 * k)
                  for k, h in enumerate(topology.hyperparameters(spec))})
    sheet_inputs = set(block)
    if in_block:
        for r, names in enumerate(rows, start=BLOCK_ROW + 1):
            block.update({n: (r, TEXT_COL + 1 + 2 * k) for k, n in enumerate(names)})
        # the block keeps its rows whatever fills them: the header stays where it is
        note2_row = BLOCK_ROW + 1 + BLOCK_ROWS
        network_cells = {n: cell for n, cell in block.items() if n not in sheet_inputs}
    else:
        note2_row = BLOCK_ROW + 2  # a row for the copies' note above the other views
        network_cells = _list_cells(spec)
    group_row = note2_row + 1 if topology.slots(spec) > 1 else None
    header_row = (group_row if group_row is not None else note2_row) + 1
    assert header_row + 1 + MAX_EPOCHS <= 1_048_576, "spec.MAX_EPOCHS must leave room"
    return Layout(spec, columns_of(spec), block, network_cells, in_block, note2_row,
                  group_row, header_row)


def row_word(spec: NetSpec) -> str:
    """What a rate sheet's row is: an ``epoch`` (full batch) or a ``step`` (mini-batches)."""
    return "step" if spec.batch_size is not None else "epoch"


def header(spec: NetSpec, name: str) -> str:
    """A column's header text: its name; the first column says what a row is."""
    return row_word(spec) if name == EPOCH else name


def labels(name: str) -> str:
    """A block cell's label."""
    return LR_LABEL if name == "η" else optimizers.LABELS.get(name, name)


def quote(sheet: str) -> str:
    """A sheet name as formulas write it: ``'LR 0.5'``."""
    return "'" + sheet.replace("'", "''") + "'"


def shape(spec: NetSpec) -> str:
    """``3-4-4-2``."""
    return "-".join(str(n) for n in spec.layers)


def network_words(spec: NetSpec) -> str:
    """``2-2-2 sigmoid network``; ``3-4-2 network (tanh hidden, softmax output)``."""
    if spec.activation == spec.output_activation:
        return f"{shape(spec)} {spec.activation} network"
    return f"{shape(spec)} network ({spec.activation} hidden, {spec.output_activation} output)"


def describe(spec: NetSpec) -> str:
    """One line: the network, its activations, loss, examples and biases."""
    if spec.train_biases:
        biases = "trainable biases"
    elif spec.biases is not None:
        biases = "fixed biases"
    else:
        biases = "no biases"
    n = len(spec.examples)
    batch = f" (mini-batches of {spec.batch_size})" if spec.batch_size is not None else ""
    return (f"a {shape(spec)} network: {spec.activation} hidden, {spec.output_activation} "
            f"output, {spec.loss} loss, {n} example{'s' if n > 1 else ''}{batch}, {biases}")


# --- the Network sheet --------------------------------------------------------------------
#: The network's values are entered once, on this sheet; where they fit in a rate sheet's block
#: they sit in the same cells as there (i1 is C4 on both), where every rate sheet shows them as
#: references to here; η alone is each rate sheet's own input.
NETWORK = "Network"
NETWORK_NOTE_ROWS = (1, 2)
NETWORK_EXPLAIN_ROWS = (7, 8)  # below the block: what the names mean
NETWORK_WIDTHS = (3, 8, 12)  # characters: column A (notes only), labels, values
#: the Guide's diagram, below, at 3/4 size: as wide as the value block (~620 px), 20 rows high
NETWORK_IMAGE_ROW = 9
NETWORK_IMAGE_SCALE = 0.75
NETWORK_IMAGE_ROWS = 20
#: a network too large for a block: its examples table, then its parameters' list
EXAMPLES_HEADER_ROW = 4
VALUE_COL = 1  # a parameter's initial value, right of its name


def parameter_header_row(spec: NetSpec) -> int:
    return EXAMPLES_HEADER_ROW + len(spec.examples) + 2


# --- the Summary sheet --------------------------------------------------------------------
SUMMARY = "Summary"
SUMMARY_EPOCHS = (0, 10, 50)  # E_total columns besides the last epoch
SUMMARY_FRACTIONS = (0.5, 0.1, 0.01)  # "first epoch E_total < fraction of its start"
SUMMARY_HEADER_ROW = 2
NOT_REACHED = "not reached"
SUMMARY_WIDTHS = (10, 10, 14)  # characters: η, sheet, then every number column (1.418138E-02)
SUMMARY_HEADER_HEIGHT = 60  # points: four lines of wrapped header
#: η, sheet, E_total at SUMMARY_EPOCHS and the last, the first epoch below each fraction
SUMMARY_COLUMNS = 2 + len(SUMMARY_EPOCHS) + 1 + len(SUMMARY_FRACTIONS)
SUMMARY_CHART_HEIGHT = 480  # pixels
SUMMARY_CHART_ROWS = 25  # rows the chart covers below the table
#: the η column shows "η = 0.5" (a number shown with a prefix): the charts' legends name each
#: curve by that cell
ETA_LABEL = "η = "
SUMMARY_ETA_FORMAT = f'"{ETA_LABEL}"General'
SUMMARY_OPTIMIZER_WIDTH = 18  # characters: "nesterov, η = 0.05"


def summary_eta_format(optimizer: str) -> str:
    """The η cell's format on the Summary of several optimizers: ``adam, η = 0.05``."""
    return f'"{optimizer}, {ETA_LABEL}"General'


def column_px(width: float) -> int:
    """A column's width in pixels from its width in characters, as Excel and XlsxWriter count
    (Calibri 11: 7 px a digit plus 5 px padding)."""
    return int(width * 7 + 0.5) + 5


def summary_chart_size() -> tuple[int, int]:
    """The Summary chart spans the table's columns exactly, so that the printed page (the
    table's columns) holds all of it."""
    eta, sheet, number = SUMMARY_WIDTHS
    width = column_px(eta) + column_px(sheet) + (SUMMARY_COLUMNS - 2) * column_px(number)
    return width, SUMMARY_CHART_HEIGHT


def summary_row(index: int) -> int:
    """Row of the index-th learning rate in the Summary table."""
    return SUMMARY_HEADER_ROW + 1 + index


def summary_eta_cell(index: int) -> str:
    """The index-th rate's η on the Summary, with its sheet: ``'Summary'!$A$4``."""
    cell_text = xl_rowcol_to_cell(summary_row(index), 0, row_abs=True, col_abs=True)
    return f"{quote(SUMMARY)}!{cell_text}"


def summary_chart_row(rates: int) -> int:
    return summary_row(rates) + 1


@dataclass(frozen=True)
class RateSheet:
    """One rate sheet: its name, the network it trains (with its optimizer), its η."""

    name: str
    spec: NetSpec
    lr: float


def rate_sheets(run: object) -> list[RateSheet]:
    """A run's rate sheets (anything with ``learning_rates``; a NetRun's ``optimizers``): one
    per optimizer and rate, ``LR 0.05`` with one optimizer, ``LR 0.05 adam`` with several."""
    rates: tuple[float, ...] = run.learning_rates  # type: ignore[attr-defined]
    net: NetSpec = getattr(run, "net", COURSE.spec)
    opts = getattr(run, "optimizers", ()) or (net.optimizer,)
    several = len(opts) > 1
    return [RateSheet(sheet_name(lr) + (f" {o.name}" if several else ""),
                      replace(net, optimizer=o), lr) for o in opts for lr in rates]


def sheet_names(run: object) -> list[str]:
    """The rate sheets' names of a run (anything with ``learning_rates``)."""
    return [r.name for r in rate_sheets(run)]


# --- the Guide sheet ----------------------------------------------------------------------
GUIDE = "Guide"
#: the network diagram sits under the title, where the explanation starts; the steps follow
GUIDE_NOTE_ROWS = (1, 2, 3)
GUIDE_IMAGE_ROW = 4
GUIDE_IMAGE_ROWS = 27  # rows the course's diagram covers (``guide_image_rows`` of its PNG)
GUIDE_HEADER_ROW = GUIDE_IMAGE_ROW + GUIDE_IMAGE_ROWS  # the course's
#: equations are right-aligned, so each ends beside its value
GUIDE_COLUMNS = ("quantity", "equation", "value at epoch 0", "why")
GUIDE_WIDTHS = (17, 62, 16, 58)
GUIDE_EXAMPLE_RATE = 1.0  # the worked examples point at this rate's sheet when it exists


def guide_image_rows(png_height: int, dpi: int) -> int:
    """Rows a diagram covers: XlsxWriter places a PNG by its dpi (96/dpi of its pixels)."""
    return math.ceil(png_height * 96 / dpi / ROW_PX)


def guide_row(index: int, header_row: int = GUIDE_HEADER_ROW) -> int:
    """Row of the index-th Guide step."""
    return header_row + 1 + index


def guide_source(run: object) -> str:
    """The rate sheet the Guide's worked examples point at."""
    sheets = rate_sheets(run)
    return next((r.name for r in sheets if r.lr == GUIDE_EXAMPLE_RATE), sheets[0].name)


def workbook_sheets(run: object) -> list[str]:
    """Every sheet, in workbook order."""
    return [GUIDE, NETWORK, SUMMARY, *sheet_names(run)]


def slug(sheet: str) -> str:
    """A sheet's name in file names: ``LR 0.5`` -> ``lr-0.5``."""
    return sheet.lower().replace(" ", "-")


def pictures(run: object) -> list[str]:
    """The rendered pictures' names, in the printed pages' order (one page each)."""
    names = [slug(GUIDE), slug(NETWORK), slug(SUMMARY)]
    for sheet in rate_sheets(run):
        names += [f"{slug(sheet.name)}-{view.name}" for view in plan(sheet.spec).views]
    return names


# --- the course's network: its plan's cells, by name ----------------------------------------
#: the course's 2-2-2 network with fixed biases: every cell its sheets may have
COURSE = plan(NetSpec(biases=(0.0, 0.0)))
COLUMNS = COURSE.columns
COLUMN = COURSE.column
PARAM_CELLS = COURSE.block
PARAM_LABELS = {name: labels(name) for name in PARAM_CELLS}
NOTE2_ROW = COURSE.note2_row
HEADER_ROW = COURSE.header_row
FIRST_EPOCH_ROW = COURSE.first_epoch_row
CHART_COL = COURSE.chart_col
CHART_SIZE = COURSE.chart_size
RATE_VIEWS: dict[str, tuple[str, str]] = {
    v.name: (COLUMNS[v.first], COLUMNS[v.last]) for v in COURSE.views if v.name != CHART_VIEW}


def param_cell(name: str, absolute: bool = True) -> str:
    """A1 text of a course block cell, e.g. ``$C$3`` for η."""
    row, col = PARAM_CELLS[name]
    return str(xl_rowcol_to_cell(row, col, row_abs=absolute, col_abs=absolute))


def epoch_row(epoch: int) -> int:
    return COURSE.epoch_row(epoch)


def cell(name: str, epoch: int, absolute: bool = False) -> str:
    """A1 text of a course table cell, e.g. ``B10`` for w1 at epoch 0."""
    return COURSE.cell(name, epoch, absolute)


def view_columns(view: str) -> tuple[int, int]:
    """First and last column of a course rate sheet's printed view."""
    v = COURSE.view(view)
    return v.first, v.last
