"""What determines a run's numbers (RunConfig), and the presets: one recipe per network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class RunConfig:
    """Stored in every checkpoint, so that --resume can refuse a different run."""

    arch: str = "default"  # a network in mnist.model.ARCHS
    epochs: int = 15  # the length of the lr schedule
    batch_size: int = 128  # images per step
    lr: float = 0.1  # peak of the one-cycle schedule
    seed: int = 1  # weights, order, augmentation, dropout
    limit_train: int | None = None  # train on the first N images only
    val: int = 0  # training images held out for validation (0: none)
    momentum: float = 0.9  # SGD, Nesterov
    weight_decay: float = 1e-4  # 5e-4 left seed 3 at 99.37-99.41 % in its last three epochs
    label_smoothing: float = 0.05
    warmup: float = 0.2  # fraction of the steps spent rising to the peak lr
    anneal: str = "cos"  # the shape of the fall from the peak: "cos" or "linear"
    ema: float = 0.0  # weight average evaluated and saved: the old average's share per step


PRESETS: Mapping[str, RunConfig] = MappingProxyType(
    {
        # chosen on 5,000 held-out training images (README: "How the recipes were chosen")
        "default": RunConfig(epochs=10, batch_size=256, lr=0.2, ema=0.99),
        "tiny": RunConfig(arch="tiny", ema=0.99),
    }
)
