"""Where each quantity lives: the parameter block, the table's columns, epoch -> row, A1 text.

Rows and columns are zero-based (XlsxWriter's convention); A1 text comes from XlsxWriter's
utility helpers, never from hand-written column arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from xlsxwriter.utility import xl_range_abs, xl_rowcol_to_cell

from workbook_builder.reference import QUANTITIES, WEIGHTS
from workbook_builder.spec import MAX_EPOCHS, Network, Run, sheet_name

LR_LABEL = "η (learning rate)"
TITLE_ROW = 0
NOTE_ROW = 1
NOTE2_ROW = 7  # the rate sheet's second note, just above the header
#: the rate sheet's title, note and parameter block start in column B: column A holds only the
#: epochs, and it repeats on every printed page
TEXT_COL = 1
#: parameter block: label in one cell, its value in the cell directly right of it
PARAM_CELLS: dict[str, tuple[int, int]] = {
    "η": (2, 2),
    "i1": (3, 2), "i2": (3, 4), "t1": (3, 6), "t2": (3, 8),
    "w1": (4, 2), "w2": (4, 4), "w3": (4, 6), "w4": (4, 8),
    "w5": (5, 2), "w6": (5, 4), "w7": (5, 6), "w8": (5, 8),
    "b1": (6, 2), "b2": (6, 4),
}  # fmt: skip
PARAM_LABELS = {name: (LR_LABEL if name == "η" else name) for name in PARAM_CELLS}
HEADER_ROW = 8
FIRST_EPOCH_ROW = HEADER_ROW + 1
EPOCH = "epoch"
#: the table's columns, left to right; the header text is the name
COLUMNS: tuple[str, ...] = (EPOCH, *QUANTITIES)
COLUMN: dict[str, int] = {name: col for col, name in enumerate(COLUMNS)}
#: the chart sits right of the table, one empty column between
CHART_COL = len(COLUMNS) + 1
#: epochs 0..PRINT_EPOCHS−1 are what a printed page (and a rendered picture) shows
PRINT_EPOCHS = 20
ROW_PX = 20  # default row height, pixels
COL_PX = 64  # default column width, pixels
CHART_ROW = 2  # beside the parameter block, down to the last printed epoch
CHART_SIZE = (960, ROW_PX * (HEADER_ROW - CHART_ROW + 1 + PRINT_EPOCHS))  # pixels
CHART_COLUMNS = CHART_SIZE[0] // COL_PX + 1  # default-width columns the chart covers
#: A rate sheet prints as one page per view, left to right (manual page breaks at each view's
#: first column; the epoch column repeats on every page), then the chart. Each view is at most
#: ~150 characters wide, so that its digits read when the picture is 1000 pixels wide.
RATE_VIEWS: dict[str, tuple[str, str]] = {
    "weights": ("w1", "w8"),
    "forward": ("h1", "E_total"),
    "deltas": ("δ_o1", "δ_h2"),
    "gradients": ("∂E/∂w1", "∂E/∂w8"),
}
#: the views that get copies of the inputs above them (the weights view has the originals)
VIEWS_WITH_INPUT_COPIES = ("forward", "deltas", "gradients")
CHART_VIEW = "chart"
#: above the other views, read-only copies of the inputs, in the parameter block's rows
COPIED_INPUTS = ("i1", "i2", "t1", "t2")  # after η, which gets a row of its own
PAPER_A4 = 9  # XlsxWriter's paper code
PRINT_SCALE = 55  # percent: the widest view (forward, 12 columns) fits A4 landscape in LibreOffice
MARGIN_INCHES = 0.3

assert FIRST_EPOCH_ROW + MAX_EPOCHS <= 1_048_576, "spec.MAX_EPOCHS must leave room for the header"


def params(network: Network, learning_rate: float) -> dict[str, float]:
    """The parameter block's values; b1 and b2 appear only when the network has biases."""
    values = {"η": learning_rate}
    values.update(zip(("i1", "i2"), network.inputs, strict=True))
    values.update(zip(("t1", "t2"), network.targets, strict=True))
    values.update(zip(WEIGHTS, network.weights, strict=True))
    if network.biases is not None:
        values.update(zip(("b1", "b2"), network.biases, strict=True))
    return values


def network_params(network: Network) -> dict[str, float]:
    """The Network sheet's values: ``params`` without η."""
    return {k: v for k, v in params(network, 0.0).items() if k != "η"}


def param_cell(name: str, absolute: bool = True) -> str:
    """A1 text of a parameter's value cell, e.g. ``$B$3`` for η."""
    row, col = PARAM_CELLS[name]
    return str(xl_rowcol_to_cell(row, col, row_abs=absolute, col_abs=absolute))


def epoch_row(epoch: int) -> int:
    return FIRST_EPOCH_ROW + epoch


def cell(name: str, epoch: int, absolute: bool = False) -> str:
    """A1 text of a table cell, e.g. ``B10`` for w1 at epoch 0."""
    return str(xl_rowcol_to_cell(epoch_row(epoch), COLUMN[name], row_abs=absolute,
                                 col_abs=absolute))


def column_range(sheet: str, name: str, epochs: int) -> str:
    """Absolute range of a column over all epochs, with its sheet: ``'LR 0.5'!$T$10:$T$109``."""
    col = COLUMN[name]
    return f"{quote(sheet)}!" + str(xl_range_abs(epoch_row(0), col, epoch_row(epochs - 1), col))


def quote(sheet: str) -> str:
    """A sheet name as formulas write it: ``'LR 0.5'``."""
    return "'" + sheet.replace("'", "''") + "'"


@dataclass(frozen=True)
class Refs:
    """What a formula builder may point at from one epoch's row."""

    epoch: int
    has_bias: bool = False

    @property
    def first(self) -> bool:
        return self.epoch == 0

    def __getitem__(self, name: str) -> str:
        """A table quantity at this row (relative), else a parameter (absolute)."""
        return cell(name, self.epoch) if name in COLUMN else param_cell(name)

    def param(self, name: str) -> str:
        """A parameter-block value (absolute), e.g. the initial w1 rather than column w1."""
        return param_cell(name)

    def prev(self, name: str) -> str:
        """A table quantity in the row above."""
        return cell(name, self.epoch - 1)


# --- the Network sheet --------------------------------------------------------------------
#: The network's values are entered once, on this sheet, in the same cells as in a rate sheet's
#: parameter block (i1 is C4 on both), where every rate sheet shows them as references to here;
#: η alone is each rate sheet's own input.
NETWORK = "Network"
NETWORK_NOTE_ROWS = (1, 2)
NETWORK_EXPLAIN_ROWS = (7, 8)  # below b1, b2: what the names mean
NETWORK_WIDTHS = (3, 8, 12)  # characters: column A (notes only), labels, values
#: the Guide's diagram, below, at 3/4 size: as wide as the value block (~620 px), 20 rows high
NETWORK_IMAGE_ROW = 9
NETWORK_IMAGE_SCALE = 0.75
NETWORK_IMAGE_ROWS = 20


def network_ref(name: str) -> str:
    """The Network sheet's cell of a network value, e.g. ``'Network'!$C$4`` for i1."""
    return f"{quote(NETWORK)}!{param_cell(name)}"


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


def sheet_names(run: Run) -> list[str]:
    return [sheet_name(lr) for lr in run.learning_rates]


# --- the Guide sheet ----------------------------------------------------------------------
GUIDE = "Guide"
#: the network diagram sits under the title, where the explanation starts; the steps follow
GUIDE_NOTE_ROWS = (1, 2, 3)
GUIDE_IMAGE_ROW = 4
GUIDE_IMAGE_ROWS = 27  # rows the diagram covers (its height in pixels / ROW_PX, rounded up)
GUIDE_HEADER_ROW = GUIDE_IMAGE_ROW + GUIDE_IMAGE_ROWS
#: equations are right-aligned, so each ends beside its value
GUIDE_COLUMNS = ("quantity", "equation", "value at epoch 0", "why")
GUIDE_WIDTHS = (17, 62, 16, 58)
GUIDE_EXAMPLE_RATE = 1.0  # the worked examples point at this rate's sheet when it exists


def guide_row(index: int) -> int:
    """Row of the index-th Guide step."""
    return GUIDE_HEADER_ROW + 1 + index


def guide_source(run: Run) -> str:
    """The rate sheet the Guide's worked examples point at."""
    rate = GUIDE_EXAMPLE_RATE if GUIDE_EXAMPLE_RATE in run.learning_rates else \
        run.learning_rates[0]
    return sheet_name(rate)


def ref(sheet: str, name: str, epoch: int) -> str:
    """Another sheet's table cell or parameter, e.g. ``'LR 1.0'!O10`` or ``'LR 1.0'!$F$4``."""
    address = cell(name, epoch) if name in COLUMN else param_cell(name)
    return f"{quote(sheet)}!{address}"


def workbook_sheets(run: Run) -> list[str]:
    """Every sheet, in workbook order."""
    return [GUIDE, NETWORK, SUMMARY, *sheet_names(run)]


def view_columns(view: str) -> tuple[int, int]:
    """First and last column of a rate sheet's printed view (the chart's columns for CHART_VIEW)."""
    if view == CHART_VIEW:
        return CHART_COL, CHART_COL + CHART_COLUMNS
    first, last = RATE_VIEWS[view]
    return COLUMN[first], COLUMN[last]


def input_copy_cells(view: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Where a view shows its copies of the inputs (name -> label cell; the value is right of
    it), and the row of its note: η first, then label-value pairs as many to a row as the
    view is wide, so that nothing spills onto the next printed page."""
    first, last = view_columns(view)
    per_row = max(1, (last - first + 1) // 2)
    row = PARAM_CELLS["η"][0]
    cells = {"η": (row, first)}
    for k, name in enumerate(COPIED_INPUTS):
        cells[name] = (row + 1 + k // per_row, first + 2 * (k % per_row))
    return cells, max(r for r, _ in cells.values()) + 1


def slug(sheet: str) -> str:
    """A sheet's name in file names: ``LR 0.5`` -> ``lr-0.5``."""
    return sheet.lower().replace(" ", "-")


def pictures(run: Run) -> list[str]:
    """The rendered pictures' names, in the printed pages' order (one page each)."""
    names = [slug(GUIDE), slug(NETWORK), slug(SUMMARY)]
    for sheet in sheet_names(run):
        names += [f"{slug(sheet)}-{view}" for view in (*RATE_VIEWS, CHART_VIEW)]
    return names
