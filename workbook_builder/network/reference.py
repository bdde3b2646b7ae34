"""The 2-2-2 network's quantity names, the sheet values a rule reads (``Values``) and the 2-2-2
error-scale bound (tolerances of the 2-2-2 proofs).

Every network, 2-2-2 included, is computed, written and checked from the engine's expression
trees (topology.py); nothing here computes a quantity of its own.
"""

from __future__ import annotations

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
