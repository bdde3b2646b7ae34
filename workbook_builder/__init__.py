"""Backpropagation of a 2-2-2 sigmoid network as a live-formula Excel workbook."""

from __future__ import annotations

__version__ = "0.1.0"
