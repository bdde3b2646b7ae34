"""What a check says about the file besides its columns: the student id it holds, its
fingerprint for the copy signals (classroom/copies.py), its settings' caveats and metadata
signals."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from openpyxl.utils.cell import (
    column_index_from_string,
)

from workbook_builder.check.foreign import Cells
from workbook_builder.check.repeats import r1c1
from workbook_builder.check.verdict import SheetReport


def fingerprint(path: Path, wb: Any, grids: dict[str, Cells], report: SheetReport,
                grid: Cells) -> dict[str, str]:
    """What two independent submissions do not share (see copies.py)."""
    props = wb.properties
    content = hashlib.sha256()
    for title in sorted(grids):
        for key, value in sorted(grids[title].items()):
            content.update(f"{title}\x00{key}\x00{value!r}\x01".encode())
    out = {"file": hashlib.sha256(path.read_bytes()).hexdigest(),
           "content": content.hexdigest(),
           "creator": str(props.creator or ""),
           "last_modified_by": str(props.lastModifiedBy or ""),
           "created": props.created.isoformat() if props.created else ""}
    for c in report.columns:
        if c.ok is False and c.first_wrong_row is not None:
            col = column_index_from_string(c.column) if c.column.isalpha() else 0
            formula = grid.get((c.first_wrong_row, col))
            if isinstance(formula, str) and formula.startswith("="):
                out[f"wrong {c.name}"] = str(r1c1(formula, c.first_wrong_row, col))
    return out



#: labels of a student's id (the starter writes "student id"); a bare "id" is too common a
#: header to take its neighbour for one
ID_LABELS = ("studentid", "student", "studentnumber", "matriculationnumber")



def student_id(grid: Cells) -> str | None:
    """The value right of a "student id" label (a starter workbook has one), as text."""
    for (r, c), value in sorted(grid.items()):
        if isinstance(value, str) and re.sub(r"[\s_.:#-]", "", value.lower()) in ID_LABELS:
            found = grid.get((r, c + 1))
            if isinstance(found, float) and found.is_integer():
                found = int(found)
            if isinstance(found, int | str) and not str(found).startswith("=") and \
                    str(found).strip():
                return str(found).strip()
    return None



#: what the builder writes as the file's author (writer.py): its own output is not hand-made
BUILDER_AUTHOR = "workbook_builder"



def workbook_remarks(wb: Any) -> tuple[list[str], list[str]]:
    """Caveats (the numbers checked may not be what Excel shows) and signals for the grader,
    from the workbook's settings and metadata."""
    caveats, signals = [], []
    calc = getattr(wb, "calculation", None)
    if calc is not None and calc.fullPrecision is False:
        caveats.append("the workbook is set to 'precision as displayed' (Excel: File > Options "
                       "> Advanced): Excel rounds every value to the digits it shows, so its "
                       "numbers are not the ones checked here; turn the setting off and check "
                       "again")
    creator = (wb.properties.creator or "").strip()
    if creator == BUILDER_AUTHOR:
        signals.append("made by workbook_builder itself (its metadata says so), not by hand")
    return caveats, signals
