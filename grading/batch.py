"""Grade many submissions: find them, compute the references once, grade in parallel.

One Dask task per submission, on a named cluster or on local worker processes; each
assignment's reference is one task that its submissions' tasks depend on. Results are
written as they arrive, each atomically, so an interrupted batch loses nothing: run again,
it grades only what has no result for the same bytes and reference. A worker that dies
loses only its running task, which Dask runs again elsewhere.

A bad input (missing, unreadable, not a notebook, no assignment) costs one line in the
report and the batch goes on. Only regular files are submissions: symbolic links, folders
reached through them, pipes and devices are refused unread (so nothing found lies outside the
folders the instructor named), and so are names that are not valid UTF-8. A fault of the
grader on one file (judging, feedback) costs that file's grade, never its row. Progress (done/total, failures, time left) shows on a
terminal and stays out of CI logs.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from distributed import Client, Future, as_completed
from tqdm import tqdm

from grading import cluster, grade, match, notebook, report
from grading.result import Result, failed


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
    return failed(path, message).to_dict()


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


def grade_all(paths: list[Path], settings: grade.Settings, out_dir: Path, jobs: int = 1, echo=print,
              scheduler: str | None = None, scheduler_file: str | None = None) -> list[dict]:
    """Grade everything under ``paths`` into ``out_dir``; return every result.

    On the Dask cluster at ``scheduler`` (or named in ``scheduler_file``), else on ``jobs``
    local worker processes. cluster.CannotGrade when no worker can grade.
    """
    files, errors = find_submissions(paths)
    results = [Result.from_dict(error) for error in errors]
    known = grade.editions(settings)
    fingerprints: dict[str, str] = {}
    pending = []
    for path in files:
        try:
            submission = grade.read_submission(path, known)
        except (notebook.NotebookError, match.NoMatch) as error:
            results.append(failed(path, str(error), settings.sandbox))
            continue
        if submission.edition not in fingerprints:
            fingerprints[submission.edition] = grade.fingerprint(known[submission.edition], settings)
        done = _already_graded(out_dir, submission, fingerprints[submission.edition], settings)
        if done:
            echo(report.line(done.to_dict()) + "  (already graded)")
            results.append(done)
        else:
            pending.append(submission)
    for result in results:
        if result.error:
            _write_result(out_dir, result)
            echo(report.line(result.to_dict()))
    if pending:
        with cluster.connect(settings, jobs, scheduler, scheduler_file, echo) as client:
            needed = {edition: fingerprints[edition] for edition in {s.edition for s in pending}}
            references = _submit_references(client, known, needed, settings)
            results += _grade_on(client, pending, references, settings, out_dir, echo)
    return [result.to_dict() for result in results]


def _already_graded(out_dir: Path, submission: grade.Submission, reference: str,
                    settings: grade.Settings) -> Result | None:
    """The stored result of these very bytes against this reference, if it graded them."""
    path = report.result_path(out_dir, {"student": submission.student, "file": submission.file}, ".json")
    try:
        old = Result.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):  # none, half-written, or not a result
        return None
    same = (old.sha256, old.reference, old.sandbox) == (submission.sha256, reference, settings.sandbox)
    return old if same and not old.error else None


def _submit_references(client: Client, known: dict[str, Path], fingerprints: dict[str, str],
                       settings: grade.Settings) -> dict[str, Future]:
    """One task per edition (an assignment, or its translation), keyed by its fingerprint:
    computed once per cluster."""
    return {edition: client.submit(grade.compute_reference, edition, known[edition].read_bytes(), key,
                                   settings, key=f"reference-{edition}-{key}",
                                   resources={cluster.GRADER: 1}, retries=1)
            for edition, key in sorted(fingerprints.items())}


def _grade_on(client: Client, submissions: list[grade.Submission], references: dict[str, Future],
              settings: grade.Settings, out_dir: Path, echo) -> list[Result]:
    """Grade ``submissions``, one task each, writing each result as it arrives."""
    tasks = {client.submit(cluster.grade_task, submission, references[submission.edition], settings,
                           resources={cluster.GRADER: 1}, retries=1): submission for submission in submissions}
    results = []
    progress = tqdm(total=len(tasks), unit="notebook", disable=None, leave=False)
    for future in as_completed([*references.values(), *tasks]):
        if future not in tasks:
            _check_reference(future, echo)
            continue
        result = _collect(future, tasks[future], settings, out_dir)
        results.append(result)
        progress.update()
        progress.set_postfix(failed=sum(1 for r in results if r.error or r.stopped))
        progress.write(report.line(result.to_dict())) if not progress.disable else echo(report.line(result.to_dict()))
    progress.close()
    return results


def _check_reference(future: Future, echo) -> None:
    try:
        problem = future.result().error
    except Exception as error:  # the solution's run did not start: its submissions say so too
        problem = f"{type(error).__name__}: {error}"
    if problem:
        echo(f"REFERENCE PROBLEM: {problem}; its submissions are reported as errors")


def _collect(future: Future, submission: grade.Submission, settings: grade.Settings, out_dir: Path) -> Result:
    """The task's result, its feedback written; a grader fault is this file's error, the batch goes on."""
    try:
        result, html = future.result()
    except Exception as error:
        result, html = grade.result_of(submission, settings), None
        result.error = f"{submission.file}: the grader failed ({type(error).__name__}: {error})"
    if html is not None:
        target = report.result_path(out_dir, result.to_dict(), ".html")
        grade.write_atomically(target, html)
        result.feedback = str(target)
    _write_result(out_dir, result)
    return result


def _write_result(out_dir: Path, result: Result) -> None:
    data = result.to_dict()
    grade.write_atomically(report.result_path(out_dir, data, ".json"), json.dumps(data, indent=1, allow_nan=True))
