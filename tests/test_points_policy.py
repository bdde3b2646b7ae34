"""One points policy for every network (classroom/points.py): every family the sheet has
carries points, δ terms included; a mistake is charged once, at its root cause, and what is
computed right from it keeps its points ("right given wrong X"); WRONG never scores 100."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import planted
from tests.conftest import REPO
from tests.student import make
from workbook_builder.check.verdict import ColumnResult, SheetReport
from workbook_builder.classroom import points
from workbook_builder.network.spec import Run
from workbook_builder.sheet import writer


def charged(score: points.Score) -> set[str]:
    """The quantities a score's lost lines name ("gradients: ∂E/∂w3, ∂E/∂w4 (−5)")."""
    return {q for line in score.lost for q in line.split(": ", 1)[1].rsplit(" (", 1)[0]
            .split(", ")}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbook_builder", "check", str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_delta_slip_on_the_course_network_is_charged_once_at_the_delta(
        tmp_path: Path) -> None:
    """The course's 2-2-2 sheet as the builder writes it (δ columns shown), δ_h2 doubled."""
    source = writer.build(Run(epochs=6, learning_rates=(0.5,)), tmp_path / "course.xlsx")
    path = planted.plant(source, tmp_path / "slip.xlsx", "δ_h2", lambda f, r: f"=2*({f[1:]})")
    done = check(path)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "δ_h2" in out and "WRONG" in out
    for follower in ("∂E/∂w3", "∂E/∂w4"):
        line = next(x for x in out.splitlines() if x.strip().startswith(follower))
        assert "ok (right given wrong δ_h2)" in line, line
    # 4 δ columns worth 15: one wrong costs 3.75; the gradients keep their 20
    assert "score: 96.25 of 100 points" in out


def test_a_sheet_without_delta_columns_gives_their_points_to_the_gradients(
        tmp_path: Path) -> None:
    right = make(tmp_path / "right.xlsx")
    done = check(right)
    assert done.returncode == 0 and "score: 100 of 100 points" in done.stdout, done.stdout

    def slip(r: int, f: dict[str, str]) -> None:
        f["∂E/∂w5"] = f["∂E/∂w5"] + "*2"

    done = check(make(tmp_path / "wrong.xlsx", edit=slip))
    assert done.returncode == 1
    assert f"score: {100 - 35 / 8:g} of 100 points" in done.stdout, done.stdout  # 35 / 8


def report(columns: list[ColumnResult], findings: list[str] | None = None,
           sheet: str = "S") -> SheetReport:
    return SheetReport(sheet, 1, 5, 0.5, "cell", columns, [], findings=findings or [])


RIGHT = [ColumnResult(n, "A", True) for n in ("h1", "a_h1", "E_total", "∂E/∂w1", "w1")]


def test_a_finding_costs_points_so_that_wrong_never_scores_full() -> None:
    score = points.score([report(RIGHT, ["a helper column calls RAND()"])])
    assert score.points == 95 and score.lost == ["finding: a helper column calls RAND() (−5)"]
    assert points.score([report(RIGHT)]).points == 100


def test_several_sheets_each_count() -> None:
    wrong = [*RIGHT[:3], ColumnResult("∂E/∂w1", "A", False), RIGHT[4]]
    score = points.score([report(RIGHT, sheet="LR 0.1"), report(wrong, sheet="LR 0.5")])
    assert score.points == pytest.approx((100 + 100 - 35) / 2)  # no δ: gradients worth 35
    assert score.lost == ["sheet 'LR 0.5': gradients: ∂E/∂w1 (−35) (÷ 2 sheets)"]


def test_right_given_a_wrong_column_keeps_its_points() -> None:
    spoiled = ColumnResult("∂E/∂w1", "A", True, unjudged_from=9, given_wrong=["a_h1"])
    columns = [RIGHT[0], ColumnResult("a_h1", "B", False), RIGHT[2], spoiled, RIGHT[4]]
    score = points.score([report(columns)])
    assert charged(score) == {"a_h1"}
    # unless the root carries no points (η is no quantity): then nothing it spoils is credited
    by_eta = ColumnResult("∂E/∂w1", "A", True, unjudged_from=9, given_wrong=["η"])
    assert "∂E/∂w1" in charged(points.score([report([*RIGHT[:3], by_eta, RIGHT[4]])]))


def test_a_rubric_by_family(tmp_path: Path) -> None:
    path = tmp_path / "points.toml"
    path.write_text('[forward]\npoints = 50\nfamily = "forward"\n'
                    '[deltas]\npoints = 10\nfamily = "deltas"\ninstead = "gradients"\n'
                    '[gradients]\npoints = 40\nfamily = "gradients"\n', encoding="utf-8")
    rubric = points.read_rubric(path)
    assert [(p.name, p.kind, p.instead) for p in rubric] == [
        ("forward", "forward", None), ("deltas", "deltas", "gradients"),
        ("gradients", "gradients", None)]
    wrong = [RIGHT[0], RIGHT[1], ColumnResult("∂E/∂w1", "A", False)]
    assert points.score([report(wrong)], rubric).points == 50  # the gradients' 40 + 10 lost
    for text, message in (('[x]\npoints = 1\nfamily = "biases"\n', "family must be one of"),
                          ('[x]\npoints = 1\nfamily = "deltas"\ninstead = "updates"\n',
                           "names no part"),
                          ('[x]\npoints = 1\n', "needs 'points' and either")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(points.PointsError, match=message):
            points.read_rubric(path)
