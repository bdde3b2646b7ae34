"""Hand-made-style workbooks as the course template lays them out (see tests/messy.py).

Each quantity is one column; i and t are columns too; η sits in a labelled cell above. Formulas
are typed long-hand, without δ columns, as in the widely copied class template.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openpyxl.utils.cell import get_column_letter

from tests import messy

HEADERS = messy.QUANTITY_HEADERS
HEADER_ROW = messy.Layout().header_row
FIRST = HEADER_ROW + 1

Edit = Callable[[int, dict[str, str]], None]


def col(name: str) -> str:
    return str(get_column_letter(HEADERS.index(name) + 1))


def make(path: Path, rows: int = 8, eta: float | None = 0.5, edit: Edit | None = None,
         weights: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55),
         title: str = "Backprop") -> Path:
    """A workbook with ``rows`` epochs; ``edit(r, formulas)`` may plant a mistake in row r."""
    def planted(r: int, first: int, f: dict[str, str]) -> None:
        if edit is not None:
            edit(r, f)

    return messy.make(path, messy.Layout(rows=rows, eta=eta, edit=planted, weights=weights,
                                         title=title))
