"""`check` on a class of 200 laid out as an LMS download: the whole run, Ctrl-C, --resume.

Run: python -m benchmarks.bench_class [--students 191] [--jobs 2] [--stop-at 190]
The folder (tests/lms.py): a folder per student with the same file name in each (one in 25 a
right workbook, one in 25 a wrong one, the rest files that are not workbooks), plus two
students' smith.xlsx in two groups, a Latin-1 name, a link loop, a dangling link, a link out of
the folder, a link to a folder, a named pipe and an .ods: 200 rows with the default 191.
Each run is the command as a grader runs it, in its own process; Ctrl-C is SIGINT to it.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import cli
from tests.lms import lms_download
from tests.messy import Layout, make

RESUMING = re.compile(r"resuming: (\d+) of")


def template_bug(r: int, first: int, f: dict[str, str]) -> None:
    """The class template's a_h1-for-a_h2 in ∂E/∂w3."""
    f["∂E/∂w3"] = f["∂E/∂w3"].replace(f"P{r}*(1-P{r})", f"N{r}*(1-N{r})")


def csv_count(table: Path) -> int:
    if not table.exists():
        return 0
    with table.open(encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))


def printed_rows(out: str) -> int:
    return sum(1 for line in out.splitlines() if line.startswith("| ")
               and not line.startswith(("| file", "| ---")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=191)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stop-at", type=int, default=190, help="rows done before Ctrl-C")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        right = make(base / "right.xlsx")
        wrong = make(base / "wrong.xlsx", Layout(edit=template_bug))
        ods = None
        if shutil.which("soffice"):
            from workbook_builder.sheet import render

            ods = render.convert(right, "ods", base)
        folder = base / "download"
        folder.mkdir()
        expected = lms_download(folder, args.students, right, wrong, ods)
        command = ["check", str(folder), "--jobs", str(args.jobs), "--csv"]
        print(f"{len(expected)} rows expected; {args.jobs} jobs; {os.cpu_count()} cores; load "
              f"average {os.getloadavg()[0]:.2f} at the start\n")
        print("| run | wall s | exit | rows printed | rows in CSV | annotated copies | "
              "checked anew |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

        def report(name: str, seconds: float, code: int, out: str, table: Path,
                   notes: Path | None, err: str) -> None:
            copies = len(list(notes.rglob("*.checked.xlsx"))) if notes else "-"
            resumed = next((m.group(1) for m in map(RESUMING.search, err.splitlines()) if m),
                           "0")
            anew = csv_count(table) - int(resumed)
            print(f"| {name} | {seconds:.1f} | {code} | {printed_rows(out)} | "
                  f"{csv_count(table)} | {copies} | {anew} |", flush=True)

        table, notes = base / "class.csv", base / "checked"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "workbook_builder", *command, str(table),
                               "--annotate", str(notes)], capture_output=True, text=True)
        report("whole class", time.perf_counter() - started, done.returncode, done.stdout,
               table, notes, done.stderr)

        table = base / "interrupted.csv"
        started = time.perf_counter()
        proc = subprocess.Popen(cli(*command, str(table)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        while csv_count(table) < args.stop_at and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate()
        report(f"Ctrl-C after {args.stop_at} rows", time.perf_counter() - started,
               proc.returncode, out, table, None, err)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "workbook_builder", *command, str(table),
                               "--resume"], capture_output=True, text=True)
        report("the same with --resume", time.perf_counter() - started, done.returncode,
               done.stdout, table, None, done.stderr)
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
