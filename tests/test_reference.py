"""The NumPy reference against PyTorch autograd, finite differences and a published example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbook_builder.reference import GRADIENTS, QUANTITIES, WEIGHTS, sigmoid, step, trace
from workbook_builder.spec import Network


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
    ours = step(net, np.asarray(net.weights))
    assert float(ours["E_total"]) == pytest.approx(loss.item(), rel=1e-13)
    np.testing.assert_allclose([float(ours[g]) for g in GRADIENTS], w.grad.numpy(),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("biases", [False, True])
def test_trace_matches_torch_sgd(biases: bool) -> None:
    net, lr, epochs = random_network(99, biases), 0.7, 30
    w = torch.tensor(net.weights, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr)
    ours = trace(net, lr, epochs)
    for epoch in range(epochs):
        np.testing.assert_allclose([ours[k][epoch] for k in WEIGHTS], w.detach().numpy(),
                                   rtol=1e-11)
        opt.zero_grad()
        loss = torch_loss(net, w)
        assert ours["E_total"][epoch] == pytest.approx(loss.item(), rel=1e-11)
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
        value = float(sigmoid(np.float64(x)))
    expected = float(torch.sigmoid(torch.tensor(x, dtype=torch.float64)))
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_trace_holds_every_quantity() -> None:
    t = trace(Network(), 0.5, 5)
    assert tuple(t) == QUANTITIES
    assert all(v.shape == (5,) and v.dtype == np.float64 for v in t.values())
