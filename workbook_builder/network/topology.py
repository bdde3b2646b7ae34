"""Any small network, as equations: its description, its quantities' names, one tree each.

The description (``NetSpec``) names the layer sizes, the activations, the loss, the training
set and the biases; ``equations`` derives from it, once, every quantity of one epoch — forward
pass, loss, δ terms, gradients and the weight updates — as ``equations.Expr`` trees that both
evaluate (``trace``) and print as Excel text. Names extend the course's 2-2-2 ones:

- inputs ``i1 …``, targets ``t1 …``; hidden sums ``h1 …`` and activations ``a_h1 …`` (with
  several hidden layers ``h1_2`` is layer 1's neuron 2), outputs ``o1 …``, ``a_o1 …``;
- weights ``w1 …`` in the course's order: layer by layer, within a layer by destination neuron,
  then source neuron (2-2-2: w1 = i1→h1, w2 = i2→h1, w3 = i1→h2, …, w5 = h1→o1, w6 = h2→o1);
- fixed biases, one per non-input layer, ``b1 …`` (2-2-2: b1 hidden, b2 output); trainable
  biases, one per neuron, ``b_h1 …``, ``b_o1 …``, with gradients ``∂E/∂b_h1 …``;
- loss terms ``E1 …`` (one per output; cross-entropy with softmax: one per example, ``E``),
  ``E_total``; δ terms ``δ_o1 …``, ``δ_h1 …``; gradients ``∂E/∂w1 …``;
- with several examples every per-example quantity carries the example: ``a_h1[2]``.

One epoch is one full-batch step: every gradient is of the whole E_total at that epoch's
weights. With ``batch_size`` N (fewer than the examples) each row is instead one step on N
examples taken in order, cycling: row 0 takes examples 1…N, row 1 the next N (after the last
example comes the first again). The row's quantities are those of an N-example network (``[k]``
is the batch's k-th example, ``ex[k]`` which example of the data set it is, ``i1[k]``,
``t1[k]`` its values picked from the data set's ``i1@m``, ``t1@m``), so its loss is
``E_total`` of the step's examples, as a PyTorch loop over a ``DataLoader(shuffle=False)``.
Losses are PyTorch's (``half-se`` = ½·Σ(a − t)², ``mse`` = ``nn.MSELoss``, ``ce`` =
``nn.CrossEntropyLoss`` with probability targets for softmax outputs, ``nn.BCELoss`` for
sigmoid outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbook_builder.network.equations import (
    Array,
    Call,
    Expr,
    Num,
    Pick,
    Var,
    evaluate,
    exp,
    ln,
    maximum,
    minimum,
    positive,
    square,
    tanh,
    total,
)
from workbook_builder.network.optimizers import SGD, Optimizer, state, update
from workbook_builder.network.spec import SpecError

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky-relu", "linear")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear", "softmax")
LOSSES = ("half-se", "mse", "ce")
MAX_HIDDEN_LAYERS = 3
MAX_NEURONS = 8
MAX_EXAMPLES = 16
LEAKY_SLOPE = 0.01  # PyTorch's default negative_slope
EXP_CAP = 709.0  # σ's e^−x is capped at e^709 (Excel's EXP overflows past ~709.78)
LOG_FLOOR = -100.0  # nn.BCELoss clamps each log at −100
#: course defaults (the 2-2-2 example of the assignment)
DEFAULT_LAYERS = (2, 2, 2)
DEFAULT_EXAMPLE = ((0.05, 0.10), (0.5, 0.5))
DEFAULT_WEIGHTS = (0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55)


@dataclass(frozen=True)
class NetSpec:
    """A small fully connected network and the examples it learns by full-batch descent.

    ``examples`` holds (inputs, targets) pairs; ``biases`` one initial value per non-input
    layer (shared by its neurons), or None for no biases; with ``train_biases`` every neuron
    has its own bias that learns, starting from its layer's value (0 without ``biases``).
    ``weights`` None means seeded initial weights (``init_seed``, see ``seeded_weights``).
    """

    layers: tuple[int, ...] = DEFAULT_LAYERS
    activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    loss: str = "half-se"
    examples: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = (DEFAULT_EXAMPLE,)
    biases: tuple[float, ...] | None = None
    train_biases: bool = False
    weights: tuple[float, ...] | None = DEFAULT_WEIGHTS
    init_seed: int = 0
    optimizer: Optimizer = SGD
    #: examples per step; None (or all of them): full-batch descent, one step an epoch
    batch_size: int | None = None

    def __post_init__(self) -> None:
        validate(self)
        if self.batch_size == len(self.examples):  # a batch of every example: full batch
            object.__setattr__(self, "batch_size", None)

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.layers, self.layers[1:], strict=False))

    @property
    def initial_weights(self) -> tuple[float, ...]:
        return self.weights if self.weights is not None else seeded_weights(self)


def validate(s: NetSpec) -> None:
    """One SpecError naming the first thing out of bounds."""
    if not 3 <= len(s.layers) <= MAX_HIDDEN_LAYERS + 2:
        raise SpecError(f"--layers: give the input, 1 to {MAX_HIDDEN_LAYERS} hidden layers and "
                        f"the output (e.g. 2 2 2), got {len(s.layers)} number(s)")
    for n in s.layers:
        if not 1 <= n <= MAX_NEURONS:
            raise SpecError(f"--layers: each layer has 1 to {MAX_NEURONS} neurons, got {n}")
    if s.activation not in HIDDEN_ACTIVATIONS:
        raise SpecError(f"--activation {s.activation!r}: choose one of "
                        + ", ".join(HIDDEN_ACTIVATIONS))
    if s.output_activation not in OUTPUT_ACTIVATIONS:
        raise SpecError(f"--output-activation {s.output_activation!r}: choose one of "
                        + ", ".join(OUTPUT_ACTIVATIONS))
    if s.loss not in LOSSES:
        raise SpecError(f"--loss {s.loss!r}: choose one of " + ", ".join(LOSSES))
    outputs = s.layers[-1]
    if s.output_activation == "softmax" and outputs < 2:
        raise SpecError("softmax needs at least 2 outputs (one output: use sigmoid)")
    if s.loss == "ce" and s.output_activation == "linear":
        raise SpecError("--loss ce needs sigmoid or softmax outputs (probabilities), not linear")
    if not 1 <= len(s.examples) <= MAX_EXAMPLES:
        raise SpecError(f"give 1 to {MAX_EXAMPLES} examples, got {len(s.examples)}")
    if s.batch_size is not None and not 1 <= s.batch_size <= len(s.examples):
        raise SpecError(f"--batch-size: give 1 to {len(s.examples)} (the number of examples), "
                        f"got {s.batch_size}")
    for k, (x, t) in enumerate(s.examples, start=1):
        if len(x) != s.layers[0] or len(t) != outputs:
            raise SpecError(f"example {k}: {len(x)} inputs and {len(t)} targets; the network "
                            f"takes {s.layers[0]} inputs and {outputs} targets")
        _finite(f"example {k}", (*x, *t))
    if s.biases is not None:
        if len(s.biases) != len(s.layers) - 1:
            raise SpecError(f"--biases: one value per non-input layer ({len(s.layers) - 1}), "
                            f"got {len(s.biases)}")
        _finite("--biases", s.biases)
    if s.weights is not None:
        if len(s.weights) != s.n_weights:
            raise SpecError(f"--weights: this network has {s.n_weights} weights, got "
                            f"{len(s.weights)}")
        _finite("--weights", s.weights)


def _finite(what: str, values: tuple[float, ...]) -> None:
    for v in values:
        if not math.isfinite(v):
            raise SpecError(f"{what}: {v} is not a finite number")


def seeded_weights(s: NetSpec) -> tuple[float, ...]:
    """Documented initial weights for a network without ``--weights``: uniform in
    ±1/√(fan-in) (PyTorch's nn.Linear range) from NumPy's PCG64 seeded with ``init_seed``,
    rounded to 2 decimals so the sheet shows them whole; a weight that rounds to 0 is drawn
    again (a zero weight hides a path from the student)."""
    rng = np.random.default_rng(s.init_seed)
    out: list[float] = []
    for fan_in, fan_out in zip(s.layers, s.layers[1:], strict=False):
        bound = 1 / math.sqrt(fan_in)
        for _ in range(fan_in * fan_out):
            w = 0.0
            while w == 0.0:
                w = round(float(rng.uniform(-bound, bound)), 2)
            out.append(w)
    return tuple(out)


# --- names ------------------------------------------------------------------------------
def neuron_names(s: NetSpec) -> list[list[str]]:
    """Per layer, the neurons' short names: i1 …; h1 … (h1_1 … with several hidden
    layers); o1 …"""
    hidden = len(s.layers) - 2
    names = [[f"i{j}" for j in range(1, s.layers[0] + 1)]]
    for layer in range(1, hidden + 1):
        names.append([f"h{j}" if hidden == 1 else f"h{layer}_{j}"
                      for j in range(1, s.layers[layer] + 1)])
    names.append([f"o{j}" for j in range(1, s.layers[-1] + 1)])
    return names


def weight_index(s: NetSpec) -> list[list[list[str]]]:
    """weight_index(s)[layer][dest][src] -> "w7" (layer counts from the first non-input)."""
    out, k = [], 1
    for n_in, n_out in zip(s.layers, s.layers[1:], strict=False):
        block = []
        for _ in range(n_out):
            block.append([f"w{k + j}" for j in range(n_in)])
            k += n_in
        out.append(block)
    return out


def slots(s: NetSpec) -> int:
    """Examples in one row's step: the batch size, else every example."""
    return s.batch_size if s.batch_size is not None else len(s.examples)


def example_suffix(s: NetSpec, e: int) -> str:
    """The suffix of a row's e-th example (0-based): ``[2]``, none with one example a row."""
    return "" if slots(s) == 1 else f"[{e + 1}]"


def data_name(s: NetSpec, base: str, m: int) -> str:
    """The name of an input or target (``i1``, ``t2``) of the data set's m-th example
    (0-based): the row's own (``i1[2]``) in full-batch descent; with mini-batches ``i1@2``,
    the Network sheet's value that a row's ``i1[k]`` picks."""
    if s.batch_size is None:
        return f"{base}{example_suffix(s, m)}"
    return f"{base}@{m + 1}"


def batch_examples(s: NetSpec, row: int) -> list[int]:
    """The data set's examples (1-based) that row ``row`` (0-based) steps on."""
    n, m = slots(s), len(s.examples)
    return [(row * n + k) % m + 1 for k in range(n)]


def bias_name(s: NetSpec, layer: int, neuron: str) -> str | None:
    """The bias a neuron adds: its own (trainable), its layer's (fixed), or None."""
    if s.train_biases:
        return f"b_{neuron}"
    if s.biases is not None:
        return f"b{layer}"
    return None


def parameters(s: NetSpec) -> dict[str, float]:
    """The trained parameters and their initial values: weights, then trainable biases."""
    params = dict(zip((f"w{k}" for k in range(1, s.n_weights + 1)), s.initial_weights,
                      strict=True))
    if s.train_biases:
        names = neuron_names(s)
        for layer in range(1, len(s.layers)):
            start = s.biases[layer - 1] if s.biases is not None else 0.0
            params.update({f"b_{n}": start for n in names[layer]})
    return params


def constants(s: NetSpec) -> dict[str, float]:
    """The given values that never change: the examples and the fixed biases."""
    out: dict[str, float] = {}
    for e, (x, t) in enumerate(s.examples):
        out.update({data_name(s, f"i{j}", e): v for j, v in enumerate(x, start=1)})
        out.update({data_name(s, f"t{j}", e): v for j, v in enumerate(t, start=1)})
    if s.biases is not None and not s.train_biases:
        out.update({f"b{layer}": v for layer, v in enumerate(s.biases, start=1)})
    return out


# --- the equations ------------------------------------------------------------------------
def activate(kind: str, z: Expr) -> Expr:
    if kind == "sigmoid":  # 1/(1+e^−z), e^−z capped: no #NUM! however negative z gets
        return 1 / (1 + exp(minimum(EXP_CAP, -z)))
    if kind == "tanh":
        return tanh(z)
    if kind == "relu":
        return maximum(0, z)
    if kind == "leaky-relu":
        return maximum(LEAKY_SLOPE * z, z)
    return z  # linear


def slope_factors(kind: str, z: Expr, a: Expr) -> list[Expr]:
    """f′ at the neuron as factors to multiply by, left to right: from its activation a (σ:
    a, 1 − a; tanh: 1 − a²) or its sum z (ReLU: 1 where z > 0, else 0, as PyTorch takes
    f′(0)); none for linear."""
    if kind == "sigmoid":
        return [a, 1 - a]
    if kind == "tanh":
        return [1 - square(a)]
    if kind == "relu":
        return [positive(z, 1, 0)]
    if kind == "leaky-relu":
        return [positive(z, 1, LEAKY_SLOPE)]
    return []


def times(x: Expr, factors: list[Expr]) -> Expr:
    for f in factors:
        x = x * f
    return x


def equations(s: NetSpec, first: bool = False) -> dict[str, Expr]:
    """Every quantity of one epoch, in the order a sheet shows (and computes) them.

    Parameters (weights, trainable biases) are the epoch's own values; their update (the next
    epoch's value) is ``update(s)``. The optimizer's state comes last; ``first``: the first
    row's (where it has no row above, see optimizers.state).
    """
    names = neuron_names(s)
    widx = weight_index(s)
    n_ex = slots(s)
    eq: dict[str, Expr] = batch(s, first)
    for e in range(n_ex):  # forward pass, example by example
        sfx = example_suffix(s, e)
        prev = [Var(f"{n}{sfx}") for n in names[0]]
        for layer in range(1, len(s.layers)):
            kind = s.output_activation if layer == len(s.layers) - 1 else s.activation
            sums = []
            for d, neuron in enumerate(names[layer]):
                z: Expr = total([Var(w) * x for w, x in zip(widx[layer - 1][d], prev,
                                                             strict=True)])
                if (b := bias_name(s, layer, neuron)) is not None:
                    z = z + Var(b)
                eq[f"{neuron}{sfx}"] = z
                sums.append(Var(f"{neuron}{sfx}"))
            if kind == "softmax":
                top = maximum(*sums)
                denominator = total([exp(z - top) for z in sums])
                for neuron, z in zip(names[layer], sums, strict=True):
                    eq[f"a_{neuron}{sfx}"] = exp(z - top) / denominator
            else:
                for neuron, z in zip(names[layer], sums, strict=True):
                    eq[f"a_{neuron}{sfx}"] = activate(kind, z)
            prev = [Var(f"a_{n}{sfx}") for n in names[layer]]
    _loss(s, eq, names[-1])
    for e in range(n_ex):  # backward pass
        sfx = example_suffix(s, e)
        for neuron, delta in zip(names[-1], _output_deltas(s, names[-1], sfx), strict=True):
            eq[f"δ_{neuron}{sfx}"] = delta
        for layer in range(len(s.layers) - 2, 0, -1):
            for j, neuron in enumerate(names[layer]):
                back = total([Var(f"δ_{dest}{sfx}") * Var(widx[layer][d][j])
                              for d, dest in enumerate(names[layer + 1])])
                eq[f"δ_{neuron}{sfx}"] = times(back, slope_factors(
                    s.activation, Var(f"{neuron}{sfx}"), Var(f"a_{neuron}{sfx}")))
    for layer in range(1, len(s.layers)):  # gradients: summed over the examples
        for d, dest in enumerate(names[layer]):
            for j, src in enumerate(names[layer - 1]):
                source = src if layer == 1 else f"a_{src}"
                eq[f"∂E/∂{widx[layer - 1][d][j]}"] = total(
                    [Var(f"δ_{dest}{example_suffix(s, e)}") * Var(f"{source}"
                                                                 f"{example_suffix(s, e)}")
                     for e in range(n_ex)])
            if s.train_biases:
                eq[f"∂E/∂b_{dest}"] = total([Var(f"δ_{dest}{example_suffix(s, e)}")
                                             for e in range(n_ex)])
    eq.update(state(s.optimizer, list(parameters(s)), first))
    return eq


def batch(s: NetSpec, first: bool = False) -> dict[str, Expr]:
    """A mini-batch row's examples: ``ex[k]``, which example of the data set is the row's
    k-th (k in the first row; then N on from the row above's, cycling:
    MOD(ex above + N − 1, M) + 1), and its inputs and targets picked from the data set.
    None without mini-batches."""
    if s.batch_size is None:
        return {}
    n, m = s.batch_size, len(s.examples)
    eq: dict[str, Expr] = {}
    for k in range(n):
        sfx = example_suffix(s, k)
        above = Var(f"ex{sfx}", 1)
        eq[f"ex{sfx}"] = Num(float(k + 1)) if first else \
            Call("MOD", (above + (n - 1) if n > 1 else above, Num(float(m)))) + 1
        for base, count in (("i", s.layers[0]), ("t", s.layers[-1])):
            for j in range(1, count + 1):
                eq[f"{base}{j}{sfx}"] = Pick(Var(f"ex{sfx}"), tuple(
                    Var(data_name(s, f"{base}{j}", e)) for e in range(m)))
    return eq


def first_row(s: NetSpec) -> dict[str, Expr]:
    """The quantities whose first row has its own tree (no row above): an optimizer's state
    from torch's initial state, a mini-batch's first examples."""
    def text(name: str, lag: int) -> str:
        return f"{name}'{lag}"

    later = equations(s)
    return {q: e for q, e in equations(s, first=True).items()
            if e.excel(text) != later[q].excel(text)}


def _loss(s: NetSpec, eq: dict[str, Expr], outputs: list[str]) -> None:
    n_ex, n_out = slots(s), len(outputs)
    terms: list[Expr] = []
    for e in range(n_ex):
        sfx = example_suffix(s, e)
        if s.loss == "ce" and s.output_activation == "softmax":
            # −Σ t·log softmax(z), log softmax written z − max − LN(Σ e^(z − max)): exact where
            # LN(a) would be LN(0) = −∞ for a very confident wrong output
            z = [Var(f"{o}{sfx}") for o in outputs]
            top = maximum(*z)
            log_sum = ln(total([exp(v - top) for v in z]))
            eq[f"E{sfx}"] = -total([Var(f"t{k}{sfx}") * (v - top - log_sum)
                                   for k, v in enumerate(z, start=1)])
            terms.append(Var(f"E{sfx}"))
            continue
        for k, o in enumerate(outputs, start=1):
            a, t = Var(f"a_{o}{sfx}"), Var(f"t{k}{sfx}")
            if s.loss == "half-se":
                eq[f"E{k}{sfx}"] = 0.5 * square(t - a)
            elif s.loss == "mse":
                eq[f"E{k}{sfx}"] = square(a - t)
            else:  # binary cross-entropy, each log clamped at −100 as nn.BCELoss does
                eq[f"E{k}{sfx}"] = -(t * maximum(ln(a), LOG_FLOOR)
                                     + (1 - t) * maximum(ln(1 - a), LOG_FLOOR))
            terms.append(Var(f"E{k}{sfx}"))
    summed = total(terms)
    if s.loss == "half-se":
        eq["E_total"] = summed
    elif s.loss == "mse" or s.output_activation != "softmax":
        eq["E_total"] = summed / Num(float(n_out * n_ex))
    else:
        eq["E_total"] = summed / Num(float(n_ex))


def _output_deltas(s: NetSpec, outputs: list[str], sfx: str) -> list[Expr]:
    """∂E_total/∂(output sum) for one example."""
    n_ex, n_out = slots(s), len(outputs)
    a = [Var(f"a_{o}{sfx}") for o in outputs]
    t = [Var(f"t{k}{sfx}") for k in range(1, n_out + 1)]
    if s.loss == "ce":
        if s.output_activation == "softmax":  # (a·Σt − t)/N; Σt = 1 for one-hot targets
            sums = {sum(tt) for _, tt in s.examples}
            if sums == {1.0}:
                return [(ak - tk) / Num(float(n_ex)) if n_ex > 1 else ak - tk
                        for ak, tk in zip(a, t, strict=True)]
            t_sum = total(t)
            return [(ak * t_sum - tk) / Num(float(n_ex)) for ak, tk in zip(a, t, strict=True)]
        scale = float(n_out * n_ex)  # BCE with σ: the σ′ cancels
        return [(ak - tk) / Num(scale) if scale != 1 else ak - tk
                for ak, tk in zip(a, t, strict=True)]
    # ∂E/∂a: half-se a − t; mse 2(a − t)/(outputs·examples)
    if s.loss == "half-se":
        grad = [ak - tk for ak, tk in zip(a, t, strict=True)]
    else:
        grad = [Num(2.0) / Num(float(n_out * n_ex)) * (ak - tk)
                for ak, tk in zip(a, t, strict=True)]
    if s.output_activation == "softmax":  # δ_k = a_k·(g_k − Σ_j g_j·a_j)
        dot = total([g * aj for g, aj in zip(grad, a, strict=True)])
        return [ak * (g - dot) for ak, g in zip(a, grad, strict=True)]
    outs = [Var(f"{o}{sfx}") for o in outputs]
    return [times(g, slope_factors(s.output_activation, z, ak))
            for g, z, ak in zip(grad, outs, a, strict=True)]


def updates(s: NetSpec) -> dict[str, Expr]:
    """Each parameter's next value from the epoch above (lag 1): p − η·∂E/∂p for plain
    gradient descent, the optimizer's step otherwise (optimizers.update)."""
    return {p: update(s.optimizer, p) for p in parameters(s)}


def hyperparameters(s: NetSpec) -> dict[str, float]:
    """The optimizer's values beside η on a rate sheet (μ, α, β1, β2, ε)."""
    return s.optimizer.hyperparameters


def course_network(s: NetSpec) -> bool:
    """The course's network: 2-2-2, sigmoid, ½-squared error, one example, fixed or no
    biases (any numbers); its Guide is the course's lesson (guide.STEPS)."""
    return (s.layers == DEFAULT_LAYERS and s.activation == s.output_activation == "sigmoid"
            and s.loss == "half-se" and len(s.examples) == 1 and not s.train_biases)


def _given(s: NetSpec) -> dict[str, Array]:
    """The values every row reads that never change: the examples, fixed biases, the
    optimizer's hyperparameters."""
    return {k: np.asarray(v, dtype=np.float64)
            for k, v in {**constants(s), **hyperparameters(s)}.items()}


def traces(s: NetSpec, learning_rates: tuple[float, ...], epochs: int) -> list[dict[str, Array]]:
    """``trace`` for several rates, computed side by side as one array each (a tree walk per
    epoch for all rates): element by element the same operations, so bit for bit ``trace``'s
    values (tests/test_netwriter.py checks it)."""
    n = len(learning_rates)
    eq, upd = equations(s), updates(s)
    given = _given(s)
    given["η"] = np.asarray(learning_rates, dtype=np.float64)
    params = {k: np.full(n, v, dtype=np.float64) for k, v in parameters(s).items()}
    rows: list[dict[str, Array]] = []
    for _ in range(epochs):
        if rows:
            def look(name: str, lag: int, above: dict[str, Array] = rows[-1]) -> Array:
                return above[name] if lag else given[name]

            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                params = {p: np.broadcast_to(np.asarray(upd[p].value(look),
                                                        dtype=np.float64), (n,))
                          for p in upd}
        rows.append(evaluate(eq if rows else equations(s, first=True), {**given, **params},
                             rows[-1] if rows else None))
    names = [*parameters(s), *eq]
    stacked = {q: np.array([np.broadcast_to(r[q], (n,)) for r in rows]) for q in names}
    return [{q: stacked[q][:, k].copy() for q in names} for k in range(n)]


def trace(s: NetSpec, learning_rate: float, epochs: int) -> dict[str, Array]:
    """Full-batch gradient descent: every quantity of every epoch (row 0: initial values)."""
    eq, upd = equations(s), updates(s)
    given = _given(s)
    given["η"] = np.asarray(learning_rate, dtype=np.float64)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in parameters(s).items()}
    rows: list[dict[str, Array]] = []
    for _ in range(epochs):
        if rows:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                params = {p: np.asarray(upd[p].value(lambda n, lag: rows[-1][n] if lag
                                                     else given[n]), dtype=np.float64)
                          for p in upd}
        rows.append(evaluate(eq if rows else equations(s, first=True), {**given, **params},
                             rows[-1] if rows else None))
    names = [*parameters(s), *eq]
    return {n: np.array([float(r[n]) for r in rows]) for n in names}
