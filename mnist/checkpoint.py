"""Checkpoint contents: tensors and plain Python values only, so reading one runs no code;
checked part by part against the live objects before they are loaded."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

MAX_UNPACKED = 256 << 20  # bytes; a default-arch checkpoint unpacks to well under 1 MB
SCALARS = (str, int, float, bool, type(None))


class CheckpointError(Exception):
    """A checkpoint this program did not write, or a damaged one; the message is one line."""


def check_plain(value: object, where: str = "checkpoint") -> None:
    """Raise TypeError unless ``value`` is built from tensors, dicts, lists and plain scalars:
    what ``torch.load(weights_only=True)`` reads back. A TypeError here is a bug, not bad input.
    """
    if type(value) is torch.Tensor or type(value) in SCALARS:
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where} has a {type(key).__name__} key; use str or int")
            check_plain(item, f"{where}[{key!r}]")
        return
    if type(value) is list:
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}; store tensors and plain values only")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint without running code from it.

    Returns:
        The saved dict; its contents are unchecked beyond being tensors and plain values.
        Raises CheckpointError (one line, no path) when the file is not such a dict.
    """
    try:
        # torch.save writes a zip; anything else (a bare pickle, garbage, a truncated file) is
        # not ours, and the size check stops a small archive that unpacks to GiBs
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise CheckpointError(
            "not a zip archive as torch.save writes (truncated, or another format)"
        ) from None
    except OSError as e:
        raise CheckpointError(f"cannot read it ({e.strerror or e})") from e
    if unpacked > MAX_UNPACKED:
        raise CheckpointError(
            f"unpacks to {unpacked:,} bytes, more than the {MAX_UNPACKED:,} a checkpoint can hold"
        )
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles; the error says enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a Python object it does not know
        raise CheckpointError(
            "holds Python objects, not only tensors and plain values (refused: loading them "
            "could run code)"
        ) from None
    except Exception as e:  # a damaged archive raises many kinds
        reason = str(e).split(". ")[0].splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"damaged ({reason})") from e
    if not isinstance(state, dict) or not all(type(key) is str for key in state):
        raise CheckpointError(f"holds {a_type(state)}, not a dict of named parts")
    return state


def check_like(saved: object, reference: object, where: str) -> None:
    """Raise CheckpointError unless ``saved`` is shaped like ``reference``: the same dict keys,
    list lengths, tensor shapes and dtypes, and scalar types (the values may differ)."""
    if isinstance(reference, torch.Tensor):
        if not isinstance(saved, torch.Tensor):
            raise CheckpointError(f"{where} is {a_type(saved)}, expected a tensor")
        if saved.shape != reference.shape or saved.dtype != reference.dtype:
            raise CheckpointError(
                f"{where} is a {saved.dtype} tensor of shape {tuple(saved.shape)}, expected "
                f"{reference.dtype} {tuple(reference.shape)}"
            )
    elif isinstance(reference, dict):
        if not isinstance(saved, dict):
            raise CheckpointError(f"{where} is {a_type(saved)}, expected a dict")
        missing = sorted(reference.keys() - saved.keys(), key=repr)
        if missing:
            raise CheckpointError(f"{where} lacks {missing[0]!r}")
        unknown = sorted(saved.keys() - reference.keys(), key=repr)
        if unknown:
            raise CheckpointError(f"{where} has an unknown entry {unknown[0]!r}")
        for key, item in reference.items():
            check_like(saved[key], item, f"{where}[{key!r}]")
    elif isinstance(reference, list):
        if not isinstance(saved, list) or len(saved) != len(reference):
            length = f" of {len(saved)}" if isinstance(saved, list) else ""
            raise CheckpointError(
                f"{where} is {a_type(saved)}{length}, expected a list of {len(reference)}"
            )
        for i, (item, ref) in enumerate(zip(saved, reference, strict=True)):
            check_like(item, ref, f"{where}[{i}]")
    elif type(saved) is not type(reference):
        raise CheckpointError(f"{where} is {a_type(saved)}, expected {a_type(reference)}")


def a_type(value: object) -> str:
    """The type's name with its article: 'an int', 'a str'."""
    name = type(value).__name__
    return ("an " if name[0] in "aeiou" else "a ") + name


def restore(
    state: dict[str, Any],
    *,
    model: nn.Module,
    average: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    steps_done: int,
    device: torch.device,
) -> None:
    """Check each saved part against the live object it belongs to, then load it.

    Args:
        state: from ``read_checkpoint``, with the keys ``model``, ``average`` (the averaged
            weights, or an empty dict without), ``optimizer``, ``scheduler``, ``torch_rng`` and
            ``data_rng``.
        average: the network that holds the weight average, if the run keeps one.
        steps_done: optimizer steps the saved metrics account for; the schedule must agree.
        device: where the run's dropout masks are drawn (``torch_rng`` is that generator's).
    """
    check_like(state["model"], dict(model.state_dict()), "model")
    check_like(state["average"], {} if average is None else dict(average.state_dict()), "average")
    check_optimizer(state["optimizer"], optimizer)
    fresh = scheduler.state_dict()
    check_like(state["scheduler"], fresh, "scheduler")
    saved_steps = state["scheduler"]["total_steps"]
    if saved_steps != fresh["total_steps"]:
        raise CheckpointError(
            f"its schedule is {saved_steps} steps long but this run's is {fresh['total_steps']} "
            "(was the training data different?)"
        )
    if state["scheduler"]["last_epoch"] != steps_done:
        raise CheckpointError(
            f"its schedule is at step {state['scheduler']['last_epoch']} but its metrics "
            f"account for {steps_done} steps"
        )
    check_like(state["torch_rng"], rng_state(device), "torch_rng")
    check_like(state["data_rng"], generator.get_state(), "data_rng")
    try:
        model.load_state_dict(state["model"])
        if average is not None:
            average.load_state_dict(state["average"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(device, state["torch_rng"])
        generator.set_state(state["data_rng"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:  # a case the checks missed
        raise CheckpointError(f"does not fit this run ({str(e).splitlines()[0]})") from e


def check_optimizer(saved: object, optimizer: torch.optim.Optimizer) -> None:
    """The param groups must match this optimizer's, and each per-parameter state (SGD keeps
    a momentum buffer, absent before the first step) must be shaped like its parameter."""
    fresh = optimizer.state_dict()
    if not isinstance(saved, dict) or saved.keys() != fresh.keys():
        raise CheckpointError("optimizer is not an optimizer state")
    check_like(saved["param_groups"], fresh["param_groups"], "optimizer['param_groups']")
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if len(set(ids)) != len(ids):
        raise CheckpointError("optimizer['param_groups'] names a parameter twice")
    by_id = dict(zip(ids, params, strict=True))
    if not isinstance(saved["state"], dict):
        raise CheckpointError("optimizer['state'] is not a dict")
    for key, value in saved["state"].items():
        if type(key) is not int or key not in by_id:
            raise CheckpointError(f"optimizer['state'] has an unknown parameter {key!r}")
        check_like(value, {"momentum_buffer": by_id[key].detach()}, f"optimizer['state'][{key}]")


def rng_state(device: torch.device) -> torch.Tensor:
    """The state of the global generator that draws dropout masks on ``device``."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return torch.get_rng_state()


def set_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)
    else:
        torch.set_rng_state(state)
