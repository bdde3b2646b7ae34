"""Command line: build the workbook (default), render it, or check a hand-made one.

The only module that prints or exits.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any, NoReturn

from workbook_builder.check.audit import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT
from workbook_builder.check.foreign import AuditError
from workbook_builder.classroom.points import PointsError
from workbook_builder.classroom.roster import RosterError
from workbook_builder.network import netrun, spec
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.spec import SpecError
from workbook_builder.sheet.render import RenderError

DEFAULT_OUT = Path("generated") / "backprop.xlsx"
SCRIPT = "backprop-workbook"  # the console script (pyproject's [project.scripts])
COMMANDS = ("check", "assign")  # besides the default, building


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
        hint = (f"the commands are 'check' and 'assign'; to build, give only options (see "
                f"{PROG} --help)")
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


def add_render_options(parser: Parser, what: str) -> None:
    """--render (``what`` it draws) and the --timeout LibreOffice gets for it."""
    parser.add_argument("--render", action="store_true", help=what)
    parser.add_argument("--timeout", type=positive_int, default=180,
                        help="seconds LibreOffice may take before it is stopped (with --render)")


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
    parser.add_argument("--inputs", type=finite_float, nargs="+", metavar="I", default=None,
                        help="the one example's inputs (default: 0.05 0.10)")
    parser.add_argument("--targets", type=finite_float, nargs="+", metavar="T", default=None,
                        help="the one example's targets (default: 0.5 0.5)")
    parser.add_argument("--weights", type=finite_float, nargs="+", metavar="W", default=None,
                        help="every initial weight in the course's order: layer by layer, "
                        "within a layer by destination neuron, then source neuron (2-2-2: w1..w8, "
                        "default 0.15 0.20 0.25 0.30 0.40 0.45 0.50 0.55); without it another "
                        "network gets seeded weights (--init-seed)")
    parser.add_argument("--biases", type=finite_float, nargs="+", metavar="B", default=None,
                        help="one initial bias per non-input layer, shared by its neurons "
                        "(2-2-2: b1 for both hidden neurons, b2 for both outputs); fixed unless "
                        "--train-biases (default: no biases)")
    net = parser.add_argument_group(
        "other networks", "any of these builds the workbook of that network (see the README, "
        "'Other networks'); without them, the 2-2-2 sigmoid network")
    net.add_argument("--layers", type=positive_int, nargs="+", metavar="N", default=None,
                     help="neurons per layer, input first, output last: 1 to 3 hidden layers, "
                     "1 to 8 neurons each (default: 2 2 2)")
    net.add_argument("--activation", metavar="{sigmoid,tanh,relu,leaky-relu,linear}",
                     default=None, help="the hidden layers' activation (default: sigmoid)")
    net.add_argument("--output-activation", metavar="{sigmoid,linear,softmax}", default=None,
                     help="the output layer's activation (default: sigmoid)")
    net.add_argument("--loss", metavar="{half-se,mse,ce}", default=None,
                     help="half-se: ½·Σ(a − t)²; mse: nn.MSELoss; ce: cross-entropy "
                     "(nn.CrossEntropyLoss with softmax, nn.BCELoss with sigmoid) "
                     "(default: half-se)")
    net.add_argument("--example", type=finite_float, nargs="+", action="append",
                     metavar="X_OR_T", default=None,
                     help="one training example, its inputs then its targets; repeat it for "
                     "each example (up to 16)")
    net.add_argument("--train-biases", action="store_true",
                     help="every hidden and output neuron gets its own bias that learns, "
                     "starting from its layer's --biases value (0 without)")
    net.add_argument("--init-seed", type=int, metavar="SEED", default=None,
                     help="seed of the documented initial weights when --weights is not given "
                     "(uniform in ±1/√fan-in, 2 decimals; default: 0)")
    net.add_argument("--spec", type=Path, metavar="FILE.toml", default=None,
                     help="the network's fields from a TOML file (layers, activation, "
                     "output-activation, loss, examples, inputs, targets, biases, train-biases, "
                     "weights, init-seed); options given here override it")
    add_render_options(parser, "also recalculate the workbook in LibreOffice (soffice) and "
                       "save a PNG of each sheet beside it")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    # both forms in the usage line: the build (argparse's own line) and the check
    build_usage = parser.format_usage().removeprefix("usage: ").rstrip()
    parser.usage = (f"{build_usage}\n       {PROG} check [-h] [options] PATH [PATH ...]"
                    f"\n       {PROG} assign [-h] [options] ROSTER.csv --out DIR")
    return parser


def bounded_int(low: int, high: int, unit: str, why: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (``why``: the floor's reason,
    if it needs one)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:,} {unit}"
                                             + (f" ({why})" if why else "") + f", got {value:,}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,} {unit}, got {value:,}")
        return value
    return parse


def build_check_parser() -> Parser:
    from workbook_builder.check.checker import MAX_MEMORY_MB, MIN_MEMORY_MB
    from workbook_builder.isolation import MAX_SECONDS

    parser = Parser(
        prog=f"{PROG} check",
        description="Audit hand-made backpropagation workbooks (one, several, or folders of "
        "a class, subfolders included): find each table as a grader reads it, recompute its "
        "formulas, check every cell against its own upstream cells at the given and at changed "
        "inputs, and name the wrong columns with a diagnosis; each workbook is checked in a "
        "separate process with time and memory limits (.ods and .xls are converted by "
        "LibreOffice first). "
        "Exit status: 0 every quantity found, checked and right; 1 some column wrong; 2 the "
        "file could not be checked (or a limit was reached, or bad input); 3 what was found is "
        "right but some quantities were not found or not checked; for several files, the "
        "worst; 129 the terminal closed; 130 interrupted (the rows done are kept).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="a workbook (.xlsx, .ods, .xls), or several, or folders of them "
                        "(a class; subfolders too)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="also write the table as CSV (one row per file), kept up to date "
                        "as files are finished")
    parser.add_argument("--resume", action="store_true",
                        help="with --csv: keep the rows of that earlier (interrupted) run whose "
                        "files are unchanged (same name, size and time), check the rest")
    parser.add_argument("--annotate", type=Path, metavar="OUT",
                        help="write a copy with the wrong cells red and noted, and a Check "
                        "sheet: OUT.xlsx for one file, a folder for several (mirroring their "
                        "subfolders)")
    parser.add_argument("--roster", type=Path, metavar="KEY.csv",
                        help="the key that assign wrote: match each file to its student (by "
                        "the id in its path, or the starter's student id cell) and check that "
                        "it holds that student's numbers")
    parser.add_argument("--points", type=Path, metavar="FILE.toml",
                        help="the rubric for the score (default: forward pass 30, loss 15, "
                        "gradients 35, updates 20)")
    parser.add_argument("--every-row", action="store_true",
                        help="recompute every epoch row; by default rows that repeat the "
                        "formulas of the first ones (the same in R1C1 form) are checked by "
                        "their formula text, which proves them as well and is much faster")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="workbooks checked at once (several files)")
    parser.add_argument("--timeout", type=bounded_int(1, MAX_SECONDS, "s", ""),
                        default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds a workbook's check may take; the checker, a separate "
                        f"process, is stopped then (at most {MAX_SECONDS:,}: a day)")
    parser.add_argument("--max-memory", metavar="MB", default=DEFAULT_MEMORY_MB,
                        type=bounded_int(MIN_MEMORY_MB, MAX_MEMORY_MB, "MB",
                                         "the checker needs about 400 MB to load its "
                                         "libraries and read a small workbook"),
                        help="memory a workbook's checker process may use (MB; at least "
                        f"{MIN_MEMORY_MB})")
    net = parser.add_argument_group(
        "the network", "the network the workbooks compute, as the builder takes it (the same "
        "--spec file the key was built from, or the options); without it, the 2-2-2 sigmoid "
        "network, or what the headers show (the report says what it read and how). The "
        "examples' values and the weights are read from each workbook; --example only says "
        "how many examples there are")
    net.add_argument("--spec", type=Path, metavar="FILE.toml", default=None,
                     help="the network's fields from a TOML file (as the builder takes it)")
    net.add_argument("--layers", type=positive_int, nargs="+", metavar="N", default=None,
                     help="neurons per layer, input first, output last (e.g. 2 3 1)")
    net.add_argument("--activation", metavar="{sigmoid,tanh,relu,leaky-relu,linear}",
                     default=None, help="the hidden layers' activation (default: sigmoid)")
    net.add_argument("--output-activation", metavar="{sigmoid,linear,softmax}", default=None,
                     help="the output layer's activation (default: sigmoid)")
    net.add_argument("--loss", metavar="{half-se,mse,ce}", default=None,
                     help="half-se: ½·Σ(a − t)²; mse: nn.MSELoss; ce: cross-entropy "
                     "(default: half-se)")
    net.add_argument("--example", type=finite_float, nargs="+", action="append",
                     metavar="X_OR_T", default=None,
                     help="one training example, inputs then targets; repeat it for each "
                     "(without it the number of examples is read from the headers)")
    net.add_argument("--biases", type=finite_float, nargs="+", metavar="B", default=None,
                     help="the network has a fixed bias per non-input layer (b1, b2, …)")
    net.add_argument("--train-biases", action="store_true",
                     help="every hidden and output neuron has its own bias that learns")
    return parser


def network_fields(args: argparse.Namespace) -> dict[str, Any] | None:
    """The network ``check`` was given (TOML file, then options over it), checked; None when
    none was given."""
    from workbook_builder.check.netdetect import spec_of

    fields = netrun.read_toml(args.spec) if args.spec is not None else {}
    given = {"layers": args.layers, "activation": args.activation,
             "output_activation": args.output_activation, "loss": args.loss,
             "examples": args.example, "biases": args.biases,
             "train_biases": args.train_biases or None}
    if args.example is not None:
        fields.pop("inputs", None)
        fields.pop("targets", None)
    fields.update({k: v for k, v in given.items() if v is not None})
    if not fields:
        return None
    fields.pop("weights", None)  # read from each workbook; the check needs no initial values
    fields.pop("init_seed", None)
    spec_of(fields)  # a network that cannot be is a usage error here, not in every child
    return fields


class HungUp(Exception):
    """SIGHUP (the terminal closed): stop the checkers, keep what is done, exit 129."""


def _hung_up(signum: int, frame: object) -> NoReturn:
    raise HungUp


def cmd_check(args: argparse.Namespace) -> int:
    """``check``, with SIGHUP handled like Ctrl-C and every message printable (escape.py)."""
    from workbook_builder.escape import printable

    hangup = getattr(signal, "SIGHUP", None)
    previous = None
    if hangup is not None:
        with contextlib.suppress(ValueError):  # not the main thread: leave it
            previous = signal.signal(hangup, _hung_up)
    try:
        return _check(args)
    except HungUp:
        with contextlib.suppress(OSError):  # the terminal may be gone
            print(f"{PROG}: hung up (the terminal closed)", file=sys.stderr)
        return 129
    except (UsageError, AuditError) as exc:  # a file name may hold escapes or stray bytes
        raise type(exc)(printable(str(exc))) from None
    finally:
        if hangup is not None and previous is not None:
            signal.signal(hangup, previous)


def _check(args: argparse.Namespace) -> int:
    """Every output checked before the first workbook is: then one file, or a class."""
    from workbook_builder.classroom import batch, points, roster

    entries = batch.collect(args.paths)
    if not entries:
        raise UsageError("no workbooks (" + ", ".join(batch.SUFFIXES) + ") in "
                         + ", ".join(map(str, args.paths)))
    single = len(args.paths) == 1 and not args.paths[0].is_dir()
    if args.resume and args.csv is None:
        raise UsageError("--resume continues the table of an earlier run: give it with "
                         "--csv FILE")
    if args.csv is not None:
        check_output(args.csv, create_folder=False, flag="--csv", suffix=".csv")
    finished: dict[str, batch.Row] = {}
    if args.resume and args.csv.exists():
        try:
            finished = batch.finished_rows(args.csv, entries)
        except batch.NotATable as exc:
            raise UsageError(f"--resume: {exc}") from None
    try:
        args.network = network_fields(args)
    except OSError as exc:
        raise UsageError(f"--spec {args.spec}: {exc.strerror or exc}") from None
    except (SpecError, AuditError) as exc:
        raise UsageError(str(exc)) from None
    targets = _annotated_targets(entries, args.annotate, single)
    args.key = roster.read_key(args.roster) if args.roster is not None else None
    args.rubric = points.read_rubric(args.points) if args.points is not None else \
        points.DEFAULT_RUBRIC
    if single:
        return check_one(entries[0], args, targets.get(entries[0].name))
    return check_class(entries, args, targets, finished)


def _annotated_targets(entries: list[Any], annotate: Path | None,
                       single: bool) -> dict[str, Path]:
    """Where each annotated copy goes, checked before any work: the folder writable, and no
    copy landing on an input."""
    from workbook_builder.classroom import batch

    if annotate is None:
        return {}
    if single and not annotate.is_dir():
        check_output(annotate, create_folder=False, flag="--annotate")
        targets = {entries[0].name: annotate}
    else:
        if annotate.exists() and not annotate.is_dir():
            raise UsageError(f"--annotate {annotate} is a file; for several workbooks give a "
                             "folder")
        try:
            annotate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--annotate: cannot create the folder {annotate} "
                             f"({exc.strerror})") from None
        if not os.access(annotate, os.W_OK | os.X_OK):
            raise UsageError(f"--annotate folder {annotate} is not writable; choose another")
        targets = batch.annotated_targets(annotate, entries)
    inputs = {os.path.realpath(e.path) for e in entries}
    for target in targets.values():
        if os.path.realpath(target) in inputs:
            raise UsageError(f"--annotate would write over the input {target}; choose "
                             "another name or folder")
    return targets


def check_one(entry: Any, args: argparse.Namespace, target: Path | None) -> int:
    from workbook_builder.check.audit_report import to_json, to_lines
    from workbook_builder.classroom import batch
    from workbook_builder.escape import printable

    row = batch.row_for(entry, args.timeout, args.max_memory, target,
                        every_row=args.every_row, progress=True, network=args.network)
    batch.apply_grade(row, args.key, args.rubric)
    if args.csv is not None:
        batch.write_csv(args.csv, [row])
    if row.error is not None:
        raise AuditError(row.error)
    if args.json:
        print(json.dumps(batch.safe_json({**to_json(entry.path, row.reports),
                                          "student": row.student, "score": row.score,
                                          "signals": row.signals}), indent=2,
                         ensure_ascii=False, allow_nan=False, default=str))
    else:
        lines = to_lines(row.reports)
        graded = f"score: {row.score:g} of {sum(p.points for p in args.rubric):g} points" \
            + (f" (student {row.student})" if row.student else "") \
            + "".join(f"; {s}" for s in row.signals if s not in row.reports[0].signals)
        lines.insert(len(lines) - 1, graded)  # the verdict stays the last line
        print("\n".join(printable(line) for line in lines))
    if target is not None:
        print(f"{PROG} check: annotated copy: {printable(str(target))}", file=sys.stderr)
    return row.status


def check_class(entries: list[Any], args: argparse.Namespace, targets: dict[str, Path],
                finished: dict[str, Any]) -> int:
    from tqdm import tqdm

    from workbook_builder.classroom import batch

    rows: dict[str, batch.Row] = dict(finished)
    if finished:
        print(f"{PROG} check: resuming: {len(finished)} of {len(entries)} file(s) were "
              f"finished in {args.csv}", file=sys.stderr)

    def done_so_far() -> list[batch.Row]:
        return [rows[e.name] for e in entries if e.name in rows]

    log = None if args.csv is None else batch.CsvLog(args.csv, done_so_far())

    def done(row: batch.Row) -> None:
        batch.apply_grade(row, args.key, args.rubric)
        rows[row.file] = row
        bar.update(1)
        if log is not None:
            log.add(row)

    with tqdm(total=len(entries), initial=len(rows), unit="file", file=sys.stderr,
              desc="checking", disable=None) as bar:
        try:
            batch.check_all([e for e in entries if e.name not in rows], args.jobs,
                            args.timeout, args.max_memory, targets or None, done=done,
                            every_row=args.every_row, network=args.network)
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: keep and show what is done
            bar.close()
            if log is not None:
                log.close()
            _keep_partial(done_so_far(), len(entries), args)
            raise
    batch.apply_copies(done_so_far())
    if log is not None:
        log.close()
        batch.write_csv(args.csv, done_so_far())
    _print_table(done_so_far(), args.json, None)
    return batch.worst(done_so_far())


def _print_table(rows: list[Any], as_json: bool, total: int | None) -> None:
    from workbook_builder.classroom import batch

    if as_json:
        print(json.dumps([batch.json_row(r) for r in rows], indent=2, ensure_ascii=False,
                         allow_nan=False, default=str))
    else:
        print("\n".join(batch.markdown(rows, total)))


def _keep_partial(rows: list[Any], total: int, args: argparse.Namespace) -> None:
    """An interrupted class: the rows done written to the CSV and printed (a closed terminal
    may refuse the printing; the CSV is what counts)."""
    from workbook_builder.classroom import batch

    with contextlib.suppress(OSError):
        if args.csv is not None:
            batch.write_csv(args.csv, rows)
        _print_table(rows, args.json, total)
        if args.csv is not None:
            print(f"{PROG} check: {len(rows)} of {total} file(s) done are in {args.csv}; run "
                  "the same command with --resume to check the rest", file=sys.stderr)


def run_from_args(args: argparse.Namespace) -> NetRun:
    """The network the options (and --spec) describe, its rates and epochs."""
    fields = netrun.read_toml(args.spec) if args.spec is not None else {}
    given = {"layers": args.layers, "activation": args.activation,
             "output_activation": args.output_activation, "loss": args.loss,
             "examples": args.example, "inputs": args.inputs, "targets": args.targets,
             "biases": args.biases, "weights": args.weights, "init_seed": args.init_seed,
             "train_biases": args.train_biases or None}
    if args.example is not None:  # the command line's training set replaces the file's
        fields.pop("inputs", None)
        fields.pop("targets", None)
    elif args.inputs is not None or args.targets is not None:
        fields.pop("examples", None)
    fields.update({k: v for k, v in given.items() if v is not None})
    return NetRun(netrun.net_spec(fields), tuple(args.lr), args.epochs)


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
    from workbook_builder.sheet.writer import build  # XlsxWriter is needed only here

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
        from workbook_builder.sheet import layout, render

        started = time.perf_counter()
        names = layout.pictures(run)
        pictures = render.render(args.out, names, args.out.parent,
                                 timeout=args.timeout)
        if not args.quiet:
            print(f"rendered {len(pictures)} pictures with LibreOffice into {args.out.parent} "
                  f"in {time.perf_counter() - started:.1f} s: "
                  + ", ".join(p.name for p in pictures))
    return 0


def build_assign_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} assign",
        description="Make a class kit from a roster: for each student a starter workbook with "
        "their own numbers (inputs, targets, initial weights, η derived from a secret and the "
        "id), the headers, epoch 0's weights, empty cells to fill and a live Self-check sheet; "
        "the answer workbook of each student in OUT/answers/; and the key, OUT/key.csv, for "
        f"`{PROG} check FOLDER --roster OUT/key.csv`. Keep OUT/key.csv and the secret from "
        "the students.",
        formatter_class=HelpFormatter,
        epilog=f"Example: {PROG} assign roster.csv --out kit --secret-file ~/course-secret.txt",
    )
    parser.add_argument("roster", type=Path, metavar="ROSTER.csv",
                        help="a CSV with an 'id' column (other columns are carried along)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a new (or empty) folder for the kit")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--secret", metavar="TEXT",
                        help="the text the numbers are derived from (the same secret and id "
                        "always give the same numbers)")
    secret.add_argument("--secret-file", type=Path, metavar="FILE",
                        help="read the secret from a file (its first line)")
    parser.add_argument("--epochs", type=positive_int, default=spec.DEFAULT_EPOCHS,
                        help="epoch rows of each starter and answer workbook")
    parser.add_argument("--lr", type=finite_float, metavar="ETA", default=None,
                        help="one η for every student (by default each gets their own, 0.3 "
                        "to 1.0)")
    add_render_options(parser, "also draw the first student's starter as a student sees it "
                       "(its Backprop and Self-check sheets) into DIR/preview/ with LibreOffice")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def cmd_assign(args: argparse.Namespace) -> int:
    from workbook_builder.classroom import kit, roster

    if args.lr is not None and args.lr <= 0:
        raise UsageError(f"--lr must be positive, got {args.lr:g}")
    if args.secret is not None:
        secret: bytes | None = args.secret.encode()
    elif args.secret_file is not None:
        try:
            line = args.secret_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--secret-file {args.secret_file}: cannot be read "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
        if not line or not line[0].strip():
            raise UsageError(f"--secret-file {args.secret_file} is empty; put the secret on "
                             "its first line")
        secret = line[0].strip().encode()
    else:
        secret = None
    if secret is not None and len(secret) < 8:
        raise UsageError("the secret is shorter than 8 characters: students could guess it")
    from tqdm import tqdm

    students = roster.read_roster(args.roster)
    started = time.perf_counter()
    with tqdm(total=len(students), unit="student", file=sys.stderr, desc="assigning",
              disable=True if args.quiet else None) as bar:
        made = kit.assign(students, args.out, secret, args.epochs, args.lr,
                          lambda text: bar.update(1))
    if not args.quiet:
        print(f"wrote {args.out}: {len(students)} starter workbook(s), answers/ and key.csv "
              f"in {time.perf_counter() - started:.1f} s")
        if made.secret_written:
            print(f"a new secret is in {args.out / kit.SECRET}: keep it (and key.csv) from the "
                  "students; with it the same roster gives the same numbers again")
    if args.render:
        folder = args.out / "preview"
        folder.mkdir(exist_ok=True)
        pictures = kit.preview(args.out / f"{students[0].id}.xlsx", folder, args.timeout)
        if not args.quiet:
            print(f"drew {students[0].id}'s starter: " + ", ".join(str(p) for p in pictures))
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
        if argv[:1] == ["assign"]:
            return cmd_assign(build_assign_parser().parse_args(argv[1:]))
        if argv and not argv[0].startswith("-"):  # building takes options only
            raise UsageError(unknown_command(argv[0]))
        return cmd_build(build_parser().parse_args(argv))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, SpecError, RenderError, AuditError, RosterError, PointsError) as exc:
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
