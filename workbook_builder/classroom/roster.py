"""A class's roster and each student's own numbers: derived from a secret and the id, written
as the teacher's key, read back to match a submission to its student.

The numbers come from HMAC-SHA256(secret, id) as whole numbers of hundredths: integer
arithmetic only, so the same secret gives the same numbers on every machine, and without the
secret a student cannot compute another student's numbers from the id.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath

from workbook_builder.classroom import lms
from workbook_builder.classroom.lms import Lms
from workbook_builder.network.spec import Network

#: the key's columns (the default network), in order
KEY_FIELDS = ("id", "i1", "i2", "t1", "t2", *(f"w{k}" for k in range(1, 9)), "eta")
#: ranges, in hundredths: inputs and targets well inside (0, 1), weights positive and small
#: enough that no sigmoid saturates, η from 0.3 to 1.0
RANGES = {"i": (5, 95), "t": (5, 95), "w": (10, 90), "eta": (30, 100)}
ETA_STEP = 10  # η in tenths: 0.3, 0.4, … 1.0
#: "the error falls visibly": E_total after VISIBLE_EPOCHS at the student's η is at most this
#: share of epoch 0's, and epoch 0's is not tiny (targets not already met)
VISIBLE_EPOCHS = 50
VISIBLE_SHARE = 0.7
MIN_START_ERROR = 0.005
MAX_ATTEMPTS = 1000
MAX_ROSTER = 5000


class RosterError(ValueError):
    """A roster or key that cannot be used; the message names the row and what to fix."""


@dataclass(frozen=True)
class Student:
    id: str
    extra: dict[str, str]  # the roster's other columns (name, email, …), carried along


@dataclass(frozen=True)
class Numbers:
    """One student's network: the example, the initial weights and η."""

    network: Network
    eta: float

    def row(self, student_id: str) -> dict[str, str]:
        n = self.network
        values = (*n.inputs, *n.targets, *n.weights, self.eta)
        return {"id": student_id, **{k: f"{v:g}" for k, v in zip(KEY_FIELDS[1:], values,
                                                                   strict=True)}}

    def as_against(self) -> dict[str, float]:
        """The same names as a check report's ``against``."""
        n = self.network
        names = ("i1", "i2", "t1", "t2", *(f"w{k}" for k in range(1, 9)), "η")
        return dict(zip(names, (*n.inputs, *n.targets, *n.weights, self.eta), strict=True))


def _draw(secret: bytes, student_id: str, what: str, attempt: int, lo: int, hi: int) -> int:
    message = f"{student_id}\x00{what}\x00{attempt}".encode()
    n = int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")
    return lo + n % (hi - lo + 1)


def numbers_for(secret: bytes, student_id: str, eta: float | None = None) -> Numbers:
    """The student's own numbers (deterministic in secret and id); ``eta`` fixes η for all.

    Draws again (attempt 1, 2, …) until the error falls visibly over the first epochs.
    """
    from workbook_builder.network import topology  # NumPy: only where numbers are drawn
    from workbook_builder.network.netrun import course_spec

    for attempt in range(MAX_ATTEMPTS):
        def hundredths(what: str, kind: str, attempt: int = attempt) -> float:
            lo, hi = RANGES[kind]
            return _draw(secret, student_id, what, attempt, lo, hi) / 100

        inputs = (hundredths("i1", "i"), hundredths("i2", "i"))
        targets = (hundredths("t1", "t"), hundredths("t2", "t"))
        weights = tuple(hundredths(f"w{k}", "w") for k in range(1, 9))
        lo, hi = RANGES["eta"]
        rate = eta if eta is not None else _draw(
            secret, student_id, "eta", attempt, lo // ETA_STEP, hi // ETA_STEP) / ETA_STEP * 1.0
        network = Network(inputs=inputs, targets=targets, weights=weights)
        e = topology.trace(course_spec(network), rate, VISIBLE_EPOCHS + 1)["E_total"]
        if e[0] >= MIN_START_ERROR and e[-1] <= VISIBLE_SHARE * e[0]:
            return Numbers(network, rate)
    raise RosterError(f"no numbers for {student_id!r} make the error fall visibly with "
                      f"η = {eta}: give a larger --lr")


# --- the roster ---------------------------------------------------------------------------
def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file's header and rows (UTF-8 with or without BOM, else Latin-1, as spreadsheets
    save them; comma or semicolon)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    rows = list(reader)
    return [f.strip().lstrip("\ufeff") for f in reader.fieldnames or []], rows


def read_roster(path: Path) -> list[Student]:
    """The students, in roster order (read_class)."""
    return read_class(path)[0]


#: what a spreadsheet is saved as; a roster must be its CSV export
SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")


def read_class(path: Path, id_column: str | None = None) -> tuple[list[Student], Lms]:
    """The students, in roster order, and the LMS the roster came from: a CSV with an ``id``
    column, Moodle's grade export or a Canvas gradebook export (lms.py). Every column but a
    plain roster's ``id`` travels with the student.

    Raises:
        RosterError: no id column, an empty or duplicate id, or too many rows (the message
            names the row as a spreadsheet numbers it: the header is row 1).
    """
    if path.suffix.lower() in SPREADSHEETS:
        raise RosterError(f"{path}: a spreadsheet; give the roster as CSV (Moodle: Export > "
                          "Plain text file; Canvas: Export, a .csv; a spreadsheet: Save As CSV)")
    header, rows = read_table(path)
    try:
        found = lms.read(path, header, rows, id_column)
    except lms.LmsError as exc:
        raise RosterError(str(exc)) from None
    if not found.rows:
        raise RosterError(f"{path}: no students below the header")
    if len(found.rows) > MAX_ROSTER:
        raise RosterError(f"{path}: {len(found.rows):,} students; the most is {MAX_ROSTER:,}")
    id_column = found.lms.id_column
    clash = [h for h in header if h in KEY_FIELDS and h != id_column]
    if clash:
        raise RosterError(f"{path}: the column {clash[0]!r} has the name of a column of the "
                          "key; rename it in the roster")
    # what travels with the key: a plain roster's every column (the teacher's own), an LMS
    # export's identity columns and the assignment's (not the class's other grades)
    identity = {"moodle": lms.MOODLE_IDENTITY, "canvas": lms.CANVAS_IDENTITY}.get(
        found.lms.kind)
    kept = {h for h in header if h != id_column} if identity is None else \
        {h for h in header if h in identity or h == found.lms.grade_column}
    students: list[Student] = []
    seen: dict[str, int] = {}
    where = {"moodle": " (Moodle: the ID number, or every student's email address when some "
                       "student has no ID number)",
             "canvas": " (Canvas: the ID column)"}.get(found.lms.kind, "")
    for k, row in found.rows:
        sid = row.get(id_column, "")
        if not sid:
            raise RosterError(f"{path}, row {k}: the id is empty{where}; give every student "
                              "an id")
        if not SAFE_ID.fullmatch(sid):
            raise RosterError(f"{path}, row {k}: id {sid!r} has characters that cannot be part "
                              "of a file name; use letters, digits, '-', '_', '.', '@', '+'")
        if sid in seen:
            raise RosterError(f"{path}, row {k}: id {sid!r} is also in row {seen[sid]}; ids "
                              "must be unique")
        seen[sid] = k
        extra = {h: v for h, v in row.items() if h and h in kept}
        students.append(Student(sid, extra))
    return students, found.lms


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")  # "jane+dl@uni.edu" too


# --- the key --------------------------------------------------------------------------------
class Key(dict[str, Numbers]):
    """id -> numbers, in roster order, with each student's roster columns (``extra``, in the
    roster's column order ``columns``) and the LMS the roster came from."""

    def __init__(self, numbers: dict[str, Numbers], extra: dict[str, dict[str, str]] | None = None,
                 columns: tuple[str, ...] = (), lms_: Lms | None = None) -> None:
        super().__init__(numbers)
        self.extra = extra or {}
        self.columns = columns
        self.lms = lms_

    @property
    def names_first(self) -> bool:
        """A download names each student's folder by name and a number that is not the id
        (Moodle's participant number): the name decides."""
        return self.lms is not None and self.lms.kind == "moodle"

    def names(self) -> dict[str, tuple[str, ...]]:
        """id -> the student's name words (lms.name_words), where the roster has names."""
        if self.lms is None or not self.lms.name_columns:
            return {}
        out = {sid: lms.name_words(self.extra.get(sid, {}), self.lms.name_columns)
               for sid in self}
        return {sid: words for sid, words in out.items() if words}


def key_text(rows: list[dict[str, str]], columns: tuple[str, ...] = ()) -> str:
    """The key as CSV: KEY_FIELDS, then the roster's other ``columns`` (each row's extra)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=(*KEY_FIELDS, *columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def read_key(path: Path) -> Key:
    """id -> numbers, from a key.csv that ``assign`` wrote (or a teacher edited), with the
    roster's columns it carries and the LMS (``lms.json`` beside it, where assign wrote one)."""
    header, rows = read_table(path)
    missing = [f for f in KEY_FIELDS if f not in header]
    if missing:
        raise RosterError(f"{path}: not a key (no column {', '.join(missing)}); give the "
                          "key.csv that assign wrote")
    key: dict[str, Numbers] = {}
    columns = tuple(h for h in header if h not in KEY_FIELDS)
    extra: dict[str, dict[str, str]] = {}
    for k, row in enumerate(rows, start=2):
        try:
            v = [float(row[f]) for f in KEY_FIELDS[1:]]
        except (TypeError, ValueError):
            raise RosterError(f"{path}, row {k}: a value is not a number") from None
        if not all(math.isfinite(x) for x in v):
            raise RosterError(f"{path}, row {k}: a value is not a finite number")
        sid = row["id"].strip()
        if sid in key:
            raise RosterError(f"{path}, row {k}: id {sid!r} appears twice")
        key[sid] = Numbers(Network(inputs=(v[0], v[1]), targets=(v[2], v[3]),
                                   weights=tuple(v[4:12])), v[12])
        extra[sid] = {c: (row.get(c) or "").strip() for c in columns}
    if not key:
        raise RosterError(f"{path}: no students in the key")
    found = None
    if lms.lms_path(path).is_file():
        try:
            found = lms.Lms.load(lms.lms_path(path))
        except lms.LmsError as exc:
            raise RosterError(str(exc)) from None
    return Key(key, extra, columns, found)


# --- matching a submission to its student ------------------------------------------------
# letters of any script belong to a word (a name: "Ömer Yılmaz_4002_…"); _ and the rest part them
_SEPARATOR = re.compile(r"(?:[^\w@.+-]|_)+")


def tokens(text: str) -> set[str]:
    """The words of a file or folder name, and their pieces at . - (``jane.smith@x.org``,
    ``jane``, ``smith@x``, …), lower-cased."""
    out: set[str] = set()
    for word in _SEPARATOR.split(unicodedata.normalize("NFC", text)):
        if word:
            out |= {word.lower(), *(p.lower() for p in re.split(r"[.+-]", word) if p)}
    return out


def id_from_path(path: PurePath, ids: set[str], root: PurePath | None = None,
                 names: dict[str, tuple[str, ...]] | None = None,
                 names_first: bool = False) -> str | None:
    """The one roster id that the file's name, or a folder above it (under ``root``), holds as
    a whole word (``1234-backprop.xlsx``, ``jane@uni.edu_backprop.xlsx``, Canvas's
    ``smithjane_1234_5678_backprop.xlsx``); else the one student whose name it holds (``names``:
    id -> name words; Moodle's ``Jane Smith_1234_assignsubmission_file_/backprop.xlsx``, where
    ``names_first``: its participant number may equal another student's id); None if none or
    two."""
    parts = path.relative_to(root).parts if root is not None and path.is_relative_to(root) \
        else (path.name,)
    words: set[str] = set()
    for k, part in enumerate(parts):
        words |= tokens(part.rsplit(".", 1)[0] if k == len(parts) - 1 else part)
    by_name = {i for i, name in (names or {}).items() if i in ids and lms.name_in(name, words)}
    if names_first and len(by_name) == 1:
        return by_name.pop()
    found = {i for i in ids if i.lower() in words} or by_name
    return found.pop() if len(found) == 1 else None


TOLERANCE = 1e-9  # numbers typed from the key: equal to its 2 decimals, whatever the display


def same_numbers(a: dict[str, float | None], b: dict[str, float]) -> bool:
    """Does ``a`` hold every number of ``b``?"""
    for k, v in b.items():
        got = a.get(k)
        if got is None or abs(got - v) > TOLERANCE * max(1.0, abs(v)):
            return False
    return True


def whose_numbers(found: dict[str, float | None], key: dict[str, Numbers]) -> list[str]:
    """The ids whose numbers the sheet holds (η aside when the sheet has none)."""
    out = []
    for sid, numbers in key.items():
        expected = numbers.as_against()
        if found.get("η") is None:
            expected.pop("η")
        if same_numbers(found, expected):
            out.append(sid)
    return out
