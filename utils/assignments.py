"""Assignments: make the student versions from the solutions, and grade submissions.

Run it as ``python -m utils.assignments generate`` (``make exercises``) and
``python -m utils.assignments grade NOTEBOOK [NOTEBOOK ...]`` (``make grade NB=...``).
Built on nbformat/nbclient rather than nbgrader, which needs its database and course
folder layout; the notebooks keep nbgrader's markers and cell metadata, so instructors
can still use nbgrader.

Conventions in ``solutions/NN_name.ipynb``:

- code answers: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in a
  code cell become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``;
- written answers: the text between the same markers in a markdown cell becomes
  ``YOUR ANSWER HERE``;
- checks: code cells whose first line is ``# CHECK <question> (<n> points)``, e.g.
  ``# CHECK 3.2 (2 points)``. A check scores its points when it runs without an error.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
CHECK_LINE = re.compile(r"^# CHECK (?P<question>\S+) \((?P<points>\d+) points?\)\s*$")
QUESTION_IN_TEXT = re.compile(r"\b(\d+\.\d+)\b")
# Cell and notebook metadata written by a run, not by the author.
RUN_METADATA = ("execution", "scrolled", "collapsed")
NOTEBOOK_RUN_METADATA = ("widgets",)


# ---------------------------------------------------------------- reading the markers

def has_solution(cell) -> bool:
    """True for a cell holding at least one ``### BEGIN SOLUTION`` marker line."""
    return any(line.strip() == BEGIN for line in cell.source.splitlines())


def check_header(cell) -> tuple[str, int] | None:
    """``(question, points)`` for a check cell, else None. Answer cells are never checks."""
    if cell.cell_type != "code" or has_solution(cell):
        return None
    first_line = cell.source.split("\n", 1)[0]
    match = CHECK_LINE.match(first_line)
    return (match["question"], int(match["points"])) if match else None


def strip_solutions(source: str, code: bool) -> str:
    """The source with every marked block replaced by the student's stub."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if code:
                out.extend(indent + stub for stub in CODE_STUB)
            else:
                out.append(ANSWER_STUB)
        elif marker == END:
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


# ---------------------------------------------------------------- nbgrader metadata

def add_nbgrader_metadata(nb):
    """Mark answer and check cells the way nbgrader does (in place; returns ``nb``).

    Checks become locked autograder tests worth their points; code answers become
    autograded answers; written answers become manually graded answers (1 point in
    nbgrader; this module's grader lists them for reading by hand).
    """
    answer_number = 0
    for cell in nb.cells:
        header = check_header(cell)
        if header:
            question, points = header
            cell.metadata["nbgrader"] = {
                "grade": True, "grade_id": "check_" + re.sub(r"\W", "_", question),
                "locked": True, "points": points, "schema_version": 3, "solution": False,
            }
        elif cell.cell_type in ("code", "markdown") and has_solution(cell):
            answer_number += 1
            written = cell.cell_type == "markdown"
            metadata = {
                "grade": written, "grade_id": f"answer_{answer_number}",
                "locked": False, "schema_version": 3, "solution": True,
            }
            if written:
                metadata["points"] = 1
            cell.metadata["nbgrader"] = metadata
    return nb


# ---------------------------------------------------------------- generate

def exercise_from_solution(nb):
    """The student version of a solution notebook (a new notebook; ``nb`` is unchanged).

    Answers are replaced by stubs, outputs, execution counts and run metadata cleared,
    nbgrader metadata set.
    """
    exercise = copy.deepcopy(nb)
    for key in NOTEBOOK_RUN_METADATA:
        exercise.metadata.pop(key, None)
    for index, cell in enumerate(exercise.cells):
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if cell.cell_type in ("code", "markdown") and has_solution(cell):
            try:
                cell.source = strip_solutions(cell.source, code=cell.cell_type == "code")
            except ValueError as error:
                raise ValueError(f"cell {index}: {error}") from None
    add_nbgrader_metadata(exercise)
    nbformat.validate(exercise)
    return exercise


def notebook_text(nb) -> str:
    """The notebook as written to disk (nbformat's JSON layout, final newline)."""
    return nbformat.writes(nb).rstrip("\n") + "\n"


def generate(solutions_dir: Path = SOLUTIONS_DIR, exercises_dir: Path = EXERCISES_DIR) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for every ``solutions/NN_name.ipynb``.

    Exercise notebooks without a solution (left from a renamed or deleted one) are removed.
    Returns the written paths.
    """
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    sources = sorted(solutions_dir.glob(NOTEBOOK_GLOB))
    for source in sources:
        exercise = exercise_from_solution(nbformat.read(source, as_version=4))
        target = exercises_dir / source.name
        target.write_text(notebook_text(exercise), encoding="utf-8")
        written.append(target)
    names = {source.name for source in sources}
    for stale in sorted(exercises_dir.glob(NOTEBOOK_GLOB)):
        if stale.name not in names:
            stale.unlink()
            print(f"removed {stale} (no solution of that name)")
    return written


# ---------------------------------------------------------------- grade

@dataclass
class CheckResult:
    """The score of one check cell."""

    question: str
    points: int
    max_points: int
    status: str  # "passed", or why not

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


def first_error_line(outputs) -> str | None:
    """``"Name: first line of message"`` for the first error output, else None."""
    for output in outputs:
        if output.get("output_type") == "error":
            message = str(output.get("evalue", "")).strip().split("\n", 1)[0]
            return f"{output.get('ename', 'Error')}: {message}".rstrip(": ")
    return None


def reference_for(path: Path) -> Path | None:
    """The solution notebook with the same file name as a submission, if there is one."""
    candidate = SOLUTIONS_DIR / path.name
    return candidate if candidate.is_file() and candidate.resolve() != path.resolve() else None


def reference_checks(reference) -> dict[str, tuple[str, int]]:
    """``{question: (source, points)}`` for the check cells of a reference notebook."""
    checks = {}
    for cell in reference.cells:
        header = check_header(cell)
        if header:
            checks[header[0]] = (cell.source, header[1])
    return checks


def grade_notebook(path: str | Path, reference: str | Path | None = None,
                   timeout: int = 600, kernel_name: str = "python3") -> list[CheckResult]:
    """Run a notebook in a fresh kernel (in its own folder) and score every check cell.

    A check scores its points when it ran without an error; cells that fail do not stop
    the run. With a ``reference`` (by default the solution of the same file name), check
    cells are restored from it before the run, only its checks count, and those missing
    from the submission score 0.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    reference = Path(reference) if reference else reference_for(path)
    expected = reference_checks(nbformat.read(reference, as_version=4)) if reference else None
    if expected:  # students may not edit checks: put the reference's back
        for cell in nb.cells:
            header = check_header(cell)
            if header and header[0] in expected:
                cell.source = expected[header[0]][0]
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
        interrupt_on_timeout=True, record_timing=False,
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    stopped = None
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError, RuntimeError) as error:
        stopped = f"not run ({type(error).__name__})"
    results = []
    for cell in nb.cells:
        header = check_header(cell)
        if not header or (expected is not None and header[0] not in expected) \
                or header[0] in {r.question for r in results}:
            continue  # not a check, not one of the reference's, or a repeat
        question, points = header
        error = first_error_line(cell.outputs)
        if cell.execution_count is None and not cell.outputs:
            results.append(CheckResult(question, 0, points, stopped or "not run"))
        elif error:
            results.append(CheckResult(question, 0, points, error))
        else:
            results.append(CheckResult(question, points, points, "passed"))
    graded = {r.question for r in results}
    results += [CheckResult(question, 0, points, "missing")
                for question, (_, points) in (expected or {}).items() if question not in graded]
    return results


def written_answers(path: str | Path) -> list[str]:
    """Labels of the written answers to read by hand (question number where one is named)."""
    labels = []
    for cell in nbformat.read(Path(path), as_version=4).cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            found = QUESTION_IN_TEXT.search(cell.source)
            labels.append(found.group(1) if found else f"cell {cell.metadata['nbgrader']['grade_id']}")
    return labels


def format_table(results: list[CheckResult]) -> str:
    """The score table: question, points, max, status, then the total."""
    rows = [("question", "points", "max", "status")]
    rows += [(r.question, str(r.points), str(r.max_points), r.status) for r in results]
    total, most = sum(r.points for r in results), sum(r.max_points for r in results)
    rows.append(("total", str(total), str(most), f"{total / most:.0%}" if most else "no checks"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{q:<{widths[0]}}  {p:>{widths[1]}}  {m:>{widths[2]}}  {s}" for q, p, m, s in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.assignments", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write exercises/ from solutions/")
    grade = commands.add_parser("grade", help="run submitted notebooks and score their checks")
    grade.add_argument("notebooks", nargs="+", type=Path)
    grade.add_argument("--reference", type=Path, default=None,
                       help="notebook whose checks are used (default: solutions/<same name> if present)")
    grade.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)

    if args.command == "generate":
        for path in generate():
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    for notebook in args.notebooks:
        reference = args.reference or reference_for(notebook)
        print(f"\n== {notebook}")
        print(f"   checks from {reference}" if reference else "   checks from the notebook itself")
        print(format_table(grade_notebook(notebook, reference, timeout=args.timeout)))
        written = written_answers(notebook)
        if written:
            print(f"Written answers to read by hand: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
