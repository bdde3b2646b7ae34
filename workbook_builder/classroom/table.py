"""A class's table: for people (Markdown), as CSV (written whole, appended to as files finish,
read back by --resume and merge) and as JSON; every text cell escaped and defused."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbook_builder.check.audit_report import ALL_RIGHT, to_json
from workbook_builder.classroom.batch import NO_SUBMISSION, VERDICT, Entry, Row, stamp
from workbook_builder.escape import cell, printable_json
from workbook_builder.files import atomic_path


def _md(text: str) -> str:
    return cell(text).replace("|", "\\|")


def markdown(rows: list[Row], total: int | None = None) -> list[str]:
    """The class table for people (and READMEs); ``total``: the files of an interrupted run."""
    graded = any(r.student or r.score is not None for r in rows)
    lines = ["| file | verdict | wrong (diagnosis) | not found or not checked | "
             + ("student | score | " if graded else "") + "signals | seconds |",
             "| --- | --- | --- | --- | " + ("--- | ---: | " if graded else "") + "--- | ---: |"]
    for r in rows:
        wrong = "; ".join(r.wrong) if r.wrong else (r.error or "")
        score = "" if r.score is None else f"{r.score:g}"
        lines.append(f"| {_md(r.file)} | {r.verdict} | {_md(wrong)} | "
                     f"{_md(', '.join(r.not_checked))} | "
                     + (f"{_md(r.student)} | {score} | " if graded else "")
                     + f"{_md('; '.join(r.signals))} | {r.seconds:.1f} |")
    files = [r for r in rows if r.status != NO_SUBMISSION]
    counts = {v: sum(r.verdict == v for r in files) for v in VERDICT.values()}
    lines.append("")
    head = f"{len(files)} file(s)" if total is None else \
        f"interrupted: {len(files)} of {total} file(s) checked"
    nothing = len(rows) - len(files)
    lines.append(f"{head}: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
                 + (f"; {nothing} roster student(s) handed in nothing" if nothing else ""))
    return lines


#: id, score and feedback first: the columns an LMS gradebook import maps (README)
CSV_FIELDS = ("id", "score", "feedback", "file", "verdict", "exit_status", "wrong",
              "not_checked", "signals", "error", "seconds", "size", "mtime_ns", "fingerprint",
              "shard")
#: what an earlier version's CSV lacks; --resume and merge read such a table too
OPTIONAL_FIELDS = ("fingerprint", "shard")


def csv_rows(rows: list[Row]) -> list[dict[str, object]]:
    """The CSV's rows: every text cell escaped and defused (escape.cell)."""
    return [{"id": cell(r.student), "score": "" if r.score is None else round(r.score, 4),
             "feedback": cell(r.feedback), "file": cell(r.file), "verdict": r.verdict,
             "exit_status": "" if r.status == NO_SUBMISSION else r.status,
             "wrong": cell("; ".join(r.wrong)),
             "not_checked": cell("; ".join(r.not_checked)),
             "signals": cell("; ".join(r.signals)), "error": cell(r.error or ""),
             "seconds": round(r.seconds, 2), "size": "" if r.size is None else r.size,
             "mtime_ns": "" if r.mtime_ns is None else r.mtime_ns,
             "fingerprint": json.dumps(r.fingerprint, sort_keys=True) if r.fingerprint else "",
             "shard": r.shard} for r in rows]


def write_csv(target: Path, rows: list[Row]) -> None:
    """The table as CSV, replacing ``target`` whole (never half-written)."""
    with atomic_path(target) as part, part.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(rows))


class CsvLog:
    """The CSV while a class is checked: written whole at the start (with the rows kept from an
    earlier run), a line appended as each file is finished, so that a run stopped any way
    (SIGKILL included) keeps its rows; ``write_csv`` replaces it, in file order, at the end."""

    def __init__(self, target: Path, kept: list[Row]) -> None:
        write_csv(target, kept)
        self._file = target.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=CSV_FIELDS)

    def add(self, row: Row) -> None:
        self._writer.writerows(csv_rows([row]))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class NotATable(ValueError):
    """--resume was given a CSV this command did not write."""


def read_rows(table: Path) -> list[Row]:
    """Every row of a CSV that ``check --csv`` wrote (a row that does not read is left out).

    Raises:
        NotATable: the file is not such a table.
    """
    required = set(CSV_FIELDS) - set(OPTIONAL_FIELDS)
    try:
        with table.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not required <= set(reader.fieldnames):
                raise NotATable(f"{table} is not a table written by check --csv")
            earlier = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NotATable(f"{table} is not a table written by check --csv ({exc})") from None
    rows = []
    for old in earlier:
        try:
            code = int(old["exit_status"]) if old["exit_status"] else NO_SUBMISSION
            seconds = float(old["seconds"])
            score = float(old["score"]) if old["score"] else None
            size = int(old["size"]) if old["size"] else None
            mtime = int(old["mtime_ns"]) if old["mtime_ns"] else None
            fingerprint = json.loads(old["fingerprint"]) if old.get("fingerprint") else {}
        except ValueError:
            continue
        if code not in VERDICT or not isinstance(fingerprint, dict):
            continue
        rows.append(Row(old["file"], code, seconds,
                        wrong=old["wrong"].split("; ") if old["wrong"] else [],
                        not_checked=old["not_checked"].split("; ") if old["not_checked"]
                        else [], error=old["error"] or None, size=size, mtime_ns=mtime,
                        resumed=True, student=old["id"], score=score,
                        signals=old["signals"].split("; ") if old["signals"] else [],
                        feedback=old["feedback"],
                        fingerprint={str(k): str(v) for k, v in fingerprint.items()},
                        shard=old.get("shard") or ""))
    return rows


def finished_rows(table: Path, entries: Sequence[Entry]) -> dict[str, Row]:
    """The rows of an earlier run's CSV that still hold: same name, size and modification time
    (a file that was not read, a link out for one, is looked at again: it costs nothing).

    Raises:
        NotATable: the file is not a table written by ``check --csv``.
    """
    earlier = {r.file: r for r in read_rows(table) if r.file}
    rows: dict[str, Row] = {}
    for e in entries:
        old = earlier.get(cell(e.name))
        size, mtime = stamp(e.path)
        if old is None or e.problem is not None or size is None or \
                (old.size, old.mtime_ns) != (size, mtime) or old.status == NO_SUBMISSION:
            continue
        rows[e.name] = replace(old, file=e.name)
    return rows


def safe_json(report: dict[str, Any]) -> dict[str, Any]:
    """A file's JSON report with its file and sheet names defused (escape.cell) and every
    string printable."""
    out = {**report, "file": cell(str(report["file"])),
           "sheets": [{**s, "sheet": cell(str(s["sheet"]))} for s in report.get("sheets", [])]}
    return dict(printable_json(out))


def json_row(r: Row) -> dict[str, Any]:
    """A row of the class table as JSON: the file's report, with the row's verdict."""
    report = to_json(Path(r.file), r.reports) if r.reports else {"file": r.file, "sheets": []}
    return safe_json({**report, "file": r.file, "ok": r.status == ALL_RIGHT,
                      "verdict": r.verdict, "exit_status": r.status, "error": r.error,
                      "seconds": round(r.seconds, 2), "resumed": r.resumed,
                      "student": r.student, "score": r.score, "signals": r.signals,
                      "feedback": r.feedback})
