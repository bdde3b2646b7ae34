"""The engine on the course's 2-2-2 network (the values the builder caches) against PyTorch
autograd, finite differences and a published example; the CPU-independent exp; the 2-2-2
error-scale bound."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest
import torch

from tests.engines import assert_matches
from workbook_builder.network import topology
from workbook_builder.network.equations import FUNCTIONS, Var
from workbook_builder.network.netrun import course_spec
from workbook_builder.network.reference import (
    GRADIENTS,
    QUANTITIES,
    WEIGHTS,
    Trace,
    error_scale,
)
from workbook_builder.network.spec import Network
from workbook_builder.network.topology import trace as engine_trace


def sigmoid(x: float) -> float:
    """The engine's σ (the tree the builder writes, 1/(1+EXP(MIN(709,-x)))), evaluated."""
    tree = topology.activate("sigmoid", Var("x"))
    return float(tree.value(lambda name, lag: np.asarray(x, dtype=np.float64)))


def exp(x: float) -> float:
    """The engine's EXP (what every cached e^x comes from)."""
    return float(FUNCTIONS["EXP"](np.asarray(x)))


def trace(network: Network, lr: float, epochs: int) -> Trace:
    """The engine's trace of the course's network: what the builder writes."""
    return engine_trace(course_spec(network), lr, epochs)


def step(network: Network, w: np.ndarray) -> Trace:
    """Every quantity at weights ``w``: epoch 0 of the network that starts there."""
    start = Network(network.inputs, network.targets, tuple(float(v) for v in w),
                    network.biases)
    return {q: v[0] for q, v in trace(start, 1.0, 1).items()}


def random_network(seed: int, biases: bool) -> Network:
    rng = np.random.default_rng(seed)
    return Network(
        inputs=tuple(rng.uniform(-2, 2, 2)),
        targets=tuple(rng.uniform(0.01, 0.99, 2)),
        weights=tuple(rng.uniform(-3, 3, 8)),
        biases=tuple(rng.uniform(-1, 1, 2)) if biases else None,
    )


def torch_loss(network: Network, w: torch.Tensor) -> torch.Tensor:
    """E_total written independently, straight from the network's definition."""
    x = torch.tensor(network.inputs, dtype=torch.float64)
    t = torch.tensor(network.targets, dtype=torch.float64)
    b1, b2 = network.biases or (0.0, 0.0)
    hidden = torch.sigmoid(w[:4].reshape(2, 2) @ x + b1)
    out = torch.sigmoid(w[4:].reshape(2, 2) @ hidden + b2)
    return 0.5 * ((t - out) ** 2).sum()


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("seed", range(10))
def test_gradients_match_torch_autograd(seed: int, biases: bool) -> None:
    net = random_network(seed, biases)
    w = torch.tensor(net.weights, dtype=torch.float64, requires_grad=True)
    loss = torch_loss(net, w)
    loss.backward()
    assert w.grad is not None
    ours = trace(net, 1.0, 1)  # epoch 0 = the initial weights
    scale = error_scale(ours, net, 1.0)
    assert_matches(ours["E_total"], [loss.item()], scale["E_total"], "E_total")
    assert_matches([ours[g][0] for g in GRADIENTS], w.grad.numpy(),
                   [scale[g][0] for g in GRADIENTS], "gradients")


@pytest.mark.parametrize("biases", [False, True])
def test_trace_matches_torch_sgd(biases: bool) -> None:
    net, lr, epochs = random_network(99, biases), 0.7, 30
    w = torch.tensor(net.weights, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr)
    ours = trace(net, lr, epochs)
    scale = error_scale(ours, net, lr)
    for epoch in range(epochs):
        assert_matches([ours[k][epoch] for k in WEIGHTS], w.detach().numpy(),
                       [scale[k][epoch] for k in WEIGHTS], f"weights at epoch {epoch}")
        opt.zero_grad()
        loss = torch_loss(net, w)
        assert_matches(ours["E_total"][epoch], loss.item(), scale["E_total"][epoch],
                       f"E_total at epoch {epoch}")
        loss.backward()
        opt.step()


def test_gradients_match_finite_differences() -> None:
    net = random_network(7, biases=True)
    w0 = np.asarray(net.weights)
    ours = step(net, w0)
    h = 1e-6
    for k, g in enumerate(GRADIENTS):
        up, down = w0.copy(), w0.copy()
        up[k] += h
        down[k] -= h
        numeric = (float(step(net, up)["E_total"]) - float(step(net, down)["E_total"])) / (2 * h)
        assert float(ours[g]) == pytest.approx(numeric, rel=1e-6, abs=1e-10), g


def test_published_worked_example() -> None:
    """Matt Mazur's 'A Step by Step Backpropagation Example' (η = 0.5), his printed digits."""
    net = Network(targets=(0.01, 0.99), biases=(0.35, 0.60))
    t = trace(net, 0.5, 2)
    assert t["a_h1"][0] == pytest.approx(0.593269992, abs=1e-9)
    assert t["a_o1"][0] == pytest.approx(0.75136507, abs=1e-8)
    assert t["E_total"][0] == pytest.approx(0.298371109, abs=1e-9)
    updated = [t[w][1] for w in WEIGHTS]
    published = [0.149780716, 0.19956143, 0.24975114, 0.29950229,
                 0.35891648, 0.408666186, 0.511301270, 0.561370121]
    np.testing.assert_allclose(updated, published, atol=1e-8)


def test_default_error_falls_for_every_default_rate() -> None:
    for lr in (0.1, 0.2, 0.5, 0.8, 1.0, 2.0):
        e = trace(Network(), lr, 100)["E_total"]
        assert np.all(np.diff(e) < 0), lr


@pytest.mark.parametrize("x", [-1e6, -800.0, -50.0, 0.0, 50.0, 800.0, 1e6])
def test_sigmoid_never_overflows(x: float) -> None:
    with np.errstate(over="raise"):
        value = sigmoid(x)
    expected = float(torch.sigmoid(torch.tensor(x, dtype=torch.float64)))
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_trace_holds_every_quantity() -> None:
    t = trace(Network(), 0.5, 5)
    assert set(t) == set(QUANTITIES)
    assert all(v.shape == (5,) and v.dtype == np.float64 for v in t.values())


@pytest.mark.parametrize("seed", range(3))
def test_exp_is_correctly_rounded(seed: int) -> None:
    """exp against e^x to 80 digits, rounded once: the CPU-independent values the file caches."""
    rng = np.random.default_rng(seed)
    xs = [*rng.uniform(-30, 30, 2000), *rng.uniform(-709, 709, 500), 0.0, -0.0, 709.0, 1e-300]
    precise = decimal.Context(prec=80)
    for x in map(float, xs):
        assert exp(x) == float(precise.exp(decimal.Decimal(x))), x


def test_exp_is_not_the_platform_exp_by_accident() -> None:
    """math.exp (libm) is off by one ulp in some places; exp is not, so the test above has
    teeth: among these arguments libm must differ somewhere from the correctly rounded value."""
    xs = np.random.default_rng(0).uniform(-30, 30, 20000)
    precise = decimal.Context(prec=80)
    assert any(math.exp(x) != float(precise.exp(decimal.Decimal(x))) for x in map(float, xs))


def test_error_scale_covers_cancellation_but_not_a_wrong_formula() -> None:
    """Near the target E1 is tiny and its scale is not; a wrong formula is far outside it."""
    net = Network()
    tr = trace(net, 2.0, 100)
    scale = error_scale(tr, net, 2.0)
    for q in QUANTITIES:
        assert np.all(scale[q] >= np.abs(tr[q]) * (1 - 1e-15)), q  # never tighter than relative
    assert tr["E1"][-1] < 1e-7 and scale["E1"][-1] > 1e3 * tr["E1"][-1]  # cancellation seen
    # the class template's mistake: a_h1 where a_h2 belongs in ∂E/∂w3 (via δ_h2)
    wrong = (tr["δ_o1"] * tr["w6"] + tr["δ_o2"] * tr["w8"]) * tr["a_h1"] * (1 - tr["a_h1"]) \
        * net.inputs[0]
    with pytest.raises(AssertionError, match="∂E/∂w3"):
        assert_matches(wrong, tr["∂E/∂w3"], scale["∂E/∂w3"], "∂E/∂w3")
