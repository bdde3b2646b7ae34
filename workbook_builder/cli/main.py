"""Command line: build the workbook (default), render it, check hand-made ones, assign a kit.

Dispatches to the command's module (build, check, assign) and turns every expected failure into
one line and an exit status. The cli package is the only one that prints or exits.
"""

from __future__ import annotations

import difflib
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from workbook_builder.check.limits import AuditError
from workbook_builder.classroom.points import PointsError
from workbook_builder.classroom.roster import RosterError
from workbook_builder.cli.common import COMMANDS, PROG, UsageError, fail
from workbook_builder.network.spec import SpecError
from workbook_builder.sheet.render import RenderError


def unknown_command(word: str) -> str:
    """The one-line error for a first word that is no command, with the likely one."""
    close = difflib.get_close_matches(word.lower(), COMMANDS, n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif word.lower().endswith((".xlsx", ".xlsm")):
        hint = f"to check it: {PROG} check {word}"
    else:
        hint = (f"the commands are {', '.join(repr(c) for c in COMMANDS)}; to build, give "
                f"only options (see {PROG} --help)")
    return f"unknown command {word!r}; {hint}"


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
        # each command's module is imported when it runs: `check` waits for its limited child
        # and needs neither NumPy nor XlsxWriter in this process (a third of a second)
        if argv[:1] == ["check"]:
            from workbook_builder.cli.check import build_check_parser, cmd_check

            return cmd_check(build_check_parser().parse_args(argv[1:]))
        if argv[:1] == ["assign"]:
            from workbook_builder.cli.assign import build_assign_parser, cmd_assign

            return cmd_assign(build_assign_parser().parse_args(argv[1:]))
        if argv[:1] == ["merge"]:
            from workbook_builder.cli.merge import build_merge_parser, cmd_merge

            return cmd_merge(build_merge_parser().parse_args(argv[1:]))
        if argv[:1] == ["autograder"]:
            from workbook_builder.cli.autograder import build_autograder_parser, cmd_autograder

            return cmd_autograder(build_autograder_parser().parse_args(argv[1:]))
        if argv and not argv[0].startswith("-"):  # building takes options only
            raise UsageError(unknown_command(argv[0]))
        from workbook_builder.cli.build import build_parser, cmd_build

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


