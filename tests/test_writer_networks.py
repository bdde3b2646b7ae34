"""The workbook of any small network (writer.py): its formulas recomputed by the formulas
engine and by LibreOffice agree with topology.trace every epoch; inputs on the Network sheet
drive every sheet; headers, formulas and charts as promised; the command line's options."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from openpyxl.utils import range_boundaries

from tests.engines import load_model, value
from tests.test_render import edit_numbers, needs_soffice
from tests.test_topology import OUTPUT_LOSSES, XOR, make_spec, torch_descent
from tests.test_topology import TOLERANCE as TORCH_TOLERANCE
from workbook_builder.cli.main import main
from workbook_builder.network import netrun, topology
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.spec import Network, Run, sheet_name
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import guide, layout, render, writer
from workbook_builder.sheet.writer import build as build_default

#: Why this bound: the sheet's formula is the very tree topology.trace walks, printed in the
#: same order of operations, so +, −, ×, ÷ round identically in every engine; only EXP, LN
#: and TANH differ (ours are correctly rounded, the formulas engine's and LibreOffice's come
#: from the C library, within 1 ulp). Those one-ulp differences are carried forward by the
#: weights, epoch by epoch: measured worst, 1.5e-14 of a quantity's scale over the 40
#: configurations of the whole matrix (formulas engine, 5 epochs; tanh hidden, linear output,
#: mse) and 1.0e-14 over the three LibreOffice ones (20 epochs, η 0.2 and 1.0). 1e-12 of it is
#: ~4,500 roundings of room, while a wrong formula is off by a large fraction of it. The scale
#: is the quantity's largest magnitude over the run, not its value: near a target E and the
#: gradients lose relative digits to cancellation (a − t).
SCALE_RTOL = 1e-12


def deviation(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got − expected| in units of the expected column's largest magnitude."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    scale = max(float(np.abs(expected).max()), 1e-300)
    return float(np.abs(got - expected).max()) / scale


def assert_columns(read: Any, lay: layout.Layout, sheet: str, trace: dict[str, Any],
                   epochs: int, rtol: float = SCALE_RTOL) -> float:
    """Every computed column of ``sheet`` (``read(address)`` gives a cell's recomputed value)
    against the trace, within ``rtol`` of each column's scale; returns the worst deviation."""
    worst = 0.0
    for name in lay.columns[1:]:
        got = [read(lay.cell(name, e)) for e in range(epochs)]
        # a number, not an error or text (LibreOffice saves a whole number, ReLU's 0, as 0)
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in got), \
            (sheet, name, got)
        d = deviation(np.array(got), trace[name][:epochs])
        assert d <= rtol, (sheet, name, d)
        worst = max(worst, d)
    return worst


def typed(spec: NetSpec) -> NetSpec:
    """The spec with every example value as a person types it, 15 significant digits: a
    workbook stores a number to 16 (XlsxWriter writes %.16G, as Excel shows it), and the
    Dirichlet targets of make_spec have 17, which would move the sheet's inputs by an ulp
    away from the trace's."""
    def digits(values: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(float(f"{v:.15g}") for v in values)

    return dataclasses.replace(spec, examples=tuple((digits(x), digits(t))
                                                    for x, t in spec.examples))


def matrix_spec(k: int, activation: str, output: str, loss: str) -> NetSpec:
    """Each hidden activation and output/loss pair, the other axes rotated (biases none/fixed/
    trainable, 1 or 4 examples, 1-3 hidden layers), as tests/test_topology.py does."""
    return typed(make_spec(activation, output, loss, ("none", "fixed", "trainable")[k % 3],
                           (1, 4)[k % 2], 1 + k % 3))


FAST = [(topology.HIDDEN_ACTIVATIONS[k % 5], *pair) for k, pair in enumerate(OUTPUT_LOSSES)]
FULL = list(itertools.product(topology.HIDDEN_ACTIVATIONS, OUTPUT_LOSSES))
FORMULAS_EPOCHS = 5  # the formulas engine costs ~2.5 ms a formula cell to load


def formulas_check(spec: NetSpec, tmp: Path, rates: tuple[float, ...] = (0.5,)) -> float:
    run = NetRun(spec, rates, FORMULAS_EPOCHS)
    path = writer.build(run, tmp / "net.xlsx")
    solution = load_model(path).calculate()
    lay = layout.plan(spec)
    worst = 0.0
    for lr in rates:
        sheet = sheet_name(lr)
        tr = topology.trace(spec, lr, FORMULAS_EPOCHS)
        worst = max(worst, assert_columns(
            lambda a, sheet=sheet: value(solution, path, sheet, a), lay, sheet, tr,
            FORMULAS_EPOCHS))
    return worst


@pytest.mark.parametrize(("activation", "output", "loss"), FAST,
                         ids=[" ".join(c) for c in FAST])
def test_the_formulas_engine_recomputes_every_cell(activation: str, output: str, loss: str,
                                                   tmp_path: Path) -> None:
    k = FAST.index((activation, output, loss))
    formulas_check(matrix_spec(k, activation, output, loss), tmp_path)


@pytest.mark.slow
@pytest.mark.libreoffice
@needs_soffice
@pytest.mark.timeout(900)
def test_libreoffice_recomputes_the_whole_matrix(tmp_path: Path) -> None:
    """Every hidden activation × every output/loss pair, the other axes rotated, recomputed
    by LibreOffice (one process for all: the formulas engine took 99 s for the same proof;
    its own cases above cover each output/loss pair with that engine)."""
    books, specs = [], {}
    for k, (activation, (output, loss)) in enumerate(FULL):
        spec = matrix_spec(k, activation, output, loss)
        name = f"net{k:02d}"
        books.append(writer.build(NetRun(spec, (0.5,), FORMULAS_EPOCHS),
                                  tmp_path / f"{name}.xlsx"))
        specs[name] = (f"{activation} {output} {loss}", spec)
    (tmp_path / "lo").mkdir()
    worst = {}
    for copy in render.recalculated_copies(books, tmp_path / "lo"):
        label, spec = specs[copy.stem]
        ws = openpyxl.load_workbook(copy, data_only=True)[sheet_name(0.5)]
        worst[label] = assert_columns(lambda a, ws=ws: ws[a].value, layout.plan(spec),
                                      sheet_name(0.5), topology.trace(spec, 0.5,
                                                                      FORMULAS_EPOCHS),
                                      FORMULAS_EPOCHS)
    assert len(worst) == len(FULL) and max(worst.values()) <= SCALE_RTOL, worst


def test_side_by_side_traces_are_topologys_bit_for_bit() -> None:
    for k, (activation, output, loss) in enumerate(FAST):
        spec = matrix_spec(k, activation, output, loss)
        run = NetRun(spec, (0.1, 0.5, 2.0), 12)
        side_by_side = topology.traces(spec, run.learning_rates, run.epochs)
        for lr, ours in zip(run.learning_rates, side_by_side, strict=True):
            theirs = topology.trace(spec, lr, run.epochs)
            for q in theirs:
                assert np.array_equal(ours[q], theirs[q], equal_nan=True), (spec, lr, q)


# --- LibreOffice ------------------------------------------------------------------------------
LO_EPOCHS = 20
LO_CONFIGS = {
    "tanh softmax ce, trainable, 4 examples, 2 hidden": typed(make_spec(
        "tanh", "softmax", "ce", "trainable", 4, 2)),
    "relu sigmoid bce, fixed, 4 examples, 3 hidden": typed(make_spec(
        "relu", "sigmoid", "ce", "fixed", 4, 3)),
    "leaky linear mse, none, 1 example, 1 hidden": typed(make_spec(
        "leaky-relu", "linear", "mse", "none", 1, 1)),
}


def lo_book(path: Path, tmp: Path) -> Any:
    tmp.mkdir(exist_ok=True)
    return openpyxl.load_workbook(render.recalculated_copy(path, tmp), data_only=True)


@pytest.mark.libreoffice
@needs_soffice
@pytest.mark.parametrize("name", list(LO_CONFIGS))
def test_libreoffice_recomputes_every_sheet_and_follows_the_network(
        name: str, tmp_path: Path) -> None:
    """LibreOffice recalculates the file: every rate sheet and the Summary agree with
    topology.trace, and with PyTorch; then i1 of example 1 and w2 changed on the Network
    sheet, and every rate sheet follows: it computes the changed network's trace."""
    spec = LO_CONFIGS[name]
    run = NetRun(spec, (0.2, 1.0), LO_EPOCHS)
    path = writer.build(run, tmp_path / "net.xlsx")
    lay = layout.plan(spec)
    book = lo_book(path, tmp_path / "lo")
    for k, lr in enumerate(run.learning_rates):
        ws = book[sheet_name(lr)]
        tr = topology.trace(spec, lr, LO_EPOCHS)
        assert_columns(lambda a, ws=ws: ws[a].value, lay, sheet_name(lr), tr, LO_EPOCHS)
        # and PyTorch autograd in float64, the same full-batch descent: E_total, every
        # weight and its gradient, within test_topology's bound (its comment says why: fused
        # kernels and mean reductions round in another order than the sheet)
        for q, expected in torch_descent(spec, lr, LO_EPOCHS).items():
            got = np.array([ws[lay.cell(q, e)].value for e in range(LO_EPOCHS)])
            assert deviation(got, expected) < TORCH_TOLERANCE, (lr, q)
        summary = book["Summary"]
        row = layout.summary_row(k) + 1
        assert summary[f"A{row}"].value == lr
        assert summary.cell(row, 5).value == f"n/a ({LO_EPOCHS} epochs)"  # epoch 50
        got = [summary.cell(row, col).value for col in (3, 4, 6)]  # epochs 0, 10, last
        assert deviation(np.array(got), tr["E_total"][[0, 10, LO_EPOCHS - 1]]) <= SCALE_RTOL
    # the Guide's worked values follow LR 1.0 (its source sheet)
    guide_sheet, tr = book["Guide"], topology.trace(spec, 1.0, LO_EPOCHS)
    shown = {(r[0].value, r[2].value) for r in guide_sheet.iter_rows(min_col=1, max_col=3)
             if r[0].value is not None and isinstance(r[2].value, int | float)}
    worked = {name: value for name, value in shown}
    for name in guide.worked_quantities(spec):
        assert deviation(np.array([worked[name]]), tr[name][[0]]) <= SCALE_RTOL, name
    assert deviation(np.array([worked["w1"]]), tr["w1"][[1]]) <= SCALE_RTOL
    # change the network on its sheet, only there
    (x0, t0), *rest = spec.examples
    x_new = (x0[0] + 0.3, *x0[1:])
    w = list(spec.initial_weights)
    w[1] = 0.9
    changed = NetSpec(layers=spec.layers, activation=spec.activation,
                      output_activation=spec.output_activation, loss=spec.loss,
                      examples=((x_new, t0), *rest), biases=spec.biases,
                      train_biases=spec.train_biases, weights=tuple(w))
    i1 = "i1" + topology.example_suffix(spec, 0)
    cells = {name: str(lay.network_ref(name).split("!")[1].replace("$", ""))
             for name in (i1, "w2")}
    edited = tmp_path / "edited.xlsx"
    edit_numbers(path, edited, {"Network": {cells[i1]: x_new[0], cells["w2"]: 0.9}})
    book = lo_book(edited, tmp_path / "lo2")
    for lr in run.learning_rates:
        ws = book[sheet_name(lr)]
        assert_columns(lambda a, ws=ws: ws[a].value, lay, sheet_name(lr),
                       topology.trace(changed, lr, LO_EPOCHS), LO_EPOCHS)


@pytest.mark.libreoffice
@needs_soffice
def test_xor_is_learned_in_libreoffice(tmp_path: Path) -> None:
    """XOR on a 2-2-1 tanh network with trainable biases (init seed 1, η = 1), built from the
    command line: LibreOffice's recalculation has every example on the right side of 0.5 from
    epoch 94, as topology.trace has."""
    out = tmp_path / "xor.xlsx"
    argv = ["--layers", "2", "2", "1", "--activation", "tanh", "--train-biases",
            "--init-seed", "1", "--lr", "1", "--epochs", "120", "--out", str(out), "-q"]
    for (x1, x2), (t,) in XOR:
        argv += ["--example", str(x1), str(x2), str(t)]
    assert main(argv) == 0
    book = lo_book(out, tmp_path / "lo")
    spec = NetSpec(layers=(2, 2, 1), activation="tanh", examples=XOR, train_biases=True,
                   weights=None, init_seed=1)
    lay = layout.plan(spec)
    ws = book["LR 1.0"]
    outputs = np.array([[ws[lay.cell(f"a_o1[{k}]", e)].value for e in range(120)]
                        for k in range(1, 5)])
    right = np.all(np.round(outputs) == np.array([[0], [1], [1], [0]]), axis=0)
    assert not right[93] and right[94:].all()
    assert_columns(lambda a: ws[a].value, lay, "LR 1.0", topology.trace(spec, 1.0, 120), 120)


# --- what openpyxl sees -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[NetRun, Path]:
    spec = make_spec("tanh", "softmax", "ce", "trainable", 4, 2)  # 17-digit targets
    run = NetRun(spec, (0.1, 0.5, 2.0), 60)
    return run, writer.build(run, tmp_path_factory.mktemp("wide") / "wide.xlsx")


def test_headers_formulas_and_charts(wide: tuple[NetRun, Path]) -> None:
    run, path = wide
    lay = layout.plan(run.net)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Guide", "Network", "Summary", "LR 0.1", "LR 0.5", "LR 2.0"]
    for lr in run.learning_rates:
        ws = book[sheet_name(lr)]
        header = [c.value for c in ws[lay.header_row + 1]]
        assert header == list(lay.columns)
        weights = [h for h in header if h.startswith("w")]
        assert weights == [f"w{k}" for k in range(1, run.net.n_weights + 1)]
        assert header.count("E_total") == 1
        for row in ws.iter_rows(min_row=lay.first_epoch_row + 1, min_col=2,
                                max_col=len(header)):
            for c in row:
                assert isinstance(c.value, str) and c.value.startswith("="), c.coordinate
        assert ws.max_row == lay.first_epoch_row + run.epochs
        (chart,) = ws._charts
        (series,) = chart.series
        sheet, _, cells = series.val.numRef.f.rpartition("!")
        assert sheet.strip("'") == sheet_name(lr)
        min_col, min_row, max_col, max_row = range_boundaries(cells.replace("$", ""))
        assert min_col == max_col == header.index("E_total") + 1
        assert (min_row, max_row) == (lay.first_epoch_row + 1,
                                      lay.first_epoch_row + run.epochs)
        eta = ws[lay.value_ref("η").replace("$", "")]
        assert eta.value == lr
    assert len(book["Summary"]._charts[0].series) == len(run.learning_rates)


def test_the_network_sheet_holds_every_input(wide: tuple[NetRun, Path]) -> None:
    run, path = wide
    lay = layout.plan(run.net)
    ws = openpyxl.load_workbook(path)["Network"]
    given = {**topology.constants(run.net), **topology.parameters(run.net)}
    assert set(lay.network_cells) == set(given)
    for name, (row, col) in lay.network_cells.items():
        # XlsxWriter writes a number to 16 significant digits (as Excel shows it): exact for
        # any value typed with 16 digits or fewer; the Dirichlet targets here have 17
        assert ws.cell(row + 1, col + 1).value == float(f"{given[name]:.16g}"), name


def test_same_request_gives_identical_bytes(wide: tuple[NetRun, Path], tmp_path: Path) -> None:
    run, path = wide
    assert writer.build(run, tmp_path / "again.xlsx").read_bytes() == path.read_bytes()


# --- the command line -------------------------------------------------------------------------
MAZUR = ["--layers", "2", "2", "2", "--biases", "0.35", "0.60", "--inputs", "0.05", "0.10",
         "--targets", "0.01", "0.99"]


def test_mazur_with_trainable_biases(tmp_path: Path) -> None:
    """Matt Mazur's example, its biases learning: the formulas engine's E_total at epoch 0 is
    his 0.298371109, and the biases move."""
    out = tmp_path / "mazur.xlsx"
    assert main([*MAZUR, "--train-biases", "--lr", "0.5", "--epochs", "3", "--out", str(out),
                 "-q"]) == 0
    solution = load_model(out).calculate()
    spec = netrun.net_spec({"layers": [2, 2, 2], "biases": [0.35, 0.6], "inputs": [0.05, 0.1],
                            "targets": [0.01, 0.99], "train_biases": True})
    lay = layout.plan(spec)
    e0 = value(solution, out, "LR 0.5", lay.cell("E_total", 0))
    assert round(e0, 9) == 0.298371109
    b1 = [value(solution, out, "LR 0.5", lay.cell("b_h1", e)) for e in (0, 2)]
    assert b1[0] == 0.35 and b1[1] != 0.35


def test_todays_network_still_gets_todays_workbook(tmp_path: Path) -> None:
    """2-2-2 sigmoid, ½-squared error, one example, fixed biases: the default builder, byte
    for byte, however it is asked for."""
    out = tmp_path / "a.xlsx"
    assert main([*MAZUR, "--epochs", "5", "--lr", "0.5", "--out", str(out), "-q"]) == 0
    expected = build_default(Run(network=Network(inputs=(0.05, 0.1), targets=(0.01, 0.99),
                                                 biases=(0.35, 0.6)),
                                 learning_rates=(0.5,), epochs=5), tmp_path / "b.xlsx")
    assert out.read_bytes() == expected.read_bytes()


def test_spec_file_is_the_same_as_the_options(tmp_path: Path) -> None:
    toml = tmp_path / "net.toml"
    toml.write_text('layers = [2, 3, 2]\nactivation = "relu"\noutput-activation = "softmax"\n'
                    'loss = "ce"\nexamples = [[0.1, 0.2, 1, 0], [0.3, -0.4, 0, 1]]\n'
                    "biases = [0.1, 0.2]\ntrain-biases = true\ninit-seed = 3\n",
                    encoding="utf-8")
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    assert main(["--spec", str(toml), "--epochs", "4", "--out", str(a), "-q"]) == 0
    assert main(["--layers", "2", "3", "2", "--activation", "relu", "--output-activation",
                 "softmax", "--loss", "ce", "--example", "0.1", "0.2", "1", "0",
                 "--example", "0.3", "-0.4", "0", "1", "--biases", "0.1", "0.2",
                 "--train-biases", "--init-seed", "3", "--epochs", "4", "--out", str(b),
                 "-q"]) == 0
    assert a.read_bytes() == b.read_bytes()


BAD = [
    (["--layers", "2", "40", "2"], "1 to 8 neurons"),
    (["--layers", "2", "3", "2"], "give the training set"),
    (["--layers", "2", "3", "2", "--example", "1", "2", "3"], "--example 1: give 2 input"),
    (["--loss", "hinge"], "--loss 'hinge'"),
    (["--activation", "gelu"], "--activation 'gelu'"),
    (["--layers", "2", "2", "1", "--output-activation", "softmax", "--example", "1", "2",
      "1"], "softmax needs at least 2 outputs"),
    (["--layers", "2", "3", "2", "--example", "1", "2", "3", "4", "--weights", "1", "2"],
     "has 12 weights, got 2"),
    (["--layers", "2", "2", "2", "2", "--biases", "1", "--example", "1", "2", "3", "4"],
     "one value per non-input layer"),
    (["--example", *["1"] * 4] * 17, "1 to 16 examples"),
    (["--init-seed", "-1"], "init-seed"),
    (["--layers", "2", "x"], "not a whole number"),
    (["--spec", "missing.toml"], "missing.toml"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_requests_are_one_line_exit_2(argv: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--out", str(tmp_path / "x.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("text", "message"), [
    ("layers = [2, 2, 2]\ncolour = 1\n", "unknown field 'colour'"),
    ("layers = 2 2 2\n", "not valid TOML"),
    ('layers = [2, 2, 2]\nweights = "a"\n', "weights: give a list of numbers"),
])
def test_bad_spec_files_are_one_line(text: str, message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "net.toml"
    toml.write_text(text, encoding="utf-8")
    assert main(["--spec", str(toml), "--out", str(tmp_path / "x.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_wrong_formula_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: one δ column printed with a sign flipped (its cached value still
    right) is found by the formulas engine."""
    spec = matrix_spec(0, "tanh", "sigmoid", "half-se")  # one hidden layer, 1 example
    template = layout.Layout.template
    monkeypatch.setattr(topology, "equations", functools.cache(topology.equations))

    def wrong(lay: layout.Layout, expr: Any) -> str:
        text = template(lay, expr)
        return "=-(" + text[1:] + ")" if expr is topology.equations(spec)["δ_h2"] else text

    monkeypatch.setattr(layout.Layout, "template", wrong)
    with pytest.raises(AssertionError, match=r"LR 0\.5"):  # first seen in w1, epoch 1
        formulas_check(spec, tmp_path)


@pytest.mark.libreoffice
@needs_soffice
def test_render_draws_each_view_of_another_network(tmp_path: Path) -> None:
    """--render on another network: one picture per printed page, as layout.py lays them out
    (render.render refuses a PDF whose page count differs)."""
    out = tmp_path / "net.xlsx"
    assert main(["--layers", "2", "3", "2", "--activation", "tanh", "--example", "0.1", "0.2",
                 "0.3", "0.7", "--lr", "1", "--epochs", "30", "--out", str(out), "--render",
                 "-q"]) == 0
    run = NetRun(netrun.net_spec({"layers": [2, 3, 2], "activation": "tanh",
                                  "examples": [[0.1, 0.2, 0.3, 0.7]]}), (1.0,), 30)
    names = layout.pictures(run)
    assert len(names) == 3 + len(layout.plan(run.net).views) > 4
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{n}.png" for n in names)
