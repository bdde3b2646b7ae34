"""`check` time per workbook by size, and the class mode on a folder of submissions.

Run: python benchmarks/bench_check.py [--class-size 50] [--big]
Each check runs the command as a grader does (a fresh process, its limited child, the formulas
engine). Goals (issue 11): median < 3 s per submission, every submission < 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.messy import Layout, make
from workbook_builder.network.spec import Run
from workbook_builder.sheet.writer import build


def check_seconds(path: Path, *extra: str) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbook_builder", "check", str(path),
                           "--timeout", "900", *extra], capture_output=True, text=True)
    return time.perf_counter() - started, proc.returncode


def formula_count(path: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return sum(isinstance(c.value, str) and c.value.startswith("=")
               for ws in wb.worksheets for c in ws._cells.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=50)
    parser.add_argument("--big", action="store_true",
                        help="also 6 sheets × 300 epochs (several minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "template, 8 epochs": make(folder / "t8.xlsx", Layout(rows=8)),
            "template, 100 epochs": make(folder / "t100.xlsx", Layout(rows=100)),
            "builder, 1 sheet × 100 epochs": build(Run(learning_rates=(0.5,)),
                                                  folder / "b1x100.xlsx"),
            "builder, 6 sheets × 100 epochs": build(Run(), folder / "b6x100.xlsx"),
        }
        if args.big:
            cases["builder, 6 sheets × 300 epochs"] = build(Run(epochs=300),
                                                            folder / "b6x300.xlsx")
        print(f"check, one workbook at a time, {os.cpu_count()} cores, engine: formulas "
              "(whole table loaded once, recomputed at the given and at changed inputs)\n")
        print("| workbook | formulas | check | exit |")
        print("| --- | ---: | ---: | ---: |")
        for name, path in cases.items():
            seconds, code = check_seconds(path)
            print(f"| {name} | {formula_count(path):,} | {seconds:.1f} s | {code} |", flush=True)
        klass = folder / "class"
        klass.mkdir()
        for k in range(args.class_size):
            shutil.copyfile(cases["template, 100 epochs"], klass / f"student{k:03d}.xlsx")
        started = time.perf_counter()
        _, code = check_seconds(klass, "--csv", str(folder / "class.csv"))
        seconds = time.perf_counter() - started
        print(f"\nclass mode: {args.class_size} submissions (template, 100 epochs) in "
              f"{seconds:.0f} s, {seconds / args.class_size:.1f} s a submission "
              f"({os.cpu_count()} at once), exit {code}")


if __name__ == "__main__":
    main()
