"""``python -m mnist.train``: the command line; ``main(argv)`` is the only place that prints or
decides the exit status."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import torch
from tqdm import tqdm

from mnist.checkpoint import CheckpointError, restore
from mnist.config import MIN_BATCH, MIN_STEPS, PRESETS, RunConfig, fitted_batch_size
from mnist.data import DataError, Mnist, find_raw, load_mnist
from mnist.loop import Diverged, evaluate, make_trainer, steps_per_epoch
from mnist.model import build_model, count_params, format_summary, summarize
from mnist.rundir import RunFolder, RunFolderError, WriteError

SCRIPT, MODULE = "mnist-train", "mnist.train"  # the console script, the module
NOT_OURS = "not a checkpoint of this program, or damaged: start a new run with another --out"
RECIPE_FLAGS = ("epochs", "batch_size", "lr")  # options whose default comes from the preset
DEVICES = ("auto", "cpu", "cuda", "mps")
QUICK_RUNS = (  # measured on real MNIST, seed 1, a 2-core CPU (docs/mnist.md: "Quick runs")
    "--epochs 1 --limit-train 5000 reached 97.2 % test accuracy in 3 s of training on a 2-core "
    "CPU, --epochs 1 (all 60,000 images, one epoch) 99.1 %"
)


class BadInput(Exception):
    """A command-line value or file the user must fix; the message is one line."""


class Interrupted(Exception):
    """Ctrl-C during an epoch, once the finished epochs' files are in place."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line that points at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def called_as(script: str) -> bool:
    """Whether this process was started as the console script (``mnist-train``, or on
    Windows ``mnist-train.exe``) rather than as ``python -m``."""
    return Path(sys.argv[0]).name.startswith(script)


def usage_name(script: str, module: str) -> str:
    """How the user called us: 'mnist-train' or 'python -m mnist.train', for the usage line."""
    return script if called_as(script) else f"python -m {module}"


def error_name(script: str, module: str) -> str:
    """The prefix of our error lines: 'mnist-train' or 'mnist.train'."""
    return script if called_as(script) else module


def fail(message: str, status: int = 2, prog: str = "") -> int:
    """Print ``<prog>: error: <message>`` to stderr and return the exit status."""
    print(f"{prog or error_name(SCRIPT, MODULE)}: error: {message}", file=sys.stderr)
    return status


def add_data_options(p: argparse.ArgumentParser) -> None:
    """--data-dir, --download and --device, shared with ``mnist.evaluate``."""
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="the folder that holds MNIST/raw/*-ubyte[.gz] (the raw folder itself, or MNIST/, "
        "is accepted too)",
    )
    p.add_argument(
        "--download", action="store_true", help="fetch missing files into <data-dir>/MNIST/raw"
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto: CUDA when available, else CPU; mps: an Apple-silicon GPU",
    )


def preset_default(name: str) -> str:
    """'8 (default), 15 (tiny)': a recipe option's default under each preset."""
    return ", ".join(f"{getattr(c, name)} ({arch})" for arch, c in PRESETS.items())


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=usage_name(SCRIPT, MODULE),
        description="Train a small CNN on MNIST; one line per epoch with validation (--val) "
        f"and test accuracy. Installed as the {SCRIPT} command; the same as python -m {MODULE}. "
        f"Quick runs: {QUICK_RUNS}.",
        epilog="Exit status: 0 done, 1 diverged, 2 bad input or a file that cannot be read or "
        "written, 130 interrupted (rerun with --resume).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_options(p)
    p.add_argument(
        "--arch", choices=sorted(PRESETS), default="default", help="network and its recipe"
    )
    recipe = "(default: the preset's: {})"
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=argparse.SUPPRESS,
        help="length of the lr schedule " + recipe.format(preset_default("epochs")),
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=argparse.SUPPRESS,
        help=f"images per step (default: the preset's: {preset_default('batch_size')}; halved, "
        f"down to {MIN_BATCH}, while a run would take fewer than {MIN_STEPS} steps)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=argparse.SUPPRESS,
        help="peak learning rate (one-cycle) " + recipe.format(preset_default("lr")),
    )
    p.add_argument("--seed", type=int, default=1, help="weights, order, augmentation, dropout")
    p.add_argument(
        "--limit-train",
        type=positive_int,
        default=None,
        metavar="N",
        help="train on the first N images only (quick runs; see above)",
    )
    p.add_argument(
        "--val",
        type=count,
        default=0,
        metavar="N",
        help="hold out N training images (the same ones for every seed) as a validation set; "
        "best.pt is then chosen on it",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=argparse.SUPPRESS,
        help="run folder: metrics, checkpoints, pictures (default: runs/<arch>-s<seed>, e.g. "
        "runs/default-s1); a folder that holds a run is refused unless --resume or --overwrite",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out")
    again.add_argument(
        "--overwrite", action="store_true", help="replace the run in --out with a new one"
    )
    return p


def default_out(arch: str, seed: int) -> Path:
    """One folder per preset and seed, so that runs of different recipes never meet."""
    return Path("runs") / f"{arch}-s{seed}"


def config_from(args: argparse.Namespace) -> RunConfig:
    """The preset of --arch, with the recipe options given on the command line."""
    given = {name: getattr(args, name) for name in RECIPE_FLAGS if hasattr(args, name)}
    return replace(
        PRESETS[args.arch], seed=args.seed, limit_train=args.limit_train, val=args.val, **given
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Train and report; returns 0 when done, 1 on divergence, 2 on bad input or a file that
    cannot be read or written, 130 on Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    folder = RunFolder(getattr(args, "out", None) or default_out(args.arch, args.seed))
    try:
        config = config_from(args)
        again = "resume" if args.resume else "overwrite" if args.overwrite else None
        fit_batch = not hasattr(args, "batch_size")
        train(config, folder, args.data_dir, args.download, args.device, again, fit_batch)
        return 0
    except (BadInput, DataError, WriteError) as e:
        return fail(str(e))
    except Diverged as e:
        return fail(
            f"stopped: training diverged {e}; try a lower --lr (last good checkpoint: "
            f"{folder.last})",
            status=1,
        )
    except Interrupted as e:
        print(f"\n{error_name(SCRIPT, MODULE)}: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside an epoch: checkpoints are written atomically, so intact
        print(f"\n{error_name(SCRIPT, MODULE)}: interrupted", file=sys.stderr)
        return 130


def available_devices() -> list[str]:
    """The --device values this machine can run, besides auto."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def pick_device(name: str) -> torch.device:
    """The device of --device NAME; BadInput, naming what is available, if it is absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = available_devices()
    if name not in here:
        what = {"cuda": "no CUDA device", "mps": "MPS (the Apple-silicon GPU)"}[name]
        verb = "is available" if name == "cuda" else "is not available"
        raise BadInput(
            f"--device {name}: {what} {verb} on this machine (PyTorch {torch.__version__}); "
            f"available here: {', '.join(here)}"
        )
    return torch.device(name)


def usable_cores() -> int:
    """The cores this process may run on (all of them, unless an affinity mask says less)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def read_resume(folder: RunFolder, config: RunConfig) -> dict[str, Any]:
    try:
        return folder.read_for_resume(config)
    except RunFolderError as e:
        raise BadInput(f"--resume: {e}") from e
    except CheckpointError as e:
        raise BadInput(f"--resume: {folder.last}: {e}; {NOT_OURS}") from e


def refuse_to_replace(folder: RunFolder) -> None:
    """BadInput if ``folder`` holds a run, finished or not: it is replaced only when asked."""
    if folder.run_files():
        raise BadInput(
            f"--out {folder.path} already holds {folder.describe()}; add --resume to continue "
            "it, pass a new --out, or add --overwrite to replace it"
        )


def fit_batch_size(config: RunConfig, images: int) -> tuple[RunConfig, str | None]:
    """The preset's batch size made small enough for a quick run to take MIN_STEPS steps
    (see ``fitted_batch_size``), and a line saying so when it changed."""
    batch = fitted_batch_size(config.batch_size, images, config.epochs)
    if batch == config.batch_size:
        return config, None
    steps = config.epochs * math.ceil(images / batch)
    before = config.epochs * math.ceil(images / config.batch_size)
    note = (
        f"quick run: batch size {batch}, not the preset's {config.batch_size}, so that the lr "
        f"schedule has {steps} steps rather than {before} (--batch-size sets it)"
    )
    return replace(config, batch_size=batch), note


def train(
    config: RunConfig,
    folder: RunFolder,
    data_dir: Path,
    download: bool,
    device_name: str,
    again: str | None = None,
    fit_batch: bool = False,
) -> None:
    """Set the run up, train it epoch by epoch (printing and saving each), draw the pictures.

    Args:
        again: "resume" to continue the run in ``folder``, "overwrite" to replace it; None
            refuses a folder that holds a run.
        fit_batch: the batch size is the preset's, so a quick run may make it smaller.
    """
    device = pick_device(device_name)
    if again is None:
        refuse_to_replace(folder)
    torch.set_num_threads(usable_cores())

    started = time.perf_counter()
    _, where = find_raw(data_dir)
    data = load_mnist(data_dir, fetch=download, limit_train=config.limit_train, val=config.val)
    data = data.to(device)
    load_seconds = time.perf_counter() - started
    notes = [note for note in (where,) if note]
    if fit_batch:
        config, note = fit_batch_size(config, len(data.train_x))
        notes += [note] if note else []

    checkpoint = read_resume(folder, config) if again == "resume" else None
    try:
        folder.create()
    except RunFolderError as e:
        raise BadInput(f"--out {e}") from e

    network = build_model(config.arch)  # on the CPU, before the run's seeds are set
    params, summary = count_params(network), format_summary(summarize(network))
    trainer = make_trainer(config, data, device)
    steps = steps_per_epoch(data, config)
    rows: list[dict[str, float]] = []
    if checkpoint is not None:
        rows = list(checkpoint["metrics"])
        try:
            restore(
                checkpoint,
                model=trainer.model,
                average=None if trainer.average is None else trainer.average.model,
                optimizer=trainer.optimizer,
                scheduler=trainer.scheduler,
                generator=trainer.generator,
                steps_done=len(rows) * steps,
                device=device,
            )
        except CheckpointError as e:
            raise BadInput(f"--resume: {folder.last}: {e}; {NOT_OURS}") from e
    if again == "overwrite" and folder.run_files():
        print(f"--overwrite: replacing {folder.describe()} in {folder.path}")
        folder.clear()
    for note in notes:
        print(note)
    print(summary)  # after the checks, so that a refused checkpoint prints nothing but its error
    val = f"{len(data.val_x):,} validation, " if config.val else ""
    print(
        f"{config.arch}: {params:,} parameters; {len(data.train_x):,} training, {val}"
        f"{len(data.test_x):,} test images loaded in {load_seconds:.1f} s; device {device}, "
        f"{torch.get_num_threads()} threads"
    )
    if checkpoint is not None:
        print(f"resuming {folder.last} after epoch {len(rows)} of {config.epochs}")
    if checkpoint is None:
        folder.save("last.pt", trainer.state(rows))  # Ctrl-C in epoch 1 leaves a run to resume
    chosen_on = "val_acc" if config.val else "test_acc"
    best = max((r[chosen_on] for r in rows), default=-1.0)
    predicted = None
    elapsed = rows[-1]["elapsed"] if rows else 0.0
    bar = tqdm(total=steps, leave=False, disable=None, unit="batch")
    try:
        for done in trainer.epochs(len(rows), elapsed, on_step=bar.update):
            bar.reset()
            row, predicted = done.row, done.predicted
            rows.append(row)
            print(epoch_line(row, config), flush=True)
            folder.save("last.pt", trainer.state(rows))
            if row[chosen_on] > best:
                best = row[chosen_on]
                folder.save("best.pt", trainer.state(rows))
            folder.write_metrics(config, params, rows)
    except KeyboardInterrupt:
        bar.close()
        pictures(folder.path, config, params, rows, data, trainer.evaluated, None)
        raise Interrupted(
            f"interrupted in epoch {len(rows) + 1}; {folder.last} holds epoch {len(rows)}: "
            "rerun the same command with --resume to continue"
        ) from None
    bar.close()
    pictures(folder.path, config, params, rows, data, trainer.evaluated, predicted)
    if rows:
        last = rows[-1]
        print(
            f"done: last test accuracy {last['test_acc']:.2%}, best {chosen_on} {best:.2%}, "
            f"{last['elapsed']:.0f} s training; files in {folder.path}"
        )


def epoch_line(row: dict[str, float], config: RunConfig) -> str:
    val = f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}  " if config.val else ""
    return (
        f"epoch {row['epoch']:2.0f}/{config.epochs}  train loss {row['train_loss']:.4f} "
        f"acc {row['train_acc']:.2%}  {val}test loss {row['test_loss']:.4f} "
        f"acc {row['test_acc']:.2%}  lr {row['lr']:.4f}  {row['seconds']:.1f} s"
    )


def pictures(
    out: Path,
    config: RunConfig,
    params: int,
    rows: list[dict[str, float]],
    data: Mnist,
    model: torch.nn.Module,
    predicted: torch.Tensor | None,
) -> None:
    from mnist.plots import plot_curves, plot_misclassified  # matplotlib only when needed

    if not rows:
        return
    title = f"MNIST {config.arch} ({params:,} params), seed {config.seed}"
    plot_curves(rows, out / "curves.png", title)
    if predicted is None:
        _, _, predicted = evaluate(model, data.test_x, data.test_y)
    plot_misclassified(
        data.test_x.cpu(), data.test_y.cpu(), predicted.cpu(), out / "misclassified.png"
    )


if __name__ == "__main__":
    raise SystemExit(main())
