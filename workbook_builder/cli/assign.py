"""``assign``: a class kit from a roster (own numbers per student, starters, answers, key)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from workbook_builder.cli.common import (
    PROG,
    HelpFormatter,
    Parser,
    UsageError,
    add_render_options,
    finite_float,
    positive_int,
)
from workbook_builder.network import spec


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
                        help="a CSV with an 'id' column, Moodle's grade export or a Canvas "
                        "gradebook export (its identity columns are carried along into the key and "
                        "comes back out in check's --export)")
    parser.add_argument("--id-column", metavar="NAME", default=None,
                        help="the roster's column of the students' ids, where it is not 'id' "
                        "(default: id; Moodle's export: ID number, else Email address; Canvas's: "
                        "ID); e.g. an export in another language: --id-column ID-Nummer")
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

    students, lms = roster.read_class(args.roster, args.id_column)
    if lms.kind != "plain" and not args.quiet:
        print(f"read {args.roster} as {lms.kind.capitalize()}'s export: {len(students)} "
              f"student(s), the id from its {lms.id_column!r} column"
              + (f", grades for {lms.grade_column!r}" if lms.grade_column else
                 "; it names no one assignment for the grades (none, or several without "
                 "'backprop' in the name): check --export writes a new column "
                 "'Backprop workbook'"), file=sys.stderr)
    started = time.perf_counter()
    with tqdm(total=len(students), unit="student", file=sys.stderr, desc="assigning",
              disable=True if args.quiet else None) as bar:
        made = kit.assign(students, args.out, secret, args.epochs, args.lr,
                          lambda text: bar.update(1), lms)
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
