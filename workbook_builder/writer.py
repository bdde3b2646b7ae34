"""Write the workbook with XlsxWriter: rate sheets, Summary, formats and cached values."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from workbook_builder import cell_formulas, charts, guide, layout
from workbook_builder.diagram import network_png
from workbook_builder.files import atomic_path
from workbook_builder.reference import (
    DELTAS,
    GRADIENTS,
    QUANTITIES,
    WEIGHTS,
    Trace,
    first_epoch_below,
    traces,
)
from workbook_builder.spec import Run

#: fixed document date, so the same inputs give a byte-identical file
CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
NUMBER = "0.000000000"  # weights, activations, errors: nine decimals
SMALL = "0.000000E+00"  # δ terms and gradients shrink by orders of magnitude: keep 7 digits
#: header fill per group of columns, so the chain of the computation reads left to right
GROUP_FILL = {"weights": "#DDEBF7", "forward": "#E2EFDA", "loss": "#FCE4D6",
              "deltas": "#FFF2CC", "gradients": "#EDE7F6", "epoch": "#D9D9D9"}  # fmt: skip


class PlainFormulaSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter ships no types
    """A worksheet that skips XlsxWriter's future-function scan for plain formulas.

    XlsxWriter runs some 30 regular-expression substitutions over every formula to prefix
    newer functions with ``_xlfn.``; on the rate sheets' ~19,000 formulas that is half the
    build time. Formulas that call only the functions in PLAIN need no prefix, so they skip
    the scan; anything else goes through XlsxWriter as usual. tests/test_writer.py checks that
    the file is byte-identical to one written without this shortcut.
    """

    PLAIN = frozenset({"EXP", "MIN"})
    _CALL = re.compile(r"([A-Z][A-Z0-9._]*)\(")

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if formula.startswith("=") and set(self._CALL.findall(formula)) <= self.PLAIN:
            return formula[1:]
        prepared: str = super()._prepare_formula(formula, expand_future_functions)
        return prepared


def group(name: str) -> str:
    if name == layout.EPOCH:
        return "epoch"
    if name in WEIGHTS:
        return "weights"
    if name in DELTAS:
        return "deltas"
    if name in GRADIENTS:
        return "gradients"
    return "loss" if name.startswith("E") else "forward"


def number_format(name: str) -> str:
    return SMALL if name in DELTAS or name in GRADIENTS else NUMBER


@dataclass
class Formats:
    """The workbook's cell formats, made once per workbook."""

    title: Format
    note: Format
    label: Format
    value: Format
    header: dict[str, Format]
    cells: dict[str, Format]
    epoch: Format
    text: Format
    section: Format
    equation: Format
    guide_value: Format
    copy: Format
    copy_label: Format
    linked: Format
    summary_eta: Format
    small: Format

    @classmethod
    def create(cls, wb: Workbook) -> Formats:
        def fmt(props: dict[str, Any]) -> Format:
            return wb.add_format(props)

        header = {
            g: fmt({"bold": True, "align": "center", "valign": "vcenter", "bg_color": color,
                    "bottom": 1, "text_wrap": True})
            for g, color in GROUP_FILL.items()
        }
        return cls(
            title=fmt({"bold": True, "font_size": 14}),
            note=fmt({"italic": True, "font_color": "#595959"}),
            label=fmt({"bold": True, "align": "right"}),
            # inputs look like inputs: blue on pale yellow, the usual spreadsheet convention
            value=fmt({"font_color": "#0000FF", "bg_color": "#FFFFE0", "border": 1,
                       "border_color": "#BFBFBF", "num_format": "0.00####"}),
            header=header,
            cells={q: fmt({"num_format": number_format(q)}) for q in QUANTITIES},
            epoch=fmt({"align": "center"}),
            text=fmt({"align": "center", "font_color": "#595959"}),
            section=fmt({"bold": True, "font_size": 12, "bg_color": "#F2F2F2", "top": 1}),
            equation=fmt({"font_name": "Cambria Math", "font_size": 11, "align": "right"}),
            guide_value=fmt({"num_format": NUMBER, "bold": True}),
            # copies of inputs: grey, unlike the blue inputs they show
            copy=fmt({"font_color": "#595959", "num_format": "0.00####", "align": "left"}),
            copy_label=fmt({"bold": True, "font_color": "#595959", "align": "left"}),
            # the network in a rate sheet's parameter block: grey, boxed like the inputs (it
            # is one, entered on the Network sheet)
            linked=fmt({"font_color": "#595959", "border": 1, "border_color": "#BFBFBF",
                        "num_format": "0.00####"}),
            summary_eta=fmt({"align": "center", "num_format": layout.SUMMARY_ETA_FORMAT}),
            small=fmt({"num_format": SMALL}),
        )


def column_widths(all_traces: list[Trace]) -> dict[str, float]:
    """Widths (characters) wide enough for the longest number any sheet shows in a column."""
    widths: dict[str, float] = {layout.EPOCH: 8}  # the epochs alone: it repeats on every page
    for q in QUANTITIES:
        biggest = max(float(np.max(np.abs(t[q]))) for t in all_traces)
        shown = f"-{biggest:.7E}" if number_format(q) == SMALL else f"-{biggest:.9f}"
        widths[q] = max(11, len(shown) + 1)
    # the column left of the η value holds its label: wide enough that the label does not run
    # into column A, which repeats on every printed page
    label_col = layout.COLUMNS[layout.PARAM_CELLS["η"][1] - 1]
    widths[label_col] = max(widths[label_col], len(layout.LR_LABEL) + 2)
    return widths


RATE_TITLE = "Backpropagation of a 2-2-2 sigmoid network, " + layout.ETA_LABEL


def write_rate_sheet(wb: Workbook, ws: Worksheet, fm: Formats, run: Run, lr: float,
                     trace: Trace, widths: dict[str, float]) -> None:
    """One learning rate: title, parameter block, header, one row per epoch, the chart."""
    net = run.network
    eta = layout.param_cell("η")
    # the title follows the η cell (a formula); the chart's legend follows it too
    ws.write_formula(layout.TITLE_ROW, layout.TEXT_COL, cell_formulas.labelled(RATE_TITLE, eta),
                     fm.title, RATE_TITLE + cell_formulas.general(lr))
    # each note fits above the weights view, so nothing runs onto the other printed pages
    ws.write(layout.NOTE_ROW, layout.TEXT_COL,
             f"Blue η is this sheet's input; the grey network comes from sheet "
             f"{layout.NETWORK}: edit it there.", fm.note)
    ws.write(layout.NOTE2_ROW, layout.TEXT_COL,
             "Epoch 0 holds the initial weights; each row subtracts η × the gradients of the "
             "row above (see the Guide).", fm.note)
    for name, value in layout.params(net, lr).items():
        row, col = layout.PARAM_CELLS[name]
        ws.write(row, col - 1, layout.PARAM_LABELS[name], fm.label)
        if name == "η":
            ws.write_number(row, col, value, fm.value)
        else:  # one network for every rate sheet: entered once, on the Network sheet
            ws.write_formula(row, col, f"={layout.network_ref(name)}", fm.linked, value)

    for col, name in enumerate(layout.COLUMNS):
        ws.write(layout.HEADER_ROW, col, name, fm.header[group(name)])
        ws.set_column(col, col, widths[name])
    ws.set_row(layout.HEADER_ROW, 20)

    has_bias = net.biases is not None
    for epoch in range(run.epochs):
        row = layout.epoch_row(epoch)
        ws.write_number(row, 0, epoch, fm.epoch)
        refs = layout.Refs(epoch, has_bias)
        for name in QUANTITIES:
            ws.write_formula(row, layout.COLUMN[name], cell_formulas.formula(name, refs),
                             fm.cells[name], float(trace[name][epoch]))

    ws.freeze_panes(layout.FIRST_EPOCH_ROW, 1)
    sheets = layout.sheet_names(run)
    chart = charts.error_chart(wb, sheets, sheets.index(ws.get_name()), run.learning_rates,
                               run.epochs)
    chart.set_size({"width": layout.CHART_SIZE[0], "height": layout.CHART_SIZE[1]})
    ws.insert_chart(layout.CHART_ROW, layout.CHART_COL, chart, {"x_offset": 10})
    write_input_copies(ws, fm, layout.params(net, lr))
    # printed pages (and the rendered pictures): one per view, the epoch column on each
    last_row = layout.FIRST_EPOCH_ROW + min(run.epochs, layout.PRINT_EPOCHS) - 1
    ws.print_area(0, 0, last_row, layout.view_columns(layout.CHART_VIEW)[1])
    ws.set_v_pagebreaks([layout.view_columns(v)[0] for v in (*layout.RATE_VIEWS,
                                                              layout.CHART_VIEW)][1:])
    ws.repeat_columns(0)
    page_setup(ws, scale=layout.PRINT_SCALE)


def write_input_copies(ws: Worksheet, fm: Formats, values: dict[str, float]) -> None:
    """Above the forward and backward views, the inputs they use, as formulas (not inputs)."""
    for view in layout.VIEWS_WITH_INPUT_COPIES:
        cells, note_row = layout.input_copy_cells(view)
        for name, (row, col) in cells.items():
            ws.write(row, col, name, fm.copy_label)  # left-aligned: stays on its page
            ws.write_formula(row, col + 1, f"={layout.param_cell(name)}", fm.copy,
                             values[name])
        ws.write(note_row, layout.view_columns(view)[0],
                 f"copies: edit η at the left, the rest on sheet {layout.NETWORK}", fm.note)


def page_setup(ws: Worksheet, scale: int | None = None) -> None:
    """A4 landscape, narrow margins; one page (fit) unless a print scale is given."""
    ws.set_landscape()
    ws.set_paper(layout.PAPER_A4)
    m = layout.MARGIN_INCHES
    ws.set_margins(left=m, right=m, top=m, bottom=m)
    if scale is None:
        ws.fit_to_pages(1, 1)
    else:
        ws.set_print_scale(scale)


def write_network(ws: Worksheet, fm: Formats, run: Run, diagram: bytes) -> None:
    """The network every rate sheet trains, entered once: inputs, targets, initial weights,
    biases (blue input cells, in the same cells as each rate sheet's parameter block), and its
    diagram."""
    ws.write(layout.TITLE_ROW, 0, "The network every rate sheet trains", fm.title)
    notes = ("Blue cells are inputs: every rate sheet, the Summary and the Guide follow.",
             "Each rate sheet shows them in grey and has its own η (its blue cell).")
    for row, text in zip(layout.NETWORK_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    for name, value in layout.network_params(run.network).items():
        row, col = layout.PARAM_CELLS[name]
        ws.write(row, col - 1, layout.PARAM_LABELS[name], fm.label)
        ws.write_number(row, col, value, fm.value)
    explain = ["i1, i2: the inputs; t1, t2: the targets; w1…w8: the weights at epoch 0"]
    if run.network.biases is not None:
        explain.append("b1, b2: fixed biases, b1 added in h1 and h2, b2 in o1 and o2")
    for row, text in zip(layout.NETWORK_EXPLAIN_ROWS, explain, strict=False):
        ws.write(row, 0, text, fm.note)
    ws.insert_image(layout.NETWORK_IMAGE_ROW, 0, "network.png", {
        "image_data": io.BytesIO(diagram), "object_position": 3,
        "x_scale": layout.NETWORK_IMAGE_SCALE, "y_scale": layout.NETWORK_IMAGE_SCALE})
    margin, label_width, value_width = layout.NETWORK_WIDTHS
    ws.set_column(0, 0, margin)
    last_col = max(col for _, col in layout.PARAM_CELLS.values())
    for col in range(1, last_col + 1):
        ws.set_column(col, col, value_width if col % 2 == 0 else label_width)
    ws.print_area(0, 0, layout.NETWORK_IMAGE_ROW + layout.NETWORK_IMAGE_ROWS, last_col)
    page_setup(ws)


def write_summary(wb: Workbook, ws: Worksheet, fm: Formats, run: Run,
                  all_traces: list[Trace]) -> None:
    """Per rate: E_total at chosen epochs and the first epoch below 50/10/1 % of the start."""
    sheets = layout.sheet_names(run)
    last = run.epochs - 1
    e_columns = [*layout.SUMMARY_EPOCHS, last]
    ws.write(layout.TITLE_ROW, 0, "Summary: how the learning rate η changes the error", fm.title)
    ws.write(layout.NOTE_ROW, 0,
             f"Every number is a formula over the rate sheets, which all train the network on "
             f"sheet {layout.NETWORK}. A sheet's tab keeps the η it was built with.", fm.note)
    headers = ["learning rate", "sheet"]
    headers += [f"E_total at epoch {e}" + (" (last)" if e == last else "") for e in e_columns]
    headers += [f"first epoch with E_total < {f:.0%} of epoch 0" for f in
                layout.SUMMARY_FRACTIONS]
    assert len(headers) == layout.SUMMARY_COLUMNS, headers
    for col, text in enumerate(headers):
        ws.write(layout.SUMMARY_HEADER_ROW, col, text, fm.header["loss" if col else "epoch"])
    ws.set_row(layout.SUMMARY_HEADER_ROW, layout.SUMMARY_HEADER_HEIGHT)
    eta_width, sheet_width, number_width = layout.SUMMARY_WIDTHS
    ws.set_column(0, 0, eta_width)
    ws.set_column(1, 1, sheet_width)
    ws.set_column(2, len(headers) - 1, number_width)

    for k, (sheet, lr, trace) in enumerate(zip(sheets, run.learning_rates, all_traces,
                                               strict=True)):
        row = layout.summary_row(k)
        quoted = layout.quote(sheet)
        ws.write_formula(row, 0, f"={quoted}!{layout.param_cell('η')}", fm.summary_eta, lr)
        ws.write_url(row, 1, f"internal:{quoted}!A1", string=sheet)
        for j, epoch in enumerate(e_columns):
            col = 2 + j
            if epoch > last:
                ws.write(row, col, f"n/a ({run.epochs} epochs)", fm.text)
                continue
            # scientific: large rates drive E_total below what nine decimals show
            ws.write_formula(row, col, f"={quoted}!{layout.cell('E_total', epoch, True)}",
                             fm.small, float(trace["E_total"][epoch]))
        epochs_range = layout.column_range(sheet, layout.EPOCH, run.epochs)
        e_range = layout.column_range(sheet, "E_total", run.epochs)
        start = f"{quoted}!{layout.cell('E_total', 0, True)}"
        for j, fraction in enumerate(layout.SUMMARY_FRACTIONS):
            hit = first_epoch_below(trace["E_total"], fraction)
            ws.write_formula(
                row, 2 + len(e_columns) + j,
                cell_formulas.first_epoch_below(epochs_range, e_range, start, fraction),
                fm.epoch, layout.NOT_REACHED if hit is None else hit,
            )
    chart = charts.summary_chart(wb, sheets, run.learning_rates, run.epochs)
    width, height = layout.summary_chart_size()
    chart.set_size({"width": width, "height": height})
    chart_row = layout.summary_chart_row(len(sheets))
    ws.insert_chart(chart_row, 0, chart)
    ws.print_area(0, 0, chart_row + layout.SUMMARY_CHART_ROWS, len(headers) - 1)
    page_setup(ws)


def write_guide(ws: Worksheet, fm: Formats, run: Run, all_traces: list[Trace],
                diagram: bytes) -> None:
    """Each step of backpropagation with its equation and a live value from one rate sheet."""
    source = layout.guide_source(run)
    trace = all_traces[layout.sheet_names(run).index(source)]
    lr = run.learning_rates[layout.sheet_names(run).index(source)]
    values = layout.params(run.network, lr)
    ws.write(layout.TITLE_ROW, 0, "Guide: backpropagation step by step", fm.title)
    notes = (f"Values are live formulas on sheet {source!r}, epoch 0 (epoch 1 where marked): "
             f"edit the network on sheet {layout.NETWORK}, or that sheet's η, and they follow.",
             "Column names as in the sheets; the sheets' ∂E/∂w columns hold ∂E_total/∂w.",
             "A rate sheet's title and the charts' legends follow its η cell; its tab name "
             "(LR 0.5) cannot, and keeps the η it was built with.")
    for row, text in zip(layout.GUIDE_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    ws.insert_image(layout.GUIDE_IMAGE_ROW, 0, "network.png", {
        "image_data": io.BytesIO(diagram),
        "object_position": 3,  # XlsxWriter sizes it by the PNG's 200 dpi: ~810 × 520 px
    })
    for col, (text, width) in enumerate(zip(layout.GUIDE_COLUMNS, layout.GUIDE_WIDTHS,
                                            strict=True)):
        ws.write(layout.GUIDE_HEADER_ROW, col, text, fm.header["epoch"])
        ws.set_column(col, col, width)
    for k, step in enumerate(guide.STEPS):
        row = layout.guide_row(k)
        if not step.example:
            ws.merge_range(row, 0, row, len(layout.GUIDE_COLUMNS) - 1, step.name, fm.section)
            continue
        ws.write(row, 0, step.name, fm.label)
        ws.write(row, 1, step.equation, fm.equation)
        refs = {key: layout.ref(source, *key) for key in guide.names(step.example)}
        numbers = {key: float(trace[key[0]][key[1]]) if key[0] in trace else values[key[0]]
                   for key in refs}
        ws.write_formula(row, 2, "=" + guide.fill(step.example, refs), fm.guide_value,
                         guide.evaluate(step.example, numbers))
        ws.write(row, 3, step.note, fm.note)
    last_row = layout.guide_row(len(guide.STEPS) - 1)
    ws.print_area(0, 0, last_row, len(layout.GUIDE_COLUMNS) - 1)
    ws.set_portrait()
    ws.set_paper(layout.PAPER_A4)
    ws.fit_to_pages(1, 1)
    ws.freeze_panes(layout.GUIDE_HEADER_ROW + 1, 0)


def write_workbook(run: Run, all_traces: list[Trace], path: Path,
                   progress: Callable[[str], None] | None = None,
                   sheet_class: type[Worksheet] = PlainFormulaSheet) -> None:
    """Write the whole workbook to ``path`` (not atomically; see ``build``).

    Args:
        run: the network, learning rates and epoch count.
        all_traces: the reference's trace of each learning rate: the cached values.
        path: where to write.
        progress: called with each sheet's name as it is written.
        sheet_class: the worksheet class (tests compare with XlsxWriter's plain Worksheet).
    """
    # in_memory: XlsxWriter otherwise writes each part to a temporary file first, and those
    # outlive a Ctrl-C or SIGTERM during the final save
    wb = Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                              "in_memory": True})
    wb.set_properties({
        "title": "Backpropagation of a 2-2-2 sigmoid network",
        "subject": "Live-formula backpropagation, one sheet per learning rate",
        "author": "workbook_builder",
        "created": CREATED,
    })
    fm = Formats.create(wb)
    sheets = {name: wb.add_worksheet(name, worksheet_class=sheet_class)
              for name in layout.workbook_sheets(run)}
    widths = column_widths(all_traces)
    for sheet, lr, trace in zip(layout.sheet_names(run), run.learning_rates, all_traces,
                                strict=True):
        if progress is not None:
            progress(sheet)
        write_rate_sheet(wb, sheets[sheet], fm, run, lr, trace, widths)
    diagram = network_png(run.network.biases is not None)
    write_network(sheets[layout.NETWORK], fm, run, diagram)
    write_summary(wb, sheets[layout.SUMMARY], fm, run, all_traces)
    write_guide(sheets[layout.GUIDE], fm, run, all_traces, diagram)
    try:
        wb.close()
    except FileCreateError as exc:  # XlsxWriter wraps the OSError (disk full, size limit, ...)
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        raise OSError(getattr(cause, "errno", None), getattr(cause, "strerror", None) or
                      str(exc), str(path)) from None


def build(run: Run, out: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The reference's traces, written atomically: an existing ``out`` is replaced only by a
    complete file."""
    all_traces = traces(run.network, run.learning_rates, run.epochs)
    with atomic_path(out) as tmp:
        try:
            write_workbook(run, all_traces, tmp, progress)
        except OSError as exc:  # name the file the user asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(out)) from None
    return out
