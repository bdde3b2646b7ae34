"""`check` judges optimizer sheets: the state columns (velocity; RMSprop's mean square; Adam's
m, v, m̂, v̂ and step) and the weight updates, by the engine's trees (the first row from
torch's initial state), whether the builder made the sheet or a student laid it out by hand;
and it names each planted optimizer mistake with its diagnosis."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from tests import handmade
from tests.test_check_networks import checked
from tests.test_topology import make_spec
from workbook_builder.check.verdict import SheetReport
from workbook_builder.classroom import points
from workbook_builder.cli.main import main
from workbook_builder.network.equations import Bin, Call, Expr, Var
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.optimizers import Optimizer
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import layout, writer

COURSE = NetSpec(biases=(0.35, 0.60))
OTHER = make_spec("tanh", "softmax", "ce", "trainable", 4, 1)  # 2-3-2, biases learn
NAMES = ("momentum", "nesterov", "rmsprop", "adam")


def with_optimizer(spec: NetSpec, o: Optimizer) -> NetSpec:
    return dataclasses.replace(spec, optimizer=o)


def all_right(reports: list[SheetReport], states: set[str]) -> None:
    (report,) = reports
    judged = {c.name for c in report.columns if c.ok is True}
    assert report.ok and not report.wrong, [(c.name, c.diagnosis) for c in report.columns
                                            if c.ok is not True]
    assert states <= judged, states - judged  # the state and the updates were judged
    assert points.score(reports).points == 100


@pytest.mark.parametrize("name", NAMES)
def test_a_builder_sheet_of_each_optimizer_is_all_right(name: str, tmp_path: Path) -> None:
    """No optimizer given: the state columns show which (Nesterov: the sheet says so), the
    hyperparameters are read from their labelled cells, every column is judged right."""
    spec = with_optimizer(COURSE, Optimizer(name, momentum=0.8, alpha=0.9, betas=(0.8, 0.99)))
    path = writer.build(NetRun(spec, (0.5,), 20), tmp_path / f"{name}.xlsx")
    states = {c for c in layout.plan(spec).columns if layout.kind(c) == "state"}
    reports = checked(path, None, tmp_path)
    all_right(reports, states | {f"w{k}" for k in range(1, 9)})
    assert any(f"the weights follow {name}" in n for n in reports[0].notes)
    values = reports[0].against
    assert {k: values[k] for k in spec.optimizer.hyperparameters} == \
        spec.optimizer.hyperparameters


@pytest.mark.parametrize(("name", "spec", "typed"), [
    ("adam", COURSE, True), ("nesterov", COURSE, False), ("momentum", OTHER, False),
    ("rmsprop", OTHER, True)],
    ids=["adam-course-typed", "nesterov-course", "momentum-2-3-2", "rmsprop-2-3-2-typed"])
def test_a_hand_made_sheet_of_an_optimizer_is_all_right(name: str, spec: NetSpec, typed: bool,
                                                        tmp_path: Path) -> None:
    """A student's layout and spellings (velocity w1, m_hat w1, cache b_h1, t), the
    hyperparameters typed into the formulas or beside their labels (beta1, rho, epsilon), the
    network given as the grader's fields for the 2-3-2 one; on the course's network the
    optimizer read off the sheet (Nesterov: its update reads the gradient and the velocity,
    and no word on the sheet names it)."""
    course = spec is COURSE
    spec = with_optimizer(spec, Optimizer(name))
    path = handmade.write(spec, tmp_path / "hand.xlsx", typed=typed)
    network = None if course else {
        "layers": list(spec.layers), "activation": spec.activation,
        "output_activation": spec.output_activation, "loss": spec.loss,
        "train_biases": True, "biases": list(spec.biases or ()), "optimizer": name}
    reports = checked(path, network, tmp_path)
    states = {c for c in layout.plan(spec).columns if layout.kind(c) == "state"}
    all_right(reports, states)


def sqrt(x: Expr) -> Expr:
    return Call("SQRT", (x,))


# the planted mistakes: (optimizer, the column's tree instead of the network's, the wrong
# column and words its diagnosis must hold)
PLANTED = {
    "adam: m̂ without its bias correction": (
        "adam", {"m̂_w5": Var("m_w5")}, "m̂_w5", "bias correction 1/(1 − β1^t) is forgotten"),
    "adam: the update without bias corrections": (
        "adam", {"w5": Var("w5", 1) - Var("η") * (Var("m_w5", 1) / (sqrt(Var("v_w5", 1))
                                                                   + Var("ε")))},
        "w5", "the bias correction is forgotten"),
    "adam: β1 and β2 swapped in m": (
        "adam", {"m_w5": Var("β2") * Var("m_w5", 1) + (1 - Var("β2")) * Var("∂E/∂w5")},
        "m_w5", "β1 and β2 swapped"),
    "adam: β1 and β2 swapped in v": (
        "adam", {"v_w2": Var("β1") * Var("v_w2", 1)
                 + (1 - Var("β1")) * Var("∂E/∂w2") * Var("∂E/∂w2")},
        "v_w2", "β1 and β2 swapped"),
    "adam: ε inside the square root": (
        "adam", {"w5": Var("w5", 1) - Var("η") * (Var("m̂_w5", 1)
                                                  / sqrt(Var("v̂_w5", 1) + Var("ε")))},
        "w5", "ε inside the square root"),
    "rmsprop: ε inside the square root": (
        "rmsprop", {"w1": Var("w1", 1) - Var("η") * (Var("∂E/∂w1", 1)
                                                     / sqrt(Var("s_w1", 1) + Var("ε")))},
        "w1", "ε inside the square root"),
    "momentum: the velocity without its decay": (
        "momentum", {"v_w7": Var("v_w7", 1) + Var("∂E/∂w7")}, "v_w7", "without its decay"),
    "momentum: the velocity as an average": (
        "momentum", {"v_w7": Var("μ") * Var("v_w7", 1) + (1 - Var("μ")) * Var("∂E/∂w7")},
        "v_w7", "moving average"),
    "adam: a wrong gradient beside right state columns": (
        "adam", {"∂E/∂w5": Var("δ_o1") * Var("a_h2")}, "∂E/∂w5", "uses a_h2 where a_h1 belongs"),
    "momentum: the velocity of the v = μ·v − η·g form": (
        "momentum", {"v_w7": Var("μ") * Var("v_w7", 1) - Var("η") * Var("∂E/∂w7")}, "v_w7",
        "the other momentum form"),
    "momentum: the update of the w = w + v form": (
        "momentum", {"w7": Var("w7", 1) + Var("v_w7", 1)}, "w7", "the other momentum form"),
    "rmsprop: α and 1 − α swapped": (
        "rmsprop", {"s_w4": (1 - Var("α")) * Var("s_w4", 1)
                    + Var("α") * Var("∂E/∂w4") * Var("∂E/∂w4")}, "s_w4", "α and 1 − α swapped"),
    "adam: m̂ corrected with β2": (
        "adam", {"m̂_w6": Var("m_w6") / (1 - Bin("^", Var("β2"), Var("step")))}, "m̂_w6",
        "β1 and β2 swapped"),
    "adam: the step added": (
        "adam", {"w8": Var("w8", 1) + Var("η") * (Var("m̂_w8", 1)
                                                  / (sqrt(Var("v̂_w8", 1)) + Var("ε")))},
        "w8", "sign error"),
    "nesterov: momentum's step": (
        "nesterov", {"w3": Var("w3", 1) - Var("η") * Var("v_w3", 1)}, "w3",
        "takes momentum's step"),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_each_planted_optimizer_mistake_is_named(case: str, tmp_path: Path) -> None:
    """A hand-made course sheet with one planted mistake: that column is WRONG with its
    diagnosis, the sheet is not all right and does not score full points."""
    name, planted, column, words = PLANTED[case]
    spec = with_optimizer(COURSE, Optimizer(name, momentum=0.7, alpha=0.9, eps=1e-4))
    path = handmade.write(spec, tmp_path / "planted.xlsx", epochs=10, planted=planted)
    # Adam: no network given (read from the headers, ε from its labelled cell); the others:
    # the grader's fields, the optimizer's values among them
    network = None if name == "adam" else {
        "inputs": [0.05, 0.10], "targets": [0.5, 0.5], "biases": [0.35, 0.60],
        "optimizer": name, **({"alpha": 0.9, "eps": 1e-4} if name == "rmsprop"
                              else {"momentum": 0.7})}
    (report,) = checked(path, network, tmp_path)
    bad = {c.name: c.diagnosis for c in report.columns if c.ok is False}
    assert column in bad, (bad, report.notes)
    assert words in (bad[column] or ""), bad[column]
    assert not report.ok
    assert points.score([report]).points < 100


def test_an_optimizer_the_grader_names_is_the_one_judged(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """--spec naming sgd on an Adam sheet: its updates are not plain descent and are held
    'not checked' (never right); naming two optimizers or a batch size is refused."""
    spec = with_optimizer(COURSE, Optimizer("adam"))
    path = writer.build(NetRun(spec, (0.05,), 20), tmp_path / "adam.xlsx")
    (report,) = checked(path, {"inputs": [0.05, 0.10], "targets": [0.5, 0.5],
                               "biases": [0.35, 0.60], "optimizer": "sgd"}, tmp_path)
    held = {c.name for c in report.columns if c.ok is None}
    assert held == {f"w{k}" for k in range(1, 9)}
    assert not report.ok and points.score([report]).points < 100
    for text, message in (('optimizer = ["adam", "sgd"]\n', "name one optimizer"),
                          ('optimizer = "adam"\nbatch-size = 1\n', "full-batch sheets only")):
        toml = tmp_path / "net.toml"
        toml.write_text(text, encoding="utf-8")
        assert main(["check", str(path), "--spec", str(toml)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_cli_check_of_an_adam_workbook(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The command line: an Adam workbook passes; its copy with m̂ = m is WRONG (exit 1)."""
    spec = with_optimizer(COURSE, Optimizer("adam"))
    path = writer.build(NetRun(spec, (0.05,), 12), tmp_path / "adam.xlsx")
    assert main(["check", str(path)]) == 0
    capsys.readouterr()
    lay = layout.plan(spec)
    book = openpyxl.load_workbook(path)
    ws = book["LR 0.05"]
    for e in range(12):
        ws[lay.cell("m̂_w1", e)].value = "=" + lay.cell("m_w1", e)
    planted = tmp_path / "planted.xlsx"
    book.save(planted)
    assert main(["check", str(planted)]) == 1
    out = capsys.readouterr().out
    assert "m̂_w1" in out and "bias correction" in out


def batch_book(tmp_path: Path) -> tuple[Path, NetSpec]:
    spec = dataclasses.replace(OTHER, optimizer=Optimizer("adam"), batch_size=3)
    return writer.build(NetRun(spec, (0.05,), 6), tmp_path / "batch.xlsx"), spec


def test_a_mini_batch_sheet_takes_its_examples_in_order(tmp_path: Path) -> None:
    """A workbook of --batch-size 3 (of 4 examples) with Adam: every column judged with the
    examples its row holds, and the examples each row takes against the Network sheet's
    table (3 at a time, in order, cycling): all right, full points."""
    path, _ = batch_book(tmp_path)
    reports = checked(path, None, tmp_path)
    (report,) = reports
    batch = next(c for c in report.columns if c.name == "examples of each row")
    assert batch.ok is True and "mini-batches of 3 of the 4 examples" in (batch.diagnosis or "")
    assert report.ok and points.score(reports).points == 100


@pytest.mark.parametrize("case", ["another order", "not an example", "no table of examples"])
def test_a_mini_batch_sheet_that_takes_other_examples(case: str, tmp_path: Path) -> None:
    """Rows that take the examples in another order: not checked (incomplete, never full
    points); a row whose inputs are none of the examples: WRONG; no table of the examples to
    compare with: not checked."""
    path, spec = batch_book(tmp_path)
    lay = layout.plan(spec)
    book = openpyxl.load_workbook(path)
    ws = book["LR 0.05"]
    if case == "another order":  # row 0 takes examples 2, 3, 4 (then cycling from there)
        for k in (1, 2, 3):
            ws[lay.cell(f"ex[{k}]", 0)].value = f"={k + 1}"
    elif case == "not an example":
        ws[lay.cell("i2[1]", 2)].value = 0.123
    else:  # the Network sheet's header no longer names the inputs and targets
        network = book["Network"]
        for col in range(2, 6):
            network.cell(layout.EXAMPLES_HEADER_ROW + 1, col).value = f"value {col}"
    planted = tmp_path / "planted.xlsx"
    book.save(planted)
    (report,) = checked(planted, None, tmp_path)
    batch = next(c for c in report.columns if c.name == "examples of each row")
    expected = {"another order": None, "not an example": False, "no table of examples": None}
    assert batch.ok is expected[case], batch
    words = {"another order": "in another order", "not an example": "is none of the 4 examples",
             "no table of examples": "no table of the examples"}[case]
    assert words in (batch.diagnosis or "")
    assert not report.ok and points.score([report]).points < 100
    if case != "not an example":
        assert not report.wrong


def test_adams_corrections_and_step_may_be_written_inside_the_update(tmp_path: Path) -> None:
    """No m̂, v̂ or t column: the update divides m by 1 − β1^(epoch + 1) itself; judged right,
    and the same sheet with β2 in m̂'s place is wrong."""
    spec = with_optimizer(COURSE, Optimizer("adam"))
    inline = ("step", *(f"{s}_w{k}" for s in ("m̂", "v̂") for k in range(1, 9)))
    path = handmade.write(spec, tmp_path / "inline.xlsx", inline=inline)
    assert "t" not in [c.value for c in openpyxl.load_workbook(path).active[14]]
    reports = checked(path, None, tmp_path)
    all_right(reports, {"m_w1", "v_w1", "w1"})
    beta2_t = Bin("^", Var("β2"), Var("step", 1))  # β2 where β1 belongs in m̂
    wrong_update = Var("w1", 1) - Var("η") * (
        Var("m_w1", 1) / (1 - beta2_t) / (sqrt(Var("v_w1", 1) / (1 - beta2_t)) + Var("ε")))
    path = handmade.write(spec, tmp_path / "bad.xlsx", inline=inline,
                          planted={"w1": wrong_update})
    (report,) = checked(path, None, tmp_path)
    assert {c.name for c in report.columns if c.ok is False} == {"w1"}


def test_a_workbook_comparing_optimizers_is_judged_sheet_by_sheet(tmp_path: Path) -> None:
    """sgd, momentum and Adam side by side (a sheet each): each sheet is read as its own
    optimizer and all are right; a planted mistake in the Adam sheet is found there only."""
    run = NetRun(COURSE, (0.5,), 12, tuple(Optimizer(n) for n in ("sgd", "momentum", "adam")))
    path = writer.build(run, tmp_path / "compare.xlsx")
    reports = checked(path, None, tmp_path)
    assert [r.sheet for r in reports] == ["LR 0.5 sgd", "LR 0.5 momentum", "LR 0.5 adam"]
    assert all(r.ok for r in reports), [(r.sheet, c.name, c.diagnosis) for r in reports
                                        for c in r.columns if c.ok is not True]
    assert points.score(reports).points == 100
    lay = layout.plan(with_optimizer(COURSE, Optimizer("adam")))
    book = openpyxl.load_workbook(path)
    ws = book["LR 0.5 adam"]
    for e in range(12):  # ε inside the square root of w2's update
        c = ws[lay.cell("w2", e)]
        if e:
            c.value = c.value.replace(f"SQRT({lay.cell('v̂_w2', e - 1)})+$I$3",
                                      f"SQRT({lay.cell('v̂_w2', e - 1)}+$I$3)")
    planted = tmp_path / "planted.xlsx"
    book.save(planted)
    reports = checked(planted, None, tmp_path)
    bad = {(r.sheet, c.name): c.diagnosis for r in reports for c in r.columns if c.ok is False}
    assert list(bad) == [("LR 0.5 adam", "w2")]
    assert "ε inside the square root" in (bad["LR 0.5 adam", "w2"] or "")


def test_the_optimizer_state_is_its_own_part_of_the_points(tmp_path: Path) -> None:
    """The default rubric gives an optimizer's state 10 points and its weight updates 10 (a
    sheet of plain descent: 20 for the updates, as before): a wrong weight update of an Adam
    sheet costs 10/8, not 20/41 with its 33 state columns in the same part."""
    name, planted, column, _ = PLANTED["adam: ε inside the square root"]
    spec = with_optimizer(COURSE, Optimizer(name, eps=1e-4))
    path = handmade.write(spec, tmp_path / "planted.xlsx", epochs=8, planted=planted)
    score = points.score(checked(path, None, tmp_path))
    parts = {p.name: p for p in score.parts}
    assert parts["updates"].worth == 10 and parts["optimizer"].worth == 10
    assert parts["updates"].wrong == (column,)
    assert score.points == pytest.approx(100 - 10 / 8)
    plain = writer.build(NetRun(COURSE, (0.5,), 8), tmp_path / "sgd.xlsx")
    parts = {p.name: p for p in points.score(checked(plain, None, tmp_path)).parts}
    assert parts["updates"].worth == 20 and parts["optimizer"].worth == 0


def test_mini_batch_rows_not_recomputed_leave_the_examples_not_checked() -> None:
    """The examples of rows proved by their formulas' text were never read: however right the
    recomputed rows are, the verdict on the examples is 'not checked', never right."""
    from workbook_builder.check import batches
    from workbook_builder.check.netmodel import for_spec
    from workbook_builder.check.table import Table

    data = [(0.0, 0.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0)]
    spec = NetSpec(layers=(2, 2, 1), examples=((data[0][:2], data[0][2:]),), biases=(0.1, 0.2),
                   weights=None)
    model = for_spec(spec)  # one example a row: batches of 1
    network = {(1, 1): "x1", (1, 2): "x2", (1, 3): "y1"}
    network.update({(2 + e, 1 + j): v for e, ex in enumerate(data) for j, v in enumerate(ex)})
    rows = [11, 12, 13, 14, 15, 16]
    run = {n: np.array([data[r % 4][j] for r in range(6)]) for j, n in enumerate(
        ("i1", "i2", "t1"))}
    table = Table("LR", 10, {"i1": 2, "i2": 3, "t1": 4}, rows)
    (verdict,) = batches.judge(table, run, model, {"Data": network})
    assert verdict.ok is True
    table = Table("LR", 10, {"i1": 2, "i2": 3, "t1": 4}, rows[:4], repeated=rows[4:])
    short = {n: v[:4] for n, v in run.items()}
    (verdict,) = batches.judge(table, short, model, {"Data": network})
    assert verdict.ok is None and "rows 15–16 were proved by their formulas' text" in \
        (verdict.diagnosis or "")


def test_a_state_read_from_the_row_above_must_be_shown() -> None:
    """Adam's m̂ may be computed inside the update, but m, which reads itself from the row
    above, cannot: a sheet without it gets 'the sheet has no m_w1' (a KeyError the check
    reports), not an endless computation."""
    from workbook_builder.check.netmodel import for_spec

    model = for_spec(with_optimizer(COURSE, Optimizer("adam")))
    data = {n: np.ones(5) for n in ("∂E/∂w1", "step", "β1", "β2", "ε", "η", "w1", "v̂_w1")}
    with pytest.raises(KeyError, match="m_w1"):
        model.rules["w1"](model.values(data, 5))
    data.update({"m_w1": np.ones(5), "β1": np.full(5, 0.9), "β2": np.full(5, 0.999),
                 "ε": np.full(5, 1e-8)})  # m shown: m̂ of the row above is computed inline
    assert np.isfinite(model.rules["w1"](model.values(data, 5))[1:]).all()
