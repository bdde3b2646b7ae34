"""A sub-20k-parameter MNIST CNN trained fast on a CPU: `python -m mnist.train`.

PyTorch is an extra (``pip install -e ".[mnist]"``): the workbook tools never need it. Run as
a program without it, the trainer says so in one line (exit status 2), not in a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys

#: the programs of this package: console scripts and ``python -m`` modules
PROGRAMS = {"mnist-train": "mnist-train", "mnist-evaluate": "mnist-evaluate",
            "mnist.train": "python -m mnist.train", "mnist.evaluate": "python -m mnist.evaluate"}
NO_TORCH = ("PyTorch is not installed, and the trainer needs it: pip install torch==2.13.0 "
            "(the CPU build), then pip install -e \".[mnist]\"")


def _program() -> str | None:
    """The program being run, when it is one of this package's; None for a library import."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if name in PROGRAMS:
        return PROGRAMS[name]
    argv = getattr(sys, "orig_argv", [])
    if "-m" in argv[:-1]:
        return PROGRAMS.get(argv[argv.index("-m") + 1])
    return None


def _has_torch() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


if not _has_torch() and (_running := _program()) is not None:
    print(f"{_running}: {NO_TORCH}", file=sys.stderr)
    raise SystemExit(2)
