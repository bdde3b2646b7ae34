"""Hand-made-style workbooks, as a student would type them (openpyxl, course-template layout).

Each quantity is one column; i and t are columns too; η sits in a labelled cell above. Formulas
are typed long-hand, without δ columns, as in the widely copied class template.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import get_column_letter

HEADERS = ["t1", "t2", "i1", "i2", *(f"w{k}" for k in range(1, 9)), "h1", "a_h1", "h2", "a_h2",
           "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_tot",
           *(f"∂E/∂w{k}" for k in range(1, 9))]
HEADER_ROW = 3
ETA_CELL = "B1"
FIRST = HEADER_ROW + 1


def col(name: str) -> str:
    return get_column_letter(HEADERS.index(name) + 1)


def correct_formulas(r: int) -> dict[str, str]:
    """Row r's formulas (r > FIRST for the weight updates)."""
    c = {n: f"{col(n)}{r}" for n in HEADERS}
    p = {n: f"{col(n)}{r - 1}" for n in HEADERS}

    def d_o(k: int) -> str:
        a, t = c[f"a_o{k}"], c[f"t{k}"]
        return f"({a}-{t})*{a}*(1-{a})"

    def d_h(k: int) -> str:
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
        "E1": f"=0.5*({c['t1']}-{c['a_o1']})^2",
        "E2": f"=0.5*({c['t2']}-{c['a_o2']})^2",
        "E_tot": f"={c['E1']}+{c['E2']}",
        "∂E/∂w1": f"={d_h(1)}*{c['i1']}", "∂E/∂w2": f"={d_h(1)}*{c['i2']}",
        "∂E/∂w3": f"={d_h(2)}*{c['i1']}", "∂E/∂w4": f"={d_h(2)}*{c['i2']}",
        "∂E/∂w5": f"={d_o(1)}*{c['a_h1']}", "∂E/∂w6": f"={d_o(1)}*{c['a_h2']}",
        "∂E/∂w7": f"={d_o(2)}*{c['a_h1']}", "∂E/∂w8": f"={d_o(2)}*{c['a_h2']}",
    }  # fmt: skip
    if r > FIRST:
        for n in ("t1", "t2", "i1", "i2"):
            f[n] = f"={p[n]}"
        for k in range(1, 9):
            f[f"w{k}"] = f"={p[f'w{k}']}-$B$1*{p[f'∂E/∂w{k}']}"
    return f


Edit = Callable[[int, dict[str, str]], None]


def make(path: Path, rows: int = 8, eta: float | None = 0.5, edit: Edit | None = None,
         weights: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55),
         title: str = "Backprop") -> Path:
    """A workbook with ``rows`` epochs; ``edit(r, formulas)`` may plant a mistake in row r."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    if eta is not None:
        ws["A1"] = "learning rate"
        ws[ETA_CELL] = eta
    for j, h in enumerate(HEADERS, start=1):
        ws.cell(HEADER_ROW, j, h)
    first = dict(zip(("t1", "t2", "i1", "i2"), (0.5, 0.5, 0.05, 0.1), strict=True))
    first.update({f"w{k}": w for k, w in enumerate(weights, start=1)})
    for r in range(FIRST, FIRST + rows):
        f: dict[str, object] = dict(correct_formulas(r))
        if r == FIRST:
            f.update(first)
        if edit is not None:
            edit(r, f)  # type: ignore[arg-type]
        for n, v in f.items():
            ws[f"{col(n)}{r}"] = v
    wb.save(path)
    return path
