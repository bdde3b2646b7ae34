"""What a wrong column of any network's sheet computes instead: the slips a class makes.

Besides the slips of names (audit.hypotheses: one name where another belongs, two swapped),
these are slips of concept, each built from the network's own equation trees with one part
changed, for the course's 2-2-2 network and every other alike: a hidden δ that leaves out one
of the paths it sums or gives one the wrong sign, σ′ = a(1 − a) written where tanh′ = 1 − a²
belongs (or the other way), σ′ left out of a sigmoid output or kept where cross-entropy
cancels it, softmax outputs treated as separate sigmoids, a batch gradient that takes one
example's term, the mean where the loss is a sum (off by the number of examples or outputs),
an update with the wrong sign, a bias that never learns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from workbook_builder.check.netmodel import (
    Model,
    Rule,
    base_and_example,
    first_and_later,
    rule_of,
)
from workbook_builder.network import topology
from workbook_builder.network.equations import Bin, Call, Expr, If, Neg, Var, square, total
from workbook_builder.network.optimizers import Optimizer, update
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
    eq = topology.equations(model.spec)
    inline = {**eq, **overrides}
    expr = overrides.get(name, model.exprs.get(name))
    if expr is None:
        return None
    return rule_of(expr, inline)


def _replaced(e: Expr, old: Expr, new: Expr) -> Expr:
    """``e`` with the node ``old`` (by identity) replaced by ``new``."""
    if e is old:
        return new
    if isinstance(e, Bin):
        return Bin(e.op, _replaced(e.a, old, new), _replaced(e.b, old, new))
    if isinstance(e, Neg):
        return Neg(_replaced(e.a, old, new))
    if isinstance(e, Call):
        return Call(e.fn, tuple(_replaced(a, old, new) for a in e.args))
    if isinstance(e, If):
        return dataclasses.replace(e, test=_replaced(e.test, old, new),
                                   yes=_replaced(e.yes, old, new), no=_replaced(e.no, old, new))
    return e


def _path_sum(e: Expr) -> Expr | None:
    """The sum over the paths in a hidden δ's tree: the first node whose terms are each
    δ × weight (δ_o1·w5 + δ_o2·w7), with at least two of them."""
    terms = _terms(e)
    if len(terms) > 1 and all(isinstance(t, Bin) and t.op == "*" and isinstance(t.a, Var)
                              and t.a.name.startswith("δ_") and isinstance(t.b, Var)
                              for t in terms):
        return e
    children: tuple[Expr, ...] = ()
    if isinstance(e, Bin):
        children = (e.a, e.b)
    elif isinstance(e, Neg):
        children = (e.a,)
    elif isinstance(e, Call):
        children = tuple(e.args)
    elif isinstance(e, If):
        children = (e.test, e.yes, e.no)
    for child in children:
        if (found := _path_sum(child)) is not None:
            return found
    return None


def _reads(expr: Expr, eq: Mapping[str, Expr], seen: set[str] | None = None) -> set[str]:
    """The δ terms ``expr`` computes through, directly or through other δ terms."""
    seen = set() if seen is None else seen
    for n, lag in expr.names():
        if not lag and n.startswith("δ_") and n not in seen and n in eq:
            seen.add(n)
            _reads(eq[n], eq, seen)
    return seen


def _path_slips(model: Model, name: str, eq: Mapping[str, Expr]) -> list[Hypothesis]:
    """A hidden δ that ``name`` computes through (or is) with one path left out, or with
    one path's sign flipped: ∂E_total/∂a_h sums over every neuron a_h feeds."""
    spec = model.spec
    expr = model.exprs.get(name)
    if expr is None:
        return []
    through = _reads(expr, eq) | ({name} if name.startswith("δ_") else set())
    out: list[Hypothesis] = []
    for d in sorted(through, key=list(eq).index):
        tree = eq[d]
        paths = _path_sum(tree)
        if d.startswith("δ_o") or paths is None:
            continue
        terms = _terms(paths)
        base, sfx = base_and_example(d)
        neuron = base[2:]
        outputs = all(isinstance(t, Bin) and isinstance(t.a, Var) and t.a.name.startswith("δ_o")
                      for t in terms)
        feeds = ("both outputs" if len(terms) == 2 else f"all {len(terms)} outputs") \
            if outputs else f"all {len(terms)} neurons of the next layer"
        for k, term in enumerate(terms):
            assert isinstance(term, Bin) and isinstance(term.a, Var) and isinstance(term.b, Var)
            via = base_and_example(term.a.name)[0][2:]
            rest = total([t for j, t in enumerate(terms) if j != k])
            flipped = total([-t if j == k else t for j, t in enumerate(terms)])
            if (rule := _with(model, name, {d: _replaced(tree, paths, rest)})) is not None:
                out.append((rule, {}, f"leaves out the path through {via} "
                            f"({term.a.name}·{term.b.name}): ∂E_total/∂a_{neuron}{sfx} sums "
                            f"over {feeds}"))
            if (rule := _with(model, name, {d: _replaced(tree, paths, flipped)})) is not None:
                if via.startswith("o") and spec.loss != "ce":
                    t, a = f"t{via[1:]}{sfx}", f"a_{via}{sfx}"
                    why = f": ({t} − {a}) where ({a} − {t}) belongs"
                else:
                    why = ""
                out.append((rule, {}, f"the path through {via} has the wrong sign{why}"))
    return out


def concept_hypotheses(model: Model, name: str) -> list[Hypothesis]:
    """The slips of concept for ``name`` (see the module's docstring), most specific first."""
    spec = model.spec
    out: list[Hypothesis] = []
    base, sfx = base_and_example(name)
    n_ex, n_out = len(spec.examples), spec.layers[-1]
    out += optimizer_slips(model, name)
    if name in model.parameters and spec.optimizer.name != "sgd":
        step = model.exprs[name]
        out.append((rule_of(2 * Var(name, 1) - step, {}), {},
                    f"adds the {spec.optimizer.name} step instead of subtracting it (sign "
                    "error)"))
    elif name in model.parameters:
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
            out.append((rule_of(topology.activate("sigmoid", -Var(z)), {}), {},
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
        out += _path_slips(model, name, eq)
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


#: momentum written the other common way (CS231n's): the velocity holds the step itself
CLASSIC = ("the other momentum form, v = μ·v − η·∂E/∂w and w = w + v (the velocity holds "
           "−η times torch's): torch.optim's, which the sheet is judged by, is v = μ·v + "
           "∂E/∂w and w = w − η·v; the weights come out the same while η does not change")


def _sqrt(x: Expr) -> Expr:
    return Call("SQRT", (x,))


def optimizer_slips(model: Model, name: str) -> list[Hypothesis]:
    """The slips of an optimizer's state and update (the planted mistakes of a class): a
    forgotten bias correction, β1 and β2 swapped, ε inside the square root, a velocity
    without its decay (or averaged), α and 1 − α swapped, a step along the gradient where
    the optimizer's belongs, another optimizer's step."""
    spec = model.spec
    o = spec.optimizer.name
    if o == "sgd":
        return []
    eq = topology.equations(spec)
    first = {**eq, **model.first_exprs}

    def rule(later: Expr, head: Expr | None = None) -> Rule:
        r = rule_of(later, eq)
        return r if head is None else first_and_later(rule_of(head, first), r)

    out: list[Hypothesis] = []
    swap = {"β1": "β2", "β2": "β1"}
    eta, eps = Var("η"), Var("ε")
    kind, _, p = name.partition("_")
    if name in model.parameters:
        old, g = Var(name, 1), Var(f"∂E/∂{name}", 1)
        if o == "adam":
            m, v = Var(f"m_{name}", 1), Var(f"v_{name}", 1)
            out.append((rule(old - eta * (m / (_sqrt(v) + eps))), {},
                        "uses m and v where the bias-corrected m̂ = m/(1 − β1^t) and "
                        "v̂ = v/(1 − β2^t) belong: the bias correction is forgotten"))
            out.append((rule(old - eta * (Var(f"m̂_{name}", 1)
                                          / _sqrt(Var(f"v̂_{name}", 1) + eps))), {},
                        "puts ε inside the square root: √(v̂ + ε) where √v̂ + ε belongs "
                        "(torch.optim.Adam)"))
            out.append((model.rules[name], swap, "β1 and β2 swapped"))
        elif o == "rmsprop":
            out.append((rule(old - eta * (g / _sqrt(Var(f"s_{name}", 1) + eps))), {},
                        "puts ε inside the square root: √(s + ε) where √s + ε belongs "
                        "(torch.optim.RMSprop)"))
        else:
            other = "nesterov" if o == "momentum" else "momentum"
            out.append((rule(update(Optimizer(other), name)), {},
                        f"takes {other}'s step: the sheet's optimizer is {o}"))
            if o == "momentum":
                out.append((rule(old + Var(f"v_{name}", 1)), {}, CLASSIC))
        out.append((rule(old - eta * g), {}, f"steps along ∂E/∂{name} (plain gradient "
                    f"descent), not by the {o} state"))
        return out
    if kind in ("m̂", "v̂"):
        beta = "β1" if kind == "m̂" else "β2"
        out.append((rule(Var(f"{kind[0]}_{p}")), {},
                    f"{kind} = {kind[0]}: the bias correction 1/(1 − {beta}^t) is forgotten"))
        out.append((model.rules[name], swap, "β1 and β2 swapped: "
                    f"{kind} divides by 1 − {swap[beta]}^t"))
    elif o == "adam" and kind in ("m", "v"):
        beta = "β1" if kind == "m" else "β2"
        out.append((model.rules[name], swap, f"β1 and β2 swapped: {kind} decays with "
                    f"{swap[beta]}, where {beta} belongs"))
    elif kind == "v":  # momentum's velocity
        g, mu = Var(f"∂E/∂{p}"), Var("μ")
        out.append((rule(Var(name, 1) + g, g), {}, "the velocity without its decay: "
                    "v = v(row above) + ∂E/∂w where v = μ·v(row above) + ∂E/∂w"))
        if o == "momentum":
            out.append((rule(mu * Var(name, 1) - eta * g, -eta * g), {}, CLASSIC))
        out.append((rule(mu * Var(name, 1) + (1 - mu) * g, (1 - mu) * g), {},
                    "a moving average μ·v + (1 − μ)·∂E/∂w: torch's momentum adds the whole "
                    "gradient (v = μ·v + ∂E/∂w)"))
    elif kind == "s":
        g2, alpha = square(Var(f"∂E/∂{p}")), Var("α")
        out.append((rule((1 - alpha) * Var(name, 1) + alpha * g2, alpha * g2), {},
                    "α and 1 − α swapped: s = (1 − α)·s(row above) + α·g² where "
                    "s = α·s(row above) + (1 − α)·g² belongs"))
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

