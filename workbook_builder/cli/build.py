"""The default command: build the workbook of a network (and render its pictures)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from workbook_builder.cli.common import (
    PROG,
    HelpFormatter,
    Parser,
    add_render_options,
    add_shape_options,
    check_output,
    finite_float,
    positive_int,
)
from workbook_builder.network import netrun, optimizers, spec
from workbook_builder.network.netrun import NetRun

DEFAULT_OUT = Path("generated") / "backprop.xlsx"



def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Write an Excel workbook that works backpropagation of a 2-2-2 sigmoid "
        "network epoch by epoch in live formulas: one sheet per learning rate, with charts and "
        "a summary.",
        formatter_class=HelpFormatter,
        epilog="Example: %(prog)s --lr 0.5 5 50 --epochs 200 --out sweep.xlsx. "
        "To audit a hand-made workbook: %(prog)s check FILE.xlsx [--json] (see check --help).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="workbook to write (replaced only once the new one is complete)")
    parser.add_argument("--epochs", type=positive_int, default=spec.DEFAULT_EPOCHS,
                        help=f"rows per sheet; epoch 0 holds the initial weights "
                        f"(at most {spec.MAX_TOTAL_ROWS:,} rows over all sheets)")
    parser.add_argument("--lr", type=finite_float, nargs="+", metavar="LR",
                        default=list(spec.DEFAULT_LEARNING_RATES),
                        help="learning rates η, one sheet each")
    parser.add_argument("--inputs", type=finite_float, nargs="+", metavar="I", default=None,
                        help="the one example's inputs (default: 0.05 0.10)")
    parser.add_argument("--targets", type=finite_float, nargs="+", metavar="T", default=None,
                        help="the one example's targets (default: 0.5 0.5)")
    parser.add_argument("--weights", type=finite_float, nargs="+", metavar="W", default=None,
                        help="every initial weight in the course's order: layer by layer, "
                        "within a layer by destination neuron, then source neuron (2-2-2: w1..w8, "
                        "default 0.15 0.20 0.25 0.30 0.40 0.45 0.50 0.55); without it another "
                        "network gets seeded weights (--init-seed)")
    parser.add_argument("--biases", type=finite_float, nargs="+", metavar="B", default=None,
                        help="one initial bias per non-input layer, shared by its neurons "
                        "(2-2-2: b1 for both hidden neurons, b2 for both outputs); fixed unless "
                        "--train-biases (default: no biases)")
    net = parser.add_argument_group(
        "other networks", "any of these builds the workbook of that network (see the README, "
        "'Other networks'); without them, the 2-2-2 sigmoid network")
    net.add_argument("--layers", type=positive_int, nargs="+", metavar="N", default=None,
                     help="neurons per layer, input first, output last: 1 to 3 hidden layers, "
                     "1 to 8 neurons each (default: 2 2 2)")
    add_shape_options(net, "(nn.CrossEntropyLoss with softmax, nn.BCELoss with sigmoid) ")
    net.add_argument("--example", type=finite_float, nargs="+", action="append",
                     metavar="X_OR_T", default=None,
                     help="one training example, its inputs then its targets; repeat it for "
                     "each example (up to 16)")
    net.add_argument("--train-biases", action="store_true",
                     help="every hidden and output neuron gets its own bias that learns, "
                     "starting from its layer's --biases value (0 without)")
    net.add_argument("--init-seed", type=int, metavar="SEED", default=None,
                     help="seed of the documented initial weights when --weights is not given "
                     "(uniform in ±1/√fan-in, 2 decimals; default: 0)")
    net.add_argument("--spec", type=Path, metavar="FILE.toml", default=None,
                     help="the network's fields from a TOML file (layers, activation, "
                     "output-activation, loss, examples, inputs, targets, biases, train-biases, "
                     "weights, init-seed, optimizer, momentum, alpha, betas, eps, batch-size); "
                     "options given here override it")
    train = parser.add_argument_group(
        "how the weights learn", "as torch.optim defines each; the hyperparameters are blue "
        "cells beside η on every rate sheet")
    train.add_argument("--optimizer", nargs="+", choices=optimizers.NAMES, default=None,
                       metavar="NAME",
                       help="sgd (plain gradient descent), momentum, nesterov, rmsprop or "
                       "adam; several: a sheet per optimizer and rate and a Summary that "
                       "compares them (default: sgd)")
    train.add_argument("--momentum", type=finite_float, metavar="M", default=None,
                       help=f"momentum μ of momentum and nesterov (default: "
                       f"{optimizers.MOMENTUM:g})")
    train.add_argument("--alpha", type=finite_float, metavar="A", default=None,
                       help=f"RMSprop's smoothing α (default: {optimizers.ALPHA:g})")
    train.add_argument("--betas", type=finite_float, nargs=2, metavar=("B1", "B2"),
                       default=None, help="Adam's β1 and β2 (default: "
                       f"{optimizers.BETAS[0]:g} {optimizers.BETAS[1]:g})")
    train.add_argument("--eps", type=finite_float, metavar="E", default=None,
                       help=f"ε of RMSprop and Adam (default: {optimizers.EPS:g})")
    train.add_argument("--batch-size", type=positive_int, metavar="N", default=None,
                       help="mini-batches: each row is one step on N examples taken in order, "
                       "cycling (row 0: examples 1..N, row 1 the next N, after the last the "
                       "first again); --epochs then counts steps (default: every example, one "
                       "step an epoch)")
    add_render_options(parser, "also recalculate the workbook in LibreOffice (soffice) and "
                       "save a PNG of each sheet beside it")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    # both forms in the usage line: the build (argparse's own line) and the check
    build_usage = parser.format_usage().removeprefix("usage: ").rstrip()
    parser.usage = (f"{build_usage}\n       {PROG} check [-h] [options] PATH [PATH ...]"
                    f"\n       {PROG} assign [-h] [options] ROSTER.csv --out DIR")
    return parser



def run_from_args(args: argparse.Namespace) -> NetRun:
    """The network the options (and --spec) describe, its rates and epochs."""
    fields = netrun.read_toml(args.spec) if args.spec is not None else {}
    given = {"layers": args.layers, "activation": args.activation,
             "output_activation": args.output_activation, "loss": args.loss,
             "examples": args.example, "inputs": args.inputs, "targets": args.targets,
             "biases": args.biases, "weights": args.weights, "init_seed": args.init_seed,
             "train_biases": args.train_biases or None, "optimizer": args.optimizer,
             "momentum": args.momentum, "alpha": args.alpha, "betas": args.betas,
             "eps": args.eps, "batch_size": args.batch_size}
    if args.example is not None:  # the command line's training set replaces the file's
        fields.pop("inputs", None)
        fields.pop("targets", None)
    elif args.inputs is not None or args.targets is not None:
        fields.pop("examples", None)
    fields.update({k: v for k, v in given.items() if v is not None})
    opts = netrun.optimizers_of(fields)
    return NetRun(netrun.net_spec(fields), tuple(args.lr), args.epochs,
                  opts if len(opts) > 1 else ())



def cmd_build(args: argparse.Namespace) -> int:
    from workbook_builder.sheet.writer import build  # XlsxWriter is needed only here

    run = run_from_args(args)
    check_output(args.out, create_folder=args.out == DEFAULT_OUT)
    started = time.perf_counter()
    sheets = len(run.learning_rates) * max(1, len(run.optimizers))
    rows = run.epochs * sheets
    # the cost is per cell: an optimizer's state widens each row (Adam: 72 cells on 2-2-2)
    width = netrun.row_cells(run)
    course_rows = round(run.epochs * len(run.learning_rates) * width / netrun.COURSE_COLUMNS)
    progress = None
    if course_rows >= 20_000 and not args.quiet:
        seconds, megabytes = spec.cost(course_rows)
        print(f"writing {rows:,} rows: about {seconds:.0f} s and {megabytes:,.0f} MB of memory",
              file=sys.stderr)

        def progress(sheet: str) -> None:
            rows_are = "epochs" if run.net.batch_size is None else "steps"
            print(f"  writing {sheet} ({run.epochs} {rows_are})", file=sys.stderr)
    build(run, args.out, progress)
    if not args.quiet:
        rates = f"{len(run.learning_rates)} learning rate" + \
            ("s" if len(run.learning_rates) > 1 else "")
        what = rates if not run.optimizers else \
            f"{sheets} sheets ({len(run.optimizers)} optimizers × {len(run.learning_rates)} " \
            f"learning rate{'s' if len(run.learning_rates) > 1 else ''})"
        rows_are = "epochs" if run.net.batch_size is None else \
            f"steps of {run.net.batch_size} example{'s' if run.net.batch_size > 1 else ''}"
        print(f"wrote {args.out}: {what} × {run.epochs} {rows_are} in "
              f"{time.perf_counter() - started:.2f} s")
    if args.render:
        from workbook_builder.sheet import layout, render

        started = time.perf_counter()
        names = layout.pictures(run)
        with tempfile.TemporaryDirectory(prefix="workbook-builder-render-") as tmp:
            # the pictures are one page a view: a copy that prints the first epochs only (the
            # file itself prints every epoch)
            copy = build(run, Path(tmp) / args.out.name, print_epochs=layout.PRINT_EPOCHS)
            pictures = render.render(copy, names, args.out.parent, timeout=args.timeout)
        if not args.quiet:
            print(f"rendered {len(pictures)} pictures with LibreOffice into {args.out.parent} "
                  f"in {time.perf_counter() - started:.1f} s: "
                  + ", ".join(p.name for p in pictures))
    return 0
