"""Run untrusted work in a child process with a hard deadline and a memory cap.

The parent never raises anything into the child's Python code: it waits, and past the deadline
it kills the child's whole process group (SIGKILL). The child caps its own address space
(RLIMIT_AS) and CPU time (RLIMIT_CPU, a backstop should the parent die) before it imports
anything that reads the file. All its files, temporary ones included (TMPDIR), live in a folder
the parent owns and removes on every exit path, so a killed child leaves nothing behind; should
the parent itself die (SIGKILL, a closed terminal), the child sees its end of a pipe close,
removes that folder and kills its own group.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: the child's exit statuses
OK, REFUSED, OUT_OF_MEMORY, CRASHED, NO_ANSWER = 0, 2, 3, 4, 5
RESPONSE = "response.json"
#: the most seconds a limit may be (a day: far above any check; bounds RLIMIT_CPU)
MAX_SECONDS = 86_400


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

    Every way the child can end without a whole answer (killed, crashed, an empty or garbled
    response: a full disk, the memory cap reached while writing it) raises LimitError: the
    caller never parses half an answer. Whatever the child started dies with it: its process
    group is killed once it has exited, and should this process die first, the child notices
    (its end of a pipe closes), removes ``folder`` and kills its group.

    Args:
        function: ``"package.module:function"``; its arguments and result must be JSON.
        kwargs: the arguments.
        timeout: wall-clock seconds before the child is killed.
        max_memory_mb: the child's address-space cap.
        folder: the child's working and temporary folder (the caller removes it).
        started: told the child process as soon as it runs (to stop it from elsewhere).

    Raises:
        LimitError: the deadline or the memory cap was reached, or the child failed.
        RefusedError: the function raised an exception it declares as "refused" (a message
            for the user), carried over with its text.
    """
    request, response = folder / "request.json", folder / RESPONSE
    lifeline, keep = os.pipe()  # the child reads EOF from `lifeline` when this process is gone
    try:
        request.write_text(json.dumps({"function": function, "kwargs": kwargs,
                                       "max_memory_mb": max_memory_mb, "cpu_seconds": timeout,
                                       "lifeline": lifeline}))
        env = {**os.environ, "TMPDIR": str(folder), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen([sys.executable, "-m", "workbook_builder.isolation",
                                 str(request)], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                pass_fds=(lifeline,),
                                start_new_session=True)  # own group: killed as one, no Ctrl-C
    except BaseException:
        os.close(keep)
        raise
    finally:
        os.close(lifeline)
    try:
        if started is not None:
            started(proc)
        exited = _wait_unreaped(proc, timeout)
    finally:
        # the child is still running or an unreaped zombie here, so its group id cannot have
        # been reused: kill the group (what it started: LibreOffice) before reaping it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        status = proc.wait()
        os.close(keep)
    if not exited:
        raise _time_limit(timeout)
    return _outcome(status, _answer(response), timeout, max_memory_mb)


def _time_limit(timeout: float) -> LimitError:
    return LimitError(f"gave up after {timeout:g} s (the time limit): the workbook is too "
                      "large or too slow to recompute; raise --timeout or check a smaller copy")


def _outcome(status: int, answer: dict[str, Any], timeout: float, max_memory_mb: int) -> Any:
    """The result of a child (or a worker's task) that ended with ``status`` and ``answer``.

    Raises:
        LimitError, RefusedError: as run_limited.
    """
    if status == OK and "result" in answer:
        return answer["result"]
    if status == REFUSED and isinstance(answer.get("error"), str):
        raise RefusedError(answer["error"])
    if status == OUT_OF_MEMORY or status in (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
        raise LimitError(f"needed more than {max_memory_mb} MB (the memory limit) and was "
                         "stopped; raise --max-memory or check a smaller copy")
    if status == -signal.SIGXCPU:
        raise LimitError(f"used more than {timeout:g} s of CPU time (the time limit); raise "
                         "--timeout or check a smaller copy")
    if status == NO_ANSWER or (status == OK and not answer):
        raise LimitError("the checker could not write its answer (is the temporary folder "
                         f"{tempfile.gettempdir()} full?)")
    raise LimitError(f"the checker failed (exit status {status}): "
                     + str(answer.get("error", "no answer")).replace("\n", " "))


def _wait_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` s for the child to exit, leaving it a zombie (not reaped, so its
    process group id stays its own); False when the time ran out."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            return True
        if info is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)


def _answer(response: Path) -> dict[str, Any]:
    """The child's answer, or {} when there is none or it is not a whole JSON object."""
    try:
        answer = json.loads(response.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, empty, truncated, not UTF-8, not JSON
        return {}
    return answer if isinstance(answer, dict) else {}


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


def _cap(kind: int, soft: int, hard: int | None = None) -> None:
    """Set a limit, each value kept within what setrlimit takes and below the hard limit this
    process already has (lowering a limit is always allowed; raising it is not)."""
    _, ceiling = resource.getrlimit(kind)

    def fit(value: int) -> int:
        value = max(0, min(value, 2**62))  # far below RLIM_INFINITY on every platform
        return value if ceiling == resource.RLIM_INFINITY else min(value, ceiling)

    resource.setrlimit(kind, (fit(soft), fit(soft if hard is None else hard)))


#: run by a fresh interpreter in its own session when the parent has gone: wait (at most 5 s)
#: until the checker's group has died, then remove the checker's folder
_CLEANER = """
import os, shutil, sys, time
group, folder = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        os.killpg(group, 0)
    except OSError:
        break
    time.sleep(0.05)
shutil.rmtree(folder, ignore_errors=True)
"""


def _watch_parent(lifeline: int, folder: Path) -> None:
    """Block until the parent's end of the pipe closes (the parent has exited, however: even
    SIGKILL); then remove ``folder`` (by a cleaner outside this group, so that nothing this
    group writes can outlive it) and kill this process group, this process included."""
    try:
        while os.read(lifeline, 64):
            pass
    except OSError:
        pass
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.Popen([sys.executable, "-c", _CLEANER, str(os.getpgid(0)), str(folder)],
                         cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    os.killpg(0, signal.SIGKILL)


def _respond(out: Path, answer: dict[str, Any], status: int) -> int:
    """Write the answer whole or not at all, and return ``status``; or the status saying why
    it could not be written (the memory cap, a full disk)."""
    part = out.with_name(out.name + ".part")
    try:
        part.write_text(json.dumps(answer), encoding="utf-8")
        os.replace(part, out)
    except Exception as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        return OUT_OF_MEMORY if out_of_memory(exc) else NO_ANSWER
    return status


def _call(request: dict[str, Any], out: Path, watch: _MemoryWatch) -> int:
    """Call the request's function, write its answer to ``out``, return the exit status."""
    module, name = request["function"].split(":")
    refused: tuple[type[BaseException], ...] = ()
    try:
        mod = importlib.import_module(module)
        refused = tuple(getattr(mod, "REFUSED", ()))
        result = getattr(mod, name)(**request["kwargs"])
        if watch.hit:
            return OUT_OF_MEMORY
        return _respond(out, {"result": result}, OK)
    except Exception as exc:
        if out_of_memory(exc):
            return OUT_OF_MEMORY
        if isinstance(exc, refused):
            return _respond(out, {"error": str(exc)}, REFUSED)
        return _respond(out, {"error": f"{type(exc).__name__}: {exc}"}, CRASHED)


def _child(request_path: str) -> int:
    """Child side: watch the parent, set the limits, call the function, write the answer."""
    request = json.loads(Path(request_path).read_text())
    out = Path(request_path).with_name(RESPONSE)
    if request.get("lifeline") is not None:
        threading.Thread(target=_watch_parent, args=(int(request["lifeline"]), out.parent),
                         daemon=True).start()
    _cap(resource.RLIMIT_AS, int(request["max_memory_mb"]) * 1024 * 1024)
    cpu = int(min(float(request["cpu_seconds"]), MAX_SECONDS)) + 5
    _cap(resource.RLIMIT_CPU, cpu, cpu + 5)  # SIGXCPU, then SIGKILL
    watch = _MemoryWatch()
    logging.getLogger().addHandler(watch)
    return _call(request, out, watch)


#: a worker serves at most this many tasks, then a fresh one takes its place (memory that a
#: library keeps between calls, caches, fragmentation: bounded)
RECYCLE_AFTER = 25


def _serve(setup: dict[str, Any]) -> int:
    """A pool worker: limits set once, then one task per line read from stdin (the request,
    as run_limited's, with the task's own ``folder``), each answered in its folder and then
    by its exit status written to the ``answers`` pipe. A task that ends in any fault (memory,
    a crash, no answer) ends the worker too: the pool starts a fresh one."""
    pool_folder = Path(setup["folder"])
    threading.Thread(target=_watch_parent, args=(int(setup["lifeline"]), pool_folder),
                     daemon=True).start()
    _cap(resource.RLIMIT_AS, int(setup["max_memory_mb"]) * 1024 * 1024)
    per_task = int(min(float(setup["cpu_seconds"]), MAX_SECONDS)) + 5
    hard = per_task * (RECYCLE_AFTER + 1) + 5  # each task's soft limit lies below it
    _cap(resource.RLIMIT_CPU, hard, hard)
    answers = int(setup["answers"])
    watch = _MemoryWatch()
    logging.getLogger().addHandler(watch)
    for line in sys.stdin:
        request = json.loads(line)
        task = Path(request["folder"])
        os.chdir(task)  # the task's files, temporary ones included, live in its folder
        os.environ["TMPDIR"] = tempfile.tempdir = str(task)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _cap(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime) + per_task, hard)
        watch.hit = False
        status = _call(request, task / RESPONSE, watch)
        os.chdir(pool_folder)
        os.write(answers, f"{status}\n".encode())
        if status not in (OK, REFUSED):
            return status
    return OK


class _Worker:
    """One serving child, in its own process group, and the pipes to it."""

    def __init__(self, folder: Path, timeout: float, max_memory_mb: int) -> None:
        lifeline, self.keep = os.pipe()  # EOF in the worker when this process is gone
        self.answers, answers = os.pipe()
        setup = {"folder": str(folder), "lifeline": lifeline, "answers": answers,
                 "max_memory_mb": max_memory_mb, "cpu_seconds": timeout}
        env = {**os.environ, "TMPDIR": str(folder), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workbook_builder.isolation", "--serve",
                 json.dumps(setup)], cwd=folder, env=env, stdin=subprocess.PIPE,
                pass_fds=(lifeline, answers), start_new_session=True)
        except BaseException:
            os.close(self.keep)
            os.close(self.answers)
            raise
        finally:
            os.close(lifeline)
            os.close(answers)
        self.tasks = 0
        self.killed = False  # by end(killed=True): the time ran out
        self.idle_death = False  # it had died before the task reached it
        self.status = 0  # its exit status, once ended

    def ask(self, request: dict[str, Any], timeout: float) -> int | None:
        """Send one task; its status, or None when the worker died or the time ran out (the
        worker is then ended: ``self.proc.returncode`` says how it died, None if killed)."""
        assert self.proc.stdin is not None
        self.tasks += 1
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # it died while idle
            self.idle_death = True
            self.end()
            return None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                self.end(killed=True)
                return None
            data = os.read(self.answers, 64)
            if not data:  # the worker exited
                self.end()
                return None
            line += data
        return int(line)

    def end(self, killed: bool = False) -> None:
        """Kill the worker's group (before reaping it: its group id is still its own)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        status = self.proc.wait()
        self.killed, self.status = killed, status
        with contextlib.suppress(OSError):
            os.close(self.keep)
        with contextlib.suppress(OSError):
            os.close(self.answers)
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()


class WorkerPool:
    """Long-lived limited children for many tasks (a class): the same deadline and memory cap
    as run_limited for each task, the interpreter started and the libraries imported once per
    worker, not once per file. A worker that reaches a limit or fails is ended and the next
    task gets a fresh one; each serves at most RECYCLE_AFTER tasks. Each task has its own
    folder (``task_folder``), removed after it; the pool's folder, removed at ``close``, holds
    them all, and a worker whose parent dies removes it and kills its group."""

    def __init__(self, timeout: float, max_memory_mb: int,
                 started: Callable[[subprocess.Popen[bytes]], None] | None = None) -> None:
        self.timeout, self.max_memory_mb, self.started = timeout, max_memory_mb, started
        self.folder = Path(tempfile.mkdtemp(prefix="workbook-builder-check-"))
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for worker in self._all:
                if worker.proc.returncode is None:
                    worker.end()
            self._all.clear()
            self._idle.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextlib.contextmanager
    def task_folder(self) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp(prefix="task-", dir=self.folder))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.folder, self.timeout, self.max_memory_mb)
        with self._lock:
            self._all.append(worker)
        if self.started is not None:
            self.started(worker.proc)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        if worker.tasks >= RECYCLE_AFTER:
            worker.end()
        with self._lock:
            if worker.proc.returncode is None:
                self._idle.append(worker)
            else:
                self._all.remove(worker)

    def run(self, function: str, kwargs: dict[str, Any], folder: Path) -> Any:
        """As run_limited, by a worker, in ``folder`` (from task_folder)."""
        worker = self._take()
        try:
            request = {"function": function, "kwargs": kwargs, "folder": str(folder)}
            status = worker.ask(request, self.timeout)
            if status is None and worker.idle_death:  # never saw the task: a fresh one does
                self._give_back(worker)
                worker = self._take()
                status = worker.ask(request, self.timeout)
            if status is None:
                if worker.killed:
                    raise _time_limit(self.timeout)
                status = worker.status
            elif status not in (OK, REFUSED):
                worker.end()  # it exits after a fault: reap it
            return _outcome(status, _answer(folder / RESPONSE), self.timeout,
                            self.max_memory_mb)
        finally:
            self._give_back(worker)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        raise SystemExit(_serve(json.loads(sys.argv[2])))
    raise SystemExit(_child(sys.argv[1]))
