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
#: parameter block: label in one cell, its value in the cell directly right of it
PARAM_CELLS: dict[str, tuple[int, int]] = {
    "η": (2, 1),
    "i1": (3, 1), "i2": (3, 3), "t1": (3, 5), "t2": (3, 7),
    "w1": (4, 1), "w2": (4, 3), "w3": (4, 5), "w4": (4, 7),
    "w5": (5, 1), "w6": (5, 3), "w7": (5, 5), "w8": (5, 7),
    "b1": (6, 1), "b2": (6, 3),
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
#: rows of epochs that a printed page (and the rendered picture) shows beside the chart
PRINT_ROWS = 30
CHART_SIZE = (960, 20 * (PRINT_ROWS + 1))  # pixels: as tall as the header and those rows

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


# --- the Summary sheet --------------------------------------------------------------------
SUMMARY = "Summary"
SUMMARY_EPOCHS = (0, 10, 50)  # E_total columns besides the last epoch
SUMMARY_FRACTIONS = (0.5, 0.1, 0.01)  # "first epoch E_total < fraction of its start"
SUMMARY_HEADER_ROW = 2
NOT_REACHED = "not reached"


def summary_row(index: int) -> int:
    """Row of the index-th learning rate in the Summary table."""
    return SUMMARY_HEADER_ROW + 1 + index


def summary_chart_row(rates: int) -> int:
    return summary_row(rates) + 1


def sheet_names(run: Run) -> list[str]:
    return [sheet_name(lr) for lr in run.learning_rates]


# --- the Guide sheet ----------------------------------------------------------------------
GUIDE = "Guide"
GUIDE_HEADER_ROW = 3
GUIDE_COLUMNS = ("quantity", "equation", "value at epoch 0", "why")
GUIDE_WIDTHS = (18, 64, 16, 62)
GUIDE_IMAGE_COL = len(GUIDE_COLUMNS) + 1
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
    return [GUIDE, SUMMARY, *sheet_names(run)]
