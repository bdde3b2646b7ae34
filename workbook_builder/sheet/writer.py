"""Write the workbook of any network with XlsxWriter: its rate sheets here, the Network, Summary
and Guide sheets in pages.py, the formats in formats.py.

The one writer: every quantity's formula is its expression tree (topology.py) printed into the
cells the layout gives (layout.py), every cached value the engine's trace of the same tree.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from workbook_builder.files import atomic_path, write_whole
from workbook_builder.network import optimizers, topology
from workbook_builder.network.netrun import NetRun, from_course
from workbook_builder.network.spec import Run
from workbook_builder.sheet import cell_formulas, charts, diagram, layout
from workbook_builder.sheet.formats import (
    SMALL,
    Formats,
    PlainFormulaSheet,
    cached,
    group,
    number_format,
    page_setup,
)
from workbook_builder.sheet.layout import Layout
from workbook_builder.sheet.pages import (
    Trace,
    network_values,
    write_guide,
    write_network,
    write_summary,
)

#: fixed document date, so the same inputs give a byte-identical file
CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
MAX_WIDTH = 24  # characters: a column of a run that diverged stays readable



def column_widths(lay: Layout, all_traces: list[Trace]) -> dict[str, float]:
    """Widths (characters) wide enough for the longest number any sheet shows in a column."""
    widths: dict[str, float] = {layout.EPOCH: 8}  # the epochs alone: it repeats on every page
    for name in lay.columns[1:]:
        if layout.kind(name) == "batch" and name.startswith("ex"):  # 1 … 16
            widths[name] = len(name) + 4
            continue
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
    # (short: it fits above the weights view, the first printed page)
    steps = "" if lay.spec.batch_size is None else "ex: the step's examples; "
    ws.write(lay.note2_row, layout.TEXT_COL,
             f"{layout.row_word(lay.spec).capitalize()} 0 holds the initial {learn}; {steps}"
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
        ws.write(lay.header_row, col, layout.header(lay.spec, name), fm.header[group(name)])
        ws.set_column(col, col, widths[name])
    ws.set_row(lay.header_row, 20)

    eq, updates = topology.equations(lay.spec), topology.updates(lay.spec)
    first_row = {p: "=" + lay.value_ref(p) for p in updates}
    later = {p: lay.template(updates[p]) for p in updates}
    later.update({q: lay.template(eq[q]) for q in eq})
    # the first row's own formulas where it has no row above: the optimizer's state from
    # torch's initial state, a mini-batch's first examples
    first_row.update({q: lay.template(e).format(**lay.row_numbers(0))
                      for q, e in topology.first_row(lay.spec).items()})
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
