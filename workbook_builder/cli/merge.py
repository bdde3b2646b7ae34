"""``merge``: the tables of a class checked in parts (``check --shard K/N``) as one class table,
with what needs the whole class: the roster's missing students, copies, the exports."""

from __future__ import annotations

import argparse
import re
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


#: a part's label in its rows (check --shard): part K of N, and the files that part has
PART = re.compile(r"(\d+)/(\d+) of (\d+)")


def parts_rows(tables: list[Path]) -> list[Any]:
    """The rows of every part, checked to make one class: every part K of N there once and
    whole (as many rows as files), no file in two parts.

    Raises:
        UsageError: a table that is not a part's, a part missing, given twice or cut off, a
            file in two parts.
    """
    from workbook_builder.classroom import batch
    from workbook_builder.classroom import table as class_table

    rows: list[batch.Row] = []
    parts: dict[tuple[int, int], Path] = {}
    owner: dict[str, Path] = {}
    for table in tables:
        if not table.is_file():
            raise UsageError(f"{table}: no such table; give the --csv files of the parts")
        try:
            found = [r for r in class_table.read_rows(table)
                     if r.file and r.status != batch.NO_SUBMISSION]
        except class_table.NotATable as exc:
            raise UsageError(str(exc)) from None
        labels = {r.shard for r in found}
        if len(labels) != 1 or not (m := PART.fullmatch(labels.pop())):
            raise UsageError(f"{table} is not one whole part of a class: run its part again "
                             "(check … --shard K/N --csv TABLE, with --resume to keep what "
                             "is done)")
        k, n, files = int(m[1]), int(m[2]), int(m[3])
        if len(found) != files:
            raise UsageError(f"{table}: part {k}/{n} was cut off ({len(found)} of its {files} "
                             "files); run it again with --resume to check the rest")
        if (k, n) in parts:
            raise UsageError(f"part {k}/{n} is given twice: {parts[k, n]} and {table}")
        parts[k, n] = table
        for r in found:
            if r.file in owner:
                raise UsageError(f"{r.file} is in {owner[r.file]} and in {table}; give each "
                                 "file's part once")
            owner[r.file] = table
            rows.append(r)
    sizes = {n for _, n in parts}
    if len(sizes) > 1:
        raise UsageError("the tables are parts of different splits ("
                         + ", ".join(f"{k}/{n}" for k, n in sorted(parts)) + ")")
    (n,) = sizes
    absent = [str(k) for k in range(1, n + 1) if (k, n) not in parts]
    if absent:
        raise UsageError(f"part(s) {', '.join(absent)} of {n} missing: give every part's table")
    return sorted(rows, key=lambda r: r.file)


def cmd_merge(args: argparse.Namespace) -> int:
    from workbook_builder.classroom import points, roster

    check_output(args.csv, create_folder=False, flag="--csv", suffix=".csv")
    if any(t.resolve() == args.csv.resolve() for t in args.tables):
        raise UsageError(f"--csv {args.csv} is one of the parts; write the class table "
                         "to a new file")
    from workbook_builder.cli.check import check_exports

    check_exports(args, tuple(args.tables))
    rows = parts_rows(args.tables)
    args.key = roster.read_key(args.roster) if args.roster is not None else None
    args.rubric = points.read_rubric(args.points) if args.points is not None else \
        points.DEFAULT_RUBRIC
    return finish_class(rows, args)
