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


#: Engines against the reference, in units of error_scale (see reference.error_scale): ε is
#: 2.2e-16, so 1e-12 is ~4,500 roundings of every operand: room for a different EXP (LibreOffice,
#: PyTorch's sigmoid) in each of 100 epochs and for its effect carried forward by the weights,
#: while a wrong formula is off by a large fraction of the scale.
SCALE_RTOL = 1e-12


def assert_matches(got: Any, expected: Any, scale: Any, what: str,
                   rtol: float = SCALE_RTOL) -> None:
    """|got − expected| ≤ rtol × scale element by element (NaN fails), else a named error."""
    got, expected, scale = (np.asarray(x, dtype=float) for x in (got, expected, scale))
    diff = np.abs(got - expected)
    bad = ~(diff <= rtol * scale)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise AssertionError(
            f"{what}: element {i} of {bad.size}: got {got.ravel()[i]!r}, expected "
            f"{expected.ravel()[i]!r}; |difference| {diff.ravel()[i]:.3g} > {rtol:g} × error "
            f"scale {scale.ravel()[i]:.3g} ({int(bad.sum())} element(s) off)")
