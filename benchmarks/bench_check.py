"""`check` time per workbook by size, and the class mode on a folder of submissions.

Run: python -m benchmarks.bench_check [--class-size 50] [--big]
Each check runs the command as a grader does (a fresh process, its limited child), once with
the check's own evaluator (the default) and once with the formulas engine
(WORKBOOK_BUILDER_ENGINE=formulas, the old path); "open" is a fresh process that only opens the
file with openpyxl. Goal (issue 29): check ≤ 2.5× open at the median, ≤ 5× at the slowest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import handmade
from tests.messy import Layout, make
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.spec import Run
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet.writer import build

XOR = NetSpec(layers=(2, 3, 1), activation="tanh", train_biases=True, biases=(0.1, 0.2),
              examples=(((0, 1), (1,)), ((1, 0), (1,)), ((1, 1), (0,)), ((0, 0), (0,))),
              weights=None)


def late_row_if(r: int, first: int, f: dict[str, str]) -> None:
    """w1 through IF(ROW()>=20, …): position-dependent, so no row is proved by its text."""
    if r > first:
        f["w1"] = f"=IF(ROW()>=20,1,1)*({f['w1'][1:]})"


def check_seconds(path: Path, *extra: str, engine: str = "auto") -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbook_builder", "check", str(path),
                           "--timeout", "900", *extra], capture_output=True, text=True,
                          env={**os.environ, "WORKBOOK_BUILDER_ENGINE": engine})
    return time.perf_counter() - started, proc.returncode


def open_seconds(path: Path) -> float:
    """A fresh process that imports openpyxl and opens the file, as check's reading does."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys, openpyxl; "
                    "openpyxl.load_workbook(sys.argv[1])", str(path)], check=True)
    return time.perf_counter() - started


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
        # the shapes of real submissions: the template's layout with helper columns, Google
        # Sheets' POW and text rows; a hand-made other network; one whose every row is
        # recomputed (a position-dependent IF)
        cases["messy: helpers, POW, text rows, 100 epochs"] = make(
            folder / "m100.xlsx", Layout(rows=100, helpers=True, power="POW", text_rows=2))
        cases["IF(ROW()) in w1: every row recomputed, 100 epochs"] = make(
            folder / "if100.xlsx", Layout(rows=100, edit=late_row_if))
        cases["hand-made XOR 2-3-1 tanh, 4 examples, 100 epochs"] = handmade.write(
            XOR, folder / "xor100.xlsx", epochs=100, deltas=False)
        cases["builder XOR 2-3-1 tanh, 4 examples, 100 epochs"] = build(
            NetRun(XOR, (0.5,), 100), folder / "bxor100.xlsx")
        if args.big:
            cases["builder, 6 sheets × 300 epochs"] = build(Run(epochs=300),
                                                            folder / "b6x300.xlsx")
        print(f"check, one workbook at a time, {os.cpu_count()} cores: the own evaluator and "
              "the formulas engine, each against a process that only opens the file\n")
        print("| workbook | formulas | open | check (own) | ratio | check (formulas) | ratio "
              "| exit |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        ratios: dict[str, list[float]] = {"own": [], "formulas": []}
        for name, path in cases.items():
            opened = open_seconds(path)
            own, code = check_seconds(path)
            old, old_code = check_seconds(path, engine="formulas")
            same = code if code == old_code else f"{code} (formulas: {old_code})"
            print(f"| {name} | {formula_count(path):,} | {opened:.2f} s | {own:.2f} s | "
                  f"{own / opened:.1f}× | {old:.2f} s | {old / opened:.1f}× | {same} |",
                  flush=True)
            ratios["own"].append(own / opened)
            ratios["formulas"].append(old / opened)
        for engine, values in ratios.items():
            print(f"\n{engine}: check / open median {statistics.median(values):.1f}×, slowest "
                  f"{max(values):.1f}×", end="")
        print()
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
