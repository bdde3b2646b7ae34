"""A picture of the 2-2-2 network (matplotlib), for the Guide sheet; PNG bytes, deterministic."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

NODES = {"i1": (0.0, 1.0), "i2": (0.0, 0.0), "h1": (1.0, 1.0), "h2": (1.0, 0.0),
         "o1": (2.0, 1.0), "o2": (2.0, 0.0)}  # fmt: skip
#: weight -> (from, to), as the sheets' formulas use them
EDGES = {"w1": ("i1", "h1"), "w2": ("i2", "h1"), "w3": ("i1", "h2"), "w4": ("i2", "h2"),
         "w5": ("h1", "o1"), "w6": ("h2", "o1"), "w7": ("h1", "o2"), "w8": ("h2", "o2")}
CAPTION = {"i1": "i1", "i2": "i2", "h1": "h1 → a_h1", "h2": "h2 → a_h2", "o1": "o1 → a_o1",
           "o2": "o2 → a_o2"}  # fmt: skip


def network_png(biases: bool, dpi: int = 200) -> bytes:
    """The network drawn with each weight's label on its edge; the same inputs give the same
    bytes. Drawn at 200 dpi and placed at half scale, so it stays sharp in print."""
    fig, ax = plt.subplots(figsize=(11.0, 6.8), dpi=dpi)
    for name, (src, dst) in EDGES.items():
        (x0, y0), (x1, y1) = NODES[src], NODES[dst]
        ax.annotate("", (x1 - 0.13, y1 + (y0 - y1) * 0.13), (x0 + 0.13, y0 + (y1 - y0) * 0.13),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.2})
        # on the edge, 30 % along from its source: the crossing edges (w2/w3, w6/w7) cross
        # at the middle, so their labels keep apart
        lx, ly = x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3
        ax.text(lx, ly, name, ha="center", va="center", fontsize=12, color="#C00000",
                fontweight="bold", bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                         "edgecolor": "none"})
    colors = {"i": "#DDEBF7", "h": "#E2EFDA", "o": "#FCE4D6"}
    for name, (x, y) in NODES.items():
        ax.add_patch(Circle((x, y), 0.13, facecolor=colors[name[0]], edgecolor="#333333"))
        ax.text(x, y, name, ha="center", va="center", fontsize=13, fontweight="bold")
        above = y > 0.5  # captions away from the crossing edges
        ax.text(x, y + 0.17 if above else y - 0.17, CAPTION[name], ha="center",
                va="bottom" if above else "top", fontsize=10, color="#333333")
    for k, (x, y) in enumerate([NODES["o1"], NODES["o2"]], start=1):
        ax.annotate(f"E{k} = ½(t{k} − a_o{k})²", (x + 0.15, y), (x + 0.3, y), fontsize=11,
                    va="center", arrowprops={"arrowstyle": "<-", "color": "#555555"})
    ax.text(2.3, 0.5, "E_total = E1 + E2", fontsize=12, fontweight="bold", va="center")
    if biases:
        ax.text(1.0, -0.7, "+ b1 in h1 and h2", ha="center", fontsize=10, color="#555555")
        ax.text(2.0, -0.7, "+ b2 in o1 and o2", ha="center", fontsize=10, color="#555555")
    ax.text(0.0, -0.55, "inputs", ha="center", fontsize=11, color="#555555")
    ax.text(1.0, -0.55, "hidden (σ)", ha="center", fontsize=11, color="#555555")
    ax.text(2.0, -0.55, "output (σ)", ha="center", fontsize=11, color="#555555")
    ax.set_xlim(-0.3, 3.3)
    ax.set_ylim(-0.85, 1.45)
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
