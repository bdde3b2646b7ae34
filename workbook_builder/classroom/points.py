"""Points for a checked workbook: a rubric of parts, each worth some points and earned in
proportion to its quantities checked and right. One policy for every network:

| part      | points | quantities                                   |
| --------- | -----: | -------------------------------------------- |
| forward   |     30 | h1, a_h1, … o1, a_o1, … (every example)      |
| loss      |     15 | E1, E2, …, E_total                           |
| deltas    |     15 | δ_o1, δ_h1, … where the sheet has δ columns   |
| gradients |     20 | ∂E/∂w1 …, ∂E/∂b_h1 … (35 where no δ columns) |
| updates   |     10 | w1 … and learned biases, every later row     |
| optimizer |     10 | an optimizer's state (m_w1 …, v_w1 …, step); |
|           |        | without one, these points go to the updates  |

A mistake is charged once, at its root cause: each quantity is judged from the sheet's own
upstream cells, so a gradient computed right from a wrong δ column is right (its report says
"right given wrong δ_h1") and keeps its points, while the δ column loses its own. A sheet
written without δ columns (the course template's long-hand gradients) gives the deltas' points
to the gradients, so its total is still 100. A file with a wrong quantity never scores 100.

``--points FILE.toml`` replaces the rubric; a part names its quantities or a family::

    [forward]
    points = 30
    quantities = ["h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2"]

    [deltas]
    points = 10
    family = "deltas"        # forward, loss, deltas, gradients, updates or optimizer
    instead = "gradients"    # optional: where its points go when the sheet has none

A quantity that is wrong, not found or not checked earns nothing, and so does one checked only
in part (rows whose inputs were not numbers) unless it was right in every row before a wrong
column's non-numbers reached it and that column carries points (follow-through again; a wrong
η or input carries none, so what it spoils earns nothing); a sheet checked only in part (a
finding, precision as displayed) loses nothing more here: its verdict says so.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from workbook_builder.check.verdict import SheetReport

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class PointsError(ValueError):
    """A rubric that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Part:
    name: str
    points: float
    quantities: tuple[str, ...]  # by name; empty: every quantity of ``kind`` the network has
    kind: str | None = None
    #: the part that gets these points where the sheet has none of these quantities (the δ
    #: terms: a sheet may write its gradients out without them); None: they are lost
    instead: str | None = None


#: the families of quantities (kind_of)
FAMILIES = ("forward", "loss", "deltas", "gradients", "updates", "optimizer")
#: the default: by kind, so that it fits every network (2-2-2: forward h1 a_h1 h2 a_h2 o1 a_o1
#: o2 a_o2, loss E1 E2 E_total, δ_o1 δ_o2 δ_h1 δ_h2 where shown, gradients ∂E/∂w1..8,
#: updates w1..8)
DEFAULT_RUBRIC = (
    Part("forward", 30, (), "forward"),
    Part("loss", 15, (), "loss"),
    Part("deltas", 15, (), "deltas", instead="gradients"),
    Part("gradients", 20, (), "gradients"),
    Part("updates", 10, (), "updates"),
    # an optimizer's state (momentum's velocity, Adam's m, v, m̂, v̂, step): its own part, so
    # that its many columns do not dilute the weight updates; plain descent's updates get these
    # points (20 in all, as before the part existed)
    Part("optimizer", 10, (), "optimizer", instead="updates"),
)


def kind_of(name: str) -> str | None:
    """A quantity's part of the default rubric (δ terms: "deltas", in none of it), or None
    for a name that is no quantity (``a_h1[2]`` is a_h1 of example 2: forward)."""
    base = re.sub(r"\[\d+\]$", "", name)
    if re.fullmatch(r"∂E/∂(?:w\d+|b_[ho]\d+(?:_\d+)?)", base):
        return "gradients"
    if re.fullmatch(r"δ_[ho]\d+(?:_\d+)?", base):
        return "deltas"
    if re.fullmatch(r"w\d+|b_[ho]\d+(?:_\d+)?", base):
        return "updates"
    if re.fullmatch(r"step|(?:v|s|m|m̂|v̂)_(?:w\d+|b_[ho]\d+(?:_\d+)?)", base):
        return "optimizer"
    if re.fullmatch(r"E\d*|E_total", base):
        return "loss"
    if name == "examples of each row":  # check.batches.BATCH: the examples a mini-batch
        return "forward"  # row takes, a share of the forward pass's points
    if re.fullmatch(r"(?:a_)?[ho]\d+(?:_\d+)?", base):
        return "forward"
    return None


def read_rubric(path: Path) -> tuple[Part, ...]:
    """A rubric from TOML: one table per part with ``points`` and ``quantities``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PointsError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PointsError(f"{path}: not TOML ({exc})") from None
    parts = []
    for name, table in data.items():
        keys = set(table) if isinstance(table, dict) else set()
        if not ({"points", "quantities"} == keys or
                {"points", "family"} <= keys <= {"points", "family", "instead"}):
            raise PointsError(f"{path}: [{name}] needs 'points' and either 'quantities' (a "
                              "list of names) or 'family' (and optionally 'instead')")
        points = table["points"]
        if not isinstance(points, int | float) or isinstance(points, bool) or \
                not math.isfinite(points) or points < 0:
            raise PointsError(f"{path}: [{name}] points must be a number ≥ 0")
        if "family" in table:
            family, instead = table["family"], table.get("instead")
            for key, value in (("family", family), ("instead", instead)):
                if value is not None and value not in FAMILIES:
                    raise PointsError(f"{path}: [{name}] {key} must be one of "
                                      f"{', '.join(FAMILIES)}, not {value!r}")
            parts.append(Part(name, float(points), (), family, instead))
            continue
        quantities = table["quantities"]
        if not isinstance(quantities, list) or not quantities or \
                not all(isinstance(q, str) for q in quantities):
            raise PointsError(f"{path}: [{name}] quantities must be a list of names")
        unknown = [q for q in quantities if kind_of(q) is None]
        if unknown:
            raise PointsError(f"{path}: [{name}] names no quantity {', '.join(unknown)}; "
                              "quantities are named as the sheets' headers: h1, a_h1, o1, "
                              "a_o1, E1, E_total, δ_o1, ∂E/∂w1, w1, b_h1, a_h1[2] …")
        parts.append(Part(name, float(points), tuple(quantities)))
    if not parts:
        raise PointsError(f"{path}: no parts; give at least one [part] table")
    kinds = {p.kind for p in parts if p.kind is not None}
    for p in parts:
        if p.instead is not None and p.instead not in kinds:
            raise PointsError(f"{path}: [{p.name}] instead = {p.instead!r} names no part of "
                              "the rubric (give that family a part of its own)")
    return tuple(parts)


@dataclass(frozen=True)
class PartScore:
    """One part of the rubric on one file: what it earned of what it was worth there (a part
    the sheet has none of, worth 0, where its points went ``instead``)."""

    name: str
    earned: float
    worth: float
    wrong: tuple[str, ...]  # its quantities that earned nothing


@dataclass(frozen=True)
class Score:
    points: float
    out_of: float
    lost: list[str]  # "gradients: ∂E/∂w3, ∂E/∂w4 (−8.75)"
    #: per part (findings cost ``findings`` on top), for platforms that show tests by part
    parts: tuple[PartScore, ...] = ()
    findings: float = 0.0


#: what a finding (a mistake in no quantity's column: a helper column that calls RAND) costs,
#: as a share of the rubric's total, so that a WRONG sheet never scores full points
FINDING_SHARE = 0.05


def score(reports: list[SheetReport], rubric: tuple[Part, ...] = DEFAULT_RUBRIC) -> Score:
    """Points earned: each part's points × the share of its quantities that are right, less
    FINDING_SHARE of the total for each finding. With several sheets (tables: the builder's
    one per learning rate), each is graded and the file's score is their mean, so a mistake
    in any of them costs points."""
    sheets = [_score({c.name for c in r.columns if c.ok is True and
                      (c.unjudged_from is None or any(map(kind_of, c.given_wrong)))},
                     [*(c.name for c in r.columns), *r.missing], rubric, r.findings)
              for r in reports]
    if not sheets:
        return _score(set(), [], rubric)
    if len(sheets) == 1:
        return sheets[0]
    lost = [f"sheet {r.sheet!r}: {line}" for r, s in zip(reports, sheets, strict=True)
            for line in s.lost]
    n = len(sheets)
    parts = tuple(PartScore(p.name, sum(s.parts[k].earned for s in sheets) / n,
                            sum(s.parts[k].worth for s in sheets) / n,
                            tuple(dict.fromkeys(f"{r.sheet}!{q}" for r, s in
                                                zip(reports, sheets, strict=True)
                                                for q in s.parts[k].wrong)))
                  for k, p in enumerate(sheets[0].parts))
    return Score(sum(s.points for s in sheets) / n, sheets[0].out_of,
                 [f"{line} (÷ {n} sheets)" for line in lost], parts,
                 sum(s.findings for s in sheets) / n)


def _score(right: set[str], names: list[str], rubric: tuple[Part, ...],
           findings: list[str] | None = None) -> Score:
    """``names``: the quantities the network has (found or missing), for parts by kind."""
    earned, lost = 0.0, []
    found = {part.name: part.quantities or tuple(dict.fromkeys(
        q for q in names if kind_of(q) == part.kind)) for part in rubric}
    extra: dict[str, float] = {}  # points moved from a part the sheet has none of
    parts: list[PartScore] = []
    for part in rubric:
        if not found[part.name] and part.instead is not None:
            into = next((p for p in rubric if p.kind == part.instead and found[p.name]), None)
            if into is not None:
                extra[into.name] = extra.get(into.name, 0.0) + part.points
    for part in rubric:
        quantities = found[part.name]
        worth = part.points + extra.get(part.name, 0.0)
        if not quantities:
            moved = part.instead is not None and any(p.kind == part.instead and found[p.name]
                                                     for p in rubric)
            if not moved:
                lost.append(f"{part.name}: none found (−{part.points:g})")
            parts.append(PartScore(part.name, 0.0, 0.0 if moved else part.points,
                                   () if moved else ("none found",)))
            continue
        missing = [q for q in quantities if q not in right]
        share = worth * (len(quantities) - len(missing)) / len(quantities)
        parts.append(PartScore(part.name, share, worth, tuple(missing)))
        earned += share
        if missing:
            lost.append(f"{part.name}: {', '.join(missing)} (−{worth - share:g})")
    total = sum(p.points for p in rubric)
    charged = 0.0
    for finding in findings or []:
        cost = min(earned, FINDING_SHARE * total)
        earned -= cost
        charged += cost
        lost.append(f"finding: {finding} (−{cost:g})")
    return Score(earned, total, lost, tuple(parts), charged)
