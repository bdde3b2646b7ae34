"""The training loop: ``train_epoch()``, ``evaluate()``, and ``Trainer.epochs()``, which yields
one finished epoch at a time; it neither prints nor decides an exit status."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnist.checkpoint import rng_state
from mnist.config import RunConfig
from mnist.data import Augment, Mnist, shuffled_batches
from mnist.model import build_model

EVAL_BATCH = 2000  # images per forward pass when evaluating; no gradients, so memory is small


class Diverged(Exception):
    """The training loss, or the loss of the evaluated weights, stopped being a finite
    number."""


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 mixed precision on a GPU that has it (no loss scaling needed, unlike float16);
    full precision on a CPU, where bfloat16 convolutions are slower on most chips."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class WeightAverage:
    """An exponential moving average of a network's weights and BatchNorm statistics, updated
    after every step. It is what gets evaluated: the live weights at a high learning rate jump
    about, and their average sits nearer the middle of where they have been."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay  # the weight of the old average at each step
        self.model = copy.deepcopy(model).requires_grad_(False)
        live = model.state_dict()  # the model's own tensors, updated in place by every step
        self._pairs = [(t, live[name]) for name, t in self.model.state_dict().items()]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (1, 2, ...). Early on the old
        average counts for less, (1 + step) / (10 + step), so the random starting weights fade
        within tens of steps rather than hundreds."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, live in self._pairs:
            if average.is_floating_point():
                average.lerp_(live, 1 - decay)
            else:  # BatchNorm's count of batches
                average.copy_(live)


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
    average: WeightAverage | None = None,
    on_step: Callable[[], object] | None = None,
) -> tuple[float, float]:
    """One pass over (x, y) in a shuffled order, stepping the optimizer, the schedule and the
    weight average.

    Everything stays on x's device: the generator must live there too. The loss is checked once,
    at the end (a check per step would make a GPU wait for every step).

    Returns:
        Mean training loss and accuracy over the augmented images seen; raises Diverged.
    """
    model.train()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for index in shuffled_batches(len(x), batch_size, generator):
        images = augment(x[index], generator).contiguous(memory_format=torch.channels_last)
        with autocast(x.device):
            logits = model(images)
            loss = F.cross_entropy(logits, y[index], label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update(scheduler.last_epoch)  # the schedule counts steps, from 1
        loss_sum += loss.detach() * len(index)
        correct += (logits.argmax(1) == y[index]).sum()
        if on_step is not None:
            on_step()
    mean_loss = loss_sum.item() / len(x)
    if not math.isfinite(mean_loss):
        raise Diverged(f"the mean training loss is {mean_loss}")
    return mean_loss, correct.item() / len(x)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH
) -> tuple[float, float, torch.Tensor]:
    """Plain cross-entropy and accuracy on (x, y), in eval mode.

    Returns:
        Mean loss, accuracy, and the predicted class of every image (on x's device).
    """
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    predictions = []
    with torch.inference_mode(), autocast(x.device):
        for start in range(0, len(x), batch_size):
            images = x[start : start + batch_size].contiguous(memory_format=torch.channels_last)
            logits = model(images).float()
            labels = y[start : start + batch_size]
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            predictions.append(logits.argmax(1))
    predicted = torch.cat(predictions)
    return loss_sum.item() / len(x), (predicted == y).float().mean().item(), predicted


def make_schedule(
    optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.lr,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        pct_start=config.warmup,
        anneal_strategy=config.anneal,  # type: ignore[arg-type]
        div_factor=10.0,  # start at lr / 10
        final_div_factor=100.0,  # end at lr / 1000
    )


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )


def make_trainer(config: RunConfig, data: Mnist, device: torch.device) -> Trainer:
    """A fresh run of ``config`` on ``data`` (already on ``device``): seeds, network, optimizer,
    schedule, and the generator of order and augmentation, which draws on ``device``."""
    torch.manual_seed(config.seed)  # weights and dropout
    generator = torch.Generator(device=device).manual_seed(config.seed)
    model = build_model(config.arch).to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = make_optimizer(model, config)
    scheduler = make_schedule(optimizer, config, steps_per_epoch(data, config))
    average = WeightAverage(model, config.ema) if config.ema else None
    return Trainer(model, optimizer, scheduler, generator, data, config, average)


def steps_per_epoch(data: Mnist, config: RunConfig) -> int:
    return math.ceil(len(data.train_x) / config.batch_size)


@dataclass(frozen=True)
class Epoch:
    """One finished epoch: its metrics row and the test-set predictions."""

    row: dict[str, float]
    predicted: torch.Tensor


@dataclass
class Trainer:
    """The model, its optimizer and schedule, and the generator of order and augmentation."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # on the data's device
    data: Mnist
    config: RunConfig
    average: WeightAverage | None = None

    @property
    def evaluated(self) -> nn.Module:
        """The network whose accuracy is reported: the weight average, if the run keeps one."""
        return self.model if self.average is None else self.average.model

    def epochs(
        self, done: int = 0, elapsed: float = 0.0, on_step: Callable[[], object] | None = None
    ) -> Iterator[Epoch]:
        """Train and evaluate epochs done + 1 .. config.epochs, one per ``next``.

        Args:
            done: epochs already trained (a resumed run).
            elapsed: their seconds, which the rows' ``elapsed`` continues from.
            on_step: called after every optimizer step (a progress bar).
        """
        config, data = self.config, self.data
        augment = Augment()
        for epoch in range(done + 1, config.epochs + 1):
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
                    average=self.average,
                    on_step=on_step,
                )
            except Diverged as e:
                raise Diverged(f"in epoch {epoch}, {e}") from e
            row: dict[str, float] = {"epoch": epoch, "train_loss": train_loss}
            row["train_acc"] = train_acc
            if config.val:
                row["val_loss"], row["val_acc"], _ = evaluate(
                    self.evaluated, data.val_x, data.val_y
                )
            row["test_loss"], row["test_acc"], predicted = evaluate(
                self.evaluated, data.test_x, data.test_y
            )
            for key in ("val_loss", "test_loss"):  # the weights after the last step
                if key in row and not math.isfinite(row[key]):
                    split = key.split("_")[0]
                    raise Diverged(f"in epoch {epoch}, the {split} loss is {row[key]}")
            seconds = time.perf_counter() - tic
            elapsed += seconds
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            row["seconds"] = round(seconds, 2)
            row["elapsed"] = round(elapsed, 2)
            yield Epoch(row, predicted)

    def state(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        """What a checkpoint holds: tensors and plain values only, keyed as CHECKPOINT_KEYS."""
        device = self.generator.device
        return {
            "config": asdict(self.config),
            "model": dict(self.model.state_dict()),  # a plain dict: no OrderedDict to unpickle
            "average": {} if self.average is None else dict(self.average.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": rng_state(device),
            "data_rng": self.generator.get_state(),
            "metrics": list(rows),
        }
