"""`check` on every network the builder makes: its own workbooks pass, planted mistakes are found
once with their root cause, messy headers are read, and a network nobody named is read off the
headers (or --spec is asked for)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests import planted
from tests.test_topology import OUTPUT_LOSSES, make_spec
from workbook_builder.check import audit
from workbook_builder.check.foreign import AuditError
from workbook_builder.check.verdict import SheetReport
from workbook_builder.classroom import points
from workbook_builder.cli.main import main
from workbook_builder.network import topology
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet import layout


def fields(spec: NetSpec) -> dict[str, Any]:
    """The network as check takes it (what --spec gives), without the initial weights."""
    out: dict[str, Any] = {"layers": list(spec.layers), "activation": spec.activation,
                           "output_activation": spec.output_activation, "loss": spec.loss,
                           "train_biases": spec.train_biases,
                           "examples": [list(x) + list(t) for x, t in spec.examples]}
    if spec.biases is not None:
        out["biases"] = list(spec.biases)
    return out


def checked(path: Path, network: dict[str, Any] | None, tmp: Path) -> list[SheetReport]:
    work = tmp / f"work-{path.stem}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    from formulas.excel import xlreader

    opener = xlreader.load_workbook
    try:
        return audit.audit(path, work, network=network)
    finally:  # audit() guards the engine's opener for the rest of the (child) process
        xlreader.load_workbook = opener


def wrong(reports: list[SheetReport]) -> dict[str, str | None]:
    return {c.name: c.diagnosis for r in reports for c in r.columns if c.ok is False}


def assert_all_right(reports: list[SheetReport], spec: NetSpec) -> None:
    (report,) = reports
    assert wrong(reports) == {}
    assert [c.name for c in report.columns if c.ok is not True] == []
    assert report.missing == []
    shown = set(layout.plan(spec).columns[1:])
    assert {c.name for c in report.columns} >= shown  # every column found and judged
    assert points.score(reports).points == 100


def matrix(k: int, activation: str, output: str, loss: str) -> NetSpec:
    """The builder's matrix, the other axes rotated: biases none/fixed/trainable, 1 or 4
    examples, 1-3 hidden layers."""
    return make_spec(activation, output, loss, ("none", "fixed", "trainable")[k % 3],
                     (1, 4)[k % 2], 1 + k % 3)


FAST = [(k, topology.HIDDEN_ACTIVATIONS[k % 5], *pair) for k, pair in enumerate(OUTPUT_LOSSES)]
FULL = [(k, a, *pair) for k, (a, pair) in enumerate(itertools.product(
    topology.HIDDEN_ACTIVATIONS, OUTPUT_LOSSES))]


@pytest.mark.parametrize(("k", "activation", "output", "loss"), FAST,
                         ids=[f"{a}-{o}-{lo}" for _, a, o, lo in FAST])
def test_the_builders_workbook_of_each_network_is_right(tmp_path: Path, k: int,
                                                        activation: str, output: str,
                                                        loss: str) -> None:
    spec = matrix(k, activation, output, loss)
    path = planted.build(spec, tmp_path / "net.xlsx", epochs=5)
    assert_all_right(checked(path, fields(spec), tmp_path), spec)


@pytest.mark.slow
@pytest.mark.parametrize(("k", "activation", "output", "loss"), FULL,
                         ids=[f"{a}-{o}-{lo}" for _, a, o, lo in FULL])
def test_every_configuration_of_the_matrix_is_right(tmp_path: Path, k: int, activation: str,
                                                    output: str, loss: str) -> None:
    spec = matrix(k, activation, output, loss)
    path = planted.build(spec, tmp_path / "net.xlsx", epochs=4)
    assert_all_right(checked(path, fields(spec), tmp_path), spec)


# --- planted mistakes --------------------------------------------------------------------------
XOR = NetSpec(layers=(2, 3, 1), activation="tanh", train_biases=True, biases=(0.1, 0.2),
              examples=(((0, 1), (1,)), ((1, 0), (1,)), ((1, 1), (0,)), ((0, 0), (0,))),
              weights=None)
SOFTMAX = NetSpec(layers=(3, 3, 3), activation="relu", output_activation="softmax", loss="ce",
                  examples=(((0.5, -0.2, 0.1), (1, 0, 0)), ((-0.3, 0.8, 0.4), (0, 1, 0)),
                            ((0.9, 0.1, -0.7), (0, 0, 1))), weights=None, init_seed=3)
BCE = NetSpec(layers=(2, 2, 2), activation="sigmoid", output_activation="sigmoid", loss="ce",
              examples=(((0.05, 0.1), (0.01, 0.99)),), biases=(0.35, 0.6), weights=None)
MSE = NetSpec(layers=(2, 2, 1), activation="sigmoid", loss="mse",
              examples=(((0.05, 0.1), (0.8,)), ((0.5, -0.4), (0.2,))), weights=None)

Change = Callable[[dict[str, str]], planted.Plant]


def names(pattern: str, replacement: str) -> Change:
    """A substitution written with quantities' names in braces ({h1[1]} is its column letter,
    followed by the row): ``names(r"{w1}(\\d+)", r"{w2}\\1")``."""
    def make(letters: dict[str, str]) -> planted.Plant:
        def fill(text: str) -> str:
            for name, letter in sorted(letters.items(), key=lambda kv: -len(kv[0])):
                text = text.replace("{" + name + "}", letter)
            return text
        return planted.sub(fill(pattern), fill(replacement))
    return make


def letters_of(path: Path) -> dict[str, str]:
    ws = planted.rate_sheet(openpyxl.load_workbook(path))
    return {str(c.value): c.column_letter for c in ws[planted.header_row(ws)]
            if c.value is not None}


#: (network, column, mistake, first epoch row it is in, diagnosis words)
PLANTED: list[tuple[str, NetSpec, str, Change, int, str]] = [
    ("delta-doubled", XOR, "δ_h1[1]", lambda _: lambda f, r: f"=2*({f[1:]})", 0,
     "twice the right value"),
    ("tanh-slope-as-sigmoid", XOR, "δ_h1[1]", names(r"\(1-({a_h1[1]}\d+)\^2\)", r"\1*(1-\1)"),
     0, "uses σ′ = a(1 − a) where tanh′ = 1 − a² belongs"),
    ("update-sign", XOR, "w3", names(r"-\$", "+$"), 1, "sign error"),
    ("bias-typed", XOR, "b_h2", lambda _: planted.typed(0.1), 1, "the bias never learns"),
    ("bias-copied", XOR, "b_h2", lambda _: lambda f, r: f"=L{r - 1}", 1,
     "never changes: the bias never learns"),
    ("mean-for-sum", XOR, "E_total", names(r"^=(.*)$", r"=(\1)/4"), 0,
     "the mean over the 4 examples"),
    ("half-missing", XOR, "E1[2]", names(r"^=0\.5\*", "="), 0, "is the ½ missing?"),
    ("one-example-term", XOR, "∂E/∂w1", names(r"\+.*$", ""), 0, "example 1's term only"),
    # η (C3) written without $ at epoch 1 (row 9) and filled down: C4, C5, … below
    ("eta-without-dollar", XOR, "w2", lambda _: lambda f, r: f.replace("$C$3", f"C{r - 6}"), 1,
     "drifts"),
    ("other-example", XOR, "a_h1[2]", names(r"TANH\({h1[2]}", "TANH({h1[1]}"), 0,
     "uses h1[1] where h1[2] belongs"),
    ("swapped-weights", XOR, "h1[1]", names(r"^={w1}(\d+)\*(.*)\+{w2}(\d+)\*",
                                            r"={w2}\1*\2+{w1}\3*"), 0, "swaps"),
    ("typed-forward", XOR, "a_h2[1]", lambda _: planted.typed(0.3), 0, "typed number"),
    ("row-above", XOR, "a_h3[4]", lambda _: lambda f, r: f.replace(str(r), str(r - 1)), 1,
     "from row r-1"),
    ("softmax-as-separate", SOFTMAX, "δ_o2[3]",
     lambda L: lambda f, r: f"=({L['a_o2[3]']}{r}-'Network'!$F$8)*{L['a_o2[3]']}{r}"
     f"*(1-{L['a_o2[3]']}{r})", 0, "treats each softmax output as a separate sigmoid"),
    ("bce-keeps-slope", BCE, "δ_o1", lambda L: lambda f, r: f"={f[1:]}*{L['a_o1']}{r}"
     f"*(1-{L['a_o1']}{r})", 0, "which cross-entropy cancels"),
    ("sigmoid-slope-left-out", MSE, "δ_o1[2]", names(r"\*{a_o1[2]}\d+\*\(1-{a_o1[2]}\d+\)$",
                                                     ""), 0, "leaves out σ′"),
    ("sum-for-mean", MSE, "E_total", names(r"/2$", ""), 0, "a sum over the 2 examples"),
    ("sigmoid-sign", MSE, "a_o1[1]", names(r"MIN\(709,-", "MIN(709,"), 0,
     "the sign inside EXP is flipped"),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("networks")
    return {id(spec): planted.build(spec, folder / f"net{k}.xlsx")
            for k, spec in enumerate((XOR, SOFTMAX, BCE, MSE))}


@pytest.mark.parametrize(("case", "spec", "column", "change", "first", "words"), PLANTED,
                         ids=[p[0] for p in PLANTED])
def test_a_planted_mistake_is_found_once_with_its_cause(
        tmp_path: Path, sources: dict[int, Path], case: str, spec: NetSpec, column: str,
        change: Change, first: int, words: str) -> None:
    source = sources[id(spec)]
    path = planted.plant(source, tmp_path / f"{case}.xlsx", column,
                         change(letters_of(source)), first)
    reports = checked(path, fields(spec), tmp_path)
    found = wrong(reports)
    assert list(found) == [column], found  # the root cause only: nothing downstream
    assert words in (found[column] or ""), found[column]
    # charged once, at the root cause (points.py): WRONG never scores full points, and what
    # reads the wrong column keeps its points and says it is right given a wrong input
    score = points.score(reports)
    assert score.points < 100
    charged = {q for line in score.lost for q in line.split(": ", 1)[1].rsplit(" (", 1)[0]
               .split(", ")}
    assert charged == {column}, score.lost
    (report,) = reports
    followers = [c for c in report.columns if column in c.given_wrong]
    assert all(c.ok is True for c in followers)
    if not column.startswith(("E_total", "w", "b_")):  # these feed the next row, or nothing
        assert followers, [c.name for c in report.columns]


def test_the_builders_own_sources_are_right(tmp_path: Path, sources: dict[int, Path]) -> None:
    for spec in (XOR, SOFTMAX, BCE, MSE):
        assert_all_right(checked(sources[id(spec)], fields(spec), tmp_path), spec)


# --- messy headers, no network named -----------------------------------------------------------
MESSY = {"a_h1[2]": "out_h1 (ex 2)", "∂E/∂w3": "dE/dw3", "h2[1]": "net h2 [1]",
         "b_h1": "bias h1", "E_total": "Loss", "∂E/∂b_o1": "dE/db_o1", "δ_h3[4]": "delta h3 #4",
         "a_o1[3]": "a_o1 ex3", "epoch": "Iteration"}


def test_messy_headers_are_read_as_a_person_reads_them(tmp_path: Path,
                                                       sources: dict[int, Path]) -> None:
    wb = openpyxl.load_workbook(sources[id(XOR)])
    ws = planted.rate_sheet(wb)
    for cell in ws[planted.header_row(ws)]:
        if cell.value in MESSY:
            cell.value = MESSY[cell.value]
    wb.save(tmp_path / "messy.xlsx")
    assert_all_right(checked(tmp_path / "messy.xlsx", fields(XOR), tmp_path), XOR)


def test_without_a_network_the_headers_and_formulas_say_which(tmp_path: Path,
                                                             sources: dict[int, Path]) -> None:
    reports = checked(sources[id(XOR)], None, tmp_path)
    assert_all_right(reports, XOR)
    note = reports[0].notes[0]
    assert "read as a 2-3-1 network: tanh hidden, sigmoid output, half-se loss, 4 examples, " \
        "trainable biases" in note and "--spec" in note


def test_headers_that_cannot_tell_the_network_ask_for_spec(tmp_path: Path,
                                                          sources: dict[int, Path]) -> None:
    wb = openpyxl.load_workbook(sources[id(XOR)])
    ws = planted.rate_sheet(wb)
    for cell in ws[planted.header_row(ws)]:
        if str(cell.value).startswith("a_h1"):
            cell.value = "act 1"  # nothing says which column is the activation
    wb.save(tmp_path / "unclear.xlsx")
    with pytest.raises(AuditError, match=r"2-3-1 network .* --spec FILE.toml"):
        checked(tmp_path / "unclear.xlsx", None, tmp_path)


def test_check_takes_the_network_on_the_command_line(tmp_path: Path, sources: dict[int, Path],
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    spec_file = _xor_toml(tmp_path)
    assert main(["check", str(sources[id(XOR)]), "--spec", str(spec_file), "--every-row"]) == 0
    assert "all right" in capsys.readouterr().out
    # options alone; the number of examples read from the headers
    assert main(["check", str(sources[id(XOR)]), "--layers", "2", "3", "1", "--activation",
                 "tanh", "--train-biases", "--biases", "0.1", "0.2"]) == 0
    capsys.readouterr()
    # the network a teacher set is not the one the sheet computes: wrong, not right
    assert main(["check", str(sources[id(XOR)]), "--layers", "2", "3", "1", "--train-biases",
                 "--biases", "0.1", "0.2"]) == 1
    assert "computes tanh of h1[1]: the network's hidden activation is sigmoid" in \
        capsys.readouterr().out


@pytest.mark.parametrize(("argv", "words"), [
    (["--layers", "2", "2"], "--layers"),
    (["--layers", "2", "3", "1", "--activation", "swish"], "--activation 'swish'"),
    (["--spec", "missing.toml"], "missing.toml"),
])
def test_a_network_that_cannot_be_is_one_line_and_exit_2(
        tmp_path: Path, sources: dict[int, Path], capsys: pytest.CaptureFixture[str],
        argv: list[str], words: str) -> None:
    assert main(["check", str(sources[id(XOR)]), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


# --- one example a row -------------------------------------------------------------------------
TWO = (((0.05, 0.1), (0.01, 0.99)), ((0.5, -0.4), (0.7, 0.2)))


def test_a_sheet_that_updates_after_each_example_is_named_as_such(tmp_path: Path) -> None:
    from tests.messy import Layout, make

    path = make(tmp_path / "sgd.xlsx", Layout(rows=8))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = {str(c.value): c.column for c in ws[3] if c.value is not None}
    for k, r in enumerate(range(4, 12)):  # the two examples, one a row, in turn
        x, t = TWO[k % 2]
        for name, value in zip(("i1", "i2", "t1", "t2"), (*x, *t), strict=True):
            ws.cell(r, header[name]).value = value
    wb.save(path)
    spec = NetSpec(examples=TWO)
    (report,) = checked(path, fields(spec), tmp_path)
    assert len(report.findings) == 1 and "updated after each example" in report.findings[0]
    assert "stochastic" in report.findings[0]
    assert wrong([report]) == {}  # one finding, not a dozen wrong cells: each row is a right
    assert report.wrong  # one-example step, and the sheet is still not the network's


def test_messy_headers_without_a_network_are_read_too(tmp_path: Path,
                                                      sources: dict[int, Path]) -> None:
    wb = openpyxl.load_workbook(sources[id(XOR)])
    ws = planted.rate_sheet(wb)
    for cell in ws[planted.header_row(ws)]:
        if cell.value in MESSY:
            cell.value = MESSY[cell.value]
    wb.save(tmp_path / "messy.xlsx")
    reports = checked(tmp_path / "messy.xlsx", None, tmp_path)
    assert_all_right(reports, XOR)
    assert "read as a 2-3-1 network: tanh hidden" in reports[0].notes[0]


def test_a_class_of_another_network_with_annotated_copies(tmp_path: Path,
                                                          sources: dict[int, Path],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    folder = tmp_path / "class"
    (folder / "ada").mkdir(parents=True)
    (folder / "bob").mkdir()
    shutil.copy(sources[id(XOR)], folder / "ada" / "backprop.xlsx")
    source = sources[id(XOR)]
    planted.plant(source, folder / "bob" / "backprop.xlsx", "w3", planted.sub(r"-\$", "+$"), 1)
    spec_file = _xor_toml(tmp_path)
    code = main(["check", str(folder), "--spec", str(spec_file), "--csv",
                 str(tmp_path / "grades.csv"), "--annotate", str(tmp_path / "marked")])
    assert code == 1
    rows = (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3
    ada = next(r for r in rows if "ada" in r)
    bob = next(r for r in rows if "bob" in r)
    assert ",100," in ada or ",100.0," in ada, ada
    assert "w3" in bob and "sign error" in bob, bob
    marked = openpyxl.load_workbook(tmp_path / "marked" / "bob" / "backprop.checked.xlsx")
    assert "Check" in marked.sheetnames


# --- hand-made layouts (tests/handmade.py) -----------------------------------------------------
HANDMADE = [("xor-deltas", XOR, True), ("xor-no-deltas", XOR, False),
            ("softmax-no-deltas", SOFTMAX, False), ("mse-deltas", MSE, True),
            ("bce-no-deltas", BCE, False)]


@pytest.mark.parametrize(("case", "spec", "deltas"), HANDMADE, ids=[h[0] for h in HANDMADE])
def test_a_hand_made_layout_of_each_network_is_read_and_right(tmp_path: Path, case: str,
                                                              spec: NetSpec,
                                                              deltas: bool) -> None:
    from tests import handmade

    path = handmade.write(spec, tmp_path / f"{case}.xlsx", deltas=deltas)
    (report,) = checked(path, fields(spec), tmp_path)
    assert wrong([report]) == {} and report.missing == []
    assert all(c.ok is True for c in report.columns)
    assert report.ok


def plant_by_header(path: Path, out: Path, header: str, change: planted.Plant,
                    first_row_offset: int = 0) -> Path:
    """``change`` applied to every formula below the cell whose text is ``header``."""
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    (cell,) = [c for row in ws.iter_rows() for c in row if c.value == header]
    for r in range(cell.row + 1 + first_row_offset, ws.max_row + 1):
        target = ws.cell(r, cell.column)
        if isinstance(target.value, str):
            target.value = change(target.value, r)
    wb.save(out)
    return out


@pytest.mark.parametrize(("spec", "header", "change", "words"), [
    (SOFTMAX, "dE/dw10", planted.sub(r"\+.*$", ""), "holds example 1's term only"),
    (XOR, "out h2 (ex 3)", planted.sub(r"TANH\(", "MAX(0,"), "computes relu of h2[3]"),
    (XOR, "dE/dw2", planted.sub(r"1-(\w+)\^2", r"\1*(1-\1)"),
     "uses σ′ = a(1 − a) where tanh′ = 1 − a² belongs"),
], ids=["one-example-term", "relu-for-tanh", "sigmoid-slope-written-out"])
def test_a_planted_mistake_in_a_hand_made_layout(tmp_path: Path, spec: NetSpec, header: str,
                                                 change: planted.Plant, words: str) -> None:
    from tests import handmade

    source = handmade.write(spec, tmp_path / "hand.xlsx", deltas=False)
    path = plant_by_header(source, tmp_path / "planted.xlsx", header, change)
    reports = checked(path, fields(spec), tmp_path)
    found = wrong(reports)
    assert len(found) == 1, found  # the root cause only
    assert words in (next(iter(found.values())) or ""), found


def test_headers_a_person_writes_without_the_index(tmp_path: Path) -> None:
    """One output's t, ŷ and o without an index, trainable biases numbered through the network
    (b1 b2 b3 hidden, b4 output), a single loss column."""
    from tests import handmade

    spec = NetSpec(layers=(2, 3, 1), activation="tanh", train_biases=True, biases=(0.1, 0.2),
                   examples=(((0.3, -0.6), (0.8,)),), weights=None)
    path = handmade.write(spec, tmp_path / "plain.xlsx", deltas=False)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    plain = {"out o1": "ŷ", "o1": "net o", "y1": "y", "bias h1": "b1", "bias h2": "b2",
             "bias h3": "b3", "bias o1": "b4", "dE/db h2": "dE/db2", "dE/db o1": "dE/db4"}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value in plain:
                cell.value = plain[cell.value]
    # E1 is E_total here: a sheet may show the loss once
    (e1,) = [c for row in ws.iter_rows() for c in row if c.value == "E1"]
    ws.cell(e1.row, e1.column).value = "note"
    wb.save(path)
    (report,) = checked(path, fields(spec), tmp_path)
    assert wrong([report]) == {} and report.missing == [], (wrong([report]), report.missing)
    names = {c.name for c in report.columns if c.ok}
    assert {"b_h1", "b_o1", "a_o1", "o1", "∂E/∂b_h2", "∂E/∂b_o1", "E_total"} <= names


def test_a_stray_mark_in_a_2_2_2_header_keeps_the_2_2_2_reading(tmp_path: Path) -> None:
    from tests.messy import Layout, make

    path = make(tmp_path / "stray.xlsx", Layout(rows=6))
    wb = openpyxl.load_workbook(path)
    (cell,) = [c for c in wb.active[3] if c.value == "E_tot"]
    cell.value = "E_total (1)"
    wb.save(path)
    (report,) = checked(path, None, tmp_path)
    assert report.ok, (wrong([report]), report.missing)
    assert any("read as the 2-2-2" in n for n in report.notes), report.notes


def test_a_table_of_one_block_per_epoch_is_named_not_misread(tmp_path: Path) -> None:
    """Full-batch in blocks (one row per example, the weights kept within the block): not read
    yet, and said so — never "updated after each example" with wrong updates."""
    from tests.messy import Layout, make

    path = make(tmp_path / "blocks.xlsx", Layout(rows=8))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = {str(c.value): c.column for c in ws[3] if c.value is not None}
    for k, r in enumerate(range(4, 12)):
        x, t = TWO[k % 2]
        for name, value in zip(("i1", "i2", "t1", "t2"), (*x, *t), strict=True):
            ws.cell(r, header[name]).value = value
        if k % 2:  # the block's second row keeps its first row's weights
            for j in range(1, 9):
                letter = openpyxl.utils.get_column_letter(header[f"w{j}"])
                ws.cell(r, header[f"w{j}"]).value = f"={letter}{r - 1}"
    wb.save(path)
    with pytest.raises(AuditError, match="repeats a block of 2 rows"):
        checked(path, fields(NetSpec(examples=TWO)), tmp_path)


def test_an_input_on_the_network_sheet_that_is_not_a_number(tmp_path: Path,
                                                            sources: dict[int, Path],
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    """i2 of example 3 typed as text on the Network sheet: named with its sheet, the columns
    that use it checked at the changed inputs, and the annotated copy marks that cell."""
    wb = openpyxl.load_workbook(sources[id(XOR)])
    wb["Network"]["C8"] = "1,0"  # a decimal comma: text
    wb.save(tmp_path / "comma.xlsx")
    out = tmp_path / "comma.checked.xlsx"
    assert main(["check", str(tmp_path / "comma.xlsx"), "--spec", str(_xor_toml(tmp_path)),
                 "--annotate", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "i2[3] (cell Network!C8) is not a number ('1,0')" in printed, printed
    assert openpyxl.load_workbook(out)["Network"]["C8"].comment is not None


def _xor_toml(tmp_path: Path) -> Path:
    spec_file = tmp_path / "xor.toml"
    spec_file.write_text('layers = [2, 3, 1]\nactivation = "tanh"\ntrain-biases = true\n'
                         "biases = [0.1, 0.2]\n"
                         "examples = [[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0]]\n")
    return spec_file


def test_softmax_with_one_example_needs_one_loss_column(tmp_path: Path) -> None:
    """Softmax + cross-entropy, one example: its loss E is E_total; a sheet's one "Loss"
    column is E_total, and the other, equal column is found by its values."""
    spec = NetSpec(layers=(2, 3, 3), activation="tanh", output_activation="softmax",
                   loss="ce", examples=(((0.3, -0.2), (0, 1, 0)),), weights=None)
    path = planted.build(spec, tmp_path / "sce.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = planted.rate_sheet(wb)
    for cell in ws[planted.header_row(ws)]:
        if cell.value in ("E", "E_total"):
            cell.value = {"E": "Loss", "E_total": "check"}[cell.value]
    wb.save(path)
    (report,) = checked(path, fields(spec), tmp_path)
    assert report.ok, (wrong([report]), report.missing)
    assert {"E", "E_total"} <= {c.name for c in report.columns if c.ok}


@pytest.mark.slow
@pytest.mark.parametrize(("k", "activation", "output", "loss"), FULL,
                         ids=[f"{a}-{o}-{lo}" for _, a, o, lo in FULL])
def test_planted_mistakes_in_every_configuration(tmp_path: Path, k: int, activation: str,
                                                 output: str, loss: str) -> None:
    """An update's sign and a doubled E_total, in the builder's workbook of every configuration
    of the matrix: each found once, with its diagnosis (a ReLU network whose hidden neurons are
    all off in the sheet's own run too: its changed run turns them on)."""
    spec = matrix(k, activation, output, loss)
    source = planted.build(spec, tmp_path / "net.xlsx", epochs=4)
    for label, column, change, first, words in (
            ("sign", "w1", planted.sub(r"-\$", "+$"), 1, "sign error"),
            ("double", "E_total", planted.sub(r"^=(.*)$", r"=2*(\1)"), 0, "twice")):
        path = planted.plant(source, tmp_path / f"{label}.xlsx", column, change, first)
        found = wrong(checked(path, fields(spec), tmp_path))
        assert list(found) == [column] and words in (found[column] or ""), (label, found)


@pytest.mark.parametrize(("formula", "proved"), [
    ("=MAX(0,O20)", True), ("=MAX(0.01*O20,O20)", True), ("=(O20+ABS(O20))/2", True),
    ("=AQ20*H20*IF(O20>0,1,0.01)", True), ("=EXP(O20-MAX(O20,P20))", True),
    ("=IF(O20>0.5,1,0)", False), ("=IF(O20>-0.5,1,0)", False), ("=MAX(0.5,O20)", False),
    ("=ABS(O20-0.5)", False), ("=IF(Q20>0,1,0)", False), ("=IF(O19>0,1,0)", False),
])
def test_a_piecewise_formula_is_proved_by_text_only_at_the_sums_signs(formula: str,
                                                                     proved: bool) -> None:
    """The pieces the trace follows are the signs of the kinked sums (columns O and P here):
    a kink moved by a constant, or a condition on another cell or row, is not proved by text."""
    from workbook_builder.check.repeats import not_provable_by_text

    why = not_provable_by_text(formula, range(19, 120), (20, {15, 16}))
    assert (why is None) == proved, why
