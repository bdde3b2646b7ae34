"""``python -m mnist.evaluate``: the test loss and accuracy of a saved checkpoint, with either
of the weights it holds."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mnist.checkpoint import CheckpointError, check_like, read_checkpoint
from mnist.config import RunConfig
from mnist.data import DataError, find_raw, load_mnist
from mnist.loop import evaluate
from mnist.model import ARCHS, build_model
from mnist.rundir import check_parts
from mnist.train import (
    BadInput,
    Parser,
    add_data_options,
    error_name,
    fail,
    pick_device,
    usable_cores,
    usage_name,
)

SCRIPT, MODULE = "mnist-evaluate", "mnist.evaluate"
WEIGHTS = {  # --weights NAME: the checkpoint part, and what it is
    "average": "the weight average, which training evaluates and reports",
    "model": "the live weights, as the optimizer left them",
}


@dataclass(frozen=True)
class Loaded:
    """A checkpoint's network with the chosen weights in it, and what it says about itself."""

    path: Path
    config: RunConfig
    weights: str  # a key of WEIGHTS
    model: nn.Module
    epochs_done: int
    recorded: float | None  # the test accuracy training printed for these weights, if any


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=usage_name(SCRIPT, MODULE),
        description="The test-set loss and accuracy of a checkpoint written by mnist.train "
        f"(installed as the {SCRIPT} command; the same as python -m {MODULE}).",
        epilog="Exit status: 0 done, 2 bad input (a checkpoint this program did not write, a "
        "damaged one, missing data).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "checkpoint",
        type=Path,
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="a run folder (its last.pt is read) or a checkpoint file such as RUN_DIR/best.pt",
    )
    p.add_argument(
        "--weights",
        choices=sorted(WEIGHTS),
        default=argparse.SUPPRESS,
        help="average: the weight average (what training reports; the default where the run "
        "keeps one); model: the live weights (default: average, else model)",
    )
    add_data_options(p)
    return p


def checkpoint_path(given: Path) -> Path:
    """The file to read: ``given``, or ``given/last.pt`` for a run folder."""
    if given.is_dir():
        path = given / "last.pt"
        if not path.is_file():
            raise BadInput(f"{given} holds no last.pt: pass a run folder of mnist.train or a .pt")
        return path
    if not given.exists():
        raise BadInput(f"{given}: no such file or folder; pass a run folder or a checkpoint file")
    return given


def load(given: Path, weights: str | None = None) -> Loaded:
    """Read and check a checkpoint, then build its network holding the chosen weights.

    Args:
        given: a run folder or a checkpoint file.
        weights: "average" or "model"; None takes the average where the run keeps one.

    Returns:
        The loaded network (on the CPU) and what the checkpoint says about it; raises BadInput
        (one line) for a missing, foreign or damaged checkpoint.
    """
    path = checkpoint_path(given)
    try:
        state = read_checkpoint(path)
        check_parts(state)
        config = RunConfig(**state["config"])
        if config.arch not in ARCHS:
            raise CheckpointError(f"its network {config.arch!r} is not one of {sorted(ARCHS)}")
        chosen = weights or ("average" if state["average"] else "model")
        if chosen == "average" and not state["average"]:
            raise BadInput(
                f"--weights average: {path} holds no weight average (its run kept none); use "
                "--weights model"
            )
        model = build_model(config.arch)
        check_like(state[chosen], dict(model.state_dict()), chosen)
        model.load_state_dict(state[chosen])
    except CheckpointError as e:
        raise BadInput(f"{path}: {e}; not a checkpoint of mnist.train, or damaged") from e
    except RuntimeError as e:  # a case the checks missed
        raise BadInput(f"{path}: does not fit its network ({str(e).splitlines()[0]})") from e
    rows = state["metrics"]
    reports_average = bool(state["average"])  # training reports the average where it keeps one
    evaluated = "average" if reports_average else "model"
    recorded = rows[-1]["test_acc"] if rows and chosen == evaluated else None
    return Loaded(path, config, chosen, model, len(rows), recorded)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the test loss and accuracy; returns 0, or 2 on bad input."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    prog = error_name(SCRIPT, MODULE)
    try:
        device = pick_device(args.device)
        loaded = load(args.checkpoint, getattr(args, "weights", None))
        torch.set_num_threads(usable_cores())
        data = load_mnist(args.data_dir, fetch=args.download).to(device)
    except (BadInput, DataError) as e:
        return fail(str(e), prog=prog)
    _, where = find_raw(args.data_dir)
    if where:
        print(where)
    config = loaded.config
    model = loaded.model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    loss, accuracy, predicted = evaluate(model, data.test_x, data.test_y)
    wrong = int((predicted != data.test_y).sum())
    print(
        f"{loaded.path}: {config.arch}, seed {config.seed}, after epoch {loaded.epochs_done} of "
        f"{config.epochs}; weights: {loaded.weights} ({WEIGHTS[loaded.weights]})"
    )
    recorded = "" if loaded.recorded is None else f"; training recorded {loaded.recorded:.2%}"
    print(
        f"test loss {loss:.4f}  accuracy {accuracy:.2%}  ({wrong} of {len(data.test_y):,} "
        f"wrong; device {device}){recorded}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
