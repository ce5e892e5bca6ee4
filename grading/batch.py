"""Grade many submissions: find them, compute the references once, grade in parallel.

A bad input (missing, unreadable, not a notebook, no assignment) costs one line in the
report and the batch goes on. Progress (done/total, failures, time left) shows on a
terminal and stays out of CI logs.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from grading import execute, grade, match, notebook, report


def find_submissions(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """The notebooks named or inside the named folders, and an error result for each bad path."""
    found, errors = [], []
    for path in paths:
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                errors.append(_error(path, f"{path}: a folder with no .ipynb files in it"))
            found += notebooks
        elif path.exists():
            found.append(path)
        else:
            errors.append(_error(path, f"{path}: no such file or folder"))
    return found, errors


def _error(path: Path, message: str) -> dict:
    return {"file": str(path), "student": path.resolve().parent.name, "assignment": None, "verdicts": [],
            "written": {}, "missing_answers": [], "error": message, "stopped": None, "notes": [], "sandbox": None}


def needed_assignments(files: list[Path], settings: grade.Settings) -> set[str]:
    known = list(grade.assignments(settings))
    needed = set()
    for path in files:
        try:
            needed.add(match.assignment_of(path, notebook.read(path), known))
        except (notebook.NotebookError, match.NoMatch):
            pass  # reported when the file itself is graded
    return needed


def grade_and_write(path: Path, settings: grade.Settings, out_dir: Path) -> dict:
    """The unit of work: grade one file, write its result JSON and feedback HTML."""
    result, executed, roles = grade.grade_file(path, settings)
    if executed is not None:
        result["feedback"] = str(report.write_feedback(out_dir, result, executed, roles))
    report.write_result(out_dir, result)
    return result


def grade_all(paths: list[Path], settings: grade.Settings, out_dir: Path, jobs: int = 1,
              echo=print) -> list[dict]:
    """Grade everything under ``paths`` into ``out_dir``; return every result."""
    files, results = find_submissions(paths)
    for result in results:
        report.write_result(out_dir, result)
        echo(report.line(result))
    for assignment in sorted(needed_assignments(files, settings)):
        try:
            grade.reference_results(assignment, settings)  # once, before the workers start
        except (grade.ReferenceError, execute.StartError) as error:
            echo(f"REFERENCE PROBLEM: {error}; its submissions are reported as errors")
    progress = tqdm(total=len(files), unit="notebook", disable=None, leave=False)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        futures = {pool.submit(grade_and_write, path, settings, out_dir): path for path in files}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # a grader fault on one file must not stop the batch
                result = _error(futures[future], f"{futures[future]}: the grader failed ({type(error).__name__}: {error})")
                report.write_result(out_dir, result)
            results.append(result)
            progress.update()
            progress.set_postfix(failed=sum(1 for r in results if r["error"] or r["stopped"]))
            progress.write(report.line(result)) if not progress.disable else echo(report.line(result))
    progress.close()
    return results
