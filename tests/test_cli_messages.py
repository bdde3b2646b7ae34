"""The command line's messages name the option that failed and what to do: one line, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbook_builder import __version__
from workbook_builder.cli.main import main


def one_line(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("argv", [["--version"], ["check", "--version"],
                                  ["assign", "--version"]])
def test_version(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().endswith(f"workbook_builder {__version__}")


def test_resume_with_a_mistyped_table_is_refused(default_workbook: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "class").mkdir()
    shutil.copyfile(default_workbook, tmp_path / "class" / "a.xlsx")
    typo = tmp_path / "grades-typo.csv"
    assert main(["check", str(tmp_path / "class"), "--csv", str(typo), "--resume"]) == 2
    one_line(capsys, "--resume", "does not exist")
    assert not typo.exists()  # nothing was checked or written


def test_a_workbook_swallowed_by_layers_is_named(default_workbook: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--layers", "2", "2", "2", str(default_workbook)]) == 2
    one_line(capsys, "argument --layers", "give the workbook before the option", "--")
    assert main(["check", "--layers", "2", "2", "2", "--", str(default_workbook)]) == 0


@pytest.mark.parametrize("command", [[], ["check"]])
def test_a_missing_spec_names_the_option(command: list[str], default_workbook: Path,
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    argv = [*command, "--spec", str(missing)]
    argv += [str(default_workbook)] if command else ["--out", str(tmp_path / "b.xlsx")]
    assert main(argv) == 2
    one_line(capsys, f"--spec {missing}: No such file or directory")
