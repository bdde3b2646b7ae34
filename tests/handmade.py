"""A hand-made workbook of any network, laid out the way a student lays one out, not the builder:
everything on one sheet, the examples in a small table above (``x1 x2 y1`` over one row per
example), η beside an "alpha" label, the main table lower down with the student's own spellings
(``out h1 (ex 2)``, ``dE/dw3``, ``bias h1``, ``Loss``), the columns in another order (each
example's loss right after its outputs, the gradients before the δ terms) and no δ columns at all
where ``deltas`` is False (the gradients then written out in full). With an optimizer its state
follows the gradients (``velocity w1``, ``m w1``, ``m_hat w1``, ``cache w1``, Adam's step as
``t``), its hyperparameters in labelled cells under η (``beta1``, ``epsilon``, ``momentum``,
``rho``) or, with ``typed``, typed into the formulas themselves.

The formulas are the network's equations printed with this layout's cell addresses.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

from workbook_builder.network import topology
from workbook_builder.network.equations import Expr
from workbook_builder.network.topology import NetSpec

ETA_CELL = "B2"
EXAMPLES_ROW = 4  # the examples' header row; one row per example below


#: the student's labels of an optimizer's hyperparameters
HYPER_LABELS = {"μ": "momentum", "α": "rho", "β1": "beta1", "β2": "beta2", "ε": "epsilon"}


def spelling(name: str, optimizer: str = "sgd") -> str:
    """The student's header for a quantity."""
    if name == "step":
        return "t"
    state, _, param = name.partition("_")
    if param and state in ("m", "v", "m̂", "v̂", "s"):
        word = {"m̂": "m_hat", "v̂": "v_hat", "s": "cache"}.get(state, state)
        if state == "v" and optimizer in ("momentum", "nesterov"):
            word = "velocity"
        return f"{word} {param}"
    base, _, rest = name.partition("[")
    example = f" (ex {rest[:-1]})" if rest else ""
    if base.startswith("a_"):
        return f"out {base[2:]}{example}"
    if base.startswith("∂E/∂b_"):
        return f"dE/db {base[6:]}"
    if base.startswith("∂E/∂"):
        return f"dE/d{base[4:]}"
    if base.startswith("b_"):
        return f"bias {base[2:]}"
    if base == "E_total":
        return "Loss"
    if base.startswith("δ_"):
        return f"delta {base[2:]}{example}"
    return f"{base}{example}"


def write(spec: NetSpec, path: Path, epochs: int = 8, eta: float = 0.5,
          deltas: bool = True, typed: bool = False,
          planted: dict[str, Expr] | None = None, inline: tuple[str, ...] = ()) -> Path:
    """``planted``: quantities whose later rows (every row but the first) compute this
    tree instead of the network's: a planted mistake. ``inline``: columns left out, their
    formulas written where they are used (Adam's ``step`` as the epoch + 1)."""
    eq = topology.equations(spec)
    first_eq = topology.equations(spec, first=True)
    upd = topology.updates(spec)
    planted = planted or {}
    params = topology.parameters(spec)
    n_in, n_out = spec.layers[0], spec.layers[-1]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "My backprop"
    ws["A1"] = f"Homework: backprop of a {'-'.join(map(str, spec.layers))} network"
    ws["A2"], ws[ETA_CELL] = "alpha", eta
    given: dict[str, str] = {}
    heads = [f"x{j}" for j in range(1, n_in + 1)] + [f"y{k}" for k in range(1, n_out + 1)]
    ws.cell(EXAMPLES_ROW, 1, "example")
    for c, h in enumerate(heads, start=2):
        ws.cell(EXAMPLES_ROW, c, h)
    for e, (x, t) in enumerate(spec.examples):
        r = EXAMPLES_ROW + 1 + e
        ws.cell(r, 1, e + 1)
        for c, v in enumerate((*x, *t), start=2):
            ws.cell(r, c, v)
            kind, j = ("i", c - 1) if c - 2 < n_in else ("t", c - 1 - n_in)
            given[f"{kind}{j}{topology.example_suffix(spec, e)}"] = \
                f"${get_column_letter(c)}${r}"
    hyper = topology.hyperparameters(spec)
    numbers: dict[str, float] = {}
    for k, (h, value) in enumerate(hyper.items()):  # under η, in column D: label, value
        if typed:
            numbers[h] = value
            continue
        ws.cell(1 + k, 4, HYPER_LABELS[h])
        ws.cell(1 + k, 5, value)
        given[h] = f"$E${1 + k}"
    bias_row = EXAMPLES_ROW + len(spec.examples) + 2
    for layer, name in enumerate(n for n in topology.constants(spec) if n.startswith("b")):
        ws.cell(bias_row + layer, 1, f"bias{layer + 1}")
        ws.cell(bias_row + layer, 2, spec.biases[layer])  # type: ignore[index]
        given[name] = f"$B${bias_row + layer}"
    # the student's column order
    per_example = [n for n in eq if "[" in n or (len(spec.examples) == 1 and not
                                                 n.startswith(("δ_", "∂E/∂", "E_total")))]
    columns = ["epoch", *params, *per_example, "E_total",
               *(n for n in eq if n.startswith("∂E/∂")),
               *((n for n in eq if n.startswith("δ_") and n not in per_example) if deltas
                 else ()),
               *(n for n in eq if n == "step" or n.startswith(("m_", "v_", "m̂_", "v̂_", "s_")))]
    if not deltas:
        columns = [c for c in columns if not c.startswith("δ_")]
    columns = [c for c in dict.fromkeys(columns) if c not in inline]
    header = bias_row + 4
    col = {name: k for k, name in enumerate(columns, start=1)}
    for name, k in col.items():
        ws.cell(header, k, spelling(name, spec.optimizer.name))

    def text(expr: Expr, row: int) -> str:
        def ref(name: str, lag: int) -> str:
            if name in col:
                return f"{get_column_letter(col[name])}{row - lag}"
            if name == "η":
                return "$B$2"
            if name in given:
                return given[name]
            if name in numbers:
                return repr(numbers[name])
            if name == "step":  # t = the epoch + 1
                return f"({get_column_letter(col['epoch'])}{row - lag}+1)"
            # a δ this sheet does not show (Adam's m̂), written out, in the row it belongs to
            return f"({eq[name].excel(lambda n, more: ref(n, lag + more))})"
        return "=" + expr.excel(ref)

    initial = topology.parameters(spec)
    for epoch in range(epochs):
        r = header + 1 + epoch
        ws.cell(r, col["epoch"], epoch)
        for p in params:
            ws.cell(r, col[p], initial[p] if epoch == 0 else
                    text(planted.get(p, upd[p]), r))
        for name in columns:
            if name in eq:
                tree = first_eq[name] if epoch == 0 else planted.get(name, eq[name])
                ws.cell(r, col[name], text(tree, r))
    wb.save(path)
    return path
