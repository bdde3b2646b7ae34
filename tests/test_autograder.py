"""Autograders, simulated end to end as the platforms run them: the Gradescope zip unpacked into
a root (AUTOGRADER_ROOT), run_autograder run on a submission with its metadata, results.json
read in Gradescope's schema; the PrairieLearn folder's run.sh run on /grade/student under
GRADE_ROOT, results.json in PrairieLearn's. The scripts run the package copy inside the
autograder (PYTHONPATH), with this venv's Python as the container's python3."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import planted
from workbook_builder.classroom import kit
from workbook_builder.classroom.roster import Student
from workbook_builder.cli.main import main

SECRET = b"an autograder secret"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> kit.Kit:
    students = [Student(sid, {"email": f"{sid}@uni.example"}) for sid in ("s001", "s002")]
    return kit.assign(students, tmp_path_factory.mktemp("kit") / "kit", SECRET, 8, None)


def environment(**extra: str) -> dict[str, str]:
    """The container's environment: python3 is this venv's Python (with the libraries)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.fixture(scope="module")
def gradescope_zip(made: kit.Kit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("gs") / "autograder.zip"
    assert main(["autograder", "gradescope", "--out", str(target), "--roster",
                 str(made.folder / "key.csv")]) == 0
    return target


def gradescope_run(zip_path: Path, root: Path, files: dict[str, Path],
                   users: list[dict[str, str]]) -> dict[str, object]:
    """Unzip as Gradescope does (into source/, run_autograder copied to the root), put the
    submission and its metadata in place, run, and read results/results.json."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    for name, source in files.items():
        shutil.copyfile(source, root / "submission" / name)
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 123456, "submission_method": "upload", "users": users,
         "assignment": {"title": "Backprop workbook", "total_points": "100.0"}}))
    done = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True,
                          text=True, env=environment(AUTOGRADER_ROOT=str(root)), timeout=240)
    assert done.returncode == 0, done.stderr
    results: dict[str, object] = json.loads((root / "results" / "results.json").read_text())
    return results


def test_gradescope_zip_holds_what_gradescope_runs(gradescope_zip: Path) -> None:
    with zipfile.ZipFile(gradescope_zip) as zf:
        names = set(zf.namelist())
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder.json", "key.csv",
            "workbook_builder/__main__.py", "workbook_builder/check/audit.py"} <= names
    assert "torch" not in zipfile.ZipFile(gradescope_zip).read("requirements.txt").decode()
    assert "pip install -r /autograder/source/requirements.txt" in setup


def test_gradescope_right_workbook_of_its_student(made: kit.Kit, gradescope_zip: Path,
                                                  tmp_path: Path) -> None:
    results = gradescope_run(gradescope_zip, tmp_path, {"backprop.xlsx":
                                                        made.folder / "answers" / "s001.xlsx"},
                             [{"name": "Student One", "email": "s001@uni.example",
                               "sid": "s001"}])
    assert results["score"] == 100
    tests = results["tests"]
    assert isinstance(tests, list)
    visible = [t for t in tests if t["visibility"] == "visible"]
    assert [t["name"] for t in visible] == ["Forward pass", "Loss", "δ terms", "Gradients",
                                            "Weight updates"]
    assert sum(t["score"] for t in visible) == pytest.approx(100)
    assert all(t["score"] == t["max_score"] for t in visible)
    hidden = [t for t in tests if t["visibility"] == "hidden"]
    assert not any("not in the roster" in t["output"] or "numbers of student" in t["output"]
                   for t in hidden)


def test_gradescope_wrong_workbook_and_anothers_numbers(made: kit.Kit, gradescope_zip: Path,
                                                        tmp_path: Path) -> None:
    wrong = planted.plant(made.folder / "answers" / "s002.xlsx", tmp_path / "w.xlsx",
                          "∂E/∂w1", lambda f, r: f + "*2")
    root = tmp_path / "root"
    root.mkdir()
    results = gradescope_run(gradescope_zip, root, {"backprop.xlsx": wrong},
                             [{"name": "Student One", "email": "s001@uni.example",
                               "sid": ""}])  # no sid: matched by email to s001
    assert 0 < results["score"] < 100  # type: ignore[operator]
    tests = {t["name"]: t for t in results["tests"]}  # type: ignore[attr-defined]
    assert tests["Gradients"]["score"] < tests["Gradients"]["max_score"]
    assert "∂E/∂w1" in tests["Gradients"]["output"]
    assert tests["Weight updates"]["score"] == tests["Weight updates"]["max_score"]  # given wrong
    signals = tests["For the teacher: signals"]
    assert signals["visibility"] == "hidden" and "uses the numbers of student s002" in \
        signals["output"]


def test_gradescope_no_workbook_scores_zero_with_a_reason(gradescope_zip: Path,
                                                          tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("I could not do it")
    results = gradescope_run(gradescope_zip, tmp_path, {"notes.txt": notes},
                             [{"name": "S", "email": "s001@uni.example", "sid": "s001"}])
    assert results["score"] == 0 and "no workbook" in str(results["output"])


def test_prairielearn_grader_end_to_end(made: kit.Kit, tmp_path: Path) -> None:
    grader = tmp_path / "serverFilesCourse" / "backprop-grader"
    grader.parent.mkdir()
    assert main(["autograder", "prairielearn", "--out", str(grader), "--roster",
                 str(made.folder / "key.csv"), "--timeout", "60"]) == 0
    assert {"run.sh", "Dockerfile", "README.md", "requirements.txt", "autograder.json"} <= \
        {p.name for p in grader.iterdir()}
    assert os.access(grader / "run.sh", os.X_OK)
    wrong = planted.plant(made.folder / "answers" / "s002.xlsx", tmp_path / "w.xlsx",
                          "∂E/∂w1", lambda f, r: f + "*2")
    for case, files in (("starter", {"backprop.xlsx": made.folder / "s001.xlsx"}),
                        ("answer", {"backprop.xlsx": made.folder / "answers" / "s001.xlsx"}),
                        ("wrong", {"backprop.xlsx": wrong}), ("none", {})):
        root = tmp_path / case
        (root / "student").mkdir(parents=True)
        for name, source in files.items():
            shutil.copyfile(source, root / "student" / name)
        done = subprocess.run([str(grader / "run.sh")], capture_output=True, text=True,
                              env=environment(GRADE_ROOT=str(root)), timeout=240)
        assert done.returncode == 0, done.stderr
        results = json.loads((root / "results" / "results.json").read_text())
        if case == "starter":  # the starter as handed out: nothing to grade yet, no attempt lost
            assert results["gradable"] is False and "epoch rows" in results["message"]
        elif case == "answer":
            assert results["gradable"] is True and results["score"] == 1.0
            assert {t["name"] for t in results["tests"]} >= {"Forward pass", "Loss"}
            assert all(t["points"] == t["max_points"] for t in results["tests"])
        elif case == "wrong":
            assert results["gradable"] is True and 0 < results["score"] < 1
            gradients = next(t for t in results["tests"] if t["name"] == "Gradients")
            assert gradients["points"] < gradients["max_points"]
            assert "twice the right value" in gradients["output"]
        else:
            assert results["gradable"] is False and "no workbook" in results["message"]


def test_autograder_refuses_what_it_cannot_use(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["autograder", "gradescope", "--out", str(tmp_path / "a.txt")])
    assert code == 2 and "must end in .zip" in capsys.readouterr().err
    code = main(["autograder", "gradescope", "--out", str(tmp_path / "a.zip"), "--roster",
                 str(tmp_path / "none.csv")])
    assert code == 2 and "no such file" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_a_failing_autograder_still_writes_results(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "submission").mkdir(parents=True)
    (root / "source").mkdir()  # no autograder.json: the autograder itself fails
    assert main(["autograder", "run", "gradescope", "--root", str(root)]) == 2
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "could not grade" in results["output"]
