"""The networks (a table from preset name to builder) and their layer-by-layer summary."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

import torch
from torch import nn


def conv_block(
    c_in: int, c_out: int, kernel: int = 3, *, stride: int = 1, padding: int = 0
) -> nn.Sequential:
    """Conv (no bias: BatchNorm has one) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def head(c_in: int, classes: int = 10) -> nn.Sequential:
    """Global average pooling, then a linear layer to the class logits."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, classes))


@dataclass(frozen=True)
class CnnSpec:
    """Channel widths of the four conv blocks, and the dropout after the last two.

    Dropout only after the small-map blocks (8x8, 4x4): with per-pixel dropout after every
    block, drawing the masks took 13 % of a training step on this CPU (torch profiler).
    """

    widths: tuple[int, int, int, int]
    dropout: float


def cnn(spec: CnnSpec) -> nn.Sequential:
    """A 5x5 stride-2 stem (28 -> 12 px, so the later layers are cheap on a CPU), two 3x3 convs,
    max-pool, a padded 3x3 conv at 4x4, GAP and a linear layer."""
    w1, w2, w3, w4 = spec.widths
    return nn.Sequential(
        OrderedDict(
            stem=conv_block(1, w1, 5, stride=2),
            conv2=conv_block(w1, w2),
            conv3=nn.Sequential(*conv_block(w2, w3), nn.Dropout(spec.dropout)),
            pool=nn.MaxPool2d(2),
            conv4=nn.Sequential(*conv_block(w3, w4, padding=1), nn.Dropout(spec.dropout)),
            head=head(w4),
        )
    )


@dataclass(frozen=True)
class FullResSpec:
    """Channel widths of five unpadded 3x3 conv blocks, the first two at full resolution."""

    widths: tuple[int, int, int, int, int]
    dropout: float  # after blocks 3 to 5 (0: none)


def full_res(spec: FullResSpec) -> nn.Sequential:
    """28 -> 26 -> 24 -> max-pool 12 -> 10 -> 8 -> 6, GAP and a linear layer: for the smallest
    networks, whose few channels cannot afford the stride-2 stem's early loss of detail."""
    w1, w2, w3, w4, w5 = spec.widths

    def late(c_in: int, c_out: int) -> nn.Sequential:
        block = conv_block(c_in, c_out)
        return nn.Sequential(*block, nn.Dropout(spec.dropout)) if spec.dropout else block

    return nn.Sequential(
        OrderedDict(
            conv1=conv_block(1, w1),
            conv2=conv_block(w1, w2),
            pool=nn.MaxPool2d(2),
            conv3=late(w2, w3),
            conv4=late(w3, w4),
            conv5=late(w4, w5),
            head=head(w5),
        )
    )


ARCHS: Mapping[str, Callable[[], nn.Sequential]] = MappingProxyType(
    {
        "default": partial(cnn, CnnSpec((16, 24, 28, 32), dropout=0.1)),
        # the stride-2 family at 7,490 parameters (8, 16, 16, 24) validated 0.2 points lower
        "tiny": partial(full_res, FullResSpec((8, 16, 16, 16, 12), dropout=0.0)),
    }
)


def build_model(arch: str = "default") -> nn.Sequential:
    """A fresh network of the named preset (see ARCHS)."""
    return ARCHS[arch]()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary: a top-level block of the network."""

    name: str
    kinds: str  # the leaf layers, e.g. "Conv2d 5x5/2, BatchNorm2d, ReLU, Dropout"
    out_shape: tuple[int, ...]  # without the batch dimension
    params: int
    receptive_field: int  # input pixels along one side that can affect one output


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"Conv2d {k}x{k}" + (f"/{s}" if s > 1 else "")
    if isinstance(module, nn.MaxPool2d):
        return "MaxPool2d 2x2"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "GAP"
    return type(module).__name__


def _grow(module: nn.Module, rf: int, jump: int, size: int) -> tuple[int, int]:
    """Receptive field and jump (input pixels between neighbouring outputs) after ``module``."""
    if isinstance(module, nn.Conv2d | nn.MaxPool2d):
        kernel = module.kernel_size
        stride = module.stride
        k = kernel if isinstance(kernel, int) else kernel[0]
        s = stride if isinstance(stride, int) else stride[0]
        return rf + (k - 1) * jump, jump * s
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return rf + (size - 1) * jump, jump * size
    return rf, jump


def summarize(model: nn.Sequential, input_shape: tuple[int, ...] = (1, 28, 28)) -> list[LayerRow]:
    """Run one dummy image through the network, recording each top-level block's output shape,
    parameter count and receptive field."""
    rows: list[LayerRow] = []
    rf, jump = 1, 1
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape)
    with torch.no_grad():
        for name, block in model.named_children():
            leaves = [m for m in block.modules() if not list(m.children())]
            for leaf in leaves:
                rf, jump = _grow(leaf, rf, jump, x.shape[-1])
                x = leaf(x)
            kinds = ", ".join(_kind(m) for m in leaves)
            rows.append(LayerRow(name, kinds, tuple(x.shape[1:]), count_params(block), rf))
    model.train(was_training)
    return rows


def format_summary(rows: list[LayerRow]) -> str:
    """A Markdown table of the rows, with the total parameter count."""
    lines = [
        "| block | layers | output | params | RF |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for r in rows:
        shape = "x".join(map(str, r.out_shape))
        lines.append(f"| {r.name} | {r.kinds} | {shape} | {r.params:,} | {r.receptive_field} |")
    lines.append(f"| **total** | | | **{sum(r.params for r in rows):,}** | |")
    return "\n".join(lines)
