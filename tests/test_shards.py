"""A class checked in parts (check --shard K/N) and joined (merge) gives the table of one run:
the same rows, scores and signals — copies found across parts, the roster's missing students
added once — and a merge that lacks a part, or has one twice, is refused."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from workbook_builder.classroom import kit
from workbook_builder.classroom.roster import Student
from workbook_builder.cli.main import main

SECRET = b"a sharded secret"
IDS = ("00201", "00202", "00203", "00204", "00205", "00206")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> kit.Kit:
    return kit.assign([Student(s, {}) for s in IDS], tmp_path_factory.mktemp("k") / "kit",
                      SECRET, 8, None)


@pytest.fixture(scope="module")
def download(made: kit.Kit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """00201…00204 hand in their answers, 00205 hands in 00201's file (a copy that the shards
    split apart), 00206 nothing."""
    folder = tmp_path_factory.mktemp("d") / "download"
    for sid in IDS[:4]:
        (folder / sid).mkdir(parents=True)
        shutil.copyfile(made.folder / "answers" / f"{sid}.xlsx", folder / sid / "work.xlsx")
    (folder / "00205").mkdir()
    shutil.copyfile(made.folder / "answers" / "00201.xlsx", folder / "00205" / "work.xlsx")
    return folder


def table(path: Path) -> dict[str, tuple[str, str, str, frozenset[str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {(r["file"] or r["id"]): (r["id"], r["verdict"], r["score"],
                                         frozenset(r["signals"].split("; ")))
                for r in csv.DictReader(f)}


def test_merged_parts_are_the_class_table(made: kit.Kit, download: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    key = str(made.folder / "key.csv")
    whole = tmp_path / "whole.csv"
    assert main(["check", str(download), "--roster", key, "--csv", str(whole),
                 "--jobs", "2"]) == 0
    parts = []
    for k in (1, 2, 3):
        part = tmp_path / f"part-{k}.csv"
        assert main(["check", str(download), "--roster", key, "--shard", f"{k}/3", "--csv",
                     str(part), "--jobs", "2"]) == 0
        parts.append(str(part))
    sizes = [len(table(Path(p))) for p in parts]
    assert sizes == [2, 2, 1]  # every third file by name; no roster rows in a part
    merged, moodle = tmp_path / "merged.csv", tmp_path / "moodle.csv"
    capsys.readouterr()
    assert main(["merge", *parts, "--roster", key, "--csv", str(merged),
                 "--export", "moodle", str(moodle)]) == 0
    out = capsys.readouterr().out
    assert table(merged) == table(whole)
    rows = table(merged)
    assert any("possible copy of 00205/work.xlsx" in s for s in rows["00201/work.xlsx"][3])
    assert rows["00206"][1] == "no submission"
    assert "5 file(s): 5 all right; 1 roster student(s) handed in nothing" in out
    with moodle.open(encoding="utf-8") as f:
        assert len(f.read().splitlines()) == 1 + len(IDS)


def test_a_merge_without_every_part_is_refused(made: kit.Kit, download: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    parts = []
    for k in (1, 2):
        part = tmp_path / f"part-{k}.csv"
        assert main(["check", str(download), "--shard", f"{k}/2", "--csv", str(part)]) == 0
        parts.append(str(part))
    capsys.readouterr()
    target = tmp_path / "class.csv"
    assert main(["merge", parts[0], "--csv", str(target)]) == 2
    assert "part(s) 2 of 2 missing" in capsys.readouterr().err
    assert main(["merge", parts[0], parts[0], "--csv", str(target)]) == 2
    assert "given twice" in capsys.readouterr().err
    # a part cut off (a job killed on its time limit): its table lacks rows, or has none
    lines = Path(parts[1]).read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:-1]), encoding="utf-8")
    assert main(["merge", parts[0], str(cut), "--csv", str(target)]) == 2
    assert "part 2/2 was cut off (1 of its 2 files)" in capsys.readouterr().err
    cut.write_text(lines[0], encoding="utf-8")
    assert main(["merge", parts[0], str(cut), "--csv", str(target)]) == 2
    assert "is not one whole part of a class" in capsys.readouterr().err
    assert not target.exists()
    # a part with no file: refused before anything is checked
    assert main(["check", str(download), "--shard", "6/6", "--csv", str(target)]) == 2
    assert "part 6 has none" in capsys.readouterr().err
    assert main(["check", str(download), "--shard", "3/2", "--csv", str(target)]) == 2
    assert "K/N" in capsys.readouterr().err
    assert main(["check", str(download), "--shard", "1/2"]) == 2
    assert "--csv" in capsys.readouterr().err
