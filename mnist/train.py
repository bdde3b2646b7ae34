"""Train a network on MNIST: ``train_epoch()``, ``evaluate()`` and ``main(argv)`` for
``python -m mnist.train``."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, get_type_hints

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mnist.checkpoint import CheckpointError, read_checkpoint, restore, save_checkpoint
from mnist.data import Augment, DataError, Mnist, atomic_write_bytes, load_mnist, shuffled_batches
from mnist.model import ARCHS, build_model, count_params, format_summary, summarize

EVAL_BATCH = 2000  # images per forward pass when evaluating; no gradients, so memory is small
METRIC_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
    "elapsed",
)
CHECKPOINT_KEYS = ("config", "model", "optimizer", "scheduler", "torch_rng", "data_rng", "metrics")
NOT_OURS = "not a checkpoint of this program, or damaged: start a new run with another --out"


@dataclass(frozen=True)
class RunConfig:
    """What determines the run's numbers; stored in every checkpoint so --resume can check it."""

    arch: str = "default"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1  # peak of the one-cycle schedule
    seed: int = 1
    limit_train: int | None = None
    momentum: float = 0.9  # SGD, Nesterov
    weight_decay: float = 1e-4  # 5e-4 left seed 3 at 99.37-99.41 % in its last three epochs
    label_smoothing: float = 0.05
    warmup: float = 0.2  # fraction of the steps spent rising to the peak lr


class Diverged(Exception):
    """The training loss stopped being a finite number."""


class BadInput(Exception):
    """A command-line value or file the user must fix; the message is one line."""


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    augment: Augment,
    label_smoothing: float = 0.0,
    desc: str = "",
) -> tuple[float, float]:
    """One pass over (x, y) in a shuffled order, stepping the optimizer and the schedule.

    Returns:
        Mean training loss and accuracy over the augmented images seen.
    """
    model.train()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    steps = math.ceil(len(x) / batch_size)
    with tqdm(total=steps, desc=desc, leave=False, disable=None, unit="batch") as bar:
        for step, index in enumerate(shuffled_batches(len(x), batch_size, generator)):
            index = index.to(x.device)
            images = augment(x[index], generator).contiguous(memory_format=torch.channels_last)
            logits = model(images)
            loss = F.cross_entropy(logits, y[index], label_smoothing=label_smoothing)
            if not torch.isfinite(loss):
                raise Diverged(f"step {step + 1}: loss is {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(index)
            correct += (logits.argmax(1) == y[index]).sum()
            bar.update()
    return loss_sum.item() / len(x), correct.item() / len(x)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH
) -> tuple[float, float, torch.Tensor]:
    """Plain cross-entropy and accuracy on (x, y), in eval mode.

    Returns:
        Mean loss, accuracy, and the predicted class of every image.
    """
    model.eval()
    loss_sum = 0.0
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            images = x[start : start + batch_size].contiguous(memory_format=torch.channels_last)
            logits = model(images)
            labels = y[start : start + batch_size]
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            predictions.append(logits.argmax(1))
    predicted = torch.cat(predictions)
    return loss_sum / len(x), (predicted == y).float().mean().item(), predicted


def make_schedule(
    optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.lr,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        pct_start=config.warmup,
        div_factor=10.0,  # start at lr / 10
        final_div_factor=100.0,  # end at lr / 1000
    )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: no CUDA device is available; use --device cpu")
    return torch.device(name)


def usable_cores() -> int:
    """The cores this process may run on (all of them, unless an affinity mask says less)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def write_metrics(out: Path, config: RunConfig, params: int, rows: list[dict[str, float]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_KEYS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "metrics.csv", text.getvalue().encode())
    report = {"config": asdict(config), "params": params, "epochs": rows}
    atomic_write_bytes(out / "metrics.json", (json.dumps(report, indent=1) + "\n").encode())


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / ".write-test", b"")
        (out / ".write-test").unlink()
    except OSError as e:
        raise BadInput(f"--out {out}: cannot write there ({e.strerror or e})") from e


def validate(args: argparse.Namespace) -> None:
    for flag, value, low in (
        ("--epochs", args.epochs, 1),
        ("--batch-size", args.batch_size, 1),
        ("--limit-train", args.limit_train, 1),
    ):
        if value is not None and value < low:
            raise BadInput(f"{flag} must be at least {low}, got {value}")
    if not args.lr > 0 or not math.isfinite(args.lr):
        raise BadInput(f"--lr must be a positive number, got {args.lr}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    d = RunConfig()
    p = _Parser(
        prog="python -m mnist.train",
        description="Train a small CNN on MNIST; one line per epoch with test accuracy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="folder holding MNIST/raw/*-ubyte[.gz]"
    )
    p.add_argument("--download", action="store_true", help="fetch missing files from the mirrors")
    p.add_argument("--arch", choices=sorted(ARCHS), default=d.arch, help="network preset")
    p.add_argument("--epochs", type=int, default=d.epochs, help="length of the lr schedule")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (one-cycle)")
    p.add_argument("--seed", type=int, default=d.seed, help="weights, order, augmentation")
    p.add_argument(
        "--limit-train",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N images only (quick runs)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/mnist"),
        help="run folder: metrics, checkpoints, pictures",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA when available, else CPU",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Train and report; returns 0 when done, 1 on divergence, 2 on bad input, 130 on Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return run(args)
    except BadInput as e:
        print(f"mnist.train: error: {e}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"mnist.train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside an epoch: checkpoints are written atomically, so intact
        print("\nmnist.train: interrupted", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    validate(args)
    config = RunConfig(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        limit_train=args.limit_train,
    )
    out: Path = args.out
    checkpoint: dict[str, Any] | None = None
    if args.resume:
        checkpoint = load_for_resume(out / "last.pt", config)
    check_writable(out)
    device = pick_device(args.device)
    torch.set_num_threads(usable_cores())
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # shuffling and augmentation

    started = time.perf_counter()
    data = load_mnist(args.data_dir, fetch=args.download, limit_train=config.limit_train)
    data = data.to(device)
    load_seconds = time.perf_counter() - started

    model = build_model(config.arch)
    params = count_params(model)
    summary = format_summary(summarize(model))  # on the CPU, before the model moves
    model = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(data.train_x) / config.batch_size)
    scheduler = make_schedule(optimizer, config, steps_per_epoch)
    rows: list[dict[str, float]] = []
    if checkpoint is not None:
        rows = list(checkpoint["metrics"])
        try:
            restore(
                checkpoint,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                generator=generator,
                steps_done=len(rows) * steps_per_epoch,
            )
        except CheckpointError as e:
            raise BadInput(f"--resume: {out / 'last.pt'}: {e}; {NOT_OURS}") from e
    print(summary)  # after the checks, so that a refused checkpoint prints nothing but its error
    print(
        f"{config.arch}: {params:,} parameters; {len(data.train_x):,} training and "
        f"{len(data.test_x):,} test images loaded in {load_seconds:.1f} s; device {device}, "
        f"{torch.get_num_threads()} threads"
    )
    if checkpoint is not None:
        print(f"resuming {out / 'last.pt'} after epoch {len(rows)} of {config.epochs}")
    trainer = Trainer(model, optimizer, scheduler, generator, data, config, out, params, rows)
    if checkpoint is None:
        trainer.save("last.pt")  # so Ctrl-C in the first epoch still leaves something to resume
    return trainer.fit()


def load_for_resume(path: Path, config: RunConfig) -> dict[str, Any]:
    """Read ``path`` without running code from it and check its config and metrics; the
    weights and states are checked against the live objects by ``restore``."""
    if not path.is_file():
        raise BadInput(f"--resume: no checkpoint at {path}; drop --resume to start a new run")
    try:
        checkpoint = read_checkpoint(path)
        check_parts(checkpoint)
    except CheckpointError as e:
        raise BadInput(f"--resume: {path}: {e}; {NOT_OURS}") from e
    saved = checkpoint["config"]
    for field in fields(RunConfig):
        if saved[field.name] != getattr(config, field.name):
            flag = "--" + field.name.replace("_", "-")
            raise BadInput(
                f"--resume: {flag} is {getattr(config, field.name)} but the run in {path.parent} "
                f"used {saved[field.name]}; pass the same value or a new --out"
            )
    return checkpoint


def check_parts(checkpoint: dict[str, Any]) -> None:
    """The keys, the config's field names and types, and the metrics rows of a checkpoint."""
    for key in CHECKPOINT_KEYS:
        if key not in checkpoint:
            raise CheckpointError(f"it has no {key!r}")
    unknown = sorted(checkpoint.keys() - CHECKPOINT_KEYS)
    if unknown:
        raise CheckpointError(f"it has an unknown part {unknown[0]!r}")
    saved = checkpoint["config"]
    if not isinstance(saved, dict):
        raise CheckpointError(f"its config is a {type(saved).__name__}, not a dict")
    hints = get_type_hints(RunConfig)
    for field in fields(RunConfig):
        if field.name not in saved:
            raise CheckpointError(f"its config has no {field.name!r}")
        value, hint = saved[field.name], hints[field.name]
        if not isinstance(value, hint) or (type(value) is bool and hint is not bool):
            kind = getattr(hint, "__name__", str(hint))
            raise CheckpointError(f"its config's {field.name!r} is {value!r}, not {kind}")
    unknown = sorted(saved.keys() - hints.keys(), key=repr)
    if unknown:
        raise CheckpointError(f"its config has an unknown setting {unknown[0]!r}")
    rows, epochs = checkpoint["metrics"], saved["epochs"]  # a different --epochs is named later
    if not isinstance(rows, list) or len(rows) > epochs:
        raise CheckpointError(f"its metrics are not a list of at most {epochs} epochs")
    for epoch, row in enumerate(rows, 1):
        if (
            not isinstance(row, dict)
            or row.keys() != set(METRIC_KEYS)
            or not all(type(v) in (int, float) for v in row.values())
            or row["epoch"] != epoch
        ):
            raise CheckpointError(
                f"its metrics row {epoch} is not a row of {', '.join(METRIC_KEYS)}"
            )


@dataclass
class Trainer:
    """The epoch loop and everything it writes into the run folder."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    data: Mnist
    config: RunConfig
    out: Path
    params: int
    rows: list[dict[str, float]]

    def state(self) -> dict[str, Any]:
        """Tensors and plain values only (``check_plain``), in the order of CHECKPOINT_KEYS."""
        return {
            "config": asdict(self.config),
            "model": dict(self.model.state_dict()),  # a plain dict: no OrderedDict to unpickle
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "data_rng": self.generator.get_state(),
            "metrics": self.rows,
        }

    def save(self, name: str) -> None:
        save_checkpoint(self.out / name, self.state())

    def fit(self) -> int:
        config, data = self.config, self.data
        augment = Augment()
        elapsed = self.rows[-1]["elapsed"] if self.rows else 0.0
        best = max((r["test_acc"] for r in self.rows), default=-1.0)
        predicted = None
        for epoch in range(len(self.rows) + 1, config.epochs + 1):
            tic = time.perf_counter()
            try:
                train_loss, train_acc = train_epoch(
                    self.model,
                    self.optimizer,
                    self.scheduler,
                    data.train_x,
                    data.train_y,
                    batch_size=config.batch_size,
                    generator=self.generator,
                    augment=augment,
                    label_smoothing=config.label_smoothing,
                    desc=f"epoch {epoch}/{config.epochs}",
                )
            except Diverged as e:
                print(
                    f"mnist.train: stopped: training diverged in epoch {epoch}, {e}; "
                    f"try a lower --lr (last good checkpoint: {self.out / 'last.pt'})",
                    file=sys.stderr,
                )
                return 1
            except KeyboardInterrupt:
                print(
                    f"\nmnist.train: interrupted in epoch {epoch}; {self.out / 'last.pt'} holds "
                    f"epoch {epoch - 1}: rerun the same command with --resume to continue",
                    file=sys.stderr,
                )
                self.pictures(None)
                return 130
            test_loss, test_acc, predicted = evaluate(self.model, data.test_x, data.test_y)
            seconds = time.perf_counter() - tic
            elapsed += seconds
            lr = self.optimizer.param_groups[0]["lr"]
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "lr": lr,
                "seconds": round(seconds, 2),
                "elapsed": round(elapsed, 2),
            }
            self.rows.append(row)
            print(
                f"epoch {epoch:2d}/{config.epochs}  train loss {train_loss:.4f} "
                f"acc {train_acc:.2%}  test loss {test_loss:.4f} acc {test_acc:.2%}  "
                f"lr {lr:.4f}  {seconds:.1f} s",
                flush=True,
            )
            self.save("last.pt")
            if test_acc > best:
                best = test_acc
                self.save("best.pt")
            write_metrics(self.out, config, self.params, self.rows)
        self.pictures(predicted)
        if self.rows:
            last = self.rows[-1]
            print(
                f"done: last test accuracy {last['test_acc']:.2%}, best {best:.2%}, "
                f"{last['elapsed']:.0f} s training; files in {self.out}"
            )
        return 0

    def pictures(self, predicted: torch.Tensor | None) -> None:
        from mnist.plots import plot_curves, plot_misclassified  # matplotlib only when needed

        if not self.rows:
            return
        title = f"MNIST {self.config.arch} ({self.params:,} params), seed {self.config.seed}"
        plot_curves(self.rows, self.out / "curves.png", title)
        if predicted is None:
            _, _, predicted = evaluate(self.model, self.data.test_x, self.data.test_y)
        plot_misclassified(
            self.data.test_x, self.data.test_y, predicted, self.out / "misclassified.png"
        )


if __name__ == "__main__":
    raise SystemExit(main())
