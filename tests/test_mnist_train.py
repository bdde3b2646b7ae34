"""The CLI end to end on synthetic data: files written, resume, determinism, bad input."""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import pickle
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import mnist.checkpoint
import mnist.config
import mnist.loop
import mnist.rundir
import mnist.train
from mnist.config import RunConfig, fitted_batch_size
from mnist.data import load_mnist
from mnist.model import build_model
from mnist.train import main
from tests.mnist_synthetic import gzip_bomb, write_mnist

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # the real files, where present

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
        state = torch.load(out / name, weights_only=True)
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

    real: Callable[..., tuple[float, float]] = mnist.loop.train_epoch
    calls = []

    def ctrl_c_in_epoch_two(*args: object, **kwargs: object) -> tuple[float, float]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mnist.loop, "train_epoch", ctrl_c_in_epoch_two)
    out = tmp_path / "broken"
    assert run(data_dir, out, "--epochs", "2") == 130
    assert "--resume" in capsys.readouterr().err
    assert len(torch.load(out / "last.pt", weights_only=True)["metrics"]) == 1

    monkeypatch.setattr(mnist.loop, "train_epoch", real)
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


def assert_plain(value: object, where: str = "checkpoint") -> None:
    """Tensors, or dicts and lists of them and of str, int, float, bool and None."""
    if isinstance(value, dict):
        assert type(value) is dict, f"{where} is a {type(value).__name__}"
        for key, item in value.items():
            assert type(key) in (str, int), f"{where} key {key!r}"
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        assert type(value) is list, f"{where} is a {type(value).__name__}"
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        plain = (torch.Tensor, str, int, float, bool, type(None))
        assert type(value) in plain, f"{where} is a {type(value).__name__}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A one-epoch run, done once: (data dir, run folder). Tests copy the run folder."""
    root = tmp_path_factory.mktemp("finished")
    write_mnist(root / "d", n_train=256, n_test=128)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist.train, "usable_cores", lambda: 1)
        assert run(root / "d", root / "run", "--epochs", "1") == 0
    return root / "d", root / "run"


def test_checkpoints_hold_only_tensors_and_plain_values(finished_run: tuple[Path, Path]) -> None:
    for name in ("last.pt", "best.pt"):
        state = torch.load(finished_run[1] / name, weights_only=True)
        assert sorted(state) == sorted(mnist.rundir.CHECKPOINT_KEYS)
        assert_plain(state)


class RunsCode:
    """What an attacker would pickle: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def save_torch(value: object, path: Path) -> None:
    torch.save(value, path)


def save_pickle(value: object, path: Path) -> None:
    path.write_bytes(pickle.dumps(value))


@pytest.mark.parametrize(
    ("save", "expected"),
    [(save_torch, "holds Python objects"), (save_pickle, "not a zip archive")],
)
def test_resume_never_runs_code_from_a_checkpoint(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    save: Callable[[object, Path], None],
    expected: str,
) -> None:
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    out.mkdir()
    save({"config": RunsCode(marker)}, out / "last.pt")
    # the payload is live: loading it the old way runs the command
    if save is save_torch:
        torch.load(out / "last.pt", weights_only=False)
    else:
        pickle.loads((out / "last.pt").read_bytes())
    assert marker.exists()
    marker.unlink()

    assert run(data_dir, out, "--epochs", "1", "--resume") == 2
    captured = capsys.readouterr()
    assert not marker.exists()
    assert expected in captured.err and str(out / "last.pt") in captured.err, captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def resume_copy(finished_run: tuple[Path, Path], out: Path) -> int:
    data, done = finished_run
    shutil.copytree(done, out)
    return run(data, out, "--epochs", "1", "--resume")


def test_resume_of_an_intact_checkpoint_is_accepted(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """So that the refusals below are the damage's doing, not the harness's."""
    capsys.readouterr()
    assert resume_copy(finished_run, tmp_path / "run") == 0
    assert "resuming" in capsys.readouterr().out


DROP = object()  # marks a key to delete
OTHER_ARCH = dict(build_model("default").state_dict())  # the run is --arch tiny
MALFORMED: list[tuple[str, tuple[str | int, ...], object, str]] = [
    ("a list", (), [1, 2, 3], "holds a list"),
    ("no config", ("config",), DROP, "no 'config'"),
    ("config a string", ("config",), "tiny", "config is a str"),
    ("config lacks lr", ("config", "lr"), DROP, "no 'lr'"),
    ("epochs as text", ("config", "epochs"), "1", "'epochs' is '1', not int"),
    ("seed a bool", ("config", "seed"), True, "'seed' is True"),
    ("unknown part", ("extra",), 1, "unknown part 'extra'"),
    ("metrics a dict", ("metrics",), {"epoch": 1}, "metrics are not a list"),
    ("metrics row lacks test_acc", ("metrics", 0, "test_acc"), DROP, "metrics row 1"),
    ("weights of another arch", ("model",), OTHER_ARCH, "model lacks 'conv1.0.weight'"),
    ("weight missing", ("model", "head.2.weight"), DROP, "lacks 'head.2.weight'"),
    ("no weight average", ("average",), {}, "average lacks"),  # the tiny preset keeps one
    ("average of another arch", ("average",), OTHER_ARCH, "average"),
    ("weight a list", ("model", "head.2.bias"), [0.0] * 10, "is a list, expected a tensor"),
    ("weight as float64", ("model", "head.2.bias"), torch.zeros(10, dtype=torch.float64), "64"),
    (
        "momentum buffer shape",
        ("optimizer", "state", 0, "momentum_buffer"),
        torch.zeros(3),
        "['state'][0]",
    ),
    ("no param groups", ("optimizer", "param_groups"), [], "param_groups'] is a list of 0"),
    (
        "lr as text",
        ("optimizer", "param_groups", 0, "lr"),
        "0.1",
        "['lr'] is a str, expected a float",
    ),
    (
        "schedule step as text",
        ("scheduler", "last_epoch"),
        "4",
        "['last_epoch'] is a str, expected an int",
    ),
    ("schedule step off", ("scheduler", "last_epoch"), 5, "schedule is at step 5"),
    ("schedule length", ("scheduler", "total_steps"), 40, "schedule is 40 steps long"),
    ("rng state size", ("torch_rng",), torch.zeros(3, dtype=torch.uint8), "torch_rng"),
    ("no data rng", ("data_rng",), DROP, "no 'data_rng'"),
]


def edited(state: Any, path: tuple[str | int, ...], value: object) -> Any:
    """``state`` with the item at ``path`` replaced by ``value`` (or deleted, for DROP)."""
    if not path:
        return value
    *parents, last = path
    target = state
    for key in parents:
        target = target[key]
    if value is DROP:
        del target[last]
    else:
        target[last] = value
    return state


@pytest.mark.parametrize(
    ("path", "value", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_resume_refuses_a_malformed_checkpoint(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: tuple[str | int, ...],
    value: object,
    expected: str,
) -> None:
    checkpoint = finished_run[1] / "last.pt"
    state = edited(torch.load(checkpoint, weights_only=True), path, value)
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    check_refused(finished_run, tmp_path, damaged.read_bytes(), expected, capsys)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda b: b[: len(b) // 2], "not a zip archive"),  # truncated
        (lambda b: b"\x89PNG\r\n\x1a\n" + bytes(200), "not a zip archive"),
        (lambda b: b"", "not a zip archive"),
        (lambda b: b[:-200] + bytes(200), "not a zip archive"),  # its end overwritten
    ],
    ids=["truncated", "garbage", "empty", "tail zeroed"],
)
def test_resume_refuses_a_damaged_file(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[bytes], bytes],
    expected: str,
) -> None:
    payload = damage((finished_run[1] / "last.pt").read_bytes())
    check_refused(finished_run, tmp_path, payload, expected, capsys)


def test_resume_refuses_a_checkpoint_that_unpacks_too_large(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(mnist.checkpoint, "MAX_UNPACKED", 50_000)  # below this run's ~70 kB
    payload = (finished_run[1] / "last.pt").read_bytes()
    check_refused(finished_run, tmp_path, payload, "more than the 50,000", capsys)


def check_refused(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    payload: bytes,
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run[1], out)
    (out / "last.pt").write_bytes(payload)
    capsys.readouterr()
    assert run(finished_run[0], out, "--epochs", "1", "--resume") == 2
    captured = capsys.readouterr()
    assert expected in captured.err, captured.err
    assert captured.err.startswith(f"mnist.train: error: --resume: {out / 'last.pt'}: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""  # refused before the summary is printed


@pytest.mark.parametrize(
    ("batch_size", "limit"),
    [(1, 8), (2, 16), (100, 201)],  # 201: a last batch of one image, which seed 1 leaves unmoved
)
def test_any_batch_size_trains(data_dir: Path, tmp_path: Path, batch_size: int, limit: int) -> None:
    """Some batches have no image picked for augmentation; they must train like the rest."""
    out = tmp_path / "run"
    args = ["--epochs", "1", "--batch-size", str(batch_size), "--limit-train", str(limit)]
    assert run(data_dir, out, *args) == 0
    assert [r["epoch"] for r in rows(out)] == [1]


CHILD = """
import resource, sys
limit = 2 << 30  # bytes of writable memory: the unfixed reader would inflate the bomb past it
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
from mnist.train import main
status = main(sys.argv[1:])
# this process's own peak (KiB): VmHWM starts afresh at exec, whereas ru_maxrss keeps the
# forking parent's peak (a pytest process holding 1 GB would be counted)
status_lines = open("/proc/self/status").read().splitlines()
print(next(line.split()[1] for line in status_lines if line.startswith("VmHWM:")))
sys.exit(status)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_DATA and /proc/self/status: Linux")
def test_gzip_bomb_is_refused_with_bounded_memory(data_dir: Path, tmp_path: Path) -> None:
    path = data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    header = bytes((0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28))  # 60000x28x28
    path.write_bytes(gzip_bomb(header, 2048))  # 2 MB on disk, 2 GiB inflated
    argv = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run"), *QUICK]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,  # a hang guard: the refusal takes about a second
    )
    assert child.returncode == 2, child.stderr
    assert "more data than its header's 60000x28x28" in child.stderr
    assert child.stderr.count("\n") == 1 and "Traceback" not in child.stderr
    peak = int(child.stdout.split()[-1]) << 10
    # torch alone is ~0.25 GB; the refused file costs at most a few copies of 47 MB
    assert peak < 1 << 30, f"peak {peak:,} bytes"


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
        ("zero epochs", ["--epochs", "0"], None, "--epochs: must be at least 1, got 0"),
        ("negative batch", ["--batch-size", "-8"], None, "--batch-size: must be at least 1"),
        ("zero limit", ["--limit-train", "0"], None, "--limit-train: must be at least 1"),
        ("negative lr", ["--lr", "-1"], None, "--lr: must be a positive number, got -1"),
        ("lr not finite", ["--lr", "inf"], None, "--lr: must be a positive number, got inf"),
        ("lr nan", ["--lr", "nan"], None, "--lr: must be a positive number, got nan"),
        ("not a number", ["--epochs", "ten"], None, "--epochs: 'ten' is not a whole number"),
        ("fractional epochs", ["--epochs", "1.5"], None, "'1.5' is not a whole number"),
        ("negative val", ["--val", "-1"], None, "--val: must be 0 or more, got -1"),
        ("val takes every image", ["--val", "256"], None, "--val 256: must be at least 0"),
        pytest.param(
            "no cuda",
            ["--device", "cuda"],
            None,
            "no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here"),
        ),
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
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    assert "--limit-train" in text and "--val N" in text and "(default: 0)" in text
    assert "Quick runs: --epochs 1 --limit-train 5000 reached 97.2 % test accuracy" in text
    assert "Installed as the mnist-train command" in text and "1 diverged" in text
    for name in mnist.train.RECIPE_FLAGS:  # each preset's value, e.g. "8 (default), 15 (tiny)"
        shown = ", ".join(f"{getattr(c, name)} ({a})" for a, c in mnist.config.PRESETS.items())
        assert shown in text


def test_val_holds_out_images_reports_them_and_chooses_best_on_them(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run(data_dir, out, "--epochs", "3", "--val", "64") == 0
    printed = capsys.readouterr().out
    assert "192 training, 64 validation, 128 test images" in printed
    assert printed.count("val loss") == 3 and "best val_acc" in printed
    table = rows(out)
    assert all(0 <= r["val_acc"] <= 1 and r["val_loss"] > 0 for r in table)
    with (out / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    assert header == list(mnist.rundir.metric_keys(mnist.config.RunConfig(val=64)))
    assert header[3:5] == ["val_loss", "val_acc"]
    best = torch.load(out / "best.pt", weights_only=True)["metrics"]
    first_best = max(table, key=lambda r: (r["val_acc"], -r["epoch"]))  # the first of equals
    assert best[-1] == first_best


def synthetic_trainer(data_dir: Path, lr: float) -> mnist.loop.Trainer:
    config = replace(mnist.config.PRESETS["tiny"], epochs=2, batch_size=32, lr=lr, val=32)
    return mnist.loop.make_trainer(
        config, load_mnist(data_dir, val=config.val), torch.device("cpu")
    )


def test_the_loop_yields_rows_and_prints_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps: list[int] = []
    done = list(synthetic_trainer(data_dir, 0.05).epochs(on_step=lambda: steps.append(1)))
    assert [e.row["epoch"] for e in done] == [1, 2] and len(steps) == 2 * 7  # 224 images / 32
    assert list(done[0].row) == list(mnist.rundir.metric_keys(replace(RunConfig(), val=32)))
    seconds = done[0].row["seconds"] + done[1].row["seconds"]
    assert done[1].row["elapsed"] == pytest.approx(seconds, abs=0.011)  # each rounded to 0.01
    assert done[1].predicted.shape == (128,)
    assert capsys.readouterr() == ("", "")


def test_divergence_is_an_exception_not_an_exit_status(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(mnist.loop.Diverged, match="in epoch 1, the mean training loss is nan"):
        next(synthetic_trainer(data_dir, 1e30).epochs())
    assert capsys.readouterr() == ("", "")


def test_an_epoch_reads_nothing_back_until_it_ends(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes a GPU wait (``item``, ``bool``, ``tolist``, a copy to the host) happens twice an
    epoch, for its two results, never per step. Checked on the CPU with the GPU's resampling."""
    trainer = synthetic_trainer(data_dir, 0.05)
    calls: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(torch.Tensor, name)

        def wrapper(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(mnist.data, "_resample_picked", mnist.data._resample_all)
    for name in ("item", "__bool__", "tolist", "cpu", "numpy", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    data = trainer.data
    mnist.loop.train_epoch(
        trainer.model,
        trainer.optimizer,
        trainer.scheduler,
        data.train_x,
        data.train_y,
        batch_size=16,
        generator=trainer.generator,
        augment=mnist.data.Augment(),
    )
    assert calls == ["item", "item"]


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_cuda_run_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--data-dir", str(data_dir), "--out", str(out), "--arch", "tiny", "--device", "cuda"]
    assert main([*argv, "--epochs", "6", "--batch-size", "32", "--val", "32"]) == 0
    accuracy = [r["test_acc"] for r in rows(out)]
    assert accuracy[-1] > 0.8 and accuracy[-1] > accuracy[0]
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["torch_rng"].shape == torch.cuda.get_rng_state().shape  # dropout's generator
    assert main([*argv, "--epochs", "6", "--batch-size", "32", "--val", "32", "--resume"]) == 0


@cuda
def test_cuda_epoch_copies_nothing_from_the_host(data_dir: Path) -> None:
    from torch.profiler import ProfilerActivity, profile

    device = torch.device("cuda")
    data = load_mnist(data_dir).to(device)
    model = build_model("tiny").to(device, memory_format=torch.channels_last)
    config = replace(mnist.config.PRESETS["tiny"], epochs=2, batch_size=32)
    optimizer = mnist.loop.make_optimizer(model, config)
    scheduler = mnist.loop.make_schedule(optimizer, config, math.ceil(len(data.train_x) / 32))
    generator = torch.Generator(device=device).manual_seed(0)

    def epoch() -> tuple[float, float]:
        return mnist.loop.train_epoch(
            model,
            optimizer,
            scheduler,
            data.train_x,
            data.train_y,
            batch_size=32,
            generator=generator,
            augment=mnist.data.Augment(),
        )

    epoch()  # the first one sets up kernels and caches
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        epoch()
    copies = [e.name for e in prof.events() if "Memcpy" in e.name]
    assert not [name for name in copies if "HtoD" in name], copies
    assert len(copies) <= 2, copies  # the epoch's loss and accuracy, read back at its end


def test_weight_average_follows_the_weights_and_batchnorm_statistics() -> None:
    torch.manual_seed(0)
    model = build_model("tiny")
    average = mnist.loop.WeightAverage(model, decay=0.9)
    before = {k: v.clone() for k, v in average.model.state_dict().items()}
    model(torch.randn(8, 1, 28, 28)).sum().backward()  # train mode: BatchNorm statistics move
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad  # type: ignore[operator]
    average.update(step=1000)  # late enough for the full decay
    live = model.state_dict()
    for name, value in average.model.state_dict().items():
        if value.is_floating_point():
            expected = 0.9 * before[name] + 0.1 * live[name]
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
            assert not torch.equal(value, live[name]) or torch.equal(before[name], live[name])
        else:
            assert torch.equal(value, live[name])  # num_batches_tracked: copied
    assert not any(p.requires_grad for p in average.model.parameters())
    first = mnist.loop.WeightAverage(model, decay=0.9)
    weight = first.model.state_dict()["head.2.bias"].clone()
    with torch.no_grad():
        model.head[2].bias += 1.0  # type: ignore[index, operator]
    first.update(step=1)  # the starting weights count for 2/11, not 0.9
    torch.testing.assert_close(first.model.state_dict()["head.2.bias"], weight + 9 / 11)


# --- a folder that holds a run -------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("keep", "described"),
    [
        (None, "a finished run (1 of 1 epochs, last test accuracy "),
        (["last.pt"], "a run (last.pt)"),  # Ctrl-C in epoch 1: no metrics yet
        (["metrics.json", "best.pt"], "a finished run (1 of 1 epochs"),
    ],
    ids=["finished", "only last.pt", "no last.pt"],
)
def test_a_folder_holding_a_run_is_refused_unless_asked(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    keep: list[str] | None,
    described: str,
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run[1], out)
    for path in out.iterdir():
        if keep is not None and path.name not in keep:
            path.unlink()
    before = snapshot(out)
    capsys.readouterr()
    assert run(finished_run[0], out, "--epochs", "2") == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"mnist.train: error: --out {out} already holds {described}")
    for choice in ("add --resume to continue it", "a new --out", "--overwrite to replace it"):
        assert choice in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert snapshot(out) == before  # not a byte changed


def test_an_unfinished_run_is_described_as_such(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run[1], out)
    report = json.loads((out / "metrics.json").read_text())
    report["config"]["epochs"] = 3
    (out / "metrics.json").write_text(json.dumps(report))
    assert run(finished_run[0], out, "--epochs", "3") == 2
    assert "already holds an unfinished run (1 of 3 epochs" in capsys.readouterr().err


def test_overwrite_replaces_the_run_and_nothing_else(
    finished_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run[1], out)
    (out / "notes.txt").write_text("mine")
    (out / "misclassified.png").write_bytes(b"stale")  # removed before the new run starts
    capsys.readouterr()
    assert run(finished_run[0], out, "--epochs", "2", "--overwrite") == 0
    assert "--overwrite: replacing a finished run (1 of 1 epochs" in capsys.readouterr().out
    assert [r["epoch"] for r in rows(out)] == [1, 2]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "misclassified.png").read_bytes()[:4] == b"\x89PNG"


def test_clear_removes_only_the_run_files(tmp_path: Path) -> None:
    folder = mnist.rundir.RunFolder(tmp_path)
    for name in (*mnist.rundir.RUN_FILES, "notes.txt"):
        (tmp_path / name).write_text(name)
    assert folder.run_files() == list(mnist.rundir.RUN_FILES)
    folder.clear()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"] and folder.run_files() == []


def test_resume_and_overwrite_together_are_refused(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, tmp_path / "run", "--resume", "--overwrite") == 2
    err = capsys.readouterr().err
    assert "--overwrite: not allowed with argument --resume" in err and err.count("\n") == 1


def test_the_default_out_is_one_folder_per_preset_and_seed(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--data-dir", str(data_dir), *QUICK, "--epochs", "1"]
    assert main(argv) == 0 and main([*argv, "--seed", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny-s1", "tiny-s2"]
    capsys.readouterr()
    assert main(argv) == 2  # the same command again: refused, not replaced
    assert f"--out {Path('runs/tiny-s1')} already holds" in capsys.readouterr().err


# --- quick runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "images", "epochs", "expected"),
    [
        (256, 60_000, 1, 256),  # a full epoch: 235 steps, enough
        (256, 60_000, 10, 256),  # the default run: untouched
        (256, 5_000, 1, 32),  # 20, 40, 79, 157 steps: 32 is the floor
        (64, 5_000, 1, 32),  # the tiny preset: 79, 157 steps
        (128, 5_000, 1, 32),  # the tiny preset before issue 19
        (256, 10_000, 1, 32),  # 40, 79, 157, 313
        (256, 20_000, 1, 64),  # 79, 157, 313
        (256, 5_000, 3, 64),  # 60, 120, 237
        (48, 100, 1, 48),  # halving would go below 32
    ],
)
def test_the_batch_shrinks_until_a_run_has_enough_steps(
    batch: int, images: int, epochs: int, expected: int
) -> None:
    assert fitted_batch_size(batch, images, epochs) == expected


def test_a_quick_run_with_the_presets_batch_says_it_uses_a_smaller_one(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data-dir", str(data_dir), "--arch", "tiny", "--device", "cpu", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "fit")]) == 0
    printed = capsys.readouterr().out
    preset = mnist.config.PRESETS["tiny"].batch_size
    said = f"quick run: batch size 32, not the preset's {preset}, so that the lr schedule has 8 "
    assert said in printed
    config = json.loads((tmp_path / "fit" / "metrics.json").read_text())["config"]
    assert config["batch_size"] == 32
    assert main([*argv, "--out", str(tmp_path / "fit"), "--resume"]) == 0  # the same batch
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "given"), "--batch-size", "128"]) == 0
    assert "quick run" not in capsys.readouterr().out  # a batch size given is a batch size used
    config = json.loads((tmp_path / "given" / "metrics.json").read_text())["config"]
    assert config["batch_size"] == 128


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="real MNIST not present")
def test_the_quick_run_offered_in_help_gives_a_meaningful_figure(tmp_path: Path) -> None:
    """--epochs 1 --limit-train 5000: 25.30 % with the preset's 20 steps; 97.21 % with 157."""
    out = tmp_path / "quick"
    argv = ["--data-dir", str(SHARED), "--epochs", "1", "--limit-train", "5000"]
    assert main([*argv, "--out", str(out), "--device", "cpu"]) == 0
    assert rows(out)[-1]["test_acc"] > 0.95


# --- devices -------------------------------------------------------------------------------


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is here")
def test_mps_where_absent_is_one_line_naming_what_is_available(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(data_dir, tmp_path / "run", "--device", "mps") == 2  # the last --device wins
    err = capsys.readouterr().err
    assert "--device mps: MPS (the Apple-silicon GPU) is not available on this machine" in err
    assert "available here: cpu" in err and err.count("\n") == 1


def test_mps_is_taken_where_pytorch_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert mnist.train.pick_device("mps") == torch.device("mps")
    assert "mps" in mnist.train.available_devices()


def test_cuda_where_absent_names_what_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(mnist.train.BadInput, match=r"no CUDA device .* available here: cpu$"):
        mnist.train.pick_device("cuda")


# --- divergence and files that cannot be written -------------------------------------------


def test_divergence_in_the_last_step_is_a_divergence(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One step: its loss is finite (computed before the update), the weights after it not."""
    out = tmp_path / "run"
    assert run(data_dir, out, "--epochs", "1", "--limit-train", "64", "--lr", "1e30") == 1
    captured = capsys.readouterr()
    assert "diverged in epoch 1, the test loss is nan" in captured.err
    assert "--lr" in captured.err and "Traceback" not in captured.err
    assert "done" not in captured.out
    assert torch.load(out / "last.pt", weights_only=True)["metrics"] == []  # the last good one


class FullDisk:
    """A file whose every write fails as on a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("name", ["last.pt", "metrics.csv", "best.pt", "curves.png"])
def test_a_full_disk_is_one_line_naming_the_file_and_status_2(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    out = tmp_path / "run"
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(self, mode, *args, **kwargs)
        return FullDisk(f) if mode == "xb" and self.name.startswith(f".{name}.") else f

    monkeypatch.setattr(Path, "open", open_)
    assert run(data_dir, out, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert err == f"mnist.train: error: cannot write {out / name}: No space left on device\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


# --- how it is called ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv0", "usage", "prefix"),
    [
        ("/home/x/.venv/bin/mnist-train", "mnist-train", "mnist-train"),
        ("/c/venv/Scripts/mnist-train.exe", "mnist-train", "mnist-train"),  # Windows' name
        (str(REPO / "mnist" / "train.py"), "python -m mnist.train", "mnist.train"),
    ],
)
def test_usage_and_errors_name_the_way_it_was_called(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv0: str,
    usage: str,
    prefix: str,
) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: {usage} [-h]")
    assert run(data_dir, tmp_path / "run", "--epochs", "0") == 2
    assert capsys.readouterr().err.startswith(f"{usage}: error: argument --epochs")
    assert run(data_dir, tmp_path / "run", "--resume") == 2
    assert capsys.readouterr().err.startswith(f"{prefix}: error: --resume: no checkpoint")


def test_the_console_scripts_are_declared() -> None:
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    import mnist.evaluate

    for script, function in (("mnist-train", main), ("mnist-evaluate", mnist.evaluate.main)):
        module, _, name = scripts[script].partition(":")
        assert getattr(sys.modules[module], name) is function


# --- Ctrl-C of a real process --------------------------------------------------------------

SIGINT_CHILD = """
import signal, sys
# a process started from a background job (pytest ... &) inherits SIGINT as ignored, and
# Python then installs no handler: restore the default one, which raises KeyboardInterrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
from mnist.train import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child: POSIX")
def test_ctrl_c_of_a_real_process_leaves_a_checkpoint_to_resume(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    argv = ["--data-dir", str(data_dir), "--out", str(out), *QUICK, "--epochs", "300"]
    child = subprocess.Popen(
        [sys.executable, "-c", SIGINT_CHILD, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 180  # importing torch on a busy machine
        while not (out / "metrics.json").exists():  # epoch 1 is saved
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no epoch finished in 180 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)  # a child ignoring SIGINT would run on
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err.strip().splitlines()[-1]
    config = replace(mnist.config.PRESETS["tiny"], epochs=300, batch_size=64)
    state = mnist.rundir.RunFolder(out).read_for_resume(config)  # intact, and of this run
    assert 1 <= len(state["metrics"]) < 300
