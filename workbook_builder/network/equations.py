"""One expression tree per quantity, printed two ways: evaluated (NumPy) and as Excel text.

SymPy's idea of one tree and several printers, at the size this needs: the reference computes a
quantity by walking its tree, the sheet's formula is the same tree printed, both in the same
order of operations, so the two cannot drift and the engines round alike. Elementary functions
(EXP, LN, TANH) come from ``decimal`` at 40 digits rounded once to a double, so a value is the
same on every CPU (NumPy's SIMD kernels differ in the last bit between CPUs).
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.float64]
#: (quantity, lag) -> its cell's address as the formula should write it (lag 1: epoch above)
Resolver = Callable[[str, int], str]
#: (quantity, lag) -> its values
Lookup = Callable[[str, int], Array]

_CONTEXT = decimal.Context(prec=40)


def _exact(fn: Callable[[decimal.Decimal], decimal.Decimal],
           at_infinity: Callable[[float], float]) -> Callable[[Array], Array]:
    """An elementary function on doubles, correctly rounded but for 1e-40-close midpoints;
    NaN gives NaN and ±∞ ``at_infinity`` (a checked sheet's cell may hold either)."""
    def one(x: float) -> float:
        x = float(x)
        if x != x:
            return x
        if x in (math.inf, -math.inf):
            return at_infinity(x)
        return float(fn(decimal.Decimal(x)))
    vectorised = np.frompyfunc(one, 1, 1)
    return lambda x: np.asarray(vectorised(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def _tanh(x: decimal.Decimal) -> decimal.Decimal:
    if abs(x) > 40:  # tanh is ±1 to 40 digits
        return decimal.Decimal(1).copy_sign(x)
    e = _CONTEXT.exp(2 * x)
    return _CONTEXT.divide(e - 1, e + 1)


def _ln(x: decimal.Decimal) -> decimal.Decimal:
    return _CONTEXT.ln(x) if x > 0 else decimal.Decimal("-Infinity") if x == 0 \
        else decimal.Decimal("NaN")


def _power_one(a: float, b: float) -> float:
    """a^b correctly rounded (decimal at 40 digits); NaN where Excel has #NUM! (0^0, a
    negative base with a fractional exponent) and IEEE's answer where either is infinite."""
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        try:
            return float(a ** b)
        except (OverflowError, ZeroDivisionError):
            return math.nan
    try:
        return float(_CONTEXT.power(decimal.Decimal(a), decimal.Decimal(b)))
    except (decimal.InvalidOperation, decimal.DivisionByZero, OverflowError):
        return math.nan


_POWER = np.frompyfunc(_power_one, 2, 1)


def _sqrt(x: Array) -> Array:
    """√x, NaN below 0 (Excel: #NUM!); IEEE's square root is correctly rounded everywhere."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.asarray(x, dtype=np.float64))


def power(a: Array, b: Array) -> Array:
    """Elementwise a^b, the same on every CPU (NumPy's ``power`` may use SIMD kernels)."""
    return np.asarray(_POWER(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)),
                      dtype=np.float64)


FUNCTIONS: dict[str, Callable[..., Array]] = {
    "SQRT": lambda x: _sqrt(x),
    "EXP": _exact(_CONTEXT.exp, lambda x: x if x > 0 else 0.0),
    "LN": _exact(_ln, lambda x: x if x > 0 else math.nan),
    "TANH": _exact(_tanh, lambda x: math.copysign(1.0, x)),
    "MIN": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
    "MAX": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
    # Excel's MOD(a, b) has the sign of b, as NumPy's mod: exact on the whole numbers it sees
    "MOD": lambda a, b: np.mod(a, b),
}

# Excel's precedence: + − < × ÷ < ^ < unary minus (−2^2 is 4 in Excel), atoms above all
_ADD, _MUL, _POW, _NEG, _ATOM = 1, 2, 3, 4, 5


class Expr:
    """A node; build with + − × ÷ and the helpers below, then ``value`` or ``excel``."""

    precedence = _ATOM

    def value(self, look: Lookup) -> Array:
        raise NotImplementedError

    def excel(self, ref: Resolver) -> str:
        raise NotImplementedError

    def names(self) -> list[tuple[str, int]]:
        """The quantities it reads, in reading order (repeats kept)."""
        return []

    def __add__(self, other: Expr | float) -> Expr:
        return Bin("+", self, lift(other))

    def __radd__(self, other: float) -> Expr:
        return Bin("+", lift(other), self)

    def __sub__(self, other: Expr | float) -> Expr:
        return Bin("-", self, lift(other))

    def __rsub__(self, other: float) -> Expr:
        return Bin("-", lift(other), self)

    def __mul__(self, other: Expr | float) -> Expr:
        return Bin("*", self, lift(other))

    def __rmul__(self, other: float) -> Expr:
        return Bin("*", lift(other), self)

    def __truediv__(self, other: Expr | float) -> Expr:
        return Bin("/", self, lift(other))

    def __rtruediv__(self, other: float) -> Expr:
        return Bin("/", lift(other), self)

    def __neg__(self) -> Expr:
        return Neg(self)


def lift(x: Expr | float) -> Expr:
    return x if isinstance(x, Expr) else Num(float(x))


def number_text(v: float) -> str:
    """The shortest text that reads back as exactly ``v`` (709.0 -> ``709``)."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v).replace("e", "E")


@dataclass(frozen=True, eq=False)
class Num(Expr):
    v: float

    def value(self, look: Lookup) -> Array:
        return np.asarray(self.v, dtype=np.float64)

    def excel(self, ref: Resolver) -> str:
        return number_text(self.v)

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return _NEG if self.v < 0 else _ATOM


@dataclass(frozen=True, eq=False)
class Var(Expr):
    """A quantity of this epoch (lag 0) or of the epoch above (lag 1)."""

    name: str
    lag: int = 0

    def value(self, look: Lookup) -> Array:
        return look(self.name, self.lag)

    def excel(self, ref: Resolver) -> str:
        return ref(self.name, self.lag)

    def names(self) -> list[tuple[str, int]]:
        return [(self.name, self.lag)]


_NUMPY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


@dataclass(frozen=True, eq=False)
class Bin(Expr):
    op: str  # + - * / ^ >
    a: Expr
    b: Expr

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "^": _POW, ">": 0}[self.op]

    def value(self, look: Lookup) -> Array:
        a, b = self.a.value(look), self.b.value(look)
        if self.op == "^":
            if np.all(np.asarray(b) == 2):
                return np.asarray(a * a)
            return power(a, b)
        if self.op == ">":
            return np.asarray(a > b, dtype=np.float64)
        # a diverging run overflows and divides by 0 (Excel: #NUM!, #DIV/0!): the callers
        # (evaluate, the traces, the check's rules) silence NumPy's warnings once, around the
        # whole walk, not per node (that context manager cost 40 % of a wide network's trace)
        return np.asarray(_NUMPY[self.op](a, b), dtype=np.float64)

    def excel(self, ref: Resolver) -> str:
        # left-associative: a right operand of the same level keeps its parentheses, so
        # a-(b-c) and a+(b+c) are computed in the order the tree says
        left = _wrap(self.a, ref, self.a.precedence < self.precedence)
        right = _wrap(self.b, ref, self.b.precedence <= self.precedence)
        return f"{left}{self.op}{right}"

    def names(self) -> list[tuple[str, int]]:
        return self.a.names() + self.b.names()


def _wrap(e: Expr, ref: Resolver, parens: bool) -> str:
    text = e.excel(ref)
    return f"({text})" if parens else text


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    a: Expr
    precedence = _NEG

    def value(self, look: Lookup) -> Array:
        return np.asarray(-self.a.value(look))

    def excel(self, ref: Resolver) -> str:
        return "-" + _wrap(self.a, ref, self.a.precedence < _ATOM)

    def names(self) -> list[tuple[str, int]]:
        return self.a.names()


@dataclass(frozen=True, eq=False)
class Call(Expr):
    fn: str  # EXP LN TANH MIN MAX SQRT
    args: tuple[Expr, ...]

    def value(self, look: Lookup) -> Array:
        return FUNCTIONS[self.fn](*(a.value(look) for a in self.args))

    def excel(self, ref: Resolver) -> str:
        return f"{self.fn}({','.join(a.excel(ref) for a in self.args)})"

    def names(self) -> list[tuple[str, int]]:
        return [n for a in self.args for n in a.names()]


@dataclass(frozen=True, eq=False)
class If(Expr):
    """IF(a>b, yes, no): ReLU's derivative."""

    test: Expr
    yes: Expr
    no: Expr

    def value(self, look: Lookup) -> Array:
        return np.where(self.test.value(look) > 0, self.yes.value(look),
                        self.no.value(look)).astype(np.float64)

    def excel(self, ref: Resolver) -> str:
        return f"IF({self.test.excel(ref)},{self.yes.excel(ref)},{self.no.excel(ref)})"

    def names(self) -> list[tuple[str, int]]:
        return self.test.names() + self.yes.names() + self.no.names()


@dataclass(frozen=True, eq=False)
class Pick(Expr):
    """The k-th of some quantities (k from 1): a mini-batch's example out of the data set.

    Excel text: ``INDEX(first:last,k)`` where the options are one column's consecutive cells
    of one sheet (the Network sheet's table of examples), else ``CHOOSE(k,a,b,…)``; a k that
    is not one of 1…n gives NaN (Excel: #VALUE! or #REF!)."""

    index: Expr
    options: tuple[Expr, ...]

    def value(self, look: Lookup) -> Array:
        k = np.asarray(self.index.value(look), dtype=np.float64)
        values = np.broadcast_arrays(k, *(o.value(look) for o in self.options))
        k, stack = values[0], np.stack(values[1:])
        valid = (k == np.floor(k)) & (k >= 1) & (k <= len(self.options))
        at = np.where(valid, k, 1).astype(np.intp) - 1
        picked = np.take_along_axis(stack, at[None, ...], axis=0)[0]
        return np.where(valid, picked, np.nan).astype(np.float64)

    def excel(self, ref: Resolver) -> str:
        texts = [o.excel(ref) for o in self.options]
        index = self.index.excel(ref)
        span = _column_range(texts)
        return f"INDEX({span},{index})" if span else f"CHOOSE({index},{','.join(texts)})"

    def names(self) -> list[tuple[str, int]]:
        return self.index.names() + [n for o in self.options for n in o.names()]


def _column_range(refs: list[str]) -> str | None:
    """``'Network'!$B$6:$B$9`` where ``refs`` are that column's cells top to bottom (absolute,
    on one sheet), else None. (Same letters and consecutive row numbers: no column arithmetic,
    and the engine imports no spreadsheet library.)"""
    places = [(sheet, re.fullmatch(r"\$([A-Z]+)\$(\d+)", cell))
              for sheet, _, cell in (r.rpartition("!") for r in refs)]
    if not all(m for _, m in places):
        return None
    found = [(sheet, m.group(1), int(m.group(2))) for sheet, m in places if m]
    first_sheet, letters, top = found[0]
    if any((s, c, r) != (first_sheet, letters, top + k) for k, (s, c, r) in enumerate(found)):
        return None
    return f"{refs[0]}:{refs[-1].rpartition('!')[2]}"


def square(x: Expr) -> Expr:
    return Bin("^", x, Num(2.0))


def exp(x: Expr) -> Expr:
    return Call("EXP", (x,))


def ln(x: Expr) -> Expr:
    return Call("LN", (x,))


def tanh(x: Expr) -> Expr:
    return Call("TANH", (x,))


def maximum(*xs: Expr | float) -> Expr:
    return Call("MAX", tuple(lift(x) for x in xs))


def minimum(*xs: Expr | float) -> Expr:
    return Call("MIN", tuple(lift(x) for x in xs))


def positive(x: Expr, yes: Expr | float, no: Expr | float) -> Expr:
    return If(Bin(">", x, Num(0.0)), lift(yes), lift(no))


def total(terms: Sequence[Expr]) -> Expr:
    """t1 + t2 + … in that order (left to right, as Excel adds)."""
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def evaluate(equations: Mapping[str, Expr], given: Mapping[str, Array],
             previous: Mapping[str, Array] | None = None) -> dict[str, Array]:
    """Every quantity of ``equations`` (in their order) from ``given`` values; lag-1 names are
    read from ``previous`` (the epoch above)."""
    values: dict[str, Array] = dict(given)

    def look(name: str, lag: int) -> Array:
        if lag:
            if previous is None:
                raise KeyError(f"{name} of the epoch above")
            return previous[name]
        return values[name]

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for name, expr in equations.items():
            values[name] = np.asarray(expr.value(look), dtype=np.float64)
    return values
