"""Student workbooks as real ones come: other spellings, helper columns, text rows, η anywhere.

One generator with a switch per layout feature that defeated the first reader; formulas are
typed long-hand like the course template (or through helper columns). Values a test plants
are right or wrong by construction, and each test states the verdict a grader gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import get_column_letter

QUANTITY_HEADERS = ["t1", "t2", "i1", "i2", *(f"w{k}" for k in range(1, 9)), "h1", "a_h1",
                    "h2", "a_h2", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_tot",
                    *(f"∂E/∂w{k}" for k in range(1, 9))]
HELPERS = ["δo1", "δo2", "δh1", "δh2"]  # keys of the helper columns (headers "A".."D")
START = {"t1": 0.5, "t2": 0.5, "i1": 0.05, "i2": 0.1,
         **{f"w{k}": w for k, w in enumerate((0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55), 1)}}

Edit = Callable[[int, int, dict[str, str]], None]  # (row, first row, formulas) -> None


@dataclass
class Layout:
    """What the workbook looks like; the defaults are the course template."""

    headers: dict[str, str] = field(default_factory=dict)  # quantity -> header text shown
    header_row: int = 3
    text_rows: int = 0  # rows of formula descriptions under the header
    helpers: bool = False  # δ terms in helper columns "A".."D" that the gradients use
    eta: float | None = 0.5  # None: no η cell (the updates then carry η themselves)
    eta_label: str | None = "learning rate"
    eta_label_cell: str = "A1"
    eta_cell: str = "B1"
    mirror_eta: str | None = None  # a cell above-left holding "η" and "=<eta_cell>" right of it
    power: str = "^2"  # how squares are written: "^2" or the Google export's POW(...)
    rows: int = 8
    title: str = "Backprop"
    weights: tuple[float, ...] = tuple(START[f"w{k}"] for k in range(1, 9))
    drop: tuple[str, ...] = ()  # columns left out (the edit rewrites what used them)
    edit: Edit | None = None


def _columns(layout: Layout) -> dict[str, int]:
    names = [n for n in QUANTITY_HEADERS if n not in layout.drop]
    names += HELPERS if layout.helpers else []
    return {name: k for k, name in enumerate(names, start=1)}


def formulas(layout: Layout, r: int, first: int) -> dict[str, str]:
    """Row r's formulas (weights update from row r − 1 below the first row)."""
    cols = _columns(layout)
    cols.update({n: 0 for n in layout.drop})  # placeholders; the edit replaces their users
    c = {n: f"{get_column_letter(max(k, 1))}{r}" for n, k in cols.items()}
    p = {n: f"{get_column_letter(max(k, 1))}{r - 1}" for n, k in cols.items()}
    eta = "$" + "$".join(_split(layout.eta_cell))

    def square(x: str) -> str:
        return f"({x})^2" if layout.power == "^2" else f"POW({x},2)"

    def d_o(k: int) -> str:
        if layout.helpers:
            return c[f"δo{k}"]
        a, t = c[f"a_o{k}"], c[f"t{k}"]
        return f"({a}-{t})*{a}*(1-{a})"

    def d_h(k: int) -> str:
        if layout.helpers:
            return c[f"δh{k}"]
        a = c[f"a_h{k}"]
        wa, wb = ("w5", "w7") if k == 1 else ("w6", "w8")
        return f"({d_o(1)}*{c[wa]}+{d_o(2)}*{c[wb]})*{a}*(1-{a})"

    f = {
        "h1": f"={c['w1']}*{c['i1']}+{c['w2']}*{c['i2']}",
        "a_h1": f"=1/(1+EXP(-{c['h1']}))",
        "h2": f"={c['w3']}*{c['i1']}+{c['w4']}*{c['i2']}",
        "a_h2": f"=1/(1+EXP(-{c['h2']}))",
        "o1": f"={c['w5']}*{c['a_h1']}+{c['w6']}*{c['a_h2']}",
        "a_o1": f"=1/(1+EXP(-{c['o1']}))",
        "o2": f"={c['w7']}*{c['a_h1']}+{c['w8']}*{c['a_h2']}",
        "a_o2": f"=1/(1+EXP(-{c['o2']}))",
        "E1": f"=0.5*{square(c['t1'] + '-' + c['a_o1'])}",
        "E2": f"=0.5*{square(c['t2'] + '-' + c['a_o2'])}",
        "E_tot": f"={c['E1']}+{c['E2']}",
        "∂E/∂w1": f"={d_h(1)}*{c['i1']}", "∂E/∂w2": f"={d_h(1)}*{c['i2']}",
        "∂E/∂w3": f"={d_h(2)}*{c['i1']}", "∂E/∂w4": f"={d_h(2)}*{c['i2']}",
        "∂E/∂w5": f"={d_o(1)}*{c['a_h1']}", "∂E/∂w6": f"={d_o(1)}*{c['a_h2']}",
        "∂E/∂w7": f"={d_o(2)}*{c['a_h1']}", "∂E/∂w8": f"={d_o(2)}*{c['a_h2']}",
    }  # fmt: skip
    if layout.helpers:
        for k in (1, 2):
            a, t = c[f"a_o{k}"], c[f"t{k}"]
            f[f"δo{k}"] = f"=({a}-{t})*{a}*(1-{a})"
            a = c[f"a_h{k}"]
            wa, wb = ("w5", "w7") if k == 1 else ("w6", "w8")
            f[f"δh{k}"] = f"=({c['δo1']}*{c[wa]}+{c['δo2']}*{c[wb]})*{a}*(1-{a})"
    if r > first:
        for n in ("t1", "t2", "i1", "i2"):
            f[n] = f"={p[n]}"
        for k in range(1, 9):
            f[f"w{k}"] = f"={p[f'w{k}']}-{eta}*{p[f'∂E/∂w{k}']}"
    return f


def _split(cell: str) -> tuple[str, str]:
    letters = cell.rstrip("0123456789")
    return letters, cell[len(letters):]


def make(path: Path, layout: Layout | None = None) -> Path:
    """Write the workbook; returns ``path``."""
    layout = layout or Layout()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = layout.title
    if layout.eta is not None:
        if layout.eta_label is not None:
            ws[layout.eta_label_cell] = layout.eta_label
        ws[layout.eta_cell] = layout.eta
    if layout.mirror_eta is not None:
        ws[layout.mirror_eta] = "η"
        letters, row = _split(layout.mirror_eta)
        right = openpyxl.utils.column_index_from_string(letters) + 1
        ws[f"{get_column_letter(right)}{row}"] = f"={layout.eta_cell}"
    cols = _columns(layout)
    helper_names = dict(zip(HELPERS, "ABCD", strict=True))
    for name, k in cols.items():
        ws.cell(layout.header_row, k, layout.headers.get(name, helper_names.get(name, name)))
    for t in range(layout.text_rows):
        for name, k in cols.items():
            ws.cell(layout.header_row + 1 + t, k, f"formula for {name}")
    first = layout.header_row + 1 + layout.text_rows
    for r in range(first, first + layout.rows):
        f: dict[str, object] = dict(formulas(layout, r, first))
        if r == first:
            f.update(START)
            f.update({f"w{k}": w for k, w in enumerate(layout.weights, start=1)})
        if layout.edit is not None:
            layout.edit(r, first, f)  # type: ignore[arg-type]
        for name, value in f.items():
            if name not in layout.drop:
                ws.cell(r, cols[name], value)
    wb.save(path)
    return path
