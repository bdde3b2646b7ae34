"""Write the workbook of any small network (topology.py's trees) with XlsxWriter."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from xlsxwriter.chart import Chart
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from workbook_builder import netdiagram, netlayout, topology
from workbook_builder.cell_formulas import general, labelled
from workbook_builder.charts import PALETTE
from workbook_builder.equations import Array, evaluate
from workbook_builder.files import atomic_path
from workbook_builder.layout import ETA_LABEL, GUIDE, LR_LABEL, NETWORK, SUMMARY, quote
from workbook_builder.netlayout import NetLayout
from workbook_builder.netrun import NetRun
from workbook_builder.spec import sheet_name
from workbook_builder.writer import (
    CREATED,
    NUMBER,
    SMALL,
    Formats,
    PlainFormulaSheet,
    page_setup,
)

Trace = dict[str, Array]


class NetFormulaSheet(PlainFormulaSheet):
    """The writer's fast path, for every function the trees call: none is a future function
    that XlsxWriter would prefix with ``_xlfn.``."""

    PLAIN = frozenset({"EXP", "MIN", "MAX", "LN", "TANH", "IF"})


def _format_of(name: str) -> str:
    return SMALL if netlayout.kind(name) in ("deltas", "gradients") else NUMBER


def _cached(v: float) -> float | str:
    """A cached value; a run that overflowed shows Excel's error, as Excel computes it."""
    return v if math.isfinite(v) else "#NUM!"


def rate_title(lay: NetLayout) -> str:
    return f"Backpropagation of a {netlayout.shape(lay.spec)} network, {ETA_LABEL}"


def write_rate_sheet(wb: Workbook, ws: Worksheet, fm: Formats, cells: dict[str, Format],
                     lay: NetLayout, run: NetRun, index: int, trace: Trace,
                     widths: dict[str, float]) -> None:
    """One learning rate: title, η, the chart, then one row per epoch."""
    lr = run.learning_rates[index]
    eta = netlayout.eta_cell()
    title = rate_title(lay)
    ws.write_formula(netlayout.TITLE_ROW, 1, labelled(title, eta), fm.title,
                     title + general(lr))
    # the notes are short: they stay on the first printed view
    ws.write(netlayout.NOTE_ROW, 1, netlayout.describe(lay.spec).split(": ", 1)[1]
             + f"; names: see the {GUIDE}", fm.note)
    row, col = netlayout.ETA_CELL
    ws.write(row, 1, LR_LABEL, fm.copy_label)  # left-aligned (grey like the other labels)
    ws.write_number(row, col, lr, fm.value)
    ws.write(netlayout.NOTE2_ROW, 1,
             f"Blue η is this sheet's input; the rest is on sheet {NETWORK}. Each row: the row "
             "above − η × its gradients.", fm.note)
    ws.set_row(netlayout.GROUP_ROW, 30)  # a group label over one column takes two lines
    for first, last, label in lay.groups():
        group_format = fm.header[netlayout.kind(lay.columns[first]) if netlayout.kind(
            lay.columns[first]) != "biases" else "weights"]
        if first == last:
            ws.write(netlayout.GROUP_ROW, first, label, group_format)
        else:
            ws.merge_range(netlayout.GROUP_ROW, first, netlayout.GROUP_ROW, last, label,
                           group_format)
    for col, name in enumerate(lay.columns):
        group = netlayout.kind(name)
        ws.write(netlayout.HEADER_ROW, col, name,
                 fm.header["weights" if group == "biases" else group])
        ws.set_column(col, col, widths[name])

    eq = topology.equations(lay.spec)
    updates = topology.updates(lay.spec)
    params = topology.parameters(lay.spec)
    first_row = {p: "=" + netlayout.network_ref(lay, p) for p in params}
    later = {p: netlayout.template(lay, updates[p]) for p in params}
    later.update({q: netlayout.template(lay, eq[q]) for q in eq})
    plan = [(lay.column[name], name, cells[name], trace[name].tolist())
            for name in lay.columns[1:]]
    for epoch in range(run.epochs):
        row = netlayout.epoch_row(epoch)
        numbers = netlayout.row_numbers(epoch)
        ws.write_number(row, 0, epoch, fm.epoch)
        for col, name, cell_format, values in plan:
            text = first_row[name] if epoch == 0 and name in first_row else \
                later[name].format(**numbers)
            ws.write_formula(row, col, text, cell_format, _cached(values[epoch]))
    ws.freeze_panes(netlayout.FIRST_EPOCH_ROW, 1)
    chart = line_chart(wb, "E_total by epoch", run.epochs)
    chart.add_series(series(lay, run, index, sheet_name(lr), PALETTE[0]))
    chart.set_legend({"position": "top"})
    chart.set_size({"width": netlayout.CHART_SIZE[0], "height": netlayout.CHART_SIZE[1]})
    ws.insert_chart(netlayout.CHART_ROW, 1, chart)
    last_row = netlayout.epoch_row(min(run.epochs, netlayout.PRINT_EPOCHS) - 1)
    ws.print_area(0, 0, last_row, len(lay.columns) - 1)
    ws.set_v_pagebreaks([first for first, _ in netlayout.views(lay)][1:])
    ws.repeat_columns(0)
    page_setup(ws, scale=netlayout.PRINT_SCALE)


def line_chart(wb: Workbook, title: str, epochs: int) -> Chart:
    chart = wb.add_chart({"type": "line"})
    if chart is None:  # only for an unknown chart type
        raise RuntimeError("XlsxWriter refused a line chart")
    chart.set_title({"name": title, "name_font": {"size": 12, "bold": True}})
    step = max(1, epochs // 10)
    chart.set_x_axis({"name": "epoch", "interval_unit": step, "interval_tick": step,
                      "num_font": {"size": 9}, "position_axis": "on_tick"})
    chart.set_y_axis({"name": "E_total", "num_format": "0.0000", "num_font": {"size": 9},
                      "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
    return chart


def series(lay: NetLayout, run: NetRun, index: int, sheet: str, color: str) -> dict[str, Any]:
    """One rate's E_total curve, named by the Summary's η cell (which follows the sheet's η)."""
    first = sheet_name(run.learning_rates[0])
    return {
        "name": "=" + netlayout.summary_eta_cell(index),
        "name_data": [ETA_LABEL + general(run.learning_rates[index])],
        "categories": "=" + netlayout.column_range(lay, first, netlayout.EPOCH, run.epochs),
        "values": "=" + netlayout.column_range(lay, sheet, "E_total", run.epochs),
        "line": {"color": color, "width": 2},
    }


def write_network(ws: Worksheet, fm: Formats, lay: NetLayout) -> None:
    """The examples, the initial weights and the biases, entered once (blue)."""
    spec = lay.spec
    ws.write(0, 0, f"The network every rate sheet trains: {netlayout.describe(spec)}", fm.title)
    notes = ("Blue cells are inputs: every rate sheet and the Summary follow.",
             "Weights: layer by layer, within a layer by destination neuron, then source "
             "neuron (w1 = i1→first hidden neuron, w2 = i2→it, …).")
    for row, text in zip(netlayout.NETWORK_NOTE_ROWS, notes, strict=True):
        ws.write(row, 0, text, fm.note)
    n_in, n_out = spec.layers[0], spec.layers[-1]
    heads = ["example", *(f"i{j}" for j in range(1, n_in + 1)),
             *(f"t{k}" for k in range(1, n_out + 1))]
    for col, text in enumerate(heads):
        ws.write(netlayout.EXAMPLES_HEADER_ROW, col, text,
                 fm.header["epoch" if col == 0 else "forward" if col <= n_in else "loss"])
    given = topology.constants(spec)
    initial = topology.parameters(spec)
    for e in range(len(spec.examples)):
        ws.write_number(netlayout.EXAMPLES_HEADER_ROW + 1 + e, 0, e + 1, fm.epoch)
    names = topology.neuron_names(spec)
    source: dict[str, tuple[str, str]] = {}
    for layer, block in enumerate(topology.weight_index(spec), start=1):
        for d, row_names in enumerate(block):
            for j, w in enumerate(row_names):
                source[w] = (names[layer - 1][j], names[layer][d])
    head = netlayout.parameter_header_row(lay)
    for col, text in enumerate(("parameter", "initial value", "from → to")):
        ws.write(head, col, text, fm.header["weights"])
    for name, (row, col) in lay.network_cells.items():
        value = given[name] if name in given else initial[name]
        ws.write_number(row, col, value, fm.value)
        if name in source:
            ws.write(row, 0, name, fm.label)
            ws.write(row, 2, f"{source[name][0]} → {source[name][1]}", fm.note)
        elif name.startswith("b_"):
            ws.write(row, 0, name, fm.label)
            ws.write(row, 2, f"{name[2:]}'s bias at epoch 0 (it learns)", fm.note)
        elif name.startswith("b"):
            ws.write(row, 0, name, fm.label)
            layer = int(name[1:])
            ws.write(row, 2, f"fixed, added in {', '.join(names[layer])}", fm.note)
    ws.set_column(0, 0, 12)
    ws.set_column(1, max(2, n_in + n_out), 12)
    ws.set_column(2, 2, 14)
    page_setup(ws)


def write_summary(wb: Workbook, ws: Worksheet, fm: Formats, lay: NetLayout, run: NetRun,
                  traces: list[Trace]) -> None:
    """E_total at chosen epochs, per rate, as formulas over the rate sheets; all curves."""
    last = run.epochs - 1
    epochs = [*netlayout.SUMMARY_EPOCHS, last]
    ws.write(0, 0, "Summary: how the learning rate η changes the error", fm.title)
    ws.write(1, 0, f"Every number is a formula over the rate sheets, which all train the "
             f"network on sheet {NETWORK}. A sheet's tab keeps the η it was built with.",
             fm.note)
    heads = ["learning rate", "sheet",
             *(f"E_total at epoch {e}" + (" (last)" if e == last else "") for e in epochs)]
    for col, text in enumerate(heads):
        ws.write(netlayout.SUMMARY_HEADER_ROW, col, text, fm.header["loss" if col else "epoch"])
    ws.set_row(netlayout.SUMMARY_HEADER_ROW, 45)
    ws.set_column(0, 1, 10)
    ws.set_column(2, len(heads) - 1, 14)
    for k, (lr, tr) in enumerate(zip(run.learning_rates, traces, strict=True)):
        row, sheet = netlayout.summary_row(k), sheet_name(lr)
        ws.write_formula(row, 0, f"={quote(sheet)}!{netlayout.eta_cell()}", fm.summary_eta, lr)
        ws.write_url(row, 1, f"internal:{quote(sheet)}!A1", string=sheet)
        for j, epoch in enumerate(epochs):
            if epoch > last:
                ws.write(row, 2 + j, f"n/a ({run.epochs} epochs)", fm.text)
                continue
            ws.write_formula(row, 2 + j,
                             f"={quote(sheet)}!{netlayout.cell(lay, 'E_total', epoch, True)}",
                             fm.small, _cached(float(tr["E_total"][epoch])))
    chart = line_chart(wb, "E_total by epoch for each learning rate η", run.epochs)
    for k, lr in enumerate(run.learning_rates):
        chart.add_series(series(lay, run, k, sheet_name(lr), PALETTE[k % len(PALETTE)]))
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": netlayout.SUMMARY_CHART_SIZE[0],
                    "height": netlayout.SUMMARY_CHART_SIZE[1]})
    ws.insert_chart(netlayout.summary_row(len(run.learning_rates)) + 1, 0, chart)
    page_setup(ws)


#: f′ in words, for δ of a hidden neuron
ACTIVATION_WORDS = {
    "sigmoid": "a = σ(z) = 1/(1 + e^(−z)), written 1/(1+EXP(MIN(709,-z))) so EXP never "
               "overflows; σ′(z) = a·(1 − a), so δ_h = (Σ δ·w over the neurons it feeds)·a·(1 − a)",
    "tanh": "a = tanh(z); tanh′(z) = 1 − a², so δ_h = (Σ δ·w over the neurons it feeds)·(1 − a²)",
    "relu": "a = max(0, z); its derivative is 1 where z > 0, else 0 (0 at z = 0, as PyTorch "
            "takes it): δ_h = (Σ δ·w)·IF(z>0,1,0)",
    "leaky-relu": f"a = max({topology.LEAKY_SLOPE}·z, z); its derivative is 1 where z > 0, "
                  f"else {topology.LEAKY_SLOPE}: δ_h = (Σ δ·w)·IF(z>0,1,{topology.LEAKY_SLOPE})",
    "linear": "a = z; its derivative is 1: δ_h = Σ δ·w over the neurons it feeds",
}
LOSS_WORDS = {
    "half-se": "E_total = ½·Σ (t − a)² over the outputs and the examples",
    "mse": "E_total = the mean of (a − t)² over the outputs and the examples (nn.MSELoss)",
    "ce softmax": "E_total = the mean over the examples of −Σ t·log a (nn.CrossEntropyLoss), "
                  "log a written z − max z − LN(Σ e^(z − max z)), so no LN(0) and no EXP "
                  "overflow",
    "ce sigmoid": "E_total = the mean over the outputs and examples of −[t·log a + (1 − t)·"
                  "log(1 − a)], each log clamped at −100 as nn.BCELoss does",
}


def output_delta_words(spec: topology.NetSpec) -> str:
    """δ of an output neuron (∂E_total/∂z), in words."""
    n = "N (the number of examples)"
    if spec.loss == "ce" and spec.output_activation == "softmax":
        return f"δ_o = (a − t)/{n} when each example's targets sum to 1 (else (a·Σt − t)/N): " \
               "softmax's derivative cancels against the log"
    if spec.loss == "ce":
        return "δ_o = (a − t)/(outputs·examples): σ′ = a(1 − a) cancels the cross-entropy's " \
               "1/(a(1 − a))"
    g = "a − t" if spec.loss == "half-se" else "2(a − t)/(outputs·examples)"
    if spec.output_activation == "softmax":
        return f"with g = ∂E/∂a = {g}: δ_k = a_k·(g_k − Σ_j g_j·a_j) (softmax's Jacobian)"
    if spec.output_activation == "sigmoid":
        return f"δ_o = ({g})·a·(1 − a)"
    return f"δ_o = {g} (linear output: its derivative is 1)"


def guide_lines(spec: topology.NetSpec) -> list[tuple[str, str]]:
    loss_key = spec.loss if spec.loss != "ce" else f"ce {spec.output_activation}"
    lines = [
        ("network", netlayout.describe(spec)),
        ("names", "inputs i1 …, targets t1 …; hidden sums h1 … and activations a_h1 … (with "
                  "several hidden layers h1_2 is layer 1's neuron 2); outputs o1 …, a_o1 …"),
        ("", "weights w1 … layer by layer, within a layer by destination neuron, then source "
             "neuron (the Network sheet lists each weight's edge)"),
        ("", "fixed biases b1 … (one per layer, shared); trainable biases b_h1 …, b_o1 … "
             "with gradients ∂E/∂b_h1 …"),
        ("", "loss terms E1 … (softmax with cross-entropy: E, one per example), E_total; δ "
             "terms δ_o1 …, δ_h1 …; gradients ∂E/∂w1 … (of the whole E_total)"),
        ("", "with several examples every per-example quantity carries it: a_h1[2]"),
        ("forward", "z = Σ w·(input or activation of the layer before) + bias; hidden: "
                    + ACTIVATION_WORDS[spec.activation].split(";")[0]),
        ("output", {"sigmoid": "a = σ(z)", "linear": "a = z",
                    "softmax": "a_k = e^(z_k − max z)/Σ_j e^(z_j − max z) (the max keeps EXP "
                               "finite)"}[spec.output_activation]),
        ("loss", LOSS_WORDS[loss_key]),
        ("δ output", output_delta_words(spec)),
        ("δ hidden", ACTIVATION_WORDS[spec.activation]),
        ("gradient", "∂E/∂w = Σ over the examples of δ(destination)·(source's input or "
                     "activation); ∂E/∂b = Σ δ"),
        ("update", "each parameter of the next row = its value − η·∂E/∂(it) of the row above"),
    ]
    return lines


def worked_quantities(spec: topology.NetSpec) -> list[tuple[str, int]]:
    """The Guide's worked values, (quantity, epoch): the first hidden and output neuron of
    example 1 forward, its loss term, E_total, two δ terms, two gradients, one update."""
    names = topology.neuron_names(spec)
    sfx = topology.example_suffix(spec, 0)
    hidden, out = names[1][0], names[-1][0]
    eq = topology.equations(spec)
    loss = next(q for q in eq if netlayout.kind(q) == "loss" and q != "E_total")
    picks = [f"{hidden}{sfx}", f"a_{hidden}{sfx}", f"{out}{sfx}", f"a_{out}{sfx}", loss,
             "E_total", f"δ_{out}{sfx}", f"δ_{hidden}{sfx}", "∂E/∂w1", f"∂E/∂w{spec.n_weights}"]
    return [(q, 0) for q in picks]


def write_guide(ws: Worksheet, fm: Formats, lay: NetLayout, run: NetRun, traces: list[Trace],
                diagram: bytes) -> None:
    """The network's diagram, the names and each step in words, then worked values: the
    sheet's own formulas written with names, each beside a live reference to its cell."""
    index = run.learning_rates.index(1.0) if 1.0 in run.learning_rates else 0
    source, trace = sheet_name(run.learning_rates[index]), traces[index]
    ws.write(0, 0, "Guide: backpropagation of this network, step by step", fm.title)
    ws.write(1, 0, f"Worked values are live formulas on sheet {source!r}: edit the network "
             f"on sheet {NETWORK}, or that sheet's η, and they follow.", fm.note)
    ws.insert_image(3, 0, "network.png", {"image_data": io.BytesIO(diagram),
                                          "object_position": 3})
    # XlsxWriter places the PNG by its 200 dpi: 96/200 of its pixels, 20 px a row
    height = netdiagram.png_size(diagram)[1] * 96 / netdiagram.DPI
    row = 3 + math.ceil(height / 20) + 1
    for topic, text in guide_lines(lay.spec):
        ws.write(row, 0, topic, fm.label)
        ws.write(row, 1, text)
        row += 1
    row += 1
    for col, text in enumerate(("quantity", "the sheet's formula, with names",
                                "value at epoch 0", "")):
        ws.write(row, col, text, fm.header["epoch"])
    eq = {**topology.equations(lay.spec), **topology.updates(lay.spec)}

    def named(name: str, lag: int) -> str:
        return f"{name}(epoch above)" if lag else name

    worked = [*worked_quantities(lay.spec)]
    if run.epochs > 1:
        worked.append(("w1", 1))
    for name, epoch in worked:
        row += 1
        ws.write(row, 0, name, fm.label)
        ws.write(row, 1, "=" + eq[name].excel(named), fm.equation)
        ws.write_formula(row, 2, f"={quote(source)}!{netlayout.cell(lay, name, epoch)}",
                         fm.guide_value, _cached(float(trace[name][epoch])))
        if epoch:
            ws.write(row, 3, "at epoch 1: the update of the row above", fm.note)
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 110)
    ws.set_column(2, 2, 18)
    ws.set_column(3, 3, 36)
    page_setup(ws)


def column_widths(lay: NetLayout, traces: list[Trace]) -> dict[str, float]:
    widths: dict[str, float] = {netlayout.EPOCH: 8}
    for name in lay.columns[1:]:
        finite = [np.abs(t[name][np.isfinite(t[name])]) for t in traces]
        biggest = max((float(f.max()) for f in finite if f.size), default=1.0)
        shown = f"-{biggest:.7E}" if _format_of(name) == SMALL else f"-{biggest:.9f}"
        widths[name] = min(24, max(11, len(shown) + 1, len(name) + 2))
    return widths


def write_workbook(run: NetRun, traces: list[Trace], path: Path,
                   progress: Callable[[str], None] | None = None) -> None:
    """Write the whole workbook to ``path`` (not atomically; see ``build``)."""
    lay = netlayout.plan(run.net)
    wb = Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                              "in_memory": True})
    wb.set_properties({"title": f"Backpropagation of {netlayout.describe(run.net)}",
                       "subject": "Live-formula backpropagation, one sheet per learning rate",
                       "author": "workbook_builder", "created": CREATED})
    fm = Formats.create(wb)
    cells = {name: wb.add_format({"num_format": _format_of(name)}) for name in lay.columns}
    rate_sheets = [sheet_name(lr) for lr in run.learning_rates]
    sheets = {name: wb.add_worksheet(name, worksheet_class=NetFormulaSheet)
              for name in (GUIDE, NETWORK, SUMMARY, *rate_sheets)}
    widths = column_widths(lay, traces)
    for k, name in enumerate(rate_sheets):
        if progress is not None:
            progress(name)
        write_rate_sheet(wb, sheets[name], fm, cells, lay, run, k, traces[k], widths)
    write_network(sheets[NETWORK], fm, lay)
    write_summary(wb, sheets[SUMMARY], fm, lay, run, traces)
    write_guide(sheets[GUIDE], fm, lay, run, traces, netdiagram.network_png(run.net))
    try:
        wb.close()
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        raise OSError(getattr(cause, "errno", None), getattr(cause, "strerror", None) or
                      str(exc), str(path)) from None


def traces(run: NetRun) -> list[Trace]:
    """topology.trace for each rate, the rates computed side by side as one array each (six
    times fewer tree walks): element by element the same operations, so bit for bit
    topology.trace's values (tests/test_netwriter.py checks it)."""
    spec, n = run.net, len(run.learning_rates)
    eq, upd = topology.equations(spec), topology.updates(spec)
    given = {k: np.asarray(v, dtype=np.float64) for k, v in topology.constants(spec).items()}
    given["η"] = np.asarray(run.learning_rates, dtype=np.float64)
    params = {k: np.full(n, v, dtype=np.float64)
              for k, v in topology.parameters(spec).items()}
    rows: list[dict[str, Array]] = []
    for _ in range(run.epochs):
        if rows:
            def look(name: str, lag: int, above: dict[str, Array] = rows[-1]) -> Array:
                return above[name] if lag else given[name]

            params = {p: np.broadcast_to(np.asarray(upd[p].value(look), dtype=np.float64),
                                         (n,)) for p in upd}
        rows.append(evaluate(eq, {**given, **params}))
    names = [*topology.parameters(spec), *eq]
    stacked = {q: np.array([np.broadcast_to(r[q], (n,)) for r in rows]) for q in names}
    return [{q: stacked[q][:, k].copy() for q in names} for k in range(n)]


def build(run: NetRun, out: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Compute every rate's trace and write the workbook atomically."""
    all_traces = traces(run)
    with atomic_path(out) as tmp:
        try:
            write_workbook(run, all_traces, tmp, progress)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(out)) from None
    return out
