"""Grade one submission: match it, build its run, run it in the sandbox, judge it.

``grade_file`` is the self-contained unit of work (one file in, one result out) that
``batch`` runs in parallel and that a cluster could run one per task. The reference values
for each assignment come from the same pipeline on the solution, run once in a clean
sandbox and cached by the solution's content.
"""

from __future__ import annotations

import builtins
import copy
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading import assemble, execute, forbid, judge, match, notebook
from grading.generate import REPO_ROOT, SOLUTIONS_DIR
from grading.sandbox import Limits


class ReferenceError(RuntimeError):
    """The solution notebook itself does not run or record what its checks need."""


@dataclass(frozen=True)
class Settings:
    """How to grade: where the solutions and data are, limits, sandbox or not."""

    data_root: Path
    solutions_dir: Path = SOLUTIONS_DIR
    limits: Limits = field(default_factory=Limits)
    sandbox: bool = True
    cache_dir: Path = REPO_ROOT / "build" / "grading" / "references"


def assignments(settings: Settings) -> dict[str, Path]:
    """``{assignment id: solution notebook}``."""
    return {path.stem: path for path in sorted(settings.solutions_dir.glob(notebook.NOTEBOOK_GLOB))}


def fingerprint(solution: Path, settings: Settings) -> str:
    """What the reference values depend on: the solution, the code that runs and records it
    (the grader's runner and recorder, the workbook's ``utils``), the library versions, the
    data's checksums and the limits. Any change gives a new cache entry."""
    import numpy
    import torch

    digest = hashlib.sha256(solution.read_bytes())
    code = [Path(__file__).with_name(name) for name in ("probe.py", "assemble.py", "runner.py")]
    code += sorted((REPO_ROOT / "utils").glob("*.py"))
    for path in code + [settings.data_root / "FashionMNIST" / "raw" / "MD5SUMS"]:
        digest.update(path.name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    digest.update(f"{sys.version} {torch.__version__} {numpy.__version__} {settings.limits}".encode())
    return digest.hexdigest()[:16]


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".part", delete=False) as file:
        file.write(text)
    os.replace(file.name, path)


def model_answers(solutions_dir: Path) -> dict[str, dict[str, str]]:
    """``{assignment: {written answer label: the solution's answer}}``, for the instructor."""
    answers: dict[str, dict[str, str]] = {}
    for path in sorted(solutions_dir.glob(notebook.NOTEBOOK_GLOB)):
        nb = notebook.read(path)
        answers[path.stem] = {assemble.written_label(nb, index): notebook.solution_text(cell)
                              for index, cell in enumerate(nb.cells) if notebook.is_written_answer(cell)}
    return answers


def _check_reference(assignment: str, reference_nb, run: execute.Run) -> dict:
    recorded = run.recorded
    if run.stopped or not recorded:
        raise ReferenceError(f"the solution of {assignment} did not run to the end: {run.stopped or 'nothing recorded'}")
    errors = [f"cell {index + 1}: {output['error'].get('ename')}: {output['error'].get('evalue')}"
              for index, output in sorted(run.outputs.items()) if output.get("error")]
    errors += [f"probe {question}: {error}" for question, error in run.errors.items()]
    if errors:
        raise ReferenceError(f"the solution of {assignment} raised errors: {'; '.join(errors[:3])}")
    for question in notebook.checks(reference_nb):
        judges = recorded["judges"].get(question)
        if not judges:
            raise ReferenceError(f"{assignment}: no probe records question {question}")
        for label, how in judges.items():
            if how["judge"] == "close" and (how.get("target") or label) not in recorded["values"][question]:
                raise ReferenceError(f"{assignment}, {question}: target {how.get('target')!r} was never recorded")
    return recorded


def reference_results(assignment: str, settings: Settings) -> dict:
    """What the probes record on the solution (computed once, then read from the cache).

    A solution that fails is cached as a failure too, so that it is not re-run per submission.
    """
    solution = assignments(settings)[assignment]
    cache = settings.cache_dir / f"{assignment}-{fingerprint(solution, settings)}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if "reference_error" in cached:
            raise ReferenceError(cached["reference_error"])
        return cached
    reference_nb = notebook.read(solution)
    run = _execute(assemble.assemble(reference_nb, reference_nb), {}, settings)
    try:
        recorded = _check_reference(assignment, reference_nb, run)
    except ReferenceError as error:
        _write_atomically(cache, json.dumps({"reference_error": str(error)}))
        raise
    _write_atomically(cache, json.dumps(recorded, allow_nan=True))
    return recorded


@functools.lru_cache(maxsize=2)
def _test_data(data_root: Path):
    return judge.test_set(data_root)


def _uses_accuracy(reference: dict) -> bool:
    return any(how["judge"] == "accuracy" for labels in reference["judges"].values() for how in labels.values())


def _execute(built: assemble.Assembled, forbidden: dict[str, list[dict]], settings: Settings) -> execute.Run:
    return execute.run(built.code_cells(), built.probes, forbidden, settings.limits, settings.sandbox,
                       settings.data_root, assemble.recorder_source())


def forbidden_at_run_time(reference: dict) -> dict[str, list[dict]]:
    """``{question: [{"function", "names"}]}``: while the probes of that question call the
    student's function, these torch and NumPy functions raise (alternatives included)."""
    return {question: [{"function": rule["function"], "names": sorted(forbid.with_alternatives(rule["names"]))}
                       for rule in rules]
            for question, rules in reference.get("forbidden", {}).items()}


def probe_errors(run: execute.Run) -> dict[str, str]:
    """``{question: error name}``: only names of Python's own exceptions, written by the grader."""
    return {question: name if name.isidentifier() and isinstance(getattr(builtins, name, None), type) else "an error"
            for question, name in run.errors.items()}


def executed_notebook(built: assemble.Assembled, run: execute.Run):
    """The feedback notebook: the cells as run, with what each showed."""
    shown = nbformat.v4.new_notebook(metadata=built.nb.metadata)
    count = 0
    for index, cell in enumerate(built.nb.cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = outputs_of(run.outputs.get(index), count)
        shown.cells.append(cell)
    return shown


def outputs_of(message: dict | None, count: int) -> list:
    """nbformat outputs from one cell's message from the runner."""
    if not isinstance(message, dict):
        return []
    new = nbformat.v4.new_output
    outputs = [new("stream", name=name, text=message[name]) for name in ("stdout", "stderr")
               if isinstance(message.get(name), str) and message[name]]
    if isinstance(message.get("result"), str):
        outputs.append(new("execute_result", data={"text/plain": message["result"]}, execution_count=count))
    outputs += [new("display_data", data={"image/png": image}) for image in message.get("images", [])
                if isinstance(image, str)]
    error = message.get("error")
    if isinstance(error, dict):
        outputs.append(new("error", ename=str(error.get("ename", "")), evalue=str(error.get("evalue", "")),
                           traceback=str(error.get("traceback", "")).splitlines()))
    return outputs


def grade_file(path: Path, settings: Settings) -> tuple[dict, object | None, list[str]]:
    """Grade one file. Returns ``(result, executed notebook or None, cell roles)``.

    ``result`` is plain data: file, student, assignment, verdicts, written answers, and
    ``error`` (why the file could not be graded) or ``stopped`` (why the run ended early).
    """
    started = time.monotonic()
    result = {"file": str(path), "student": match.folder_of(path), "assignment": None,
              "verdicts": [], "written": {}, "missing_answers": [], "error": None, "stopped": None, "notes": [],
              "sandbox": settings.sandbox}
    try:
        nb = notebook.read(path)
        assignment = match.assignment_of(path, nb, list(assignments(settings)))
    except (notebook.NotebookError, match.NoMatch) as error:
        result["error"] = str(error)
        return result, None, []
    result["assignment"], result["student"] = assignment, match.student_of(path, assignment)
    reference_nb = notebook.read(assignments(settings)[assignment])
    built = assemble.assemble(reference_nb, nb)
    try:
        reference = reference_results(assignment, settings)
        run = _execute(built, forbidden_at_run_time(reference), settings)
    except execute.StartError as error:
        result["error"] = f"{path}: {error}; grade it again"
        return result, None, []
    except ReferenceError as error:
        result["error"] = f"{path}: not graded, the reference is broken: {error}"
        return result, None, []
    executed = executed_notebook(built, run)
    test_data = _test_data(settings.data_root) if _uses_accuracy(reference) else None
    verdicts = judge.verdicts(notebook.checks(reference_nb), reference, run.recorded, built.student_code,
                              run.stopped, test_data, probe_errors(run))
    result.update(verdicts=[v.as_dict() for v in verdicts], written=built.written,
                  missing_answers=built.missing_answers, stopped=run.stopped, notes=_limit_notes(executed, settings.limits),
                  seconds=round(time.monotonic() - started, 2))
    return result, executed, built.roles


def _limit_notes(executed, limits: Limits) -> list[str]:
    """Cells that ran into the memory limit (the allocation failed with MemoryError)."""
    notes = []
    for index, cell in enumerate(executed.cells):
        if any(output.get("ename") == "MemoryError" for output in cell.get("outputs", [])):
            first = cell.source.strip().split("\n", 1)[0][:60]
            notes.append(f"cell {index + 1} ({first!r}) ran out of memory "
                         f"(limit {limits.memory_bytes / 1024**3:g} GiB per process)")
    return notes
