"""Fixtures for `check` on any network: the builder's workbook of a network, and copies with one
mistake planted in a column, the way a student makes it (openpyxl edits every row's formula).

A planted mistake is a function of a formula and its row that returns the wrong formula; it is
applied to every epoch row of the column whose header names the quantity (from ``first`` on).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import openpyxl

from workbook_builder.network import netrun
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import writer

Plant = Callable[[str, int], str]


def build(spec: NetSpec, out: Path, epochs: int = 6, lr: float = 0.5) -> Path:
    """The builder's workbook of ``spec``: one rate sheet."""
    writer.build(netrun.NetRun(spec, (lr,), epochs), out)
    return out


def rate_sheet(wb: openpyxl.Workbook) -> openpyxl.worksheet.worksheet.Worksheet:
    return next(ws for ws in wb.worksheets if ws.title.startswith("LR"))


def header_row(ws: openpyxl.worksheet.worksheet.Worksheet) -> int:
    """The 1-based row of the table's header: the row whose column A says "epoch"."""
    return next(r for r in range(1, 40) if ws.cell(r, 1).value == "epoch")


def column_of(ws: openpyxl.worksheet.worksheet.Worksheet, name: str) -> int:
    header = header_row(ws)
    for cell in ws[header]:
        if cell.value == name:
            return cell.column
    raise KeyError(name)


def plant(source: Path, out: Path, name: str, change: Plant, first: int = 0,
          last: int | None = None) -> Path:
    """A copy of ``source`` with ``change`` applied to ``name``'s formulas from epoch
    ``first`` (0-based) to ``last`` (inclusive; default: every row)."""
    wb = openpyxl.load_workbook(source)
    ws = rate_sheet(wb)
    col = column_of(ws, name)
    top = header_row(ws) + 1
    rows = range(top + first, ws.max_row + 1 if last is None else top + last + 1)
    for r in rows:
        cell = ws.cell(r, col)
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.value = change(cell.value, r)
        elif cell.value is not None:
            cell.value = change(str(cell.value), r)
    wb.save(out)
    return out


def sub(pattern: str, replacement: str) -> Plant:
    """A regex substitution in the formula; the pattern must match."""
    def change(formula: str, row: int) -> str:
        new, count = re.subn(pattern, replacement.replace("{r}", str(row))
                             .replace("{r-1}", str(row - 1)), formula)
        assert count, (pattern, formula)
        return new
    return change


def typed(value: float) -> Plant:
    return lambda formula, row: value  # type: ignore[return-value]
