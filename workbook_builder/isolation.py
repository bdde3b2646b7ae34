"""Run untrusted work in a child process with a hard deadline and a memory cap.

The parent never raises anything into the child's Python code: it waits, and past the deadline
it kills the child's whole process group (SIGKILL). The child caps its own address space
(RLIMIT_AS) and CPU time (RLIMIT_CPU, a backstop should the parent die) before it imports
anything that reads the file. All its files, temporary ones included (TMPDIR), live in a folder
the parent owns and removes on every exit path, so a killed child leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: the child's exit statuses
OK, REFUSED, OUT_OF_MEMORY, CRASHED = 0, 2, 3, 4


class LimitError(Exception):
    """The child was stopped at a limit or failed; the message says which and what to do."""


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A private temporary folder, removed however the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_limited(function: str, kwargs: dict[str, Any], *, timeout: float, max_memory_mb: int,
                folder: Path, started: Callable[[subprocess.Popen[bytes]], None] | None = None
                ) -> Any:
    """Call ``module:function(**kwargs)`` in a child process and return its JSON result.

    Args:
        function: ``"package.module:function"``; its arguments and result must be JSON.
        kwargs: the arguments.
        timeout: wall-clock seconds before the child is killed.
        max_memory_mb: the child's address-space cap.
        folder: the child's working and temporary folder (the caller removes it).
        started: told the child process as soon as it runs (to stop it from elsewhere).

    Raises:
        LimitError: the deadline or the memory cap was reached, or the child crashed.
        RefusedError: the function raised an exception it declares as "refused" (a message
            for the user), carried over with its text.
    """
    request, response = folder / "request.json", folder / "response.json"
    request.write_text(json.dumps({"function": function, "kwargs": kwargs,
                                   "max_memory_mb": max_memory_mb, "cpu_seconds": timeout}))
    env = {**os.environ, "TMPDIR": str(folder), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "workbook_builder.isolation", str(request)],
                            cwd=folder, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # own group: killed as one, no Ctrl-C
    if started is not None:
        started(proc)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LimitError(f"gave up after {timeout:g} s (the time limit): the workbook is too "
                         "large or too slow to recompute; raise --timeout or check a smaller "
                         "copy") from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    answer = json.loads(response.read_text()) if response.exists() else {}
    if status == OK and "result" in answer:
        return answer["result"]
    if status == REFUSED and "error" in answer:
        raise RefusedError(str(answer["error"]))
    if status == OUT_OF_MEMORY or status in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
        raise LimitError(f"needed more than {max_memory_mb} MB (the memory limit) and was "
                         "stopped; raise --max-memory or check a smaller copy")
    if status == -signal.SIGXCPU:
        raise LimitError(f"used more than {timeout:g} s of CPU time (the time limit); raise "
                         "--timeout or check a smaller copy")
    raise LimitError(f"the checker failed (exit status {status}): "
                     + str(answer.get("error", "no message")))


def out_of_memory(exc: BaseException) -> bool:
    """Is this what hitting RLIMIT_AS looks like? Besides MemoryError, a library that cannot
    map its shared object raises ImportError, and the C library ENOMEM as OSError."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    text = str(exc).lower()
    return isinstance(exc, ImportError | OSError) and (
        "failed to map segment" in text or "cannot allocate memory" in text)


class RefusedError(Exception):
    """The child's own one-line refusal (bad input), carried to the parent."""


class _MemoryWatch(logging.Handler):
    """Notices a MemoryError that a library caught and only logged (the formulas engine's
    dispatcher logs failed cells and carries on): a check that hit the cap has no verdict."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.hit = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            caught = record.exc_info[1] if record.exc_info else None
            self.hit |= isinstance(caught, MemoryError) or "MemoryError" in str(record.msg) \
                or any("MemoryError" in repr(a) for a in (record.args or ()))
        except Exception:  # no memory even for that: count it as hit
            self.hit = True


def _child(request_path: str) -> int:
    """Child side: set the limits, call the function, write the answer."""
    request = json.loads(Path(request_path).read_text())
    out = Path(request_path).with_name("response.json")
    cap = int(request["max_memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = int(request["cpu_seconds"]) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    module, name = request["function"].split(":")
    refused: tuple[type[BaseException], ...] = ()
    watch = _MemoryWatch()
    logging.getLogger().addHandler(watch)
    try:
        mod = importlib.import_module(module)
        refused = tuple(getattr(mod, "REFUSED", ()))
        result = getattr(mod, name)(**request["kwargs"])
        if watch.hit:
            return OUT_OF_MEMORY
        out.write_text(json.dumps({"result": result}))
        return OK
    except Exception as exc:
        if out_of_memory(exc):
            return OUT_OF_MEMORY
        if isinstance(exc, refused):
            out.write_text(json.dumps({"error": str(exc)}))
            return REFUSED
        out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return CRASHED


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1]))
