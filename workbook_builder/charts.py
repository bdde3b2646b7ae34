"""Native Excel charts of E_total against epoch (XlsxWriter)."""

from __future__ import annotations

from typing import Any

from xlsxwriter.chart import Chart
from xlsxwriter.workbook import Workbook

from workbook_builder.layout import EPOCH, column_range

_AXIS_FONT = {"size": 9}


def _line_chart(workbook: Workbook, title: str, epochs: int) -> Chart:
    chart = workbook.add_chart({"type": "line"})
    if chart is None:  # XlsxWriter returns None only for an unknown chart type
        raise RuntimeError("XlsxWriter refused a line chart")
    chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
    step = max(1, epochs // 10)  # about ten labelled ticks whatever the epoch count
    chart.set_x_axis({
        "name": "epoch",
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


def error_chart(workbook: Workbook, sheet: str, learning_rate: float, epochs: int) -> Chart:
    """E_total against epoch for one rate sheet."""
    chart = _line_chart(workbook, f"E_total by epoch, η = {learning_rate:g}", epochs)
    chart.add_series({
        "name": "E_total",
        "categories": "=" + column_range(sheet, EPOCH, epochs),
        "values": "=" + column_range(sheet, "E_total", epochs),
        "line": {"color": "#1F77B4", "width": 2},
    })
    chart.set_legend({"none": True})
    return chart


#: matplotlib's tab10, so the Summary chart and the README's pictures agree
PALETTE = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B",
           "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF")  # fmt: skip


def summary_chart(workbook: Workbook, sheets: list[str], rates: tuple[float, ...],
                  epochs: int) -> Chart:
    """All E_total curves in one chart, one series per learning rate."""
    chart = _line_chart(workbook, "E_total by epoch for each learning rate η", epochs)
    for k, (sheet, lr) in enumerate(zip(sheets, rates, strict=True)):
        series: dict[str, Any] = {
            "name": f"η = {lr:g}",
            "categories": "=" + column_range(sheets[0], EPOCH, epochs),
            "values": "=" + column_range(sheet, "E_total", epochs),
            "line": {"color": PALETTE[k % len(PALETTE)], "width": 2},
        }
        chart.add_series(series)
    chart.set_legend({"position": "bottom"})
    return chart
