"""Sheets whose weights follow an optimizer: which one their state columns show, and a guard.

A hand-made (or builder-made) sheet of momentum, RMSprop or Adam shows the optimizer's state
beside the gradients (``m_w1``, ``v_w1``, ``m̂_w1``, ``velocity w1``, ``s_w1`` …), and its
weight rows are that optimizer's steps, not p − η·∂E/∂p. ``shown`` names the optimizer, so
that netdetect judges the sheet as that optimizer's (its state columns and updates). Where
the sheet is judged as plain gradient descent all the same (the grader named ``sgd``, or its
columns show no one optimizer that reads its table), every weight column would be WRONG, a
verdict on work the check was told not to read: ``guard`` reports those weight columns *not
checked*, with the reason. The sheet is then incomplete, never all right, and the updates
earn no points; the forward pass, the loss, the δ terms and the gradients are judged as usual.
"""

from __future__ import annotations

import re

from openpyxl.utils.cell import get_column_letter

from workbook_builder.check.foreign import Cells
from workbook_builder.check.names import canonical
from workbook_builder.check.table import Table
from workbook_builder.check.verdict import SheetReport

#: a header naming an optimizer's state of a weight or bias, once canonical (names.canonical:
#: lower case, no separators): m_w1, v_w1, m̂_w1, mhat_w1, velocity w1, s_w1, cache_w1 …
_STATE = re.compile(r"(?:m|v|s|r|mt|vt|mhat|vhat|m\u0302|v\u0302|velocity|vel|momentum|mom|"
                    r"cache|sqavg|meansq(?:uare)?|avg|buf(?:fer)?)(?:w\d+|b[a-z]*\d+)")


_ADAM = {"m", "mt", "mhat", "m\u0302", "vhat", "v\u0302", "m1", "m2"}
_MEAN_SQUARE = {"s", "r", "cache", "sqavg", "meansq", "meansquare", "avg"}


def shown(grid: Cells, table: Table) -> str | None:
    """The optimizer a table's state columns show, or None: Adam's m (or m̂, v̂); RMSprop's
    mean square (s, cache, sqavg), or v where the updates take a square root; else a
    velocity (v, velocity, buf): Nesterov where the sheet says so or the update reads the
    gradient beside the velocity, momentum otherwise."""
    heads = [canonical(h) for h in state_headers(list(table.unknown.values()))]
    prefixes = {m[1] for h in heads if (m := re.fullmatch(r"(.+?)(?:w\d+|b[a-z]*\d+)", h))}
    if not prefixes:
        return None
    if prefixes & _ADAM:
        return "adam"
    if prefixes & _MEAN_SQUARE:
        return "rmsprop"
    update = grid.get((table.rows[1], table.columns["w1"])) if len(table.rows) > 1 else None
    if isinstance(update, str) and re.search(r"SQRT|\^\s*\(?\s*0?\.5|POWER", update.upper()):
        return "rmsprop"
    says = any(isinstance(v, str) and "nesterov" in v.lower() for v in grid.values())
    return "nesterov" if says or _reads_gradient(update, table) else "momentum"


def _reads_gradient(update: object, table: Table) -> bool:
    """Does the second row's w1 update read w1's gradient (Nesterov's w − η·(g + μ·v)), not
    only the velocity (momentum's w − η·v)?"""
    col = table.columns.get("∂E/∂w1")
    if not isinstance(update, str) or col is None:
        return False
    letters, row = get_column_letter(col), table.rows[0]
    return re.search(rf"(?<![A-Z$])\$?{letters}\$?{row}(?!\d)", update.upper()) is not None


def state_headers(headers: list[str]) -> list[str]:
    """The headers that name an optimizer's state, as written."""
    return [h for h in headers if isinstance(h, str) and _STATE.fullmatch(canonical(h))]


def guard(report: SheetReport, headers: list[str], parameters: tuple[str, ...]) -> None:
    """Mark the weight columns plain descent does not explain as not checked, where the
    sheet shows an optimizer's state (see the module's docstring)."""
    shown = state_headers(headers)
    if not shown:
        return
    held = [c for c in report.columns if c.name in parameters and c.ok is False]
    if not held:
        return
    names = {c.name for c in held}
    why = (f"not checked: the sheet shows an optimizer's state ({', '.join(shown[:3])}"
           f"{' …' if len(shown) > 3 else ''}) and its weight rows are not plain gradient "
           "descent, and the sheet is judged as plain descent (the network given names sgd, "
           "or its state columns show no optimizer that reads the table)")
    for c in held:
        c.ok, c.expected, c.got, c.rel_error, c.when = None, None, None, None, None
        c.first_wrong_row, c.wrong_rows, c.diagnosis = None, [], why
    for c in report.columns:
        c.given_wrong = [n for n in c.given_wrong if n not in names]
    report.notes.append(f"the weights follow an optimizer (columns {', '.join(shown[:4])}"
                        f"{' …' if len(shown) > 4 else ''}): their updates are not checked "
                        "as plain gradient descent; everything up to the gradients is (give "
                        "the optimizer with --spec to check them)")
