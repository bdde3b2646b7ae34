"""`check` time per workbook for networks other than 2-2-2 (issue 17: < 5 s for a table of up
to 100 epochs × 4 examples on 2 cores).

Run: python -m benchmarks.bench_check_networks [--repeat 3]
Each check runs the command as a grader does (a fresh process, its limited child, the formulas
engine) with the network given as --spec; the builder's workbook of each network: one rate
sheet of 100 epochs, 4 examples.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbook_builder.network import netrun
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import writer

FOUR = (((0.0, 1.0), (1.0,)), ((1.0, 0.0), (1.0,)), ((1.0, 1.0), (0.0,)), ((0.0, 0.0), (0.0,)))
NETWORKS = {
    "2-2-1 sigmoid, ½SE (XOR)": NetSpec(layers=(2, 2, 1), examples=FOUR, weights=None),
    "2-3-1 tanh, trainable biases": NetSpec(layers=(2, 3, 1), activation="tanh", examples=FOUR,
                                           biases=(0.1, 0.2), train_biases=True, weights=None),
    "2-4-4-2 ReLU, softmax + CE": NetSpec(
        layers=(2, 4, 4, 2), activation="relu", output_activation="softmax", loss="ce",
        examples=tuple((x, (t[0], 1.0 - t[0])) for x, t in FOUR), weights=None),
    "3-4-3 leaky ReLU, MSE, fixed biases": NetSpec(
        layers=(3, 4, 3), activation="leaky-relu", loss="mse", biases=(0.1, -0.1),
        examples=tuple(((x[0], x[1], 0.5), (t[0], 0.5, 1 - t[0])) for x, t in FOUR),
        weights=None),
}


def toml(spec: NetSpec) -> str:
    lines = [f"layers = {list(spec.layers)}", f'activation = "{spec.activation}"',
             f'output-activation = "{spec.output_activation}"', f'loss = "{spec.loss}"',
             f"train-biases = {str(spec.train_biases).lower()}",
             "examples = " + str([list(x) + list(t) for x, t in spec.examples])]
    if spec.biases is not None:
        lines.append(f"biases = {list(spec.biases)}")
    return "\n".join(lines) + "\n"


def check_seconds(path: Path, spec_file: Path) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbook_builder", "check", str(path),
                           "--spec", str(spec_file)], capture_output=True, text=True)
    return time.perf_counter() - started, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="checks per workbook (median)")
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    print(f"check --spec, one workbook at a time, {os.cpu_count()} cores; the builder's "
          f"workbook, 1 rate sheet × {args.epochs} epochs; median of {args.repeat}\n")
    print("| network | examples | columns | check (median) | slowest | exit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, spec) in enumerate(NETWORKS.items()):
            path = writer.build(netrun.NetRun(spec, (0.5,), args.epochs),
                                   Path(tmp) / f"net{k}.xlsx")
            spec_file = Path(tmp) / f"net{k}.toml"
            spec_file.write_text(toml(spec))
            times, codes = [], set()
            for _ in range(args.repeat):
                seconds, code = check_seconds(path, spec_file)
                times.append(seconds)
                codes.add(code)
            print(f"| {label} | {len(spec.examples)} | {netrun.columns(spec)} | "
                  f"{statistics.median(times):.1f} s | {max(times):.1f} s | "
                  f"{', '.join(map(str, sorted(codes)))} |", flush=True)


if __name__ == "__main__":
    main()
