"""The command line, in-process: the default build, options, and every kind of bad input."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import REPO
from workbook_builder.cli.common import invoked_as
from workbook_builder.cli.main import main
from workbook_builder.sheet import layout


def test_default_writes_generated_backprop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           default_workbook: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = tmp_path / "generated" / "backprop.xlsx"
    assert out.read_bytes() == default_workbook.read_bytes()
    assert "wrote generated/backprop.xlsx" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["backprop.xlsx"]  # no temporary left


def test_options_reach_the_workbook(tmp_path: Path) -> None:
    out = tmp_path / "custom.xlsx"
    argv = ["--out", str(out), "--epochs", "7", "--lr", "0.3", "5", "--inputs", "1", "-1",
            "--targets", "0.2", "0.9", "--weights", *["1", "2", "3", "4", "5", "6", "7", "8"],
            "--biases", "0.1", "-0.2", "--quiet"]
    assert main(argv) == 0
    wb = openpyxl.load_workbook(out)
    assert [n for n in wb.sheetnames if n.startswith("LR")] == ["LR 0.3", "LR 5.0"]
    ws = wb["Network"]  # the network is entered once, for every rate sheet
    values = {ws.cell(c.row, c.column + 1).value for row in ws.iter_rows(max_row=8)
              for c in row if isinstance(c.value, str) and len(c.value) == 2}
    assert {1, -1, 0.2, 0.9, 8, 0.1, -0.2} <= values
    assert wb["LR 5.0"][layout.param_cell("η", absolute=False)].value == 5
    assert wb["LR 5.0"].max_row == 9 + 7


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--epochs" in text and "(default: 100)" in text and "--biases" in text
    joined = " ".join(text.split())
    assert "(default: 0.1 0.2 0.5 0.8 1 2)" in joined  # as typed, not a Python list
    options = joined.split(" --")  # each option's help, lines joined
    assert all(o.count("(default:") <= 1 for o in options), options
    assert "(default: None)" not in text and "(default: False)" not in text


def test_usage_shows_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert usage[0].startswith("usage: python -m workbook_builder [-h] [--version] [--out OUT]")
    assert usage[-2].split() == ["python", "-m", "workbook_builder", "check", "[-h]",
                                 "[options]", "PATH", "[PATH", "...]"]
    assert usage[-1].split() == ["python", "-m", "workbook_builder", "assign", "[-h]",
                                 "[options]", "ROSTER.csv", "--out", "DIR"]


UNKNOWN = [
    (["chek", "stu/me.xlsx"], "unknown command 'chek'; did you mean 'check'?"),
    (["Check", "x.xlsx"], "unknown command 'Check'; did you mean 'check'?"),
    (["chekc"], "did you mean 'check'?"),
    (["stu/me.xlsx"], "to check it: python -m workbook_builder check stu/me.xlsx"),
    (["build", "--epochs", "3"],
     "unknown command 'build'; the commands are 'check', 'assign', 'merge', 'autograder'"),
    (["asign", "r.csv"], "unknown command 'asign'; did you mean 'assign'?"),
]


@pytest.mark.parametrize(("argv", "message"), UNKNOWN, ids=[a[0] for a, _ in UNKNOWN])
def test_unknown_command_is_one_line_with_the_likely_one(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert err.startswith("python -m workbook_builder: error: unknown command ")


@pytest.mark.parametrize(("argv0", "prog"), [
    ("/home/me/.venv/bin/backprop-workbook", "backprop-workbook"),
    ("C:\\venv\\Scripts\\backprop-workbook.exe", "backprop-workbook"),
    ("backprop-workbook", "backprop-workbook"),
    ("/repo/workbook_builder/__main__.py", "python -m workbook_builder"),
    ("-m", "python -m workbook_builder"),
    ("", "python -m workbook_builder"),
])
def test_program_name_follows_how_it_was_started(argv0: str, prog: str) -> None:
    assert invoked_as(argv0) == prog


CONSOLE_SCRIPT = Path(sys.executable).with_name("backprop-workbook")


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the project is not pip-installed here")
def test_console_script_names_itself(tmp_path: Path) -> None:
    """The installed script's usage and errors say backprop-workbook, not python -m."""
    helped = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert helped.startswith("usage: backprop-workbook [-h]")
    assert "\n       backprop-workbook check [-h] [options] PATH" in helped
    typo = subprocess.run([str(CONSOLE_SCRIPT), "chek", "x.xlsx"], capture_output=True,
                          text=True, timeout=60)
    assert typo.returncode == 2
    assert typo.stderr == ("backprop-workbook: error: unknown command 'chek'; "
                           "did you mean 'check'?\n")


BAD = [
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-5"], "--epochs"),
    (["--epochs", "2.5"], "whole number"),
    (["--epochs", "1048570"], "does not fit"),
    (["--lr", "fast"], "not a number"),
    (["--lr", "inf"], "not a finite number"),
    (["--lr", "nan"], "not a finite number"),
    (["--lr", "0"], "positive"),
    (["--lr", "0.5", "0.5"], "given twice"),
    (["--inputs", "0.05"], "--inputs"),
    (["--targets", "0.1", "0.2", "0.3"], "--targets"),
    (["--weights", *["0.1"] * 7], "--weights"),
    (["--weights", *["0.1"] * 7, "x"], "not a number"),
    (["--biases", "1"], "--biases"),
    (["--frobnicate"], "unrecognized"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
        argv: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"previous workbook")
    assert main(["--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert out.read_bytes() == b"previous workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.xlsx"]


def out_cases(tmp: Path) -> list[tuple[str, str]]:
    (tmp / "a_file").write_text("x")
    (tmp / "folder.xlsx").mkdir()
    return [
        (str(tmp / "missing" / "x.xlsx"), "does not exist"),
        (str(tmp / "a_file" / "x.xlsx"), "does not exist"),
        (str(tmp / "folder.xlsx"), "is a folder"),
        (str(tmp / "book.csv"), "must end in .xlsx"),
    ]


def test_bad_output_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for out, message in out_cases(tmp_path):
        assert main(["--out", out]) == 2, out
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path
                        else real_access(p, mode))  # as root every folder is writable
    assert main(["--out", str(tmp_path / "x.xlsx")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_write_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A failure mid-write (here: the disk refuses) leaves the old file and no temporary."""
    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"previous workbook")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr("workbook_builder.sheet.writer.write_workbook", refuse)
    assert main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left" in err
    assert out.read_bytes() == b"previous workbook"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xlsx"]


def run_cli(argv: list[str], tmp: Path, limit_bytes: int | None = None,
            **kwargs: object) -> subprocess.Popen[str]:
    """The command in a child process with its own empty TMPDIR (and a file-size limit)."""
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir(exist_ok=True)

    def limit() -> None:
        # a background job's children start with SIGINT ignored; Python then never raises
        # KeyboardInterrupt: give the command the default Ctrl-C a terminal would
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen([sys.executable, "-m", "workbook_builder", *argv], cwd=REPO,
                            env={**os.environ, "TMPDIR": str(tmpdir)}, preexec_fn=limit,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)  # type: ignore[call-overload]


# early in the zip, half-way, and in its last parts (the 0.49 MB workbook): near the end a
# failed write once left XlsxWriter's zip open, and its finalizer printed a second traceback
@pytest.mark.parametrize("limit_bytes", [100_000, 250_000, 420_000, 480_000])
def test_disk_full_is_one_line_and_leaves_nothing(limit_bytes: int, tmp_path: Path) -> None:
    """A file-size limit (as a full disk) while writing the workbook."""
    out = tmp_path / "out" / "keep.xlsx"
    out.parent.mkdir()
    out.write_bytes(b"previous workbook")
    proc = run_cli(["--out", str(out)], tmp_path, limit_bytes=limit_bytes)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "File too large" in err and str(out) in err, err
    assert out.read_bytes() == b"previous workbook"
    assert [p.name for p in out.parent.iterdir()] == ["keep.xlsx"]
    assert list((tmp_path / "tmpdir").iterdir()) == []


@pytest.mark.parametrize("limit_bytes", [20_000, 60_000])
def test_disk_full_during_assign_names_the_kit_and_leaves_nothing(limit_bytes: int,
                                                                 tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n00123,Ana Lima\n00124,Bo Chen\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli(["assign", str(roster), "--out", str(out / "kit")], tmp_path,
                   limit_bytes=limit_bytes)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "File too large" in err, err
    assert f"{out / 'kit'}{os.sep}" in err  # the kit's own path, not a temporary folder's
    assert list(out.iterdir()) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_build_leaves_nothing(sig: signal.Signals, tmp_path: Path) -> None:
    out = tmp_path / "out" / "big.xlsx"
    out.parent.mkdir()
    proc = run_cli(["--out", str(out), "--epochs", "8000"], tmp_path)
    time.sleep(6)  # writing the sheets (about 20 s in all)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert err.strip().splitlines()[-1].endswith(("terminated", "interrupted"))
    assert list(out.parent.iterdir()) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_negative_numbers_in_exponent_form_are_values(tmp_path: Path) -> None:
    out = tmp_path / "w.xlsx"
    argv = ["--out", str(out), "-q", "--epochs", "2", "--weights", "0.15", "-1e-3", "0.25",
            "0.3", "-4E+1", "0.45", "0.5", "-.55", "--inputs", "-5e-2", "0.1"]
    assert main(argv) == 0
    ws = openpyxl.load_workbook(out)[layout.NETWORK]
    got = {n: ws[layout.param_cell(n, absolute=False)].value for n in ("w2", "w5", "w8", "i1")}
    assert got == {"w2": -0.001, "w5": -40.0, "w8": -0.55, "i1": -0.05}


def test_newline_in_a_path_stays_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "a\nb" / "x.xlsx")]) == 2
    assert main(["check", str(tmp_path / "a\nb.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "a\\nb" in err


def test_huge_epochs_are_refused_with_their_cost(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "x.xlsx"), "--epochs", "1048560"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "6,291,360 rows; the most is 120,000" in err
    assert "min and" in err and "GB of memory" in err
    assert list(tmp_path.iterdir()) == []
