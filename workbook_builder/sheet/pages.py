"""The Network, Summary and Guide sheets: the network's values and picture, the rates compared
in a table and a chart, and the lesson with the sheet's own numbers."""

from __future__ import annotations

import io
import math

import numpy as np
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from workbook_builder.network import topology
from workbook_builder.network.equations import Array
from workbook_builder.network.netrun import NetRun
from workbook_builder.sheet import cell_formulas, charts, diagram, guide, layout
from workbook_builder.sheet.formats import Formats, cached, page_setup
from workbook_builder.sheet.layout import Layout

Trace = dict[str, Array]


def network_values(spec: topology.NetSpec) -> dict[str, float]:
    """Every value the Network sheet holds: the examples, fixed biases, initial parameters."""
    return {**topology.constants(spec), **topology.parameters(spec)}


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
    row_word = layout.row_word(run.net)  # epoch, or step (mini-batches)
    headers += [f"E_total at {row_word} {e}" + (" (last)" if e == last else "")
                for e in e_columns]
    headers += [f"first {row_word} with E_total < {f:.0%} of {row_word} 0" for f in
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
                ws.write(row, col, f"n/a ({run.epochs} {row_word}s)", fm.text)
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
    word = layout.row_word(lay.spec)  # epoch, or step (mini-batches)
    notes = (f"Values are live formulas on sheet {source!r}, {word} 0 ({word} 1 where marked): "
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
        ws.write(header_row, col, text.replace("epoch", word), fm.header["epoch"])
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
