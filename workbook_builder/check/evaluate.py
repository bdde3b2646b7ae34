"""The check's own formula evaluator: each distinct formula (in R1C1 form) compiled once.

The formulas engine (`formulas`) builds a dispatch graph cell by cell; ~2.5 ms a formula cell,
90 % of a check's time. A student's column repeats one formula down its rows, so here each
distinct R1C1 form is parsed once (openpyxl's tokenizer; operator precedence as Excel's) into
a tree of Python closures, and every cell of that form runs the same tree at its own position.

Excel's semantics for what students write: arithmetic (``+ - * / ^ %``, unary minus binding
tighter than ``^`` as in Excel), ``&``, comparisons, the functions in FUNCTIONS, IF and
IFERROR (lazily), ROW() and COLUMN(). An error is
a value (`Err`, Excel's code) that propagates, never a silent NaN. Anything else — an unknown
function, an array formula, an intersection, a whole-column range, a circular reference, a
reference past the sheet's edge — raises `Unsupported`, and the check uses the formulas engine
for that workbook instead (audit.py), so nothing this evaluator cannot compute changes a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import column_index_from_string
from openpyxl.worksheet.formula import ArrayFormula

from workbook_builder.check.excel import (
    ERRORS,
    FUNCTIONS,
    Cell,
    Err,
    Get,
    Node,
    Rng,
    Unsupported,
    arith,
    compare,
    concat,
    number,
    truth,
)
from workbook_builder.check.foreign import split_reference
from workbook_builder.check.repeats import r1c1

MAX_RANGE_CELLS = 200_000  # a range read as a function's argument


# --- parsing: tokens to a tree of closures ----------------------------------------------------
_REF = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)")
_PREFIX_PRECEDENCE = 6  # unary minus binds tighter than ^ in Excel (-2^2 is 4)
_INFIX = {"^": 5, "*": 4, "/": 4, "+": 3, "-": 3, "&": 2,
          "=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1}

Ref = tuple[str | None, bool, int, bool, int]  # sheet, row absolute, row, col absolute, col


def _ref(text: str, row: int, col: int) -> Ref:
    """``$B5`` in D6 as (sheet, row abs?, row offset or number, col abs?, offset or number)."""

    sheet, rest = split_reference(text)
    m = _REF.fullmatch(rest)
    if m is None:
        raise Unsupported(f"a reference this evaluator does not read: {text}")
    c, r = column_index_from_string(m[2].upper()), int(m[4])
    return (sheet.upper() if sheet else None, bool(m[3]), r if m[3] else r - row,
            bool(m[1]), c if m[1] else c - col)


def _at(ref: Ref, sheet: str, row: int, col: int) -> Cell:
    s, row_abs, r, col_abs, c = ref
    cell = (s or sheet, r if row_abs else row + r, c if col_abs else col + c)
    if cell[1] < 1 or cell[2] < 1:
        raise Unsupported("a reference past the sheet's edge (#REF! in Excel)")
    return cell


def parse(formula: str, row: int, col: int) -> tuple[Node, tuple[Any, ...], list[Any]]:
    """The formula at (row, col) as a closure tree, the key it shares with every cell of the
    same R1C1 form, and its references (Ref, or (Ref, Ref) for a range)."""
    try:
        tokens = [t for t in Tokenizer(formula).items if t.type != Token.WSPACE]
    except Exception as exc:
        raise Unsupported(f"cannot tokenize: {exc}") from None
    raw = [t for t in Tokenizer(formula).items]
    for k, t in enumerate(raw):  # a space between two operands is Excel's intersection
        if t.type == Token.WSPACE and 0 < k < len(raw) - 1 and _ends(raw[k - 1]) and \
                _starts(raw[k + 1]):
            raise Unsupported("an intersection (a space between two references)")
    refs: list[Any] = []
    key: list[Any] = []
    pos = 0

    def peek() -> Token | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> Token:
        nonlocal pos
        if pos >= len(tokens):
            raise Unsupported("the formula ends early")
        pos += 1
        return tokens[pos - 1]

    def expression(min_precedence: int = 0) -> Node:
        node = unary()
        while (t := peek()) is not None and t.type == Token.OP_POST:
            take()
            key.append("%")
            node = _percent(node)
        while (t := peek()) is not None and t.type == Token.OP_IN and \
                _INFIX.get(t.value, -1) >= min_precedence:
            if t.value not in _INFIX:
                raise Unsupported(f"the operator {t.value!r}")
            op = take().value
            key.append(op)
            right = expression(_INFIX[op] + 1)
            node = _binary(op, node, right)
        return node

    def unary() -> Node:
        t = peek()
        if t is not None and t.type == Token.OP_PRE:
            take()
            key.append("u" + t.value)
            inner = unary()
            while (p := peek()) is not None and p.type == Token.OP_POST:
                take()
                key.append("%")
                inner = _percent(inner)
            return _negate(inner) if t.value == "-" else inner
        return primary()

    def primary() -> Node:
        t = take()
        if t.type == Token.OPERAND:
            if t.subtype == Token.NUMBER:
                key.append(t.value)
                v = float(t.value)
                return lambda get, s, r, c: v
            if t.subtype == Token.TEXT:
                key.append(t.value)
                text = t.value[1:-1].replace('""', '"')
                return lambda get, s, r, c: text
            if t.subtype == Token.LOGICAL:
                key.append(t.value.upper())
                flag = t.value.upper() == "TRUE"
                return lambda get, s, r, c: flag
            if t.subtype == Token.ERROR:
                key.append(t.value.upper())
                err = ERRORS.get(t.value.upper())
                if err is None:
                    raise Unsupported(f"the error {t.value}")
                return lambda get, s, r, c: err
            if t.subtype == Token.RANGE:
                return reference(t.value)
            raise Unsupported(f"the operand {t.value!r}")
        if t.type == Token.PAREN and t.subtype == Token.OPEN:
            key.append("(")
            node = expression()
            close = take()
            if close.type != Token.PAREN:
                raise Unsupported("unbalanced parentheses")
            key.append(")")
            return node
        if t.type == Token.FUNC and t.subtype == Token.OPEN:
            return call(t.value[:-1].upper())
        raise Unsupported(f"unexpected {t.value!r}")

    def reference(text: str) -> Node:
        if "!" in text and text.rpartition("!")[0].count(":"):
            raise Unsupported("a 3-D reference")
        sheet_part, _, rest = text.rpartition("!") if "!" in text else ("", "", text)
        prefix = sheet_part + "!" if sheet_part else ""
        if ":" in rest:
            a, _, b = rest.partition(":")
            first, last = _ref(prefix + a, row, col), _ref(prefix + b, row, col)
            refs.append((first, last))
            key.append(("range", first, last))
            return _range(first, last)
        one = _ref(text, row, col)
        refs.append(one)
        key.append(("ref", one))
        return lambda get, s, r, c: get(_at(one, s, r, c))

    def call(name: str) -> Node:
        key.append(name + "(")
        args: list[Node] = []
        if (t := peek()) is not None and t.type == Token.FUNC and t.subtype == Token.CLOSE:
            take()
        else:
            while True:
                if (t := peek()) is not None and t.type == Token.SEP:
                    raise Unsupported("an empty argument")
                args.append(expression())
                t = take()
                if t.type == Token.SEP and t.subtype == Token.ARG:
                    key.append(",")
                    continue
                if t.type == Token.FUNC and t.subtype == Token.CLOSE:
                    break
                raise Unsupported(f"unexpected {t.value!r} in {name}()")
        key.append(")")
        return _function(name, args)

    node = expression()
    if pos != len(tokens):
        raise Unsupported(f"unexpected {tokens[pos].value!r}")
    return node, tuple(key), refs


def _percent(node: Node) -> Node:
    def f(get: Get, s: str, r: int, c: int) -> Any:
        x = number(node(get, s, r, c))
        return x if isinstance(x, Err) else x / 100
    return f


def _negate(node: Node) -> Node:
    def f(get: Get, s: str, r: int, c: int) -> Any:
        x = number(node(get, s, r, c))
        return x if isinstance(x, Err) else -x
    return f


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("+", "-", "*", "/", "^"):
        def f(get: Get, s: str, r: int, c: int) -> Any:
            return arith(op, left(get, s, r, c), right(get, s, r, c))
    elif op == "&":
        def f(get: Get, s: str, r: int, c: int) -> Any:
            return concat(left(get, s, r, c), right(get, s, r, c))
    else:
        def f(get: Get, s: str, r: int, c: int) -> Any:
            return compare(op, left(get, s, r, c), right(get, s, r, c))
    return f


def _ends(t: Token) -> bool:
    return t.type == Token.OPERAND or (t.type in (Token.PAREN, Token.FUNC) and
                                       t.subtype == Token.CLOSE)


def _starts(t: Token) -> bool:
    return t.type == Token.OPERAND or (t.type in (Token.PAREN, Token.FUNC) and
                                       t.subtype == Token.OPEN)


def _span(first: Ref, last: Ref, s: str, r: int, c: int) -> tuple[str, range, range]:
    a, b = _at(first, s, r, c), _at(last, s, r, c)
    if a[0] != b[0]:
        raise Unsupported("a range across sheets")
    rows = range(min(a[1], b[1]), max(a[1], b[1]) + 1)
    cols = range(min(a[2], b[2]), max(a[2], b[2]) + 1)
    if len(rows) * len(cols) > MAX_RANGE_CELLS:
        raise Unsupported(f"a range of more than {MAX_RANGE_CELLS:,} cells")
    return a[0], rows, cols


def _range(first: Ref, last: Ref) -> Node:
    def f(get: Get, s: str, r: int, c: int) -> Rng:
        sheet, rows, cols = _span(first, last, s, r, c)
        return Rng(tuple(tuple(get((sheet, rr, cc)) for cc in cols) for rr in rows))
    return f


def _function(name: str, args: list[Node]) -> Node:
    if name == "IF":
        if not 2 <= len(args) <= 3:
            raise Unsupported("IF with other than 2 or 3 arguments")

        def if_(get: Get, s: str, r: int, c: int) -> Any:
            t = truth(args[0](get, s, r, c))
            if isinstance(t, Err):
                return t
            if t:
                return args[1](get, s, r, c)
            return args[2](get, s, r, c) if len(args) == 3 else False
        return if_
    if name == "IFERROR":
        if len(args) != 2:
            raise Unsupported("IFERROR with other than 2 arguments")

        def iferror(get: Get, s: str, r: int, c: int) -> Any:
            v = args[0](get, s, r, c)
            return args[1](get, s, r, c) if isinstance(v, Err) else v
        return iferror
    if name in ("ROW", "COLUMN") and not args:  # the formula's own position
        if name == "ROW":
            return lambda get, s, r, c: float(r)
        return lambda get, s, r, c: float(c)
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise Unsupported(f"the function {name}")

    def f(get: Get, s: str, r: int, c: int) -> Any:
        values = [a(get, s, r, c) for a in args]
        try:
            return fn(*values)
        except TypeError:  # a wrong number of arguments: Excel refuses the formula
            raise Unsupported(f"{name} with {len(values)} argument(s)") from None
    return f


# --- a workbook -------------------------------------------------------------------------------
def _value_of_cell(v: Any, cell: Cell) -> Any:
    """What a formula cell shows: a blank it refers to is 0 (``=B4`` of an empty B4); a range
    (``=B1:B3``, implicit intersection or a spilled array) is not computed here."""
    if v is None:
        return 0.0
    if isinstance(v, Rng):
        raise Unsupported(f"a range as the value of {cell[0]}!R{cell[1]}C{cell[2]}")
    return v


class Book:
    """A workbook's cells (the engine's copy: plain sheet names, formulas rewritten), each
    formula compiled once per R1C1 form; `calculate` gives the values of the cells asked for."""

    def __init__(self, wb: Any) -> None:
        self.sheets: dict[str, dict[tuple[int, int], Any]] = {}
        #: the formula cells (text such as a Guide's "=w1*i1" is not one)
        self.formula_cells: set[Cell] = set()
        formulas = self.formula_cells
        for ws in wb.worksheets:
            cells: dict[tuple[int, int], Any] = {}
            for key, c in ws._cells.items():
                v = c.value
                if isinstance(v, ArrayFormula):
                    raise Unsupported(f"an array formula in {ws.title}!{c.coordinate}")
                if v is None:
                    continue
                if isinstance(v, str) and v.startswith("=") and c.data_type == "f":
                    formulas.add((ws.title.upper(), *key))
                if not isinstance(v, str | int | float | bool):
                    raise Unsupported(f"a {type(v).__name__} value in {ws.title}!"
                                      f"{c.coordinate}")
                cells[key] = v
            self.sheets[ws.title.upper()] = cells
        self.compiled: dict[tuple[Any, ...], Node] = {}
        self.formulas: dict[Cell, tuple[Node, list[Any]]] = {}
        self.by_form: dict[tuple[str, object], tuple[Node, list[Any]]] = {}
        self.distinct = 0

    def _formula(self, cell: Cell) -> tuple[Node, list[Any]] | None:
        if cell in self.formulas:
            return self.formulas[cell]
        sheet, r, c = cell
        if cell not in self.formula_cells:
            return None
        v = self.sheets[sheet][r, c]
        # the same R1C1 form is the same tree and the same (relative) references; a formula
        # with text in it is parsed itself (a quoted "B5" is text, not a reference)
        form = None if '"' in v else (sheet, r1c1(v, r, c))
        if form is not None and form in self.by_form:
            self.formulas[cell] = self.by_form[form]
            return self.formulas[cell]
        node, key, refs = parse(v, r, c)
        shared = self.compiled.setdefault(key, node)
        self.distinct = len(self.compiled)
        self.formulas[cell] = (shared, refs)
        if form is not None:
            self.by_form[form] = self.formulas[cell]
        return self.formulas[cell]

    def _inputs(self, cell: Cell, refs: list[Any]) -> Iterable[Cell]:
        sheet, r, c = cell
        for ref in refs:
            if isinstance(ref[0], tuple):
                name, rows, cols = _span(ref[0], ref[1], sheet, r, c)
                existing = self.sheets.get(name, {})
                if len(rows) * len(cols) > len(existing):
                    yield from ((name, rr, cc) for rr, cc in existing
                                if rr in rows and cc in cols)
                else:
                    yield from ((name, rr, cc) for rr in rows for cc in cols
                                if (rr, cc) in existing)
            else:
                yield _at(ref, sheet, r, c)

    def calculate(self, wanted: Iterable[Cell], inputs: Mapping[Cell, Any] | None = None
                  ) -> dict[Cell, Any]:
        """The value of every cell in ``wanted`` (and of what they need), with ``inputs``
        replacing those cells' contents. Raises Unsupported on a circular reference."""
        inputs = inputs or {}
        done: dict[Cell, Any] = {}
        for start in wanted:
            if start in done:
                continue
            stack: list[tuple[Cell, bool]] = [(start, False)]
            active: set[Cell] = set()
            while stack:
                cell, ready = stack.pop()
                if cell in done:
                    continue
                if cell in inputs:
                    done[cell] = inputs[cell]
                    continue
                compiled = self._formula(cell)
                if compiled is None:
                    sheet, r, c = cell
                    if sheet not in self.sheets:
                        raise Unsupported(f"a reference to a sheet that is not there ({sheet})")
                    v = self.sheets[sheet].get((r, c))
                    done[cell] = float(v) if isinstance(v, int) and not isinstance(v, bool) \
                        else v
                    continue
                node, refs = compiled
                if ready:
                    active.discard(cell)
                    done[cell] = _value_of_cell(node(done.get, *cell), cell)
                    continue
                if cell in active:
                    raise Unsupported("a circular reference")
                active.add(cell)
                stack.append((cell, True))
                for dep in self._inputs(cell, refs):
                    if dep not in done:
                        if dep in active:
                            raise Unsupported("a circular reference")
                        stack.append((dep, False))
        return done
