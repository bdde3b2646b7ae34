"""`check` on hostile files: no other file or network, hard time and memory limits, bounded
reading, Ctrl-C; each case built here, each asserting status, one line and nothing left over."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import REPO, SLOW_ENGINE, cli, processes_with, slow_workbook
from tests.student import FIRST, col, make
from workbook_builder.cli.main import main

SECRET = 31415.9265


def leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("workbook-builder-check-*"))


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Every test here: no workspace of a check outlives it."""
    before = leftovers()
    yield
    assert leftovers() == before


def one_line(err: str, message: str) -> None:
    assert err.count("\n") == 1 and message in err, err


def test_formula_naming_another_file_is_refused_and_never_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_dir = tmp_path / "grader"
    secret_dir.mkdir()
    answer = openpyxl.Workbook()
    answer.active["A2"] = SECRET
    answer.save(secret_dir / "answer.xlsx")
    student = tmp_path / "class" / "student"
    student.mkdir(parents=True)

    def peek(r: int, f: dict[str, str]) -> None:
        if r == FIRST + 1:
            f["h1"] = f"='../../grader/[answer.xlsx]Sheet'!A2+{col('w1')}{r}*0"

    path = make(student / "s.xlsx", edit=peek)
    assert main(["check", str(path)]) == 4
    captured = capsys.readouterr()
    one_line(captured.err.splitlines()[-1] + "\n", "refers to another file")
    assert str(SECRET) not in captured.out + captured.err


def test_engine_itself_opens_no_other_file(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The second wall: even a copy that kept an external reference gets #REF!, not the data."""
    import formulas
    from formulas.excel import xlreader

    from workbook_builder.check.engine import guard_other_files

    monkeypatch.setattr(xlreader, "load_workbook", xlreader.load_workbook)  # restored after
    answer = openpyxl.Workbook()
    answer.active["A1"] = SECRET
    answer.save(tmp_path / "answer.xlsx")
    book = openpyxl.Workbook()
    book.active.title = "S1"
    book.active["A1"] = "='[answer.xlsx]Sheet'!A1"
    book.save(tmp_path / "book.xlsx")
    guard_other_files(tmp_path / "book.xlsx")
    model = formulas.ExcelModel().loads(str(tmp_path / "book.xlsx")).finish()
    values = [v.value[0, 0] for v in model.calculate().values()]
    assert SECRET not in values and all(str(v) != str(SECRET) for v in values)


class Hits(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self) -> None:
        Hits.count += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"0.25")

    def log_message(self, *args: object) -> None:
        pass


def test_network_functions_reach_nothing(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), Hits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/x"
    try:
        def call_out(r: int, f: dict[str, str]) -> None:
            if r == FIRST + 1:
                f["h1"] = f'=WEBSERVICE("{url}")+0*{col("w1")}{r}'
                f["h2"] = f'=LEN(HYPERLINK("{url}"))*0+{f["h2"][1:]}'

        status = main(["check", str(make(tmp_path / "s.xlsx", edit=call_out)), "--json"])
        assert status in (1, 2)  # a verdict on h1, or a refusal: never data from the server
    finally:
        server.shutdown()
    assert Hits.count == 0
    capsys.readouterr()


def zip_bomb(path: Path) -> Path:
    """A correct workbook whose sheet XML is padded with 300 MB of spaces (a 0.3 MB zip)."""
    ok = make(path.with_name("ok.xlsx"))
    with zipfile.ZipFile(ok) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * 300_000_000)
            dst.writestr(item, data)
    return path


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = zip_bomb(tmp_path / "bomb.xlsx")
    assert path.stat().st_size < 2_000_000
    started = time.perf_counter()
    assert main(["check", str(path), "--max-memory", "1024"]) == 4
    one_line(capsys.readouterr().err, "zip bomb")
    assert time.perf_counter() - started < 30


def test_stray_far_cell_costs_nothing(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A correct workbook with one value at XFD1048576 is checked, right, within 600 MB."""
    path = make(tmp_path / "s.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.active["XFD1048576"] = "stray"
    wb.save(path)
    assert main(["check", str(path), "--max-memory", "600", "--timeout", "60"]) == 0
    assert "all right" in capsys.readouterr().out


def test_apostrophe_in_sheet_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    title = "Bob's η"
    quoted = "'" + title.replace("'", "''") + "'"

    def by_name(r: int, f: dict[str, str]) -> None:
        for k in range(1, 9):
            if isinstance(f.get(f"w{k}"), str):
                f[f"w{k}"] = f[f"w{k}"].replace("$B$1", f"{quoted}!$B$1")

    path = make(tmp_path / "s.xlsx", edit=by_name, title=title)
    assert main(["check", str(path)]) == 0
    assert "all right" in capsys.readouterr().out


def test_makearray_is_stopped_at_the_deadline(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def huge(r: int, f: dict[str, str]) -> None:
        if r == FIRST:
            f["h1"] = "=SUM(MAKEARRAY(3000,3000,LAMBDA(r,c,r*c)))*0+0.0275"

    started = time.perf_counter()
    assert main(["check", str(make(tmp_path / "s.xlsx", edit=huge)), "--timeout", "4"]) in (1, 4)
    err = capsys.readouterr().err
    assert time.perf_counter() - started < 12
    if "gave up" in err:  # stopped at the limit: one line, and no verdict printed
        one_line(err.splitlines()[-1] + "\n", "gave up after 4 s")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_timeout_holds_ten_times_in_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A limit below the check's run time stops it every time: exit 2, the limit named, no
    verdict (the old in-process SIGALRM was swallowed in 11 of 20 runs)."""
    for name, value in SLOW_ENGINE.items():
        monkeypatch.setenv(name, value)
    path = slow_workbook(tmp_path / "big.xlsx")  # ~30 s to check
    for attempt in range(10):
        started = time.perf_counter()
        assert main(["check", str(path), "--timeout", "2"]) == 4, attempt
        captured = capsys.readouterr()
        assert captured.out == "" and "WRONG" not in captured.err
        one_line(captured.err.splitlines()[-1] + "\n", "gave up after 2 s (the time limit)")
        assert time.perf_counter() - started < 6, attempt


def test_memory_cap_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def whole_columns(r: int, f: dict[str, str]) -> None:
        if r == FIRST:  # a million rows × 26 columns: the engine allocates them all
            f["h1"] = "=SUM(BA1:BZ1000000)*0+0.0275"

    path = make(tmp_path / "s.xlsx", edit=whole_columns)
    assert main(["check", str(path), "--max-memory", "512", "--timeout", "60"]) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line(captured.err.splitlines()[-1] + "\n", "more than 512 MB (the memory limit)")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--max-memory", "200", "at least 512 MB"),  # spun loading its libraries until the deadline
    ("--max-memory", "0", "at least 512 MB"),
    ("--max-memory", "99999999999999", "at most 1,048,576 MB"),
    ("--timeout", "0", "at least 1 s"),
    ("--timeout", "99999999999999999999", "at most 86,400 s"),  # was a setrlimit traceback
    ("--timeout", "1e3", "not a whole number"),
])
def test_limits_are_bounded(option: str, value: str, message: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["check", str(make(tmp_path / "s.xlsx")), option, value]) == 2
    one_line(capsys.readouterr().err, message)
    assert time.perf_counter() - started < 5  # refused, not run


# the checker failing in each way a real one can (tests/faulty_child.py): never a verdict,
# never a traceback; "cannot check" (exit 2) in one line, and a row of its own in a class
FAULTS = {"empty": "could not write its answer", "garbled": "could not write its answer",
          "not_an_object": "could not write its answer",
          "wrong_shape": "answer could not be read", "missing_fields": "answer could not be read",
          "silent_exit": "failed (exit status 1)", "disk_full": "could not write its answer",
          "memory_cap_while_answering": "more than 512 MB (the memory limit)"}


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    from workbook_builder.check import checker

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the child imports tests.faulty_child

    def use(fault: str) -> None:
        monkeypatch.setattr(checker, "ENTRY", f"tests.faulty_child:{fault}")
    return use


@pytest.mark.parametrize("fault", FAULTS)
def test_every_failure_of_the_checker_is_cannot_check(
        fault: str, faulty: Callable[[str], None], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    faulty(fault)
    assert main(["check", str(make(tmp_path / "s.xlsx")), "--max-memory", "512"]) == 4
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    one_line(captured.err, FAULTS[fault])


def test_a_failing_checker_costs_a_class_one_row_each(
        faulty: Callable[[str], None], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    faulty("garbled")
    (tmp_path / "class").mkdir()
    for name in ("a", "b", "c"):
        make(tmp_path / "class" / f"{name}.xlsx")
    table = tmp_path / "class.csv"
    assert main(["check", str(tmp_path / "class"), "--csv", str(table)]) == 4
    out = capsys.readouterr().out
    assert out.count("| cannot check | the checker could not write its answer") == 3
    assert "3 file(s): 3 cannot check" in out
    assert len(table.read_text().splitlines()) == 4


def start_check(path: Path, tmpdir: Path, marker: str) -> subprocess.Popen[bytes]:
    """``check path`` in its own process, with its own TMPDIR; returns once its checker runs."""
    proc = subprocess.Popen(cli("check", str(path)), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, **SLOW_ENGINE, "WB_TEST_MARKER": marker,
                                 "TMPDIR": str(tmpdir)})
    deadline = time.monotonic() + 30
    while len(processes_with(marker)) < 2:  # the command and its checker
        assert time.monotonic() < deadline and proc.poll() is None, "the checker never started"
        time.sleep(0.1)
    time.sleep(2)  # loading or recomputing by now
    return proc


def gone_within(seconds: float, marker: str, tmpdir: Path) -> None:
    deadline = time.monotonic() + seconds
    while processes_with(marker) or list(tmpdir.iterdir()):
        assert time.monotonic() < deadline, (processes_with(marker), list(tmpdir.iterdir()))
        time.sleep(0.1)


@pytest.mark.slow
def test_checker_dies_with_its_parent_and_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL to the command: its checker, which would otherwise run on to its CPU limit with
    the student's copy in its folder, is gone within seconds, folder and all."""
    path = slow_workbook(tmp_path / "big.xlsx")  # ~30 s to check
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = start_check(path, tmpdir, marker)
    assert any(tmpdir.iterdir())  # the checker's folder, with its copy of the workbook
    proc.kill()
    proc.wait()
    gone_within(5, marker, tmpdir)


@pytest.mark.slow
def test_closed_terminal_stops_the_check_like_ctrl_c(tmp_path: Path) -> None:
    path = slow_workbook(tmp_path / "big.xlsx")  # ~30 s to check
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = start_check(path, tmpdir, marker)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
    assert err.decode().strip().splitlines()[-1].endswith("hung up (the terminal closed)")
    gone_within(2, marker, tmpdir)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_exits_130_and_stops_the_checker(attempt: int, tmp_path: Path) -> None:
    path = slow_workbook(tmp_path / "big.xlsx")  # ~30 s to check
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(cli("check", str(path)),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **SLOW_ENGINE, "WB_TEST_MARKER": marker})
    time.sleep(3 + attempt)  # the child is importing, loading or recomputing by now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "all right" not in out
    time.sleep(0.5)
    children = processes_with(marker)
    assert children == [], "the checker process outlived Ctrl-C"
