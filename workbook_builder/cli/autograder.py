"""``autograder``: make a Gradescope autograder or a PrairieLearn external grader that checks
each submission as ``check`` does; ``autograder run``: what they run in the container."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from workbook_builder.check.limits import AuditError
from workbook_builder.cli.check import add_limit_options, add_network_options, network_fields
from workbook_builder.cli.common import PROG, HelpFormatter, Parser, UsageError, check_output
from workbook_builder.network.spec import SpecError

#: the platforms' roots, and the variables that move them (to try an autograder out)
ROOTS = {"gradescope": ("AUTOGRADER_ROOT", "/autograder"), "prairielearn": ("GRADE_ROOT", "/grade")}


def build_autograder_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} autograder",
        description="Make an autograder that checks each student's workbook where the course "
        "grades (one container per submission) and reports its points part by part: "
        "`gradescope --out autograder.zip` (upload it as the assignment's autograder) or "
        "`prairielearn --out DIR` (an external grader: a folder for serverFilesCourse and a "
        "Dockerfile for its image). Give the network as check takes it, and --roster KEY.csv "
        "to check each student's own numbers (Gradescope: matched by the sid or email of "
        "the submitter; PrairieLearn: by the starter's student id cell).",
        formatter_class=HelpFormatter,
        epilog=f"Example: {PROG} autograder gradescope --out autograder.zip --roster "
        "kit/key.csv",
    )
    platforms = parser.add_subparsers(dest="platform", metavar="PLATFORM", required=True,
                                      parser_class=Parser)
    for name, what in (("gradescope", "a Gradescope autograder zip (setup.sh, run_autograder)"),
                       ("prairielearn", "a PrairieLearn external grader folder (run.sh, "
                        "Dockerfile)")):
        sub = platforms.add_parser(name, help=what, description=what,
                                   formatter_class=HelpFormatter)
        sub.add_argument("--out", type=Path, required=True,
                         metavar="FILE.zip" if name == "gradescope" else "DIR",
                         help="where to write it")
        sub.add_argument("--roster", type=Path, metavar="KEY.csv",
                         help="the key that assign wrote: each student's own numbers")
        sub.add_argument("--points", type=Path, metavar="FILE.toml",
                         help="the rubric (default: check's)")
        add_limit_options(sub)
        add_network_options(sub)
    run = platforms.add_parser(
        "run", formatter_class=HelpFormatter,
        help="inside the container: check the submission, write results/results.json",
        description="What the autograder's script runs for each submission: check the newest "
        "workbook the student handed in and write the platform's results/results.json "
        "(always: a failure of the autograder itself is written there too).")
    run.add_argument("kind", choices=tuple(ROOTS), metavar="PLATFORM",
                     help="gradescope or prairielearn")
    run.add_argument("--root", type=Path, default=None,
                     help="the platform's root (default: $AUTOGRADER_ROOT or /autograder; "
                     "$GRADE_ROOT or /grade)")
    run.add_argument("--config", type=Path, default=None,
                     help="the folder with autograder.json (default: the root's source/ for "
                     "Gradescope, this script's folder for PrairieLearn)")
    return parser


def cmd_autograder(args: argparse.Namespace) -> int:
    if args.platform == "run":
        return run(args.kind, args.root, args.config)
    from workbook_builder.classroom import autograder, points, roster

    if args.platform == "gradescope":
        check_output(args.out, create_folder=False, flag="--out", suffix=".zip")
    elif args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UsageError(f"--out {args.out} already holds files; give a new or empty folder")
    elif not args.out.parent.is_dir():
        raise UsageError(f"output folder {args.out.parent} does not exist; create it or "
                         "choose another --out")
    for flag, path in (("--roster", args.roster), ("--points", args.points)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: no such file")
    # the same --example/--spec checks as check's; a mistake found here, not in every container
    try:
        network = network_fields(args)
    except OSError as exc:
        raise UsageError(f"--spec {args.spec}: {exc.strerror or exc}") from None
    except (SpecError, AuditError) as exc:
        raise UsageError(str(exc)) from None
    key = roster.read_key(args.roster) if args.roster is not None else None
    rubric = points.read_rubric(args.points) if args.points is not None else \
        points.DEFAULT_RUBRIC
    total = sum(p.points for p in rubric)
    config = autograder.Config(network, args.timeout, args.max_memory,
                               rubric=args.points is not None, key=key is not None)
    if args.platform == "gradescope":
        autograder.gradescope_zip(args.out, config, args.roster, args.points)
        print(f"wrote {args.out}: upload it as the assignment's autograder (Configure "
              f"Autograder > Zip file upload); set the assignment's points to {total:g}")
    else:
        autograder.prairielearn_folder(args.out, config, args.roster, args.points, total)
        print(f"wrote {args.out}: build its Dockerfile's image and copy the folder into "
              f"serverFilesCourse/ ({args.out / 'README.md'} says how)")
    return 0


def run(platform: str, root: Path | None, config: Path | None) -> int:
    """Grade the submission under the platform's root; whatever happens, results.json says it
    (0: written, 2: the autograder failed and the results say so)."""
    from workbook_builder.classroom import autograder

    variable, default = ROOTS[platform]
    root = root if root is not None else Path(os.environ.get(variable) or default)
    if config is None:
        config = root / "source" if platform == "gradescope" else \
            Path(__file__).resolve().parents[2]
    files = root / ("submission" if platform == "gradescope" else "student")
    metadata = root / "submission_metadata.json" if platform == "gradescope" else None
    try:
        graded = autograder.grade(files, config, metadata)
        results = autograder.gradescope_results(graded) if platform == "gradescope" else \
            autograder.prairielearn_results(graded)
        code = 0
    except Exception as exc:  # never leave the platform without results
        results = autograder.failed_results(platform, f"{type(exc).__name__}: {exc}")
        code = 2
    target = autograder.write_results(root, results)
    print(f"{PROG} autograder: {target}: " + (results.get("message") or
                                               str(results.get("score"))), file=sys.stderr)
    return code

