"""The workbook's look: cell formats, number formats by quantity, the page setup, and the
worksheet class that writes the expression trees' plain formulas fast."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from workbook_builder.network import optimizers
from workbook_builder.sheet import layout

NUMBER = "0.000000000"  # weights, activations, errors: nine decimals
SMALL = "0.000000E+00"  # δ terms and gradients shrink by orders of magnitude: keep 7 digits
STEP_FORMAT = "0"  # Adam's step number t
#: header fill per group of columns, so the chain of the computation reads left to right
GROUP_FILL = {"weights": "#DDEBF7", "forward": "#E2EFDA", "loss": "#FCE4D6",
              "deltas": "#FFF2CC", "gradients": "#EDE7F6", "state": "#DEEAEA",
              "epoch": "#D9D9D9", "batch": "#EDEDED"}  # fmt: skip


class PlainFormulaSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter ships no types
    """A worksheet that skips XlsxWriter's future-function scan for plain formulas.

    XlsxWriter runs some 30 regular-expression substitutions over every formula to prefix
    newer functions with ``_xlfn.``; on the rate sheets' ~19,000 formulas that is half the
    build time. Formulas that call only the functions in PLAIN (all the expression trees
    call) need no prefix, so they skip the scan; anything else goes through XlsxWriter as
    usual. tests/test_writer.py checks that the file is byte-identical to one written without
    this shortcut.
    """

    PLAIN = frozenset({"EXP", "MIN", "MAX", "LN", "TANH", "IF", "SQRT"})
    _CALL = re.compile(r"([A-Z][A-Z0-9._]*)\(")

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        if formula.startswith("=") and set(self._CALL.findall(formula)) <= self.PLAIN:
            return formula[1:]
        prepared: str = super()._prepare_formula(formula, expand_future_functions)
        return prepared


def group(name: str) -> str:
    """A column's header fill."""
    k = layout.kind(name)
    return "weights" if k == "biases" else k


def number_format(name: str) -> str:
    if name == optimizers.STEP or name.startswith("ex"):  # Adam's t; a batch's example
        return STEP_FORMAT
    return SMALL if layout.kind(name) in ("deltas", "gradients", "state") else NUMBER


def cached(v: float) -> float | str:
    """A cached value; a run that overflowed shows Excel's error, as Excel computes it."""
    return v if math.isfinite(v) else "#NUM!"


@dataclass


class Formats:
    """The workbook's cell formats, made once per workbook."""

    title: Format
    note: Format
    label: Format
    value: Format
    header: dict[str, Format]
    cells: dict[str, Format]  # by number format
    epoch: Format
    text: Format
    section: Format
    equation: Format
    guide_value: Format
    copy: Format
    copy_label: Format
    linked: Format
    summary_eta: Format
    small: Format
    hyper: Format  # an optimizer's hyperparameter: an input, like η, in any magnitude (ε)
    hyper_copy: Format

    @classmethod
    def create(cls, wb: Workbook) -> Formats:
        def fmt(props: dict[str, Any]) -> Format:
            return wb.add_format(props)

        header = {
            g: fmt({"bold": True, "align": "center", "valign": "vcenter", "bg_color": color,
                    "bottom": 1, "text_wrap": True})
            for g, color in GROUP_FILL.items()
        }
        return cls(
            title=fmt({"bold": True, "font_size": 14}),
            note=fmt({"italic": True, "font_color": "#595959"}),
            label=fmt({"bold": True, "align": "right"}),
            # inputs look like inputs: blue on pale yellow, the usual spreadsheet convention
            value=fmt({"font_color": "#0000FF", "bg_color": "#FFFFE0", "border": 1,
                       "border_color": "#BFBFBF", "num_format": "0.00####"}),
            header=header,
            cells={n: fmt({"num_format": n}) for n in (NUMBER, SMALL, STEP_FORMAT)},
            epoch=fmt({"align": "center"}),
            text=fmt({"align": "center", "font_color": "#595959"}),
            section=fmt({"bold": True, "font_size": 12, "bg_color": "#F2F2F2", "top": 1}),
            equation=fmt({"font_name": "Cambria Math", "font_size": 11, "align": "right"}),
            guide_value=fmt({"num_format": NUMBER, "bold": True}),
            # copies of inputs: grey, unlike the blue inputs they show
            copy=fmt({"font_color": "#595959", "num_format": "0.00####", "align": "left"}),
            copy_label=fmt({"bold": True, "font_color": "#595959", "align": "left"}),
            # the network in a rate sheet's parameter block: grey, boxed like the inputs (it
            # is one, entered on the Network sheet)
            linked=fmt({"font_color": "#595959", "border": 1, "border_color": "#BFBFBF",
                        "num_format": "0.00####"}),
            summary_eta=fmt({"align": "center", "num_format": layout.SUMMARY_ETA_FORMAT}),
            small=fmt({"num_format": SMALL}),
            hyper=fmt({"font_color": "#0000FF", "bg_color": "#FFFFE0", "border": 1,
                       "border_color": "#BFBFBF", "num_format": "General"}),
            hyper_copy=fmt({"font_color": "#595959", "num_format": "General",
                            "align": "left"}),
        )


def page_setup(ws: Worksheet, scale: int | None = None) -> None:
    """A4 landscape, narrow margins; one page (fit) unless a print scale is given."""
    ws.set_landscape()
    ws.set_paper(layout.PAPER_A4)
    m = layout.MARGIN_INCHES
    ws.set_margins(left=m, right=m, top=m, bottom=m)
    if scale is None:
        ws.fit_to_pages(1, 1)
    else:
        ws.set_print_scale(scale)
