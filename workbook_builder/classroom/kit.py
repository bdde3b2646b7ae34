"""A class kit: for each student of a roster, a starter workbook with their own numbers and
the answer workbook, and the teacher's key (``python -m workbook_builder assign``).

Everything is written into a new folder beside the target and renamed into place when
complete, so a bad roster or an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workbook_builder.classroom.lms import LMS_FILE, Lms
from workbook_builder.classroom.roster import Numbers, RosterError, Student, key_text, numbers_for
from workbook_builder.network.spec import Run

KEY = "key.csv"
ANSWERS = "answers"
SECRET = "secret.txt"


@dataclass(frozen=True)
class Kit:
    folder: Path
    students: list[Student]
    numbers: dict[str, Numbers]
    secret_written: bool  # a new secret was made and saved in the kit


@contextlib.contextmanager
def new_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, renamed to it on success, removed on failure."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RosterError(f"--out {target} already holds files; give a new or empty folder "
                          "(a kit is never written over another)")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:
            yield part
        except OSError as exc:  # name the file the user asked for, not the temporary folder
            if exc.filename is None or not str(exc.filename).startswith(str(part)):
                raise
            named = str(target) + str(exc.filename)[len(str(part)):]
            raise OSError(exc.errno, exc.strerror, named) from None
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(part, target)
    finally:
        shutil.rmtree(part, ignore_errors=True)


def assign(students: list[Student], out: Path, secret: bytes | None, epochs: int,
           eta: float | None, progress: Callable[[str], None] | None = None,
           lms_: Lms | None = None) -> Kit:
    """Write each student's starter and answer workbooks and the key into ``out``.

    Args:
        secret: derives the numbers; None makes a new one, saved as ``out/secret.txt``.
        eta: one η for everyone; None gives each student their own.
        lms_: the LMS the roster came from: saved beside the key (``lms.json``) for the
            exports, unless it is a plain roster with no names.
    """
    from workbook_builder.classroom.starter import build_starter
    from workbook_builder.sheet.writer import build

    written = secret is None
    secret = secret if secret is not None else secrets.token_hex(16).encode()
    numbers = {s.id: numbers_for(secret, s.id, eta) for s in students}
    with new_folder(out) as part:
        (part / ANSWERS).mkdir()
        for k, s in enumerate(students, start=1):
            if progress is not None:
                progress(f"{k}/{len(students)} {s.id}")
            n = numbers[s.id]
            build_starter(s.id, n, epochs, part / f"{s.id}.xlsx")
            build(Run(network=n.network, learning_rates=(n.eta,), epochs=epochs),
                  part / ANSWERS / f"{s.id}.xlsx")
        columns = tuple(dict.fromkeys(c for s in students for c in s.extra))
        (part / KEY).write_text(key_text([{**s.extra, **numbers[s.id].row(s.id)}
                                          for s in students], columns), encoding="utf-8")
        if lms_ is not None and (lms_.kind != "plain" or lms_.name_columns):
            (part / LMS_FILE).write_text(lms_.dump(), encoding="utf-8")
        if written:
            path = part / SECRET
            path.write_text(secret.decode() + "\n", encoding="utf-8")
            path.chmod(0o600)
    return Kit(out, students, numbers, written)


PREVIEW_EPOCHS = 12  # rows of the Backprop sheet in the preview picture
PREVIEWS = ("starter-backprop", "starter-self-check")


def preview(starter: Path, out_dir: Path, timeout: float) -> list[Path]:
    """Pictures of a starter workbook as a student first sees it: the Backprop sheet's top
    (its numbers, the headers, the first epochs' yellow cells) and the Self-check sheet, one
    page each, rendered by LibreOffice into ``out_dir``. The print areas are set on a copy
    (openpyxl), so the student's own file prints whole."""
    import openpyxl

    from workbook_builder.classroom.starter import CHECK_SHEET, SHEET
    from workbook_builder.sheet import layout, render

    with tempfile.TemporaryDirectory(prefix="workbook-builder-preview-") as tmp:
        copy = Path(tmp) / "starter.xlsx"
        wb = openpyxl.load_workbook(starter)
        last = openpyxl.utils.get_column_letter(layout.COLUMN["E_total"] + 1)
        for ws, area in ((wb[SHEET], f"A1:{last}{layout.epoch_row(PREVIEW_EPOCHS - 1) + 1}"),
                         (wb[CHECK_SHEET], f"A1:E{4 + 1 + 31}")):
            ws.print_area = area
            ws.page_setup.orientation = "landscape"
            ws.page_setup.fitToWidth = ws.page_setup.fitToHeight = 1
            ws.sheet_properties.pageSetUpPr.fitToPage = True
        wb.save(copy)
        return render.render(copy, PREVIEWS, out_dir, timeout=timeout)
