"""The pictures the README and the docs pages show, read back by OCR at the width the README
shows them (1000 px): the rate-sheet views must show the reference's numbers for epochs 0-4, the
Guide and the Summary theirs. A picture that stops being legible fails here."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.course import trace
from workbook_builder.network.netrun import from_course
from workbook_builder.network.reference import Trace
from workbook_builder.network.spec import Network, Run, sheet_name
from workbook_builder.sheet import layout

README_WIDTH = 1000  # px: GitHub's README column
EPOCHS = 5  # epochs 0-4 are read back
DISPLAY_ROUNDING = 0.5e-9  # the sheets show 9 decimals (or 7 significant digits, finer)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tesseract") is None and os.environ.get("CI") != "true",
                       reason="tesseract (Debian tesseract-ocr) not installed; CI=true makes "
                       "this a failure"),
]


def embedded(text: str, prefix: str) -> list[str]:
    """Names of the generated/ pictures a Markdown text embeds (not merely links to)."""
    return re.findall(r"!\[[^\]]*\]\(" + re.escape(prefix) + r"generated/([^)/]+)\.png\)", text)


def readme_pictures() -> list[str]:
    """Names of the pictures the README and the docs pages show (embedded, not merely linked):
    README.md as generated/NAME.png, docs/*.md as ../generated/NAME.png."""
    shown = embedded((REPO / "README.md").read_text(encoding="utf-8"), "")
    for page in sorted((REPO / "docs").glob("*.md")):
        shown += embedded(page.read_text(encoding="utf-8"), "../")
    return shown


def ocr(png: Path, top: float = 1.0) -> list[list[float]]:
    """The numbers on each line of the picture scaled to README_WIDTH (only its top fraction).

    Scaled to the README's width first, so it reads what a person sees there; then enlarged 3x
    (no new detail) because tesseract is tuned for ~300 dpi text.
    """
    with Image.open(png) as img:
        gray = img.convert("L")
    small = gray.resize((README_WIDTH, round(gray.height * README_WIDTH / gray.width)),
                        Image.Resampling.LANCZOS)
    small = small.crop((0, 0, small.width, round(small.height * top)))
    big = small.resize((small.width * 3, small.height * 3), Image.Resampling.LANCZOS)
    out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "6"], input=_png_bytes(big),
                         capture_output=True, check=True, timeout=120).stdout.decode()
    lines = []
    for line in out.splitlines():
        numbers = []
        for token in line.split():
            try:
                numbers.append(float(token))
            except ValueError:
                continue
        lines.append(numbers)
    return lines


def _png_bytes(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def close(got: float, expected: float) -> bool:
    """The same to 6 significant digits: within half a unit of the 6th digit, plus what the
    display's own rounding moved (0.000316993 shows only 6 digits of 0.00031699340)."""
    sixth_digit = 10.0 ** (math.floor(math.log10(abs(expected))) - 5)
    return abs(got - expected) <= 0.5 * sixth_digit + DISPLAY_ROUNDING


def test_readme_shows_every_view_of_one_rate_sheet() -> None:
    """Across the README and the docs pages (the student page shows them all), every view of
    one rate sheet, the Guide, the Network sheet and the Summary; the README itself at least
    one of those views."""
    shown = readme_pictures()
    run = Run()
    views = [p for p in layout.pictures(from_course(run))
             if p.startswith(layout.slug(sheet_name(0.5)))]
    assert set(views) <= set(shown), views
    assert {layout.slug(x) for x in (layout.GUIDE, layout.NETWORK, layout.SUMMARY)} <= set(shown)
    readme = embedded((REPO / "README.md").read_text(encoding="utf-8"), "")
    assert set(views) & set(readme), readme


@pytest.mark.parametrize("view", list(layout.RATE_VIEWS))
def test_rate_sheet_view_reads_back_at_readme_width(view: str) -> None:
    """Each row of epochs 0-4: the epoch, then every quantity of the view, as the reference."""
    name = f"{layout.slug(sheet_name(0.5))}-{view}"
    assert name in readme_pictures()
    tr: Trace = trace(Network(), 0.5, EPOCHS)
    first, last = layout.view_columns(view)
    quantities = layout.COLUMNS[first:last + 1]
    rows = {int(line[0]): line[1:] for line in ocr(REPO / "generated" / f"{name}.png", top=0.6)
            if line and line[0].is_integer() and 0 <= line[0] < EPOCHS}
    assert sorted(rows) == list(range(EPOCHS)), rows
    for epoch, numbers in rows.items():
        expected = [float(tr[q][epoch]) for q in quantities]
        assert len(numbers) == len(expected), (epoch, numbers)
        bad = [(q, g, e) for q, g, e in zip(quantities, numbers, expected, strict=True)
               if not close(g, e)]
        assert not bad, f"epoch {epoch}: {bad}"


def test_guide_network_and_summary_read_back_at_readme_width() -> None:
    run = Run()
    guide = {x for line in ocr(REPO / "generated" / f"{layout.slug(layout.GUIDE)}.png")
             for x in line}
    tr = trace(run.network, layout.GUIDE_EXAMPLE_RATE, 2)
    for q in ("h1", "a_h1", "o1", "a_o1", "E_total", "δ_o1", "δ_h1", "∂E/∂w5", "∂E/∂w1"):
        assert any(close(x, float(tr[q][0])) for x in guide), q
    network = {x for line in ocr(REPO / "generated" / f"{layout.slug(layout.NETWORK)}.png")
               for x in line}
    n = run.network
    assert {*n.inputs, *n.targets, *n.weights} <= network, network
    summary = {x for line in ocr(REPO / "generated" / f"{layout.slug(layout.SUMMARY)}.png")
               for x in line}
    for lr in run.learning_rates:
        e = trace(run.network, lr, 11)["E_total"]
        assert any(close(x, float(e[10])) for x in summary), lr
