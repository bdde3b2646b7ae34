"""Time one training epoch of our pipeline against the reference's per-sample Dataset +
DataLoader pipeline (same network), and read the time to 99.4 % from finished runs.

    flock /tmp/heavy.lock python -m benchmarks.bench_mnist --data-dir ../shared \
        --runs runs/seed1 runs/seed2 runs/seed3
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mnist.config import RunConfig
from mnist.data import (
    MEAN,
    OFFICIAL,
    STD,
    Augment,
    load_mnist,
    locate,
    raw_dir,
    read_idx,
    shuffled_batches,
)
from mnist.loop import make_schedule, train_epoch
from mnist.model import build_model
from mnist.train import usable_cores

TARGET = 0.994  # test accuracy


class PerSampleMnist(Dataset[tuple[torch.Tensor, int]]):
    """The reference: one image at a time, uint8 -> RandomRotation(7) -> ToTensor -> Normalize,
    the way torchvision's transforms would do it (nearest-neighbour rotation, black fill)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, degrees: float = 7.0) -> None:
        self.images, self.labels, self.degrees = images, labels, degrees

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i].astype(np.float32) / 255.0)[None, None]
        angle = math.radians(float(torch.empty(1).uniform_(-self.degrees, self.degrees)))
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
        grid = F.affine_grid(theta, [1, 1, 28, 28], align_corners=False)
        x = F.grid_sample(x, grid, mode="nearest", align_corners=False)[0]
        return (x - MEAN) / STD, int(self.labels[i])


def reference_epoch(model: nn.Module, loader: DataLoader[tuple[torch.Tensor, int]]) -> float:
    """The reference loop: SGD lr 0.01 momentum 0.9, one step per DataLoader batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    tic = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return time.perf_counter() - tic


def ours_epoch(arch: str, data_dir: Path, batch_size: int) -> tuple[float, float]:
    """Load time and one epoch of mnist.train's loop (channels-last model, batched augmentation)."""
    tic = time.perf_counter()
    data = load_mnist(data_dir)
    load = time.perf_counter() - tic
    config = RunConfig(arch=arch, batch_size=batch_size)
    model = build_model(arch).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True)
    scheduler = make_schedule(optimizer, config, math.ceil(len(data.train_x) / batch_size))
    tic = time.perf_counter()
    train_epoch(
        model,
        optimizer,
        scheduler,
        data.train_x,
        data.train_y,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(0),
        augment=Augment(),
        label_smoothing=config.label_smoothing,
    )
    return load, time.perf_counter() - tic


def data_only_seconds(loader: DataLoader[tuple[torch.Tensor, int]]) -> float:
    tic = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - tic


def ours_data_only_seconds(data_dir: Path, batch_size: int) -> float:
    data = load_mnist(data_dir)
    generator = torch.Generator().manual_seed(0)
    augment = Augment()
    tic = time.perf_counter()
    for index in shuffled_batches(len(data.train_x), batch_size, generator):
        augment(data.train_x[index], generator)
    return time.perf_counter() - tic


def time_to_target(run: Path) -> str:
    """Wall time (training + evaluation, from metrics.json) to the first epoch >= 99.4 % and to
    the epoch from which every later epoch stays >= 99.4 %."""
    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    first = next((r for r in rows if r["test_acc"] >= TARGET), None)
    held = None
    for i in range(len(rows)):
        if all(r["test_acc"] >= TARGET for r in rows[i:]):
            held = rows[i]
            break

    def show(row: dict[str, float] | None) -> str:
        return "never" if row is None else f"epoch {row['epoch']:.0f}, {row['elapsed']:.0f} s"

    mean = sum(r["seconds"] for r in rows) / len(rows)
    return (
        f"| {run} | {show(first)} | {show(held)} | {mean:.1f} s | "
        f"{100 * rows[-1]['test_acc']:.2f} % |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--arch", default="default")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=RunConfig().batch_size,
        help="ours; the reference always uses 128",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        nargs="*",
        default=[],
        help="finished run folders to read the time to 99.4 %% from",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(usable_cores())
    torch.manual_seed(0)
    folder = raw_dir(args.data_dir)
    train_images, train_labels = (read_idx(locate(folder, s) or folder) for s in OFFICIAL[:2])
    loader = DataLoader(PerSampleMnist(train_images, train_labels), batch_size=128, shuffle=True)

    print(f"one epoch of 60,000 images, {args.arch} network, {torch.get_num_threads()} threads\n")
    ours_data = ours_data_only_seconds(args.data_dir, args.batch_size)
    ref_data = data_only_seconds(loader)
    load, ours = ours_epoch(args.arch, args.data_dir, args.batch_size)
    reference = reference_epoch(build_model(args.arch), loader)
    print("| pipeline | data + augmentation only | training epoch | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| reference: per-sample Dataset + DataLoader, batch 128 | {ref_data:.1f} s "
        f"| {reference:.1f} s | 1.00 |"
    )
    print(
        f"| ours: in-memory tensors, batched augmentation, batch {args.batch_size} "
        f"| {ours_data:.1f} s | {ours:.1f} s | {reference / ours:.2f}x faster |"
    )
    print(f"\n(ours also spends {load:.1f} s once, reading and normalising the IDX files)")
    if args.runs:
        print("\n| run | first epoch >= 99.4 % | held >= 99.4 % from | mean epoch | last |")
        print("| --- | --- | --- | ---: | ---: |")
        for run in args.runs:
            print(time_to_target(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
