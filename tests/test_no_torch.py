"""torch is the [mnist] extra: the workbook, check and assign run without it, and the trainer's
commands say in one line what to install. PyTorch is hidden from the child processes by a
``sitecustomize`` that refuses to import it (as in a venv of ``pip install .`` alone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BLOCKER = '''
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name=name)
        return None
sys.meta_path.insert(0, _NoTorch())
'''


@pytest.fixture
def no_torch(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    proof = subprocess.run([sys.executable, "-c", "import torch"], env=env,
                           capture_output=True, text=True)
    assert proof.returncode != 0 and "No module named 'torch'" in proof.stderr
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=240)


def test_build_check_and_assign_need_no_torch(no_torch: dict[str, str], tmp_path: Path) -> None:
    book = tmp_path / "b.xlsx"
    built = run(["-m", "workbook_builder", "--out", str(book), "--epochs", "20", "-q"], no_torch)
    assert built.returncode == 0, built.stderr
    checked = run(["-m", "workbook_builder", "check", str(book)], no_torch)
    assert checked.returncode == 0 and "all right" in checked.stdout, checked.stderr
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n1,Ana\n", encoding="utf-8")
    kit = run(["-m", "workbook_builder", "assign", str(roster), "--out", str(tmp_path / "kit")],
              no_torch)
    assert kit.returncode == 0, kit.stderr


@pytest.mark.parametrize("program", ["mnist.train", "mnist.evaluate"])
def test_the_trainer_without_torch_says_what_to_install(program: str,
                                                        no_torch: dict[str, str]) -> None:
    done = run(["-m", program, "--help"], no_torch)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"python -m {program}: PyTorch is not installed")
    assert 'pip install -e ".[mnist]"' in done.stderr


def test_a_library_import_without_torch_is_an_import_error(no_torch: dict[str, str]) -> None:
    """Not a program: no message printed, no exit; the ImportError says what is missing."""
    done = run(["-c", "import mnist.train"], no_torch)
    assert done.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in done.stderr
    assert "PyTorch is not installed" not in done.stderr
