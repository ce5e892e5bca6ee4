"""Instructors who run nbgrader get the same student copy and the same points.

Real nbgrader (installed for the tests) runs `generate_assignment` and `autograde` on
assignment 03 with the workbook's own Python as the kernel; its release copy must equal
exercises/, and its points per question must equal this grader's, for the solution and for
the blank copy. (nbgrader runs the visible checks; this grader runs hidden probes; on these
two submissions they must agree.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading import notebook
from grading.generate import EXERCISES_DIR, SOLUTIONS_DIR, write_nbgrader_course
from grading.grade import Settings, grade_file

nbgrader_api = pytest.importorskip("nbgrader.api", reason="nbgrader is installed by requirements.txt")
ASSIGNMENT = "03_realsoftmax"


def nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader-course")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'workbook'\nc.CourseDirectory.root = '.'\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    for path in write_nbgrader_course(course):
        if path.stem != ASSIGNMENT:
            shutil.rmtree(path.parent)
    nbgrader(course, "generate_assignment", ASSIGNMENT)
    for student, source in (("alice", SOLUTIONS_DIR), ("bob", EXERCISES_DIR)):
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(source / f"{ASSIGNMENT}.ipynb", target)
    nbgrader(course, "autograde", ASSIGNMENT)
    return course


def test_release_copy_equals_the_exercise(course):
    released = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    exercise = notebook.read(EXERCISES_DIR / f"{ASSIGNMENT}.ipynb")
    assert [c.source for c in released.cells] == [c.source for c in exercise.cells]


@pytest.mark.parametrize("student, source", [("alice", SOLUTIONS_DIR), ("bob", EXERCISES_DIR)])
def test_points_per_question_agree(course, student, source, real_root):
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        graded = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        theirs = {g.name: g.score for g in graded.grades if g.name.startswith("check_")}
    result, _, _ = grade_file(source / f"{ASSIGNMENT}.ipynb", Settings(data_root=real_root))
    ours = {"check_" + v["question"].replace(".", "_"): v["points"] for v in result["verdicts"]}
    assert theirs == ours
