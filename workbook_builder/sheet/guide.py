"""The Guide sheet's content: each step of backpropagation, its equation and a live example.

Each example is an Excel expression over quantity names ({a_o1}, {t1}, {w5@1} for epoch 1) that
the writer points at one rate sheet's epoch-0 row, so the Guide follows any edit to the inputs.
The course's network gets the course's lesson (``STEPS``); any other network, its steps in
words and the sheet's own formulas written with names, from its equations (``steps``).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbook_builder.network import topology
from workbook_builder.network.topology import NetSpec
from workbook_builder.sheet.layout import describe


@dataclass(frozen=True)
class Step:
    """One line of the Guide: a section heading when it has only a name, a line of text
    when it has no example."""

    name: str
    equation: str = ""
    example: str = ""
    note: str = ""


def section(title: str) -> Step:
    return Step(title)


STEPS: tuple[Step, ...] = (
    section("1. Forward pass: hidden layer"),
    Step("h1", "h1 = w1·i1 + w2·i2 (+ b1)", "{h1}", "net input of hidden neuron 1"),
    Step("a_h1", "a_h1 = σ(h1) = 1 / (1 + e^(−h1))", "{a_h1}",
         "the sheet writes 1/(1+EXP(MIN(709,−h1))): EXP never overflows"),
    Step("h2", "h2 = w3·i1 + w4·i2 (+ b1)", "{h2}"),
    Step("a_h2", "a_h2 = σ(h2)", "{a_h2}"),
    section("2. Forward pass: output layer"),
    Step("o1", "o1 = w5·a_h1 + w6·a_h2 (+ b2)", "{o1}"),
    Step("a_o1", "a_o1 = σ(o1)", "{a_o1}", "the network's first output"),
    Step("o2", "o2 = w7·a_h1 + w8·a_h2 (+ b2)", "{o2}"),
    Step("a_o2", "a_o2 = σ(o2)", "{a_o2}"),
    section("3. Loss"),
    Step("E1", "E1 = ½·(t1 − a_o1)²", "{E1}", "the ½ cancels the 2 of the derivative"),
    Step("E2", "E2 = ½·(t2 − a_o2)²", "{E2}"),
    Step("E_total", "E_total = E1 + E2", "{E_total}", "what gradient descent lowers"),
    section("4. Output layer: chain rule for w5 (w6, w7, w8 alike)"),
    Step("∂E_total/∂a_o1", "∂E_total/∂a_o1 = −(t1 − a_o1) = a_o1 − t1", "{a_o1}-{t1}",
         "only E1 depends on a_o1"),
    Step("∂a_o1/∂o1", "∂a_o1/∂o1 = a_o1·(1 − a_o1)", "{a_o1}*(1-{a_o1})",
         "the sigmoid's derivative, σ' = σ·(1 − σ)"),
    Step("∂o1/∂w5", "∂o1/∂w5 = a_h1", "{a_h1}", "o1 = w5·a_h1 + w6·a_h2"),
    Step("δ_o1", "δ_o1 = ∂E_total/∂o1 = (a_o1 − t1)·a_o1·(1 − a_o1)", "{δ_o1}",
         "column δ_o1: the first two factors"),
    Step("∂E_total/∂w5", "∂E_total/∂w5 = ∂E_total/∂a_o1 · ∂a_o1/∂o1 · ∂o1/∂w5 = δ_o1·a_h1",
         "{∂E/∂w5}", "column ∂E/∂w5"),
    Step("∂E_total/∂w6", "∂E_total/∂w6 = δ_o1·a_h2", "{∂E/∂w6}", "w6 feeds o1 from a_h2"),
    Step("∂E_total/∂w7", "∂E_total/∂w7 = δ_o2·a_h1,  δ_o2 = (a_o2 − t2)·a_o2·(1 − a_o2)",
         "{∂E/∂w7}", "w7 and w8 feed o2"),
    Step("∂E_total/∂w8", "∂E_total/∂w8 = δ_o2·a_h2", "{∂E/∂w8}"),
    section("5. Hidden layer: chain rule for w1 (w2, w3, w4 alike)"),
    Step("∂E_total/∂a_h1", "∂E_total/∂a_h1 = ∂E1/∂a_h1 + ∂E2/∂a_h1 = δ_o1·w5 + δ_o2·w7",
         "{δ_o1}*{w5}+{δ_o2}*{w7}", "a_h1 reaches both outputs: sum both paths"),
    Step("∂a_h1/∂h1", "∂a_h1/∂h1 = a_h1·(1 − a_h1)", "{a_h1}*(1-{a_h1})"),
    Step("δ_h1", "δ_h1 = (δ_o1·w5 + δ_o2·w7)·a_h1·(1 − a_h1)", "{δ_h1}", "column δ_h1"),
    Step("∂E_total/∂w1", "∂E_total/∂w1 = δ_h1·i1", "{∂E/∂w1}", "∂h1/∂w1 = i1"),
    Step("∂E_total/∂w2", "∂E_total/∂w2 = δ_h1·i2", "{∂E/∂w2}"),
    Step("∂E_total/∂a_h2", "∂E_total/∂a_h2 = δ_o1·w6 + δ_o2·w8", "{δ_o1}*{w6}+{δ_o2}*{w8}",
         "a_h2, not a_h1: a classic copying mistake in w3, w4"),
    Step("δ_h2", "δ_h2 = (δ_o1·w6 + δ_o2·w8)·a_h2·(1 − a_h2)", "{δ_h2}"),
    Step("∂E_total/∂w3", "∂E_total/∂w3 = δ_h2·i1", "{∂E/∂w3}"),
    Step("∂E_total/∂w4", "∂E_total/∂w4 = δ_h2·i2", "{∂E/∂w4}"),
    section("6. Update: one step of gradient descent"),
    Step("w5 at epoch 1", "w_new = w_old − η·∂E_total/∂w", "{w5}-{η}*{∂E/∂w5}",
         "minus: a step downhill; equals the next row's w5"),
    Step("w1 at epoch 1", "w1_new = w1 − η·∂E_total/∂w1", "{w1}-{η}*{∂E/∂w1}",
         "all eight gradients use the old weights, w5..w8 too"),
    Step("E_total at epoch 1", "the next row repeats steps 1–6 with the new weights",
         "{E_total@1}", "lower than epoch 0: the step went downhill"),
)

_NAME = re.compile(r"\{([^{}@]+)(?:@(\d+))?\}")


def names(example: str) -> list[tuple[str, int]]:
    """The (quantity or parameter, epoch) pairs an example refers to, in order."""
    return [(m.group(1), int(m.group(2) or 0)) for m in _NAME.finditer(example)]


def fill(example: str, lookup: dict[tuple[str, int], str]) -> str:
    """Replace each {name} or {name@epoch} by ``lookup[(name, epoch)]``."""
    return _NAME.sub(lambda m: lookup[(m.group(1), int(m.group(2) or 0))], example)


def evaluate(example: str, numbers: dict[tuple[str, int], float]) -> float:
    """An example's value from the numbers it refers to: the cached value the writer stores."""
    return arithmetic(fill(example, {key: f"({value!r})" for key, value in numbers.items()}))


def arithmetic(expr: str) -> float:
    """Evaluate + − * / over numbers.

    Hand-written rather than eval(): five node types are all it needs, and nothing else runs.
    """
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, float | int):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not plain arithmetic: {ast.dump(node)}")

    return walk(ast.parse(expr, mode="eval").body)


_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


#: f′ in words, for δ of a hidden neuron
ACTIVATION_WORDS = {
    "sigmoid": "a = σ(z) = 1/(1 + e^(−z)), written 1/(1+EXP(MIN(709,-z))) so EXP never "
               "overflows; σ′(z) = a·(1 − a), so δ_h = (Σ δ·w over the neurons it feeds)·a·(1 − a)",
    "tanh": "a = tanh(z); tanh′(z) = 1 − a², so δ_h = (Σ δ·w over the neurons it feeds)·(1 − a²)",
    "relu": "a = max(0, z); its derivative is 1 where z > 0, else 0 (0 at z = 0, as PyTorch "
            "takes it): δ_h = (Σ δ·w)·IF(z>0,1,0)",
    "leaky-relu": f"a = max({topology.LEAKY_SLOPE}·z, z); its derivative is 1 where z > 0, "
                  f"else {topology.LEAKY_SLOPE}: δ_h = (Σ δ·w)·IF(z>0,1,{topology.LEAKY_SLOPE})",
    "linear": "a = z; its derivative is 1: δ_h = Σ δ·w over the neurons it feeds",
}
LOSS_WORDS = {
    "half-se": "E_total = ½·Σ (t − a)² over the outputs and the examples",
    "mse": "E_total = the mean of (a − t)² over the outputs and the examples (nn.MSELoss)",
    "ce softmax": "E_total = the mean over the examples of −Σ t·log a (nn.CrossEntropyLoss), "
                  "log a written z − max z − LN(Σ e^(z − max z)), so no LN(0) and no EXP "
                  "overflow",
    "ce sigmoid": "E_total = the mean over the outputs and examples of −[t·log a + (1 − t)·"
                  "log(1 − a)], each log clamped at −100 as nn.BCELoss does",
}


def output_delta_words(spec: NetSpec) -> str:
    """δ of an output neuron (∂E_total/∂z), in words."""
    n = "N (the number of examples)"
    if spec.loss == "ce" and spec.output_activation == "softmax":
        return f"δ_o = (a − t)/{n} when each example's targets sum to 1 (else (a·Σt − t)/N): " \
               "softmax's derivative cancels against the log"
    if spec.loss == "ce":
        return "δ_o = (a − t)/(outputs·examples): σ′ = a(1 − a) cancels the cross-entropy's " \
               "1/(a(1 − a))"
    g = "a − t" if spec.loss == "half-se" else "2(a − t)/(outputs·examples)"
    if spec.output_activation == "softmax":
        return f"with g = ∂E/∂a = {g}: δ_k = a_k·(g_k − Σ_j g_j·a_j) (softmax's Jacobian)"
    if spec.output_activation == "sigmoid":
        return f"δ_o = ({g})·a·(1 − a)"
    return f"δ_o = {g} (linear output: its derivative is 1)"


def lines(spec: NetSpec) -> list[tuple[str, str]]:
    """The network's names and each step of one epoch, in words: (topic, text)."""
    loss_key = spec.loss if spec.loss != "ce" else f"ce {spec.output_activation}"
    return [
        ("names", "inputs i1 …, targets t1 …; hidden sums h1 … and activations a_h1 … (with "
                  "several hidden layers h1_2 is layer 1's neuron 2); outputs o1 …, a_o1 …"),
        ("", "weights w1 … layer by layer, within a layer by destination neuron, then source "
             "neuron (the Network sheet lists each weight's edge)"),
        ("", "fixed biases b1 … (one per layer, shared); trainable biases b_h1 …, b_o1 … "
             "with gradients ∂E/∂b_h1 …"),
        ("", "loss terms E1 … (softmax with cross-entropy: E, one per example), E_total; δ "
             "terms δ_o1 …, δ_h1 …; gradients ∂E/∂w1 … (of the whole E_total)"),
        ("", "with several examples every per-example quantity carries it: a_h1[2]"),
        ("forward", "z = Σ w·(input or activation of the layer before) + bias; hidden: "
                    + ACTIVATION_WORDS[spec.activation].split(";")[0]),
        ("output", {"sigmoid": "a = σ(z)", "linear": "a = z",
                    "softmax": "a_k = e^(z_k − max z)/Σ_j e^(z_j − max z) (the max keeps EXP "
                               "finite)"}[spec.output_activation]),
        ("loss", LOSS_WORDS[loss_key]),
        ("δ output", output_delta_words(spec)),
        ("δ hidden", ACTIVATION_WORDS[spec.activation]),
        ("gradient", "∂E/∂w = Σ over the examples of δ(destination)·(source's input or "
                     "activation); ∂E/∂b = Σ δ"),
        ("update", "each parameter of the next row = its value − η·∂E/∂(it) of the row above"),
        *batch_lines(spec),
    ]


def batch_lines(spec: NetSpec) -> list[tuple[str, str]]:
    """What a mini-batch row adds (none in full-batch descent)."""
    n = spec.batch_size
    if n is None:
        return []
    m = len(spec.examples)
    return [
        ("mini-batch", f"each row is one step on {n} of the {m} examples, taken in order and "
                       f"cycling: row 0 takes examples {_examples(spec, 0)}, row 1 "
                       f"{_examples(spec, 1)}, …; a row's examples are [1] … [{n}] in its "
                       f"columns" if n > 1 else
                       f"each row is one step on one example, taken in order and cycling "
                       f"(row 0: example 1, row 1: example 2, …, after example {m} example 1)"),
        ("", "ex: which example of the Network sheet's table it is "
             "(=MOD(ex above + batch size − 1, examples) + 1); i1 …, t1 …: INDEX into that table"),
        ("", "E_total and every gradient are of the row's examples only (mse and "
             "cross-entropy: their mean), as a PyTorch step on one batch"),
    ]


def _examples(spec: NetSpec, row: int) -> str:
    return ", ".join(str(k) for k in topology.batch_examples(spec, row))


def worked_quantities(spec: NetSpec) -> list[str]:
    """The worked values at epoch 0: the first hidden and output neuron of example 1 forward,
    its loss term, E_total, two δ terms, two gradients."""
    names = topology.neuron_names(spec)
    sfx = topology.example_suffix(spec, 0)
    hidden, out = names[1][0], names[-1][0]
    eq = topology.equations(spec)
    loss = next(q for q in eq if q.startswith("E") and q != "E_total")
    picked = [] if spec.batch_size is None else [f"ex{sfx}", f"i1{sfx}"]
    return [*picked, f"{hidden}{sfx}", f"a_{hidden}{sfx}", f"{out}{sfx}", f"a_{out}{sfx}", loss,
            "E_total", f"δ_{out}{sfx}", f"δ_{hidden}{sfx}", "∂E/∂w1", f"∂E/∂w{spec.n_weights}"]


def steps(spec: NetSpec, epochs: int) -> tuple[Step, ...]:
    """The Guide of a network: the course's lesson for the course's network; for any other,
    its steps in words, then worked values — the sheet's own formula written with names, beside
    a live reference to its cell."""
    if topology.course_network(spec):
        if spec.optimizer.name == "sgd":
            return STEPS
        last = next(k for k, step in enumerate(STEPS) if step.name.startswith("6. "))
        return (*STEPS[:last], *optimizer_steps(spec, epochs, 6))
    eq = {**topology.equations(spec), **topology.updates(spec)}

    out = [section("1. The network and its names"),
           Step("network", describe(spec))]
    out += [Step(topic, text) for topic, text in lines(spec)]
    out.append(section("2. Worked values: the sheet's formulas, with names"))
    out += [Step(q, "=" + eq[q].excel(named), "{" + q + "}") for q in worked_quantities(spec)]
    if spec.optimizer.name != "sgd":
        return (*out, *optimizer_steps(spec, epochs, 3))
    if epochs > 1:
        out.append(Step("w1", "=" + eq["w1"].excel(named), "{w1@1}",
                        "at epoch 1: the update of the row above"))
    return tuple(out)


def named(name: str, lag: int) -> str:
    return f"{name}(epoch above)" if lag else name


#: each optimizer's update in words (the Guide's line)
OPTIMIZER_WORDS = {
    "momentum": "velocity v = μ·v(epoch above) + ∂E/∂w (v = ∂E/∂w at epoch 0); the next "
                "w = w − η·v: past gradients keep pushing the same way",
    "nesterov": "velocity v = μ·v(epoch above) + ∂E/∂w; the next w = w − η·(∂E/∂w + μ·v): "
                "the step looks ahead along the velocity",
    "rmsprop": "mean square s = α·s(epoch above) + (1 − α)·(∂E/∂w)², from 0; the next "
               "w = w − η·∂E/∂w/(√s + ε): each weight's step divided by its recent size",
    "adam": "m = β1·m + (1 − β1)·g and v = β2·v + (1 − β2)·g², from 0; bias corrections "
            "m̂ = m/(1 − β1^step), v̂ = v/(1 − β2^step); the next w = w − η·m̂/(√v̂ + ε): "
            "the first step has the size η whatever the gradient",
}


def optimizer_steps(spec: NetSpec, epochs: int, number: int) -> list[Step]:
    """The update of an optimizer, worked for w1 with the sheet's own formulas: its state at
    epoch 0 (from the initial state), w1 at epoch 1 (from that state), the state at epoch 1
    (from the state above)."""
    o = spec.optimizer
    first, eq = topology.equations(spec, first=True), topology.equations(spec)
    update = topology.updates(spec)["w1"]
    state = [q for q in eq if q == "step" or q.endswith("_w1")]
    out = [section(f"{number}. Update: {o.describe()}"), Step("update", OPTIMIZER_WORDS[o.name])]
    out += [Step(q, "=" + first[q].excel(named), "{" + q + "}",
                 "epoch 0: the state starts as torch.optim's (zero; momentum's v = g)")
            for q in state]
    if epochs > 1:
        out.append(Step("w1", "=" + update.excel(named), "{w1@1}",
                        "at epoch 1: the step from epoch 0's state"))
        out += [Step(q, "=" + eq[q].excel(named), "{" + q + "@1}", "at epoch 1: from the state "
                     "above") for q in state]
    return out

