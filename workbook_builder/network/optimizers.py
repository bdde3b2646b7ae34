"""How the parameters learn: plain gradient descent, momentum, Nesterov, RMSprop and Adam, as
``torch.optim`` defines them, each as equations of the engine (one tree per quantity).

Each epoch row holds the step's gradients g = ∂E/∂p; an optimizer keeps per parameter a state
computed from them in the same row, and the next row's parameter is the step's result:

- ``sgd``: p ← p − η·g (no state; the workbooks of earlier versions, byte for byte);
- ``momentum`` (``torch.optim.SGD(momentum=μ)``): velocity v = μ·v_above + g (v = g in the
  first row, as torch's buffer starts as the gradient), p ← p − η·v;
- ``nesterov`` (``SGD(momentum=μ, nesterov=True)``): the same v, p ← p − η·(g + μ·v);
- ``rmsprop`` (``RMSprop(alpha=α, eps=ε)``): mean square s = α·s_above + (1 − α)·g² (s starts
  at 0), p ← p − η·g/(√s + ε);
- ``adam`` (``Adam(betas=(β1, β2), eps=ε)``): the step number t, m = β1·m_above + (1 − β1)·g,
  v = β2·v_above + (1 − β2)·g² (both start at 0), their bias corrections m̂ = m/(1 − β1^t) and
  v̂ = v/(1 − β2^t), p ← p − η·m̂/(√v̂ + ε).

Hyperparameters are cells beside η on each rate sheet (blue inputs, ``μ``, ``α``, ``β1``,
``β2``, ``ε``), so an edit there is followed by every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workbook_builder.network.equations import Bin, Call, Expr, Num, Var, square
from workbook_builder.network.spec import SpecError

NAMES = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
#: torch.optim's defaults (SGD's momentum has none there: 0.9 is the usual choice)
MOMENTUM, ALPHA, BETAS, EPS = 0.9, 0.99, (0.9, 0.999), 1e-8
STEP = "step"
#: each hyperparameter's cell label on a rate sheet
LABELS = {"μ": "μ (momentum)", "α": "α (smoothing)", "β1": "β1", "β2": "β2", "ε": "ε"}
#: which options set which hyperparameter (for the messages)
OPTION = {"μ": "--momentum", "α": "--alpha", "β1": "--betas", "β2": "--betas", "ε": "--eps"}


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and its hyperparameters (those it does not use are ignored)."""

    name: str = "sgd"
    momentum: float = MOMENTUM
    alpha: float = ALPHA
    betas: tuple[float, float] = BETAS
    eps: float = EPS

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise SpecError(f"--optimizer {self.name!r}: choose one of " + ", ".join(NAMES))
        for symbol, value in self.hyperparameters.items():
            if not math.isfinite(value):
                raise SpecError(f"{OPTION[symbol]}: {value} is not a finite number")
            if symbol == "ε" and not value > 0:
                raise SpecError(f"--eps: give a number > 0, got {value:g}")
            if symbol != "ε" and not 0 <= value < 1:
                raise SpecError(f"{OPTION[symbol]}: give a number in [0, 1), got {value:g}")

    @property
    def hyperparameters(self) -> dict[str, float]:
        """The values its equations read, by the name of their cell (μ, α, β1, β2, ε)."""
        if self.name in ("momentum", "nesterov"):
            return {"μ": self.momentum}
        if self.name == "rmsprop":
            return {"α": self.alpha, "ε": self.eps}
        if self.name == "adam":
            return {"β1": self.betas[0], "β2": self.betas[1], "ε": self.eps}
        return {}

    def describe(self) -> str:
        """``adam (β1 0.9, β2 0.999, ε 1e-08)``; ``sgd``."""
        values = ", ".join(f"{k} {v:g}" for k, v in self.hyperparameters.items())
        return f"{self.name} ({values})" if values else self.name


SGD = Optimizer()


def _sqrt(x: Expr) -> Expr:
    return Call("SQRT", (x,))


def _power(base: Expr, exponent: Expr) -> Expr:
    return Bin("^", base, exponent)


def state(o: Optimizer, params: list[str], first: bool) -> dict[str, Expr]:
    """The optimizer's state of one row, from its gradients (lag 0) and the state above (lag
    1); ``first``: the first row's, where the state above is torch's initial one."""
    eq: dict[str, Expr] = {}
    grads = {p: Var(f"∂E/∂{p}") for p in params}
    if o.name in ("momentum", "nesterov"):
        mu = Var("μ")
        for p in params:
            eq[f"v_{p}"] = grads[p] if first else mu * Var(f"v_{p}", 1) + grads[p]
    elif o.name == "rmsprop":
        alpha = Var("α")
        for p in params:
            new = (1 - alpha) * square(grads[p])
            eq[f"s_{p}"] = new if first else alpha * Var(f"s_{p}", 1) + new
    elif o.name == "adam":
        b1, b2 = Var("β1"), Var("β2")
        eq[STEP] = Num(1.0) if first else Var(STEP, 1) + 1
        for p in params:
            new = (1 - b1) * grads[p]
            eq[f"m_{p}"] = new if first else b1 * Var(f"m_{p}", 1) + new
        for p in params:
            new = (1 - b2) * square(grads[p])
            eq[f"v_{p}"] = new if first else b2 * Var(f"v_{p}", 1) + new
        for p in params:
            eq[f"m̂_{p}"] = Var(f"m_{p}") / (1 - _power(b1, Var(STEP)))
        for p in params:
            eq[f"v̂_{p}"] = Var(f"v_{p}") / (1 - _power(b2, Var(STEP)))
    return eq


def update(o: Optimizer, p: str) -> Expr:
    """A parameter's next value, from the row above (lag 1)."""
    eta, old, g = Var("η"), Var(p, 1), Var(f"∂E/∂{p}", 1)
    if o.name == "momentum":
        return old - eta * Var(f"v_{p}", 1)
    if o.name == "nesterov":
        return old - eta * (g + Var("μ") * Var(f"v_{p}", 1))
    if o.name == "rmsprop":
        return old - eta * (g / (_sqrt(Var(f"s_{p}", 1)) + Var("ε")))
    if o.name == "adam":
        return old - eta * (Var(f"m̂_{p}", 1) / (_sqrt(Var(f"v̂_{p}", 1)) + Var("ε")))
    return old - eta * g


def update_words(o: Optimizer) -> str:
    """What each row does, in the rate sheet's note."""
    return {
        "sgd": "each row subtracts η × the gradients of the row above",
        "momentum": "each row subtracts η × the velocity v (μ·v above + ∂E/∂) of the row above",
        "nesterov": "each row subtracts η × (∂E/∂ + μ·v) of the row above (Nesterov)",
        "rmsprop": "each row subtracts η × ∂E/∂ / (√s + ε) of the row above (RMSprop)",
        "adam": "each row subtracts η × m̂ / (√v̂ + ε) of the row above (Adam)",
    }[o.name]
