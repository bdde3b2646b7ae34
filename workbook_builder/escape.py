"""Text safe to print and to open in a spreadsheet: controls and undecodable bytes shown escaped.

A file or sheet name is the student's text: it may hold a terminal escape sequence, a newline,
bytes that are not UTF-8 (os.fsdecode keeps them as lone surrogates, which no UTF-8 stream can
write), or start like a formula (``=HYPERLINK(…)``), which a spreadsheet that opens the class
table would run. ``printable`` shows every such character as a backslash escape; ``cell``
also defuses a formula-like start with a ``'``, as OWASP's CSV-injection guidance says.
"""

from __future__ import annotations

import re
from typing import Any

#: what a spreadsheet reads as the start of a formula (OWASP: CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 controls, DEL, C1 controls (a lone 0x9b is a terminal's CSI), the bidirectional overrides
# and isolates (they reorder what a name shows), and lone surrogates (undecodable bytes)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character, bidirectional override and undecodable byte
    written as a backslash escape (``\\x1b``, ``\\n``, ``\\xfc``); other text unchanged."""
    return _UNSAFE.sub(_escape, text)


def cell(text: str) -> str:
    """``printable(text)``, with a ``'`` before a start that a spreadsheet reads as a formula."""
    safe = printable(text)
    return "'" + safe if safe.startswith(FORMULA_START) else safe


def printable_json(value: Any) -> Any:
    """Every string in a JSON-like value (keys included) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_json(k): printable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_json(v) for v in value]
    return value
