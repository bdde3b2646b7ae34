"""Build time for 100 / 1,000 / 10,000 epochs × 6 rates, and the `formulas` recompute time.

Run: python benchmarks/bench_workbook.py [--repeat N] [--skip-formulas]
Goals (issue 2): default build < 1 s; full formulas recompute of the default workbook < 60 s;
(issue 20) a 3-4-4-2 network, 2 examples, 6 rates × 100 epochs < 3 s; (issue 30) the largest
optimizer workbooks the cell bound allows (no goal: the figure for the notes).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import formulas

from workbook_builder.network import netrun
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.optimizers import NAMES, Optimizer
from workbook_builder.network.spec import Run
from workbook_builder.sheet import writer
from workbook_builder.sheet.writer import build

#: the largest optimizer cases (issue 30): every optimizer side by side on the course's network
#: at six rates, and Adam on mini-batches of 4 of 16 examples of the widest network (8-8-8-8-8,
#: trainable biases); each as many rows as the cell bound (netrun.MAX_CELLS) allows
WIDEST = {"layers": [8, 8, 8, 8, 8], "activation": "tanh", "output_activation": "softmax",
          "loss": "ce", "train_biases": True, "optimizer": "adam", "batch_size": 4,
          "examples": [[round(0.1 * ((k * 7 + j * 3) % 19) - 0.9, 2) for j in range(8)]
                       + [1.0 if j == k % 8 else 0.0 for j in range(8)] for k in range(16)]}
LARGEST = [
    ("5 optim. 2-2-2", {}, (0.1, 0.2, 0.5, 0.8, 1.0, 2.0),
     tuple(Optimizer(n) for n in NAMES)),
    ("adam 8⁵ batch 4", WIDEST, (0.01,), ()),
]


def timed(fn: object, repeat: int) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by the other core's work)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; best is shown")
    parser.add_argument("--skip-formulas", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'epochs × rates':>16} | {'formula cells':>13} | {'build (s)':>9} | "
              f"{'file (MB)':>9} | {'µs / cell':>9}")
        print("-" * 70)
        for epochs in (100, 1_000, 10_000):
            run = Run(epochs=epochs)
            out = Path(tmp) / f"b{epochs}.xlsx"
            seconds = timed(lambda run=run, out=out: build(run, out),
                            args.repeat if epochs < 10_000 else 1)
            cells = epochs * 31 * len(run.learning_rates)
            print(f"{f'{epochs:,} × 6':>16} | {cells:>13,} | {seconds:>9.2f} | "
                  f"{os.path.getsize(out) / 1e6:>9.1f} | {seconds / cells * 1e6:>9.1f}")
        # issue 20: a network other than the default (the same writer), goal < 3 s on 2 cores
        net = NetRun(netrun.net_spec({
            "layers": [3, 4, 4, 2], "activation": "tanh",
            "examples": [[0.1, 0.2, 0.3, 0.9, 0.1], [0.5, -0.2, 0.1, 0.2, 0.8]]}))
        out = Path(tmp) / "net.xlsx"
        seconds = timed(lambda: writer.build(net, out), args.repeat)
        cells = net.epochs * netrun.columns(net.net) * len(net.learning_rates)
        print(f"{'3-4-4-2, 2 ex.':>16} | {cells:>13,} | {seconds:>9.2f} | "
              f"{os.path.getsize(out) / 1e6:>9.1f} | {seconds / cells * 1e6:>9.1f}"
              "   (100 epochs × 6 rates; goal < 3 s)")
        # issue 30: the largest optimizer workbooks the cell bound allows
        for label, fields, rates, opts in LARGEST:
            base = NetRun(netrun.net_spec(fields), rates, 1, opts)
            epochs = netrun.MAX_CELLS // (netrun.row_cells(base) * len(rates))
            run = NetRun(base.net, rates, epochs, opts)
            out = Path(tmp) / "largest.xlsx"
            seconds = timed(lambda run=run, out=out: writer.build(run, out), 1)
            cells = epochs * netrun.row_cells(run) * len(rates)
            print(f"{label:>16} | {cells:>13,} | {seconds:>9.2f} | "
                  f"{os.path.getsize(out) / 1e6:>9.1f} | {seconds / cells * 1e6:>9.1f}"
                  f"   ({epochs:,} rows × {len(rates)} rate(s) × {max(1, len(opts))} "
                  "optimizer(s))")
        if args.skip_formulas:
            return
        out = Path(tmp) / "backprop.xlsx"
        build(Run(), out)
        started = time.perf_counter()
        model = formulas.ExcelModel().loads(str(out)).finish()
        loaded = time.perf_counter()
        solution = model.calculate()
        done = time.perf_counter()
        print()
        print("formulas engine, default workbook (6 × 100 epochs):")
        print(f"  load + compile {loaded - started:6.1f} s")
        print(f"  calculate      {done - loaded:6.1f} s   ({len(solution):,} cells)")
        print(f"  total          {done - started:6.1f} s   (goal < 60 s)")


if __name__ == "__main__":
    main()
