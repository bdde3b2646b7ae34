"""One preset on many seeds: the per-epoch test (and validation) accuracy of each seed, and the
minimum, mean, maximum, spread and standard deviation over seeds per epoch; the epoch each seed
holds 99.4 % from, and the slowest seed against the median one. Runs one after another in one
process (each as ``python -m mnist.train --arch A --seed N`` would, with the same numbers for
the same thread count), and keeps each run's rows in ``--out/<label>-s<seed>.json`` so an
interrupted sweep resumes where it stopped.

    python -m benchmarks.mnist_seeds --data-dir PATH --arch tiny --seeds 14-23
    python -m benchmarks.mnist_seeds --data-dir PATH --seeds 1 2 --val 5000 --set ema=0.998
    python -m benchmarks.mnist_seeds --data-dir PATH --arch tiny --widths 8,10,10,10,12 \
        --set epochs=20 --seeds 14-16 --threads 1

``--set FIELD=VALUE`` changes any field of the preset's RunConfig and ``--widths`` the width of
tiny's five convolutions (recipe and network experiments); issue 19's per-seed tables in the
README were made with this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from benchmarks.bench_mnist import held_from
from mnist import model
from mnist.config import PRESETS, RunConfig
from mnist.data import load_mnist
from mnist.loop import make_trainer
from mnist.model import build_model, count_params


def seed_list(texts: Sequence[str]) -> list[int]:
    """``4 7 10-13`` -> [4, 7, 10, 11, 12, 13]."""
    seeds: list[int] = []
    for text in texts:
        first, _, last = text.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def overridden(config: RunConfig, settings: Sequence[str]) -> RunConfig:
    """The config with each ``FIELD=VALUE`` applied, VALUE converted to the field's type."""
    # the type of the preset's value; a field that is None there (limit_train) takes a number
    types = {
        f.name: int if getattr(config, f.name) is None else type(getattr(config, f.name))
        for f in fields(config)
    }
    changes: dict[str, Any] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in types:
            raise SystemExit(f"--set {setting}: no field {name!r}; fields: {', '.join(types)}")
        changes[name] = types[name](value)
    return replace(config, **changes)


def run(config: RunConfig, data_dir: Path, path: Path) -> list[dict[str, float]]:
    """One seed's rows, from ``path`` if an earlier sweep finished it."""
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["config"] == asdict(config):
            return list(saved["rows"])
    data = load_mnist(data_dir, val=config.val)
    trainer = make_trainer(config, data, torch.device("cpu"))
    rows = []
    for epoch in trainer.epochs():
        rows.append(epoch.row)
        val = f"  val {epoch.row['val_acc']:.2%}" if config.val else ""
        print(
            f"  seed {config.seed} epoch {int(epoch.row['epoch'])}: test "
            f"{epoch.row['test_acc']:.2%}{val}  {epoch.row['seconds']:.1f} s  "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": asdict(config), "rows": rows}))
    tmp.replace(path)
    return rows


def table(runs: dict[int, list[dict[str, float]]], key: str, last: int) -> str:
    """Per seed the last ``last`` epochs of ``key`` (%), then the statistics over seeds."""
    epochs = min(len(rows) for rows in runs.values())
    shown = range(max(1, epochs - last + 1), epochs + 1)
    head = "| seed | " + " | ".join(f"epoch {e}" for e in shown)
    lines = [head + " | held ≥ 99.4 % from | mean epoch |", "|" + " ---: |" * (len(shown) + 3)]
    for seed, rows in runs.items():
        accs = [r[key] for r in rows]
        held = held_from([r["test_acc"] for r in rows])  # the bar is a test-set figure
        at = f"epoch {held}, {rows[held - 1]['elapsed']:.0f} s" if held else "not held"
        if key != "test_acc":
            at = f"(test: {at})"
        mean_s = statistics.mean(r["seconds"] for r in rows)
        cells = " | ".join(f"{100 * accs[e - 1]:.2f}" for e in shown)
        lines.append(f"| {seed} | {cells} | {at} | {mean_s:.1f} s |")
    for name, fn in (
        ("minimum", min),
        ("mean", statistics.mean),
        ("maximum", max),
        ("spread", lambda v: max(v) - min(v)),
        ("standard deviation", statistics.pstdev),
    ):
        values = [fn([100 * rows[e - 1][key] for rows in runs.values()]) for e in shown]
        digits = 2 if name in ("minimum", "maximum", "spread") else 3
        lines.append(f"| {name} | " + " | ".join(f"{v:.{digits}f}" for v in values) + " | | |")
    return "\n".join(lines)


def summary(runs: dict[int, list[dict[str, float]]]) -> str:
    helds = {seed: held_from([r["test_acc"] for r in rows]) for seed, rows in runs.items()}
    last3 = [r["test_acc"] for rows in runs.values() for r in rows[-3:]]
    lines = [
        f"held >= 99.4 % in the last three epochs: "
        f"{sum(h is not None and h <= len(runs[s]) - 2 for s, h in helds.items())} of {len(runs)} "
        f"seeds; lowest of the last-three figures {100 * min(last3):.2f} %",
        "held from epoch, seed by seed: "
        + ", ".join(f"{s}: {h if h else '-'}" for s, h in helds.items()),
    ]
    held = [h for h in helds.values() if h]
    if len(held) == len(helds):
        median = statistics.median(held)
        seconds = {s: runs[s][h - 1]["elapsed"] for s, h in helds.items() if h}
        median_s = statistics.median(seconds.values())
        lines.append(
            f"slowest / median in epochs: {max(held)} / {median:g} = {max(held) / median:.2f}; "
            f"in seconds: {max(seconds.values()):.0f} / {median_s:.0f} = "
            f"{max(seconds.values()) / median_s:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--arch", default="default", choices=sorted(PRESETS))
    parser.add_argument("--seeds", nargs="+", default=["1-10"], help="e.g. 4 7 10-13")
    parser.add_argument("--val", type=int, default=0, help="held-out training images")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--label", default="", help="file name prefix (default: the arch)")
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"))
    parser.add_argument("--shown", type=int, default=3, help="epochs shown, from the last")
    parser.add_argument(
        "--widths",
        help="an experiment: the full-resolution network (as tiny) at these five widths, "
        "e.g. 6,10,10,12,10, trained with the --arch preset's recipe",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = overridden(replace(PRESETS[args.arch], val=args.val), args.set)
    if args.widths:
        widths = tuple(int(w) for w in args.widths.split(","))
        name = "full-res-" + "-".join(map(str, widths))
        model.ARCHS = MappingProxyType(
            {**model.ARCHS, name: partial(model.full_res, model.FullResSpec(widths, 0.0))}  # type: ignore[arg-type]
        )
        base = replace(base, arch=name)
    print(
        f"{base.arch}: {count_params(build_model(base.arch)):,} parameters; {base}; "
        f"{torch.get_num_threads()} threads; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: dict[int, list[dict[str, float]]] = {}
    tic = time.perf_counter()
    for seed in seed_list(args.seeds):
        config = replace(base, seed=seed)
        path = args.out / f"{args.label or base.arch}-s{seed}.json"
        runs[seed] = run(config, args.data_dir, path)
    print(f"\n{len(runs)} runs, {time.perf_counter() - tic:.0f} s\n")
    print("test accuracy (%), the weight average's:\n" + table(runs, "test_acc", args.shown))
    if base.val:
        print("\nvalidation accuracy (%):\n" + table(runs, "val_acc", args.shown))
    print("\n" + summary(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
