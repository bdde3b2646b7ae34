"""Checkers that fail in each way a real one can: run in the child process in place of
``checker.audit_json`` (the tests point ``checker.ENTRY`` here), never imported by the code."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

RESPONSE = Path("response.json")  # the child runs in its own folder


def empty(**_: Any) -> None:
    """The answer file created, nothing written: a full disk, or killed while writing."""
    RESPONSE.write_text("")
    os._exit(0)


def garbled(**_: Any) -> None:
    """Half an answer."""
    RESPONSE.write_text('{"result": [{"sheet": "Backprop", "colu')
    os._exit(0)


def not_an_object(**_: Any) -> None:
    RESPONSE.write_text('["result"]')
    os._exit(0)


def wrong_shape(**_: Any) -> list[str]:
    """A whole answer, but not reports."""
    return ["all right"]


def missing_fields(**_: Any) -> list[dict[str, Any]]:
    return [{"sheet": "Backprop", "columns": []}]


def silent_exit(**_: Any) -> None:
    """Dies with a status of its own and no answer."""
    os._exit(1)


def disk_full(**_: Any) -> list[str]:
    """Writing the answer fails (a file-size limit stands in for a full temporary folder)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    return ["x" * 10_000]


def memory_cap_while_answering(**_: Any) -> list[str]:
    """The answer's JSON is larger than the memory cap (512 MB): it fails while written."""
    text = "x" * 100_000_000
    return [text] * 20
