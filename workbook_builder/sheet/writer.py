"""Write the workbook of any network with XlsxWriter: rate sheets, Network, Summary, Guide.

The one writer: every quantity's formula is its expression tree (topology.py) printed into the
cells the layout gives (layout.py), every cached value the engine's trace of the same tree.
"""

from __future__ import annotations

import datetime as dt
import io
import math
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

from workbook_builder.files import atomic_path, write_whole
from workbook_builder.network import optimizers, topology
from workbook_builder.network.equations import Array
from workbook_builder.network.netrun import NetRun, from_course
from workbook_builder.network.spec import Run
from workbook_builder.sheet import cell_formulas, charts, diagram, guide, layout
from workbook_builder.sheet.layout import Layout

Trace = dict[str, Array]
#: fixed document date, so the same inputs give a byte-identical file
CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
NUMBER = "0.000000000"  # weights, activations, errors: nine decimals
SMALL = "0.000000E+00"  # δ terms and gradients shrink by orders of magnitude: keep 7 digits
STEP_FORMAT = "0"  # Adam's step number t
#: header fill per group of columns, so the chain of the computation reads left to right
GROUP_FILL = {"weights": "#DDEBF7", "forward": "#E2EFDA", "loss": "#FCE4D6",
              "deltas": "#FFF2CC", "gradients": "#EDE7F6", "state": "#DEEAEA",
              "epoch": "#D9D9D9"}  # fmt: skip
MAX_WIDTH = 24  # characters: a column of a run that diverged stays readable


class PlainFormulaSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter ships no types
    """A worksheet that skips XlsxWriter's future-function scan for plain formulas.

    XlsxWriter runs some 30 regular-expression substitutions over every formula to prefix
    newer functions with ``_xlfn.``; on the rate sheets' ~19,000 formulas that is half the
    build time. Formulas that call only the functions in PLAIN (all the expression trees
    call) need no prefix, so they skip the scan; anything else goes through XlsxWriter as
    usual. tests/test_writer.py checks that the file is byte-identical to one written without
    this shortcut.
    """

    PLAIN = frozenset({"EXP", "MIN", "MAX", "LN", "TANH", "IF", "SQRT"})
    _CALL = re.compile(r"([A-Z][A-Z0-9._]*)\(")

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if formula.startswith("=") and set(self._CALL.findall(formula)) <= self.PLAIN:
            return formula[1:]
        prepared: str = super()._prepare_formula(formula, expand_future_functions)
        return prepared


def group(name: str) -> str:
    """A column's header fill."""
    k = layout.kind(name)
    return "weights" if k == "biases" else k


def number_format(name: str) -> str:
    if name == optimizers.STEP:
        return STEP_FORMAT
    return SMALL if layout.kind(name) in ("deltas", "gradients", "state") else NUMBER


def cached(v: float) -> float | str:
    """A cached value; a run that overflowed shows Excel's error, as Excel computes it."""
    return v if math.isfinite(v) else "#NUM!"


@dataclass
class Formats:
    """The workbook's cell formats, made once per workbook."""

    title: Format
    note: Format
    label: Format
    value: Format
    header: dict[str, Format]
    cells: dict[str, Format]  # by number format
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
    hyper: Format  # an optimizer's hyperparameter: an input, like η, in any magnitude (ε)
    hyper_copy: Format

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
            cells={n: fmt({"num_format": n}) for n in (NUMBER, SMALL, STEP_FORMAT)},
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
            hyper=fmt({"font_color": "#0000FF", "bg_color": "#FFFFE0", "border": 1,
                       "border_color": "#BFBFBF", "num_format": "General"}),
            hyper_copy=fmt({"font_color": "#595959", "num_format": "General",
                            "align": "left"}),
        )


def network_values(spec: topology.NetSpec) -> dict[str, float]:
    """Every value the Network sheet holds: the examples, fixed biases, initial parameters."""
    return {**topology.constants(spec), **topology.parameters(spec)}


def column_widths(lay: Layout, all_traces: list[Trace]) -> dict[str, float]:
    """Widths (characters) wide enough for the longest number any sheet shows in a column."""
    widths: dict[str, float] = {layout.EPOCH: 8}  # the epochs alone: it repeats on every page
    for name in lay.columns[1:]:
        finite = [np.abs(t[name][np.isfinite(t[name])]) for t in all_traces]
        biggest = max((float(f.max()) for f in finite if f.size), default=1.0)
        shown = f"-{biggest:.7E}" if number_format(name) == SMALL else f"-{biggest:.9f}"
        widths[name] = min(MAX_WIDTH, max(11, len(shown) + 1, len(name) + 2))
    # the column left of the η value holds its label: wide enough that the label does not run
    # into column A, which repeats on every printed page
    label_col = lay.columns[lay.block["η"][1] - 1]
    widths[label_col] = max(widths[label_col], len(layout.LR_LABEL) + 2)
    return widths


def rate_title(lay: Layout) -> str:
    o = lay.spec.optimizer
    learns = f" with {o.name}" if o.name != "sgd" else ""
    return f"Backpropagation of a {layout.network_words(lay.spec)}{learns}, " + layout.ETA_LABEL


def write_rate_sheet(wb: Workbook, ws: Worksheet, fm: Formats, run: NetRun, lay: Layout,
                     index: int, trace: Trace, widths: dict[str, float],
                     print_epochs: int | None = None) -> None:
    """One learning rate (and optimizer): title, parameter block, header, one row per epoch,
    the chart."""
    lr = layout.rate_sheets(run)[index].lr
    hyper = topology.hyperparameters(lay.spec)
    eta = lay.value_ref("η")
    title = rate_title(lay)
    # the title follows the η cell (a formula); the chart's legend follows it too
    ws.write_formula(layout.TITLE_ROW, layout.TEXT_COL, cell_formulas.labelled(title, eta),
                     fm.title, title + cell_formulas.general(lr))
    # each note fits above the weights view, so nothing runs onto the other printed pages
    where = "the grey network comes from" if lay.in_block else "the network is on"
    mine = "Blue η is this sheet's input" if not hyper else \
        f"Blue η, {', '.join(hyper)} ({lay.spec.optimizer.name}) are this sheet's inputs"
    ws.write(layout.NOTE_ROW, layout.TEXT_COL,
             f"{mine}; {where} sheet {layout.NETWORK}: edit it there.", fm.note)
    learn = "weights and biases" if lay.spec.train_biases else "weights"
    ws.write(lay.note2_row, layout.TEXT_COL,
             f"Epoch 0 holds the initial {learn}; "
             f"{optimizers.update_words(lay.spec.optimizer)} (see the Guide).", fm.note)
    values = {"η": lr, **hyper, **network_values(lay.spec)}
    for name, (row, col) in lay.block.items():
        ws.write(row, col - 1, layout.labels(name), fm.label)
        if name == "η" or name in hyper:
            ws.write_number(row, col, values[name], fm.hyper if name in hyper else fm.value)
        else:  # one network for every rate sheet: entered once, on the Network sheet
            ws.write_formula(row, col, f"={lay.network_ref(name)}", fm.linked, values[name])

    if lay.group_row is not None:
        ws.set_row(lay.group_row, 30)  # a group label over one column takes two lines
        for first, last, label in lay.groups():
            group_format = fm.header[group(lay.columns[first])]
            if first == last:
                ws.write(lay.group_row, first, label, group_format)
            else:
                ws.merge_range(lay.group_row, first, lay.group_row, last, label, group_format)
    for col, name in enumerate(lay.columns):
        ws.write(lay.header_row, col, name, fm.header[group(name)])
        ws.set_column(col, col, widths[name])
    ws.set_row(lay.header_row, 20)

    eq, updates = topology.equations(lay.spec), topology.updates(lay.spec)
    first_row = {p: "=" + lay.value_ref(p) for p in updates}
    # the optimizer's state in the first row: from torch's initial state (no row above)
    first_eq = topology.equations(lay.spec, first=True)
    first_row.update({q: lay.template(e).format(**lay.row_numbers(0))
                      for q, e in first_eq.items() if layout.kind(q) == "state"})
    later = {p: lay.template(updates[p]) for p in updates}
    later.update({q: lay.template(eq[q]) for q in eq})
    plan = [(lay.column[name], name, fm.cells[number_format(name)], trace[name].tolist())
            for name in lay.columns[1:]]
    for epoch in range(run.epochs):
        row = lay.epoch_row(epoch)
        numbers = lay.row_numbers(epoch)
        ws.write_number(row, 0, epoch, fm.epoch)
        for col, name, cell_format, column in plan:
            text = first_row[name] if epoch == 0 and name in first_row else \
                later[name].format(**numbers)
            ws.write_formula(row, col, text, cell_format, cached(column[epoch]))

    ws.freeze_panes(lay.first_epoch_row, 1)
    sheets = layout.sheet_names(run)
    several = len(getattr(run, "optimizers", ())) > 1
    label = f"{lay.spec.optimizer.name}, {layout.ETA_LABEL}" if several else layout.ETA_LABEL
    chart = charts.error_chart(wb, lay, sheets, index, lr, run.epochs, label)
    chart.set_size({"width": lay.chart_size[0], "height": lay.chart_size[1]})
    ws.insert_chart(layout.CHART_ROW, lay.chart_col, chart, {"x_offset": 10})
    write_input_copies(ws, fm, lay, values)
    # printed pages: each view down every epoch (the header on each page), the epoch column on
    # each; a rendered picture is one page: a copy printing PRINT_EPOCHS (render_copy)
    shown = run.epochs if print_epochs is None else min(run.epochs, print_epochs)
    ws.print_area(0, 0, lay.epoch_row(shown - 1), lay.views[-1].last)
    if shown > layout.PRINT_EPOCHS:
        ws.repeat_rows(lay.group_row if lay.group_row is not None else lay.header_row,
                       lay.header_row)
    ws.set_v_pagebreaks([view.first for view in lay.views][1:])
    ws.repeat_columns(0)
    page_setup(ws, scale=layout.PRINT_SCALE)


def write_input_copies(ws: Worksheet, fm: Formats, lay: Layout, values: dict[str, float]) -> None:
    """Above every view but the first (and the chart), the inputs it uses, as formulas."""
    for view in lay.views[1:-1]:
        placed = lay.input_copy_cells(view)
        if placed is None:
            continue
        cells, note_row = placed
        for name, (row, col) in cells.items():
            ws.write(row, col, name, fm.copy_label)  # left-aligned: stays on its page
            ws.write_formula(row, col + 1, f"={lay.value_ref(name)}",
                             fm.hyper_copy if name in lay.spec.optimizer.hyperparameters
                             else fm.copy, values[name])
        where = f"the rest on sheet {layout.NETWORK}" if lay.in_block else \
            f"the network on sheet {layout.NETWORK}"
        ws.write(note_row, view.first, f"copies: edit η at the left, {where}", fm.note)


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


def _and(names: list[str]) -> str:
    """``h1``, ``h1 and h2``, ``h1, h2 and h3``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}…{names[-1]}"


def network_explained(spec: topology.NetSpec) -> list[str]:
    """What the Network sheet's names mean, one line per kind."""
    n_in, n_out = spec.layers[0], spec.layers[-1]
    weights = [f"w{k}" for k in range(1, spec.n_weights + 1)]
    out = [f"{', '.join(f'i{j}' for j in range(1, n_in + 1))}: the inputs; "
           f"{', '.join(f't{k}' for k in range(1, n_out + 1))}: the targets; "
           f"{_span(weights)}: the weights at epoch 0"]
    neurons = topology.neuron_names(spec)
    if spec.train_biases:
        biases = [p for p in topology.parameters(spec) if p.startswith("b_")]
        out.append(f"{_span(biases)}: each neuron's own bias at epoch 0 (they learn)")
    elif spec.biases is not None:
        fixed = [f"b{layer}" for layer in range(1, len(spec.layers))]
        added = [f"{b} in {_and(neurons[layer])}" for layer, b in enumerate(fixed, start=1)]
        out.append(f"{', '.join(fixed)}: fixed biases, {added[0].replace(' in ', ' added in ', 1)}"
                   + "".join(f", {a}" for a in added[1:]))
    return out


def write_network(ws: Worksheet, fm: Formats, lay: Layout, picture: bytes) -> None:
    """The network every rate sheet trains, entered once: the examples, the initial weights,
    the biases (blue input cells) — in the same cells as each rate sheet's block where it
    holds them, and the network's diagram; else as tables."""
    if not lay.in_block:
        write_network_tables(ws, fm, lay)
        return
    ws.write(layout.TITLE_ROW, 0, "The network every rate sheet trains", fm.title)
    notes = ("Blue cells are inputs: every rate sheet, the Summary and the Guide follow.",
             "Each rate sheet shows them in grey and has its own η (its blue cell).")
    for row, text in zip(layout.NETWORK_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    values = network_values(lay.spec)
    for name, (row, col) in lay.network_cells.items():
        ws.write(row, col - 1, layout.labels(name), fm.label)
        ws.write_number(row, col, values[name], fm.value)
    for row, text in zip(layout.NETWORK_EXPLAIN_ROWS, network_explained(lay.spec),
                         strict=False):
        ws.write(row, 0, text, fm.note)
    ws.insert_image(layout.NETWORK_IMAGE_ROW, 0, "network.png", {
        "image_data": io.BytesIO(picture), "object_position": 3,
        "x_scale": layout.NETWORK_IMAGE_SCALE, "y_scale": layout.NETWORK_IMAGE_SCALE})
    margin, label_width, value_width = layout.NETWORK_WIDTHS
    ws.set_column(0, 0, margin)
    last_col = max(col for _, col in lay.block.values())
    for col in range(1, last_col + 1):
        ws.set_column(col, col, value_width if col % 2 == 0 else label_width)
    height = diagram.png_size(picture)[1] * layout.NETWORK_IMAGE_SCALE
    rows = layout.guide_image_rows(round(height), diagram.DPI)
    ws.print_area(0, 0, layout.NETWORK_IMAGE_ROW + rows, last_col)
    page_setup(ws)


def write_network_tables(ws: Worksheet, fm: Formats, lay: Layout) -> None:
    """A network too large for a block: a table of the examples, a list of the parameters."""
    spec = lay.spec
    ws.write(0, 0, f"The network every rate sheet trains: {layout.describe(spec)}", fm.title)
    notes = ("Blue cells are inputs: every rate sheet and the Summary follow.",
             "Weights: layer by layer, within a layer by destination neuron, then source "
             "neuron (w1 = i1→first hidden neuron, w2 = i2→it, …).")
    for row, text in zip(layout.NETWORK_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    n_in, n_out = spec.layers[0], spec.layers[-1]
    heads = ["example", *(f"i{j}" for j in range(1, n_in + 1)),
             *(f"t{k}" for k in range(1, n_out + 1))]
    for col, text in enumerate(heads):
        ws.write(layout.EXAMPLES_HEADER_ROW, col, text,
                 fm.header["epoch" if col == 0 else "forward" if col <= n_in else "loss"])
    values = network_values(spec)
    for e in range(len(spec.examples)):
        ws.write_number(layout.EXAMPLES_HEADER_ROW + 1 + e, 0, e + 1, fm.epoch)
    names = topology.neuron_names(spec)
    source: dict[str, tuple[str, str]] = {}
    for layer, block in enumerate(topology.weight_index(spec), start=1):
        for d, row_names in enumerate(block):
            for j, w in enumerate(row_names):
                source[w] = (names[layer - 1][j], names[layer][d])
    head = layout.parameter_header_row(spec)
    for col, text in enumerate(("parameter", "initial value", "from → to")):
        ws.write(head, col, text, fm.header["weights"])
    for name, (row, col) in lay.network_cells.items():
        ws.write_number(row, col, values[name], fm.value)
        if name in source:
            ws.write(row, 0, name, fm.label)
            ws.write(row, 2, f"{source[name][0]} → {source[name][1]}", fm.note)
        elif name.startswith("b_"):
            ws.write(row, 0, name, fm.label)
            ws.write(row, 2, f"{name[2:]}'s bias at epoch 0 (it learns)", fm.note)
        elif name.startswith("b"):
            ws.write(row, 0, name, fm.label)
            ws.write(row, 2, f"fixed, added in {', '.join(names[int(name[1:])])}", fm.note)
    ws.set_column(0, 0, 12)
    ws.set_column(1, max(2, n_in + n_out), 12)
    ws.set_column(2, 2, 14)
    page_setup(ws)


def first_epoch_below(e_total: Array, fraction: float) -> int | None:
    """The first epoch whose E_total is below ``fraction`` of epoch 0's, or None."""
    hits = np.flatnonzero(e_total < fraction * e_total[0])
    return int(hits[0]) if hits.size else None


def write_summary(wb: Workbook, ws: Worksheet, fm: Formats, run: NetRun, lays: list[Layout],
                  all_traces: list[Trace]) -> None:
    """Per rate sheet: E_total at chosen epochs and the first epoch below 50/10/1 % of the
    start; with several optimizers each row's η cell names its optimizer too."""
    rate_sheets = layout.rate_sheets(run)
    sheets = [r.name for r in rate_sheets]
    several = len({r.spec.optimizer for r in rate_sheets}) > 1
    last = run.epochs - 1
    e_columns = [*layout.SUMMARY_EPOCHS, last]
    what = "the optimizer and the learning rate η change" if several else \
        "the learning rate η changes"
    ws.write(layout.TITLE_ROW, 0, f"Summary: how {what} the error", fm.title)
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
    ws.set_column(0, 0, eta_width if not several else layout.SUMMARY_OPTIMIZER_WIDTH)
    # the sheet's name, with its optimizer where there are several ("LR 0.05 nesterov")
    ws.set_column(1, 1, max(sheet_width, *(len(n) + 2 for n in sheets)) if several
                  else sheet_width)
    ws.set_column(2, len(headers) - 1, number_width)

    eta_formats = {r.spec.optimizer: wb.add_format({
        "align": "center", "num_format": layout.summary_eta_format(r.spec.optimizer.name)})
        for r in rate_sheets} if several else {}
    for k, (sheet, rs, lay, trace) in enumerate(zip(sheets, rate_sheets, lays, all_traces,
                                                    strict=True)):
        row = layout.summary_row(k)
        quoted = layout.quote(sheet)
        ws.write_formula(row, 0, f"={quoted}!{lay.value_ref('η')}",
                         eta_formats.get(rs.spec.optimizer, fm.summary_eta), rs.lr)
        ws.write_url(row, 1, f"internal:{quoted}!A1", string=sheet)
        for j, epoch in enumerate(e_columns):
            col = 2 + j
            if epoch > last:
                ws.write(row, col, f"n/a ({run.epochs} epochs)", fm.text)
                continue
            # scientific: large rates drive E_total below what nine decimals show
            ws.write_formula(row, col, f"={quoted}!{lay.cell('E_total', epoch, True)}",
                             fm.small, cached(float(trace["E_total"][epoch])))
        epochs_range = lay.column_range(sheet, layout.EPOCH, run.epochs)
        e_range = lay.column_range(sheet, "E_total", run.epochs)
        start = f"{quoted}!{lay.cell('E_total', 0, True)}"
        for j, fraction in enumerate(layout.SUMMARY_FRACTIONS):
            hit = first_epoch_below(trace["E_total"], fraction)
            ws.write_formula(
                row, 2 + len(e_columns) + j,
                cell_formulas.first_epoch_below(epochs_range, e_range, start, fraction),
                fm.epoch, layout.NOT_REACHED if hit is None else hit,
            )
    chart = charts.summary_chart(wb, lays, rate_sheets, run.epochs, several)
    width, height = layout.summary_chart_size()
    chart.set_size({"width": width, "height": height})
    chart_row = layout.summary_chart_row(len(sheets))
    ws.insert_chart(chart_row, 0, chart)
    ws.print_area(0, 0, chart_row + layout.SUMMARY_CHART_ROWS, len(headers) - 1)
    page_setup(ws)


def write_guide(ws: Worksheet, fm: Formats, run: NetRun, lay: Layout, all_traces: list[Trace],
                picture: bytes) -> None:
    """Each step of backpropagation with its equation and a live value from one rate sheet."""
    source = layout.guide_source(run)
    index = layout.sheet_names(run).index(source)
    trace, lr = all_traces[index], run.learning_rates[index]
    values = {"η": lr, **network_values(lay.spec)}
    ws.write(layout.TITLE_ROW, 0, "Guide: backpropagation step by step", fm.title)
    notes = (f"Values are live formulas on sheet {source!r}, epoch 0 (epoch 1 where marked): "
             f"edit the network on sheet {layout.NETWORK}, or that sheet's η, and they follow.",
             "Column names as in the sheets; the sheets' ∂E/∂w columns hold ∂E_total/∂w.",
             "A rate sheet's title and the charts' legends follow its η cell; its tab name "
             "(LR 0.5) cannot, and keeps the η it was built with.")
    for row, text in zip(layout.GUIDE_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    ws.insert_image(layout.GUIDE_IMAGE_ROW, 0, "network.png", {
        "image_data": io.BytesIO(picture),
        "object_position": 3,  # XlsxWriter sizes it by the PNG's 200 dpi: ~810 × 520 px
    })
    header_row = layout.GUIDE_IMAGE_ROW + layout.guide_image_rows(
        diagram.png_size(picture)[1], diagram.DPI)
    for col, (text, width) in enumerate(zip(layout.GUIDE_COLUMNS, layout.GUIDE_WIDTHS,
                                            strict=True)):
        ws.write(header_row, col, text, fm.header["epoch"])
        ws.set_column(col, col, width)

    def ref(name: str, epoch: int) -> str:
        if name in lay.column:
            return f"{layout.quote(source)}!{lay.cell(name, epoch)}"
        if name in lay.block:
            return f"{layout.quote(source)}!{lay.value_ref(name)}"
        return lay.network_ref(name)

    steps = guide.steps(lay.spec, run.epochs)
    for k, step in enumerate(steps):
        row = layout.guide_row(k, header_row)
        if not step.example and not step.equation:
            ws.merge_range(row, 0, row, len(layout.GUIDE_COLUMNS) - 1, step.name, fm.section)
            continue
        ws.write(row, 0, step.name, fm.label)
        if not step.example:  # a line of text
            ws.write(row, 1, step.equation)
            continue
        ws.write(row, 1, step.equation, fm.equation)
        refs = {key: ref(*key) for key in guide.names(step.example)}
        numbers = {key: float(trace[key[0]][key[1]]) if key[0] in trace else values[key[0]]
                   for key in refs}
        value: float | str = "#NUM!"
        if all(math.isfinite(v) for v in numbers.values()):
            value = cached(guide.evaluate(step.example, numbers))
        ws.write_formula(row, 2, "=" + guide.fill(step.example, refs), fm.guide_value, value)
        ws.write(row, 3, step.note, fm.note)
    last_row = layout.guide_row(len(steps) - 1, header_row)
    ws.print_area(0, 0, last_row, len(layout.GUIDE_COLUMNS) - 1)
    ws.set_portrait()
    ws.set_paper(layout.PAPER_A4)
    ws.fit_to_pages(1, 1)
    ws.freeze_panes(header_row + 1, 0)


def write_workbook(run: Run | NetRun, all_traces: list[Trace], path: Path,
                   progress: Callable[[str], None] | None = None,
                   sheet_class: type[Worksheet] = PlainFormulaSheet,
                   print_epochs: int | None = None) -> None:
    """Write the whole workbook to ``path`` (not atomically; see ``build``).

    Args:
        run: the network, learning rates and epoch count.
        all_traces: the engine's trace of each learning rate: the cached values.
        path: where to write.
        progress: called with each sheet's name as it is written.
        sheet_class: the worksheet class (tests compare with XlsxWriter's plain Worksheet).
        print_epochs: the epochs a rate sheet prints (default: every one).
    """
    run = from_course(run) if isinstance(run, Run) else run
    rate_sheets = layout.rate_sheets(run)
    plans = {r.spec: layout.plan(r.spec) for r in rate_sheets}  # one per optimizer
    lays = [plans[r.spec] for r in rate_sheets]
    lay = lays[layout.sheet_names(run).index(layout.guide_source(run))]  # Network and Guide
    # in_memory: XlsxWriter otherwise writes each part to a temporary file first, and those
    # outlive a Ctrl-C or SIGTERM during the final save
    buffer = io.BytesIO()  # written whole by files.write_whole: see there
    wb = Workbook(buffer, {"strings_to_numbers": False, "strings_to_formulas": False,
                           "in_memory": True})
    wb.set_properties({
        "title": f"Backpropagation of a {layout.network_words(run.net)}",
        "subject": "Live-formula backpropagation, one sheet per learning rate",
        "author": "workbook_builder",
        "created": CREATED,
    })
    fm = Formats.create(wb)
    sheets = {name: wb.add_worksheet(name, worksheet_class=sheet_class)
              for name in layout.workbook_sheets(run)}
    widths = {spec: column_widths(p, [t for r, t in zip(rate_sheets, all_traces, strict=True)
                                      if r.spec == spec]) for spec, p in plans.items()}
    for k, sheet in enumerate(rate_sheets):
        if progress is not None:
            progress(sheet.name)
        write_rate_sheet(wb, sheets[sheet.name], fm, run, lays[k], k, all_traces[k],
                         widths[sheet.spec], print_epochs)
    picture = diagram.network_png(run.net)
    write_network(sheets[layout.NETWORK], fm, lay, picture)
    write_summary(wb, sheets[layout.SUMMARY], fm, run, lays, all_traces)
    write_guide(sheets[layout.GUIDE], fm, run, lay, all_traces, picture)
    try:
        wb.close()
        write_whole(path, buffer.getvalue())
    except FileCreateError as exc:  # XlsxWriter wraps the OSError (disk full, size limit, ...)
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        raise OSError(getattr(cause, "errno", None), getattr(cause, "strerror", None) or
                      str(exc), str(path)) from None


def traces(run: Run | NetRun) -> list[Trace]:
    """The engine's trace of every learning rate of a run."""
    run = from_course(run) if isinstance(run, Run) else run
    by_spec: dict[topology.NetSpec, list[Trace]] = {}
    out = []
    for sheet in layout.rate_sheets(run):  # each optimizer's rates side by side, in order
        if sheet.spec not in by_spec:
            by_spec[sheet.spec] = topology.traces(sheet.spec, run.learning_rates, run.epochs)
        out.append(by_spec[sheet.spec][run.learning_rates.index(sheet.lr)])
    return out


def build(run: Run | NetRun, out: Path, progress: Callable[[str], None] | None = None,
          print_epochs: int | None = None) -> Path:
    """The engine's traces, written atomically: an existing ``out`` is replaced only by a
    complete file (``print_epochs``: see write_workbook)."""
    all_traces = traces(run)
    with atomic_path(out) as tmp:
        try:
            write_workbook(run, all_traces, tmp, progress, print_epochs=print_epochs)
        except OSError as exc:  # name the file the user asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(out)) from None
    return out
