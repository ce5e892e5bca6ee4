"""``make bench-grading``: how fast the sandboxed grader gets through a class.

In one run, side by side:

1. per assignment, seconds to grade one submission (the solution) through the whole
   sandboxed path, next to the seconds a plain top-to-bottom run of the same notebook takes
   (what the previous grader did: every cell, the long sweeps included);
2. a generated class of ``--class-size`` submissions spread over all assignments (correct,
   half answered and blank in turn), graded with ``--jobs 1`` and then ``--jobs 2``:
   seconds, notebooks per minute, and per core.

The reference values are computed once before the clock starts (as a batch does).
Real data only. Run from the repository root: ``python -m benchmarks.grading_bench --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grading import batch, grade, notebook
from grading.generate import exercise_from_solution
from grading.sandbox import Limits, sandbox_problem

KINDS = ("correct", "half answered", "blank")


def half_answered(solution, assignment: str):
    """The student copy with the first half of its answer cells taken from the solution."""
    exercise = exercise_from_solution(solution, assignment)
    answers = [cell for cell in solution.cells if notebook.has_solution(cell)]
    keep = {cell.id: cell.source for cell in answers[: len(answers) // 2]}
    for cell in exercise.cells:
        cell.source = keep.get(cell.id, cell.source)
    return exercise


def write_class(folder: Path, solutions: dict[str, Path], size: int) -> list[Path]:
    """``size`` submissions, one per student, cycling through assignments and kinds."""
    names = sorted(solutions)
    written = []
    for number in range(size):
        assignment, kind = names[number % len(names)], KINDS[(number // len(names)) % len(KINDS)]
        solution = notebook.read(solutions[assignment])
        nb = {"correct": lambda: solution, "half answered": lambda: half_answered(solution, assignment),
              "blank": lambda: exercise_from_solution(solution, assignment)}[kind]()
        path = folder / f"student{number:03d}" / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        written.append(path)
    return written


def plain_run_seconds(path: Path) -> float:
    """A plain top-to-bottom run of a notebook in a fresh local kernel."""
    nb = notebook.read(path)
    started = time.monotonic()
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    asyncio.run(client.async_execute())
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--class-size", type=int, default=50, help="submissions in the generated class")
    parser.add_argument("--jobs", default="1,2", help="parallel jobs to compare, e.g. 1,2")
    parser.add_argument("--skip-plain", action="store_true", help="skip the plain-run column")
    args = parser.parse_args(argv)
    problem = sandbox_problem()
    if problem:
        raise SystemExit(f"no sandbox: {problem}")
    root = Path(os.environ.get("FASHION_MNIST_ROOT", "data")).resolve()
    settings = grade.Settings(data_root=root, limits=Limits())
    solutions = grade.assignments(settings)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for assignment in solutions:
        grade.reference_results(assignment, settings)

    print("\n| assignment | graded, s per submission | plain run of the notebook, s |")
    print("|---|---|---|")
    total_graded = total_plain = 0.0
    for assignment, path in solutions.items():
        started = time.monotonic()
        result, _, _ = grade.grade_file(path, settings)
        graded = time.monotonic() - started
        plain = float("nan") if args.skip_plain else plain_run_seconds(path)
        total_graded += graded
        total_plain += plain
        print(f"| {assignment} | {graded:.1f} | {plain:.1f} |")
    print(f"| **all {len(solutions)}** | **{total_graded:.1f}** | **{total_plain:.1f}** |")

    print(f"\n| class of {args.class_size} submissions | seconds | notebooks per minute | per job |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        files = write_class(Path(scratch) / "class", solutions, args.class_size)
        for jobs in [int(j) for j in args.jobs.split(",")]:
            started = time.monotonic()
            results = batch.grade_all([Path(scratch) / "class"], settings, Path(scratch) / f"out{jobs}",
                                      jobs=jobs, echo=lambda line: None)
            seconds = time.monotonic() - started
            assert len(results) == len(files) and not any(r["error"] for r in results)
            rate = 60 * len(files) / seconds
            print(f"| --jobs {jobs} | {seconds:.0f} | {rate:.1f} | {rate / jobs:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
