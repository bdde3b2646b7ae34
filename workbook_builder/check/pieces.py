"""Rows proved by their text when the network has kinks (ReLU, softmax): which quantities
pick a piece, the piece each row of the network's trace takes, whether a later row takes one
the recomputed rows do not, and the changed run's inputs chosen to take the other pieces."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from workbook_builder.check.netmodel import Model, base_and_example
from workbook_builder.network import topology
from workbook_builder.network.reference import Array


def kink_names(model: Model) -> set[str]:
    """The quantities whose sign (or order) picks a piece of a piecewise formula: a ReLU
    layer's sums and activations, softmax's output sums."""
    spec = model.spec
    out: set[str] = set()
    for name in model.exprs:
        base, _ = base_and_example(name)
        if spec.activation in ("relu", "leaky-relu") and re.fullmatch(r"(a_)?h\d+(_\d+)?",
                                                                        base):
            out.add(name)
        if spec.output_activation == "softmax" and re.fullmatch(r"o\d+", base):
            out.add(name)
    return out



def pieces(model: Model, start: Mapping[str, float], eta: float, rows: int
           ) -> dict[str, list[object]]:
    """Per kink (see kink_names), the piece each row of the network's trace takes (a ReLU
    sum's sign, the largest softmax output), the trace starting from ``start``'s examples,
    fixed biases and initial parameters."""
    from workbook_builder.network.equations import evaluate

    spec = model.spec
    eq, upd = topology.equations(spec), topology.updates(spec)
    first = topology.equations(spec, first=True)  # an optimizer's state starts from torch's
    # the values a sheet may leave out (an optimizer's hyperparameters typed into formulas)
    given = {g: np.asarray(start[g] if g in start else model.defaults[g])
             for g in (*model.given, *model.fixed)}
    params = {p: np.asarray(start[p]) for p in model.parameters}
    given["η"] = np.asarray(eta)
    trace: list[dict[str, Array]] = []
    with np.errstate(all="ignore"):
        for _ in range(rows):
            if trace:
                def look(n: str, lag: int, last: dict[str, Array] = trace[-1]) -> Array:
                    return last[n] if lag else given[n]

                params = {p: np.asarray(upd[p].value(look)) for p in upd}
            trace.append(evaluate(eq if trace else first, {**given, **params},
                                  trace[-1] if trace else None))
    keys: dict[str, list[object]] = {}
    for name in sorted(kink_names(model)):
        if re.fullmatch(r"(a_)?h.*", name):
            keys[name] = [bool(t[name] > 0) for t in trace]
    outputs = [n for n in eq if re.fullmatch(r"o\d+(\[\d+\])?", n)]
    if spec.output_activation == "softmax":
        for e in range(len(spec.examples)):
            sfx = topology.example_suffix(spec, e)
            mine = [n for n in outputs if base_and_example(n)[1] == sfx]
            keys[f"the largest output{' of example ' + str(e + 1) if sfx else ''}"] = [
                mine[int(np.argmax([float(t[n]) for n in mine]))] for t in trace]
    return keys



def uncovered_pieces(model: Model, run: dict[str, Array], recomputed: int, rows: int,
                     eta: float, changed_eta: float | None = None
                     ) -> tuple[str, int] | None:
    """Where the network's own trace from the sheet's values (initial parameters, examples,
    η) takes, below the recomputed rows, a piece that no recomputed row took at the given or
    (``changed_eta``: η of the changed run) at the changed inputs: in words, and how many
    rows must be recomputed so that every piece is; None when every later piece was checked."""
    try:
        start = {g: float(run[g][0]) for g in (*model.given, *model.fixed, *model.parameters)
                 if g in run or g not in model.defaults}
    except KeyError as missing:
        return f"{missing.args[0]} is not on the sheet", rows
    given = pieces(model, start, eta, rows)
    changed = pieces(model, model.changed, changed_eta, recomputed) \
        if changed_eta is not None else {}
    first: str | None = None
    needed = 0
    for name, seq in given.items():
        seen = set(seq[:recomputed]) | set(changed.get(name, []))
        for k in range(recomputed, rows):
            if seq[k] not in seen:
                seen.add(seq[k])
                needed = max(needed, k + 1)
                if first is None:
                    what = f"{name} turns {'positive' if seq[k] else '≤ 0'}" \
                        if isinstance(seq[k], bool) else f"{name} becomes {seq[k]}"
                    first = f"{what} at epoch {k}"
    return None if first is None else (first, needed)



def contrasting(model: Model, run: dict[str, Array]) -> dict[str, float]:
    """The changed run's values for a ReLU network: every hidden neuron on (its first-row sum
    of the first example > 0; where the changed values gave ≤ 0, its incoming weights and own
    bias are negated), layer by layer, so that no weight's gradient is 0 through a dead
    neuron in this run too — a wrong update of a weight behind a neuron that is off in the
    sheet's own run would otherwise be right by accident (w − η·0 = w + η·0). The sheet's own
    run, where neurons are off, computes the other piece. Other networks: ``model.changed``.
    (``run``, the sheet's own values, is kept for a choice that depends on them.)"""
    from workbook_builder.network.equations import evaluate

    spec = model.spec
    if spec.activation not in ("relu", "leaky-relu"):
        return model.changed
    changed = dict(model.changed)
    names = topology.neuron_names(spec)
    widx = topology.weight_index(spec)
    eq = topology.equations(spec)
    sfx = topology.example_suffix(spec, 0)
    for layer in range(1, len(spec.layers) - 1):
        with np.errstate(all="ignore"):
            values = evaluate(eq, {k: np.asarray(v) for k, v in changed.items()})
        for d, neuron in enumerate(names[layer]):
            if not bool(values[f"{neuron}{sfx}"] > 0):
                for w in widx[layer - 1][d]:
                    changed[w] = -changed[w]
                if f"b_{neuron}" in changed:
                    changed[f"b_{neuron}"] = -changed[f"b_{neuron}"]
    return changed
