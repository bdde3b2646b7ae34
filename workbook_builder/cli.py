"""Command line: build the workbook (default), render it, or check a hand-made one.

The only module that prints or exits.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any, NoReturn

from workbook_builder import spec
from workbook_builder.audit import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT
from workbook_builder.foreign import AuditError
from workbook_builder.render import RenderError
from workbook_builder.spec import Network, Run, SpecError

DEFAULT_OUT = Path("generated") / "backprop.xlsx"
SCRIPT = "backprop-workbook"  # the console script (pyproject's [project.scripts])
COMMANDS = ("check",)  # besides the default, building


def invoked_as(argv0: str) -> str:
    """The command as the user typed it, for usage lines and messages: the console script by
    its name, anything else (``python -m``, a test) as ``python -m workbook_builder``."""
    # PureWindowsPath splits at a slash and at a backslash: a path from either system
    name = PureWindowsPath(argv0).name.lower().removesuffix(".exe").removesuffix("-script.py")
    return SCRIPT if name == SCRIPT else "python -m workbook_builder"


PROG = invoked_as(sys.argv[0] if sys.argv else "")


class UsageError(Exception):
    """Bad input from the command line: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look), exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse reads "-1e-3" as an option (its pattern knows only -1 and -1.5): a number
        # in any float syntax is a value here, since no option looks like one
        self._negative_number_matcher = re.compile(
            r"^-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^-(?:inf|infinity|nan)$", re.IGNORECASE)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once, as it would be typed: none for options without one (None,
    or a switch that is off), and a list as its values (``0.1 0.2``), not ``[0.1, 0.2]``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)

    def _expand_help(self, action: argparse.Action) -> str:
        if isinstance(action.default, list | tuple):
            action = copy.copy(action)
            action.default = " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                      for v in action.default)
        return super()._expand_help(action)


def unknown_command(word: str) -> str:
    """The one-line error for a first word that is no command, with the likely one."""
    close = difflib.get_close_matches(word.lower(), COMMANDS, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif word.lower().endswith((".xlsx", ".xlsm")):
        hint = f"to check it: {PROG} check {word}"
    else:
        hint = f"the command is 'check'; to build, give only options (see {PROG} --help)"
    return f"unknown command {word!r}; {hint}"


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Write an Excel workbook that works backpropagation of a 2-2-2 sigmoid "
        "network epoch by epoch in live formulas: one sheet per learning rate, with charts and "
        "a summary.",
        formatter_class=HelpFormatter,
        epilog="Example: %(prog)s --lr 0.5 5 50 --epochs 200 --out sweep.xlsx. "
        "To audit a hand-made workbook: %(prog)s check FILE.xlsx [--json] (see check --help).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="workbook to write (replaced only once the new one is complete)")
    parser.add_argument("--epochs", type=positive_int, default=spec.DEFAULT_EPOCHS,
                        help=f"rows per sheet; epoch 0 holds the initial weights "
                        f"(at most {spec.MAX_TOTAL_ROWS:,} rows over all sheets)")
    parser.add_argument("--lr", type=finite_float, nargs="+", metavar="LR",
                        default=list(spec.DEFAULT_LEARNING_RATES),
                        help="learning rates η, one sheet each")
    parser.add_argument("--inputs", type=finite_float, nargs=2, metavar=("I1", "I2"),
                        default=list(spec.DEFAULT_INPUTS), help="the two inputs")
    parser.add_argument("--targets", type=finite_float, nargs=2, metavar=("T1", "T2"),
                        default=list(spec.DEFAULT_TARGETS), help="the two targets")
    parser.add_argument("--weights", type=finite_float, nargs=8,
                        metavar=tuple(f"W{k}" for k in range(1, 9)),
                        default=list(spec.DEFAULT_WEIGHTS), help="initial weights w1..w8")
    parser.add_argument("--biases", type=finite_float, nargs=2, metavar=("B1", "B2"),
                        default=None, help="fixed biases: b1 for both hidden neurons, b2 for "
                        "both outputs (default: no biases)")
    parser.add_argument("--render", action="store_true",
                        help="also recalculate the workbook in LibreOffice (soffice) and save "
                        "a PNG of each sheet beside it")
    parser.add_argument("--timeout", type=positive_int, default=180,
                        help="seconds LibreOffice may take before it is stopped (with --render)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    # both forms in the usage line: the build (argparse's own line) and the check
    build_usage = parser.format_usage().removeprefix("usage: ").rstrip()
    parser.usage = f"{build_usage}\n       {PROG} check [-h] [options] PATH [PATH ...]"
    return parser


def build_check_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} check",
        description="Audit hand-made backpropagation workbooks (one, several, or folders of "
        "a class): find each table as a grader reads it, recompute its formulas, check every "
        "cell against its own upstream cells at the given and at changed inputs, and name the "
        "wrong columns with a diagnosis; each workbook is checked in a separate process with "
        "time and memory limits. "
        "Exit status: 0 every quantity found, checked and right; 1 some column wrong; 2 the "
        "file could not be checked (or a limit was reached); 3 what was found is right but "
        "some quantities were not found or not checked; 130 interrupted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="a workbook (.xlsx), or several, or folders of them (a class)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="also write the class table as CSV (several files)")
    parser.add_argument("--annotate", type=Path, metavar="OUT",
                        help="write a copy with the wrong cells red and noted, and a Check "
                        "sheet: OUT.xlsx for one file, a folder for several")
    parser.add_argument("--every-row", action="store_true",
                        help="recompute every epoch row; by default rows that repeat the "
                        "formulas of the first ones (the same in R1C1 form) are checked by "
                        "their formula text, which proves them as well and is much faster")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="workbooks checked at once (several files)")
    parser.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT,
                        help="seconds a workbook's check may take; the checker, a separate "
                        "process, is stopped then")
    parser.add_argument("--max-memory", type=positive_int, metavar="MB",
                        default=DEFAULT_MEMORY_MB,
                        help="memory a workbook's checker process may use (MB)")
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    from workbook_builder import batch

    files = batch.collect(args.paths)
    if not files:
        raise UsageError("no workbooks (.xlsx) in " + ", ".join(map(str, args.paths)))
    single = len(args.paths) == 1 and not args.paths[0].is_dir()
    if args.annotate is not None:
        if single and not args.annotate.is_dir():
            check_output(args.annotate, create_folder=False, flag="--annotate")
        else:
            args.annotate.mkdir(parents=True, exist_ok=True)
    if single:
        return check_one(files[0], args)
    return check_class(files, args)


def check_one(path: Path, args: argparse.Namespace) -> int:
    from workbook_builder import batch
    from workbook_builder.audit_report import status, to_json, to_lines
    from workbook_builder.checker import check_isolated

    target = args.annotate
    if target is not None and target.is_dir():
        target = batch.annotated_name(target, path)
    reports = check_isolated(path, args.timeout, args.max_memory, progress=True,
                             annotate_to=target, every_row=args.every_row)
    if args.json:
        print(json.dumps(to_json(path, reports), indent=2, ensure_ascii=False,
                         allow_nan=False, default=str))
    else:
        print("\n".join(to_lines(reports)))
    if target is not None:
        print(f"{PROG} check: annotated copy: {target}", file=sys.stderr)
    return status(reports)


def check_class(files: list[Path], args: argparse.Namespace) -> int:
    import csv

    from tqdm import tqdm

    from workbook_builder import batch
    from workbook_builder.audit_report import to_json
    from workbook_builder.files import atomic_path

    with tqdm(total=len(files), unit="file", file=sys.stderr, desc="checking",
              disable=None) as bar:
        rows = batch.check_all(files, args.jobs, args.timeout, args.max_memory, args.annotate,
                               done=lambda row: bar.update(1), every_row=args.every_row)
    if args.json:
        out = [{**to_json(Path(r.file), r.reports), "verdict": r.verdict, "exit_status": r.status,
                "error": r.error, "seconds": round(r.seconds, 2)} for r in rows]
        print(json.dumps(out, indent=2, ensure_ascii=False, allow_nan=False, default=str))
    else:
        print("\n".join(batch.markdown(rows)))
    if args.csv is not None:
        check_output(args.csv, create_folder=False, flag="--csv", suffix=".csv")
        with atomic_path(args.csv) as part, part.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=batch.CSV_FIELDS)
            writer.writeheader()
            writer.writerows(batch.csv_rows(rows))
    return batch.worst(rows)


def run_from_args(args: argparse.Namespace) -> Run:
    network = Network(
        inputs=tuple(args.inputs),
        targets=tuple(args.targets),
        weights=tuple(args.weights),
        biases=None if args.biases is None else tuple(args.biases),
    )
    return Run(network=network, learning_rates=tuple(args.lr), epochs=args.epochs)


def check_output(out: Path, create_folder: bool, flag: str = "--out",
                 suffix: str = ".xlsx") -> None:
    """Fail early, in one line, when ``out`` cannot be written."""
    folder = out.parent
    if create_folder:
        folder.mkdir(parents=True, exist_ok=True)
    if out.is_dir():
        raise UsageError(f"{flag} {out} is a folder; give a file name such as "
                         f"{out / ('x' + suffix)}")
    if not folder.is_dir():
        raise UsageError(f"output folder {folder} does not exist; create it or choose another "
                         f"{flag}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"output folder {folder} is not writable; choose another {flag}")
    if out.suffix.lower() != suffix:
        raise UsageError(f"{flag} {out} must end in {suffix}")


def cmd_build(args: argparse.Namespace) -> int:
    from workbook_builder.writer import build  # XlsxWriter is needed only here

    run = run_from_args(args)
    check_output(args.out, create_folder=args.out == DEFAULT_OUT)
    started = time.perf_counter()
    rows = run.epochs * len(run.learning_rates)
    progress = None
    if rows >= 20_000 and not args.quiet:
        seconds, megabytes = spec.cost(rows)
        print(f"writing {rows:,} rows: about {seconds:.0f} s and {megabytes:,.0f} MB of memory",
              file=sys.stderr)

        def progress(sheet: str) -> None:
            print(f"  writing {sheet} ({run.epochs} epochs)", file=sys.stderr)
    build(run, args.out, progress)
    if not args.quiet:
        print(f"wrote {args.out}: {len(run.learning_rates)} learning rates × {run.epochs} "
              f"epochs in {time.perf_counter() - started:.2f} s")
    if args.render:
        from workbook_builder import layout, render

        started = time.perf_counter()
        pictures = render.render(args.out, layout.pictures(run), args.out.parent,
                                 timeout=args.timeout)
        if not args.quiet:
            print(f"rendered {len(pictures)} pictures with LibreOffice into {args.out.parent} "
                  f"in {time.perf_counter() - started:.1f} s: "
                  + ", ".join(p.name for p in pictures))
    return 0


class Terminated(Exception):
    """SIGTERM, turned into an exception so that temporary files are removed on the way out."""


def _terminate(signum: int, frame: object) -> NoReturn:
    # Raised into whatever runs: should it land in a finalizer and be swallowed, the build
    # simply completes (its file is whole, renamed into place) and a check's limited child
    # is still killed by its parent's finally; nothing is left half-done either way.
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 check found mistakes, 2 bad
    input or a limit reached, 130 interrupted, 143 terminated)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # only the main thread may set handlers (main() called from a thread: leave it)
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        previous = None
    try:
        if argv[:1] == ["check"]:
            return cmd_check(build_check_parser().parse_args(argv[1:]))
        if argv and not argv[0].startswith("-"):  # building takes options only
            raise UsageError(unknown_command(argv[0]))
        return cmd_build(build_parser().parse_args(argv))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, SpecError, RenderError, AuditError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.strerror or exc}: {exc.filename or 'a file'}")
    except KeyboardInterrupt:  # outputs are written atomically: nothing half-written remains
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def fail(message: str) -> int:
    """One line on stderr (a newline inside a file name is shown as \\n), exit status 2."""
    print(f"{PROG}: error: " + message.replace("\n", "\\n").replace("\r", "\\r"),
          file=sys.stderr)
    return 2
