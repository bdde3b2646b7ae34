"""A picture of any small network (matplotlib), drawn from its topology; deterministic PNG.

Layers one unit apart left to right, neurons one unit apart and centred; each weight's name on
its edge (up to MAX_LABELLED_WEIGHTS), each neuron's sum → activation beside it, the loss at the
right. A network larger than the course's is drawn at the course's scale, then shrunk as a
whole (text too) to fit MAX_INCHES. Coordinates are built from whole numbers by one division
each, so the course's 2-2-2 network is drawn at exactly the coordinates its picture always had
(the committed PNGs and the workbook's bytes stay the same).
"""

from __future__ import annotations

import io
import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from workbook_builder.network import topology
from workbook_builder.network.topology import NetSpec

DPI = 200  # drawn at 200 dpi and placed at about half scale, so it stays sharp in print
RADIUS = 0.13
#: beyond this many weights their labels would hide the edges (the Network sheet lists them)
MAX_LABELLED_WEIGHTS = 24
COLORS = {"i": "#DDEBF7", "h": "#E2EFDA", "o": "#FCE4D6"}  # the sheets' header colours
#: inches of the course's picture (3.6 × 2.3 units); a larger network is drawn at the same
#: scale, shrunk to fit MAX_INCHES
BASE_INCHES, BASE_UNITS = (11.0, 6.8), (3.6, 2.3)
MAX_INCHES = (14.0, 10.0)
SYMBOL = {"sigmoid": "σ"}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def loss_terms(spec: NetSpec) -> tuple[list[str], str]:
    """Each output's loss term as drawn beside it (none where the loss is one term per
    example), and the line for E_total."""
    n_out = spec.layers[-1]
    if spec.loss == "half-se":
        terms = [f"E{k} = ½(t{k} − a_o{k})²" for k in range(1, n_out + 1)]
        total = " + ".join(f"E{k}" for k in range(1, n_out + 1))
        return terms, f"E_total = {total}" if len(spec.examples) == 1 else \
            f"E_total = Σ over the examples of {total}"
    if spec.loss == "mse":
        return [f"E{k} = (a_o{k} − t{k})²" for k in range(1, n_out + 1)], \
            "E_total = mean of the E terms"
    if spec.output_activation == "softmax":
        return [], "E_total = cross-entropy (mean over the examples)"
    return [f"E{k} = BCE(a_o{k}, t{k})" for k in range(1, n_out + 1)], \
        "E_total = mean of the E terms"


def network_png(spec: NetSpec) -> bytes:
    """The network drawn with each weight's name on its edge; the same spec gives the same
    bytes."""
    names = topology.neuron_names(spec)
    last, tallest = len(spec.layers) - 1, max(spec.layers)
    centre = (tallest - 1) / 2
    position = {}
    for layer, layer_names in enumerate(names):
        n = len(layer_names)
        for k, name in enumerate(layer_names):
            position[name] = (float(layer), ((tallest - 1) + (n - 1)) / 2 - k)
    width, height = (10 * last + 16) / 10, (10 * (tallest - 1) + 13) / 10  # units
    inches = [BASE_INCHES[0] * width / BASE_UNITS[0], BASE_INCHES[1] * height / BASE_UNITS[1]]
    shrink = min(1.0, MAX_INCHES[0] / inches[0], MAX_INCHES[1] / inches[1])
    fig, ax = plt.subplots(figsize=(inches[0] * shrink, inches[1] * shrink), dpi=DPI)
    label = spec.n_weights <= MAX_LABELLED_WEIGHTS
    for layer, block in enumerate(topology.weight_index(spec), start=1):
        for d, row in enumerate(block):
            for j, w in enumerate(row):
                (x0, y0), (x1, y1) = position[names[layer - 1][j]], position[names[layer][d]]
                ax.annotate("", (x1 - RADIUS, y1 + (y0 - y1) * RADIUS),
                            (x0 + RADIUS, y0 + (y1 - y0) * RADIUS),
                            arrowprops={"arrowstyle": "->", "color": "#555555",
                                        "lw": 1.2 * shrink})
                if label:  # 30 % along from its source: crossing edges cross mid-way
                    ax.text(x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3, w, ha="center",
                            va="center", fontsize=12 * shrink, color="#C00000",
                            fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                  "edgecolor": "none"})
    for name, (x, y) in position.items():
        ax.add_patch(Circle((x, y), RADIUS, facecolor=COLORS[name[0]], edgecolor="#333333"))
        ax.text(x, y, name, ha="center", va="center",
                fontsize=(13 if len(name) <= 2 else 9) * shrink, fontweight="bold")
        above = y > centre  # captions away from the crossing edges
        caption = name if name[0] == "i" else f"{name} → a_{name}"
        ax.text(x, y + 0.17 if above else y - 0.17, caption, ha="center",
                va="bottom" if above else "top", fontsize=10 * shrink, color="#333333")
    terms, total = loss_terms(spec)
    for term, output in zip(terms, names[-1], strict=False):
        x, y = position[output]
        ax.annotate(term, (x + 0.15, y), (x + 0.3, y), fontsize=11 * shrink, va="center",
                    arrowprops={"arrowstyle": "<-", "color": "#555555"})
    total_y = centre if len(terms) % 2 == 0 else centre - 0.5
    ax.text((10 * last + 3) / 10, total_y, total, fontsize=12 * shrink, fontweight="bold",
            va="center")
    for layer in range(1, last + 1):
        if spec.train_biases:
            own = [f"b_{n}" for n in names[layer]]
            text = f"+ {own[0] if len(own) == 1 else own[0] + '…' + own[-1]} (learn)"
        elif spec.biases is not None:
            text = f"+ b{layer} in {_and(names[layer])}"
        else:
            continue
        ax.text(float(layer), -0.7, text, ha="center", fontsize=10 * shrink, color="#555555")
    for layer in range(last + 1):
        kind = spec.output_activation if layer == last else spec.activation
        symbol = SYMBOL.get(kind, kind)
        caption = "inputs" if layer == 0 else f"output ({symbol})" if layer == last else \
            f"hidden ({symbol})" if last == 2 else f"hidden {layer} ({symbol})"
        ax.text(float(layer), -0.55, caption, ha="center", fontsize=11 * shrink, color="#555555")
    ax.set_xlim(-0.3, (10 * last + 13) / 10)
    ax.set_ylim(-0.85, (100 * (tallest - 1) + 45) / 100)
    return png_bytes(fig, ax)


def png_bytes(fig: Figure, ax: Axes) -> bytes:
    """The figure as PNG bytes, axes hidden at equal scale; no software stamp, so the same
    picture gives the same bytes (the workbook embeds it)."""
    ax.set_aspect("equal")
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)
