"""``python -m mnist.evaluate`` on synthetic data: either set of weights, checked against a
plain forward pass; bad checkpoints refused in one line."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import mnist.train
from mnist.data import load_mnist
from mnist.evaluate import main
from mnist.model import build_model
from tests.mnist_synthetic import write_mnist


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-epoch tiny run, done once: (data dir, run folder)."""
    root = tmp_path_factory.mktemp("evaluate")
    write_mnist(root / "d", n_train=256, n_test=128)
    argv = ["--data-dir", str(root / "d"), "--out", str(root / "run"), "--arch", "tiny"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist.train, "usable_cores", lambda: 1)
        assert mnist.train.main([*argv, "--batch-size", "64", "--epochs", "2"]) == 0
    return root / "d", root / "run"


def plain_forward(data_dir: Path, path: Path, part: str) -> tuple[float, float]:
    """Loss and accuracy by hand: a fresh network, the saved weights, one forward pass."""
    model = build_model("tiny")
    model.load_state_dict(torch.load(path, weights_only=True)[part])
    data = load_mnist(data_dir)
    with torch.no_grad():
        logits = model.eval()(data.test_x)
    loss = F.cross_entropy(logits, data.test_y).item()
    return loss, (logits.argmax(1) == data.test_y).float().mean().item()


def printed(text: str) -> tuple[float, float]:
    found = re.search(r"test loss (\S+)  accuracy (\S+)%", text)
    assert found, text
    return float(found[1]), float(found[2]) / 100


@pytest.mark.parametrize(
    ("given", "weights", "part"),
    [
        ("", (), "average"),  # a run folder: its last.pt, with the weights training reports
        ("last.pt", ("--weights", "model"), "model"),
        ("best.pt", ("--weights", "average"), "average"),
    ],
)
def test_each_set_of_weights_scores_as_a_plain_forward_pass(
    finished_run: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    given: str,
    weights: tuple[str, ...],
    part: str,
) -> None:
    data_dir, run = finished_run
    path = run / given if given else run
    assert main([str(path), *weights, "--data-dir", str(data_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"weights: {part} (" in out
    loss, accuracy = printed(out)
    expected_loss, expected_accuracy = plain_forward(data_dir, run / (given or "last.pt"), part)
    assert loss == pytest.approx(expected_loss, abs=6e-5)  # printed to 4 decimals
    assert accuracy == pytest.approx(expected_accuracy, abs=1e-4)


def test_the_average_matches_what_training_recorded(
    finished_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, run = finished_run
    assert main([str(run), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    recorded = json.loads((run / "metrics.json").read_text())["epochs"][-1]["test_acc"]
    assert f"accuracy {recorded:.2%}" in out and f"training recorded {recorded:.2%}" in out
    assert "after epoch 2 of 2" in out


def test_a_run_without_an_average_is_scored_with_its_weights(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = torch.load(finished_run[1] / "last.pt", weights_only=True)
    state["average"], state["config"]["ema"] = {}, 0.0
    torch.save(state, tmp_path / "plain.pt")
    assert main([str(tmp_path / "plain.pt"), "--data-dir", str(finished_run[0])]) == 0
    assert "weights: model (" in capsys.readouterr().out
    assert main([str(tmp_path / "plain.pt"), "--weights", "average"]) == 2
    err = capsys.readouterr().err
    assert "holds no weight average" in err and "--weights model" in err


def damaged(tmp_path: Path, run: Path) -> Path:
    path = tmp_path / "damaged.pt"
    path.write_bytes((run / "last.pt").read_bytes()[:1000])
    return path


def other_arch(tmp_path: Path, run: Path) -> Path:
    state = torch.load(run / "last.pt", weights_only=True)
    state["config"]["arch"] = "huge"
    torch.save(state, tmp_path / "huge.pt")
    return tmp_path / "huge.pt"


def wrong_shapes(tmp_path: Path, run: Path) -> Path:
    state = torch.load(run / "last.pt", weights_only=True)
    state["average"] = dict(build_model("default").state_dict())
    torch.save(state, tmp_path / "mixed.pt")
    return tmp_path / "mixed.pt"


def empty_folder(tmp_path: Path, run: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (damaged, "not a zip archive"),
        (other_arch, "its network 'huge' is not one of"),
        (wrong_shapes, "average lacks"),
        (empty_folder, "holds no last.pt"),
        (lambda tmp, run: tmp / "absent", "no such file or folder"),
    ],
    ids=["truncated", "unknown network", "weights of another network", "no last.pt", "absent"],
)
def test_a_bad_checkpoint_is_one_line_and_status_2(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path, Path], Path],
    expected: str,
) -> None:
    path = make(tmp_path, finished_run[1])
    assert main([str(path), "--data-dir", str(finished_run[0])]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("mnist.evaluate: error: ") and expected in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def test_missing_data_is_one_line(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(finished_run[1]), "--data-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "pass --data-dir <root>" in err and err.count("\n") == 1


def test_the_raw_folder_as_data_dir_is_said_so(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(finished_run[0] / "MNIST" / "raw", raw)
    assert main([str(finished_run[1]), "--data-dir", str(raw)]) == 0
    assert "is the raw folder itself" in capsys.readouterr().out
