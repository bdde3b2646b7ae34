"""What a check may take and how it fails: the limits (time, memory, the file's size) and
AuditError. Imports nothing heavy, so the parent process that only waits for its limited
child (cli, classroom) never loads openpyxl or NumPy for it."""

from __future__ import annotations

DEFAULT_TIMEOUT = 300  # seconds for the whole check (the child process is killed then)
DEFAULT_MEMORY_MB = 2048  # the child process's address-space cap
MIN_MEMORY_MB = 512
MAX_MEMORY_MB = 1_048_576  # a terabyte: far above any machine this runs on
MAX_BYTES = 20_000_000  # the file as sent


class AuditError(Exception):
    """The file cannot be checked at all; the message says what was wrong and what to do."""
