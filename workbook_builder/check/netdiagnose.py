"""What a wrong column of any network's sheet computes instead: the slips a class makes.

Besides the slips of names (audit.hypotheses: one name where another belongs, two swapped),
these are slips of concept, each built from the network's own equation trees with one part
changed: σ′ = a(1 − a) written where tanh′ = 1 − a² belongs (or the other way), σ′ left out of
a sigmoid output or kept where cross-entropy cancels it, softmax outputs treated as separate
sigmoids, a batch gradient that takes one example's term, the mean where the loss is a sum
(off by the number of examples or outputs), an update with the wrong sign, a bias that never
learns.
"""

from __future__ import annotations

import dataclasses

from workbook_builder.check.netmodel import Model, base_and_example, rule_of
from workbook_builder.network import topology
from workbook_builder.network.equations import Bin, Expr, Var
from workbook_builder.network.reference import Rule, sigmoid
from workbook_builder.network.spec import SpecError

Hypothesis = tuple[Rule, dict[str, str], str]

#: how each activation's derivative is written, for the words of a diagnosis
SLOPE = {"sigmoid": "σ′ = a(1 − a)", "tanh": "tanh′ = 1 − a²",
         "relu": "ReLU′ (1 where the sum > 0, else 0)",
         "leaky-relu": "leaky ReLU′ (1 where the sum > 0, else 0.01)",
         "linear": "no derivative factor (linear)"}


def _terms(e: Expr) -> list[Expr]:
    """A sum's terms, left to right (total() builds ((t1 + t2) + t3))."""
    if isinstance(e, Bin) and e.op == "+":
        return _terms(e.a) + _terms(e.b)
    return [e]


def _equations(spec: topology.NetSpec, **change: str) -> dict[str, Expr] | None:
    try:
        return topology.equations(dataclasses.replace(spec, **change))  # type: ignore[arg-type]
    except SpecError:
        return None


def _with(model: Model, name: str, overrides: dict[str, Expr]) -> Rule | None:
    """``name``'s rule where the quantities of ``overrides`` have other equations (used for
    ``name`` itself when it is one of them, and inline where the sheet does not show them)."""
    assert model.spec is not None
    eq = topology.equations(model.spec)
    inline = {**eq, **overrides}
    expr = overrides.get(name, model.exprs.get(name))
    if expr is None:
        return None
    return rule_of(expr, inline)


def concept_hypotheses(model: Model, name: str) -> list[Hypothesis]:
    spec = model.spec
    assert spec is not None
    out: list[Hypothesis] = []
    base, sfx = base_and_example(name)
    n_ex, n_out = len(spec.examples), spec.layers[-1]
    if name in model.parameters:
        gradient = f"∂E/∂{name}"
        out.append((lambda v: v.prev(name) + v["η"] * v.prev(gradient), {},
                    f"adds η·∂E/∂{name} instead of subtracting it (sign error)"))
        never = "the bias never learns, though the network's biases are trained" \
            if name.startswith("b_") else "the update is missing"
        out.append((lambda v: v.prev(name), {}, f"never changes: {never}"))
    if base.startswith("a_"):
        neuron = base[2:]
        kind = spec.output_activation if neuron.startswith("o") else spec.activation
        z = neuron + sfx
        if kind == "sigmoid":
            out.append((lambda v: sigmoid(-v[z]), {},
                        f"computes σ(−{z}) = 1 − σ({z}): the sign inside EXP is flipped "
                        f"(1/(1+EXP(-{z})) is σ)"))
        if kind != "softmax":  # another activation than the network's
            layer = "output" if neuron.startswith("o") else "hidden"
            for alt in topology.HIDDEN_ACTIVATIONS:
                if alt != kind:
                    out.append((rule_of(topology.activate(alt, Var(z)), {}), {},
                                f"computes {alt} of {z}: the network's {layer} activation "
                                f"is {kind}"))
    eq = topology.equations(spec)
    touches = name.startswith(("δ_", "∂E/∂"))
    if touches and len(spec.layers) > 2:  # another activation's derivative in the hidden δ
        for alt, text in SLOPE.items():
            if alt == spec.activation:
                continue
            other = _equations(spec, activation=alt)
            if other is None:
                continue
            hidden = {n: e for n, e in other.items() if n.startswith("δ_h")}
            if (rule := _with(model, name, hidden)) is not None:
                out.append((rule, {}, f"uses {text} where {SLOPE[spec.activation]} belongs"))
    if touches:
        for overrides, text in _output_slips(spec, eq):
            if (rule := _with(model, name, overrides)) is not None:
                out.append((rule, {}, text))
    if name.startswith("∂E/∂") and n_ex > 1:  # one example's term of the batch gradient
        terms = _terms(eq[name])
        if len(terms) == n_ex:
            for k, term in enumerate(terms):
                out.append((rule_of(term, eq), {},
                            f"holds example {k + 1}'s term only: the full-batch gradient sums "
                            f"the {n_ex} examples' terms"))
    out += [(_scaled(model.rules[name], f), {}, text) for f, text in _factors(n_ex, n_out)]
    return out


def _output_slips(spec: topology.NetSpec, eq: dict[str, Expr]
                  ) -> list[tuple[dict[str, Expr], str]]:
    """Output δ written as another output activation or loss would have it."""
    names = [n for n in eq if n.startswith("δ_o")]
    out: list[tuple[dict[str, Expr], str]] = []
    act, loss = spec.output_activation, spec.loss
    if act == "softmax":
        for alt_loss in dict.fromkeys(("half-se", loss)):
            other = _equations(spec, output_activation="sigmoid", loss=alt_loss)
            if other is not None:
                out.append(({n: other[n] for n in names}, "treats each softmax output as a "
                            "separate sigmoid (a(1 − a) of its own): the softmax's other "
                            "outputs change the loss too"
                            + (" (with cross-entropy δ_o = a − t)" if loss == "ce" else "")))
    elif act == "sigmoid" and loss != "ce":
        other = _equations(spec, output_activation="linear")
        if other is not None:
            out.append(({n: other[n] for n in names},
                        "leaves out σ′ = a(1 − a) of the output neuron"))
    elif act == "sigmoid":  # binary cross-entropy: σ′ cancels
        extra: dict[str, Expr] = {}
        for n in names:
            base, sfx = base_and_example(n)
            a = Var(f"a_{base[2:]}{sfx}")
            extra[n] = eq[n] * a * (1 - a)
        out.append((extra, "multiplies by σ′ = a(1 − a), which cross-entropy cancels "
                    "(δ_o = a − t)"))
    return out


def _scaled(rule: Rule, factor: float) -> Rule:
    return lambda v: factor * rule(v)


def _factors(n_ex: int, n_out: int) -> list[tuple[float, str]]:
    """Factors a right formula may be off by, with the words for each (merged where one
    factor has several readings)."""
    reasons: dict[float, list[str]] = {2.0: ["is the ½ missing?"], 0.5: ["half the value"],
                                       -1.0: ["the wrong sign"]}
    seen: set[int] = set()
    for count, what in ((n_ex, "examples"), (n_out, "outputs"), (n_ex * n_out,
                                                                "examples × outputs")):
        if count > 1 and count not in seen:
            seen.add(count)
            reasons.setdefault(float(count), []).append(
                f"a sum over the {count} {what} where the loss takes their mean?")
            reasons.setdefault(1.0 / count, []).append(
                f"the mean over the {count} {what} where the loss takes their sum?")
    out = []
    for f, why in reasons.items():
        if f == -1.0:
            out.append((f, "the right value with the wrong sign"))
        elif f > 1:
            times = "twice" if f == 2 else f"{f:g} times"
            out.append((f, f"{times} the right value (" + "; ".join(why) + ")"))
        else:
            out.append((f, f"the right value divided by {1 / f:g} (" + "; ".join(why) + ")"))
    return out

