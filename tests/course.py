"""The course's 2-2-2 network through the engine, in the course's terms (a spec.Network)."""

from __future__ import annotations

from workbook_builder.network import topology
from workbook_builder.network.netrun import course_spec
from workbook_builder.network.reference import Trace
from workbook_builder.network.spec import Network
from workbook_builder.sheet.pages import first_epoch_below

__all__ = ["first_epoch_below", "trace", "traces"]


def trace(network: Network, learning_rate: float, epochs: int) -> Trace:
    """The engine's trace of the course's network: what the builder caches."""
    return topology.trace(course_spec(network), learning_rate, epochs)


def traces(network: Network, learning_rates: tuple[float, ...], epochs: int) -> list[Trace]:
    """``trace`` of several rates, side by side, as the builder computes them."""
    return topology.traces(course_spec(network), learning_rates, epochs)
