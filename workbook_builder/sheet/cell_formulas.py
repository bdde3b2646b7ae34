"""Excel text that is not a quantity's formula: titles that name a value, the Summary's
first-epoch-below formula. (Every quantity's formula is printed from its expression tree,
topology.py, by layout.Layout.template.)"""

from __future__ import annotations

from workbook_builder.sheet.layout import NOT_REACHED


# --- text that names a value ------------------------------------------------------------
def labelled(prefix: str, value_cell: str) -> str:
    """Text followed by a cell's number, e.g. ``="…, η = "&$C$3``: a title that follows the
    cell. ``&`` writes the number as Excel's General format does (``general``)."""
    return '="' + prefix.replace('"', '""') + '"&' + value_cell


def general(value: float) -> str:
    """A number as ``labelled``'s ``&`` turns it into text: 15 significant digits, no trailing
    zeros; the cached value of such a title."""
    return f"{value:.15g}".replace("e", "E")


# --- the Summary sheet --------------------------------------------------------------------
def first_epoch_below(epochs_range: str, e_range: str, start_cell: str, fraction: float) -> str:
    """First epoch whose E_total is below fraction·start, or "not reached".

    MINIFS over the epoch column: the plain, non-array form that Excel 2019+, LibreOffice
    and the formulas engine all evaluate alike (MATCH(TRUE, range<x, 0) needs an array entry).
    """
    criterion = f'"<"&({fraction:g}*{start_cell})'
    return (
        f"=IF(COUNTIF({e_range},{criterion})=0,\"{NOT_REACHED}\","
        f"_xlfn.MINIFS({epochs_range},{e_range},{criterion}))"
    )
