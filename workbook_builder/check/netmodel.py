"""What `check` judges a table against: a network's quantities, their rules and their names.

One model (``Model``, built by ``for_spec``) for every network a ``topology.NetSpec`` describes:
its rules are the builder's own equation trees, derived once from the topology, so a sheet is
judged by the equations the builder writes. The course's 2-2-2 sigmoid network is a preset of it
(``course``): the same trees, with the course's own data beside them (its header spellings, its
changed run, b1 and b2 read as 0 where a sheet has no biases).

Each rule computes a quantity from the sheet's own upstream cells (a_h1[2] from the sheet's
h1[2], next-row w6 from this row's w6, ∂E/∂w6 and η), so one wrong formula is found once, at
its root cause: a quantity computed right from a wrong upstream cell is right (follow-through).
A quantity a sheet does not show (a δ column, E1 of a total written in one go) is computed
inline from its own equation, so gradients written out without δ columns are judged too.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from workbook_builder.check.names import _ETA, CONFUSABLES, canonical, normalise
from workbook_builder.network import netrun, topology
from workbook_builder.network.equations import Bin, Call, Expr, If, Neg, Num, Var
from workbook_builder.network.optimizers import LABELS, Optimizer
from workbook_builder.network.reference import Array, Values
from workbook_builder.network.spec import Network
from workbook_builder.network.topology import NetSpec

Rule = Callable[[Values], Array]

#: the course network's changed inputs: different enough that a_h1 ≠ a_h2, i1 ≠ i2, t1 ≠ t2
#: and no weight repeats
COURSE_CHANGED = {"i1": 0.3, "i2": -0.4, "t1": 0.15, "t2": 0.8,
                   "w1": 0.31, "w2": -0.42, "w3": 0.57, "w4": 0.12,
                   "w5": -0.23, "w6": 0.66, "w7": 0.48, "w8": -0.35}  # fmt: skip
#: epoch rows recomputed (at least) where later rows repeat their formulas: row 0 and five
#: updates, at two sets of inputs, ten generic points at which a smooth formula that repeats
#: down its column must agree with its rule (the engine's load is ~2.5 ms a formula cell);
#: the course's sheets keep the 12 rows they have always had (COURSE_ROWS)
ROWS = 6
COURSE_ROWS = 12


@dataclass
class Model:
    """A network as `check` sees it."""

    rules: dict[str, Rule]  # every quantity a sheet computes, in the order a sheet shows them
    parameters: tuple[str, ...]  # learned: the first row is given, every later row an update
    given: tuple[str, ...]  # the examples' values (i1, t1, … or i1[2] …)
    fixed: tuple[str, ...]  # given values besides the examples (fixed biases b1 …)
    optional: frozenset[str]  # quantities a sheet may leave out (δ terms)
    groups: tuple[tuple[str, ...], ...]  # names a slip may confuse (see audit.hypotheses)
    families: tuple[tuple[str, ...], ...]  # names that stand side by side
    changed: dict[str, float]  # the changed run's inputs and initial parameters
    spec: NetSpec
    exprs: dict[str, Expr]  # the spec's trees: the updates, then every quantity
    aliases: dict[str, str]  # canonical header -> name
    #: names read as this value where the sheet has none (the course's b1 and b2)
    defaults: dict[str, float] = field(default_factory=dict)
    #: a reader of header spellings tried before the aliases (the course's: names.normalise)
    read_first: Callable[[object], str | None] | None = None
    description: str = ""  # the network in words; "" : layout.describe(spec)
    rows: int = ROWS  # epoch rows recomputed at least (see ROWS)
    #: the first row's own trees, where it has no row above (an optimizer's state)
    first_exprs: dict[str, Expr] = field(default_factory=dict)

    @property
    def checked(self) -> tuple[str, ...]:
        return tuple(self.rules)

    @property
    def gradients(self) -> dict[str, str]:
        """Parameter -> its gradient's name."""
        return {p: f"∂E/∂{p}" for p in self.parameters}

    @property
    def weights(self) -> tuple[str, ...]:
        return tuple(p for p in self.parameters if p.startswith("w"))

    def values(self, data: dict[str, Array], n: int, rename: dict[str, str] | None = None
               ) -> Values:
        return Values(data, n, rename, self.defaults)

    def scale(self, name: str, values: Values) -> Array | None:
        """Per row, how far two right formulas for ``name`` may differ, in units of the
        rounding error ε (see ``error_scale``); None: compare relative to the value."""
        expr = self.exprs.get(name)
        if expr is None:
            return None
        scale = error_scale(expr, lookup(values, self.exprs))
        if name not in self.first_exprs:
            return scale
        head = error_scale(self.first_exprs[name],
                           lookup(values, {**self.exprs, **self.first_exprs}))
        return first_row(head, scale)

    def describe(self) -> str:
        if self.description:
            return self.description
        from workbook_builder.sheet.layout import describe

        o = self.spec.optimizer
        return describe(self.spec) + ("" if o.name == "sgd" else f", {o.describe()}")

    def normalise(self, text: object) -> str | None:
        """A header or label as the quantity it names, or None."""
        if self.read_first is not None and (name := self.read_first(text)) is not None:
            return name
        return read_name(text, self.aliases, len(self.spec.examples))


def course(optimizer: Optimizer | None = None) -> Model:
    """The course's 2-2-2 sigmoid network: the engine's model of it, with fixed biases b1 and
    b2 that a sheet may leave out (read as 0 there), the course's header spellings (net_h1,
    out_o1, a typed 0 for o: names.normalise) tried first, its changed run (COURSE_CHANGED)
    and its 12 recomputed rows; with an optimizer, its state and hyperparameters read before
    those spellings (α is no learning rate there, Adam's second step column no epoch)."""
    spec = netrun.course_spec(Network(biases=(0.0, 0.0)))
    if optimizer is not None:
        spec = dataclasses.replace(spec, optimizer=optimizer)
    model = for_spec(spec)
    hyper = topology.hyperparameters(spec)
    own = {k: v for k, v in model.aliases.items()
           if v in hyper or (v in model.exprs and layout_kind(v) == "state")}

    def read_first(text: object) -> str | None:
        if isinstance(text, str) and not text.startswith("=") and canonical(text) in own:
            return own[canonical(text)]
        return normalise(text)

    what = "" if spec.optimizer.name == "sgd" else f", {spec.optimizer.describe()}"
    return dataclasses.replace(
        model, changed=dict(COURSE_CHANGED), defaults={"b1": 0.0, "b2": 0.0, **model.defaults},
        read_first=read_first, rows=COURSE_ROWS,
        description=f"the 2-2-2 sigmoid network (½-squared error, one example{what})")


# --- a spec's model ----------------------------------------------------------------------------
def lookup(v: Values, exprs: Mapping[str, Expr]) -> Callable[[str, int], Array]:
    """Values by (name, lag) from the sheet; a quantity it does not show from its own
    equation (a δ written inside the gradients; Adam's m̂ of the row above inside an update)."""
    inline: dict[str, Array] = {}
    shifting: set[str] = set()  # inline values of the row above being computed
    shifted: dict[str, Array] = {}  # and computed

    def look(name: str, lag: int) -> Array:
        if lag:
            try:
                return v.prev(name)
            except KeyError:  # computed inline too (Adam's m̂ inside the update), then the
                if name not in exprs or name in shifting:  # row above's: shifted down a row
                    raise  # (a state that reads itself from the row above must be shown)
                if name not in shifted:
                    shifting.add(name)
                    here = np.broadcast_to(look(name, 0), np.shape(v[next(iter(v.data))]))
                    shifted[name] = np.concatenate([[np.nan], here[:-1]])
                    shifting.discard(name)
                return shifted[name]
        try:
            return v[name]
        except KeyError:
            if name not in exprs:
                raise
            if name not in inline:
                inline[name] = np.asarray(exprs[name].value(look), dtype=np.float64)
            return inline[name]
    return look


def first_row(head: Array, rest: Array) -> Array:
    """``rest`` with its first row (along the rows, axis 0) taken from ``head``."""
    head, rest = np.broadcast_arrays(np.asarray(head, dtype=np.float64),
                                     np.asarray(rest, dtype=np.float64))
    if rest.ndim == 0:
        return rest.copy()
    out = rest.copy()
    out[0] = head[0]
    return out


def first_and_later(first: Rule, later: Rule) -> Rule:
    """A rule whose first row is ``first``'s (an optimizer's state starts from torch's initial
    state: it has no row above), every other ``later``'s."""
    return lambda v: first_row(first(v), later(v))


def rule_of(expr: Expr, exprs: Mapping[str, Expr]) -> Rule:
    """``expr`` as a rule on a sheet's values (see ``lookup``)."""
    def rule(v: Values) -> Array:
        with np.errstate(all="ignore"):
            out = np.asarray(expr.value(lookup(v, exprs)), dtype=np.float64)
        return np.broadcast_to(out, np.shape(out) if not isinstance(v.n, int) or out.ndim
                               else (v.n,)).copy()
    return rule


def error_scale(expr: Expr, look: Callable[[str, int], Array]) -> Array:
    """A bound on how far rounding moves ``expr``'s value, in units of ε (2^-53), where its
    operands (the sheet's cells) are exact: each operation is off by ε of its result and
    passes on its operands' errors (a sum: both; a product: each times the other; LN(x): the
    error of x over x). A right formula written another way (another order of operations, LN
    of a probability instead of z − LN Σe^z, a softmax without the max subtracted) stays
    within a few times this bound; where a result cancels (E = ½(t − a)² near its target, δ
    through a − t) the bound is the size of what was combined, not of the tiny result."""
    def walk(e: Expr) -> tuple[Array, Array]:
        with np.errstate(all="ignore"):
            if isinstance(e, Num):
                return np.asarray(e.v, dtype=np.float64), np.asarray(0.0)
            if isinstance(e, Var):
                return np.asarray(e.value(look), dtype=np.float64), np.asarray(0.0)
            if isinstance(e, Neg):
                x, s = walk(e.a)
                return -x, s
            if isinstance(e, Bin):
                (a, sa), (b, sb) = walk(e.a), walk(e.b)
                value = np.asarray(e.value(look), dtype=np.float64)
                if e.op in "+-":
                    s = sa + sb
                elif e.op == "*":
                    s = sa * np.abs(b) + np.abs(a) * sb
                elif e.op == "/":
                    s = sa / np.abs(b) + np.abs(a) * sb / (b * b)
                elif e.op == "^":
                    s = np.abs(b) * np.abs(a) ** (np.abs(b) - 1) * sa
                else:  # a comparison: exact
                    return value, np.zeros_like(value)
                return value, s + np.abs(value)
            if isinstance(e, Call):
                parts = [walk(a) for a in e.args]
                value = np.asarray(e.value(look), dtype=np.float64)
                if e.fn == "EXP":
                    s = np.abs(value) * parts[0][1]
                elif e.fn == "LN":
                    s = parts[0][1] / np.abs(parts[0][0])
                elif e.fn == "TANH":
                    s = (1 - value * value) * parts[0][1]
                else:  # MIN, MAX: the chosen argument's error
                    s = np.maximum.reduce(np.broadcast_arrays(*(p[1] for p in parts)))
                return value, s + np.abs(value)
            if isinstance(e, If):
                value = np.asarray(e.value(look), dtype=np.float64)
                _, s_yes = walk(e.yes)
                _, s_no = walk(e.no)
                return value, np.maximum(s_yes, s_no)
        raise TypeError(f"no error bound for {type(e).__name__}")

    _, s = walk(expr)
    return np.asarray(s, dtype=np.float64)


def changed_values(spec: NetSpec) -> dict[str, float]:
    """The changed run's example values and initial parameters: fixed numbers (a seeded draw),
    no two parameters alike, inputs unlike each other, targets a network can reach: in (0, 1)
    for sigmoid outputs, exact probabilities (sums of powers of 2, so Σt = 1 exactly) for
    softmax, where a − t is δ only when the targets sum to 1."""
    rng = np.random.default_rng(20261201)
    grid = [v for v in np.round(np.arange(-0.9, 0.9005, 0.001), 3) if abs(v) >= 0.05]
    params = topology.parameters(spec)
    drawn = rng.choice(len(grid), size=len(params), replace=False)
    out = {p: float(grid[k]) for p, k in zip(params, drawn, strict=True)}
    n_in, n_out = spec.layers[0], spec.layers[-1]
    inputs = [v for v in np.round(np.arange(-0.9, 0.9005, 0.01), 2) if abs(v) >= 0.1]
    for e in range(len(spec.examples)):
        sfx = topology.example_suffix(spec, e)
        picks = rng.choice(len(inputs), size=n_in, replace=False)
        out.update({f"i{j + 1}{sfx}": float(inputs[k]) for j, k in enumerate(picks)})
        if spec.output_activation == "softmax":
            probs = [0.5 ** (k + 1) for k in range(n_out)]
            probs[-1] *= 2  # 1/2, 1/4, …, 1/2^(n−1), 1/2^(n−1): exactly 1 in all
            start = e % n_out
            targets = probs[start:] + probs[:start]
        else:
            low, high = (0.1, 0.9) if spec.output_activation == "sigmoid" else (-0.9, 0.9)
            targets = [round(float(rng.uniform(low, high)), 2) for _ in range(n_out)]
        out.update({f"t{k + 1}{sfx}": t for k, t in enumerate(targets)})
    if spec.biases is not None and not spec.train_biases:
        out.update({f"b{layer}": round(0.1 * layer - 0.25, 2)
                    for layer in range(1, len(spec.layers))})
    return out


def for_spec(spec: NetSpec) -> Model:
    eq = topology.equations(spec)
    upd = topology.updates(spec)
    exprs = {**upd, **eq}
    # a rule reads its own quantities from the sheet; only quantities it does not show are
    # computed inline, from their equations (lag-0 trees only: the updates read the row above)
    inline = dict(eq)
    rules = {name: rule_of(expr, inline) for name, expr in exprs.items()}
    # an optimizer's state: the first row from torch's initial state (no row above)
    first = topology.first_row(spec)
    for name, expr in first.items():
        rules[name] = first_and_later(rule_of(expr, {**inline, **first}), rules[name])
    params = tuple(topology.parameters(spec))
    constants = topology.constants(spec)
    hyper = topology.hyperparameters(spec)  # μ, α, β1, β2, ε: a labelled cell, else these
    fixed = (*(n for n in constants if re.fullmatch(r"b\d+", n)), *hyper)
    given = tuple(n for n in constants if n not in fixed)
    # δ terms; Adam's step number and bias corrections (computed inline where a sheet writes
    # them into the update): the state a later row reads from the row above must be shown
    optional = [n for n in exprs if n.startswith(("δ_", "m̂_", "v̂_")) or n == "step"]
    if spec.layers[-1] == 1 and len(spec.examples) == 1 and "E1" in exprs:
        optional.append("E1")  # one output, one example: E1 is E_total, one column will do
    if len(spec.examples) == 1 and "E" in exprs:
        optional.append("E")  # softmax + CE, one example: its E is E_total (see aliases)
    return Model(rules=rules, parameters=params, given=given, fixed=fixed,
                 optional=frozenset(optional), groups=spec_groups(spec, [*exprs, *constants]),
                 families=spec_families(spec), changed=changed_values(spec), spec=spec,
                 exprs=exprs, aliases=aliases(spec, [*exprs, *constants, *hyper]),
                 defaults=dict(hyper), first_exprs=first)


#: how people label an optimizer's hyperparameters (canonical: names.canonical)
HYPER_SPELLINGS = {
    "μ": ["μ", "mu", "momentum", "μmomentum", "momentumμ", "beta", "β", "γ", "gamma"],
    "α": ["α", "alpha", "rho", "ρ", "αsmoothing", "smoothing", "decay", "decayrate", "γ",
          "gamma"],
    "β1": ["β1", "beta1", "β₁"],
    "β2": ["β2", "beta2", "β₂"],
    "ε": ["ε", "ϵ", "eps", "epsilon"],
}


def state_spellings(optimizer: str, name: str) -> list[str]:
    """The ways people head an optimizer's state column (canonical), for ``name`` (m_w1,
    v_w1, m̂_w1, v̂_w1, s_w1, step)."""
    if name == "step":
        return ["t", "timestep", "stept", "tstep", "adamstep", "stepnumber"]
    kind, _, param = name.partition("_")
    p = canonical(param)
    if kind in ("m̂", "v̂"):
        letter = kind[0]
        return [f"{kind}{p}", f"{letter}hat{p}", f"{letter}corr{p}", f"{letter}corrected{p}",
                f"{kind}t{p}", f"{letter}hatt{p}", f"{letter}tcorr{p}"]
    if kind == "m":
        return [f"m{p}", f"mt{p}", f"firstmoment{p}", f"moment1{p}", f"m1{p}"]
    if kind == "v" and optimizer == "adam":
        return [f"v{p}", f"vt{p}", f"secondmoment{p}", f"moment2{p}", f"m2{p}"]
    if kind == "v":  # momentum's velocity (torch: the momentum buffer)
        return [f"v{p}", f"vt{p}", f"velocity{p}", f"vel{p}", f"buf{p}", f"buffer{p}",
                f"momentum{p}", f"mom{p}", f"momentumbuffer{p}"]
    return [f"s{p}", f"v{p}", f"vt{p}", f"cache{p}", f"sqavg{p}", f"squareavg{p}",
            f"meansq{p}", f"meansquare{p}", f"ms{p}", f"r{p}", f"eg2{p}"]


def base_and_example(name: str) -> tuple[str, str]:
    m = re.fullmatch(r"(.*?)(\[\d+\])?", name)
    assert m is not None
    return m[1], m[2] or ""


def spec_groups(spec: NetSpec, names: list[str]) -> tuple[tuple[str, ...], ...]:
    """Names a slip may confuse: a layer's neurons' values of one kind and one example
    (a_h1[2], a_h2[2], a_h3[2]), the same neuron's value in another example (a_h1[1] for
    a_h1[2]), the inputs, the targets, the weights, the gradients, the biases."""
    kinds: dict[tuple[str, str], list[str]] = {}
    across: dict[str, list[str]] = {}
    for name in names:
        base, sfx = base_and_example(name)
        m = re.fullmatch(r"(a_|δ_|∂E/∂|b_)?([a-zE]+?)(\d+)(?:_(\d+))?", base)
        if m is None:
            continue
        prefix, letter, first, second = m.groups()
        layer = first if second is not None else ""
        kinds.setdefault((f"{prefix or ''}{letter}{layer}", sfx), []).append(name)
        if sfx:
            across.setdefault(base, []).append(name)
    groups = [tuple(g) for g in kinds.values() if len(g) > 1]
    groups += [tuple(g) for g in across.values() if len(g) > 1]
    return tuple(groups)


def spec_families(spec: NetSpec) -> tuple[tuple[str, ...], ...]:
    from workbook_builder.sheet.layout import kind, plan

    families: list[list[str]] = []
    last = None
    for name in plan(spec).columns[1:]:
        k = kind(name), base_and_example(name)[1]
        if k != last:
            families.append([])
            last = k
        families[-1].append(name)
    return tuple(tuple(f) for f in families)


# --- reading a header as a person does ---------------------------------------------------------
#: an example's mark after a name: a_h1[2], a_h1 (ex 2), a_h1_x2, a_h1 example 2, a_h1 #2
_EXAMPLE = re.compile(r"(.+?)\s*(?:\[\s*(\d+)\s*\]|\(\s*(?:ex(?:ample)?|x|e|sample|s|#|n)?"
                      r"\s*(\d+)\s*\)|[\s_,;:-]+(?:ex(?:ample)?|x|e|sample|s|#)\s*(\d+)|"
                      r"\s+#\s*(\d+)|\s*@\s*(?:x|ex)?\s*(\d+))\s*", re.IGNORECASE)


def _spellings(base: str) -> list[str]:
    """The ways people write one quantity's name (without its example)."""
    m = re.fullmatch(r"(a_|δ_|∂E/∂|b_)?(.+)", base)
    assert m is not None
    prefix, rest = m[1] or "", m[2]
    r = canonical(rest)
    if prefix == "∂E/∂":
        inner = [r] + ([f"b{canonical(rest[2:])}", f"bias{canonical(rest[2:])}"]
                       if rest.startswith("b_") else [])
        return [f"{d}{e}/{d}{x}" for x in inner for d in ("∂", "d")
                for e in ("e", "et", "etot", "etotal")] + \
            [f"{d}e{e}{d}{x}" for x in inner for d in ("∂", "d") for e in ("", "t", "total")] + \
            [f"grad{x}" for x in inner] + [f"g{x}" for x in inner]
    if prefix == "a_":
        return [f"a{r}", f"out{r}", f"output{r}", f"act{r}"]
    if prefix == "δ_":
        return [f"δ{r}", f"delta{r}", f"d{r}"]
    if prefix == "b_":
        return [f"b{r}", f"bias{r}"]
    if re.fullmatch(r"[ho]\d+(?:_\d+)?", rest):  # a neuron's sum
        return [r, f"net{r}", f"z{r}", f"in{r}", f"sum{r}"]
    if re.fullmatch(r"i\d+", rest):
        return [r, f"x{r[1:]}", f"input{r[1:]}"]
    if re.fullmatch(r"t\d+", rest):
        return [r, f"y{r[1:]}", f"target{r[1:]}"]
    if re.fullmatch(r"b\d+", rest):
        return [r, f"bias{r[1:]}"]
    if re.fullmatch(r"E\d+", rest):
        return [r, f"e{r[1:]}", f"eo{r[1:]}", f"loss{r[1:]}"]
    if rest == "E":
        return ["e", "loss", "l", "ce", "error"]
    if rest == "E_total":
        return ["etotal", "etot", "e", "error", "totalerror", "errortotal", "loss", "totalloss",
                "cost", "j", "l", "meanloss", "ce"]
    return [r]


def aliases(spec: NetSpec, names: list[str]) -> dict[str, str]:
    """Canonical spelling -> name, for every name of the network (its own spelling first, so
    a name that is another's alias — E when a per-example loss is called E — stays itself)."""
    out: dict[str, str] = {}
    for spelling in ("epoch", "epochs", "iteration", "iterations", "iter", "step", "steps",
                     "n", "#"):
        out[spelling] = "epoch"
    if len(spec.examples) == 1 and "E" in names and "E_total" in names:
        # softmax + CE with one example: the example's loss E is E_total, and a sheet's one
        # loss column ("E", "Loss") is read as E_total (a second, equal column is found as E
        # by its values)
        out.update({s: "E_total" for s in _spellings("E_total")})
        names = [n for n in names if n != "E"]
    for name in names:
        out.setdefault(canonical(name), name)
    for name in names:
        base, sfx = base_and_example(name)
        for spelling in _spellings(base):
            out.setdefault(spelling + canonical(sfx), name)
    # what a person writes without the index there is no need for: one output's t, y, ŷ, o;
    # trainable biases numbered through the network (b1 b2 b3 for the hidden neurons, b4 for
    # the output), where no fixed bias has those names
    extra: dict[str, list[str]] = {}
    if spec.layers[-1] == 1:
        extra.update({"t1": ["t", "y", "target"], "o1": ["o", "neto", "zo", "sumo"],
                      "a_o1": ["ao", "out", "output", "yhat", "ŷ", "prediction", "pred",
                               "outo", "outputo"],
                      "δ_o1": ["δo", "deltao"], "b_o1": ["bo", "biaso"],
                      "∂E/∂b_o1": ["de/dbo", "∂e/∂bo", "dedbo"]})
    if spec.train_biases:
        neurons = [n for layer in topology.neuron_names(spec)[1:] for n in layer]
        for k, neuron in enumerate(neurons, start=1):
            extra.setdefault(f"b_{neuron}", []).extend([f"b{k}", f"bias{k}"])
            extra.setdefault(f"∂E/∂b_{neuron}", []).extend(
                [f"∂e/∂b{k}", f"de/db{k}", f"dedb{k}", f"gradb{k}"])
    for name in names:
        base, sfx = base_and_example(name)
        for spelling in extra.get(base, []):
            out.setdefault(canonical(spelling) + canonical(sfx), name)
    # an optimizer's state and hyperparameters: their own spellings, where no value of the
    # network has them (one output's target "t" stays the target) or only the epoch does
    o = spec.optimizer.name
    own = [(spelling, name) for name in names if layout_kind(name) == "state"
           for spelling in state_spellings(o, name)]
    own += [(spelling, name) for name, spellings in HYPER_SPELLINGS.items() if name in names
            for spelling in [*spellings, canonical(optimizer_label(name))]]
    for spelling, name in own:
        if out.get(canonical(spelling), "epoch") == "epoch":
            out[canonical(spelling)] = name
    return out


def layout_kind(name: str) -> str:
    from workbook_builder.sheet.layout import kind

    return kind(name)


def optimizer_label(name: str) -> str:
    return LABELS[name]


def read_name(text: object, table: Mapping[str, str], examples: int) -> str | None:
    """A header as a name of the network (``a_h1 (ex 2)`` -> ``a_h1[2]``), ``η``, or None."""
    if not isinstance(text, str) or text.startswith("=") or not text.strip():
        return None
    s = canonical(text)
    if s in table:
        return table[s]
    if examples > 1:
        nfkc = unicodedata.normalize("NFKC", text).translate(CONFUSABLES).strip()
        m = _EXAMPLE.fullmatch(nfkc)
        if m is not None:
            k = next(g for g in m.groups()[1:] if g)
            name = table.get(canonical(m[1]) + k)
            if name is not None and 1 <= int(k) <= examples:
                return name
    if re.fullmatch(r"(?:∂|d)?e(?:total|tot|t)?/?(?:∂|d)?w\d+", s) is None and _ETA.match(s):
        return "η"
    return None


def same_example_count(spec: NetSpec, examples: int) -> NetSpec:
    """The spec with ``examples`` placeholder examples (the check needs their number, not
    their values: those are read from the sheet)."""
    n_in, n_out = spec.layers[0], spec.layers[-1]
    if spec.output_activation == "softmax":
        targets = tuple(1.0 if k == 0 else 0.0 for k in range(n_out))
    else:
        targets = (0.5,) * n_out
    return NetSpec(layers=spec.layers, activation=spec.activation,
                   output_activation=spec.output_activation, loss=spec.loss,
                   examples=tuple(((0.0,) * n_in, targets) for _ in range(examples)),
                   biases=spec.biases, train_biases=spec.train_biases, weights=None,
                   init_seed=spec.init_seed, optimizer=spec.optimizer)




