"""Any small network as equations (topology.py, equations.py): the checker's 2-2-2 rules give
the engine's values bit for bit, every configuration against PyTorch autograd, and the Excel text
against the formulas engine."""

from __future__ import annotations

import decimal
import itertools
import zlib

import numpy as np
import pytest
import torch

from workbook_builder.check.netmodel import course
from workbook_builder.network import equations, reference, topology
from workbook_builder.network.netrun import course_spec
from workbook_builder.network.spec import Network, SpecError
from workbook_builder.network.topology import NetSpec

OUTPUT_LOSSES = [("sigmoid", "half-se"), ("sigmoid", "mse"), ("sigmoid", "ce"),
                 ("linear", "half-se"), ("linear", "mse"),
                 ("softmax", "half-se"), ("softmax", "mse"), ("softmax", "ce")]
EPOCHS = 20


# --- the default network: the checker's 2-2-2 model computes the engine's values ---------------
@pytest.mark.parametrize("network", [
    Network(), Network(biases=(0.35, 0.6)),
    Network(inputs=(1.0, -2.0), targets=(0.9, 0.1), weights=(-3, 2, 0.5, -1, 4, -2, 1, 3)),
], ids=["default", "biases", "other numbers"])
@pytest.mark.parametrize("lr", [0.5, 2.0])
def test_the_checkers_2_2_2_rules_compute_the_engines_values(network: Network, lr: float) -> None:
    """The builder writes the engine's trees (its formula text and values are proved by
    tests/test_writer.py's byte comparison with generated/); ``check``'s course model (its
    rules read a sheet's cells, b1 and b2 as 0 where the sheet has none), applied to the
    engine's trace, gives it back bit for bit, for every quantity (a weight from the row
    above: from epoch 1)."""
    epochs = 60
    spec = course_spec(network)
    tr = topology.trace(spec, lr, epochs)
    data = {**tr, "η": np.full(epochs, lr)}
    data.update({k: np.full(epochs, v) for k, v in topology.constants(spec).items()})
    model = course()  # without biases, the data has no b1, b2: read as 0
    assert ("b1" in data) == (network.biases is not None)
    for q in reference.QUANTITIES:
        got = np.asarray(model.rules[q](model.values(data, epochs)))
        first = 1 if q in reference.WEIGHTS else 0
        assert np.array_equal(got[first:], tr[q][first:]), q


def test_mazur_worked_example() -> None:
    """Matt Mazur's step-by-step example: fixed biases 0.35, 0.60; targets 0.01, 0.99."""
    spec = NetSpec(examples=(((0.05, 0.10), (0.01, 0.99)),), biases=(0.35, 0.60))
    tr = topology.trace(spec, 0.5, 2)
    assert round(float(tr["E_total"][0]), 9) == 0.298371109
    assert round(float(tr["w5"][1]), 8) == 0.35891648  # his updated w5


# --- PyTorch autograd, float64, the same full-batch descent --------------------------------
def torch_descent(spec: NetSpec, lr: float, epochs: int) -> dict[str, np.ndarray]:
    """An independent implementation: nn-style layers, PyTorch's losses, autograd; the step
    is torch.optim's for the spec's optimizer (SGD, momentum, Nesterov, RMSprop, Adam), or
    p −= η·g by hand for plain descent."""
    x = torch.tensor([e[0] for e in spec.examples], dtype=torch.float64)
    targets = torch.tensor([e[1] for e in spec.examples], dtype=torch.float64)
    flat = torch.tensor(spec.initial_weights, dtype=torch.float64)
    mats, k = [], 0
    for n_in, n_out in itertools.pairwise(spec.layers):
        mats.append(flat[k:k + n_in * n_out].reshape(n_out, n_in).clone().requires_grad_())
        k += n_in * n_out
    layers = len(spec.layers) - 1
    start = spec.biases if spec.biases is not None else (0.0,) * layers
    biases = [torch.full((n,), float(b), dtype=torch.float64, requires_grad=spec.train_biases)
              for n, b in zip(spec.layers[1:], start, strict=True)]
    hidden = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
              "leaky-relu": torch.nn.functional.leaky_relu, "linear": lambda z: z}
    out: dict[str, list[float]] = {"E_total": []}
    step = torch_optimizer(spec, mats + (biases if spec.train_biases else []), lr)
    for k in range(1, spec.n_weights + 1):
        out[f"w{k}"], out[f"∂E/∂w{k}"] = [], []
    n_ex = len(spec.examples)
    size = spec.batch_size or n_ex
    for row in range(epochs):
        # mini-batches: the row-th step takes the next `size` examples in order, cycling (as
        # consecutive batches of a DataLoader over the data set repeated without shuffling)
        pick = torch.tensor([(row * size + k) % n_ex for k in range(size)])
        a, t = x[pick], targets[pick]
        for j, (m, b) in enumerate(zip(mats, biases, strict=True)):
            z = a @ m.T + (b if spec.biases is not None or spec.train_biases else 0)
            if j < layers - 1:
                a = hidden[spec.activation](z)
            elif spec.output_activation == "sigmoid":
                a = torch.sigmoid(z)
            elif spec.output_activation == "softmax":
                a = torch.softmax(z, dim=1)
            else:
                a = z
        if spec.loss == "half-se":
            loss = 0.5 * ((a - t) ** 2).sum()
        elif spec.loss == "mse":
            loss = torch.nn.functional.mse_loss(a, t)
        elif spec.output_activation == "softmax":
            loss = torch.nn.functional.cross_entropy(z, t)
        else:
            loss = torch.nn.functional.binary_cross_entropy(a, t)
        params = mats + (biases if spec.train_biases else [])
        grads = torch.autograd.grad(loss, params)
        w = torch.cat([m.detach().reshape(-1) for m in mats])
        g = torch.cat([gm.reshape(-1) for gm in grads[:len(mats)]])
        out["E_total"].append(float(loss.detach()))
        for k in range(spec.n_weights):
            out[f"w{k + 1}"].append(float(w[k]))
            out[f"∂E/∂w{k + 1}"].append(float(g[k]))
        if step is None:
            with torch.no_grad():
                for p, gp in zip(params, grads, strict=True):
                    p -= lr * gp
        else:
            for p, gp in zip(params, grads, strict=True):
                p.grad = gp
            step.step()
    return {k: np.array(v) for k, v in out.items()}


def torch_optimizer(spec: NetSpec, params: list[torch.Tensor], lr: float
                    ) -> torch.optim.Optimizer | None:
    """torch.optim's optimizer of the spec's kind (None: plain descent, done by hand)."""
    o = spec.optimizer
    if o.name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=o.momentum)
    if o.name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=o.momentum, nesterov=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=o.alpha, eps=o.eps)
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=o.betas, eps=o.eps)
    return None


def make_spec(activation: str, output: str, loss: str, biases: str, examples: int,
              hidden: int) -> NetSpec:
    layers = (2, *(3, 2, 3)[:hidden], 2 if output == "softmax" or examples > 1 else 1)
    rng = np.random.default_rng(zlib.crc32(repr((activation, output, loss, biases, examples,
                                                 hidden)).encode()))
    data = []
    for _ in range(examples):
        x = tuple(round(float(v), 2) for v in rng.uniform(-1, 1, layers[0]))
        if output == "softmax":
            p = rng.dirichlet(np.ones(layers[-1])) if loss != "ce" or examples > 1 else \
                np.eye(layers[-1])[rng.integers(layers[-1])]
            t = tuple(float(v) for v in p)
        else:
            t = tuple(round(float(v), 2) for v in rng.uniform(0.05, 0.95, layers[-1]))
        data.append((x, t))
    bias_values = None if biases == "none" else tuple(round(0.1 * k, 1) for k in
                                                       range(1, len(layers)))
    return NetSpec(layers=layers, activation=activation, output_activation=output, loss=loss,
                   examples=tuple(data), biases=bias_values,
                   train_biases=biases == "trainable", weights=None, init_seed=examples + hidden)


def deviation(spec: NetSpec, lr: float = 0.2) -> float:
    """The largest |ours − PyTorch| over every epoch of E_total, the weights and their
    gradients, in units of that quantity's largest magnitude over the run."""
    ours, theirs = topology.trace(spec, lr, EPOCHS), torch_descent(spec, lr, EPOCHS)
    worst = 0.0
    for q, expected in theirs.items():
        scale = max(float(np.abs(expected).max()), 1e-300)
        worst = max(worst, float(np.abs(ours[q] - expected).max()) / scale)
    return worst


#: η = 0.2 in the matrix: with η = 0.5 two of the 720 configurations (a summed ½-squared error
#: over 4 examples into linear outputs) diverge to 1e22, where any two engines part.
#: Why this bound: the sheet's order of operations differs from PyTorch's (its fused
#: sigmoid, log-softmax and BCE kernels, its mean reductions, σ′ cancelled in closed form
#: for softmax+CE and σ+BCE), so the two round differently, each by a few ulps per operation.
#: Through 20 epochs of descent those differences grow little; measured worst across the
#: matrix (720 configurations): 1.5e-13 of a quantity's scale. Its scale, not its value: near
#: the target E and the gradients lose relative digits to cancellation (½(t − a)²).
TOLERANCE = 1e-11

CONFIGS = list(itertools.product(topology.HIDDEN_ACTIVATIONS, OUTPUT_LOSSES))


@pytest.mark.parametrize(("activation", "output_loss"), CONFIGS,
                         ids=[f"{a}-{o}-{loss}" for a, (o, loss) in CONFIGS])
def test_every_activation_and_loss_against_pytorch(activation: str,
                                                   output_loss: tuple[str, str]) -> None:
    """Each hidden activation with each output and loss, the other axes rotated through
    (biases none/fixed/trainable, 1 or 4 examples, 1-3 hidden layers): every case of each
    axis is met several times; test_the_whole_matrix_against_pytorch runs every combination."""
    k = CONFIGS.index((activation, output_loss))
    spec = make_spec(activation, *output_loss, ("none", "fixed", "trainable")[k % 3],
                     (1, 4)[k // 3 % 2], 1 + k % 3)
    assert deviation(spec) < TOLERANCE


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_whole_matrix_against_pytorch() -> None:
    worst: dict[str, float] = {}
    for activation, (output, loss), biases, examples, hidden in itertools.product(
            topology.HIDDEN_ACTIVATIONS, OUTPUT_LOSSES, ("none", "fixed", "trainable"),
            (1, 4), (1, 2, 3)):
        spec = make_spec(activation, output, loss, biases, examples, hidden)
        worst[f"{activation} {output} {loss} {biases} x{examples} h{hidden}"] = \
            deviation(spec)
    bad = {k: v for k, v in worst.items() if v >= TOLERANCE}
    assert not bad, bad


XOR = (((0.0, 0.0), (0.0,)), ((0.0, 1.0), (1.0,)), ((1.0, 0.0), (1.0,)), ((1.0, 1.0), (0.0,)))


def test_xor_is_learned_by_a_2_2_1_tanh_network_with_trainable_biases() -> None:
    """Measured: seeded weights (init seed 1), η = 1: every example on the right side of 0.5
    from epoch 94; E_total 0.502 at epoch 0, 0.00099 at epoch 999. (Init seeds 0 and 2 stall
    at E_total ≈ 0.25, the plateau two hidden units can fall into.)"""
    spec = NetSpec(layers=(2, 2, 1), activation="tanh", examples=XOR, train_biases=True,
                   weights=None, init_seed=1)
    tr = topology.trace(spec, 1.0, 120)
    outputs = np.array([tr[f"a_o1[{k}]"] for k in range(1, 5)])  # example × epoch
    right = np.all(np.round(outputs) == np.array([[0], [1], [1], [0]]), axis=0)
    assert not right[93] and right[94:].all()
    assert tr["E_total"][0] > 0.5 and tr["E_total"][119] < 0.07  # 0.0603 measured


def test_trainable_biases_learn_and_match_pytorch() -> None:
    spec = make_spec("tanh", "sigmoid", "half-se", "trainable", 4, 1)
    tr = topology.trace(spec, 0.5, 5)
    assert tr["b_h1"][4] != tr["b_h1"][0] and tr["b_o1"][4] != tr["b_o1"][0]


# --- the Excel text, computed by the formulas engine ---------------------------------------
@pytest.mark.parametrize("spec", [
    make_spec("tanh", "softmax", "ce", "trainable", 4, 2),
    make_spec("relu", "sigmoid", "ce", "fixed", 4, 1),
    make_spec("leaky-relu", "softmax", "mse", "none", 1, 3),
    make_spec("sigmoid", "linear", "half-se", "trainable", 4, 1),
], ids=["tanh softmax ce", "relu sigmoid bce", "leaky softmax mse", "sigmoid linear"])
def test_each_printed_formula_computes_its_value_in_the_formulas_engine(spec: NetSpec) -> None:
    """Every quantity's Excel text, with its inputs taken from our epoch-3 values, computed by
    the formulas engine: equal to ours within a few ulps (the engine's EXP, LN and TANH are
    libm's, ours are correctly rounded)."""
    import formulas

    tr = topology.trace(spec, 0.5, 4)
    given = {**topology.constants(spec), "η": 0.5}
    eq = {**topology.equations(spec), **topology.updates(spec)}
    for q, expr in eq.items():
        cells: dict[tuple[str, int], str] = {}

        def address(name: str, lag: int, cells: dict[tuple[str, int], str] = cells) -> str:
            return cells.setdefault((name, lag), f"A{len(cells) + 1}")

        text = "=" + expr.excel(address)
        func = formulas.Parser().ast(text)[1].compile()
        values = {}
        for (name, lag), cell in cells.items():
            values[cell] = given[name] if name in given else float(tr[name][3 - lag])
        got = float(func(*(values[k.upper()] for k in func.inputs)))
        ours = float(tr[q][3])
        assert got == pytest.approx(ours, rel=1e-13, abs=1e-300), (q, text)


# --- bounds: one line each ------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"layers": (2, 40, 2)}, "1 to 8 neurons"),
    ({"layers": (2, 2, 2, 2, 2, 2)}, "1 to 3 hidden layers"),
    ({"examples": (((0.1, 0.2), (0.5, 0.5)),) * 17}, "1 to 16 examples"),
    ({"loss": "hinge"}, "--loss 'hinge'"),
    ({"examples": (((0.1,), (0.5, 0.5)),)}, "example 1: 1 inputs"),
    ({"layers": (2, 2, 1), "output_activation": "softmax", "weights": None},
     "softmax needs at least 2 outputs"),
    ({"output_activation": "linear", "loss": "ce"}, "needs sigmoid or softmax"),
    ({"biases": (0.1,)}, "one value per non-input layer"),
    ({"weights": (0.1,) * 7}, "has 8 weights, got 7"),
    ({"activation": "gelu"}, "--activation 'gelu'"),
])
def test_requests_beyond_the_bounds_are_one_line(kwargs: dict[str, object],
                                                 message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(")) as info:
        NetSpec(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_seeded_weights_are_documented_and_repeatable() -> None:
    a = NetSpec(layers=(3, 4, 2), weights=None, init_seed=7,
                examples=(((0.1, 0.2, 0.3), (0.5, 0.5)),))
    assert a.initial_weights == NetSpec(layers=(3, 4, 2), weights=None, init_seed=7,
                                        examples=a.examples).initial_weights
    w = np.array(a.initial_weights)
    assert len(w) == 3 * 4 + 4 * 2 and np.all(w != 0)
    assert np.all(np.abs(w[:12]) <= round(1 / np.sqrt(3), 2) + 1e-12)
    assert np.all(np.round(w, 2) == w)


# --- the same numbers on every CPU ----------------------------------------------------------
@pytest.mark.parametrize(("fn", "exact"), [
    ("TANH", lambda d: (d.exp() - (-d).exp()) / (d.exp() + (-d).exp())),
    ("LN", lambda d: d.ln()),
    ("EXP", lambda d: d.exp()),
])
def test_elementary_functions_are_correctly_rounded(fn: str, exact: object) -> None:
    """Against 80-digit decimal on 3,000 arguments: the same double on every CPU, since the
    correctly rounded value is unique (NumPy's kernels differ in the last bit by CPU)."""
    rng = np.random.default_rng(5)
    xs = rng.uniform(0.001, 20, 3000) if fn == "LN" else rng.uniform(-20, 20, 3000)
    got = equations.FUNCTIONS[fn](xs)
    with decimal.localcontext(decimal.Context(prec=80)):
        want = [float(exact(decimal.Decimal(float(x)))) for x in xs]  # type: ignore[operator]
    assert np.array_equal(got, np.array(want))
