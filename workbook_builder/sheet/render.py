"""LibreOffice headless: recalculate a workbook from its formulas, export pictures of its sheets.

LibreOffice does not recalculate an XLSX on load unless told; every call runs it with a
throwaway user profile whose settings say "always recalculate", so what it shows and saves are
values it computed itself, not the cached values the file carries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from workbook_builder.files import atomic_path

DEFAULT_TIMEOUT = 180.0  # seconds; LibreOffice needs ~3 s for the default workbook
INSTALL_HINT = ("install LibreOffice Calc and poppler (Debian/Ubuntu: "
                "sudo apt-get install libreoffice-calc poppler-utils; macOS: "
                "brew install --cask libreoffice && brew install poppler)")
#: user-profile settings: recalculate OOXML and ODF files on every load (0 = always)
RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" \
oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" \
oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""
#: a printed page's width in pixels, before the white border is cropped: a view fills about half
#: of it at PRINT_SCALE, so each picture is 1,100-2,400 px wide: sharp at the 1000 px a README
#: shows (and on high-density screens)
PAGE_WIDTH = 3000


class RenderError(RuntimeError):
    """LibreOffice or poppler is missing, hung or failed; the message says what to do."""


def find_tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RenderError(f"{names[0]} not found: {INSTALL_HINT}")


@contextlib.contextmanager
def throwaway_profile() -> Iterator[Path]:
    """A fresh LibreOffice user profile set to recalculate on load; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="workbook-builder-lo-") as tmp:
        user = Path(tmp) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(RECALC_ALWAYS, encoding="utf-8")
        yield Path(tmp)


def run_bounded(cmd: Sequence[str], timeout: float, what: str) -> None:
    """Run a command in its own process group; kill the whole group on timeout."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RenderError(f"{what} did not finish within {timeout:g} s and was stopped; "
                          "try again or raise --timeout") from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RenderError(f"{what} failed (exit {proc.returncode}): {detail[0]}")


def convert(workbook: Path, fmt: str, out_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """``soffice --convert-to fmt`` with recalculation on load; returns the written file."""
    soffice = find_tool("soffice", "libreoffice")
    with throwaway_profile() as profile:
        run_bounded([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                     "--norestore", "--nologo", "--convert-to", fmt, "--outdir", str(out_dir),
                     str(workbook)], timeout, "LibreOffice")
    out = out_dir / f"{workbook.stem}.{fmt.split(':')[0]}"
    if not out.exists():
        raise RenderError(f"LibreOffice wrote no {out.name}; is {workbook} a valid workbook?")
    return out


def recalculated_copy(workbook: Path, out_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """An XLSX copy whose cached values LibreOffice computed from the formulas."""
    return convert(workbook, "xlsx", out_dir, timeout)


def recalculated_copies(workbooks: Sequence[Path], out_dir: Path,
                        timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """``recalculated_copy`` of several workbooks (distinct names) by one LibreOffice process:
    its start, seconds each time, is paid once."""
    if len({w.stem for w in workbooks}) != len(workbooks):
        raise ValueError("workbooks to convert together need distinct names")
    soffice = find_tool("soffice", "libreoffice")
    with throwaway_profile() as profile:
        run_bounded([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                     "--norestore", "--nologo", "--convert-to", "xlsx", "--outdir", str(out_dir),
                     *map(str, workbooks)], timeout, "LibreOffice")
    out = [out_dir / f"{w.stem}.xlsx" for w in workbooks]
    missing = [p.name for p in out if not p.exists()]
    if missing:
        raise RenderError(f"LibreOffice wrote no {', '.join(missing)}")
    return out


def to_xlsx(workbook: Path, out_dir: Path, timeout: float | None = None) -> Path:
    """An .xlsx copy of ``workbook`` (.ods, .xls, ...) written by LibreOffice into ``out_dir``.

    Unlike ``convert``, LibreOffice runs in the caller's process group (``check`` converts a
    student's file inside its limited checker, whose whole group is killed at its deadline, or
    when its parent dies), and its output is kept quiet.

    Raises:
        RenderError: LibreOffice is missing, failed, took longer than ``timeout`` seconds, or
            wrote nothing.
    """
    soffice = find_tool("soffice", "libreoffice")
    with throwaway_profile() as profile:
        try:
            done = subprocess.run(
                [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                 "--norestore", "--nologo", "--convert-to", "xlsx", "--outdir", str(out_dir),
                 str(workbook)], stdin=subprocess.DEVNULL, capture_output=True,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RenderError(f"LibreOffice did not convert {workbook.name} within "
                              f"{timeout:g} s") from None
    out = out_dir / f"{workbook.stem}.xlsx"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RenderError(f"LibreOffice could not convert {workbook.name} to .xlsx "
                          f"(exit {done.returncode}): {detail[0]}")
    if not out.is_file():
        raise RenderError(f"LibreOffice could not read {workbook.name} as a spreadsheet "
                          "(it wrote nothing)")
    return out


def autocrop(png: Path, margin: int = 24) -> None:
    """Trim the page's white border, keeping ``margin`` pixels."""
    from PIL import Image, ImageChops

    with Image.open(png) as img:
        rgb = img.convert("RGB")
    box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, "white")).getbbox()
    if box is None:
        raise RenderError(f"{png.name} is blank: LibreOffice printed an empty page")
    left, top, right, bottom = box
    rgb.crop((max(0, left - margin), max(0, top - margin), min(rgb.width, right + margin),
              min(rgb.height, bottom + margin))).save(png, optimize=True)


def render(workbook: Path, pictures: Sequence[str], out_dir: Path,
           timeout: float = DEFAULT_TIMEOUT) -> list[Path]:
    """One PNG per printed page, written into ``out_dir``.

    Args:
        workbook: the XLSX to render (recalculated by LibreOffice on load).
        pictures: a name for each page of the printed workbook, in order (layout.pictures).
        out_dir: where ``<name>.png`` files go; each replaces any older one atomically.
        timeout: seconds each external program may take.
    """
    pdftoppm = find_tool("pdftoppm")
    written = []
    with tempfile.TemporaryDirectory(prefix="workbook-builder-pdf-") as tmp:
        pdf = convert(workbook, "pdf", Path(tmp), timeout)
        pages = _page_count(pdf, timeout)
        if pages != len(pictures):
            raise RenderError(f"the PDF has {pages} pages where {len(pictures)} were laid out: "
                              "a view no longer fits on its page")
        for page, name in enumerate(pictures, start=1):
            stem = Path(tmp) / name
            run_bounded([pdftoppm, "-png", "-singlefile", "-f", str(page), "-l", str(page),
                         "-scale-to-x", str(PAGE_WIDTH), "-scale-to-y", "-1", str(pdf),
                         str(stem)], timeout, "pdftoppm")
            png = stem.parent / f"{stem.name}.png"  # not with_suffix: "lr-0.5" has a dot
            autocrop(png)
            target = out_dir / png.name
            with atomic_path(target) as part:
                shutil.copyfile(png, part)
            written.append(target)
    return written


def _page_count(pdf: Path, timeout: float) -> int:
    pdfinfo = find_tool("pdfinfo")
    out = subprocess.run([pdfinfo, str(pdf)], capture_output=True, text=True, timeout=timeout,
                         check=True).stdout
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise RenderError(f"pdfinfo could not count the pages of {pdf.name}")
