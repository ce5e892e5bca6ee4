"""The student copy of an assignment: ``exercises/NN_name.ipynb`` from ``solutions/``.

One pass per job, as in nbgrader: drop the solution-only cells and the answer facts, replace
the answers by stubs, clear what a run wrote, mark the cells for nbgrader, stamp the assignment id.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from grading import notebook
from grading.notebook import ANSWER_FACTS_KEY, ASSIGNMENT_KEY, NOTEBOOK_GLOB

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
RUN_METADATA = ("execution", "scrolled", "collapsed")  # cell metadata a run writes
NOTEBOOK_RUN_METADATA = ("widgets",)
INSTRUCTOR_METADATA = (ANSWER_FACTS_KEY,)  # notebook metadata that names answers


def drop_solution_only(nb) -> None:
    nb.cells = [cell for cell in nb.cells if not notebook.is_solution_only(cell)]


def stub_answers(nb) -> None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type in ("code", "markdown") and notebook.has_solution(cell):
            try:
                cell.source = notebook.strip_solutions(cell.source, code=cell.cell_type == "code")
            except ValueError as error:
                raise ValueError(f"cell {index}: {error}") from None


def drop_instructor_metadata(nb) -> None:
    for key in INSTRUCTOR_METADATA:
        nb.metadata.pop(key, None)


def clear_run_traces(nb) -> None:
    for key in NOTEBOOK_RUN_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def add_nbgrader_metadata(nb, solution) -> None:
    """Mark answer and check cells the way nbgrader does.

    Checks become locked autograder tests worth their points; code answers autograded
    answers; written answers manually graded answers (1 point in nbgrader). ``solution``
    tells which cells are answers (the stubs no longer carry the markers).
    """
    answers = {cell.id for cell in solution.cells if notebook.has_solution(cell)}
    number = 0
    for cell in nb.cells:
        header = notebook.check_header(cell)
        if header:
            cell.metadata["nbgrader"] = {
                "grade": True, "grade_id": "check_" + re.sub(r"\W", "_", header[0]),
                "locked": True, "points": header[1], "schema_version": 3, "solution": False,
            }
        elif cell.id in answers:
            number += 1
            written = cell.cell_type == "markdown"
            cell.metadata["nbgrader"] = {
                "grade": written, "grade_id": f"answer_{number}",
                "locked": False, "schema_version": 3, "solution": True, **({"points": 1} if written else {}),
            }


def exercise_from_solution(solution, assignment_id: str):
    """The student version of a solution notebook (a new notebook; ``solution`` is unchanged)."""
    exercise = copy.deepcopy(solution)
    drop_solution_only(exercise)
    drop_instructor_metadata(exercise)
    stub_answers(exercise)
    clear_run_traces(exercise)
    add_nbgrader_metadata(exercise, solution)
    exercise.metadata[ASSIGNMENT_KEY] = {"id": assignment_id}
    nbformat.validate(exercise)
    return exercise


def nbgrader_source(solution):
    """The solution as an nbgrader ``source/`` notebook: answers still marked, no hidden cells.

    ``nbgrader generate_assignment`` makes the same student copy from it as
    ``exercise_from_solution``; its autograder runs the visible checks.
    """
    source = copy.deepcopy(solution)
    drop_solution_only(source)
    drop_instructor_metadata(source)
    clear_run_traces(source)
    add_nbgrader_metadata(source, solution)
    return source


def write_nbgrader_course(course_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    """``course_dir/source/<id>/<id>.ipynb`` for every assignment, ready for nbgrader."""
    written = []
    for path in sorted(solutions_dir.glob(NOTEBOOK_GLOB)):
        target = course_dir / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(notebook_text(nbgrader_source(notebook.read(path))), encoding="utf-8")
        written.append(target)
    return written


def notebook_text(nb) -> str:
    """The notebook as written to disk (nbformat's JSON layout, final newline)."""
    return nbformat.writes(nb).rstrip("\n") + "\n"


def generate(solutions_dir: Path = SOLUTIONS_DIR, exercises_dir: Path = EXERCISES_DIR) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for every ``solutions/NN_name.ipynb``; remove stale ones."""
    exercises_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(solutions_dir.glob(NOTEBOOK_GLOB))
    written = []
    for source in sources:
        exercise = exercise_from_solution(notebook.read(source), source.stem)
        target = exercises_dir / source.name
        target.write_text(notebook_text(exercise), encoding="utf-8")
        written.append(target)
    names = {source.name for source in sources}
    for stale in sorted(exercises_dir.glob(NOTEBOOK_GLOB)):
        if stale.name not in names:
            stale.unlink()
            print(f"removed {stale.name} (no solution of that name)")
    return written
