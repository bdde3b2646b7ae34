"""LibreOffice as a second engine, the rendered pictures, and what happens when it is absent or
hangs."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from PIL import Image

from tests.course import first_epoch_below, trace
from tests.engines import assert_matches
from workbook_builder.cli.main import main
from workbook_builder.network.netrun import from_course
from workbook_builder.network.reference import QUANTITIES, Trace, error_scale
from workbook_builder.network.spec import Network, Run, sheet_name
from workbook_builder.sheet import layout, render

HAVE_SOFFICE = shutil.which("soffice") is not None and shutil.which("pdftoppm") is not None
needs_soffice = pytest.mark.skipif(
    not HAVE_SOFFICE and os.environ.get("CI") != "true",
    reason="LibreOffice (soffice) and pdftoppm not installed; CI=true makes this a failure")


@pytest.fixture(scope="module")
def lo_values(default_workbook: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> openpyxl.Workbook:
    """The default workbook as LibreOffice recalculated and saved it."""
    out = render.recalculated_copy(default_workbook, tmp_path_factory.mktemp("lo"))
    return openpyxl.load_workbook(out, data_only=True)


def column(ws: openpyxl.worksheet.worksheet.Worksheet, name: str, epochs: int) -> np.ndarray:
    col = layout.COLUMN[name] + 1
    return np.array([ws.cell(layout.FIRST_EPOCH_ROW + 1 + e, col).value for e in range(epochs)],
                    dtype=float)


@pytest.mark.libreoffice
@needs_soffice
def test_libreoffice_recomputes_every_cell(lo_values: openpyxl.Workbook, default_run: Run,
                                           default_traces: list[Trace]) -> None:
    # LibreOffice has its own EXP and writes 15-17 significant digits into the file: both are
    # rounding-sized differences, judged against the conditioning (tests/engines.py)
    net = default_run.network
    for sheet, lr, tr in zip(layout.sheet_names(default_run), default_run.learning_rates,
                             default_traces, strict=True):
        scale = error_scale(tr, net, lr)
        for q in QUANTITIES:
            assert_matches(column(lo_values[sheet], q, default_run.epochs), tr[q], scale[q],
                           f"{sheet} {q}")
    summary = lo_values[layout.SUMMARY]
    for k, tr in enumerate(default_traces):
        row = [c.value for c in summary[layout.summary_row(k) + 1]]
        e, epochs = tr["E_total"], [0, 10, 50, 99]
        scale = error_scale(tr, net, default_run.learning_rates[k])["E_total"]
        assert_matches(row[2:6], e[epochs], scale[epochs], f"Summary row {k}")
        expected = [first_epoch_below(e, f) for f in layout.SUMMARY_FRACTIONS]
        assert row[6:9] == [layout.NOT_REACHED if x is None else x for x in expected]


def edit_numbers(book: Path, out: Path, edits: dict[str, dict[str, float]]) -> None:
    """A copy of ``book`` with some number cells changed ({sheet: {A1: value}}), edited in the
    XML itself: openpyxl would drop the charts, whose legends are checked here."""
    with zipfile.ZipFile(book) as z:
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        targets = dict(re.findall(r'Id="(rId\d+)"[^>]*Target="([^"]+)"', rels))
        sheets = re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="(rId\d+)"',
                            z.read("xl/workbook.xml").decode())
        files = {f"xl/{targets[rid]}": name for name, rid in sheets}
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            for item in z.infolist():
                data = z.read(item.filename)
                for address, number in edits.get(files.get(item.filename, ""), {}).items():
                    text, n = re.subn(rf'(<c r="{address}"[^>]*><v>)[^<]*(</v>)',
                                      rf"\g<1>{number!r}\g<2>", data.decode())
                    assert n == 1, (item.filename, address)
                    data = text.encode()
                copy.writestr(item, data)


def legends(book: Path) -> dict[str, str]:
    """Each chart series' name cell and the name LibreOffice wrote for it, from its charts."""
    with zipfile.ZipFile(book) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/"))
    return dict(re.findall(r"<c:tx><c:strRef><c:f>([^<]+)</c:f><c:strCache><c:ptCount "
                           r'val="1"/><c:pt idx="0"><c:v>([^<]*)</c:v>', xml))


@pytest.mark.libreoffice
@needs_soffice
def test_libreoffice_really_recalculates(default_workbook: Path, tmp_path: Path,
                                         default_run: Run) -> None:
    """Change the network once (i1 and w6 on the Network sheet) and η on LR 0.5: LibreOffice
    must compute every rate sheet anew for that network, LR 0.5 at the new rate, and the
    title and the legends (on LR 0.5's chart and on the Summary's) must name the new η."""
    net = default_run.network
    changed = Network(inputs=(0.2, net.inputs[1]), targets=net.targets,
                      weights=(*net.weights[:5], 1.2, *net.weights[6:]))
    edited = tmp_path / "edited.xlsx"
    edit_numbers(default_workbook, edited, {
        layout.NETWORK: {layout.param_cell("i1", absolute=False): 0.2,
                         layout.param_cell("w6", absolute=False): 1.2},
        sheet_name(0.5): {layout.param_cell("η", absolute=False): 0.3}})
    (tmp_path / "lo").mkdir()
    out = render.recalculated_copy(edited, tmp_path / "lo")
    book = openpyxl.load_workbook(out, data_only=True)
    for sheet, lr in zip(layout.sheet_names(default_run), default_run.learning_rates,
                         strict=True):
        rate = 0.3 if lr == 0.5 else lr
        expected = trace(changed, rate, default_run.epochs)
        scale = error_scale(expected, changed, rate)
        for q in QUANTITIES:
            assert_matches(column(book[sheet], q, default_run.epochs), expected[q], scale[q],
                           f"{sheet} {q}")
    assert book[sheet_name(0.5)]["B1"].value == \
        "Backpropagation of a 2-2-2 sigmoid network, η = 0.3"
    names = legends(out)
    assert names["Summary!$A$6"] == "η = 0.3"  # LR 0.5's row: its curve in both charts
    assert sorted(names.values()) == [f"η = {x}" for x in ("0.1", "0.2", "0.3", "0.8", "1", "2")]


@pytest.mark.libreoffice
@needs_soffice
def test_render_writes_one_clean_picture_per_sheet(tmp_path: Path) -> None:
    """Two rates: the Guide, Network and Summary and every view of a rate sheet, twice (the six
    rates' sheets differ only in η)."""
    out = tmp_path / "book.xlsx"
    assert main(["--out", str(out), "--epochs", "40", "--lr", "0.5", "2", "--render",
                 "--quiet"]) == 0
    run = Run(epochs=40, learning_rates=(0.5, 2.0))
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == sorted(f"{p}.png" for p in layout.pictures(from_course(run)))
    assert len(names) == 3 + len(layout.sheet_names(run)) * (len(layout.RATE_VIEWS) + 1)
    for png in tmp_path.glob("*.png"):
        with Image.open(png) as img:
            width, height = img.size
            colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert width >= 1000 and height >= 600, png.name  # legible at 1000 px: see test_pictures
        assert colors is not None and len(colors) > 50, png.name  # text and charts, not blank


def test_missing_soffice_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find
    assert main(["--out", str(tmp_path / "b.xlsx"), "--epochs", "3", "--render", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err and "apt-get install" in err


def test_hung_libreoffice_times_out_and_leaves_no_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("soffice", "pdftoppm", "pdfinfo"):
        (fake / tool).write_text("#!/bin/sh\nsleep 60\n")
        (fake / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    before = set(Path(tempfile.gettempdir()).glob("workbook-builder-*"))
    out = tmp_path / "b.xlsx"
    assert main(["--out", str(out), "--epochs", "3", "--render", "--timeout", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did not finish within 1 s" in err
    assert set(Path(tempfile.gettempdir()).glob("workbook-builder-*")) == before
    assert out.exists()  # the workbook itself was written before rendering began
