"""The CLI end to end on synthetic data: files written, resume, determinism, bad input."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import mnist.train
from mnist.train import main
from tests.mnist_synthetic import write_mnist

QUICK = ["--arch", "tiny", "--batch-size", "64", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny synthetic runs gain nothing from threads, and spinning threads on a busy 2-core
    machine made one of these tests 25x slower."""
    monkeypatch.setattr(mnist.train, "usable_cores", lambda: 1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_mnist(tmp_path / "d", n_train=256, n_test=128)
    return tmp_path / "d"


def run(data_dir: Path, out: Path, *extra: str) -> int:
    return main(["--data-dir", str(data_dir), "--out", str(out), *QUICK, *extra])


def rows(out: Path) -> list[dict[str, float]]:
    report = json.loads((out / "metrics.json").read_text())
    return list(report["epochs"])


def test_one_epoch_writes_metrics_checkpoints_and_pictures(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(data_dir, out, "--epochs", "1") == 0
    printed = capsys.readouterr().out
    assert "| **total** |" in printed and "parameters" in printed
    assert "epoch  1/1  train loss" in printed and "test loss" in printed
    with (out / "metrics.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 1 and table[0]["epoch"] == "1"
    report = json.loads((out / "metrics.json").read_text())
    assert report["config"]["arch"] == "tiny" and report["params"] < 8000
    row = report["epochs"][0]
    assert 0 <= row["test_acc"] <= 1 and row["test_loss"] > 0 and row["seconds"] > 0
    assert float(table[0]["test_acc"]) == row["test_acc"]
    for name in ("last.pt", "best.pt"):
        state = torch.load(out / name, weights_only=False)
        assert len(state["metrics"]) == 1 and "model" in state
    for name in ("curves.png", "misclassified.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left
    assert "torchvision" not in sys.modules


def test_learns_the_synthetic_digits(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, tmp_path / "run", "--epochs", "10", "--batch-size", "32") == 0
    accuracy = [r["test_acc"] for r in rows(tmp_path / "run")]
    assert accuracy[-1] > 0.8 and accuracy[-1] > accuracy[0] + 0.3


@pytest.mark.slow
def test_interrupt_then_resume_matches_an_uninterrupted_run(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(data_dir, tmp_path / "straight", "--epochs", "2") == 0
    straight = rows(tmp_path / "straight")

    real: Callable[..., tuple[float, float]] = mnist.train.train_epoch
    calls = []

    def ctrl_c_in_epoch_two(*args: object, **kwargs: object) -> tuple[float, float]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mnist.train, "train_epoch", ctrl_c_in_epoch_two)
    out = tmp_path / "broken"
    assert run(data_dir, out, "--epochs", "2") == 130
    assert "--resume" in capsys.readouterr().err
    assert len(torch.load(out / "last.pt", weights_only=False)["metrics"]) == 1

    monkeypatch.setattr(mnist.train, "train_epoch", real)
    assert run(data_dir, out, "--epochs", "2", "--resume") == 0
    assert "resuming" in capsys.readouterr().out
    resumed = rows(out)
    assert [r["epoch"] for r in resumed] == [1, 2]
    for a, b in zip(straight, resumed, strict=True):  # same seed: the same numbers
        assert (a["train_loss"], a["test_loss"], a["test_acc"]) == (
            b["train_loss"],
            b["test_loss"],
            b["test_acc"],
        )


def test_resume_refuses_a_different_setting(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(data_dir, out, "--epochs", "1") == 0
    capsys.readouterr()
    assert run(data_dir, out, "--epochs", "1", "--lr", "0.5", "--resume") == 2
    err = capsys.readouterr().err
    assert "--lr" in err and err.count("\n") == 1


def test_nan_loss_stops_the_run(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, tmp_path / "run", "--epochs", "1", "--lr", "1e30") == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "--lr" in err and "Traceback" not in err


def corrupt_md5(data_dir: Path) -> None:
    path = data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(4_542))  # the official size, so it must match the official md5


def truncate(data_dir: Path) -> None:
    path = data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])


def occupy(path: Path) -> None:
    path.write_text("a file where the run folder's parent should be")


@pytest.mark.parametrize(
    ("case", "args", "damage", "expected"),
    [
        ("missing data", ["--data-dir", "{tmp}/absent"], None, "--data-dir"),
        ("truncated file", [], truncate, "truncated"),
        ("md5 mismatch", [], corrupt_md5, "md5 mismatch"),
        ("zero epochs", ["--epochs", "0"], None, "--epochs must be at least 1"),
        ("negative batch", ["--batch-size", "-8"], None, "--batch-size must be at least 1"),
        ("zero limit", ["--limit-train", "0"], None, "--limit-train"),
        ("negative lr", ["--lr", "-1"], None, "--lr"),
        ("not a number", ["--epochs", "ten"], None, "invalid int value"),
        ("unwritable out", ["--out", "{tmp}/blocker/run"], None, "cannot write"),
        ("no checkpoint", ["--resume"], None, "no checkpoint"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    args: list[str],
    damage: Callable[[Path], None] | None,
    expected: str,
) -> None:
    if damage is not None:
        damage(data_dir)
    occupy(tmp_path / "blocker")
    argv = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run"), "--epochs", "1", *QUICK]
    argv += [a.format(tmp=tmp_path) for a in args]
    assert main(argv) == 2, case
    captured = capsys.readouterr()
    assert expected in captured.err, captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_default_data_dir_missing_names_both_remedies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./data here
    assert main(["--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "data/MNIST/raw" in err and "--data-dir" in err and "--download" in err


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "--limit-train" in text and "(default: 15)" in text
