"""A network request (command-line options or a TOML file) as a topology.NetSpec and its run."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from workbook_builder.network import spec, topology
from workbook_builder.network.optimizers import Optimizer
from workbook_builder.network.spec import Network, Run, SpecError
from workbook_builder.network.topology import NetSpec

#: the fields a request may give (TOML keys; ``-`` and ``_`` alike, ``example`` = ``examples``)
FIELDS = ("layers", "activation", "output_activation", "loss", "examples", "inputs", "targets",
          "biases", "train_biases", "weights", "init_seed", *("optimizer", "momentum", "alpha",
                                                               "betas", "eps", "batch_size"))
#: which optimizers read each hyperparameter
USED_BY = {"momentum": ("momentum", "nesterov"), "alpha": ("rmsprop",), "betas": ("adam",),
           "eps": ("rmsprop", "adam")}
#: formula cells over all rate sheets: the default workbook's bound (spec.MAX_TOTAL_ROWS rows
#: of 31 cells), so a wide network gets fewer rows, not more memory
COURSE_COLUMNS = 31  # the default workbook's formula cells per row
MAX_CELLS = spec.MAX_TOTAL_ROWS * COURSE_COLUMNS


@dataclass(frozen=True)
class NetRun:
    """What to build for a network other than the default: the network, the rates, the rows."""

    net: NetSpec
    learning_rates: tuple[float, ...] = spec.DEFAULT_LEARNING_RATES
    epochs: int = spec.DEFAULT_EPOCHS
    #: several optimizers: a sheet per optimizer and rate (empty: the network's own)
    optimizers: tuple[Optimizer, ...] = ()

    def __post_init__(self) -> None:
        Run(learning_rates=self.learning_rates, epochs=self.epochs)  # the same bounds
        names = [o.name for o in self.optimizers]
        if len(set(names)) != len(names):
            raise SpecError("--optimizer: give each optimizer once, got " + " ".join(names))
        if self.optimizers and self.net.optimizer != self.optimizers[0]:
            object.__setattr__(self, "net", replace(self.net, optimizer=self.optimizers[0]))
        nets = [replace(self.net, optimizer=o) for o in self.optimizers] or [self.net]
        width = row_cells(self)
        cells = self.epochs * len(self.learning_rates) * width
        what = f"{len(nets)} optimizers' " if len(nets) > 1 else ""
        if cells > MAX_CELLS:
            raise SpecError(f"{self.epochs} epochs × {len(self.learning_rates)} rate(s) × "
                            f"{what}{width} columns is {cells:,} formula cells; the most "
                            f"is {MAX_CELLS:,}: give fewer epochs, rates or optimizers")


def row_cells(run: NetRun) -> int:
    """Formula cells of one epoch's row summed over the optimizers' sheets of one rate (a
    row of every sheet: this times the number of rates)."""
    nets = [replace(run.net, optimizer=o) for o in run.optimizers] or [run.net]
    return sum(columns(n) for n in nets)


def columns(net: NetSpec) -> int:
    """Formula columns of a rate sheet: the parameters and every quantity."""
    return len(topology.parameters(net)) + len(topology.equations(net))


def _numbers(key: str, value: object) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise SpecError(f"{key}: give a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


def read_toml(path: Path) -> dict[str, object]:
    """A TOML file's network fields, checked for unknown keys; raises SpecError."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: the same parser, from PyPI (a dependency there)
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"--spec {path}: not valid TOML ({exc})") from None
    except OSError as exc:  # missing, a folder, unreadable: name the option
        raise SpecError(f"--spec {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"--spec {path}: not UTF-8 text ({exc.reason})") from None
    fields: dict[str, object] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        name = "examples" if name == "example" else name
        if name not in FIELDS:
            raise SpecError(f"--spec {path}: unknown field {key!r}; the fields are "
                            + ", ".join(f.replace("_", "-") for f in FIELDS))
        fields[name] = value
    return fields


def net_spec(fields: Mapping[str, object]) -> NetSpec:
    """The NetSpec a request describes (absent fields: the course's defaults).

    ``examples`` is a list of flat lists, inputs then targets; ``inputs``/``targets`` give
    one example. Without ``weights`` the 2-2-2 network keeps the course's weights unless an
    ``init_seed`` is given; any other shape gets seeded weights.
    """
    sizes = _numbers("layers", fields.get("layers", list(topology.DEFAULT_LAYERS)))
    if any(v != int(v) for v in sizes):
        raise SpecError("--layers: give whole numbers of neurons")
    layers = tuple(int(v) for v in sizes)
    if not 3 <= len(layers) <= topology.MAX_HIDDEN_LAYERS + 2:
        raise SpecError(f"--layers: give the input, 1 to {topology.MAX_HIDDEN_LAYERS} hidden "
                        f"layers and the output (e.g. 2 2 2), got {len(layers)} number(s)")
    for n in layers:
        if not 1 <= n <= topology.MAX_NEURONS:
            raise SpecError(f"--layers: each layer has 1 to {topology.MAX_NEURONS} neurons, "
                            f"got {n}")
    n_in, n_out = layers[0], layers[-1]
    if "examples" in fields:
        if "inputs" in fields or "targets" in fields:
            raise SpecError("give the training set either as --example or as --inputs/--targets, "
                            "not both")
        raw = fields["examples"]
        if not isinstance(raw, list) or not raw:
            raise SpecError("examples: give a list of examples, each inputs then targets")
        examples = []
        for k, item in enumerate(raw, start=1):
            flat = _numbers(f"example {k}", item)
            if len(flat) != n_in + n_out:
                raise SpecError(f"--example {k}: give {n_in} input(s) and {n_out} target(s) "
                                f"({n_in + n_out} numbers), got {len(flat)}")
            examples.append((flat[:n_in], flat[n_in:]))
    elif "inputs" in fields or "targets" in fields or layers == topology.DEFAULT_LAYERS:
        x = _numbers("inputs", fields.get("inputs", list(topology.DEFAULT_EXAMPLE[0])))
        t = _numbers("targets", fields.get("targets", list(topology.DEFAULT_EXAMPLE[1])))
        if len(x) != n_in or len(t) != n_out:
            raise SpecError(f"--inputs/--targets: the network takes {n_in} input(s) and "
                            f"{n_out} target(s), got {len(x)} and {len(t)}")
        examples = [(x, t)]
    else:
        raise SpecError(f"give the training set: --example with {n_in} input(s) then {n_out} "
                        "target(s), once per example")
    weights: tuple[float, ...] | None = None
    if "weights" in fields:
        weights = _numbers("weights", fields["weights"])
    elif layers == topology.DEFAULT_LAYERS and "init_seed" not in fields:
        weights = topology.DEFAULT_WEIGHTS
    seed = fields.get("init_seed", 0)
    train = fields.get("train_biases", False)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"init-seed: give a whole number ≥ 0, got {seed!r}")
    if not isinstance(train, bool):
        raise SpecError(f"train-biases: give true or false, got {train!r}")
    size = fields.get("batch_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise SpecError(f"--batch-size: give a whole number ≥ 1, got {size!r}")
    texts = {}
    for key, default in (("activation", "sigmoid"), ("output_activation", "sigmoid"),
                         ("loss", "half-se")):
        value = fields.get(key, default)
        if not isinstance(value, str):
            raise SpecError(f"{key.replace('_', '-')}: give a name, got {value!r}")
        texts[key] = value
    return NetSpec(layers=layers, examples=tuple(examples),
                   biases=_numbers("biases", fields["biases"]) if "biases" in fields else None,
                   train_biases=train, weights=weights, init_seed=seed,
                   optimizer=optimizers_of(fields)[0], batch_size=size, **texts)


def optimizers_of(fields: Mapping[str, object]) -> tuple[Optimizer, ...]:
    """The optimizers a request names (``optimizer``: a name or a list; default sgd) with its
    hyperparameters; one SpecError for a value no named optimizer reads."""
    raw = fields.get("optimizer", ["sgd"])
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SpecError(f"optimizer: give a name or a list of names, got {raw!r}")
    values: dict[str, object] = {}
    for key, users in USED_BY.items():
        if key not in fields:
            continue
        if not set(users) & set(names):
            raise SpecError(f"--{key} is read by {' and '.join(users)} only; add "
                            f"--optimizer {users[0]}, or leave --{key} out")
        if key == "betas":
            betas = _numbers("betas", fields[key])
            if len(betas) != 2:
                raise SpecError(f"--betas: give two numbers, β1 and β2, got {len(betas)}")
            values[key] = betas
        else:
            values[key] = _numbers(key, [fields[key]])[0] if not isinstance(
                fields[key], list) else _numbers(key, fields[key])[0]
    return tuple(Optimizer(n, **values) for n in names)  # type: ignore[arg-type]


def course_spec(network: Network) -> NetSpec:
    """The course's numbers (a spec.Network) as the engine's network."""
    return NetSpec(examples=((network.inputs, network.targets),), biases=network.biases,
                   weights=network.weights)


def from_course(run: Run) -> NetRun:
    """The course's run (spec.Run: the 2-2-2 network's numbers) as the engine's NetRun."""
    return NetRun(course_spec(run.network), run.learning_rates, run.epochs)
