"""One checker for every network: the same mistake planted in the course's 2-2-2 workbook and
in two other networks' gets the same verdict and the same diagnosis, from the one path (the
engine's equations, netmodel.for_spec; the 2-2-2 network is its preset, netmodel.course)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import planted
from tests.test_check_networks import fields
from workbook_builder.check import audit
from workbook_builder.check.audit_report import WRONG, status
from workbook_builder.check.netmodel import course, for_spec
from workbook_builder.check.verdict import SheetReport
from workbook_builder.network import netrun, topology
from workbook_builder.network.spec import Network
from workbook_builder.network.topology import NetSpec

COURSE = netrun.course_spec(Network())
#: 3-2-2 tanh, linear outputs, mean squared error, two examples, trainable biases
TANH = NetSpec(layers=(3, 2, 2), activation="tanh", output_activation="linear", loss="mse",
               train_biases=True, biases=(0.1, 0.2),
               examples=(((0.5, -0.2, 0.1), (0.3, -0.6)), ((-0.3, 0.8, 0.4), (0.7, 0.1))),
               weights=None, init_seed=5)
#: 2-3-2-2 sigmoid, softmax outputs, cross-entropy, two examples, no biases
DEEP = NetSpec(layers=(2, 3, 2, 2), activation="sigmoid", output_activation="softmax",
               loss="ce", examples=(((0.5, -0.2), (1, 0)), ((0.1, 0.9), (0, 1))),
               weights=None, init_seed=2)
NETWORKS = {"course 2-2-2": COURSE, "3-2-2 tanh": TANH, "2-3-2-2 softmax": DEEP}


def last_hidden_delta(spec: NetSpec) -> str:
    """The first neuron's δ of the last hidden layer, first example (δ_h1, δ_h1[1], δ_h2_1[1])."""
    neuron = topology.neuron_names(spec)[-2][0]
    return f"δ_{neuron}{topology.example_suffix(spec, 0)}"


#: (mistake, the column it is planted in, the change to its formula, first epoch, words)
MISTAKES: list[tuple[str, Callable[[NetSpec], str], planted.Plant, int, str]] = [
    # =(δ_o1*w5+δ_o2*w7)*a*(1-a) -> =(δ_o1*w5)*a*(1-a): the path through o2 left out
    ("a δ term leaves out a path", last_hidden_delta,
     planted.sub(r"^=\((\w+\*\w+)\+\w+\*\w+\)", r"=(\1)"), 0,
     "leaves out the path through o2"),
    ("a gradient with the wrong sign", lambda _: "∂E/∂w1", planted.sub(r"^=(.*)$", r"=-(\1)"),
     0, "the right value with the wrong sign"),
    ("an update that adds", lambda _: "w3", planted.sub(r"-\$", "+$"), 1,
     "adds η·∂E/∂w3 instead of subtracting it (sign error)"),
]


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


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("one-path")
    return {name: planted.build(spec, folder / f"net{k}.xlsx", epochs=5)
            for k, (name, spec) in enumerate(NETWORKS.items())}


@pytest.mark.parametrize(("mistake", "column_of", "change", "first", "words"), MISTAKES,
                         ids=[m[0] for m in MISTAKES])
def test_the_same_mistake_gets_the_same_verdict_on_every_network(
        tmp_path: Path, sources: dict[str, Path], mistake: str,
        column_of: Callable[[NetSpec], str], change: planted.Plant, first: int,
        words: str) -> None:
    verdicts = {}
    for name, spec in NETWORKS.items():
        column = column_of(spec)
        path = planted.plant(sources[name], tmp_path / f"{len(verdicts)}.xlsx", column, change,
                             first)
        # the course's sheet as a student hands it in (no network named: read off the
        # headers); the others with their description, as a grader gives it
        reports = checked(path, None if spec is COURSE else fields(spec), tmp_path)
        found = {c.name: c.diagnosis or "" for r in reports for c in r.columns if c.ok is False}
        assert status(reports) == WRONG and list(found) == [column], (name, found)
        assert words in found[column], (name, found)
        verdicts[name] = unnamed(found[column])
    assert len(set(verdicts.values())) == 1, verdicts  # word for word, but for the names


def unnamed(diagnosis: str) -> str:
    """A diagnosis without what differs between networks: example marks, which weight, which
    hidden neuron (δ_o2[1]·w9 and δ_o2·w7 read alike; so do a_h1[1], a_h2_1 and a_h1)."""
    text = re.sub(r"\[\d+\]", "", diagnosis)
    text = re.sub(r"\bw\d+", "w", text)
    return re.sub(r"h\d+(?:_\d+)?", "h", text)


def test_the_course_model_is_the_engines_model_of_the_course_network() -> None:
    """Not a second set of rules: the course's preset judges every quantity by the engine's own
    tree (printed as Excel text, identical), with b1 and b2 as fixed biases read as 0 where a
    sheet has none."""
    preset = course()
    engine = for_spec(netrun.course_spec(Network(biases=(0.0, 0.0))))
    assert list(preset.rules) == list(engine.rules)
    cell = {name: f"[{name}]" for name in preset.exprs}.get

    def text(expr: Any) -> str:
        return str(expr.excel(lambda n, lag: f"{cell(n) or n}{'^' if lag else ''}"))
    assert {n: text(e) for n, e in preset.exprs.items()} == \
        {n: text(e) for n, e in engine.exprs.items()}
    assert preset.fixed == ("b1", "b2") and preset.defaults == {"b1": 0.0, "b2": 0.0}
    # the trees are the builder's: h1 = w1·i1 + w2·i2 + b1, as the sheet writes it
    assert re.sub(r"\s", "", text(preset.exprs["h1"])) == "[w1]*i1+[w2]*i2+b1"
