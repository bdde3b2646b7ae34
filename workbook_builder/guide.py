"""The Guide sheet's content: each step of backpropagation, its equation and a live example.

Each example is an Excel expression over quantity names ({a_o1}, {t1}, {w5@1} for epoch 1) that
the writer points at one rate sheet's epoch-0 row, so the Guide follows any edit to the inputs.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One line of the Guide: a section heading when ``example`` is empty."""

    name: str
    equation: str = ""
    example: str = ""
    note: str = ""


def section(title: str) -> Step:
    return Step(title)


STEPS: tuple[Step, ...] = (
    section("1. Forward pass: hidden layer"),
    Step("h1", "h1 = w1·i1 + w2·i2 (+ b1)", "{h1}", "net input of hidden neuron 1"),
    Step("a_h1", "a_h1 = σ(h1) = 1 / (1 + e^(−h1))", "{a_h1}",
         "the sheet writes 1/(1+EXP(MIN(709,−h1))): EXP never overflows"),
    Step("h2", "h2 = w3·i1 + w4·i2 (+ b1)", "{h2}"),
    Step("a_h2", "a_h2 = σ(h2)", "{a_h2}"),
    section("2. Forward pass: output layer"),
    Step("o1", "o1 = w5·a_h1 + w6·a_h2 (+ b2)", "{o1}"),
    Step("a_o1", "a_o1 = σ(o1)", "{a_o1}", "the network's first output"),
    Step("o2", "o2 = w7·a_h1 + w8·a_h2 (+ b2)", "{o2}"),
    Step("a_o2", "a_o2 = σ(o2)", "{a_o2}"),
    section("3. Loss"),
    Step("E1", "E1 = ½·(t1 − a_o1)²", "{E1}", "the ½ cancels the 2 of the derivative"),
    Step("E2", "E2 = ½·(t2 − a_o2)²", "{E2}"),
    Step("E_total", "E_total = E1 + E2", "{E_total}", "what gradient descent lowers"),
    section("4. Output layer: chain rule for w5 (w6, w7, w8 alike)"),
    Step("∂E_total/∂a_o1", "∂E_total/∂a_o1 = −(t1 − a_o1) = a_o1 − t1", "{a_o1}-{t1}",
         "only E1 depends on a_o1"),
    Step("∂a_o1/∂o1", "∂a_o1/∂o1 = a_o1·(1 − a_o1)", "{a_o1}*(1-{a_o1})",
         "the sigmoid's derivative, σ' = σ·(1 − σ)"),
    Step("∂o1/∂w5", "∂o1/∂w5 = a_h1", "{a_h1}", "o1 = w5·a_h1 + w6·a_h2"),
    Step("δ_o1", "δ_o1 = ∂E_total/∂o1 = (a_o1 − t1)·a_o1·(1 − a_o1)", "{δ_o1}",
         "column δ_o1: the first two factors"),
    Step("∂E_total/∂w5", "∂E_total/∂w5 = ∂E_total/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w5 = δ_o1·a_h1",
         "{∂E/∂w5}", "column ∂E/∂w5"),
    Step("∂E_total/∂w6", "∂E_total/∂w6 = δ_o1·a_h2", "{∂E/∂w6}", "w6 feeds o1 from a_h2"),
    Step("∂E_total/∂w7", "∂E_total/∂w7 = δ_o2·a_h1,  δ_o2 = (a_o2 − t2)·a_o2·(1 − a_o2)",
         "{∂E/∂w7}", "w7 and w8 feed o2"),
    Step("∂E_total/∂w8", "∂E_total/∂w8 = δ_o2·a_h2", "{∂E/∂w8}"),
    section("5. Hidden layer: chain rule for w1 (w2, w3, w4 alike)"),
    Step("∂E_total/∂a_h1", "∂E_total/∂a_h1 = ∂E1/∂a_h1 + ∂E2/∂a_h1 = δ_o1·w5 + δ_o2·w7",
         "{δ_o1}*{w5}+{δ_o2}*{w7}", "a_h1 reaches both outputs: sum both paths"),
    Step("∂a_h1/∂h1", "∂a_h1/∂h1 = a_h1·(1 − a_h1)", "{a_h1}*(1-{a_h1})"),
    Step("δ_h1", "δ_h1 = (δ_o1·w5 + δ_o2·w7)·a_h1·(1 − a_h1)", "{δ_h1}", "column δ_h1"),
    Step("∂E_total/∂w1", "∂E_total/∂w1 = δ_h1·i1", "{∂E/∂w1}", "∂h1/∂w1 = i1"),
    Step("∂E_total/∂w2", "∂E_total/∂w2 = δ_h1·i2", "{∂E/∂w2}"),
    Step("∂E_total/∂a_h2", "∂E_total/∂a_h2 = δ_o1·w6 + δ_o2·w8", "{δ_o1}*{w6}+{δ_o2}*{w8}",
         "a_h2, not a_h1: a classic copying mistake in w3, w4"),
    Step("δ_h2", "δ_h2 = (δ_o1·w6 + δ_o2·w8)·a_h2·(1 − a_h2)", "{δ_h2}"),
    Step("∂E_total/∂w3", "∂E_total/∂w3 = δ_h2·i1", "{∂E/∂w3}"),
    Step("∂E_total/∂w4", "∂E_total/∂w4 = δ_h2·i2", "{∂E/∂w4}"),
    section("6. Update: one step of gradient descent"),
    Step("w5 at epoch 1", "w_new = w_old − η·∂E_total/∂w", "{w5}-{η}*{∂E/∂w5}",
         "minus: a step downhill; equals the next row's w5"),
    Step("w1 at epoch 1", "w1_new = w1 − η·∂E_total/∂w1", "{w1}-{η}*{∂E/∂w1}",
         "all eight gradients use the old weights, w5..w8 too"),
    Step("E_total at epoch 1", "the next row repeats steps 1–6 with the new weights",
         "{E_total@1}", "lower than epoch 0: the step went downhill"),
)

_NAME = re.compile(r"\{([^{}@]+)(?:@(\d+))?\}")


def names(example: str) -> list[tuple[str, int]]:
    """The (quantity or parameter, epoch) pairs an example refers to, in order."""
    return [(m.group(1), int(m.group(2) or 0)) for m in _NAME.finditer(example)]


def fill(example: str, lookup: dict[tuple[str, int], str]) -> str:
    """Replace each {name} or {name@epoch} by ``lookup[(name, epoch)]``."""
    return _NAME.sub(lambda m: lookup[(m.group(1), int(m.group(2) or 0))], example)


def evaluate(example: str, numbers: dict[tuple[str, int], float]) -> float:
    """An example's value from the numbers it refers to: the cached value the writer stores."""
    return arithmetic(fill(example, {key: f"({value!r})" for key, value in numbers.items()}))


def arithmetic(expr: str) -> float:
    """Evaluate + − * / over numbers.

    Hand-written rather than eval(): five node types are all it needs, and nothing else runs.
    """
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, float | int):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not plain arithmetic: {ast.dump(node)}")

    return walk(ast.parse(expr, mode="eval").body)


_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
