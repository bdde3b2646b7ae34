"""The run's pictures: loss/accuracy curves and a grid of misclassified test digits."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from mnist.data import MEAN, STD
from mnist.rundir import atomic_write_bytes


def _save(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(rows: Sequence[Mapping[str, float]], path: Path, title: str) -> None:
    """Loss (left) and accuracy (right) per epoch: train, validation (if held out) and test,
    with the 99.4 % line."""
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    sets = [("train", "train (augmented)"), ("val", "validation"), ("test", "test")]
    shown = [(key, label) for key, label in sets if f"{key}_acc" in rows[0]]
    for key, label in shown:
        ax_loss.plot(epochs, [r[f"{key}_loss"] for r in rows], "o-", label=label)
        ax_acc.plot(epochs, [100 * r[f"{key}_acc"] for r in rows], "o-", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.axhline(99.4, color="grey", linestyle="--", linewidth=1, label="99.4 %")
    low = min(98.0, *(100 * r[f"{key}_acc"] for r in rows for key, _ in shown[1:]))
    ax_acc.set(xlabel="epoch", ylabel="accuracy, %", title="accuracy", ylim=(low, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_misclassified(
    images: torch.Tensor,
    labels: torch.Tensor,
    predicted: torch.Tensor,
    path: Path,
    limit: int = 64,
) -> None:
    """Up to ``limit`` wrong test digits in a grid, each titled 'true -> predicted'."""
    wrong = (predicted != labels).nonzero().flatten()[:limit].tolist()
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.35), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow((images[i, 0] * STD + MEAN).cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{labels[i].item()} → {predicted[i].item()}", fontsize=9)
    total = int((predicted != labels).sum())
    fig.suptitle(f"misclassified test digits: {total} of {len(labels)} (first {len(wrong)})")
    fig.tight_layout()
    _save(fig, path)
