"""Rows proved by their formula text: a row whose formulas are the row above's in R1C1 form
computes the same function of its own row, so only the first rows need recomputing — unless
a formula depends on its position or branches (MAX, IF) where later rows may take another piece."""

from __future__ import annotations

import re

from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.cell import get_column_letter

from workbook_builder.check.foreign import Cells, split_reference
from workbook_builder.check.table import Table

#: Epoch rows the engine recomputes at least. Below them, a row whose every cell holds the same
#: formula in R1C1 form as the row above computes the same function of its own row's (and the
#: row above's) cells: where the recomputed rows are right at two sets of inputs, so is it.
RECOMPUTED_ROWS = 12



_CELL = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)")



#: the same, standing alone in formula text (not inside LOG10( or a longer name)
_CELL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_.$])(\$?)([A-Za-z]{1,3})(\$?)(\d+)(?![A-Za-z0-9_(.!])")



_QUOTED_SHEET = re.compile(r"'(?:[^']|'')*'!")



def r1c1(content: object, row: int, col: int) -> object:
    """A cell's content with its relative references written as offsets (``B5`` in D6 is
    ``C[-2]R[-1]``): equal down a column that repeats one formula. Non-formulas as they are."""
    if not (isinstance(content, str) and content.startswith("=")):
        return content
    if '"' not in content:
        # no text: what stands alone as letters-then-digits is a cell reference (a function
        # such as LOG10 is followed by "(", a sheet name such as S1 by "!"), so a regex does
        # it fast (the tokenizer below costs ~0.2 ms a formula); quoted sheet names are kept
        quoted = _QUOTED_SHEET.findall(content)
        pieces = [_CELL_IN_TEXT.sub(lambda m: _offset(m, row, col), p)
                  for p in _QUOTED_SHEET.split(content)]
        return "".join(p + q for p, q in zip(pieces, [*quoted, ""], strict=True))
    parts = []
    for token in Tokenizer(content).items:
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, rest = split_reference(token.value)
            refs = []
            for part in rest.split(":"):
                m = _CELL.fullmatch(part)
                refs.append(part if m is None else _offset(m, row, col))
            parts.append((f"{sheet}!" if sheet is not None else "") + ":".join(refs))
        else:
            parts.append(token.value)
    return "=" + "".join(parts)



def _offset(m: re.Match[str], row: int, col: int) -> str:
    c, r = column_index(m[2].upper()), int(m[4])
    return (f"C{c}" if m[1] else f"C[{c - col}]") + (f"R{r}" if m[3] else f"R[{r - row}]")



#: Functions that are the same smooth function of their arguments wherever the formula
#: stands: a formula built from these and + − × ÷ ^ alone, right at the recomputed rows under
#: two sets of inputs, is right on every row that repeats it. Anything else — a branch (IF,
#: CHOOSE, a comparison, ROUND, ABS, a lookup), a value that depends on where the formula
#: stands (ROW, COLUMN, OFFSET, INDIRECT, INDEX, CELL), text, a name — may take another arm
#: lower down, so a column that uses one is recomputed on every row.
SMOOTH = frozenset({"EXP(", "LN(", "LOG(", "LOG10(", "SQRT(", "POWER(", "POW(", "SUM(",
                    "PRODUCT(", "SUMSQ(", "SUMPRODUCT(", "TANH(", "SINH(", "COSH("})



_ARITHMETIC = frozenset({"+", "-", "*", "/", "^", "%"})



#: what a piecewise function (ReLU, its derivative, softmax's max) is written with
PIECEWISE = frozenset({"MAX(", "MIN(", "IF(", "ABS("})



_COMPARISONS = frozenset({">", "<", ">=", "<=", "=", "<>"})



GUARD = 100.0  # MIN(709, −x): a constant this large only stops EXP overflowing



def not_provable_by_text(formula: object, table_rows: range | None = None,
                         piecewise: tuple[int, set[int]] | None = None) -> str | None:
    """Why a row that repeats this formula (in R1C1 form) is not proved by the rows above it:
    the first construct that may behave differently lower down, or None when the formula is
    plain arithmetic of smooth functions (see SMOOTH) of cells at fixed offsets, or of fixed
    cells outside ``table_rows`` (η above the table, $B$1).

    With ``piecewise`` (the formula's row, and the columns of the network's kinked sums: a
    ReLU neuron's sum or activation, softmax's output sums) MAX, MIN, IF, ABS and comparisons
    are allowed too, when everything inside them is a number or a cell of its own row in
    those columns: the piece a row takes is then fixed by those sums alone, which audit
    checks on the network's trace (pieces.uncovered_pieces)."""
    if not (isinstance(formula, str) and formula.startswith("=")):
        return None
    try:
        tokens = Tokenizer(formula).items
    except Exception:
        return "it cannot be parsed"
    stack: list[str] = []
    for k, token in enumerate(tokens):
        kind, value = token.type, token.value
        inside = piecewise is not None and any(n in PIECEWISE for n in stack)
        if token.subtype == Token.OPEN:
            stack.append(value.upper() if kind == Token.FUNC else "(")
        elif token.subtype == Token.CLOSE and stack:
            stack.pop()
        if kind == Token.FUNC and token.subtype == Token.OPEN:
            name = value.upper()
            if name in SMOOTH:
                continue
            if name in ("MIN(", "MAX(") and _is_guard(tokens, k):
                stack[-1] = "("  # a guard, not a piece
                continue
            if piecewise is not None and name in PIECEWISE:
                continue
            return f"it calls {name[:-1]}"
        if kind == Token.OP_IN and value not in _ARITHMETIC and not (
                inside and value in _COMPARISONS):
            return f"it compares or joins values ({value})"
        if inside and kind == Token.OPERAND and token.subtype == Token.NUMBER and \
                float(value) != 0 and _moves_a_kink(tokens, k, stack):
            return (f"a piecewise function compares with or shifts by {value}: its pieces "
                    "are not the sums' signs the network's trace follows")
        if kind == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, rest = split_reference(value)
            if not all(_CELL.fullmatch(part) for part in rest.split(":")):
                return f"it uses the name {value}"
            for part in rest.split(":"):  # (a cell of another sheet is no row of the table)
                m = _CELL.fullmatch(part)
                if m is not None and m[3] and sheet is None and (
                        table_rows is None or int(m[4]) in table_rows):
                    return f"it refers to a fixed row of the table ({value})"
            if inside and piecewise is not None:
                m = _CELL.fullmatch(rest)
                if m is None or "!" in value or m[1] or m[3] or int(m[4]) != piecewise[0] or \
                        column_index(m[2].upper()) not in piecewise[1]:
                    return (f"a piecewise function reads {value}, not a sum of its own row "
                            "whose sign the network's trace follows")
        if kind == Token.OPERAND and token.subtype in (Token.TEXT, Token.LOGICAL, Token.ERROR):
            return f"it holds {value}"
    return None



def _moves_a_kink(tokens: list[Token], k: int, stack: list[str]) -> bool:
    """Does the number at ``tokens[k]``, inside MAX/MIN/IF/ABS, move where the pieces meet
    away from a sum's sign: compared with (z > 0.5), added to (ABS(z − 0.5)), or a bare
    argument of MAX/MIN (MAX(0.5, z))? A factor (MAX(0.01*z, z)) or an IF's value (1, 0.01)
    does not."""
    before = tokens[k - 1] if k > 0 else None
    after = tokens[k + 1] if k + 1 < len(tokens) else None
    if before is not None and before.type == Token.OP_PRE:  # -0.5: look past the sign
        before = tokens[k - 2] if k > 1 else None
    for t in (before, after):
        if t is not None and t.type == Token.OP_IN and (t.value in _COMPARISONS or
                                                          t.value in ("+", "-")):
            return True
    bare = (before is None or before.subtype == Token.OPEN or before.type == Token.SEP) and \
        (after is None or after.subtype == Token.CLOSE or after.type == Token.SEP)
    return bare and bool(stack) and stack[-1] in ("MAX(", "MIN(")



def _is_guard(tokens: list[Token], k: int) -> bool:
    """Is the MIN/MAX call opening at ``tokens[k]`` an overflow guard: two arguments, one of
    them a constant of magnitude ≥ GUARD?"""
    depth, args, current = 0, [], []  # type: ignore[var-annotated]
    for token in tokens[k + 1:]:
        if token.type == Token.FUNC and token.subtype == Token.CLOSE and depth == 0:
            args.append(current)
            break
        if token.type == Token.SEP and token.subtype == Token.ARG and depth == 0:
            args.append(current)
            current = []
            continue
        if token.subtype == Token.OPEN:
            depth += 1
        elif token.subtype == Token.CLOSE:
            depth -= 1
        current.append(token)
    if len(args) != 2:
        return False
    for arg in args:
        values = [t.value for t in arg]
        if values and values[-1].replace(".", "", 1).isdigit() and all(
                v in ("-", "+") for v in values[:-1]) and float(values[-1]) >= GUARD:
            return True
    return False



def rows_to_recompute(grid: Cells, table: Table, kinks: set[str] | None = None,
                      at_least: int = RECOMPUTED_ROWS) -> int:
    """How many of the table's first rows the engine must recompute: RECOMPUTED_ROWS, or more
    when a lower row breaks its column's pattern (a typed number, another formula), or all of
    them when a column's formula is not proved by its text (see not_provable_by_text; a note
    says which)."""
    rows = table.rows
    if len(rows) <= at_least:
        return len(rows)
    last_odd = 0
    columns = [c for name, c in table.columns.items() if name != "epoch"]  # typed 0, 1, 2, ...
    kink_columns = {table.columns[k] for k in kinks or () if k in table.columns}
    for col in (*columns, *table.unknown):
        formula = grid.get((rows[1], col))
        span = range(rows[0], rows[-1] + 1)
        why = not_provable_by_text(formula, span)
        if why is not None and kink_columns and not_provable_by_text(
                formula, span, (rows[1], kink_columns)) is None:
            table.piecewise.append(get_column_letter(col))
            why = None
        if why is not None:
            table.piecewise.clear()
            table.notes.append(f"every row recomputed: column {get_column_letter(col)}'s "
                               f"formula ({formula}) is not proved by its text, since {why}")
            return len(rows)
        pattern = r1c1(formula, rows[1], col)
        for k in range(len(rows) - 1, last_odd, -1):  # from the bottom: stop at the first odd
            if r1c1(grid.get((rows[k], col)), rows[k], col) != pattern:
                last_odd = k
                break
    return max(at_least, last_odd + 1)
