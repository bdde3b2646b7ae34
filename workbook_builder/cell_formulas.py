"""Quantity -> Excel formula text, addressed only through layout.Refs.

FORMULAS is the one table from quantity to formula: the writer and the tests loop over its keys,
which equal reference.QUANTITIES. Each expression mirrors reference.step operation for operation.
"""

from __future__ import annotations

from collections.abc import Callable

from workbook_builder.layout import NOT_REACHED, Refs
from workbook_builder.reference import EXP_CAP

Builder = Callable[[Refs], str]


def sigmoid(x: str) -> str:
    """σ(x) = 1/(1+e^−x), with e^−x capped at e^709 (below Excel's EXP limit, ~e^709.78).

    The cap only acts where σ(x) < 1e-307 anyway, and it keeps EXP from overflowing into
    #NUM! however negative x gets. One function call fewer than the textbook stable form
    exp(min(x,0))/(1+exp(−|x|)), which matters to the formulas engine's load time.
    """
    return f"1/(1+EXP(MIN({EXP_CAP:g},-{x})))"


def weight(k: int) -> Builder:
    """Epoch 0: the initial weight; later: w_old − η·∂E/∂w_old from the row above."""
    w, g = f"w{k}", f"∂E/∂w{k}"
    return lambda r: r.param(w) if r.first else f"{r.prev(w)}-{r['η']}*{r.prev(g)}"


def net_input(wa: str, xa: str, wb: str, xb: str, bias: str) -> Builder:
    """wa·xa + wb·xb, plus the bias when the sheet has one."""

    def build(r: Refs) -> str:
        text = f"{r[wa]}*{r[xa]}+{r[wb]}*{r[xb]}"
        return text + f"+{r[bias]}" if r.has_bias else text

    return build


def activation(net: str) -> Builder:
    return lambda r: sigmoid(r[net])


def half_squared_error(t: str, a: str) -> Builder:
    return lambda r: f"0.5*({r[t]}-{r[a]})^2"


def output_delta(a: str, t: str) -> Builder:
    """δ_o = ∂E/∂a_o · ∂a_o/∂o = (a_o − t)·a_o·(1 − a_o)."""
    return lambda r: f"({r[a]}-{r[t]})*{r[a]}*(1-{r[a]})"


def hidden_delta(w_to_o1: str, w_to_o2: str, a: str) -> Builder:
    """δ_h = (δ_o1·w + δ_o2·w')·a_h·(1 − a_h): ∂E_total/∂a_h sums over both outputs."""
    return lambda r: f"({r['δ_o1']}*{r[w_to_o1]}+{r['δ_o2']}*{r[w_to_o2]})*{r[a]}*(1-{r[a]})"


def product(a: str, b: str) -> Builder:
    return lambda r: f"{r[a]}*{r[b]}"


FORMULAS: dict[str, Builder] = {
    **{f"w{k}": weight(k) for k in range(1, 9)},
    "h1": net_input("w1", "i1", "w2", "i2", "b1"),
    "a_h1": activation("h1"),
    "h2": net_input("w3", "i1", "w4", "i2", "b1"),
    "a_h2": activation("h2"),
    "o1": net_input("w5", "a_h1", "w6", "a_h2", "b2"),
    "a_o1": activation("o1"),
    "o2": net_input("w7", "a_h1", "w8", "a_h2", "b2"),
    "a_o2": activation("o2"),
    "E1": half_squared_error("t1", "a_o1"),
    "E2": half_squared_error("t2", "a_o2"),
    "E_total": lambda r: f"{r['E1']}+{r['E2']}",
    "δ_o1": output_delta("a_o1", "t1"),
    "δ_o2": output_delta("a_o2", "t2"),
    "δ_h1": hidden_delta("w5", "w7", "a_h1"),
    "δ_h2": hidden_delta("w6", "w8", "a_h2"),
    "∂E/∂w1": product("δ_h1", "i1"),
    "∂E/∂w2": product("δ_h1", "i2"),
    "∂E/∂w3": product("δ_h2", "i1"),
    "∂E/∂w4": product("δ_h2", "i2"),
    "∂E/∂w5": product("δ_o1", "a_h1"),
    "∂E/∂w6": product("δ_o1", "a_h2"),
    "∂E/∂w7": product("δ_o2", "a_h1"),
    "∂E/∂w8": product("δ_o2", "a_h2"),
}


def formula(name: str, refs: Refs) -> str:
    """The formula text (with its leading ``=``) of a quantity at one epoch's row."""
    return "=" + FORMULAS[name](refs)


# --- text that names a value ------------------------------------------------------------
def labelled(prefix: str, value_cell: str) -> str:
    """Text followed by a cell's number, e.g. ``="…, η = "&$C$3``: a title that follows the
    cell. ``&`` writes the number as Excel's General format does (``general``)."""
    return '="' + prefix.replace('"', '""') + '"&' + value_cell


def general(value: float) -> str:
    """A number as ``labelled``'s ``&`` turns it into text: 15 significant digits, no trailing
    zeros; the cached value of such a title."""
    return f"{value:.15g}".replace("e", "E")


# --- the Summary sheet --------------------------------------------------------------------
def first_epoch_below(epochs_range: str, e_range: str, start_cell: str, fraction: float) -> str:
    """First epoch whose E_total is below fraction·start, or "not reached".

    MINIFS over the epoch column: the plain, non-array form that Excel 2019+, LibreOffice
    and the formulas engine all evaluate alike (MATCH(TRUE, range<x, 0) needs an array entry).
    """
    criterion = f'"<"&({fraction:g}*{start_cell})'
    return (
        f"=IF(COUNTIF({e_range},{criterion})=0,\"{NOT_REACHED}\","
        f"_xlfn.MINIFS({epochs_range},{e_range},{criterion}))"
    )
