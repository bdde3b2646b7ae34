"""A class is checked by a pool of long-lived limited workers (isolation.WorkerPool): at most
``--jobs`` of them, each task in its own folder under the same deadline and memory cap, a worker
that reached a limit or failed replaced, each recycled after RECYCLE_AFTER tasks, nothing left
behind however the parent ends."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SLOW_ENGINE, cli, processes_with, slow_workbook
from tests.student import FIRST, make
from workbook_builder import isolation
from workbook_builder.check.checker import check_isolated
from workbook_builder.classroom import batch


def leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("workbook-builder-check-*"))


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    before = leftovers()
    yield
    assert leftovers() == before


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import tests.pool_tasks


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of every worker the pools of the test start."""
    pids: list[int] = []
    start = isolation._Worker.__init__

    def counting(self: isolation._Worker, *args: object, **kwargs: object) -> None:
        start(self, *args, **kwargs)  # type: ignore[arg-type]
        pids.append(self.proc.pid)

    monkeypatch.setattr(isolation._Worker, "__init__", counting)
    return pids


def doubled_delta(r: int, f: dict[str, str]) -> None:
    f["∂E/∂w5"] = f["∂E/∂w5"] + "*2"


def rows_of(paths: list[Path], jobs: int, timeout: float = 60,
            max_memory_mb: int = 2048) -> list[batch.Row]:
    return batch.check_all(batch.collect(paths), jobs, timeout, max_memory_mb)


def test_a_class_is_checked_by_at_most_jobs_workers_with_the_same_reports(
        tmp_path: Path, spawned: list[int]) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    files = [make(folder / f"s{i}.xlsx", edit=doubled_delta if i % 2 else None)
             for i in range(6)]
    rows = rows_of([folder], jobs=2)
    assert 1 <= len(spawned) <= 2  # not one interpreter per file
    assert [r.status for r in rows] == [batch.ALL_RIGHT, batch.WRONG] * 3
    for row, path in zip(rows, files, strict=True):  # the same as a file checked alone
        assert row.reports == check_isolated(path)
    assert "dEdw5" in rows[1].wrong[0] or "∂E/∂w5" in rows[1].wrong[0], rows[1].wrong


def test_a_worker_past_the_time_limit_is_replaced_and_the_rest_is_checked(
        tmp_path: Path, spawned: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SLOW_ENGINE.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "class"
    folder.mkdir()
    slow_workbook(folder / "a_slow.xlsx")  # ~30 s to check by the formulas engine
    make(folder / "b.xlsx")
    make(folder / "c.xlsx")
    started = time.perf_counter()
    rows = rows_of([folder], jobs=1, timeout=4)
    assert time.perf_counter() - started < 25
    assert rows[0].status == batch.CANNOT_CHECK and "gave up after 4 s" in rows[0].error
    assert [r.status for r in rows[1:]] == [batch.ALL_RIGHT, batch.ALL_RIGHT], rows
    assert len(spawned) == 2  # the killed worker's place taken by a fresh one


def test_a_worker_past_the_memory_cap_is_replaced(tmp_path: Path,
                                                  spawned: list[int]) -> None:
    def whole_columns(r: int, f: dict[str, str]) -> None:
        if r == FIRST:  # a million rows × 26 columns
            f["h1"] = "=SUM(BA1:BZ1000000)*0+0.0275"

    folder = tmp_path / "class"
    folder.mkdir()
    make(folder / "a.xlsx", edit=whole_columns)
    make(folder / "b.xlsx")
    rows = rows_of([folder], jobs=1, timeout=60, max_memory_mb=512)
    assert rows[0].status == batch.CANNOT_CHECK
    assert "more than 512 MB (the memory limit)" in rows[0].error
    assert rows[1].status == batch.ALL_RIGHT, rows[1]
    assert len(spawned) == 2


def test_workers_are_recycled(tmp_path: Path, spawned: list[int],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "RECYCLE_AFTER", 2)
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(5):
        make(folder / f"s{i}.xlsx")
    rows = rows_of([folder], jobs=1)
    assert {r.status for r in rows} == {batch.ALL_RIGHT}
    assert len(spawned) == 3  # 2 + 2 + 1 tasks


def test_each_task_has_its_own_folder_and_temporary_folder(tasks: None) -> None:
    with isolation.WorkerPool(timeout=30, max_memory_mb=1024) as pool:
        answers = []
        for _ in range(2):
            with pool.task_folder() as folder:
                answers.append((folder, pool.run("tests.pool_tasks:where", {}, folder)))
                assert (folder / "left.txt").is_file()
            assert not folder.exists()  # removed with what the task left
        (first_folder, first), (second_folder, second) = answers
        assert first["pid"] == second["pid"]  # one worker served both
        for folder, answer in answers:
            assert answer["cwd"] == answer["tmpdir"] == str(folder)
            assert Path(answer["temporary"]).parent == folder
            assert folder.parent == pool.folder
        assert first_folder != second_folder and "left.txt" not in second["found"]
    assert not pool.folder.exists()


def test_a_task_past_the_deadline_or_the_cap_is_a_limit_error_and_the_pool_goes_on(
        tasks: None) -> None:
    with isolation.WorkerPool(timeout=2, max_memory_mb=512) as pool:
        for task, message in (("spin", "gave up after 2 s (the time limit)"),
                              ("allocate", "more than 512 MB (the memory limit)")):
            with pool.task_folder() as folder, pytest.raises(isolation.LimitError) as caught:
                pool.run(f"tests.pool_tasks:{task}", {}, folder)
            assert message in str(caught.value)
        with pool.task_folder() as folder:
            assert pool.run("tests.pool_tasks:where", {}, folder)["cwd"] == str(folder)


def test_an_idle_worker_that_died_is_replaced_unseen(tasks: None) -> None:
    with isolation.WorkerPool(timeout=30, max_memory_mb=1024) as pool:
        with pool.task_folder() as folder:
            first = pool.run("tests.pool_tasks:where", {}, folder)["pid"]
        os.killpg(first, signal.SIGKILL)
        time.sleep(0.2)
        with pool.task_folder() as folder:
            assert pool.run("tests.pool_tasks:where", {}, folder)["pid"] != first


@pytest.mark.slow
def test_a_killed_class_run_leaves_no_worker_and_no_folder(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("a", "b"):
        slow_workbook(folder / f"{name}.xlsx")  # ~30 s each to check
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    marker = f"wb-test-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(cli("check", str(folder)), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, **SLOW_ENGINE, "WB_TEST_MARKER": marker,
                                 "TMPDIR": str(tmpdir)})
    deadline = time.monotonic() + 30
    while len(processes_with(marker)) < 3:  # the command and its two workers
        assert time.monotonic() < deadline and proc.poll() is None, "no workers started"
        time.sleep(0.1)
    time.sleep(1)
    assert any(tmpdir.iterdir())  # the pool's folder, with the tasks' copies
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while processes_with(marker) or list(tmpdir.iterdir()):
        assert time.monotonic() < deadline, (processes_with(marker), list(tmpdir.iterdir()))
        time.sleep(0.1)
