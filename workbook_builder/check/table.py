"""Find the table a person made: its header row (names read as a person reads them), its
epoch rows below, and the labelled cells beside it (η, the example, initial weights)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils.cell import column_index_from_string as column_index
from openpyxl.utils.cell import coordinate_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workbook_builder.check.foreign import Cells, split_reference
from workbook_builder.check.names import normalise
from workbook_builder.check.netmodel import Model


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
    #: recomputed rows did not: audit checks that on the network's own trace (pieces.kink_names)
    piecewise: list[str] = field(default_factory=list)
    #: the model this table is judged by where it is not the workbook's (a sheet of another
    #: optimizer than the others: netdetect.tables_for)
    model: Model | None = None
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
        if name == "epoch" and "epoch" in columns and "step" in model.exprs:
            name = "step"  # Adam's step number t beside the epochs (both may be "step")
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
                    (cell := value_beside(sheet, row, col)) and \
                    not (title == table.sheet and cell == params.get("η")):  # α: no η
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
    def named_otherwise(cell: str) -> bool:
        """Is the cell labelled as something else than η (an optimizer's β2, ε beside it)?"""
        letters, r = coordinate_from_string(cell)
        c = column_index(letters)
        labels = [grid.get((r, c - 1)), grid.get((r - 1, c))]
        if any(normalise(label) == "η" for label in labels):  # "alpha" is η here, not α
            return False
        return any(name not in (None, "η") for name in map(model.normalise, labels))

    candidates = [(cell, count) for cell, count in seen.most_common()
                  if not named_otherwise(cell)]
    if candidates:
        cell, count = candidates[0]
        table.notes.append(f"η: cell {cell}, the cell the weight updates of row {row} multiply "
                           f"the gradients by ({count} of them)")
        return cell
    if literals and len(set(literals)) == 1:
        table.eta_literal = literals[0]
        table.notes.append(f"η = {literals[0]:g} is typed into the weight updates themselves: "
                           "it cannot be varied in the changed-inputs pass")
    return None
