"""Points for a checked workbook: a rubric of parts (forward pass, loss, gradients, updates),
each worth some points and earned in proportion to its quantities checked and right.

The default rubric is 100 points; ``--points FILE.toml`` replaces it::

    [forward]
    points = 30
    quantities = ["h1", "a_h1", "h2", "a_h2", "o1", "a_o1", "o2", "a_o2"]

A quantity that is wrong, not found, not checked or checked only in part (rows whose inputs
were not numbers) earns nothing; a sheet checked only in
part (a finding, precision as displayed) loses nothing more here: its verdict says so.
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


#: the default: by kind, so that it fits every network (2-2-2: forward h1 a_h1 h2 a_h2 o1 a_o1
#: o2 a_o2, loss E1 E2 E_total, gradients ∂E/∂w1..8, updates w1..8)
DEFAULT_RUBRIC = (
    Part("forward", 30, (), "forward"),
    Part("loss", 15, (), "loss"),
    Part("gradients", 35, (), "gradients"),
    Part("updates", 20, (), "updates"),
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
    if re.fullmatch(r"E\d*|E_total", base):
        return "loss"
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
        if not isinstance(table, dict) or set(table) != {"points", "quantities"}:
            raise PointsError(f"{path}: [{name}] needs exactly 'points' and 'quantities'")
        points, quantities = table["points"], table["quantities"]
        if not isinstance(points, int | float) or isinstance(points, bool) or \
                not math.isfinite(points) or points < 0:
            raise PointsError(f"{path}: [{name}] points must be a number ≥ 0")
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
    return tuple(parts)


@dataclass(frozen=True)
class Score:
    points: float
    out_of: float
    lost: list[str]  # "gradients: ∂E/∂w3, ∂E/∂w4 (−8.75)"


def score(reports: list[SheetReport], rubric: tuple[Part, ...] = DEFAULT_RUBRIC) -> Score:
    """Points earned: each part's points × the share of its quantities that are right. With
    several sheets (tables), the best-scoring one counts (a student's working copies)."""
    candidates = [_score({c.name for c in r.columns if c.ok is True and c.unjudged_from is None},
                         [*(c.name for c in r.columns), *r.missing], rubric) for r in reports]
    return max(candidates, key=lambda s: s.points, default=_score(set(), [], rubric))


def _score(right: set[str], names: list[str], rubric: tuple[Part, ...]) -> Score:
    """``names``: the quantities the network has (found or missing), for parts by kind."""
    earned, lost = 0.0, []
    for part in rubric:
        quantities = part.quantities or tuple(dict.fromkeys(
            q for q in names if kind_of(q) == part.kind))
        if not quantities:  # nothing of the kind found or missing: none earned
            lost.append(f"{part.name}: none found (−{part.points:g})")
            continue
        missing = [q for q in quantities if q not in right]
        share = part.points * (len(quantities) - len(missing)) / len(quantities)
        earned += share
        if missing:
            lost.append(f"{part.name}: {', '.join(missing)} (−{part.points - share:g})")
    return Score(earned, sum(p.points for p in rubric), lost)
