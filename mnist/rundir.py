"""The run folder: checkpoints, metrics.csv and metrics.json, every file written atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import torch

from mnist.checkpoint import CheckpointError, check_plain, read_checkpoint
from mnist.config import RunConfig

METRIC_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",  # training plus evaluation of this epoch
    "elapsed",  # seconds since the start of epoch 1
)
VAL_KEYS = ("val_loss", "val_acc")  # only in runs with --val
CHECKPOINT_KEYS = (
    "config",
    "model",
    "average",
    "optimizer",
    "scheduler",
    "torch_rng",
    "data_rng",
    "metrics",
)


RUN_FILES = (  # what a run writes into its folder; --overwrite removes these and nothing else
    "last.pt",
    "best.pt",
    "metrics.csv",
    "metrics.json",
    "curves.png",
    "misclassified.png",
)


class RunFolderError(Exception):
    """The folder cannot be used, or its checkpoint is not a run of this config; one line."""


class WriteError(Exception):
    """A file could not be written (a full disk, no permission, ...); one line naming it."""


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary name in the same folder, then os.replace it into place.

    Raises:
        WriteError: naming ``path`` (not the temporary name) and the cause; nothing is left
            behind, and a previous file at ``path`` is intact.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as f:  # "x": never clobber; the mode follows the umask
            f.write(payload)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from e
        raise


def metric_keys(config: RunConfig) -> tuple[str, ...]:
    """The columns of this run's metrics rows, in file order."""
    if not config.val:
        return METRIC_KEYS
    return METRIC_KEYS[:3] + VAL_KEYS + METRIC_KEYS[3:]


@dataclass(frozen=True)
class RunFolder:
    """Where one run keeps its files."""

    path: Path

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    def run_files(self) -> list[str]:
        """The names of RUN_FILES present in the folder: a run, finished or not, if any."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def describe(self) -> str:
        """'a finished run (10 of 10 epochs, last test accuracy 99.44 %)', from metrics.json;
        'a run (last.pt, ...)' when that cannot be read."""
        try:
            report = json.loads((self.path / "metrics.json").read_text())
            epochs, rows = int(report["config"]["epochs"]), report["epochs"]
            accuracy = f", last test accuracy {rows[-1]['test_acc']:.2%}" if rows else ""
            state = "a finished" if len(rows) >= epochs else "an unfinished"
            return f"{state} run ({len(rows)} of {epochs} epochs{accuracy})"
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return f"a run ({', '.join(self.run_files())})"

    def clear(self) -> None:
        """Remove the RUN_FILES of an earlier run (--overwrite); other files stay."""
        for name in self.run_files():
            try:
                (self.path / name).unlink()
            except OSError as e:
                raise WriteError(f"cannot remove {self.path / name}: {e.strerror or e}") from e

    def create(self) -> None:
        """Make the folder and prove it writable; RunFolderError if not."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path / ".write-test", b"")
            (self.path / ".write-test").unlink()
        except OSError as e:
            raise RunFolderError(f"{self.path}: cannot write there ({e.strerror or e})") from e
        except WriteError as e:
            cause = e.__cause__
            reason = getattr(cause, "strerror", None) or cause or e
            raise RunFolderError(f"{self.path}: cannot write there ({reason})") from e

    def save(self, name: str, state: dict[str, Any]) -> None:
        """Write a checkpoint after checking that it holds nothing but plain values."""
        check_plain(state)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path / name, buffer.getvalue())

    def write_metrics(self, config: RunConfig, params: int, rows: list[dict[str, float]]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=metric_keys(config), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(self.path / "metrics.csv", text.getvalue().encode())
        report = {"config": asdict(config), "params": params, "epochs": rows}
        payload = (json.dumps(report, indent=1) + "\n").encode()
        atomic_write_bytes(self.path / "metrics.json", payload)

    def read_for_resume(self, config: RunConfig) -> dict[str, Any]:
        """``last.pt``, read without running code from it, with its parts, config and metrics
        checked; the weights and states are checked against the live objects by ``restore``.

        Raises:
            RunFolderError: no checkpoint, or one of a run with other settings.
            CheckpointError: a file this program did not write, or a damaged one.
        """
        if not self.last.is_file():
            if self.run_files():
                raise RunFolderError(
                    f"no checkpoint at {self.last} to continue from; pass a new --out, or "
                    "--overwrite instead of --resume to replace the run there"
                )
            raise RunFolderError(f"no checkpoint at {self.last}; drop --resume to start a new run")
        checkpoint = read_checkpoint(self.last)
        check_parts(checkpoint)
        saved = checkpoint["config"]
        for field in fields(RunConfig):
            if saved[field.name] != getattr(config, field.name):
                flag = "--" + field.name.replace("_", "-")
                raise RunFolderError(
                    f"{flag} is {getattr(config, field.name)} but the run in {self.path} used "
                    f"{saved[field.name]}; pass the same value or a new --out"
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
    keys = metric_keys(RunConfig(**saved))
    rows, epochs = checkpoint["metrics"], saved["epochs"]  # a different --epochs is named later
    if not isinstance(rows, list) or len(rows) > epochs:
        raise CheckpointError(f"its metrics are not a list of at most {epochs} epochs")
    for epoch, row in enumerate(rows, 1):
        if (
            not isinstance(row, dict)
            or row.keys() != set(keys)
            or not all(type(v) in (int, float) for v in row.values())
            or row["epoch"] != epoch
        ):
            raise CheckpointError(f"its metrics row {epoch} is not a row of {', '.join(keys)}")
