"""Possible copies in a class: pairs of submissions that share what independent work does not.

Each checked file carries a fingerprint (audit.fingerprint): its bytes' hash, a hash of every
cell, its metadata (creator, last saved by, creation time) and the formula text of each wrong
column. Two files are listed with the reasons they share:

- the same bytes, or the same cells everywhere;
- the same metadata: who created it, who saved it last and when it was created, all three;
- the same wrong formula for a quantity (in R1C1 form, so row numbers do not matter).

What a class shares as a whole is not a sign of copying: a template handed out (the same
creator and creation time in many files) or a mistake the template carried (15 of 26 with the
same wrong ∂E/∂w3). A shared value counts only when at most ``RARE`` files have it; files that
this project writes (starters, answers: fixed metadata by design) are left out of that test.
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


def signals(fingerprints: dict[str, dict[str, str]]) -> list[Pair]:
    """Pairs of files (by name) that share a rare value, with the reasons, in name order."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, fp in fingerprints.items():
        for kind, value in _keys(fp):
            groups[kind, value].append(name)
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (kind, value), names in groups.items():
        if not 2 <= len(set(names)) <= RARE:
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
