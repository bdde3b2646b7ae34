"""Every cell of the default network's workbook recomputed by the `formulas` engine, against the
reference: its six rate sheets, Summary and Guide, at 51 epochs.

The engine re-evaluates the formula text we wrote (never our cached values), so this checks the
formulas themselves. Every row below the first repeats its formulas, so 51 epochs hold every
formula of the 100-epoch default workbook and the Summary's epoch-50 column; LibreOffice
recomputes all 100 epochs of the default workbook itself (test_render.py). The engine loads
~2.5 ms a formula cell: 51 epochs take half of the 100's 58 s, and the model is built once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.course import first_epoch_below, trace, traces
from tests.engines import assert_matches, key, load_model, value
from workbook_builder.network.reference import QUANTITIES, Trace, error_scale
from workbook_builder.network.spec import Network, Run, sheet_name
from workbook_builder.sheet import guide, layout
from workbook_builder.sheet.writer import build

pytestmark = pytest.mark.slow
#: for the Guide's epoch-0 examples only: none is a difference of near-equal terms there
#: (a_o1 − t1 ≈ 0.25), so a relative tolerance is sound; everything else uses error_scale
RTOL = 1e-12


EPOCHS = 51  # the Summary's columns: epochs 0, 10, 50 and the last


@pytest.fixture(scope="module")
def course_run() -> Run:
    return Run(epochs=EPOCHS)


@pytest.fixture(scope="module")
def run_traces(course_run: Run) -> list[Trace]:
    return traces(course_run.network, course_run.learning_rates, course_run.epochs)


@pytest.fixture(scope="module")
def workbook(course_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(course_run, tmp_path_factory.mktemp("recalc") / "backprop.xlsx")


@pytest.fixture(scope="module")
def model(workbook: Path) -> Any:
    return load_model(workbook)


@pytest.fixture(scope="module")
def solution(model: Any) -> Any:
    return model.calculate()


def assert_sheet_matches(solution: Any, path: Path, sheet: str, tr: Trace, epochs: int,
                         network: Network, lr: float) -> None:
    scale = error_scale(tr, network, lr)
    for q in QUANTITIES:
        got = np.array([value(solution, path, sheet, layout.cell(q, e)) for e in range(epochs)])
        assert_matches(got, tr[q], scale[q], f"{sheet} {q}")


def test_every_rate_sheet_matches_reference(solution: Any, workbook: Path,
                                            course_run: Run,
                                            run_traces: list[Trace]) -> None:
    for sheet, lr, tr in zip(layout.sheet_names(course_run), course_run.learning_rates,
                             run_traces, strict=True):
        assert_sheet_matches(solution, workbook, sheet, tr, course_run.epochs,
                             course_run.network, lr)


def test_summary_matches_reference(solution: Any, workbook: Path, course_run: Run,
                                   run_traces: list[Trace]) -> None:
    for k, tr in enumerate(run_traces):
        row = layout.summary_row(k) + 1
        cells = [value(solution, workbook, layout.SUMMARY, f"{col}{row}")
                 for col in "ACDEFGHI"]
        e = tr["E_total"]
        lr = course_run.learning_rates[k]
        assert cells[0] == lr
        epochs = [0, 10, 50, course_run.epochs - 1]
        assert_matches(cells[1:5], e[epochs],
                       error_scale(tr, course_run.network, lr)["E_total"][epochs],
                       f"Summary row {row}")
        expected = [first_epoch_below(e, f) for f in layout.SUMMARY_FRACTIONS]
        assert cells[5:] == [layout.NOT_REACHED if x is None else x for x in expected]


#: the Guide's compound examples, written out independently of guide.py
GUIDE_COMPOUND = {
    "∂E_total/∂a_o1": lambda t: t["a_o1"][0] - 0.5,
    "∂a_o1/∂o1": lambda t: t["a_o1"][0] * (1 - t["a_o1"][0]),
    "∂o1/∂w5": lambda t: t["a_h1"][0],
    "∂E_total/∂a_h1": lambda t: t["δ_o1"][0] * t["w5"][0] + t["δ_o2"][0] * t["w7"][0],
    "∂a_h1/∂h1": lambda t: t["a_h1"][0] * (1 - t["a_h1"][0]),
    "∂E_total/∂a_h2": lambda t: t["δ_o1"][0] * t["w6"][0] + t["δ_o2"][0] * t["w8"][0],
    "w5 at epoch 1": lambda t: t["w5"][1],
    "w1 at epoch 1": lambda t: t["w1"][1],
    "E_total at epoch 1": lambda t: t["E_total"][1],
}


def test_guide_examples_match_reference(solution: Any, workbook: Path,
                                        course_run: Run,
                                        run_traces: list[Trace]) -> None:
    """Each worked example on the Guide, recomputed, equals the LR 1.0 sheet's quantity."""
    tr = run_traces[course_run.learning_rates.index(1.0)]
    checked = 0
    last = layout.guide_row(len(guide.STEPS) - 1) + 1  # 1-based
    for row in range(layout.GUIDE_HEADER_ROW + 2, last + 1):
        name = value(solution, workbook, layout.GUIDE, f"A{row}") \
            if key(workbook, layout.GUIDE, f"C{row}") in solution else None
        if not isinstance(name, str):
            continue
        got = value(solution, workbook, layout.GUIDE, f"C{row}")
        quantity = name.replace("E_total/∂w", "E/∂w")  # the sheets' column names
        expected = GUIDE_COMPOUND[name](tr) if name in GUIDE_COMPOUND else tr[quantity][0]
        assert got == pytest.approx(expected, rel=RTOL), name
        checked += 1
    assert checked == 31  # every Guide step with an example


def test_changing_eta_recomputes_every_row(model: Any, workbook: Path,
                                           course_run: Run) -> None:
    """Liveness: feed η = 0.3 into the LR 0.5 sheet; every row follows the reference at 0.3,
    and so do the sheet's title and the Summary's η cell (which names its curve in both
    charts)."""
    sheet = sheet_name(0.5)
    title = (sheet, f"B{layout.TITLE_ROW + 1}")
    summary_eta = (layout.SUMMARY, f"A{layout.summary_row(2) + 1}")
    outputs = [key(workbook, sheet, layout.cell(q, e))
               for q in QUANTITIES for e in range(course_run.epochs)]
    outputs += [key(workbook, *title), key(workbook, *summary_eta)]
    eta = key(workbook, sheet, layout.param_cell("η", absolute=False))
    solution = model.calculate(inputs={eta: 0.3}, outputs=outputs)
    expected = trace(course_run.network, 0.3, course_run.epochs)
    old = trace(course_run.network, 0.5, course_run.epochs)
    assert_sheet_matches(solution, workbook, sheet, expected, course_run.epochs,
                         course_run.network, 0.3)
    assert np.all(expected["w1"][1:] != old["w1"][1:])  # so the check above could fail
    assert value(solution, workbook, *title) == \
        "Backpropagation of a 2-2-2 sigmoid network, η = 0.3"
    assert value(solution, workbook, *summary_eta) == 0.3


#: a network unlike the default in its inputs, a target and two weights
CHANGED = {"i1": 0.2, "t2": 0.9, "w3": -0.4, "w6": 1.2}


def test_changing_the_network_moves_every_sheet(model: Any, workbook: Path,
                                                course_run: Run) -> None:
    """Liveness: feed a new i1, t2, w3 and w6 into the Network sheet only; every rate sheet,
    the Summary and the Guide follow the reference for that network."""
    net = course_run.network
    changed = Network(inputs=(CHANGED["i1"], net.inputs[1]),
                      targets=(net.targets[0], CHANGED["t2"]),
                      weights=tuple(CHANGED.get(f"w{k + 1}", w) for k, w in
                                    enumerate(net.weights)))
    inputs = {key(workbook, layout.NETWORK, layout.param_cell(n, absolute=False)): v
              for n, v in CHANGED.items()}
    solution = model.calculate(inputs=inputs)
    for k, (sheet, lr) in enumerate(zip(layout.sheet_names(course_run),
                                        course_run.learning_rates, strict=True)):
        expected = trace(changed, lr, course_run.epochs)
        assert_sheet_matches(solution, workbook, sheet, expected, course_run.epochs,
                             changed, lr)
        e10 = value(solution, workbook, layout.SUMMARY, f"D{layout.summary_row(k) + 1}")
        assert_matches([e10], expected["E_total"][10:11],
                       error_scale(expected, changed, lr)["E_total"][10:11], f"Summary {lr}")
        old = trace(net, lr, course_run.epochs)
        assert abs(expected["E_total"][10] - old["E_total"][10]) > 1e-3  # could fail
    h1 = value(solution, workbook, layout.GUIDE, f"C{layout.guide_row(1) + 1}")
    assert h1 == pytest.approx(trace(changed, 1.0, 1)["h1"][0], rel=RTOL)


def test_huge_weights_give_no_overflow_errors(tmp_path: Path) -> None:
    """σ of a net input far below −709 stays a number (no #NUM!) in the engine too."""
    net = Network(inputs=(1.0, 1.0), weights=(-2000.0, -2000.0, 900.0, 1000.0,
                                              -800.0, -900.0, 1000.0, 800.0))
    run = Run(network=net, learning_rates=(50.0,), epochs=4)
    path = build(run, tmp_path / "huge.xlsx")
    solution = load_model(path).calculate()
    tr = trace(net, 50.0, 4)
    assert tr["h1"][0] < -709 and tr["o1"][0] < -709  # the capped branch is exercised
    for q in QUANTITIES:
        got = [value(solution, path, sheet_name(50.0), layout.cell(q, e)) for e in range(4)]
        assert all(isinstance(v, float) for v in got), (q, got)
        assert_matches(got, tr[q], error_scale(tr, net, 50.0)[q], q)
