"""A class graded as a teacher grades it, end to end: a Moodle grade export as the roster,
`assign`, every student's workbook in Moodle's download layout (a folder per participant, named
by the student; one in ten with a planted mistake, one in twenty missing), `check --roster
--csv --export moodle`, and the same class in 2 shards and a `merge`.

Run: python -m benchmarks.bench_grading [--students 30 200] [--jobs 2] [--epochs 100]
Each step is the command as a teacher types it, in its own process; the table gives wall
seconds and what the grades hold.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import planted
from tests.conftest import cli


def moodle_export(path: Path, students: int) -> list[str]:
    ids = [f"{k:05d}" for k in range(1, students + 1)]
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["First name", "Last name", "ID number", "Institution", "Department",
                    "Email address", "Assignment: Backprop (Real)",
                    "Last downloaded from this course"])
        for k, sid in enumerate(ids):
            w.writerow([f"Given{k}", f"Family{k}", sid, "Uni", "CS", f"s{sid}@uni.example",
                        "-", "1764979200"])
    return ids


def run(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, done


def bench(students: int, jobs: int, epochs: int, root: Path) -> dict[str, object]:
    root.mkdir()
    ids = moodle_export(root / "export.csv", students)
    t_assign, done = run([*cli("assign", "export.csv", "--out", "kit", "--secret",
                               "bench secret 1234", "--epochs", str(epochs), "-q")], root)
    assert done.returncode == 0, done.stderr
    download = root / "submissions"
    handed = 0
    for k, sid in enumerate(ids):
        if k % 20 == 19:
            continue  # hands in nothing
        folder = download / f"Given{k} Family{k}_{9000 + k}_assignsubmission_file_"
        folder.mkdir(parents=True)
        answer = root / "kit" / "answers" / f"{sid}.xlsx"
        if k % 10 == 3:
            planted.plant(answer, folder / "backprop.xlsx", "∂E/∂w1", lambda f, r: f + "*2")
        else:
            shutil.copyfile(answer, folder / "backprop.xlsx")
        handed += 1
    t_check, done = run([*cli("check", "submissions", "--roster", "kit/key.csv", "--csv",
                              "class.csv", "--export", "moodle", "moodle.csv", "--jobs",
                              str(jobs))], root)
    assert done.returncode in (0, 1), done.stderr
    with (root / "moodle.csv").open(encoding="utf-8") as f:
        grades = list(csv.DictReader(f))
    t_shards = 0.0
    for part in (1, 2):
        t, done = run([*cli("check", "submissions", "--roster", "kit/key.csv", "--shard",
                            f"{part}/2", "--csv", f"part-{part}.csv", "--jobs", str(jobs))],
                      root)
        assert done.returncode in (0, 1), done.stderr
        t_shards += t
    t_merge, done = run([*cli("merge", "part-1.csv", "part-2.csv", "--roster", "kit/key.csv",
                              "--csv", "merged.csv")], root)
    assert done.returncode in (0, 1), done.stderr
    graded = [g for g in grades if g["Assignment: Backprop (Real)"]]
    return {"students": students, "files": handed, "assign": t_assign, "check": t_check,
            "per file": t_check / handed, "shards": t_shards, "merge": t_merge,
            "graded": len(graded), "full": sum(g["Assignment: Backprop (Real)"] == "100"
                                               for g in graded),
            "empty": len(grades) - len(graded)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[30, 200])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, --jobs {args.jobs}, {args.epochs} epochs a workbook, "
          f"load {os.getloadavg()[0]:.1f} at the start", file=sys.stderr)
    print("| students | files | assign | check --roster --export moodle | a file | 2 shards "
          "(one after the other) | merge | grades | 100 points | empty (no file) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for n in args.students:
            r = bench(n, args.jobs, args.epochs, Path(tmp) / f"class{n}")
            print(f"| {r['students']} | {r['files']} | {r['assign']:.1f} s | {r['check']:.1f} s "
                  f"| {r['per file']:.2f} s | {r['shards']:.1f} s | {r['merge']:.1f} s | "
                  f"{r['graded']} | {r['full']} | {r['empty']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
