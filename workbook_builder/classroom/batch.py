"""Check a whole class: many workbooks, each in its own limited child process, several at once.

Only the waiting happens in threads here; every workbook is opened and recomputed in its own
child process (isolation.py), so one broken or hostile file costs one row of the table. Folders
are walked as an LMS download lays them out (a folder per student); each file is named by its
path under the folder given, and a link is never followed out of the folders given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from workbook_builder import isolation
from workbook_builder.check.audit_report import (
    ALL_RIGHT,
    CANNOT_CHECK,
    INCOMPLETE,
    WRONG,
    status,
)
from workbook_builder.check.checker import check_isolated
from workbook_builder.check.limits import AuditError
from workbook_builder.check.verdict import SheetReport
from workbook_builder.classroom.points import Part
from workbook_builder.classroom.roster import Numbers

#: what `check` picks up in a folder (refused ones get their row with the reason)
SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
#: folders an archive tool adds that hold no submission (macOS: __MACOSX; hidden ones too)
SKIPPED_FOLDERS = ("__MACOSX",)
#: a roster student's row when no file of theirs was found (submissions.py): no file's status
NO_SUBMISSION = -1
VERDICT = {ALL_RIGHT: "all right", WRONG: "WRONG", INCOMPLETE: "incomplete",
           CANNOT_CHECK: "cannot check", NO_SUBMISSION: "no submission"}
#: the exit status of a class is its worst file's: cannot check > wrong > incomplete > right
#: (a student with no file is a row, not a file: it leaves the exit status as it is)
SEVERITY = {NO_SUBMISSION: -1, ALL_RIGHT: 0, INCOMPLETE: 1, WRONG: 2, CANNOT_CHECK: 3}


@dataclass(frozen=True)
class Entry:
    """A file found for the class table, or a reason it is not read."""

    path: Path
    name: str  # unique: its path under the folder given (the row's and the annotated copy's)
    problem: str | None = None  # why it is not checked (a link out, a pipe, ...)


@dataclass
class Row:
    """One file's line of the class table."""

    file: str  # the entry's name
    status: int
    seconds: float
    wrong: list[str] = field(default_factory=list)  # "sheet!quantity: diagnosis"
    not_checked: list[str] = field(default_factory=list)
    error: str | None = None  # why it could not be checked
    reports: list[SheetReport] = field(default_factory=list)
    size: int | None = None  # the file's, when it was checked (--resume compares them)
    mtime_ns: int | None = None
    resumed: bool = False  # taken from an earlier run's CSV
    student: str = ""  # the roster id matched (grading.grade)
    score: float | None = None  # points (None: not checked)
    signals: list[str] = field(default_factory=list)  # for the grader: numbers, copies
    feedback: str = ""  # one line for the student (the LMS's feedback column)
    #: what copies.py compares (the first table's remarks.fingerprint), kept in the CSV so
    #: that --resume and merge compare the rows they did not check themselves
    fingerprint: dict[str, str] = field(default_factory=dict)
    shard: str = ""  # "K/N" of the --shard run that checked it

    @property
    def verdict(self) -> str:
        return VERDICT[self.status]


def shard(entries: Sequence[Entry], part: int, parts: int) -> list[Entry]:
    """Part ``part`` (1…``parts``) of a class: every ``parts``-th file in the order of their
    names, from the ``part``-th; the same on every machine that sees the same folder."""
    ordered = sorted(entries, key=lambda e: e.name)
    return ordered[part - 1::parts]


def collect(paths: Sequence[Path]) -> list[Entry]:
    """The files to check: each file given, and the workbooks in each folder given and its
    subfolders (hidden files and folders, Office lock files skipped), named by their path
    under that folder (under the path given, when several are given)."""
    roots = [os.path.realpath(p) for p in paths if p.is_dir()]
    entries: list[Entry] = []
    for given in paths:
        if given.is_dir():
            found = _walk(given, roots)
            if len(paths) > 1:
                found = [replace(e, name=f"{given.as_posix().rstrip('/')}/{e.name}")
                         for e in found]
            entries += found
        else:
            name = given.as_posix() if len(paths) > 1 else given.name
            entries.append(Entry(given, name, _problem(given, None)))
    names = _unique([e.name for e in entries])
    return [replace(e, name=n) for e, n in zip(entries, names, strict=True)]


def _walk(folder: Path, roots: list[str]) -> list[Entry]:
    found: list[Entry] = []
    unreadable: list[OSError] = []

    def name(path: Path) -> str:
        return path.relative_to(folder).as_posix()

    for here, folders, files in os.walk(folder, onerror=unreadable.append):  # links not entered
        base = Path(here)
        kept = []
        for sub in sorted(folders):
            if sub.startswith(".") or sub in SKIPPED_FOLDERS:
                continue
            if (base / sub).is_symlink():
                found.append(Entry(base / sub, name(base / sub) + "/",
                                   f"a link to a folder ({os.readlink(base / sub)}); not "
                                   "followed"))
            else:
                kept.append(sub)
        folders[:] = kept
        found += [Entry(base / f, name(base / f), _problem(base / f, roots)) for f in files
                  if Path(f).suffix.lower() in SUFFIXES and not f.startswith((".", "~$"))]
    for exc in unreadable:
        path = Path(exc.filename)
        found.append(Entry(path, (name(path) if path != folder else ".") + "/",
                           f"a folder that cannot be read ({exc.strerror}); its files were not "
                           "checked"))
    return sorted(found, key=lambda e: e.name)


def _problem(path: Path, roots: list[str] | None) -> str | None:
    """Why ``path`` is not handed to a checker, or None. With ``roots``, a link must stay
    inside one of those folders."""
    try:
        info = os.stat(path)  # through links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop (its links lead back to themselves); not followed"
        if path.is_symlink():
            return f"a dangling link (to {os.readlink(path)}, which does not exist)"
        return None  # missing: the checker says so
    if roots is not None and path.is_symlink():
        target = os.path.realpath(path)
        if not any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            return f"a link to a file outside the folder given ({target}); not followed"
    if stat.S_ISDIR(info.st_mode):
        return None  # the checker says it is a folder
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "a device")
        return f"not a regular file but {kind}; not read"
    try:  # never blocks: it is a regular file
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None


def _unique(names: Iterable[str]) -> list[str]:
    """The names, a later one that equals an earlier (ignoring case: folders of students'
    copies may land on a case-insensitive disk) marked ``~2``, ``~3``, ... before its suffix."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, k = name, 1
        while candidate.casefold() in seen:
            k += 1
            path = PurePosixPath(name)
            candidate = str(path.with_name(f"{path.stem}~{k}{path.suffix}"))
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def annotated_name(folder: Path, name: str) -> Path:
    """Where the annotated copy of the file named ``name`` goes: its path mirrored under
    ``folder``, ``NAME.checked.xlsx`` (``NAME.ods.checked.xlsx`` for another format)."""
    parts = [p if p not in (".", "..") else "_" for p in PurePosixPath(name).parts
             if p != "/"] or ["_"]
    last = parts[-1]
    stem = last[:-5] if last.lower().endswith(".xlsx") else last
    return folder.joinpath(*parts[:-1], f"{stem}.checked.xlsx")


def annotated_targets(folder: Path, entries: Sequence[Entry]) -> dict[str, Path]:
    """Each checked entry's annotated copy, by entry name; all different."""
    checked = [e for e in entries if e.problem is None]
    paths = _unique(annotated_name(folder, e.name).as_posix() for e in checked)
    return {e.name: Path(p) for e, p in zip(checked, paths, strict=True)}


def stamp(path: Path) -> tuple[int | None, int | None]:
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    return info.st_size, info.st_mtime_ns


def row_for(entry: Entry, timeout: float, max_memory_mb: int, annotate_to: Path | None,
            started: Callable[[subprocess.Popen[bytes]], None] | None = None,
            every_row: bool = False, progress: bool = False,
            network: dict[str, Any] | None = None,
            pool: isolation.WorkerPool | None = None) -> Row:
    """The entry's row: its verdict, or why it cannot be checked (``network``: the fields of
    the network the tables compute, see audit.audit)."""
    began = time.perf_counter()
    size, mtime = stamp(entry.path)
    if entry.problem is not None:
        return Row(entry.name, CANNOT_CHECK, 0.0, error=f"{entry.path}: {entry.problem}")
    try:
        if annotate_to is not None:
            annotate_to.parent.mkdir(parents=True, exist_ok=True)  # mirrors the class folders
        reports = check_isolated(entry.path, timeout, max_memory_mb, progress=progress,
                                 annotate_to=annotate_to, started=started, every_row=every_row,
                                 network=network, pool=pool)
    except (AuditError, OSError) as exc:
        text = str(exc) if isinstance(exc, AuditError) else \
            f"{exc.strerror or exc}: {exc.filename or annotate_to}"
        return Row(entry.name, CANNOT_CHECK, time.perf_counter() - began,
                   error=text.replace("\n", " "), size=size, mtime_ns=mtime)
    return Row(
        entry.name, status(reports), time.perf_counter() - began,
        wrong=[f"{r.sheet}!{c.name}" + (f": {c.diagnosis}" if c.diagnosis else "")
               for r in reports for c in r.columns if c.ok is False],
        not_checked=[f"{r.sheet}!{c.name}" for r in reports for c in r.columns if c.ok is None]
        + [f"{r.sheet}!{n}" for r in reports for n in r.missing],
        reports=reports, size=size, mtime_ns=mtime,
        fingerprint=dict(reports[0].fingerprint) if reports else {},
    )


def _row_whatever_happens(entry: Entry, *args: Any) -> Row:
    """``row_for`` in a worker thread, where a bug of ours becomes the file's row instead of
    costing the rest of the class (signals, Ctrl-C included, reach the main thread only)."""
    began = time.perf_counter()
    try:
        return row_for(entry, *args)
    except Exception as exc:
        return Row(entry.name, CANNOT_CHECK, time.perf_counter() - began,
                   error=f"the check failed: {type(exc).__name__}: {exc}".replace("\n", " "))


def check_all(entries: list[Entry], jobs: int, timeout: float, max_memory_mb: int,
              annotate: dict[str, Path] | None = None,
              done: Callable[[Row], None] | None = None, every_row: bool = False,
              network: dict[str, Any] | None = None) -> list[Row]:
    """Every entry checked, ``jobs`` at a time, rows in the order of ``entries``; ``done`` is
    told each row as it is finished (in the main thread).

    Args:
        annotate: where each entry's annotated copy goes, by entry name (annotated_targets).

    On Ctrl-C every running checker is killed before KeyboardInterrupt goes on.
    """
    running: set[subprocess.Popen[bytes]] = set()
    lock = threading.Lock()

    def started(proc: subprocess.Popen[bytes]) -> None:
        with lock:
            running.add(proc)

    rows: dict[str, Row] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    workers = isolation.WorkerPool(timeout, max_memory_mb, started)
    try:
        futures = {pool.submit(_row_whatever_happens, e, timeout, max_memory_mb,
                               None if annotate is None else annotate.get(e.name), started,
                               every_row, False, network, workers): e for e in entries}
        for future in as_completed(futures):
            row = future.result()
            rows[futures[future].name] = row
            if done is not None:
                done(row)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            for proc in running:
                if proc.returncode is None:  # not reaped: its group id is still its own
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        pool.shutdown(wait=True)
        workers.close()
    return [rows[e.name] for e in entries]


def grade_lines(row: Row) -> list[str]:
    """What the annotated copy's Check sheet says of the grade: the feedback's parts (the score
    first, then what is wrong and the points lost) and the signals for the grader."""
    lines = [part for part in row.feedback.split(" | ") if part]
    if row.student:
        lines.insert(1, f"student: {row.student}")
    return lines + [f"signal: {s}" for s in row.signals]


def grade_annotated(rows: Sequence[Row], targets: dict[str, Path], jobs: int, timeout: float,
                    max_memory_mb: int) -> list[str]:
    """Each annotated copy's grade written into its Check sheet (checker.grade_annotated, by a
    pool of limited workers); returns a line for each copy that could not be (it keeps its
    report, without the grade)."""
    from workbook_builder.check.checker import grade_annotated as write

    todo = [(r, targets[r.file]) for r in rows
            if r.file in targets and r.reports and targets[r.file].is_file()]
    failed: list[str] = []
    if not todo:
        return failed
    with isolation.WorkerPool(timeout, max_memory_mb) as workers, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
        futures = {threads.submit(write, target, grade_lines(r), timeout, max_memory_mb,
                                  workers): target for r, target in todo}
        for future in as_completed(futures):
            try:
                future.result()
            except AuditError as exc:
                failed.append(str(exc))
    return failed


def worst(rows: list[Row]) -> int:
    return max((r.status for r in rows if r.status != NO_SUBMISSION),
               key=SEVERITY.__getitem__, default=ALL_RIGHT)


def apply_grade(row: Row, key: dict[str, Numbers] | None, rubric: tuple[Part, ...]) -> None:
    """The row's student, score, signals and feedback (grading.grade)."""
    from workbook_builder.classroom.grading import grade

    g = grade(row.file, row.reports, row.verdict, row.wrong, row.error, key, rubric)
    row.student, row.score, row.signals, row.feedback = g.student, g.score, g.signals, \
        g.feedback


def apply_copies(rows: list[Row], handed_out: list[dict[str, str]] | None = None,
                 zero: bool = False) -> None:
    """Possible copies among the rows checked in this run, added to their signals; a file
    whose numbers another student's file holds is told so too. ``handed_out``: fingerprints of
    the templates given out (nobody's copy); ``zero``: a row with a copy signal scores 0, and
    its feedback says why (without it, signals never change a score)."""
    from workbook_builder.classroom.grading import copy_signals

    prints = {r.file: r.fingerprint for r in rows if r.fingerprint}
    pairs = copy_signals(prints, {r.file: r.student for r in rows}, handed_out)
    for r in rows:
        r.signals += pairs.get(r.file, [])
    owners: dict[str, list[str]] = {}  # student -> the files that hold their numbers
    for r in rows:
        for signal_ in r.signals:
            if signal_.startswith(USES_NUMBERS):
                for sid in signal_.removeprefix(USES_NUMBERS).split(", "):
                    owners.setdefault(sid, []).append(r.file)
    for r in rows:
        if r.student in owners and r.file:
            r.signals.append(f"its numbers (student {r.student}'s) are in another file: "
                             + ", ".join(owners[r.student]))
    for r in rows:  # a row kept from an earlier run (--resume, merge) had some of them already
        r.signals = list(dict.fromkeys(r.signals))
    if zero:
        for r in rows:
            if r.score is not None and any(s.startswith(COPY_SIGNALS) for s in r.signals):
                r.score = 0.0
                r.feedback = "score set to 0: a possible copy (--copies zero) | " + r.feedback


#: signals that --copies zero acts on
USES_NUMBERS = "uses the numbers of student "
COPY_SIGNALS = ("possible copy of ", USES_NUMBERS, "its numbers (student ")


def handed_out(paths: Sequence[Path], timeout: float, max_memory_mb: int
               ) -> list[dict[str, str]]:
    """The fingerprints of the templates a teacher gave out (``--template``): checked like a
    submission where they hold a table, else their bytes alone."""
    import hashlib

    out = []
    for path in paths:
        try:
            reports = check_isolated(path, timeout, max_memory_mb)
        except AuditError:
            reports = []
        fp = reports[0].fingerprint if reports and reports[0].fingerprint else {}
        out.append(fp or {"file": hashlib.sha256(path.read_bytes()).hexdigest()})
    return out
