"""Parameter budgets, layer kinds, output shape, the summary, and that a step learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist.model import ARCHS, build_model, count_params, format_summary, summarize

BUDGET = {"default": 20_000, "tiny": 8_000}  # parameters, strictly fewer
DROPOUT = {"default": True, "tiny": False}  # the tiny network validated better without it


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_parameter_budget(arch: str) -> None:
    model = build_model(arch)
    by_hand = sum(p.numel() for p in model.parameters())
    assert count_params(model) == by_hand < BUDGET[arch]
    assert by_hand > BUDGET[arch] // 3  # a budget met by accident of an empty model is no test


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layer_kinds(arch: str) -> None:
    modules = list(build_model(arch).modules())
    kinds = {type(m) for m in modules}
    assert {nn.BatchNorm2d, nn.AdaptiveAvgPool2d, nn.Conv2d} <= kinds
    assert bool(kinds & {nn.Dropout, nn.Dropout2d}) == DROPOUT[arch]
    leaves = [m for m in modules if not list(m.children())]
    assert isinstance(leaves[-1], nn.Linear) and leaves[-1].out_features == 10
    gap = next(i for i, m in enumerate(leaves) if isinstance(m, nn.AdaptiveAvgPool2d))
    assert all(not isinstance(m, nn.Conv2d) for m in leaves[gap:])  # GAP feeds the classifier


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_output_shape(arch: str) -> None:
    assert build_model(arch)(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_summary_shapes_params_and_receptive_fields() -> None:
    model = build_model("default")
    rows = summarize(model)
    assert [r.name for r in rows] == ["stem", "conv2", "conv3", "pool", "conv4", "head"]
    # 5x5/2 -> 5; 3x3 at jump 2 -> +4 twice; pool 2 -> +2; 3x3 at jump 4 -> +8; GAP over 4 -> +12
    assert [r.receptive_field for r in rows] == [5, 9, 13, 15, 23, 35]
    assert [r.out_shape[1:] for r in rows[:-1]] == [(12, 12), (10, 10), (8, 8), (4, 4), (4, 4)]
    assert rows[-1].out_shape == (10,)
    tiny = summarize(build_model("tiny"))
    assert [r.name for r in tiny] == ["conv1", "conv2", "pool", "conv3", "conv4", "conv5", "head"]
    # 3x3 -> 3, 5; pool 2 -> 6; 3x3 at jump 2 -> +4 three times; GAP over 6 at jump 2 -> +10
    assert [r.receptive_field for r in tiny] == [3, 5, 6, 10, 14, 18, 28]
    assert [r.out_shape[-1] for r in tiny[:-1]] == [26, 24, 12, 10, 8, 6]  # square maps
    assert sum(r.params for r in rows) == count_params(model)
    text = format_summary(rows)
    assert f"**{count_params(model):,}**" in text and "Conv2d 5x5/2" in text
    assert model.training  # summarize leaves the mode as it found it


def test_one_training_step_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = build_model("default")
    x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same dropout masks both times
        return F.cross_entropy(model(x), y)

    before = loss()
    before.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item() - 0.01


def test_every_preset_names_a_network() -> None:
    from mnist.config import PRESETS

    assert set(PRESETS) <= set(ARCHS) and all(c.arch in ARCHS for c in PRESETS.values())
    assert all(c.arch == name for name, c in PRESETS.items())
