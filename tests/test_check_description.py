"""A network description that is not the sheet's is named as such, not blamed on the sheet: a
workbook of four examples with trainable biases, checked with one --example or without
--train-biases, is refused with both networks named (exit 2); --example values that differ
from the sheet's numbers are a signal for the grader, the sheet checked against its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbook_builder.cli.main import main

XOR = [["--example", "0", "0", "0"], ["--example", "0", "1", "1"],
       ["--example", "1", "0", "1"], ["--example", "1", "1", "0"]]


def flat(groups: list[list[str]]) -> list[str]:
    return [word for group in groups for word in group]
SHAPE = ["--layers", "2", "2", "1", "--activation", "tanh"]


@pytest.fixture(scope="module")
def xor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xor") / "xor.xlsx"
    assert main([*SHAPE, *flat(XOR), "--train-biases", "--epochs", "10", "--lr", "0.5",
                 "--out", str(out), "-q"]) == 0
    return out


@pytest.mark.parametrize(("given", "sheet_has", "description_has"), [
    ([*XOR[0], "--train-biases"], "4 examples and trainable biases",
     "1 example and trainable biases"),
    (flat(XOR), "4 examples and trainable biases", "4 examples and no trainable biases"),
    ([*XOR[0]], "4 examples and trainable biases", "1 example and no trainable biases"),
])
def test_another_description_is_named_not_blamed_on_the_sheet(
        xor: Path, given: list[str], sheet_has: str, description_has: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(xor), *SHAPE, *given]) == 4
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()[-1]
    assert "WRONG" not in captured.out and "score" not in captured.out
    assert f"the sheet's headers show a 2-2-1 network with {sheet_has}" in err
    assert f"the network given (--spec or the options) is a 2-2-1 network with " \
        f"{description_has}" in err


def test_example_values_are_compared_with_the_sheet(xor: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = [*flat(XOR[:3]), "--example", "1", "1", "1"]  # the last target says 1, not 0
    assert main(["check", str(xor), *SHAPE, *other, "--train-biases"]) == 0
    out = capsys.readouterr().out
    assert "SIGNAL: its examples are not the ones given (--example, --spec): t1[4] is 0 in " \
        "the sheet, 1 in the description" in out
    assert "score: 100 of 100 points" in out  # a signal for the grader, the work is right
    assert main(["check", str(xor), *SHAPE, *flat(XOR), "--train-biases"]) == 0
    assert "not the ones given" not in capsys.readouterr().out
