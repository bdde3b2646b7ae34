"""``check``: audit one hand-made workbook or a class of them; the table, the CSV, the
annotated copies, and what Ctrl-C or a closed terminal leaves."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from workbook_builder.check.limits import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, AuditError
from workbook_builder.cli.common import (
    PROG,
    HelpFormatter,
    Parser,
    UsageError,
    add_shape_options,
    bounded_int,
    check_output,
    finite_float,
    positive_int,
)
from workbook_builder.network.spec import SpecError


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    """What a class's table is graded and written with: check and merge share these."""
    parser.add_argument("--roster", type=Path, metavar="KEY.csv",
                        help="the key that assign wrote: match each file to its student (by "
                        "the id in its path, or the starter's student id cell) and check that "
                        "it holds that student's numbers")
    parser.add_argument("--template", type=Path, action="append", default=[],
                        metavar="FILE", help="a class: a file you handed out (may be given "
                        "more than once); files with its bytes or cells are nobody's copy")
    parser.add_argument("--copies", choices=("flag", "zero"), default="flag",
                        help="a class: what a copy signal (the same bytes or cells, the same "
                        "metadata or rare wrong formula, another student's numbers) does: flag "
                        "it for you, or also set the score of every file it names to 0")
    parser.add_argument("--no-submission", choices=("empty", "zero"), default="empty",
                        help="with --roster, a class: the score of a roster student with no "
                        "file (each gets a row 'no submission'; default: empty, which an LMS "
                        "shows as ungraded)")
    parser.add_argument("--export", nargs=2, action="append", default=[],
                        metavar=("FORMAT", "FILE"),
                        help="with --roster: also write the grades in an LMS's own import "
                        "format, one row per roster student with the roster's columns: moodle "
                        "(Grades > Import > CSV file) or canvas (Gradebook > Import; needs a key "
                        "made from a Canvas export); may be given more than once")
    parser.add_argument("--out-of", type=finite_float, metavar="N", default=None,
                        help="the points of the assignment in the LMS: --export scales each "
                        "score to them (default: Canvas's points possible, else the rubric's "
                        "total)")
    parser.add_argument("--points", type=Path, metavar="FILE.toml",
                        help="the rubric for the score (default: forward pass 30, loss 15, "
                        "δ terms 15, gradients 20 (35 where the sheet shows no δ terms), "
                        "updates 20)")


def add_network_options(parser: argparse.ArgumentParser) -> None:
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
    add_shape_options(net)
    net.add_argument("--example", type=finite_float, nargs="+", action="append",
                     metavar="X_OR_T", default=None,
                     help="one training example, inputs then targets; repeat it for each "
                     "(without it the number of examples is read from the headers)")
    net.add_argument("--biases", type=finite_float, nargs="+", metavar="B", default=None,
                     help="the network has a fixed bias per non-input layer (b1, b2, …)")
    net.add_argument("--train-biases", action="store_true",
                     help="every hidden and output neuron has its own bias that learns")


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    from workbook_builder.check.limits import MAX_MEMORY_MB, MIN_MEMORY_MB
    from workbook_builder.isolation import MAX_SECONDS

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


def build_check_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} check",
        description="Audit hand-made backpropagation workbooks (one, several, or folders of "
        "a class, subfolders included): find each table as a grader reads it, recompute its "
        "formulas, check every cell against its own upstream cells at the given and at changed "
        "inputs, and name the wrong columns with a diagnosis; each workbook is checked in a "
        "separate process with time and memory limits (.ods and .xls are converted by "
        "LibreOffice first). "
        "Exit status: 0 every quantity found, checked and right; 1 some column wrong; 3 what "
        "was found is right but some quantities were not found or not checked; 4 the file "
        "could not be checked (not a workbook, no table, a limit reached); for several files, "
        "the worst (4 > 1 > 3 > 0); 2 bad options or an output that cannot be written "
        "(refused before any file is read); 129 the terminal closed; 130 interrupted (the rows "
        "done are kept).",
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
    add_grading_options(parser)
    parser.add_argument("--shard", type=shard_type, metavar="K/N", default=None,
                        help="a class on several machines: check only part K of N (every Nth "
                        "file by name, from the K-th) into --csv; then `merge` the parts' "
                        "tables (the roster's missing students, copies and exports are done "
                        "there)")
    parser.add_argument("--every-row", action="store_true",
                        help="recompute every epoch row; by default rows that repeat the "
                        "formulas of the first ones (the same in R1C1 form) are checked by "
                        "their formula text, which proves them as well and is much faster")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="workbooks checked at once (several files)")
    add_limit_options(parser)
    add_network_options(parser)
    return parser



def shard_type(text: str) -> tuple[int, int]:
    """``K/N``: part K (1…N) of N."""
    k, sep, n = text.partition("/")
    try:
        part, parts = int(k), int(n)
    except ValueError:
        part = parts = 0
    if not sep or not 1 <= part <= parts:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 ≤ K ≤ N (e.g. 3/8)")
    return part, parts


def check_exports(args: argparse.Namespace, inputs: tuple[Path, ...] = ()) -> None:
    """--export's formats and files, before any work: each can be written, lands on no input,
    table or other export, and the key can give it (``inputs``: merge's part tables)."""
    from workbook_builder.classroom import exports, roster

    taken = {os.path.realpath(p): flag for p, flag in (
        *((t, "a part's table") for t in inputs), (args.csv, "--csv"),
        (args.roster, "--roster")) if p is not None}
    for kind, target in args.export:
        if kind not in exports.FORMATS:
            raise UsageError(f"--export {kind}: the formats are {', '.join(exports.FORMATS)}")
        if args.roster is None:
            raise UsageError("--export lists every roster student: give the key with "
                             "--roster KEY.csv")
        check_output(Path(target), create_folder=False, flag=f"--export {kind}",
                     suffix=".csv")
        where = os.path.realpath(target)
        if where in taken:
            raise UsageError(f"--export {kind} {target} is also {taken[where]}; give each "
                             "file its own name")
        taken[where] = f"--export {kind}"
        try:
            exports.validate(kind, roster.read_key(args.roster))
        except exports.ExportError as exc:
            raise UsageError(str(exc)) from None
    if args.out_of is not None and args.out_of <= 0:
        raise UsageError(f"--out-of must be positive, got {args.out_of:g}")


def write_exports(rows: list[Any], args: argparse.Namespace) -> None:
    """The --export files of a finished table (every roster student a row already)."""
    from workbook_builder.classroom import exports

    if not args.export:
        return
    total = sum(p.points for p in args.rubric)
    for kind, target in args.export:
        try:
            n = exports.write(kind, Path(target), rows, args.key, total, args.out_of)
        except exports.ExportError as exc:
            raise UsageError(str(exc)) from None
        print(f"{PROG} check: {kind} grades of {n} student(s): {target}", file=sys.stderr)
    strays = exports.unmatched(rows)
    if strays:
        print(f"{PROG} check: {len(strays)} file(s) match no roster student and are in no "
              f"export (see --csv): {', '.join(strays[:5])}"
              + (" …" if len(strays) > 5 else ""), file=sys.stderr)


def network_fields(args: argparse.Namespace) -> dict[str, Any] | None:
    """The network ``check`` was given (TOML file, then options over it), checked; None when
    none was given."""
    fields: dict[str, Any] = {}
    if args.spec is not None:
        from workbook_builder.network import netrun

        fields = netrun.read_toml(args.spec)
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
    from workbook_builder.check.netdetect import spec_of

    optimizer = fields.get("optimizer")
    if isinstance(optimizer, list) and len(optimizer) > 1:
        raise UsageError(f"--spec {args.spec}: name one optimizer, the one the sheets follow "
                         f"(got {', '.join(map(str, optimizer))})")
    if "batch_size" in fields:
        raise UsageError(f"--spec {args.spec}: check judges full-batch sheets only for now "
                         "(each row a step on every example); leave batch-size out")
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
    from workbook_builder.classroom import table as class_table

    for given in args.paths:  # a mistyped path is bad input, not a student's file
        if not os.path.lexists(given):
            raise UsageError(f"{given}: no such file or folder")
    entries = batch.collect(args.paths)
    if not entries:
        raise UsageError("no workbooks (" + ", ".join(batch.SUFFIXES) + ") in "
                         + ", ".join(map(str, args.paths)))
    single = len(args.paths) == 1 and not args.paths[0].is_dir() and args.shard is None
    if args.resume and args.csv is None:
        raise UsageError("--resume continues the table of an earlier run: give it with "
                         "--csv FILE")
    if args.csv is not None:
        check_output(args.csv, create_folder=False, flag="--csv", suffix=".csv")
    if args.shard is not None:
        if args.csv is None:
            raise UsageError("--shard writes its part of the table to --csv FILE; give one")
        if args.export:
            raise UsageError("--shard checks part of the class: give --export to `merge`, "
                             "which has every part")
        total = len(entries)
        entries = batch.shard(entries, *args.shard)
        if not entries:
            raise UsageError("--shard {}/{}: the class has {} file(s), so part {} has none; "
                             "split it into at most {} parts".format(*args.shard, total,
                                                                     args.shard[0], total))
    check_exports(args)
    for template in args.template:
        if not template.is_file():
            raise UsageError(f"--template {template}: no such file")
    finished: dict[str, batch.Row] = {}
    if args.resume and not args.csv.exists():  # a mistyped name would check everything again
        raise UsageError(f"--resume: {args.csv} does not exist; give the --csv table of the "
                         "run to continue (without --resume, a new table is started)")
    if args.resume:
        try:
            finished = class_table.finished_rows(args.csv, entries)
        except class_table.NotATable as exc:
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
    from workbook_builder.classroom import table as class_table
    from workbook_builder.escape import printable

    row = batch.row_for(entry, args.timeout, args.max_memory, target,
                        every_row=args.every_row, progress=True, network=args.network)
    batch.apply_grade(row, args.key, args.rubric)
    if args.csv is not None:
        class_table.write_csv(args.csv, [row])
    if args.export:
        from workbook_builder.classroom.submissions import complete

        write_exports(complete([row], args.key, zero=args.no_submission == "zero"), args)
    if row.error is not None:  # one line, as for bad input, but its own status
        print(f"{PROG}: cannot check: {printable(row.error)}", file=sys.stderr)
        return row.status
    if args.json:
        print(json.dumps(class_table.safe_json({**to_json(entry.path, row.reports),
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
        from workbook_builder.check.checker import grade_annotated

        if row.reports:  # as for a class: the copy keeps its report if the grade fails
            try:
                grade_annotated(target, batch.grade_lines(row), args.timeout, args.max_memory)
            except AuditError as exc:
                print(f"{PROG} check: {printable(str(exc))}", file=sys.stderr)
        print(f"{PROG} check: annotated copy: {printable(str(target))}", file=sys.stderr)
    return row.status



def check_class(entries: list[Any], args: argparse.Namespace, targets: dict[str, Path],
                finished: dict[str, Any]) -> int:
    from tqdm import tqdm

    from workbook_builder.classroom import batch
    from workbook_builder.classroom import table as class_table

    rows: dict[str, batch.Row] = dict(finished)
    # a part's rows say which part they are and how many files it has, from the first one
    # logged: merge refuses a part that was cut off (fewer rows than that)
    label = "" if args.shard is None else "{}/{} of {}".format(*args.shard, len(entries))
    for row in rows.values():
        row.shard = label
    if finished:
        print(f"{PROG} check: resuming: {len(finished)} of {len(entries)} file(s) were "
              f"finished in {args.csv}", file=sys.stderr)

    def done_so_far() -> list[batch.Row]:
        return [rows[e.name] for e in entries if e.name in rows]

    log = None if args.csv is None else class_table.CsvLog(args.csv, done_so_far())

    def done(row: batch.Row) -> None:
        batch.apply_grade(row, args.key, args.rubric)
        row.shard = label
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
    final = done_so_far()
    if log is not None:
        log.close()
    if args.shard is not None:  # the class is whole only in `merge`
        class_table.write_csv(args.csv, final)
        _print_table(final, args.json, None)
        return batch.worst(final)
    return finish_class(final, args, targets)


def finish_class(final: list[Any], args: argparse.Namespace,
                 targets: dict[str, Path] | None = None) -> int:
    """A whole class's table (check, or merge of the parts): a row for each roster student,
    one graded file each, the copies; the CSV, the exports, the table; the exit status."""
    from workbook_builder.classroom import batch
    from workbook_builder.classroom import table as class_table

    if args.key is not None:  # every roster student a row, one graded file each
        from workbook_builder.classroom.submissions import complete

        final = complete(final, args.key, zero=args.no_submission == "zero")
    batch.apply_copies(final, batch.handed_out(args.template, args.timeout, args.max_memory),
                       zero=args.copies == "zero")
    if args.csv is not None:
        class_table.write_csv(args.csv, final)
    write_exports(final, args)
    if targets:  # the grade (copies known now) into each annotated copy's Check sheet
        for problem in batch.grade_annotated(final, targets, args.jobs, args.timeout,
                                             args.max_memory):
            print(f"{PROG} check: {problem}", file=sys.stderr)
    _print_table(final, args.json, None)
    return batch.worst(final)



def _print_table(rows: list[Any], as_json: bool, total: int | None) -> None:
    from workbook_builder.classroom import table as class_table

    if as_json:
        print(json.dumps([class_table.json_row(r) for r in rows], indent=2, ensure_ascii=False,
                         allow_nan=False, default=str))
    else:
        print("\n".join(class_table.markdown(rows, total)))



def _keep_partial(rows: list[Any], total: int, args: argparse.Namespace) -> None:
    """An interrupted class: the rows done written to the CSV and printed (a closed terminal
    may refuse the printing; the CSV is what counts)."""
    from workbook_builder.classroom import table as class_table

    with contextlib.suppress(OSError):
        if args.csv is not None:
            class_table.write_csv(args.csv, rows)
        _print_table(rows, args.json, total)
        if args.csv is not None:
            print(f"{PROG} check: {len(rows)} of {total} file(s) done are in {args.csv}; run "
                  "the same command with --resume to check the rest", file=sys.stderr)
