"""Native Excel charts of E_total against epoch (XlsxWriter)."""

from __future__ import annotations

from typing import Any

from xlsxwriter.chart import Chart
from xlsxwriter.workbook import Workbook

from workbook_builder.sheet import layout
from workbook_builder.sheet.cell_formulas import general
from workbook_builder.sheet.layout import EPOCH, ETA_LABEL, Layout, RateSheet, summary_eta_cell

_AXIS_FONT = {"size": 9}


def _line_chart(workbook: Workbook, title: str, epochs: int, row: str = "epoch") -> Chart:
    chart = workbook.add_chart({"type": "line"})
    if chart is None:  # XlsxWriter returns None only for an unknown chart type
        raise RuntimeError("XlsxWriter refused a line chart")
    chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
    step = max(1, epochs // 10)  # about ten labelled ticks whatever the epoch count
    chart.set_x_axis({
        "name": row,  # epoch, or step (mini-batches)
        "interval_unit": step,
        "interval_tick": step,
        "num_font": _AXIS_FONT,
        "position_axis": "on_tick",
    })
    chart.set_y_axis({
        "name": "E_total",
        "num_format": "0.0000",
        "num_font": _AXIS_FONT,
        "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
    })
    return chart


def _series(lay: Layout, sheet: str, index: int, lr: float, epochs_sheet: str, epochs: int,
            color: str, label: str = ETA_LABEL) -> dict[str, Any]:
    """One rate's E_total curve, named by the Summary's η cell of its row, which shows
    ``η = 0.5`` and follows the rate sheet's η (Excel and LibreOffice both follow a series
    name's cell; LibreOffice does not follow a title's, so no title names a value)."""
    return {
        "name": "=" + summary_eta_cell(index),
        "name_data": [label + general(lr)],  # the legend until a viewer recalculates
        "categories": "=" + lay.column_range(epochs_sheet, EPOCH, epochs),
        "values": "=" + lay.column_range(sheet, "E_total", epochs),
        "line": {"color": color, "width": 2},
    }


def error_chart(workbook: Workbook, lay: Layout, sheets: list[str], index: int,
                lr: float, epochs: int, label: str = ETA_LABEL) -> Chart:
    """E_total against epoch for one rate sheet; its legend names η."""
    row = layout.row_word(lay.spec)
    chart = _line_chart(workbook, f"E_total by {row}", epochs, row)
    sheet = sheets[index]
    chart.add_series(_series(lay, sheet, index, lr, sheet, epochs, PALETTE[0], label))
    chart.set_legend({"position": "top"})
    return chart


#: matplotlib's tab10, so the Summary chart and the README's pictures agree
PALETTE = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B",
           "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF")  # fmt: skip


def summary_chart(workbook: Workbook, lays: list[Layout], sheets: list[RateSheet],
                  epochs: int, several: bool = False) -> Chart:
    """All E_total curves in one chart, one series per rate sheet (learning rate, and
    optimizer where there are several)."""
    what = "optimizer and learning rate η" if several else "learning rate η"
    row = layout.row_word(lays[0].spec)
    chart = _line_chart(workbook, f"E_total by {row} for each {what}", epochs, row)
    for k, (lay, sheet) in enumerate(zip(lays, sheets, strict=True)):
        label = f"{sheet.spec.optimizer.name}, {ETA_LABEL}" if several else ETA_LABEL
        chart.add_series(_series(lay, sheet.name, k, sheet.lr, sheets[0].name, epochs,
                                 PALETTE[k % len(PALETTE)], label))
    chart.set_legend({"position": "bottom"})
    return chart
