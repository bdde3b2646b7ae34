"""The class kit: `assign` for a roster of 30 / 100 students (starters, answers, key), and
`check --roster` of 30 answer workbooks, as the command line runs them.

Run: python benchmarks/bench_kit.py [--students 30 100] [--skip-check]
Goal (issue 18): 30 ids give 30 starter workbooks and a key in under 10 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbook_builder.classroom import kit
from workbook_builder.classroom.roster import Student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--skip-check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'students':>8} | {'assign (s)':>10} | {'s / student':>11}")
        print("-" * 36)
        for n in args.students:
            students = [Student(f"s{k:03d}", {}) for k in range(n)]
            started = time.perf_counter()
            kit.assign(students, Path(tmp) / f"kit{n}", b"benchmark", 100, None)
            took = time.perf_counter() - started
            print(f"{n:>8} | {took:>10.2f} | {took / n:>11.3f}")
        if args.skip_check:
            return
        folder = Path(tmp) / f"kit{args.students[0]}"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "workbook_builder", "check",
                               str(folder / "answers"), "--roster", str(folder / "key.csv")],
                              capture_output=True, text=True)
        took = time.perf_counter() - started
        print(f"\ncheck --roster of {args.students[0]} answer workbooks: {took:.1f} s "
              f"(exit status {done.returncode})")


if __name__ == "__main__":
    main()
