"""Autograders for the platforms large courses grade on: a Gradescope autograder (a zip of
``setup.sh``, ``run_autograder`` and what they need) and a PrairieLearn external grader (a
folder with its entry script and a Dockerfile), both running ``check`` on one submission in a
container and writing the platform's ``results/results.json``.

Gradescope: the zip is unpacked into ``/autograder/source``, ``setup.sh`` runs once when the
image is built, ``run_autograder`` for each submission, with the student's files in
``/autograder/submission`` and who they are in ``/autograder/submission_metadata.json``
(``users``: ``name``, ``email``, ``sid``). The results (Gradescope's schema): ``score``,
``output``, and one test per part of the rubric with ``score``, ``max_score``, ``output`` and
``visibility``.

PrairieLearn: the question's ``externalGradingOptions`` name the image and the entry script;
the student's files are in ``/grade/student``, the results go to ``/grade/results/results.json``
(``gradable``, ``score`` from 0 to 1, ``message``, ``tests`` with ``points``/``max_points``).

The roots are taken from ``AUTOGRADER_ROOT`` and ``GRADE_ROOT`` when set, so a test (or a
teacher) can run either here.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbook_builder.check.audit_report import to_lines
from workbook_builder.classroom import batch, points, roster
from workbook_builder.classroom.kit import KEY
from workbook_builder.classroom.lms import LMS_FILE
from workbook_builder.files import atomic_path

PLATFORMS = ("gradescope", "prairielearn")
CONFIG = "autograder.json"
POINTS = "points.toml"
DISTRIBUTION = "backprop-workbook"
#: the titles of the default rubric's parts on the platforms' pages
TITLES = {"forward": "Forward pass", "loss": "Loss", "deltas": "δ terms",
          "gradients": "Gradients", "updates": "Weight updates",
          "optimizer": "Optimizer state"}

GRADESCOPE_SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu): Python, the
# checker's libraries in a venv, and LibreOffice for .ods and .xls submissions.
set -euo pipefail
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
    python3 python3-venv python3-pip
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
    libreoffice-calc-nogui || echo "no LibreOffice: .ods and .xls submissions cannot be read"
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -r /autograder/source/requirements.txt
"""

GRADESCOPE_RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: the student's files are in $ROOT/submission, the
# results go to $ROOT/results/results.json. AUTOGRADER_ROOT moves the root (to try it out).
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="$ROOT/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
cd "$ROOT/source" || exit 1
PYTHONPATH="$ROOT/source" exec "$PYTHON" -m workbook_builder autograder run gradescope \\
    --root "$ROOT" --config "$ROOT/source"
"""

PRAIRIELEARN_RUN = """#!/usr/bin/env bash
# PrairieLearn's external grader runs this (the question's externalGradingOptions.entrypoint):
# the student's files are in $ROOT/student, the results go to $ROOT/results/results.json.
# GRADE_ROOT moves the root (to try it out).
set -u
ROOT="${GRADE_ROOT:-/grade}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${GRADER_PYTHON:-python3}"
PYTHONPATH="$HERE" exec "$PYTHON" -m workbook_builder autograder run prairielearn \\
    --root "$ROOT" --config "$HERE"
"""

PRAIRIELEARN_DOCKERFILE = """\
# The external grader's image: Python and the checker's libraries (and LibreOffice for .ods and
# .xls). Build and push it, then name it in the question's externalGradingOptions.image.
FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends libreoffice-calc-nogui \\
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
"""

PRAIRIELEARN_README = """# Backprop workbook: a PrairieLearn external grader

1. Build the image from this folder's Dockerfile and push it where your PrairieLearn can pull
   it (`docker build -t YOURORG/backprop-grader . && docker push YOURORG/backprop-grader`).
2. Copy this folder into your course as `serverFilesCourse/backprop-grader/`.
3. In the question's `info.json`:

```json
"singleVariant": true,
"gradingMethod": "External",
"externalGradingOptions": {{
    "enabled": true,
    "image": "YOURORG/backprop-grader",
    "serverFilesCourse": ["backprop-grader/"],
    "entrypoint": "/grade/serverFilesCourse/backprop-grader/run.sh",
    "timeout": {timeout}
}}
```

and in `question.html` a `<pl-file-upload file-names="backprop.xlsx"></pl-file-upload>`.
The score is the rubric's points as a share of its total ({total:g}).
"""


class AutograderError(ValueError):
    """An autograder that cannot be made; the message says what to do."""


@dataclass(frozen=True)
class Config:
    """What the autograder checks a submission against (``autograder.json``)."""

    network: dict[str, Any] | None  # the network's fields (check --spec/--layers …)
    timeout: float
    max_memory: int
    rubric: bool = False  # a points.toml is beside it
    key: bool = False  # a key.csv (and lms.json) is beside it

    def dump(self) -> str:
        return json.dumps({"network": self.network, "timeout": self.timeout,
                           "max_memory": self.max_memory, "rubric": self.rubric,
                           "key": self.key}, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def load(cls, folder: Path) -> Config:
        data = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        return cls(data["network"], float(data["timeout"]), int(data["max_memory"]),
                   bool(data["rubric"]), bool(data["key"]))


def requirements() -> str:
    """The checker's libraries as the project declares them (no extras: no torch)."""
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:  # run from a copy: what it needs
        declared = ["numpy>=1.24", "XlsxWriter>=3.1", "openpyxl>=3.1", "formulas>=1.2.8",
                    "tqdm>=4.60", "matplotlib>=3.7", 'tomli>=2; python_version < "3.11"']
    return "".join(f"{r}\n" for r in declared if "extra ==" not in r)


def package_files() -> dict[str, bytes]:
    """The workbook_builder package's source, by its path in the autograder."""
    import workbook_builder

    root = Path(workbook_builder.__file__).parent
    return {f"workbook_builder/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def contents(config: Config, key: Path | None, rubric: Path | None) -> dict[str, bytes]:
    """Every file the autograder needs besides its platform's scripts."""
    files = {**package_files(), "requirements.txt": requirements().encode(),
             CONFIG: config.dump().encode()}
    if key is not None:
        files[KEY] = key.read_bytes()
        lms = key.parent / LMS_FILE
        if lms.is_file():
            files[LMS_FILE] = lms.read_bytes()
    if rubric is not None:
        files[POINTS] = rubric.read_bytes()
    return files


def gradescope_zip(target: Path, config: Config, key: Path | None, rubric: Path | None) -> None:
    """Gradescope's autograder zip: setup.sh and run_autograder at its top (executable)."""
    files = {"setup.sh": GRADESCOPE_SETUP.encode(), "run_autograder": GRADESCOPE_RUN.encode(),
             **contents(config, key, rubric)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # reproducible
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    with atomic_path(target) as part:
        part.write_bytes(buffer.getvalue())


def prairielearn_folder(target: Path, config: Config, key: Path | None,
                        rubric: Path | None, total: float) -> None:
    """PrairieLearn's external grader: run.sh, Dockerfile, README.md and what they need, in a
    new folder (written beside it and renamed into place)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AutograderError(f"--out {target} already holds files; give a new or empty folder")
    files = {"run.sh": PRAIRIELEARN_RUN.encode(), "Dockerfile": PRAIRIELEARN_DOCKERFILE.encode(),
             "README.md": PRAIRIELEARN_README.format(timeout=int(config.timeout) + 30,
                                                     total=total).encode(),
             **contents(config, key, rubric)}
    part = target.with_name(f".{target.name}.part")
    shutil.rmtree(part, ignore_errors=True)
    try:
        for name, data in files.items():
            path = part / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (part / "run.sh").chmod((part / "run.sh").stat().st_mode | stat.S_IXUSR | stat.S_IXGRP
                                | stat.S_IXOTH)
        if target.exists():
            target.rmdir()
        part.rename(target)
    finally:
        shutil.rmtree(part, ignore_errors=True)


# --- grading one submission in the container ----------------------------------------------
@dataclass
class Graded:
    """One submission's outcome, before it is written in a platform's schema."""

    row: batch.Row | None  # None: no workbook was handed in
    score: points.Score | None
    out_of: float
    report: list[str]  # the check's report, as `check FILE` prints it
    message: str  # one line for the student
    signals: list[str]  # for the teacher
    others: list[str]  # other workbooks of the submission, not graded


def student_of(metadata: Path, key: roster.Key | None) -> tuple[str | None, list[str]]:
    """The key's id of the submitter (Gradescope's ``sid``, else the email), and signals."""
    if key is None or not metadata.is_file():
        return None, []
    try:
        users = json.loads(metadata.read_text(encoding="utf-8")).get("users") or []
    except (OSError, ValueError, AttributeError):
        return None, ["submission_metadata.json could not be read"]
    emails = {sid: {v.lower() for c, v in extra.items() if "mail" in c.lower() and v}
              for sid, extra in key.extra.items()}
    for user in users:
        sid = str(user.get("sid") or "").strip()
        email = str(user.get("email") or "").strip().lower()
        if sid in key:
            return sid, []
        for kid in key:
            if email and (kid.lower() == email or email in emails.get(kid, set())):
                return kid, []
    who = ", ".join(f"{u.get('name', '?')} (sid {u.get('sid') or '-'}, {u.get('email', '-')})"
                    for u in users)
    return None, [f"the submitter {who or '(none named)'} is not in the roster's key"]


def grade(files: Path, config_dir: Path, metadata: Path | None = None) -> Graded:
    """Check the newest workbook under ``files`` against the autograder's configuration."""
    config = Config.load(config_dir)
    rubric = points.read_rubric(config_dir / POINTS) if config.rubric else \
        points.DEFAULT_RUBRIC
    out_of = sum(p.points for p in rubric)
    key = roster.read_key(config_dir / KEY) if config.key else None
    entries = [e for e in batch.collect([files]) if e.problem is None] if files.is_dir() else []
    if not entries:
        return Graded(None, None, out_of, [], "no workbook (" + ", ".join(batch.SUFFIXES)
                      + ") in the submission: upload your .xlsx file", [], [])
    entries.sort(key=lambda e: (e.path.stat().st_mtime_ns, e.name))
    entry, others = entries[-1], [e.name for e in entries[:-1]]
    sid, signals = student_of(metadata, key) if metadata is not None else (None, [])
    if sid is not None:  # the grade's own matching finds the student by the path
        entry = batch.Entry(entry.path, f"{sid}/{entry.name}")
    row = batch.row_for(entry, config.timeout, config.max_memory, None,
                        network=config.network)
    batch.apply_grade(row, key, rubric)
    signals += row.signals
    score = points.score(row.reports, rubric) if row.error is None and row.reports else None
    report = to_lines(row.reports) if row.reports else [row.error or "could not be checked"]
    if others:
        signals.append(f"graded the newest workbook, {entries[-1].name}; not graded: "
                       + ", ".join(others))
    return Graded(row, score, out_of, report, row.feedback, signals, others)


def _part_output(part: points.PartScore) -> str:
    if not part.wrong:
        return "right" if part.worth else "none in this sheet: its points went to the " \
            "gradients"
    return "earned nothing for: " + ", ".join(part.wrong)


def _diagnoses(row: batch.Row, part: points.PartScore) -> list[str]:
    """The report's diagnoses of a part's wrong quantities."""
    names = {re.sub(r"^.*!", "", w) for w in part.wrong}
    return [w for w in row.wrong if re.sub(r"^[^!]*!", "", w).split(":")[0] in names]


def gradescope_results(g: Graded) -> dict[str, Any]:
    """Gradescope's results.json for one submission."""
    total = g.row.score if g.row is not None and g.row.score is not None else 0.0
    tests: list[dict[str, Any]] = []
    if g.score is not None and g.row is not None:
        for part in g.score.parts:
            if not part.worth and not part.wrong:
                continue
            tests.append({"name": TITLES.get(part.name, part.name),
                          "score": round(part.earned, 4), "max_score": round(part.worth, 4),
                          "status": "passed" if not part.wrong else "failed",
                          "output": "\n".join([_part_output(part), *_diagnoses(g.row, part)]),
                          "visibility": "visible"})
        if g.score.findings:
            tests.append({"name": "Findings", "score": -round(g.score.findings, 4),
                          "max_score": 0, "status": "failed",
                          "output": "\n".join(x for x in g.score.lost
                                              if x.startswith("finding")),
                          "visibility": "visible"})
    else:
        tests.append({"name": "The workbook could be checked", "score": 0,
                      "max_score": g.out_of, "status": "failed", "output": g.message,
                      "visibility": "visible"})
    if g.signals:
        tests.append({"name": "For the teacher: signals", "score": 0, "max_score": 0,
                      "output": "\n".join(g.signals), "visibility": "hidden"})
    return {"score": round(total, 4), "output": "\n".join([g.message, "", *g.report]),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def prairielearn_results(g: Graded) -> dict[str, Any]:
    """PrairieLearn's results.json for one submission (no workbook, or one that could not be
    read: not gradable, so the student may upload again without losing an attempt)."""
    if g.row is None or g.score is None:
        return {"gradable": False, "score": 0.0, "message": g.message,
                "output": "\n".join(g.report), "tests": []}
    earned = g.row.score if g.row.score is not None else 0.0
    tests = [{"name": TITLES.get(p.name, p.name), "points": round(p.earned, 4),
              "max_points": round(p.worth, 4),
              "message": _part_output(p), "output": "\n".join(_diagnoses(g.row, p))}
             for p in g.score.parts if p.worth or p.wrong]
    if g.score.findings:
        tests.append({"name": "Findings", "points": -round(g.score.findings, 4),
                      "max_points": 0, "message": "; ".join(
                          x for x in g.score.lost if x.startswith("finding")), "output": ""})
    return {"gradable": True, "score": max(0.0, min(1.0, earned / g.out_of)) if g.out_of
            else 0.0, "message": g.message, "output": "\n".join(g.report), "tests": tests}


def failed_results(platform: str, reason: str) -> dict[str, Any]:
    """What the platform is told when the autograder itself failed: no score, the reason."""
    message = f"the autograder could not grade this submission ({reason}); tell your teacher"
    if platform == "gradescope":
        return {"score": 0, "output": message, "visibility": "visible", "tests": []}
    return {"gradable": False, "score": 0.0, "message": message, "tests": []}


def write_results(root: Path, results: dict[str, Any]) -> Path:
    target = root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as part:
        part.write_text(json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False),
                        encoding="utf-8")
    return target
