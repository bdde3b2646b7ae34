"""Which network a workbook's tables compute: the one the grader names, or what its headers show.

With a network given (``check --spec FILE.toml`` or ``--layers …``: the fields the builder
takes), its tables are read with that network's names. Without one, a table of the course's
2-2-2 network is read as today; a table whose headers show another network (w9, a b column per
neuron, a third output, an example's mark) is read as the network its headers and formulas
show, and the report says so and how — or, where they cannot tell (no activation column to
read, say), the check asks for ``--spec``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping
from typing import Any

from openpyxl.formula.tokenizer import Token, Tokenizer

from workbook_builder.check import optimizer_sheets
from workbook_builder.check.foreign import AuditError, Cells
from workbook_builder.check.names import canonical
from workbook_builder.check.netmodel import Model, course, for_spec, read_name, same_example_count
from workbook_builder.check.table import Table, find_table
from workbook_builder.network import netrun, topology
from workbook_builder.network.optimizers import Optimizer
from workbook_builder.network.spec import SpecError
from workbook_builder.network.topology import NetSpec

MAX_EXAMPLES = topology.MAX_EXAMPLES


def spec_of(fields: Mapping[str, Any]) -> tuple[NetSpec | None, bool]:
    """The NetSpec the fields describe, and whether its examples are only placeholders (the
    fields give no training set: their number is then read from the sheet)."""
    try:
        return netrun.net_spec(fields), False
    except SpecError as exc:
        if "training set" not in str(exc):
            raise AuditError(f"the network: {exc}") from None
    base = dict(fields)
    sizes = [int(v) for v in base["layers"]]
    n_in, n_out = sizes[0], sizes[-1]
    softmax = base.get("output_activation") == "softmax"
    base["examples"] = [[0.0] * n_in + ([1.0] + [0.0] * (n_out - 1) if softmax
                                         else [0.5] * n_out)]
    try:
        return netrun.net_spec(base), True
    except SpecError as exc:
        raise AuditError(f"the network: {exc}") from None


def model_of(spec: NetSpec) -> Model:
    """The network's model: the course's preset of it (its header spellings, its optional
    biases) for the course's network, else the engine's model of the spec."""
    if topology.course_network(spec):
        return course(spec.optimizer if spec.optimizer.name != "sgd" else None)
    return for_spec(spec)


def _find(wb: Any, grids: dict[str, Cells], model: Model) -> list[tuple[Cells, Table]]:
    return [(grids[ws.title], t) for ws in wb.worksheets
            if (t := find_table(ws, grids[ws.title], model, grids)) is not None]


def tables_for(wb: Any, grids: dict[str, Cells], network: Mapping[str, Any] | None
               ) -> tuple[Model, list[tuple[Cells, Table]], list[str]]:
    """The model the tables are judged by, the tables, and notes saying how it was chosen;
    where the tables show an optimizer's state and no optimizer was given, the network with
    the optimizer they show (optimizer_sheets.shown).

    Raises:
        AuditError: no table of the network, or the headers show another network than the
            2-2-2 one and cannot tell which (then ``--spec`` is asked for).
    """
    model, found, notes = _tables_for(wb, grids, network)
    if model.spec.optimizer.name != "sgd" or not found or "optimizer" in (network or {}):
        return model, found, notes  # an optimizer given (sgd too) is the one judged
    out: list[tuple[Cells, Table]] = []
    for grid, t in found:  # each table as the optimizer its state columns show (several:
        name = optimizer_sheets.shown(grid, t)  # a sheet per optimizer, compared)
        other = model_of(dataclasses.replace(model.spec, optimizer=Optimizer(name))) \
            if name is not None else None
        again = find_table(wb[t.sheet], grid, other, grids) if other is not None else None
        if other is None or again is None:
            out.append((grid, t))
            continue
        hyper = ", ".join(f"{k} {v:g}" for k, v in other.defaults.items()
                          if k in topology.hyperparameters(other.spec))
        again.model = other
        again.notes.insert(0, f"the weights follow {name}, as the state columns show (no "
                           f"optimizer given): its hyperparameters from labelled cells, else "
                           f"torch.optim's defaults ({hyper}); give --spec with optimizer and "
                           "its values to check against others")
        out.append((grid, again))
    return model, out, notes


def _tables_for(wb: Any, grids: dict[str, Cells], network: Mapping[str, Any] | None
                ) -> tuple[Model, list[tuple[Cells, Table]], list[str]]:
    if network:
        spec, placeholder = spec_of(network)
        assert spec is not None
        if placeholder:  # the number of examples from the sheet: the count that reads most
            best: tuple[int, Model, list[tuple[Cells, Table]]] | None = None
            for k in range(1, MAX_EXAMPLES + 1):
                model = model_of(same_example_count(spec, k))
                found = _find(wb, grids, model)
                score = sum(len(t.columns) for _, t in found)
                if found and (best is None or score > best[0]):
                    best = (score, model, found)
            if best is None:
                raise AuditError(no_table(model_of(spec)))
            return best[1], best[2], []
        described_otherwise(grids, spec)
        model = model_of(spec)
        found = _find(wb, grids, model)
        if len(spec.examples) > 1 and not any(_per_example(t) for _, t in found) and (
                one := one_example_at_a_time(wb, grids, spec)) is not None:
            return one
        if not found:
            raise AuditError(no_table(model))
        return model, found, []
    model = course()
    found = _find(wb, grids, model)
    shown = [shape for _, t in found if (shape := other_network(grids[t.sheet], t))]
    if found and not shown:
        return model, found, []
    try:
        return detect(wb, grids, shown)
    except AuditError as exc:
        if not found or not all(why.startswith("several examples") for why in shown):
            raise  # a weight past w8, a bias per neuron, a third output: not the 2-2-2 one
        # a 2-2-2 table whose headers also show something else (a stray "(2)") and no other
        # network they make plain: read as the 2-2-2 network, as before, and say so
        return model, found, [f"read as the 2-2-2 network, though the headers show "
                              f"{'; '.join(shown)} ({exc}); give --spec if it is another"]


def sheet_reading(grids: dict[str, Cells]) -> tuple[tuple[int, ...], bool, int] | None:
    """(layers, trainable biases, examples) that the header row naming the most weights shows
    (shape_from_headers), or None where no header row says."""
    best = None
    for g in grids.values():
        for r in sorted({r for (r, _), v in g.items() if isinstance(v, str)})[:400]:
            texts = header_names(g, r)
            count = sum(bool(_WEIGHT.fullmatch(canonical(t))) for t in texts)
            if count and (best is None or count > best[0]):
                best = (count, texts)
    return shape_from_headers(best[1]) if best is not None else None


def _shape(layers: tuple[int, ...], train: bool, examples: int) -> str:
    return (f"a {'-'.join(map(str, layers))} network with {examples} example"
            f"{'s' if examples != 1 else ''} and {'trainable' if train else 'no trainable'} "
            "biases")


def described_otherwise(grids: dict[str, Cells], spec: NetSpec) -> None:
    """Refuse, naming both, a sheet whose headers show another network than the one given:
    more examples, trainable biases it does not have, other layers (checked against the wrong
    network, every column would be called wrong).

    Raises:
        AuditError: the headers show another network.
    """
    reading = sheet_reading(grids)
    if reading is None:
        return
    layers, train, examples = reading
    if examples > len(spec.examples) or (train and not spec.train_biases) or \
            layers != spec.layers:
        given = _shape(spec.layers, spec.train_biases, len(spec.examples))
        raise AuditError(
            f"the sheet's headers show {_shape(layers, train, examples)}; the network given "
            f"(--spec or the options) is {given}: give the network the class computes (the "
            "--spec file the key was built from; --example once per example, --train-biases), "
            "or the sheet computes another one")


def examples_differ(against: Mapping[str, float | None], spec: NetSpec) -> str | None:
    """Where the sheet's examples are not the ones given (--example, --spec): a signal for the
    grader (the sheet is checked against its own numbers either way), or None."""
    expected = topology.constants(spec)
    differ = [(name, got, expected[name]) for name, got in against.items()
              if name in expected and not re.fullmatch(r"b\d+", name) and got is not None
              and abs(got - expected[name]) > 1e-9 * max(1.0, abs(expected[name]))]
    if not differ:
        return None
    shown = ", ".join(f"{n} is {got:.10g} in the sheet, {want:.10g} in the description"
                      for n, got, want in differ[:4])
    more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
    return (f"its examples are not the ones given (--example, --spec): {shown}{more}; every "
            "quantity was checked against the sheet's own numbers")


def _per_example(table: Table) -> bool:
    return any(name.endswith("]") for name in table.columns)


def one_example_at_a_time(wb: Any, grids: dict[str, Cells], spec: NetSpec
                          ) -> tuple[Model, list[tuple[Cells, Table]], list[str]] | None:
    """A sheet of a several-example network that shows one example's quantities a row (no
    example marks): with the inputs in columns that change from row to row it updates after
    each example (stochastic); with one example's inputs in fixed cells it trains on that
    example alone. Either is one finding, and its rows are checked as one-example steps."""
    model = model_of(same_example_count(spec, 1))
    found = _find(wb, grids, model)
    forward = [t for _, t in found if any(n.startswith("a_") for n in t.columns)]
    if not forward:
        return None
    n = len(spec.examples)
    for grid, t in found:
        if (period := block_period(grid, t, model)) is not None:
            raise AuditError(
                f"sheet {t.sheet!r}: the table repeats a block of {period} rows (one row per "
                f"example, the weights kept within the block); a table of this network with "
                "one block per epoch is not read yet: lay each epoch out in one row, the "
                f"{n} examples side by side (a_h1[1] … a_h1[{n}]), or check it by hand")
        inputs = [name for name in model.given if name in t.columns]
        varying = any(len({grid.get((r, t.columns[name])) for r in t.rows}) > 1
                      for name in inputs)
        if varying:
            t.findings.append(
                f"the weights are updated after each example (one example a row: stochastic "
                f"gradient descent), but the network learns its {n} examples together: one "
                f"full-batch step per epoch, the gradient summed over all {n}; the rows were "
                "checked as one-example steps (below)")
        else:
            t.findings.append(
                f"the sheet trains on one example; the network has {n} (one full-batch step "
                "per epoch over all of them); the rows were checked as one-example steps "
                "(below)")
    return model, found, []


def block_period(grid: Cells, table: Table, model: Model) -> int | None:
    """The number of rows of a block that the first parameter's formulas repeat (a block per
    epoch, one row per example: the weights updated in its first row, kept in the others),
    or None when every row below the first holds the same formula (in R1C1 form)."""
    from workbook_builder.check.repeats import r1c1

    name = next((p for p in model.parameters if p in table.columns), None)
    if name is None:
        return None
    col = table.columns[name]
    forms = [r1c1(grid.get((r, col)), r, col) for r in table.rows[1:]]
    if len(set(forms)) < 2:
        return None
    for period in range(2, MAX_EXAMPLES + 1):
        if len(forms) > period and all(forms[k] == forms[k + period]
                                       for k in range(len(forms) - period)):
            return period
    return None


def no_table(model: Model) -> str:
    weights = model.weights
    return (f"no sheet has a header row naming the weights {weights[0]}..{weights[-1]} of "
            f"{model.describe()} (looked for headers such as "
            + " ".join(list(model.rules)[:3]) + " … E_total ∂E/∂w1 …)")


# --- reading the network off the headers -----------------------------------------------------
_WEIGHT = re.compile(r"w(\d+)")
_HIDDEN = re.compile(r"(?:a|out|output|act|net|z|sum|in)?h(\d+)(?:_(\d+))?")
_OUTPUT = re.compile(r"(?:a|out|output|act|net|z|sum|in)?o(\d+)")
_BIAS = re.compile(r"(?:b|bias)_?([ho])(\d+)(?:_(\d+))?")
_MARK = re.compile(r"\[(\d+)\]\s*$|\((?:ex(?:ample)?|x|e|#)?\s*(\d+)\)\s*$", re.IGNORECASE)


def header_names(grid: Cells, row: int) -> list[str]:
    return [v for (r, _), v in sorted(grid.items()) if r == row and isinstance(v, str)
            and not v.startswith("=")]


def other_network(grid: Cells, table: Table) -> str | None:
    """Why the headers of a table read as the 2-2-2 one show another network, or None."""
    for text in header_names(grid, table.header_row):
        low = text.lower().replace(" ", "")
        s = canonical(text)
        if (m := _WEIGHT.fullmatch(s)) and int(m[1]) > 8:
            return f"a weight {text!r}"
        if _BIAS.fullmatch(re.sub(r"[^a-z0-9_]", "", low)):
            return f"a bias per neuron ({text!r})"
        if (m := _OUTPUT.fullmatch(s)) and int(m[1]) > 2:
            return f"a third output ({text!r})"
        if (m := _HIDDEN.fullmatch(re.sub(r"[^a-z0-9_]", "", low))) and (
                int(m[1]) > 2 or m[2] is not None):
            return f"another hidden layer or neuron ({text!r})"
        if _MARK.search(text):
            return f"several examples ({text!r})"
    return None


def detect(wb: Any, grids: dict[str, Cells], shown: list[str]
           ) -> tuple[Model, list[tuple[Cells, Table]], list[str]]:
    """The network the headers and formulas show, its tables and a note saying how it was
    read; AuditError asking for --spec where they cannot tell."""
    candidates = [(title, r, header_names(g, r)) for title, g in grids.items()
                  for r in sorted({r for (r, _), v in g.items() if isinstance(v, str)})[:400]]
    best = max(candidates, key=lambda c: sum(bool(_WEIGHT.fullmatch(canonical(t)))
                                             for t in c[2]), default=None)
    if best is None or not any(_WEIGHT.fullmatch(canonical(t)) for t in best[2]):
        raise AuditError("no sheet has a header row naming w1..w8 and E_total (looked for the "
                         "course template's headers: i1 i2 t1 t2 w1..w8 h1 a_h1 ... E_total "
                         "∂E/∂w1..∂E/∂w8); for another network, give it with --spec FILE.toml "
                         "or --layers …")
    title, row, texts = best
    reading = shape_from_headers(texts)
    what = "; ".join(shown) if shown else "not the 2-2-2 network's headers"
    if reading is None:
        raise AuditError(f"sheet {title!r}: the headers show another network than the 2-2-2 "
                         f"one ({what}) and do not say which: give it with --spec FILE.toml "
                         "(the file the key was built from) or --layers, --activation, "
                         "--output-activation, --loss, --train-biases")
    layers, train, examples = reading
    grid = grids[title]
    fields: dict[str, Any] = {"layers": list(layers), "train_biases": train}
    how = [f"layers {'-'.join(map(str, layers))} and "
           f"{'trainable biases' if train else 'no trainable biases'} from the headers"]
    unknown = []
    for key, name in (("activation", "a_h1"), ("output_activation", "a_o1")):
        found = formula_of(grid, row, texts, name, layers)
        kind = activation_in(found, output=key == "output_activation") if found else None
        if kind is None:
            unknown.append(key.replace("_", "-"))
        else:
            fields[key] = kind
            how.append(f"{key.replace('_', ' ')} {kind} from the formula {found}")
    loss_formula = formula_of(grid, row, texts, "E1", layers) or \
        formula_of(grid, row, texts, "E", layers)
    loss = loss_in(loss_formula, fields.get("output_activation")) if loss_formula else None
    if loss is None:
        unknown.append("loss")
    else:
        fields["loss"] = loss
        how.append(f"loss {loss} from the formula {loss_formula}")
    if unknown:
        raise AuditError(f"sheet {title!r}: the headers show a {'-'.join(map(str, layers))} "
                         f"network ({what}) but not its {', '.join(unknown)}: give the network "
                         "with --spec FILE.toml (the file the key was built from) or --layers, "
                         "--activation, --output-activation, --loss")
    spec, _ = spec_of(fields)
    assert spec is not None
    spec = same_example_count(spec, examples)
    model = model_of(spec)
    tables = _find(wb, grids, model)
    if not tables:
        raise AuditError(f"sheet {title!r}: read as {model.describe()}, but no table of it "
                         "was found: give the network with --spec FILE.toml")
    note = (f"no network given: read as {model.describe()} ({'; '.join(how)}); to check it "
            "against the network you set, give that with --spec FILE.toml")
    return model, tables, [note]


def shape_from_headers(texts: list[str]) -> tuple[tuple[int, ...], bool, int] | None:
    """(layers, trainable biases, examples) from a header row's names, or None."""
    weights, outputs, examples = 0, 0, 1
    hidden: dict[int, int] = {}
    train = False
    for text in texts:
        mark = _MARK.search(text)
        if mark:
            examples = max(examples, int(mark[1] or mark[2]))
            text = text[:mark.start()]
        low = re.sub(r"[^a-z0-9_]", "", text.lower())
        s = canonical(text)
        if m := _WEIGHT.fullmatch(s):
            weights = max(weights, int(m[1]))
        elif _BIAS.fullmatch(low):
            train = True
        elif m := _HIDDEN.fullmatch(low):
            layer, neuron = (int(m[1]), int(m[2])) if m[2] else (1, int(m[1]))
            hidden[layer] = max(hidden.get(layer, 0), neuron)
        elif m := _OUTPUT.fullmatch(s):
            outputs = max(outputs, int(m[1]))
    if not weights or not hidden or not outputs or sorted(hidden) != list(
            range(1, len(hidden) + 1)) or examples > MAX_EXAMPLES:
        return None
    sizes = [hidden[k] for k in sorted(hidden)] + [outputs]
    rest = sum(a * b for a, b in itertools.pairwise(sizes))
    if (weights - rest) % sizes[0] or weights <= rest:
        return None
    layers = ((weights - rest) // sizes[0], *sizes)
    if not 1 <= layers[0] <= topology.MAX_NEURONS:
        return None
    return layers, train, examples


def formula_of(grid: Cells, row: int, texts: list[str], name: str,
               layers: tuple[int, ...]) -> str | None:
    """The first-row formula of the column whose header names ``name`` (a_h1: the first
    hidden layer's first activation, of the first example), or None."""
    hidden = len(layers) > 3
    wanted = {"a_h1": ("a_h1_1" if hidden else "a_h1"), "a_o1": "a_o1", "E1": "E1",
              "E": "E"}[name]
    table = {canonical(s): wanted for s in (wanted, wanted.replace("a_", "out_"),
                                             wanted.replace("a_", "output_"))}
    for (r, c), v in sorted(grid.items()):
        if r != row or not isinstance(v, str):
            continue
        text = _MARK.sub("", v) if _MARK.search(v) and (
            (m := _MARK.search(v)) and (m[1] or m[2]) == "1") else v
        if read_name(text, table, 1) == wanted:
            below = grid.get((r + 1, c))
            if isinstance(below, str) and below.startswith("="):
                return below
    return None


def _functions(formula: str) -> list[str]:
    try:
        return [t.value[:-1].upper() for t in Tokenizer(formula).items
                if t.type == Token.FUNC and t.subtype == Token.OPEN]
    except Exception:
        return []


def activation_in(formula: str, output: bool) -> str | None:
    """The activation a formula computes, read as a person reads it: TANH → tanh, EXP (with
    a SUM of EXPs: softmax) → sigmoid, MAX(0, …) → ReLU; plain arithmetic → linear."""
    calls = _functions(formula)
    text = formula.upper().replace(" ", "")
    if "TANH" in calls:
        return None if output else "tanh"
    if "EXP" in calls:
        if output and (calls.count("EXP") > 1 or "SUM" in calls):
            return "softmax"
        return "sigmoid"
    if "MAX" in calls or "IF" in calls:
        if output:
            return None
        return "relu" if re.search(r"MAX\(0(?:\.0*)?,|,0(?:\.0*)?\)", text) else "leaky-relu"
    return "linear" if not calls else None


def loss_in(formula: str, output: str | None) -> str | None:
    """The loss a per-output (or per-example) term computes: LN → cross-entropy; ½ or /2 of a
    square → ½-squared error; a bare square → MSE (averaged in E_total)."""
    calls = _functions(formula)
    text = formula.upper().replace(" ", "")
    if "LN" in calls or "LOG" in calls:
        return "ce" if output in ("sigmoid", "softmax") else None
    if re.search(r"(^=|[^0-9.])0?\.5\*|/2(?![0-9.])|\*0?\.5(?![0-9])", text):
        return "half-se"
    if "^2" in text or "POWER(" in text or "SUMSQ" in calls:
        return "mse"
    return None
