"""Excel's values and the functions students use, for the check's own evaluator (evaluate.py):
errors as values (`Err`, Excel's codes) that propagate, numbers and text coerced as Excel does,
arithmetic, comparisons and concatenation, and FUNCTIONS by name. What they cannot compute
raises `Unsupported`, and the check then uses the formulas engine for that workbook.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any


class Unsupported(Exception):
    """This evaluator cannot compute the workbook as Excel would; use the formulas engine."""


@dataclass(frozen=True)
class Err:
    """An Excel error value (``#DIV/0!``); it propagates through what uses it."""

    code: str


DIV0, NUM, VALUE, NA = Err("#DIV/0!"), Err("#NUM!"), Err("#VALUE!"), Err("#N/A")
ERRORS = {e: Err(e) for e in ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!",
                              "#N/A", "#GETTING_DATA")}


@dataclass(frozen=True)
class Rng:
    """A range argument's values, row by row (None: a blank cell)."""

    rows: tuple[tuple[Any, ...], ...]

    def values(self) -> Iterable[Any]:
        for row in self.rows:
            yield from row


Cell = tuple[str, int, int]  # (sheet, row, column), 1-based
Get = Callable[[Cell], Any]
Node = Callable[[Get, str, int, int], Any]  # (value of a cell, sheet, row, col) -> value


# --- values as Excel coerces them ------------------------------------------------------------
_NUMBER_TEXT = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def number(v: Any) -> float | Err:
    """A value used in arithmetic: blank 0, TRUE 1, numeric text its number, else #VALUE!."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if v is None:
        return 0.0
    if isinstance(v, Err):
        return v
    if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v):
        return float(v)
    if isinstance(v, Rng):
        raise Unsupported("a range used as one value (implicit intersection, array math)")
    return VALUE


def finite(x: float) -> float | Err:
    return x if math.isfinite(x) else NUM


def truth(v: Any) -> bool | Err:
    """A condition: numbers by ≠ 0, TRUE/FALSE, blank FALSE; text #VALUE!."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if v is None:
        return False
    if isinstance(v, Err):
        return v
    if isinstance(v, Rng):
        raise Unsupported("a range used as a condition")
    return VALUE


def arith(op: str, a: Any, b: Any) -> Any:
    x, y = number(a), number(b)
    if isinstance(x, Err):
        return x
    if isinstance(y, Err):
        return y
    if op == "+":
        return finite(x + y)
    if op == "-":
        return finite(x - y)
    if op == "*":
        return finite(x * y)
    if op == "/":
        return DIV0 if y == 0 else finite(x / y)
    return power(x, y)


def power(x: float, y: float) -> float | Err:
    """x^y as Excel: 0^0 and a negative base with a fractional exponent #NUM!, 0^−y #DIV/0!."""
    if x == 0:
        return NUM if y == 0 else (DIV0 if y < 0 else 0.0)
    if x < 0 and not float(y).is_integer():
        return NUM
    try:
        return finite(math.pow(x, y))
    except (OverflowError, ValueError):
        return NUM


def _order(v: Any) -> tuple[int, Any]:
    """Excel's order across types: numbers < text (case-blind) < logicals."""
    if isinstance(v, bool):
        return 2, v
    if isinstance(v, str):
        return 1, v.lower()
    return 0, float(v)


def compare(op: str, a: Any, b: Any) -> Any:
    for v in (a, b):
        if isinstance(v, Err):
            return v
        if isinstance(v, Rng):
            raise Unsupported("a range compared")
    if a is None:
        a = "" if isinstance(b, str) else (False if isinstance(b, bool) else 0.0)
    if b is None:
        b = "" if isinstance(a, str) else (False if isinstance(a, bool) else 0.0)
    x, y = _order(a), _order(b)
    return {"=": x == y, "<>": x != y, "<": x < y, ">": x > y, "<=": x <= y,
            ">=": x >= y}[op]


def _text(v: Any) -> str | Err:
    if isinstance(v, Err):
        return v
    if isinstance(v, Rng):
        raise Unsupported("a range joined as text")
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return repr(v).removesuffix(".0") if abs(v) < 1e15 else f"{v:.15G}"
    return str(v)


def concat(a: Any, b: Any) -> Any:
    x, y = _text(a), _text(b)
    return x if isinstance(x, Err) else (y if isinstance(y, Err) else x + y)


# --- the functions students use ---------------------------------------------------------------
def _numbers(args: tuple[Any, ...]) -> list[float] | Err:
    """SUM/MAX/MIN/AVERAGE's numbers: direct arguments coerced; in a range only numbers
    count (text, logicals and blanks are skipped); any error is the result."""
    out: list[float] = []
    for a in args:
        if isinstance(a, Rng):
            for v in a.values():
                if isinstance(v, Err):
                    return v
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out.append(float(v))
        else:
            x = number(a)
            if isinstance(x, Err):
                return x
            out.append(x)
    return out


def _scalar(fn: Callable[..., float | Err]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        xs = [number(a) for a in args]
        bad = next((x for x in xs if isinstance(x, Err)), None)
        if bad is not None:
            return bad
        try:
            return fn(*xs)
        except (OverflowError, ValueError, ZeroDivisionError):
            return NUM
    return call


def _ln(x: float) -> float | Err:
    return math.log(x) if x > 0 else NUM


def _log(x: float, base: float = 10.0) -> float | Err:
    if x <= 0 or base <= 0:
        return NUM
    if base == 1:
        return DIV0
    return math.log(x) / math.log(base) if base != 10 else math.log10(x)


def _round(mode: str) -> Callable[[float, float], float | Err]:
    def rnd(x: float, digits: float = 0.0) -> float | Err:
        exponent = Decimal(1).scaleb(-math.trunc(digits))
        return float(Decimal(repr(x)).quantize(exponent, rounding=mode)) if math.isfinite(x) \
            else NUM
    return rnd


def _reduce(fn: Callable[[list[float]], float | Err]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        xs = _numbers(args)
        return xs if isinstance(xs, Err) else fn(xs)
    return call


def _sumproduct(*args: Any) -> Any:
    if not args or not all(isinstance(a, Rng) for a in args):
        raise Unsupported("SUMPRODUCT of something other than ranges")
    shapes = {(len(a.rows), len(a.rows[0]) if a.rows else 0) for a in args}
    if len(shapes) > 1:
        return VALUE
    total = 0.0
    for values in zip(*(list(a.values()) for a in args), strict=True):
        if err := next((v for v in values if isinstance(v, Err)), None):
            return err
        term = 1.0
        for v in values:
            term *= float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0
        total += term
    return finite(total)


def _logical(fn: Callable[[list[bool]], bool]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        flags: list[bool] = []
        for a in args:
            for v in (a.values() if isinstance(a, Rng) else (a,)):
                if isinstance(a, Rng) and not isinstance(v, bool | int | float):
                    continue
                t = truth(v)
                if isinstance(t, Err):
                    return t
                flags.append(t)
        return fn(flags) if flags else VALUE
    return call


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "SUM": _reduce(lambda xs: finite(math.fsum(xs))),
    "MAX": _reduce(lambda xs: max(xs) if xs else 0.0),
    "MIN": _reduce(lambda xs: min(xs) if xs else 0.0),
    "AVERAGE": _reduce(lambda xs: math.fsum(xs) / len(xs) if xs else DIV0),
    "SUMSQ": _reduce(lambda xs: finite(math.fsum(x * x for x in xs))),
    "PRODUCT": _reduce(lambda xs: finite(math.prod(xs))),
    "SUMPRODUCT": _sumproduct,
    "EXP": _scalar(lambda x: finite(math.exp(x))),
    "LN": _scalar(_ln),
    "LOG": _scalar(_log),
    "LOG10": _scalar(lambda x: _log(x, 10.0)),
    "SQRT": _scalar(lambda x: math.sqrt(x) if x >= 0 else NUM),
    "POWER": _scalar(power),
    "POW": _scalar(power),  # Google Sheets' POWER (the engine's copy says POWER: foreign.py)
    "ABS": _scalar(abs),
    "SIGN": _scalar(lambda x: float((x > 0) - (x < 0))),
    "TANH": _scalar(math.tanh),
    "ROUND": _scalar(_round(ROUND_HALF_UP)),
    "ROUNDUP": _scalar(_round(ROUND_UP)),
    "ROUNDDOWN": _scalar(_round(ROUND_DOWN)),
    "PI": lambda: math.pi,
    "NA": lambda: NA,
    "TRUE": lambda: True,
    "FALSE": lambda: False,
    "AND": _logical(all),
    "OR": _logical(any),
    "NOT": lambda v: (t if isinstance(t := truth(v), Err) else not t),
}
#: evaluated lazily (only the branch taken), as Excel does
LAZY = {"IF", "IFERROR"}
