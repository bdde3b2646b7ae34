"""Helpers to recompute a workbook in the `formulas` engine and read results by address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import formulas
import numpy as np


def load_model(path: Path) -> Any:
    """A `formulas` ExcelModel of the workbook (slow: ~2.5 ms per formula cell)."""
    return formulas.ExcelModel().loads(str(path)).finish()


def key(path: Path, sheet: str, address: str) -> str:
    """The engine's name for a cell: ``'[book.xlsx]LR 0.5'!B10`` (sheet upper-cased)."""
    return f"'[{path.name}]{sheet.upper()}'!{address}"


def value(solution: Any, path: Path, sheet: str, address: str) -> Any:
    """A computed cell value: a float, a string, or the engine's error object."""
    v = solution[key(path, sheet, address)].value[0, 0]
    return float(v) if isinstance(v, int | float | np.floating) else v
