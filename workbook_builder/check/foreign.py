"""Open a workbook someone sent, safely: bounded reading, existing cells only, no other files.

Runs inside the limited child process of `check` (see isolation.py). Every read is bounded
before it happens: the zip's declared part sizes are checked (zipfile never inflates past the
declared size), cells are read from the ones that exist (a stray cell at XFD1048576 must not
make anything walk a million rows), and the copy handed to the formulas engine has safe sheet
names and no formula that names another file.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder.check.limits import MAX_BYTES as MAX_BYTES
from workbook_builder.check.limits import AuditError as AuditError
from workbook_builder.isolation import out_of_memory

MAX_PART_BYTES = 100_000_000  # one part of the zip, inflated (a 6 × 300-epoch sheet is ~8 MB)
MAX_TOTAL_BYTES = 250_000_000  # all parts, inflated

Cells = dict[tuple[int, int], Any]  # (1-based row, 1-based column) -> value or "=formula"


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
    return {key: formula_text(c.value, c.data_type) for key, c in ws._cells.items()
            if c.value is not None}


def formula_text(value: object, data_type: str = "f") -> object:
    """A cell's content with an array (Ctrl+Shift+Enter) formula as its formula text; text
    that only looks like a formula (``'=w1*i1`` typed with Excel's apostrophe, a Guide's
    equation) keeps that apostrophe, so nothing reads it as one."""
    if isinstance(value, str) and data_type != "f" and value.startswith("="):
        return "'" + value
    if isinstance(value, ArrayFormula):
        text = value.text or ""
        return text if text.startswith("=") else "=" + text
    return value


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


#: Google Sheets functions that Excel and LibreOffice lack (#NAME? there), and the Excel
#: function that computes the same, so the math can still be judged
GOOGLE_ONLY = {"POW(": "POWER("}
#: functions whose value changes at every recalculation: a finding in itself. The engine's copy
#: gets a fixed value instead (RAND() as 0.5, NOW() as a fixed day), so the verdict is the same
#: on every run; the column that uses one is reported wrong whatever its numbers.
VOLATILE = {"RAND(": "(0.5", "RANDARRAY(": "(0.5", "NOW(": "(46357", "TODAY(": "(46357",
            "RANDBETWEEN(": "MIN("}


def volatile_calls(formula: object) -> list[str]:
    """The volatile functions a formula calls (``["RAND"]``), in order; [] for other content."""
    if not (isinstance(formula, str) and formula.startswith("=")):
        return []
    upper = formula.upper()
    if not any(name in upper for name in VOLATILE):  # most formulas: no tokenizing
        return []
    try:
        tokens = Tokenizer(formula).items
    except Exception:  # an unparseable formula calls nothing we can name
        return []
    return [t.value[:-1].upper() for t in tokens if t.type == Token.FUNC and
            t.subtype == Token.OPEN and t.value.upper() in VOLATILE]


def _text_reference(token: Token, names: dict[str, str]) -> bool:
    """A text constant such as ``"Backprop!B1"`` (INDIRECT's argument) renamed like a
    reference, so that it still names the sheet in the engine's copy. True if changed."""
    text = token.value[1:-1].replace('""', '"')
    if "!" not in text:
        return False
    try:
        sheet, rest = split_reference(text)
    except ValueError:
        return False
    if sheet is None or sheet.upper() not in names or not _CELL_OR_RANGE.fullmatch(rest):
        return False
    token.value = f'"{names[sheet.upper()]}!{rest}"'
    return True


def rewrite(formula: str, names: dict[str, str], where: str,
            google: list[str] | None = None, volatile: list[str] | None = None) -> str:
    """The formula with sheet names mapped through ``names`` (upper-cased keys; in references
    and in text that INDIRECT may read), Google Sheets' own functions by their Excel twins and
    volatile functions by fixed values (``where`` is appended to ``google`` / ``volatile``).

    Raises:
        AuditError: the formula refers to another file, which is never opened.
    """
    tokens = Tokenizer(formula).items
    changed = False
    for k, token in enumerate(tokens):
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            function = token.value.upper()
            if function in GOOGLE_ONLY:
                token.value = GOOGLE_ONLY[function]
                changed = True
                if google is not None:
                    google.append(where)
            elif function in VOLATILE:
                closes = k + 1 < len(tokens) and tokens[k + 1].type == Token.FUNC
                token.value = VOLATILE[function] if closes or function == "RANDBETWEEN(" \
                    else "MIN" + VOLATILE[function] + ","
                changed = True
                if volatile is not None:
                    volatile.append(where)
            continue
        if token.type == Token.OPERAND and token.subtype == Token.TEXT:
            changed |= _text_reference(token, names)
            continue
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


_CELL_OR_RANGE = re.compile(r"\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?")


def resolve_names(wb: openpyxl.Workbook) -> dict[str, list[str]]:
    """Write every defined name used in a cell's formula as what it stands for (``eta`` ->
    ``$B$1``), so that the reader sees the η cell the updates multiply and the engine needs
    no names. A name for a single reference on the formula's own sheet loses its sheet part;
    one for an expression is put in parentheses. Returns per sheet the notes saying which."""
    def targets(scope: Any) -> dict[str, str]:
        return {name.upper(): dn.attr_text for name, dn in scope.items()
                if dn.attr_text and not dn.attr_text.startswith("#")}

    book = targets(wb.defined_names)
    notes: dict[str, list[str]] = {}
    for ws in wb.worksheets:
        local = {**book, **targets(ws.defined_names)}
        if not local:
            continue
        used: dict[str, str] = {}
        for cell in ws._cells.values():
            value = cell.value
            text = value.text if isinstance(value, ArrayFormula) else value
            if not (isinstance(text, str) and text.startswith("=")):
                continue
            try:
                tokens = Tokenizer(text).items
            except Exception:
                continue
            changed = False
            for token in tokens:
                if token.type != Token.OPERAND or token.subtype != Token.RANGE or \
                        _CELL_OR_RANGE.fullmatch(token.value):
                    continue
                try:
                    _, rest = split_reference(token.value)
                except ValueError:
                    continue
                target = local.get(rest.upper())
                if target is None:
                    continue
                sheet, ref = split_reference(target)
                if _CELL_OR_RANGE.fullmatch(ref):
                    token.value = ref if sheet is None or sheet == ws.title else target
                else:
                    token.value = f"({target})"
                used[rest] = target
                changed = True
            if changed:
                new = "=" + "".join(t.value for t in tokens)
                if isinstance(value, ArrayFormula):
                    value.text = new
                else:
                    cell.value = new
        if used:
            notes[ws.title] = [f"the defined name {name!r} read as {target}"
                               for name, target in sorted(used.items())]
    return notes


def engine_names(wb: openpyxl.Workbook) -> dict[str, str]:
    """Original sheet title -> the plain name the engine gets (S1, S2, ...).

    The formulas engine cannot parse a quoted sheet name holding an apostrophe, and it
    upper-cases names in its keys; plain names avoid both.
    """
    return {ws.title: f"S{k}" for k, ws in enumerate(wb.worksheets, start=1)}


def engine_copy(wb: openpyxl.Workbook, out: Path, save: bool = True
                ) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Make (and, with ``save``, save) the copy the engine reads: plain sheet names, no
    external links.

    Every formula (cells and defined names) is rewritten for the new names and refused if it
    needs another file, before the engine sees it. Returns original title -> engine name, and
    per sheet the cells that use a Google-Sheets-only function (judged as its Excel twin) and
    those that call a volatile function (given a fixed value).
    """
    names = engine_names(wb)
    upper = {title.upper(): new for title, new in names.items()}
    google: dict[str, list[str]] = {}
    volatile: dict[str, list[str]] = {}
    for ws in wb.worksheets:
        for (row, col), value in cells(ws).items():
            if isinstance(value, str) and value.startswith("="):
                cell = ws._cells[row, col]
                new = rewrite(value, upper, f"cell {ws.title}!{cell.coordinate}",
                              google.setdefault(ws.title, []),
                              volatile.setdefault(ws.title, []))
                if isinstance(cell.value, ArrayFormula):
                    cell.value.text = new
                else:
                    cell.value = new
        for name, dn in list(ws.defined_names.items()):
            if dn.attr_text:
                dn.attr_text = rewrite("=" + dn.attr_text, upper, f"the name {name}")[1:]
    for name, dn in list(wb.defined_names.items()):
        if dn.attr_text:
            dn.attr_text = rewrite("=" + dn.attr_text, upper, f"the name {name}")[1:]
    for ws in wb.worksheets:
        ws.title = names[ws.title]
    wb._external_links = []  # no formula uses them (checked above); the engine must not either
    if save:
        wb.save(out)
    return (names, {sheet: where for sheet, where in google.items() if where},
            {sheet: where for sheet, where in volatile.items() if where})




