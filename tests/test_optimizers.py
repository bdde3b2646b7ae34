"""Optimizers in live formulas: momentum, Nesterov, RMSprop and Adam, proved against
torch.optim in float64 from the same initial weights — the engine's values, and what
LibreOffice recomputes from the workbook's formulas (also after β1 and η are edited on a sheet).
Plain gradient descent stays the default, byte for byte."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from tests.test_render import edit_numbers, needs_soffice
from tests.test_topology import make_spec, torch_descent
from tests.test_writer_networks import assert_columns, deviation
from workbook_builder.cli.main import main
from workbook_builder.network import netrun, topology
from workbook_builder.network.netrun import NetRun
from workbook_builder.network.optimizers import NAMES, SGD, Optimizer
from workbook_builder.network.spec import SpecError, sheet_name
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import layout, render, writer

COURSE = NetSpec(biases=(0.35, 0.60))
#: sigmoid/tanh/ReLU/softmax networks, fixed and trainable biases, one and several examples
NETWORKS = {
    "course 2-2-2": COURSE,
    "tanh softmax ce, trainable, 4 examples": make_spec("tanh", "softmax", "ce", "trainable",
                                                        4, 2),
    "relu sigmoid bce, fixed, 4 examples": make_spec("relu", "sigmoid", "ce", "fixed", 4, 1),
    "leaky linear mse, none, 1 example": make_spec("leaky-relu", "linear", "mse", "none", 1, 1),
}
OPTIMIZERS = [Optimizer("momentum", momentum=0.8), Optimizer("nesterov"),
              Optimizer("rmsprop", alpha=0.9), Optimizer("adam", betas=(0.8, 0.99), eps=1e-6)]
#: rates per optimizer: adaptive steps have the size η from the first step on
RATES = {"momentum": 0.2, "nesterov": 0.2, "rmsprop": 0.01, "adam": 0.05}
EPOCHS = 30
#: Why this bound: the sheet's tree and torch.optim compute the same update in a different
#: order of operations (torch: Adam's η/(1 − β1^t) times m over √v/√(1 − β2^t) + ε; lerp for
#: m; fused addcmul/addcdiv), so each step differs by a few ulps, and the forward pass differs as
#: test_topology's TOLERANCE says. Those differences are carried forward by the weights; an
#: adaptive step divides by √v̂, which a tiny gradient makes small, so its relative error is the
#: gradient's. Measured worst over these 16 runs of 30 steps: 4.7e-14 of a quantity's scale
#: (Adam, tanh/softmax/CE, trainable biases, 4 examples; the others 2e-16 to 8e-15); a nearby
#: wrong optimizer (test_a_wrong_update_is_far_outside_the_bound) is off by 7e-2 to 3.9.
TORCH_RTOL = 1e-10


def with_optimizer(spec: NetSpec, o: Optimizer) -> NetSpec:
    return dataclasses.replace(spec, optimizer=o)


@pytest.mark.parametrize("o", OPTIMIZERS, ids=[o.name for o in OPTIMIZERS])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_the_engine_takes_torch_optims_steps(network: str, o: Optimizer) -> None:
    """Every E_total, weight and gradient, every step, as torch.optim's float64 run."""
    spec = with_optimizer(NETWORKS[network], o)
    lr = RATES[o.name]
    ours, theirs = topology.trace(spec, lr, EPOCHS), torch_descent(spec, lr, EPOCHS)
    for q, expected in theirs.items():
        assert deviation(ours[q], expected) < TORCH_RTOL, q
    # and the run learned: the optimizer moved the weights, E_total went down
    assert ours["E_total"][-1] < ours["E_total"][0]


@pytest.mark.parametrize("o", OPTIMIZERS, ids=[o.name for o in OPTIMIZERS])
def test_a_wrong_update_is_far_outside_the_bound(o: Optimizer) -> None:
    """The bound separates: the same run with a nearby hyperparameter (what β1 for β2, a
    forgotten decay or a different ε amount to) is far outside it."""
    spec = with_optimizer(COURSE, o)
    lr = RATES[o.name]
    near = {"momentum": dataclasses.replace(o, momentum=0.0),
            "nesterov": dataclasses.replace(o, name="momentum"),
            "rmsprop": dataclasses.replace(o, alpha=0.99),
            "adam": dataclasses.replace(o, betas=(o.betas[1], o.betas[0]))}[o.name]
    theirs = torch_descent(spec, lr, EPOCHS)
    wrong = topology.trace(with_optimizer(COURSE, near), lr, EPOCHS)
    assert max(deviation(wrong[q], theirs[q]) for q in theirs) > 1e3 * TORCH_RTOL


def test_sgd_is_the_default_and_unchanged() -> None:
    """Plain descent keeps its equations: no state, p − η·∂E/∂p, the first row like the
    others; the default workbook's formulas are those (tests/test_writer compares it with the
    committed file)."""
    spec = NetSpec()
    assert spec.optimizer == SGD
    eq, first = topology.equations(spec), topology.equations(spec, first=True)
    assert list(eq) == list(first)
    assert not any(layout.kind(q) == "state" for q in eq)
    ref = {n: n for n in ("w1", "∂E/∂w1", "η")}
    assert topology.updates(spec)["w1"].excel(lambda n, lag: ref[n] + "'" * lag) == \
        "w1'-η*∂E/∂w1'"


def test_the_adam_sheet_shows_every_state_and_step() -> None:
    """One column per parameter of m, v, m̂, v̂ and the step number; β1, β2, ε beside η."""
    spec = with_optimizer(COURSE, Optimizer("adam"))
    lay = layout.plan(spec)
    state = [c for c in lay.columns if layout.kind(c) == "state"]
    weights = [f"w{k}" for k in range(1, 9)]
    assert state == ["step", *(f"{s}_{w}" for s in ("m", "v", "m̂", "v̂") for w in weights)]
    assert {"η", "β1", "β2", "ε"} <= set(lay.block)
    assert "optimizer" in [v.name for v in lay.views]
    tr = topology.trace(spec, 0.05, 5)
    assert list(tr["step"]) == [1, 2, 3, 4, 5]
    # Adam's first step has the size η whatever the gradient (the bias corrections make m̂ = g
    # and v̂ = g²): η·|g|/(|g| + ε), ε the only difference
    g = abs(float(tr["∂E/∂w1"][0]))
    assert abs(tr["w1"][1] - tr["w1"][0]) == pytest.approx(0.05 * g / (g + 1e-8), rel=1e-12)


#: networks of several examples, stepped on mini-batches: a batch of one (per-example SGD)
#: and of 3 of 4 examples (which does not divide them: a batch wraps from example 4 to 1)
BATCHED = {
    "sigmoid half-se, fixed, 4 examples": make_spec("sigmoid", "sigmoid", "half-se", "fixed",
                                                    4, 1),
    **{k: v for k, v in NETWORKS.items() if len(v.examples) > 1},
}
BATCH_SIZES = (1, 3)


def batched(spec: NetSpec, o: Optimizer, size: int) -> NetSpec:
    return dataclasses.replace(spec, optimizer=o, batch_size=size)


@pytest.mark.parametrize("size", BATCH_SIZES)
@pytest.mark.parametrize("o", (SGD, *OPTIMIZERS), ids=["sgd", *(o.name for o in OPTIMIZERS)])
@pytest.mark.parametrize("network", list(BATCHED))
def test_mini_batches_take_torch_optims_steps(network: str, o: Optimizer, size: int) -> None:
    """Each row one step on the next `size` examples, cycling: every E_total (the step's
    examples' loss), weight and gradient as torch.optim's float64 run on the same batches
    (the bound: TORCH_RTOL's reasons; measured worst 1.5e-14, Adam on tanh/softmax/CE with
    batches of 3)."""
    spec = batched(BATCHED[network], o, size)
    lr = RATES.get(o.name, 0.2)
    ours, theirs = topology.trace(spec, lr, EPOCHS), torch_descent(spec, lr, EPOCHS)
    for q, expected in theirs.items():
        assert deviation(ours[q], expected) < TORCH_RTOL, q
    # each row names its examples: 1..N, then the next N, after the last the first again
    for k in range(size):
        column = ours[f"ex{topology.example_suffix(spec, k)}"]
        assert [int(v) for v in column] == [topology.batch_examples(spec, r)[k]
                                            for r in range(EPOCHS)]
    assert topology.batch_examples(spec, 1) == ([2] if size == 1 else [4, 1, 2])


def test_a_batch_of_every_example_is_full_batch_descent() -> None:
    spec = BATCHED["sigmoid half-se, fixed, 4 examples"]
    assert dataclasses.replace(spec, batch_size=4) == spec
    assert not any(layout.kind(c) == "batch" for c in layout.plan(spec).columns)
    with pytest.raises(SpecError, match="--batch-size: give 1 to 4"):
        dataclasses.replace(spec, batch_size=5)


def test_a_mini_batch_sheet_picks_its_examples_from_the_network_sheet(tmp_path: Path) -> None:
    """The step's examples are live formulas: ex cycles with MOD, the inputs and targets are
    INDEX into the Network sheet's table of examples; the `formulas` engine (another
    implementation of Excel's functions) recomputes every column as the engine's trace."""
    from tests.engines import load_model, value

    spec = batched(make_spec("sigmoid", "sigmoid", "half-se", "fixed", 3, 1), SGD, 2)
    path = writer.build(NetRun(spec, (0.5,), 6), tmp_path / "batch.xlsx")
    lay = layout.plan(spec)
    ws = openpyxl.load_workbook(path)["LR 0.5"]
    assert ws[lay.cell("ex[1]", 0)].value == "=1"
    assert ws[lay.cell("ex[2]", 1)].value == "=MOD({}+1,3)+1".format(lay.cell("ex[2]", 0))
    assert ws[lay.cell("i1[2]", 1)].value == \
        f"=INDEX('Network'!$B$6:$B$8,{lay.cell('ex[2]', 1)})"
    assert ws.cell(lay.header_row + 1, 1).value == "step"
    solution = load_model(path).calculate()
    assert_columns(lambda a: value(solution, path, "LR 0.5", a), lay, "LR 0.5",
                   topology.trace(spec, 0.5, 6), 6)


@pytest.mark.parametrize("size", (None, 3))
def test_the_cached_values_are_torch_optims_run(size: int | None, tmp_path: Path) -> None:
    """The numbers a viewer that does not recalculate shows (the file's cached values): every
    weight, gradient and E_total of every optimizer's sheet as torch.optim's float64 run, with
    full batches and with mini-batches of 3 (bound: TORCH_RTOL's reasons)."""
    spec = dataclasses.replace(BATCHED["relu sigmoid bce, fixed, 4 examples"], batch_size=size)
    run = NetRun(spec, (0.1,), EPOCHS, (SGD, *OPTIMIZERS))
    path = writer.build(run, tmp_path / "cached.xlsx")
    book = openpyxl.load_workbook(path, data_only=True)
    for sheet in layout.rate_sheets(run):
        lay, ws = layout.plan(sheet.spec), book[sheet.name]
        for q, expected in torch_descent(sheet.spec, sheet.lr, EPOCHS).items():
            got = np.array([ws[lay.cell(q, e)].value for e in range(EPOCHS)], dtype=float)
            assert deviation(got, expected) < TORCH_RTOL, (sheet.name, q)


@pytest.mark.libreoffice
@needs_soffice
@pytest.mark.timeout(600)
def test_libreoffice_recomputes_every_optimizer_and_follows_an_edit(tmp_path: Path) -> None:
    """Two workbooks, full batch and mini-batches of 3, each a sheet per optimizer and rate:
    LibreOffice recalculates them and every column of every sheet is the engine's, every
    weight and E_total torch.optim's; then β1 and η of an Adam sheet and μ of a momentum sheet
    are edited there (in both), and those sheets compute torch.optim's run with the new
    values. One LibreOffice process converts all four files."""
    spec = NETWORKS["tanh softmax ce, trainable, 4 examples"]
    opts = (SGD, *OPTIMIZERS)
    books = {}
    for label, net in (("full", spec), ("batch", dataclasses.replace(spec, batch_size=3))):
        run = NetRun(net, (0.05, 0.2), EPOCHS, opts)
        books[label] = (writer.build(run, tmp_path / f"{label}.xlsx"), layout.rate_sheets(run))
    sheets = books["full"][1]
    assert [s.name for s in sheets][:3] == ["LR 0.05 sgd", "LR 0.2 sgd", "LR 0.05 momentum"]

    def cell(s: layout.RateSheet, name: str) -> str:
        return layout.plan(s.spec).value_ref(name).replace("$", "")

    edits = {}
    for label, (path, rate_sheets) in list(books.items()):
        adam = next(s for s in rate_sheets if s.name == "LR 0.2 adam")
        momentum = next(s for s in rate_sheets if s.name == "LR 0.05 momentum")
        edited = tmp_path / f"{label}-edited.xlsx"
        edit_numbers(path, edited, {adam.name: {cell(adam, "β1"): 0.5, cell(adam, "η"): 0.1},
                                    momentum.name: {cell(momentum, "μ"): 0.3}})
        edits[label] = (edited, [
            (adam, dataclasses.replace(adam.spec, optimizer=dataclasses.replace(
                adam.spec.optimizer, betas=(0.5, 0.99))), 0.1),
            (momentum, dataclasses.replace(momentum.spec, optimizer=dataclasses.replace(
                momentum.spec.optimizer, momentum=0.3)), 0.05)])
    paths = [p for p, _ in books.values()] + [p for p, _ in edits.values()]
    recomputed = dict(zip(paths, render.recalculated_copies(paths, tmp_path / "lo"),
                          strict=True))

    def assert_torch(ws: object, sheet_name: str, net: NetSpec, lr: float) -> None:
        lay = layout.plan(net)
        # LibreOffice's TANH and EXP differ from the engine's correctly rounded ones by ulps;
        # RMSprop's and Adam's steps divide a gradient by its own root mean square, so a
        # gradient that is a small sum of larger terms (one batch's) carries its relative
        # error, not an ulp, into every later weight: TORCH_RTOL, not SCALE_RTOL (measured
        # worst 3.0e-12, RMSprop on mini-batches of 3, η 0.05)
        assert_columns(lambda a: ws[a].value, lay, sheet_name,  # type: ignore[index]
                       topology.trace(net, lr, EPOCHS), EPOCHS, TORCH_RTOL)
        for q, expected in torch_descent(net, lr, EPOCHS).items():
            got = np.array([ws[lay.cell(q, e)].value for e in range(EPOCHS)])  # type: ignore[index]
            assert deviation(got, expected) < TORCH_RTOL, (sheet_name, q)

    for label, (path, rate_sheets) in books.items():
        book = openpyxl.load_workbook(recomputed[path], data_only=True)
        for sheet in rate_sheets:
            assert_torch(book[sheet.name], sheet.name, sheet.spec, sheet.lr)
        summary = book["Summary"]
        assert summary["A4"].value == 0.05 and summary["B10"].value == "LR 0.05 rmsprop"
        edited, changed = edits[label]
        book = openpyxl.load_workbook(recomputed[edited], data_only=True)
        for s, net, lr in changed:
            assert_torch(book[s.name], s.name, net, lr)


def test_cli_builds_several_optimizers(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    out = tmp_path / "o.xlsx"
    assert main(["--optimizer", "adam", "momentum", "--lr", "0.05", "0.5", "--betas", "0.8",
                    "0.99", "--momentum", "0.5", "--epochs", "20", "--out", str(out)]) == 0
    assert "4 sheets (2 optimizers × 2 learning rates) × 20 epochs" in capsys.readouterr().out
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[3:] == ["LR 0.05 adam", "LR 0.5 adam", "LR 0.05 momentum",
                                   "LR 0.5 momentum"]
    ws = book["LR 0.05 adam"]
    block = layout.plan(with_optimizer(COURSE, Optimizer("adam"))).block
    row, col = block["β1"]
    assert ws.cell(row + 1, col + 1).value == 0.8
    # one optimizer: the sheets keep their plain names
    assert main(["--optimizer", "rmsprop", "--lr", "0.01", "--epochs", "5", "--out",
                    str(out), "-q"]) == 0
    assert openpyxl.load_workbook(out).sheetnames[3:] == [sheet_name(0.01)]


def test_the_spec_file_names_the_optimizer(tmp_path: Path) -> None:
    toml = tmp_path / "net.toml"
    toml.write_text('optimizer = ["nesterov", "adam"]\nmomentum = 0.7\neps = 1e-7\n',
                    encoding="utf-8")
    fields = netrun.read_toml(toml)
    assert netrun.optimizers_of(fields) == (Optimizer("nesterov", momentum=0.7, eps=1e-7),
                                            Optimizer("adam", momentum=0.7, eps=1e-7))
    assert netrun.net_spec(fields).optimizer.name == "nesterov"


@pytest.mark.parametrize(("argv", "message"), [
    (("--optimizer", "momentum", "--betas", "0.8", "0.9"), "--betas is read by adam only"),
    (("--optimizer", "adam", "--betas", "0.9", "1"), "--betas: give a number in [0, 1)"),
    (("--optimizer", "rmsprop", "--eps", "0"), "--eps: give a number > 0"),
    (("--optimizer", "adam", "adam"), "give each optimizer once"),
    (("--momentum", "0.5",), "--momentum is read by momentum and nesterov only"),
    (("--optimizer", "adamw",), "invalid choice: 'adamw'"),
    (("--batch-size", "2"), "--batch-size: give 1 to 1 (the number of examples), got 2"),
    (("--batch-size", "0"), "argument --batch-size: must be at least 1, got 0"),
])
def test_bad_optimizer_requests_are_one_line(argv: tuple[str, ...], message: str,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.xlsx"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_every_optimizer_name_is_a_choice() -> None:
    assert NAMES == ("sgd", "momentum", "nesterov", "rmsprop", "adam")
    with pytest.raises(SpecError, match="choose one of"):
        Optimizer("lion")


# check of optimizer sheets: tests/test_check_optimizers.py


def test_the_committed_optimizers_workbook_is_what_its_command_writes(tmp_path: Path) -> None:
    """generated/optimizers/optimizers.xlsx is the documented command's file, byte for byte
    (its cached values come from CPU-independent arithmetic: SQRT is IEEE's, β^step decimal)."""
    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "optimizers.xlsx"
    assert main(["--optimizer", "sgd", "momentum", "adam", "--lr", "0.5", "--out", str(out),
                 "-q"]) == 0
    assert out.read_bytes() == (repo / "generated" / "optimizers" / "optimizers.xlsx").read_bytes()
    command = ("python -m workbook_builder --optimizer sgd momentum adam --lr 0.5 --out "
               "generated/optimizers/optimizers.xlsx --render")
    assert command in (repo / "docs" / "teacher.md").read_text(encoding="utf-8")
