"""benchmarks/mnist_seeds.py: the pieces that decide what its tables say."""

from __future__ import annotations

import pytest

from benchmarks.bench_mnist import held_from
from benchmarks.mnist_seeds import overridden, seed_list, summary
from mnist.config import PRESETS


def test_seed_list_takes_ranges_and_single_seeds() -> None:
    assert seed_list(["4", "7", "10-13"]) == [4, 7, 10, 11, 12, 13]


@pytest.mark.parametrize(
    ("accuracy", "held"),
    [
        ([0.990, 0.994, 0.995, 0.996], 2),  # 99.40 % itself counts as reached
        ([0.994, 0.9939, 0.995, 0.996], 3),  # a dip restarts the count
        ([0.995, 0.996, 0.9939], None),  # the last epoch below: never held
        ([], None),
    ],
)
def test_held_from_is_the_epoch_from_which_every_epoch_reaches_the_bar(
    accuracy: list[float], held: int | None
) -> None:
    assert held_from(accuracy) == held


def test_overridden_converts_to_each_fields_type() -> None:
    config = overridden(PRESETS["default"], ["batch_size=64", "lr=0.05", "limit_train=500"])
    assert (config.batch_size, config.lr, config.limit_train) == (64, 0.05, 500)
    with pytest.raises(SystemExit, match="no field 'bacth_size'"):
        overridden(PRESETS["default"], ["bacth_size=64"])


def test_summary_reports_the_slowest_seed_against_the_median() -> None:
    def rows(accs: list[float]) -> list[dict[str, float]]:
        return [{"test_acc": a, "elapsed": 10.0 * e} for e, a in enumerate(accs, 1)]

    runs = {
        1: rows([0.99, 0.995, 0.995, 0.995]),  # held from 2, 20 s
        2: rows([0.99, 0.995, 0.995, 0.995]),  # held from 2
        3: rows([0.99, 0.99, 0.99, 0.995]),  # held from 4 only: not in its last three
    }
    text = summary(runs)
    assert "2 of 3 seeds" in text
    assert "slowest / median in epochs: 4 / 2 = 2.00; in seconds: 40 / 20 = 2.00" in text


def test_overridden_keeps_a_float_field_float_where_the_preset_has_zero() -> None:
    from dataclasses import replace

    config = overridden(replace(PRESETS["default"], ema=0.0), ["ema=0.998"])
    assert config.ema == 0.998
