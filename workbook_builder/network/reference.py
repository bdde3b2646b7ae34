"""The 2-2-2 network's names and rules as the 2-2-2 reading of ``check`` applies them (RULES,
Values), and its error-scale bound (tolerances of the 2-2-2 proofs).

The builder computes and writes every network, 2-2-2 included, from the engine's expression
trees (topology.py); the checker's own 2-2-2 rules move onto the same trees next (issue 27,
slice 2). tests/test_topology.py proves RULES equal the trees' values on the course's network.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from workbook_builder.network.spec import Network

Array: TypeAlias = npt.NDArray[np.float64]
#: quantity name (the sheet's column header) -> one float64 value per epoch
Trace: TypeAlias = dict[str, Array]

WEIGHTS = tuple(f"w{k}" for k in range(1, 9))
GRADIENTS = tuple(f"∂E/∂w{k}" for k in range(1, 9))
FORWARD = ("h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2", "E1", "E2", "E_total")
#: δ terms: ∂E_total/∂(net input) of each neuron; they make the chain rule visible
DELTAS = ("δ_o1", "δ_o2", "δ_h1", "δ_h2")
#: every computed quantity, in the order the sheet shows them
QUANTITIES = WEIGHTS + FORWARD + DELTAS + GRADIENTS


EXP_CAP = 709.0  # largest whole exponent that Excel's EXP and float64 both accept

#: 40 significant digits (≈133 bits) for e^x before one rounding to float64. Why not np.exp:
#: NumPy picks its exp kernel by CPU (AVX-512 or not) and the kernels differ in the last bit,
#: so the cached values, and the file's bytes, would depend on the machine. libmpdec (behind
#: ``decimal``) is integer software arithmetic, and float(Decimal) rounds correctly, so this
#: gives the same double on every CPU; with 80 bits to spare over a double's 53 it is the
#: correctly rounded e^x unless e^x lies within 1e-40 of a midpoint between two doubles.
_EXP_CONTEXT = decimal.Context(prec=40)


def exp(x: float) -> float:
    """e^x for one float, the same double on every CPU (see ``_EXP_CONTEXT``)."""
    return float(_EXP_CONTEXT.exp(decimal.Decimal(x)))


_exp_elementwise = np.frompyfunc(exp, 1, 1)


def sigmoid(x: Array) -> Array:
    """Logistic sigmoid 1/(1+e^−x) that never overflows: e^−x is capped at e^709.

    The cap acts only where σ(x) < 1e-307; the sheet writes the same expression, so the
    reference and the spreadsheet engines round alike. e^−x comes from ``exp`` (CPU-independent,
    about 15 µs a value); the division and the sum are IEEE operations, exact on any CPU.
    """
    capped = np.minimum(EXP_CAP, -np.asarray(x, dtype=np.float64))
    return 1.0 / (1.0 + np.asarray(_exp_elementwise(capped), dtype=np.float64))


class Values:
    """Quantity -> values down the rows, read by the rules; optionally with names substituted
    (the check's diagnoses try "a_h1 where a_h2 belongs" by renaming)."""

    def __init__(self, data: dict[str, Array], n: int | tuple[int, ...],
                 rename: dict[str, str] | None = None,
                 defaults: dict[str, float] | None = None):
        self.data, self.n, self.rename = data, n, rename or {}
        #: names read as this value where ``data`` has none (the 2-2-2 network's b1 and b2: a
        #: sheet without biases has none)
        self.defaults = {"b1": 0.0, "b2": 0.0} if defaults is None else defaults
        self.read: list[str] = []

    def __getitem__(self, name: str) -> Array:
        self.read.append(name)
        name = self.rename.get(name, name)
        if name not in self.data and name in self.defaults:
            return np.full(self.n, self.defaults[name])
        return self.data[name]

    def prev(self, name: str) -> Array:
        """The row above (NaN for the first row, which has none)."""
        return np.concatenate([[np.nan], self[name][:-1]])


Rule = Callable[[Values], Array]


def d_o(v: Values, k: int) -> Array:
    """δ_o = ∂E/∂a_o · ∂a_o/∂o = (a_o − t)·a_o·(1 − a_o)."""
    a = v[f"a_o{k}"]
    return (a - v[f"t{k}"]) * a * (1 - a)


def d_h(v: Values, k: int) -> Array:
    """δ_h = (δ_o1·w + δ_o2·w')·a_h·(1 − a_h): ∂E_total/∂a_h sums over both outputs; the
    hidden deltas use this epoch's (old) w5..w8, so all eight gradients come from one point."""
    a = v[f"a_h{k}"]
    w_to_o1, w_to_o2 = ("w5", "w7") if k == 1 else ("w6", "w8")
    return (d_o(v, 1) * v[w_to_o1] + d_o(v, 2) * v[w_to_o2]) * a * (1 - a)


def update(k: int, sign: float = -1.0) -> Rule:
    """Gradient descent: the row above's weight minus η times its gradient."""
    return lambda v: v.prev(f"w{k}") + sign * v["η"] * v.prev(f"∂E/∂w{k}")


#: The network's equations, one home: each quantity from its upstream values. The reference's
#: trace evaluates them in QUANTITIES order; `check` applies each to a sheet's own upstream
#: cells, so one wrong column is found once. Gradients come from a_o, a_h, w, t and i (not from
#: δ columns), so a sheet without δ columns can be checked too. The operations and their order
#: mirror the sheet's formulas (topology.equations), so engines round alike.
RULES: dict[str, Rule] = {
    **{f"w{k}": update(k) for k in range(1, 9)},
    "h1": lambda v: v["w1"] * v["i1"] + v["w2"] * v["i2"] + v["b1"],
    "h2": lambda v: v["w3"] * v["i1"] + v["w4"] * v["i2"] + v["b1"],
    "a_h1": lambda v: sigmoid(v["h1"]),
    "a_h2": lambda v: sigmoid(v["h2"]),
    "o1": lambda v: v["w5"] * v["a_h1"] + v["w6"] * v["a_h2"] + v["b2"],
    "o2": lambda v: v["w7"] * v["a_h1"] + v["w8"] * v["a_h2"] + v["b2"],
    "a_o1": lambda v: sigmoid(v["o1"]),
    "a_o2": lambda v: sigmoid(v["o2"]),
    "E1": lambda v: 0.5 * (v["t1"] - v["a_o1"]) ** 2,
    "E2": lambda v: 0.5 * (v["t2"] - v["a_o2"]) ** 2,
    "E_total": lambda v: v["E1"] + v["E2"],
    "δ_o1": lambda v: d_o(v, 1),
    "δ_o2": lambda v: d_o(v, 2),
    "δ_h1": lambda v: d_h(v, 1),
    "δ_h2": lambda v: d_h(v, 2),
    "∂E/∂w1": lambda v: d_h(v, 1) * v["i1"],
    "∂E/∂w2": lambda v: d_h(v, 1) * v["i2"],
    "∂E/∂w3": lambda v: d_h(v, 2) * v["i1"],
    "∂E/∂w4": lambda v: d_h(v, 2) * v["i2"],
    "∂E/∂w5": lambda v: d_o(v, 1) * v["a_h1"],
    "∂E/∂w6": lambda v: d_o(v, 1) * v["a_h2"],
    "∂E/∂w7": lambda v: d_o(v, 2) * v["a_h1"],
    "∂E/∂w8": lambda v: d_o(v, 2) * v["a_h2"],
}
#: the example a sheet learns (labelled cells or columns)
EXAMPLE = ("i1", "i2", "t1", "t2")


def error_scale(tr: Trace, network: Network, learning_rate: float) -> Trace:
    """Per quantity and epoch, the size of what its formula combines, for tolerances.

    Two correct engines differ by rounding: each operation is off by a relative ε (2^-53) of
    its operands, not of its result. Where terms cancel, the result is far smaller than its
    operands and a tolerance relative to it is wrong: E1 = ½(t1 − a_o1)² near the target
    (a_o1 ≈ t1) or a gradient through a_o − t. This returns, for every quantity, a bound on
    how far an error of relative size ε in every operand (this epoch's and, through the
    weights, earlier epochs') moves the result, divided by ε: engines agree when
    |a − b| ≤ rtol × scale, rtol a small multiple of ε that also covers growth over epochs.

    Built by propagating operand magnitudes through the network's equations (each line
    mirrors ``step``): a sum scales as the sum of its terms' scales, a product as the product
    of its factors' scales, σ(x) as σ + σ(1 − σ)·scale(x), and (1 − a) as 1 + a.
    """
    a = {q: np.abs(v) for q, v in tr.items()}
    i1, i2 = (abs(x) for x in network.inputs)
    t1, t2 = (abs(x) for x in network.targets)
    b1, b2 = (abs(x) for x in network.biases) if network.biases is not None else (0.0, 0.0)
    s: Trace = {}
    for k in range(1, 9):  # w_new = w − η·g: both terms, from the row above
        prev = a[f"w{k}"][:-1] + learning_rate * a[f"∂E/∂w{k}"][:-1]
        s[f"w{k}"] = np.concatenate([a[f"w{k}"][:1], prev])

    def sig(value: Array, net_scale: Array) -> Array:
        return value + value * (1 + value) * net_scale

    def delta_o(act: str, t: float) -> Array:
        return (t + s[act]) * s[act] * (1 + s[act])

    s["h1"] = s["w1"] * i1 + s["w2"] * i2 + b1
    s["h2"] = s["w3"] * i1 + s["w4"] * i2 + b1
    s["a_h1"], s["a_h2"] = sig(a["a_h1"], s["h1"]), sig(a["a_h2"], s["h2"])
    s["o1"] = s["w5"] * s["a_h1"] + s["w6"] * s["a_h2"] + b2
    s["o2"] = s["w7"] * s["a_h1"] + s["w8"] * s["a_h2"] + b2
    s["a_o1"], s["a_o2"] = sig(a["a_o1"], s["o1"]), sig(a["a_o2"], s["o2"])
    s["E1"] = np.abs(network.targets[0] - tr["a_o1"]) * (t1 + s["a_o1"])
    s["E2"] = np.abs(network.targets[1] - tr["a_o2"]) * (t2 + s["a_o2"])
    s["E_total"] = s["E1"] + s["E2"]
    s["δ_o1"], s["δ_o2"] = delta_o("a_o1", t1), delta_o("a_o2", t2)
    hidden = (1 + s["a_h1"]) * s["a_h1"], (1 + s["a_h2"]) * s["a_h2"]
    s["δ_h1"] = (s["δ_o1"] * s["w5"] + s["δ_o2"] * s["w7"]) * hidden[0]
    s["δ_h2"] = (s["δ_o1"] * s["w6"] + s["δ_o2"] * s["w8"]) * hidden[1]
    s["∂E/∂w1"], s["∂E/∂w2"] = s["δ_h1"] * i1, s["δ_h1"] * i2
    s["∂E/∂w3"], s["∂E/∂w4"] = s["δ_h2"] * i1, s["δ_h2"] * i2
    s["∂E/∂w5"], s["∂E/∂w6"] = s["δ_o1"] * s["a_h1"], s["δ_o1"] * s["a_h2"]
    s["∂E/∂w7"], s["∂E/∂w8"] = s["δ_o2"] * s["a_h1"], s["δ_o2"] * s["a_h2"]
    return s
