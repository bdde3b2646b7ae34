"""Pure NumPy reference: a network and a learning rate -> every quantity of every epoch."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from workbook_builder.spec import Network

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


def sigmoid(x: Array) -> Array:
    """Logistic sigmoid 1/(1+e^−x) that never overflows: e^−x is capped at e^709.

    The cap acts only where σ(x) < 1e-307; the sheet writes the same expression, so the
    reference and the spreadsheet engines round alike.
    """
    return 1.0 / (1.0 + np.exp(np.minimum(EXP_CAP, -x)))


def step(network: Network, w: Array) -> Trace:
    """Forward and backward pass at weights ``w`` (shape ``(8, ...)``): every quantity but w.

    The operations and their order mirror the sheet's formulas (see cell_formulas.py).
    """
    i1, i2 = network.inputs
    t1, t2 = network.targets
    b1, b2 = network.biases if network.biases is not None else (None, None)
    w1, w2, w3, w4, w5, w6, w7, w8 = w
    h1 = w1 * i1 + w2 * i2
    h2 = w3 * i1 + w4 * i2
    if b1 is not None:
        h1, h2 = h1 + b1, h2 + b1
    a_h1, a_h2 = sigmoid(h1), sigmoid(h2)
    o1 = w5 * a_h1 + w6 * a_h2
    o2 = w7 * a_h1 + w8 * a_h2
    if b2 is not None:
        o1, o2 = o1 + b2, o2 + b2
    a_o1, a_o2 = sigmoid(o1), sigmoid(o2)
    e1 = 0.5 * (t1 - a_o1) ** 2
    e2 = 0.5 * (t2 - a_o2) ** 2
    d_o1 = (a_o1 - t1) * a_o1 * (1 - a_o1)
    d_o2 = (a_o2 - t2) * a_o2 * (1 - a_o2)
    # hidden deltas use this epoch's (old) w5..w8: all eight gradients come from one point
    d_h1 = (d_o1 * w5 + d_o2 * w7) * a_h1 * (1 - a_h1)
    d_h2 = (d_o1 * w6 + d_o2 * w8) * a_h2 * (1 - a_h2)
    values = {
        "h1": h1, "a_h1": a_h1, "h2": h2, "a_h2": a_h2,
        "o1": o1, "a_o1": a_o1, "o2": o2, "a_o2": a_o2,
        "E1": e1, "E2": e2, "E_total": e1 + e2,
        "δ_o1": d_o1, "δ_o2": d_o2, "δ_h1": d_h1, "δ_h2": d_h2,
        "∂E/∂w1": d_h1 * i1, "∂E/∂w2": d_h1 * i2, "∂E/∂w3": d_h2 * i1, "∂E/∂w4": d_h2 * i2,
        "∂E/∂w5": d_o1 * a_h1, "∂E/∂w6": d_o1 * a_h2, "∂E/∂w7": d_o2 * a_h1,
        "∂E/∂w8": d_o2 * a_h2,
    }  # fmt: skip
    return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}


def trace(network: Network, learning_rate: float, epochs: int) -> Trace:
    """Plain gradient descent for ``epochs`` rows; row 0 holds the initial weights.

    Returns:
        Every quantity of ``QUANTITIES`` as an array of ``epochs`` float64 values.
    """
    return traces(network, (learning_rate,), epochs)[0]


def traces(network: Network, learning_rates: tuple[float, ...], epochs: int) -> list[Trace]:
    """``trace`` for several learning rates at once (one NumPy pass over the epochs)."""
    lr = np.asarray(learning_rates, dtype=np.float64)
    out = {q: np.empty((epochs, lr.size)) for q in QUANTITIES}
    w = np.repeat(np.asarray(network.weights, dtype=np.float64)[:, None], lr.size, axis=1)
    for epoch in range(epochs):
        values = step(network, w)
        grads = np.stack([values[g] for g in GRADIENTS])
        for k, name in enumerate(WEIGHTS):
            out[name][epoch] = w[k]
        for name, v in values.items():
            out[name][epoch] = v
        w = w - lr * grads
    return [{q: out[q][:, j].copy() for q in QUANTITIES} for j in range(lr.size)]


def first_epoch_below(e_total: Array, fraction: float) -> int | None:
    """The first epoch whose E_total is below ``fraction`` of epoch 0's, or None."""
    hits = np.flatnonzero(e_total < fraction * e_total[0])
    return int(hits[0]) if hits.size else None
