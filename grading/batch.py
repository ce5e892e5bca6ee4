"""Grade many submissions: find them, compute the references once, grade in parallel.

A bad input (missing, unreadable, not a notebook, no assignment) costs one line in the
report and the batch goes on. Only regular files are submissions: symbolic links, folders
reached through them, pipes and devices are refused unread (so nothing found lies outside the
folders the instructor named), and so are names that are not valid UTF-8. A fault of the
grader on one file (judging, feedback) costs that file's grade, never its row. Progress (done/total, failures, time left) shows on a
terminal and stays out of CI logs.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from grading import execute, grade, match, notebook, report


NOT_REGULAR = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe",
               stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def refusal(path: Path, folder_allowed: bool = False) -> str | None:
    """Why ``path`` is not read as a submission (or walked, for a folder), or None when it may be."""
    shown = report.displayable(str(path))
    if shown != str(path):
        return f"{shown}: the file name is not valid UTF-8; rename it"
    try:
        kind = stat.S_IFMT(path.lstat().st_mode)
    except OSError as error:
        return f"{shown}: cannot be read ({type(error).__name__})"
    if kind == stat.S_IFREG or (kind == stat.S_IFDIR and folder_allowed):
        return None
    return f"{shown}: not a regular file: {NOT_REGULAR.get(kind, 'an unknown kind of file')}; it was not read"


def _walk(root: Path) -> tuple[list[Path], list[dict]]:
    """The notebooks under ``root`` and an error per refused entry; symbolic links are never followed."""
    found, errors = [], []

    def unreadable(error: OSError) -> None:
        where = Path(error.filename or root)
        errors.append(_error(where, f"{report.displayable(str(where))}: cannot be read ({type(error).__name__})"))

    for folder, subfolders, files in os.walk(root, onerror=unreadable):
        for name in list(subfolders):
            problem = refusal(Path(folder, name), folder_allowed=True)
            if problem or name == ".ipynb_checkpoints":
                subfolders.remove(name)
            if problem:
                errors.append(_error(Path(folder, name), problem))
        for name in files:
            if name.endswith(".ipynb"):
                problem = refusal(Path(folder, name))
                errors.append(_error(Path(folder, name), problem)) if problem else found.append(Path(folder, name))
    return sorted(found), errors


def find_submissions(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """The notebooks named or inside the named folders, and an error result for each bad path."""
    found, errors = [], []
    for path in paths:
        if path.is_dir() and refusal(path, folder_allowed=True) is None:
            notebooks, refused = _walk(path)
            if not notebooks and not refused:
                errors.append(_error(path, f"{path}: a folder with no .ipynb files in it"))
            found += notebooks
            errors += refused
        elif path.exists() or path.is_symlink():
            problem = refusal(path)
            errors.append(_error(path, problem)) if problem else found.append(path)
        else:
            errors.append(_error(path, f"{report.displayable(str(path))}: no such file or folder"))
    return found, errors


def _error(path: Path, message: str) -> dict:
    return report.error_result(report.displayable(str(path)), report.displayable(match.folder_of(path)), message)


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
    problem = refusal(path)
    result = _error(path, problem) if problem else _graded(path, settings, out_dir)
    report.write_result(out_dir, result)
    return result


def _graded(path: Path, settings: grade.Settings, out_dir: Path) -> dict:
    """The result of one regular file; a grader fault becomes the file's error (its type only,
    since the message of an exception may hold the student's text)."""
    try:
        result, executed, roles = grade.grade_file(path, settings)
    except Exception as error:
        return _error(path, f"{path}: the grader could not grade it ({type(error).__name__})")
    if result["assignment"] is None:
        result["student"] = match.folder_of(path)
    if executed is not None:
        try:
            result["feedback"] = str(report.write_feedback(out_dir, result, executed, roles))
        except Exception as error:
            result["error"] = f"{path}: the grader could not write the feedback ({type(error).__name__})"
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
                result = _error(futures[future], f"{futures[future]}: the grader failed ({type(error).__name__})")
                report.write_result(out_dir, result)
            results.append(result)
            progress.update()
            progress.set_postfix(failed=sum(1 for r in results if r["error"] or r["stopped"]))
            progress.write(report.line(result)) if not progress.disable else echo(report.line(result))
    progress.close()
    return results
