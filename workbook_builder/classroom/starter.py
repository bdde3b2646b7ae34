"""A student's starter workbook: their own numbers, the table's headers, epoch 0's weights,
empty cells to fill, and a Self-check sheet that says live, per column, whether the first
epochs are right.

The rate sheet's geometry is the builder's (layout.py): the same parameter block, header row
and columns, so a finished starter reads like the builder's own workbook and ``check`` finds
everything where it looks. The Self-check sheet holds, for each quantity, the right values of
epochs 0-2 as numbers — never a formula of the answer. What it reveals: the first three values
of each column, which a student could type in; ``check`` calls a typed number wrong (and varies
the inputs, where a typed number stops matching), so revealing them gives nothing away that
counts, while the ✔ tells a student that their formula is right as they type it.
"""

from __future__ import annotations

import io
from pathlib import Path

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from workbook_builder.classroom.roster import Numbers
from workbook_builder.files import atomic_path, write_whole
from workbook_builder.network import topology
from workbook_builder.network.equations import Array
from workbook_builder.network.netrun import course_spec
from workbook_builder.sheet import layout

SHEET = "Backprop"
CHECK_SHEET = "Self-check"
Trace = dict[str, Array]
QUANTITIES = layout.COLUMNS[1:]
WEIGHTS = tuple(name for name in QUANTITIES if layout.kind(name) == "weights")
CHECKED_EPOCHS = 3  # epochs 0..2 are checked live
ID_LABEL = "student id"
ID_CELL = (6, 2)  # right of its label, in the parameter block's free row (no biases here)
RTOL = 1e-9  # a right formula written in another order differs in the last digits only
MARK_RIGHT, MARK_WRONG, MARK_EMPTY = "✔", "✘", "·"
INSTRUCTIONS = (
    "Fill every yellow cell of sheet Backprop with a formula, epoch by epoch: the forward "
    "pass, the errors, the δ terms, the gradients, then the next epoch's weights "
    "(w − η·∂E/∂w). Refer to the blue cells for your numbers; never type a number into the "
    "table. This sheet checks epochs 0-2 of each column as you type (✔ right, ✘ wrong, · "
    "empty); a ✘ can come from a wrong column that it uses, so fix the first ✘ from the top "
    "first. The grader checks every row, with other numbers too.",
)


def build_starter(student_id: str, numbers: Numbers, epochs: int, path: Path) -> Path:
    """Write the starter workbook for one student (atomically)."""
    network, eta = numbers.network, numbers.eta
    spec = course_spec(network)
    expected = topology.trace(spec, eta, CHECKED_EPOCHS)
    with atomic_path(path) as part:
        buffer = io.BytesIO()  # written whole by files.write_whole: see there
        wb = Workbook(buffer, {"in_memory": True, "strings_to_numbers": False,
                               "strings_to_formulas": False})
        wb.set_properties({"title": f"Backpropagation starter for {student_id}",
                           "author": "workbook_builder assign", "created": _created()})
        bold = wb.add_format({"bold": True})
        title = wb.add_format({"bold": True, "font_size": 14})
        given = wb.add_format({"font_color": "#1F4E9A", "bold": True, "bg_color": "#DDEBF7",
                               "border": 1})
        fill = wb.add_format({"bg_color": "#FFF2CC", "border": 1})
        header = wb.add_format({"bold": True, "bottom": 2, "align": "center"})
        ws = wb.add_worksheet(SHEET)
        check = wb.add_worksheet(CHECK_SHEET)
        ws.write(layout.TITLE_ROW, layout.TEXT_COL,
                 f"Backpropagation by hand: student {student_id}", title)
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws.merge_range(layout.NOTE_ROW, layout.TEXT_COL, layout.NOTE_ROW,
                       layout.COLUMN["E_total"], INSTRUCTIONS[0], wrap)
        ws.set_row(layout.NOTE_ROW, 48)  # points: three wrapped lines
        values = {"η": eta, **topology.constants(spec), **topology.parameters(spec)}
        for name, (row, col) in layout.PARAM_CELLS.items():
            if name in values:
                ws.write(row, col - 1, layout.PARAM_LABELS[name], bold)
                ws.write_number(row, col, values[name], given)
        ws.write(ID_CELL[0], ID_CELL[1] - 1, ID_LABEL, bold)
        ws.write_string(*ID_CELL, student_id, given)
        for col, name in enumerate(layout.COLUMNS):
            ws.write(layout.HEADER_ROW, col, name, header)
        for epoch in range(epochs):
            row = layout.epoch_row(epoch)
            ws.write_number(row, 0, epoch)
            for name in QUANTITIES:
                col = layout.COLUMN[name]
                if epoch == 0 and name in WEIGHTS:
                    ws.write_formula(row, col, f"={layout.param_cell(name)}", given,
                                     values[name])
                else:
                    ws.write_blank(row, col, None, fill)
        ws.freeze_panes(layout.FIRST_EPOCH_ROW, 1)
        ws.set_column(1, len(layout.COLUMNS), 12)
        ws.set_column(layout.TEXT_COL, layout.TEXT_COL, 18)  # "η (learning rate)"
        _self_check(check, expected, bold, title, header, wrap)
        check.activate()
        wb.close()
        write_whole(part, buffer.getvalue())
    return path


def _created() -> object:
    from workbook_builder.sheet.writer import CREATED  # the builder's fixed date: same bytes

    return CREATED


def _self_check(ws: Worksheet, expected: Trace, bold: Format, title: Format,
                header: Format, wrap: Format) -> None:
    """Per quantity: the state of epochs 0..2 (✔ ✘ ·), and a summary cell."""
    ws.write(0, 0, "Self-check: epochs 0-2 of each column of sheet Backprop", title)
    ws.merge_range(1, 0, 1, 1 + CHECKED_EPOCHS, INSTRUCTIONS[0], wrap)
    ws.set_row(1, 96)  # points: the instructions, wrapped
    first = 3
    ws.write_row(first, 0, ["quantity", "status", *(f"epoch {e}" for e in
                                                   range(CHECKED_EPOCHS))], header)
    ws.set_column(0, 0, 12)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 1 + CHECKED_EPOCHS, 9)
    for k, name in enumerate(QUANTITIES):
        row = first + 1 + k
        ws.write(row, 0, name, bold)
        marks = []
        for epoch in range(CHECKED_EPOCHS):
            if epoch == 0 and name in WEIGHTS:
                ws.write(row, 2 + epoch, "given")
                continue
            target = f"{layout.quote(SHEET)}!{layout.cell(name, epoch)}"
            value = float(expected[name][epoch])
            v = repr(value).replace("e", "E")
            formula = (f'=IF(ISBLANK({target}),"{MARK_EMPTY}",IFERROR(IF(ABS({target}-({v}))'
                       f'<={RTOL:g}*MAX(1E-300,ABS({v})),"{MARK_RIGHT}","{MARK_WRONG}"),'
                       f'"{MARK_WRONG}"))')
            ws.write_formula(row, 2 + epoch, formula, None, MARK_EMPTY)
            marks.append(xl_rowcol_to_cell(row, 2 + epoch))
        span = f"{marks[0]}:{marks[-1]}"
        first_epoch = 1 if name in WEIGHTS else 0
        summary = (f'=IF(COUNTIF({span},"{MARK_WRONG}")>0,"{MARK_WRONG} wrong from epoch "'
                   f'&(MATCH("{MARK_WRONG}",{span},0)-1+{first_epoch}),'
                   f'IF(COUNTIF({span},"{MARK_RIGHT}")={len(marks)},"{MARK_RIGHT} right",'
                   f'"{MARK_EMPTY} to do"))')
        ws.write_formula(row, 1, summary, None, f"{MARK_EMPTY} to do")
