"""Tasks for a WorkerPool's worker in the tests (the tests name them by ``module:function``);
never imported by the code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def where(**_: Any) -> dict[str, Any]:
    """Where the task runs, what it finds there, and a file left behind in its folder."""
    found = sorted(p.name for p in Path.cwd().iterdir())
    Path("left.txt").write_text("from an earlier task")
    with tempfile.NamedTemporaryFile(delete=False) as f:
        temporary = f.name
    return {"cwd": os.getcwd(), "tmpdir": os.environ["TMPDIR"], "temporary": temporary,
            "found": found, "pid": os.getpid()}


def spin(**_: Any) -> None:
    """Never ends by itself."""
    while True:
        pass


def allocate(**_: Any) -> int:
    """More than the memory cap (512 MB)."""
    return len(bytearray(2_000_000_000))
