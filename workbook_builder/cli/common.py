"""What every command shares: the program's name as typed, the one-line usage error (exit 2),
the help layout, the option types, the output-path check and the one-line failure."""

from __future__ import annotations

import argparse
import copy
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import Any, NoReturn

SCRIPT = "backprop-workbook"  # the console script (pyproject's [project.scripts])



COMMANDS = ("check", "assign", "merge", "autograder")  # besides the default, building



def invoked_as(argv0: str) -> str:
    """The command as the user typed it, for usage lines and messages: the console script by
    its name, anything else (``python -m``, a test) as ``python -m workbook_builder``."""
    # PureWindowsPath splits at a slash and at a backslash: a path from either system
    name = PureWindowsPath(argv0).name.lower().removesuffix(".exe").removesuffix("-script.py")
    return SCRIPT if name == SCRIPT else "python -m workbook_builder"



PROG = invoked_as(sys.argv[0] if sys.argv else "")



#: what a workbook's name ends with: a value that does, given to a number option, is a path
#: the option swallowed (``--layers 2 2 1 work.xlsx``)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".toml")


class UsageError(Exception):
    """Bad input from the command line: one line, exit status 2."""



class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look), exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from workbook_builder import __version__

        self.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                          help="print the version and exit")
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
        # identity, not ==: a default of 0 is shown (0 == False)
        if action.default is None or action.default is False or action.default == "":
            return action.help
        if action.help and "default:" in action.help:  # the help says it in its own words
            return action.help
        return super()._get_help_string(action)

    def _expand_help(self, action: argparse.Action) -> str:
        if isinstance(action.default, list | tuple):
            action = copy.copy(action)
            action.default = " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                      for v in action.default)
        return super()._expand_help(action)



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
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number" + (
            ": give the workbook before the option, or end the option's values with --"
            if Path(text).suffix.lower() in WORKBOOK_SUFFIXES else "")) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value



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



def add_render_options(parser: Parser, what: str) -> None:
    """--render (``what`` it draws) and the --timeout LibreOffice gets for it."""
    parser.add_argument("--render", action="store_true", help=what)
    parser.add_argument("--timeout", type=positive_int, default=180,
                        help="seconds LibreOffice may take before it is stopped (with --render)")



def add_shape_options(group: argparse._ArgumentGroup, loss_detail: str = "") -> None:
    """--activation, --output-activation and --loss, as the builder and the checker take them."""
    group.add_argument("--activation", metavar="{sigmoid,tanh,relu,leaky-relu,linear}",
                       default=None, help="the hidden layers' activation (default: sigmoid)")
    group.add_argument("--output-activation", metavar="{sigmoid,linear,softmax}", default=None,
                       help="the output layer's activation (default: sigmoid)")
    group.add_argument("--loss", metavar="{half-se,mse,ce}", default=None,
                       help="half-se: ½·Σ(a − t)²; mse: nn.MSELoss; ce: cross-entropy "
                       f"{loss_detail}(default: half-se)")


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



def fail(message: str) -> int:
    """One line on stderr (a newline inside a file name is shown as \\n), exit status 2."""
    print(f"{PROG}: error: " + message.replace("\n", "\\n").replace("\r", "\\r"),
          file=sys.stderr)
    return 2
