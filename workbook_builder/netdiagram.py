"""A picture of any small network (matplotlib), drawn from its topology; deterministic PNG."""

from __future__ import annotations

import struct

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Circle

from workbook_builder import topology
from workbook_builder.diagram import png_bytes
from workbook_builder.topology import NetSpec

DPI = 200
RADIUS = 0.16
#: beyond this many weights their labels would hide the edges (the Network sheet lists them)
MAX_LABELLED_WEIGHTS = 24
COLORS = ("#DDEBF7", "#E2EFDA", "#FCE4D6")  # inputs, hidden, outputs: the sheets' header colours
LOSS_TEXT = {"half-se": "E_total = ½·Σ(a − t)²", "mse": "E_total = mean (a − t)²",
             "ce": "E_total = cross-entropy"}


def network_png(spec: NetSpec) -> bytes:
    """The network with each neuron's name and, for up to MAX_LABELLED_WEIGHTS weights, each
    weight's name on its edge; the same spec gives the same bytes."""
    names = topology.neuron_names(spec)
    tallest = max(spec.layers)
    centre = {}
    for layer, layer_names in enumerate(names):
        n = len(layer_names)
        for k, name in enumerate(layer_names):
            centre[name] = (1.6 * layer, (n - 1) / 2 - k)
    width = 1.6 * (len(spec.layers) - 1) + 2.6
    height = tallest + 1.2
    fig, ax = plt.subplots(figsize=(max(6.0, width * 1.6), max(3.5, height * 1.1)), dpi=DPI)
    label = spec.n_weights <= MAX_LABELLED_WEIGHTS
    for layer, block in enumerate(topology.weight_index(spec), start=1):
        for d, row in enumerate(block):
            for j, w in enumerate(row):
                (x0, y0), (x1, y1) = centre[names[layer - 1][j]], centre[names[layer][d]]
                ax.annotate("", (x1 - RADIUS, y1 + (y0 - y1) * RADIUS / 1.6),
                            (x0 + RADIUS, y0 + (y1 - y0) * RADIUS / 1.6),
                            arrowprops={"arrowstyle": "->", "color": "#777777", "lw": 0.9})
                if label:  # 30 % along from the source: crossing edges cross mid-way
                    ax.text(x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3, w, ha="center",
                            va="center", fontsize=8, color="#C00000", fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                  "edgecolor": "none"})
    last = len(names) - 1
    for layer, layer_names in enumerate(names):
        color = COLORS[0 if layer == 0 else 2 if layer == last else 1]
        for name in layer_names:
            x, y = centre[name]
            ax.add_patch(Circle((x, y), RADIUS, facecolor=color, edgecolor="#333333"))
            ax.text(x, y, name, ha="center", va="center", fontsize=9 if len(name) <= 2 else 7,
                    fontweight="bold")
        if layer == 0:
            caption = "inputs"
        elif layer == last:
            caption = f"outputs ({spec.output_activation})"
        else:
            caption = f"hidden {layer} ({spec.activation})" if last > 2 else \
                f"hidden ({spec.activation})"
        ax.text(1.6 * layer, -tallest / 2 - 0.1, caption, ha="center", va="top", fontsize=9,
                color="#555555")
    if spec.train_biases:
        bias = "+ its own bias b_… in every hidden and output neuron (it learns)"
    elif spec.biases is not None:
        bias = "+ a fixed bias b1, b2, … per layer"
    else:
        bias = "no biases"
    ax.text(1.6 * last + 0.4, 0.25, LOSS_TEXT[spec.loss], fontsize=10, fontweight="bold",
            va="center")
    ax.text(1.6 * last + 0.4, -0.25, bias, fontsize=8, va="center", color="#555555")
    ax.set_xlim(-0.4, width + 1.6)
    ax.set_ylim(-tallest / 2 - 0.6, tallest / 2 + 0.2)
    return png_bytes(fig, ax)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)
