"""Possible copies in a class: pairs of submissions that share what independent work does not.

Each checked file carries a fingerprint (audit.fingerprint): its bytes' hash, a hash of every
cell, its metadata (creator, last saved by, creation time) and the formula text of each wrong
column. Two files are listed with the reasons they share:

- the same bytes, or the same cells everywhere;
- the same metadata: who created it, who saved it last and when it was created, all three;
- the same wrong formula for a quantity (in R1C1 form, so row numbers do not matter).

The same bytes or the same cells count in a group of any size (a ring of four copies is
four rows, each naming the other three), except a file the teacher handed out: one given as a
template (``check --template FILE``) is no one's copy. What a class shares as a whole is not a
sign of copying otherwise: a template's metadata (the same creator and creation time in many
files) or a mistake the template carried (15 of 26 with the same wrong ∂E/∂w3). Those values
count only when at most ``RARE`` files have them; files that this project writes (starters,
answers: fixed metadata by design) are left out of the metadata test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

#: a value shared by more files than this is the class's (a template), not a pair's
RARE = 3
STARTER_AUTHOR = "workbook_builder assign"
#: files this project writes carry fixed metadata (same bytes on every build): not a signal
OUR_AUTHORS = ("workbook_builder", STARTER_AUTHOR)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    reasons: tuple[str, ...]


#: what a file shares with another only if it was copied, whatever the group's size
WHOLE = ("file", "content")


def signals(fingerprints: dict[str, dict[str, str]],
            handed_out: list[dict[str, str]] | None = None) -> list[Pair]:
    """Pairs of files (by name) that share a copy's value, with the reasons, in name order.

    Args:
        handed_out: fingerprints of the files the teacher gave out (templates): their bytes
            and cells are nobody's copy.
    """
    given = {(kind, fp[kind]) for fp in handed_out or [] for kind in WHOLE if fp.get(kind)}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, fp in fingerprints.items():
        for kind, value in _keys(fp):
            groups[kind, value].append(name)
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (kind, value), names in groups.items():
        if (kind, value) in given or len(set(names)) < 2 or \
                (kind not in WHOLE and len(set(names)) > RARE):
            continue
        for i, a in enumerate(sorted(set(names))):
            for b in sorted(set(names))[i + 1:]:
                reasons[a, b].append(_describe(kind, value))
    out = []
    for (a, b), found in sorted(reasons.items()):
        if _describe("file", "") in found:  # the same bytes have the same cells, of course
            found = [r for r in found if r != _describe("content", "")]
        out.append(Pair(a, b, tuple(dict.fromkeys(found))))
    return out


def _keys(fp: dict[str, str]) -> list[tuple[str, str]]:
    keys = []
    if fp.get("file"):
        keys.append(("file", fp["file"]))
    if fp.get("content"):
        keys.append(("content", fp["content"]))
    meta = (fp.get("creator", ""), fp.get("last_modified_by", ""), fp.get("created", ""))
    if all(meta) and meta[0] not in OUR_AUTHORS:
        keys.append(("metadata", "\x00".join(meta)))
    keys += [(k, v) for k, v in fp.items() if k.startswith("wrong ")]
    return keys


def _describe(kind: str, value: str) -> str:
    if kind == "file":
        return "byte-identical files"
    if kind == "content":
        return "the same cells (formulas and values) everywhere"
    if kind == "metadata":
        creator, saved_by, created = value.split("\x00")
        return (f"the same metadata: created by {creator!r} at {created}, last saved by "
                f"{saved_by!r}")
    return f"the same wrong formula for {kind.removeprefix('wrong ')}: {value}"
