"""The network and the run, as frozen dataclasses; every default lives here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Excel's last row; the table also needs its header rows above the epochs.
EXCEL_MAX_ROWS = 1_048_576

DEFAULT_INPUTS = (0.05, 0.10)
DEFAULT_TARGETS = (0.5, 0.5)
DEFAULT_WEIGHTS = (0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55)
DEFAULT_LEARNING_RATES = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
DEFAULT_EPOCHS = 100  # rows, epoch 0 = the initial weights


class SpecError(ValueError):
    """A network or run that cannot be built; the message says what to change."""


@dataclass(frozen=True)
class Network:
    """A 2-2-2 sigmoid network and the one training example it learns.

    ``biases`` is ``None`` (no biases, the default) or ``(b1, b2)``: b1 is added to both hidden
    sums and b2 to both output sums; both stay fixed, as in the classic worked example.
    """

    inputs: tuple[float, float] = DEFAULT_INPUTS
    targets: tuple[float, float] = DEFAULT_TARGETS
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    biases: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        _check_values("inputs", self.inputs, 2)
        _check_values("targets", self.targets, 2)
        _check_values("weights", self.weights, 8)
        if self.biases is not None:
            _check_values("biases", self.biases, 2)


@dataclass(frozen=True)
class Run:
    """What to build: the network, the learning rates (one sheet each) and the epoch rows."""

    network: Network = field(default_factory=Network)
    learning_rates: tuple[float, ...] = DEFAULT_LEARNING_RATES
    epochs: int = DEFAULT_EPOCHS

    def __post_init__(self) -> None:
        if not self.learning_rates:
            raise SpecError("give at least one learning rate")
        _check_values("learning rates", self.learning_rates, len(self.learning_rates))
        if any(lr <= 0 for lr in self.learning_rates):
            raise SpecError("learning rates must be positive")
        seen: set[float] = set()
        for lr in self.learning_rates:
            if lr in seen:
                raise SpecError(f"learning rate {lr:g} is given twice; each rate gets one sheet")
            seen.add(lr)
        if len({sheet_name(lr) for lr in self.learning_rates}) != len(self.learning_rates):
            raise SpecError("two learning rates share a sheet name; give rates that differ in "
                            "their first 12 significant digits")
        if self.epochs < 1:
            raise SpecError(f"--epochs must be at least 1, got {self.epochs}")
        if self.epochs > MAX_EPOCHS:
            raise SpecError(f"--epochs {self.epochs} does not fit in an Excel sheet; "
                            f"the most is {MAX_EPOCHS}")
        rows = self.epochs * len(self.learning_rates)
        if rows > MAX_TOTAL_ROWS:
            seconds, megabytes = cost(rows)
            raise SpecError(
                f"--epochs {self.epochs} × {len(self.learning_rates)} rate(s) is {rows:,} rows; "
                f"the most is {MAX_TOTAL_ROWS:,} in all (that many would take about "
                f"{seconds / 60:.0f} min and {megabytes / 1000:.1f} GB of memory): give fewer "
                "epochs or rates")


def sheet_name(lr: float) -> str:
    """The worksheet name for a learning rate, e.g. ``LR 0.5`` (ASCII, at most 31 characters)."""
    text = f"{lr:.12g}"
    return f"LR {text}" if any(c in text for c in ".e") else f"LR {text}.0"


def _check_values(name: str, values: tuple[float, ...], count: int) -> None:
    if len(values) != count:
        raise SpecError(f"{name}: expected {count} numbers, got {len(values)}")
    for v in values:
        if not math.isfinite(v):
            raise SpecError(f"{name}: {v} is not a finite number")


#: Epoch rows over all sheets. The writer holds the whole file in memory until it is saved
#: (no temporary files to leave behind), about 12 KB a row, at about 0.5 ms a row: this bound
#: is about a minute and 1.5 GB (measured: benchmarks/bench_workbook.py).
MAX_TOTAL_ROWS = 120_000
SECONDS_PER_ROW = 0.5e-3
MEGABYTES_PER_ROW = 0.012


def cost(rows: int) -> tuple[float, float]:
    """Rough seconds and peak megabytes to write ``rows`` epoch rows (measured rates)."""
    return rows * SECONDS_PER_ROW, 100 + rows * MEGABYTES_PER_ROW


#: Rows above the first epoch (title, parameter block, header) are counted in layout.py; this
#: bound leaves room for them.
MAX_EPOCHS = EXCEL_MAX_ROWS - 16
