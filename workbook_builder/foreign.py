"""Open a workbook someone sent, safely: bounded reading, existing cells only, no other files.

Runs inside the limited child process of `check` (see isolation.py). Every read is bounded
before it happens: the zip's declared part sizes are checked (zipfile never inflates past the
declared size), cells are read from the ones that exist (a stray cell at XFD1048576 must not
make anything walk a million rows), and the copy handed to the formulas engine has safe sheet
names and no formula that names another file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder.isolation import out_of_memory

MAX_BYTES = 20_000_000  # the file as sent
MAX_PART_BYTES = 100_000_000  # one part of the zip, inflated (a 6 × 300-epoch sheet is ~8 MB)
MAX_TOTAL_BYTES = 250_000_000  # all parts, inflated

Cells = dict[tuple[int, int], Any]  # (1-based row, 1-based column) -> value or "=formula"


class AuditError(Exception):
    """The file cannot be checked at all; the message says what was wrong and what to do."""


def open_workbook(path: Path) -> openpyxl.Workbook:
    """openpyxl's view of the formulas, after the checks a hostile file needs."""
    if not path.exists():
        raise AuditError(f"{path}: no such file")
    if path.is_dir():
        raise AuditError(f"{path} is a folder; give an .xlsx file")
    if not path.is_file():
        raise AuditError(f"{path} is not a regular file; give an .xlsx file")
    size = path.stat().st_size
    if size == 0:
        raise AuditError(f"{path} is empty; give an .xlsx workbook")
    if size > MAX_BYTES:
        raise AuditError(f"{path} is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB")
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise AuditError(f"{path} is password-protected (encrypted) or an old .xls file; save "
                         "an unprotected .xlsx copy and check that")
    if not zipfile.is_zipfile(path):
        raise AuditError(f"{path} is not an .xlsx workbook (not a zip archive)")
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    names = [i.filename for i in infos]
    if any(n.lower().endswith("vbaproject.bin") for n in names) or \
            path.suffix.lower() in (".xlsm", ".xltm"):
        raise AuditError(f"{path} holds macros; macros are never run here: save it as .xlsx "
                         "(macro-free) and check that")
    # zipfile stops inflating a part at its declared size (and then fails its CRC), so the
    # declared sizes bound what reading can allocate
    biggest = max(infos, key=lambda i: i.file_size)
    total = sum(i.file_size for i in infos)
    if biggest.file_size > MAX_PART_BYTES or total > MAX_TOTAL_BYTES:
        raise AuditError(f"{path} inflates to {total / 1e6:,.0f} MB ({biggest.filename}: "
                         f"{biggest.file_size / 1e6:,.0f} MB); the limits are "
                         f"{MAX_PART_BYTES / 1e6:.0f} MB a part and {MAX_TOTAL_BYTES / 1e6:.0f} "
                         "MB in all: is it a zip bomb? Check a plain copy")
    try:
        return openpyxl.load_workbook(path)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        if out_of_memory(exc):
            raise
        raise AuditError(f"{path} cannot be read as a workbook: "
                         f"{type(exc).__name__}: {exc}".replace("\n", " ")) from None


def cells(ws: Worksheet) -> Cells:
    """The cells that exist, by position.

    openpyxl's public iterators (iter_rows, ws.cell) create every cell of the used rectangle,
    which one stray far cell makes 17 billion; its ``_cells`` map holds just the stored ones.
    """
    return {key: c.value for key, c in ws._cells.items() if c.value is not None}


def split_reference(operand: str) -> tuple[str | None, str]:
    """``'It''s'!A1`` -> (``It's``, ``A1``); ``A1`` -> (None, ``A1``)."""
    if operand.startswith("'"):
        end = 1
        while True:
            end = operand.index("'", end)
            if operand[end + 1:end + 2] == "'":
                end += 2
                continue
            break
        return operand[1:end].replace("''", "'"), operand[end + 2:]
    if "!" in operand:
        sheet, _, rest = operand.rpartition("!")
        return sheet, rest
    return None, operand


def is_external(operand: str) -> bool:
    """Does a reference name another workbook (``[1]S!A1``, ``'dir/[b.xlsx]S'!A1``)?"""
    if operand.startswith("["):
        return True
    sheet, _ = split_reference(operand)
    return sheet is not None and ("[" in sheet or "]" in sheet or "/" in sheet or
                                  "\\" in sheet)


def rewrite(formula: str, names: dict[str, str], where: str) -> str:
    """The formula with sheet names mapped through ``names`` (upper-cased keys).

    Raises:
        AuditError: the formula refers to another file, which is never opened.
    """
    tokens = Tokenizer(formula).items
    changed = False
    for token in tokens:
        if token.type != Token.OPERAND or token.subtype != Token.RANGE:
            continue
        if is_external(token.value):
            raise AuditError(f"{where} refers to another file ({token.value}); other files are "
                             "never opened: copy the values in, or break the link (Excel: Data "
                             "> Edit Links > Break Link), and check again")
        sheet, rest = split_reference(token.value)
        if sheet is not None and ":" not in sheet and sheet.upper() in names:
            token.value = f"{names[sheet.upper()]}!{rest}"
            changed = True
    return "=" + "".join(t.value for t in tokens) if changed else formula


def engine_names(wb: openpyxl.Workbook) -> dict[str, str]:
    """Original sheet title -> the plain name the engine gets (S1, S2, ...).

    The formulas engine cannot parse a quoted sheet name holding an apostrophe, and it
    upper-cases names in its keys; plain names avoid both.
    """
    return {ws.title: f"S{k}" for k, ws in enumerate(wb.worksheets, start=1)}


def engine_copy(wb: openpyxl.Workbook, out: Path) -> dict[str, str]:
    """Save the copy the engine reads: plain sheet names, no external links.

    Every formula (cells and defined names) is rewritten for the new names and refused if it
    needs another file, before the engine sees it. Returns original title -> engine name.
    """
    names = engine_names(wb)
    upper = {title.upper(): new for title, new in names.items()}
    for ws in wb.worksheets:
        for (row, col), value in cells(ws).items():
            if isinstance(value, str) and value.startswith("="):
                ws._cells[row, col].value = rewrite(value, upper, f"cell {ws.title}!"
                                                    f"{ws._cells[row, col].coordinate}")
        for name, dn in list(ws.defined_names.items()):
            if dn.attr_text:
                dn.attr_text = rewrite("=" + dn.attr_text, upper, f"the name {name}")[1:]
    for name, dn in list(wb.defined_names.items()):
        if dn.attr_text:
            dn.attr_text = rewrite("=" + dn.attr_text, upper, f"the name {name}")[1:]
    for ws in wb.worksheets:
        ws.title = names[ws.title]
    wb._external_links = []  # no formula uses them (checked above); the engine must not either
    wb.save(out)
    return names
