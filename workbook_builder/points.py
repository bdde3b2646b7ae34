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
import sys
from dataclasses import dataclass
from pathlib import Path

from workbook_builder.reference import FORWARD, GRADIENTS, WEIGHTS
from workbook_builder.verdict import SheetReport

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
    quantities: tuple[str, ...]


DEFAULT_RUBRIC = (
    Part("forward", 30, FORWARD[:8]),
    Part("loss", 15, FORWARD[8:]),
    Part("gradients", 35, GRADIENTS),
    Part("updates", 20, WEIGHTS),
)
KNOWN = {*FORWARD, *GRADIENTS, *WEIGHTS, "δ_o1", "δ_o2", "δ_h1", "δ_h2"}


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
        unknown = [q for q in quantities if q not in KNOWN]
        if unknown:
            raise PointsError(f"{path}: [{name}] names no quantity {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(KNOWN))}")
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
                         rubric) for r in reports]
    return max(candidates, key=lambda s: s.points, default=_score(set(), rubric))


def _score(right: set[str], rubric: tuple[Part, ...]) -> Score:
    earned, lost = 0.0, []
    for part in rubric:
        missing = [q for q in part.quantities if q not in right]
        share = part.points * (len(part.quantities) - len(missing)) / len(part.quantities)
        earned += share
        if missing:
            lost.append(f"{part.name}: {', '.join(missing)} (−{part.points - share:g})")
    return Score(earned, sum(p.points for p in rubric), lost)
