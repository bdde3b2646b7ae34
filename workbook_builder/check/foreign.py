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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openpyxl
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.cell import coordinate_from_string, get_column_letter
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder.isolation import out_of_memory

if TYPE_CHECKING:
    from workbook_builder.check.netmodel import Model

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
    return {key: formula_text(c.value) for key, c in ws._cells.items() if c.value is not None}


def formula_text(value: object) -> object:
    """A cell's content with an array (Ctrl+Shift+Enter) formula as its formula text."""
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


def engine_copy(wb: openpyxl.Workbook, out: Path
                ) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Save the copy the engine reads: plain sheet names, no external links.

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
    wb.save(out)
    return (names, {sheet: where for sheet, where in google.items() if where},
            {sheet: where for sheet, where in volatile.items() if where})


@dataclass
class Table:
    """Where a sheet keeps its quantities: columns of the table, and labelled single cells."""

    sheet: str
    header_row: int  # 1-based
    columns: dict[str, int]  # quantity -> 1-based column
    rows: list[int]  # 1-based rows of the epochs
    params: dict[str, str] = field(default_factory=dict)  # i1/t1/b1/η -> A1 of the value cell
    #: the sheet of a value cell that is not on the table's own (the builder's Network sheet)
    param_sheets: dict[str, str] = field(default_factory=dict)
    #: each value cell's content (a formula or a number), wherever it is
    param_content: dict[str, object] = field(default_factory=dict)
    engine_sheet: str = ""  # the sheet's name in the engine's copy (engine_copy)
    engine_sheets: dict[str, str] = field(default_factory=dict)  # every sheet's, likewise
    unknown: dict[int, str] = field(default_factory=dict)  # column -> header no rule matched
    notes: list[str] = field(default_factory=list)  # how columns and η were found
    eta_literal: float | None = None  # η typed into the update formulas themselves
    repeated: list[int] = field(default_factory=list)  # rows proved by formula text (below)
    #: columns proved by their text only if the rows below take no piece (of MAX, MIN, IF) the
    #: recomputed rows did not: audit checks that on the network's own trace (netmodel.kinks)
    piecewise: list[str] = field(default_factory=list)
    #: mistakes of the whole table found while reading it (a stochastic sheet where the
    #: network takes full-batch steps): the sheet is wrong whatever its columns
    findings: list[str] = field(default_factory=list)


MAX_HEADER_ROW = 200
MAX_TEXT_ROWS = 3  # rows of text (formula descriptions) allowed between header and epoch 0


def header_candidates(grid: Cells) -> dict[int, dict[int, str]]:
    """Row -> column -> the header text of every text cell in the top rows."""
    rows: dict[int, dict[int, str]] = {}
    for (r, c), value in grid.items():
        if r <= MAX_HEADER_ROW and isinstance(value, str) and not value.startswith("="):
            rows.setdefault(r, {})[c] = value
    return rows


def match_header(texts: dict[int, str], model: Model
                 ) -> tuple[dict[str, int], dict[int, str], list[str]]:
    """Quantity -> column from a header row's texts, then the unmatched columns, and notes.

    A header no rule reads is placed by its neighbours: a column between w2 and w4 holds w3.
    """
    read = model.normalise
    columns: dict[str, int] = {}
    for c, text in sorted(texts.items()):
        name = read(text)
        if name is not None and name != "η":
            columns.setdefault(name, c)
    unknown = {c: t for c, t in texts.items() if c not in columns.values()}
    notes = []
    for family in model.families:
        for k, name in enumerate(family):
            if name in columns:
                continue
            before = columns.get(family[k - 1]) if k > 0 else None
            after = columns.get(family[k + 1]) if k + 1 < len(family) else None
            if before is None and after is None:
                continue
            col = before + 1 if before is not None else after - 1  # type: ignore[operator]
            if col in unknown and (after is None or after == col + 1) and (
                    before is None or before == col - 1):
                columns[name] = col
                neighbours = " and ".join(family[j] for j in (k - 1, k + 1)
                                          if 0 <= j < len(family) and family[j] in columns)
                notes.append(f"column {get_column_letter(col)}, headed {unknown.pop(col)!r}, "
                             f"read as {name} from its place beside {neighbours}")
    return columns, unknown, notes


def find_table(ws: Worksheet, grid: Cells, model: Model,
               grids: dict[str, Cells] | None = None) -> Table | None:
    """The header row naming the most quantities (all weights but two, at least six of the
    2-2-2 network's), and what is below; value cells are looked for on the table's sheet, then
    on the others of ``grids``."""
    weights = model.weights
    enough = max(1, len(weights) - 2)
    best: tuple[int, dict[str, int], dict[int, str], list[str]] | None = None
    for r, texts in sorted(header_candidates(grid).items()):
        columns, unknown, notes = match_header(texts, model)
        if sum(w in columns for w in weights) >= enough and (best is None or
                                                             len(columns) > len(best[1])):
            best = (r, columns, unknown, notes)
    if best is None or "w1" not in best[1]:
        return None
    header, columns, unknown, notes = best
    rows, skipped = epoch_rows(grid, header, columns)
    if skipped:
        notes.append(f"{skipped} row(s) of text under the header skipped")
    table = Table(ws.title, header, columns, rows, unknown=unknown, notes=notes)
    if rows:
        find_params(grid, table, model, grids or {})
    return table


def epoch_rows(grid: Cells, header: int, columns: dict[str, int]) -> tuple[list[int], int]:
    """Rows of the table: from the header down while w1 holds a number or a formula. Up to
    MAX_TEXT_ROWS rows right under the header that hold only text in the table's columns
    (formula descriptions, units; w1's cell may be blank there) are skipped."""
    w1 = columns["w1"]
    table_columns = set(columns.values())
    rows: list[int] = []
    skipped = 0
    r = header + 1
    while True:
        value = grid.get((r, w1))
        if is_number(value) or (isinstance(value, str) and value.startswith("=")):
            rows.append(r)
        elif not rows and skipped < MAX_TEXT_ROWS and _text_only(grid, r, table_columns):
            skipped += 1
        else:
            return rows, skipped
        r += 1


def _text_only(grid: Cells, row: int, columns: set[int]) -> bool:
    """Does the row hold text, and nothing but text, in the given columns?"""
    values = [v for c in columns if (v := grid.get((row, c))) is not None]
    return bool(values) and all(isinstance(v, str) and not v.startswith("=") for v in values)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_beside(grid: Cells, row: int, col: int) -> str | None:
    """The value cell of a label: right of it, two right (past a unit or a note), or below
    (A1), or None."""
    for r, c in ((row, col + 1), (row, col + 2), (row + 1, col)):
        v = grid.get((r, c))
        if is_number(v) or (isinstance(v, str) and v.startswith("=")):
            return f"{get_column_letter(c)}{r}"
    return None


def find_params(grid: Cells, table: Table, model: Model,
                grids: dict[str, Cells] | None = None) -> None:
    """The examples' and η's value cells (into ``table.params``): η is the cell the weight
    updates multiply (read from their formulas); the others, and η when no formula shows it,
    from labelled cells — on the table's sheet, else on another sheet of ``grids`` (the
    builder keeps the examples on its Network sheet), where a header row of names (i1 i2 t1)
    over one row per example gives each example's values."""
    given = (*model.given, *model.fixed)
    read = model.normalise
    examples = len(model.spec.examples)
    wanted = {*given, "η"} - table.columns.keys()
    in_table = set(table.rows) | {table.header_row}
    table_columns = set(table.columns.values())
    params: dict[str, str] = {}
    if "η" in wanted and (eta := eta_from_updates(grid, table, model)) is not None:
        params["η"] = eta
    if table.eta_literal is not None:  # the updates carry η themselves: a labelled cell that
        wanted.discard("η")  # they do not use is not η, and must not be varied as η
    others = [(title, g) for title, g in (grids or {}).items() if title != table.sheet]
    for title, sheet in [(table.sheet, grid), *others]:
        found: dict[str, str] = {}
        for (row, col), value in sorted(sheet.items()):
            if title == table.sheet and row in in_table and col in table_columns:
                continue
            name = read(value)
            first = read(f"{value}[1]") if examples > 1 and isinstance(value, str) else None
            if first is not None and first.endswith("[1]") and first in wanted:
                name = first[:-3]
                for k in range(1, examples + 1):  # a header over one row per example
                    below = sheet.get((row + k, col))  # text too ("1,0"): judged later
                    if (f"{name}[{k}]" not in params and f"{name}[{k}]" not in found and
                            below is not None and not isinstance(below, bool) and
                            read(below) is None):
                        found[f"{name}[{k}]"] = f"{get_column_letter(col)}{row + k}"
                continue
            if name in wanted and name not in params and name not in found and \
                    (cell := value_beside(sheet, row, col)):
                found[name] = cell
                if name == "η":
                    table.notes.append(f"η: cell {cell}, beside the label {value!r}")
        for name, cell in found.items():
            params[name] = cell
            letters, r = coordinate_from_string(cell)
            table.param_content[name] = sheet.get((r, column_index(letters)))
            if title != table.sheet:
                table.param_sheets[name] = title
        wanted -= found.keys()
        if title != table.sheet and found:
            table.notes.append(f"{', '.join(sorted(found))}: read from sheet {title!r}")
        if not wanted - {"η"}:
            break
    table.params = params
    if "η" in params and "η" not in table.param_content:
        letters, r = coordinate_from_string(params["η"].replace("$", ""))
        table.param_content["η"] = grid.get((r, column_index(letters)))


def eta_from_updates(grid: Cells, table: Table, model: Model) -> str | None:
    """The cell that the second row's weight updates multiply the gradients by, if one."""
    if len(table.rows) < 2:
        return None
    row = table.rows[1]
    table_columns = set(table.columns.values())
    seen: Counter[str] = Counter()
    literals: list[float] = []
    for name in model.parameters:
        formula = grid.get((row, table.columns.get(name, 0)))
        if not isinstance(formula, str) or not formula.startswith("="):
            continue
        for token in Tokenizer(formula).items:
            if token.type == Token.OPERAND and token.subtype == Token.RANGE:
                sheet, ref = split_reference(token.value)
                if sheet is not None or ":" in ref:
                    continue
                col_text, r = coordinate_from_string(ref.replace("$", ""))
                if column_index(col_text) not in table_columns or r not in table.rows:
                    seen[f"{col_text}{r}"] += 1
            elif token.type == Token.OPERAND and token.subtype == Token.NUMBER:
                literals.append(float(token.value))
    if seen:
        cell, count = seen.most_common(1)[0]
        table.notes.append(f"η: cell {cell}, the cell the weight updates of row {row} multiply "
                           f"the gradients by ({count} of them)")
        return cell
    if literals and len(set(literals)) == 1:
        table.eta_literal = literals[0]
        table.notes.append(f"η = {literals[0]:g} is typed into the weight updates themselves: "
                           "it cannot be varied in the changed-inputs pass")
    return None


# --- rows that repeat a formula ----------------------------------------------------------
#: Epoch rows the engine recomputes at least. Below them, a row whose every cell holds the same
#: formula in R1C1 form as the row above computes the same function of its own row's (and the
#: row above's) cells: where the recomputed rows are right at two sets of inputs, so is it.
RECOMPUTED_ROWS = 12
_CELL = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)")
#: the same, standing alone in formula text (not inside LOG10( or a longer name)
_CELL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_.$])(\$?)([A-Za-z]{1,3})(\$?)(\d+)(?![A-Za-z0-9_(.!])")
_QUOTED_SHEET = re.compile(r"'(?:[^']|'')*'!")


def r1c1(content: object, row: int, col: int) -> object:
    """A cell's content with its relative references written as offsets (``B5`` in D6 is
    ``C[-2]R[-1]``): equal down a column that repeats one formula. Non-formulas as they are."""
    if not (isinstance(content, str) and content.startswith("=")):
        return content
    if '"' not in content:
        # no text: what stands alone as letters-then-digits is a cell reference (a function
        # such as LOG10 is followed by "(", a sheet name such as S1 by "!"), so a regex does
        # it fast (the tokenizer below costs ~0.2 ms a formula); quoted sheet names are kept
        quoted = _QUOTED_SHEET.findall(content)
        pieces = [_CELL_IN_TEXT.sub(lambda m: _offset(m, row, col), p)
                  for p in _QUOTED_SHEET.split(content)]
        return "".join(p + q for p, q in zip(pieces, [*quoted, ""], strict=True))
    parts = []
    for token in Tokenizer(content).items:
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, rest = split_reference(token.value)
            refs = []
            for part in rest.split(":"):
                m = _CELL.fullmatch(part)
                refs.append(part if m is None else _offset(m, row, col))
            parts.append((f"{sheet}!" if sheet is not None else "") + ":".join(refs))
        else:
            parts.append(token.value)
    return "=" + "".join(parts)


def _offset(m: re.Match[str], row: int, col: int) -> str:
    c, r = column_index(m[2].upper()), int(m[4])
    return (f"C{c}" if m[1] else f"C[{c - col}]") + (f"R{r}" if m[3] else f"R[{r - row}]")


#: Functions that are the same smooth function of their arguments wherever the formula
#: stands: a formula built from these and + − × ÷ ^ alone, right at the recomputed rows under
#: two sets of inputs, is right on every row that repeats it. Anything else — a branch (IF,
#: CHOOSE, a comparison, ROUND, ABS, a lookup), a value that depends on where the formula
#: stands (ROW, COLUMN, OFFSET, INDIRECT, INDEX, CELL), text, a name — may take another arm
#: lower down, so a column that uses one is recomputed on every row.
SMOOTH = frozenset({"EXP(", "LN(", "LOG(", "LOG10(", "SQRT(", "POWER(", "POW(", "SUM(",
                    "PRODUCT(", "SUMSQ(", "SUMPRODUCT(", "TANH(", "SINH(", "COSH("})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "^", "%"})
#: what a piecewise function (ReLU, its derivative, softmax's max) is written with
PIECEWISE = frozenset({"MAX(", "MIN(", "IF(", "ABS("})
_COMPARISONS = frozenset({">", "<", ">=", "<=", "=", "<>"})
GUARD = 100.0  # MIN(709, −x): a constant this large only stops EXP overflowing


def not_provable_by_text(formula: object, table_rows: range | None = None,
                         piecewise: tuple[int, set[int]] | None = None) -> str | None:
    """Why a row that repeats this formula (in R1C1 form) is not proved by the rows above it:
    the first construct that may behave differently lower down, or None when the formula is
    plain arithmetic of smooth functions (see SMOOTH) of cells at fixed offsets, or of fixed
    cells outside ``table_rows`` (η above the table, $B$1).

    With ``piecewise`` (the formula's row, and the columns of the network's kinked sums: a
    ReLU neuron's sum or activation, softmax's output sums) MAX, MIN, IF, ABS and comparisons
    are allowed too, when everything inside them is a number or a cell of its own row in
    those columns: the piece a row takes is then fixed by those sums alone, which audit
    checks on the network's trace (netmodel.uncovered_pieces)."""
    if not (isinstance(formula, str) and formula.startswith("=")):
        return None
    try:
        tokens = Tokenizer(formula).items
    except Exception:
        return "it cannot be parsed"
    stack: list[str] = []
    for k, token in enumerate(tokens):
        kind, value = token.type, token.value
        inside = piecewise is not None and any(n in PIECEWISE for n in stack)
        if token.subtype == Token.OPEN:
            stack.append(value.upper() if kind == Token.FUNC else "(")
        elif token.subtype == Token.CLOSE and stack:
            stack.pop()
        if kind == Token.FUNC and token.subtype == Token.OPEN:
            name = value.upper()
            if name in SMOOTH:
                continue
            if name in ("MIN(", "MAX(") and _is_guard(tokens, k):
                stack[-1] = "("  # a guard, not a piece
                continue
            if piecewise is not None and name in PIECEWISE:
                continue
            return f"it calls {name[:-1]}"
        if kind == Token.OP_IN and value not in _ARITHMETIC and not (
                inside and value in _COMPARISONS):
            return f"it compares or joins values ({value})"
        if inside and kind == Token.OPERAND and token.subtype == Token.NUMBER and \
                float(value) != 0 and _moves_a_kink(tokens, k, stack):
            return (f"a piecewise function compares with or shifts by {value}: its pieces "
                    "are not the sums' signs the network's trace follows")
        if kind == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, rest = split_reference(value)
            if not all(_CELL.fullmatch(part) for part in rest.split(":")):
                return f"it uses the name {value}"
            for part in rest.split(":"):  # (a cell of another sheet is no row of the table)
                m = _CELL.fullmatch(part)
                if m is not None and m[3] and sheet is None and (
                        table_rows is None or int(m[4]) in table_rows):
                    return f"it refers to a fixed row of the table ({value})"
            if inside and piecewise is not None:
                m = _CELL.fullmatch(rest)
                if m is None or "!" in value or m[1] or m[3] or int(m[4]) != piecewise[0] or \
                        column_index(m[2].upper()) not in piecewise[1]:
                    return (f"a piecewise function reads {value}, not a sum of its own row "
                            "whose sign the network's trace follows")
        if kind == Token.OPERAND and token.subtype in (Token.TEXT, Token.LOGICAL, Token.ERROR):
            return f"it holds {value}"
    return None


def _moves_a_kink(tokens: list[Token], k: int, stack: list[str]) -> bool:
    """Does the number at ``tokens[k]``, inside MAX/MIN/IF/ABS, move where the pieces meet
    away from a sum's sign: compared with (z > 0.5), added to (ABS(z − 0.5)), or a bare
    argument of MAX/MIN (MAX(0.5, z))? A factor (MAX(0.01*z, z)) or an IF's value (1, 0.01)
    does not."""
    before = tokens[k - 1] if k > 0 else None
    after = tokens[k + 1] if k + 1 < len(tokens) else None
    if before is not None and before.type == Token.OP_PRE:  # -0.5: look past the sign
        before = tokens[k - 2] if k > 1 else None
    for t in (before, after):
        if t is not None and t.type == Token.OP_IN and (t.value in _COMPARISONS or
                                                          t.value in ("+", "-")):
            return True
    bare = (before is None or before.subtype == Token.OPEN or before.type == Token.SEP) and \
        (after is None or after.subtype == Token.CLOSE or after.type == Token.SEP)
    return bare and bool(stack) and stack[-1] in ("MAX(", "MIN(")


def _is_guard(tokens: list[Token], k: int) -> bool:
    """Is the MIN/MAX call opening at ``tokens[k]`` an overflow guard: two arguments, one of
    them a constant of magnitude ≥ GUARD?"""
    depth, args, current = 0, [], []  # type: ignore[var-annotated]
    for token in tokens[k + 1:]:
        if token.type == Token.FUNC and token.subtype == Token.CLOSE and depth == 0:
            args.append(current)
            break
        if token.type == Token.SEP and token.subtype == Token.ARG and depth == 0:
            args.append(current)
            current = []
            continue
        if token.subtype == Token.OPEN:
            depth += 1
        elif token.subtype == Token.CLOSE:
            depth -= 1
        current.append(token)
    if len(args) != 2:
        return False
    for arg in args:
        values = [t.value for t in arg]
        if values and values[-1].replace(".", "", 1).isdigit() and all(
                v in ("-", "+") for v in values[:-1]) and float(values[-1]) >= GUARD:
            return True
    return False


def rows_to_recompute(grid: Cells, table: Table, kinks: set[str] | None = None,
                      at_least: int = RECOMPUTED_ROWS) -> int:
    """How many of the table's first rows the engine must recompute: RECOMPUTED_ROWS, or more
    when a lower row breaks its column's pattern (a typed number, another formula), or all of
    them when a column's formula is not proved by its text (see not_provable_by_text; a note
    says which)."""
    rows = table.rows
    if len(rows) <= at_least:
        return len(rows)
    last_odd = 0
    columns = [c for name, c in table.columns.items() if name != "epoch"]  # typed 0, 1, 2, ...
    kink_columns = {table.columns[k] for k in kinks or () if k in table.columns}
    for col in (*columns, *table.unknown):
        formula = grid.get((rows[1], col))
        span = range(rows[0], rows[-1] + 1)
        why = not_provable_by_text(formula, span)
        if why is not None and kink_columns and not_provable_by_text(
                formula, span, (rows[1], kink_columns)) is None:
            table.piecewise.append(get_column_letter(col))
            why = None
        if why is not None:
            table.piecewise.clear()
            table.notes.append(f"every row recomputed: column {get_column_letter(col)}'s "
                               f"formula ({formula}) is not proved by its text, since {why}")
            return len(rows)
        pattern = r1c1(formula, rows[1], col)
        for k in range(len(rows) - 1, last_odd, -1):  # from the bottom: stop at the first odd
            if r1c1(grid.get((rows[k], col)), rows[k], col) != pattern:
                last_odd = k
                break
    return max(at_least, last_odd + 1)
