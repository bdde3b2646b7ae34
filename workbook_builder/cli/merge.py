"""``merge``: the tables of a class checked in parts (``check --shard K/N``) as one class table,
with what needs the whole class: the roster's missing students, copies, the exports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from workbook_builder.cli.check import add_grading_options, add_limit_options, finish_class
from workbook_builder.cli.common import PROG, HelpFormatter, Parser, UsageError, check_output


def build_merge_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} merge",
        description="Join the tables of a class checked in parts, on several machines or "
        "jobs (`check FOLDER --shard K/N --csv part-K.csv`), into one class table: every "
        "part must be there, no file in two; then, as check does for a whole class, a row "
        "for each roster student with no file, one graded file per student, the copy signals "
        "across all parts, and the exports. Give the same --roster and --points as the "
        "parts. Exit status: the worst file's, as check's.",
        formatter_class=HelpFormatter,
        epilog=f"Example: {PROG} merge parts/part-*.csv --roster kit/key.csv --csv class.csv "
        "--export moodle moodle.csv",
    )
    parser.add_argument("tables", type=Path, nargs="+", metavar="PART.csv",
                        help="the --csv tables of the parts")
    parser.add_argument("--csv", type=Path, metavar="FILE", required=True,
                        help="the class table to write")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    add_grading_options(parser)
    add_limit_options(parser)
    return parser


def parts_rows(tables: list[Path]) -> list[Any]:
    """The rows of every part, checked to make one class: every part K of N there once, no
    file in two parts.

    Raises:
        UsageError: a table that is not one, a part missing or given twice, a file twice.
    """
    from workbook_builder.classroom import batch
    from workbook_builder.classroom import table as class_table

    rows: list[batch.Row] = []
    labels: dict[str, Path] = {}
    owner: dict[str, Path] = {}
    for table in tables:
        if not table.is_file():
            raise UsageError(f"{table}: no such table; give the --csv files of the parts")
        try:
            found = class_table.read_rows(table)
        except class_table.NotATable as exc:
            raise UsageError(str(exc)) from None
        mine = {r.shard for r in found if r.file and r.status != batch.NO_SUBMISSION}
        if len(mine) > 1:
            raise UsageError(f"{table} holds rows of several parts ({', '.join(sorted(mine))})"
                             "; give each part's own table")
        for label in mine:
            if label and label in labels:
                raise UsageError(f"part {label} is given twice: {labels[label]} and {table}")
            labels[label] = table
        for r in found:
            if not r.file or r.status == batch.NO_SUBMISSION:
                continue  # a roster row of a table made whole: merge makes its own
            if r.file in owner:
                raise UsageError(f"{r.file} is in {owner[r.file]} and in {table}; give each "
                                 "file's part once")
            owner[r.file] = table
            rows.append(r)
    sizes = {int(label.split("/")[1]) for label in labels if label}
    if len(sizes) > 1:
        raise UsageError("the tables are parts of different splits (" +
                         ", ".join(sorted(label for label in labels if label)) + ")")
    if sizes:
        (n,) = sizes
        if len(tables) != n:
            have = sorted(int(label.split("/")[0]) for label in labels if label)
            absent = [str(k) for k in range(1, n + 1) if k not in have]
            raise UsageError(f"{len(tables)} table(s) for {n} parts: part(s) "
                             f"{', '.join(absent) or '?'} of {n} missing (a part with no "
                             "files still writes its table: give it too)")
    return sorted(rows, key=lambda r: r.file)


def cmd_merge(args: argparse.Namespace) -> int:
    from workbook_builder.classroom import points, roster

    check_output(args.csv, create_folder=False, flag="--csv", suffix=".csv")
    if any(t.resolve() == args.csv.resolve() for t in args.tables):
        raise UsageError(f"--csv {args.csv} is one of the parts; write the class table "
                         "to a new file")
    from workbook_builder.cli.check import check_exports

    check_exports(args)
    rows = parts_rows(args.tables)
    args.key = roster.read_key(args.roster) if args.roster is not None else None
    args.rubric = points.read_rubric(args.points) if args.points is not None else \
        points.DEFAULT_RUBRIC
    return finish_class(rows, args)
