"""Grade one submission: match it, build its run, run it in the sandbox, judge it.

``grade_submission`` is the self-contained unit of work (a submission's bytes and its
assignment's reference in, a result out) that ``batch`` runs as one task per file on a Dask
cluster; ``grade_file`` does the same for one path on this machine. The reference values for
each assignment come from the same pipeline on the solution, run once in a clean sandbox
and cached by the solution's content.
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

from grading import assemble, execute, forbid, judge, match, messages, notebook
from grading.generate import REPO_ROOT, SOLUTIONS_DIR
from grading.result import Result, failed
from grading.sandbox import Limits
from utils.messages import TRANSLATION_KEY




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
    # language -> folder of translated solutions; a submission in that language is graded against them
    translated_solutions: dict = field(default_factory=lambda: {"zh_CN": REPO_ROOT / "zh" / "solutions"})


@dataclass(frozen=True)
class Submission:
    """One handed-in file, read and matched once: all a worker needs to grade it."""

    file: str
    student: str
    assignment: str
    content: bytes
    language: str = messages.ENGLISH

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def edition(self) -> str:
        """The solution it is graded against: the assignment's, or its translation's."""
        return edition(self.assignment, self.language)


@dataclass(frozen=True)
class Reference:
    """An assignment's solution and what its probes recorded on it, or why the solution is broken."""

    assignment: str
    solution: bytes
    fingerprint: str
    recorded: dict | None = None
    error: str | None = None


def assignments(settings: Settings) -> dict[str, Path]:
    """``{assignment id: solution notebook}``."""
    return {path.stem: path for path in sorted(settings.solutions_dir.glob(notebook.NOTEBOOK_GLOB))}


def edition(assignment: str, language: str) -> str:
    return assignment if language == messages.ENGLISH else f"{assignment}.{language}"


def editions(settings: Settings) -> dict[str, Path]:
    """``{edition: solution}``: every assignment under its id, every translated solution of one
    under ``id.language`` (e.g. ``03_realsoftmax.zh_CN``)."""
    found = assignments(settings)
    for language, folder in settings.translated_solutions.items():
        found.update({edition(path.stem, language): path for path in sorted(Path(folder).glob(notebook.NOTEBOOK_GLOB))
                      if path.stem in found})
    return found


def language_of(nb, assignment: str, solutions: dict[str, Path]) -> str:
    """The language a notebook says it is in (``workbook_translation``), if that edition exists."""
    stamped = nb.metadata.get(TRANSLATION_KEY)
    language = stamped.get("language") if isinstance(stamped, dict) else None
    return language if isinstance(language, str) and edition(assignment, language) in solutions else messages.ENGLISH


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


def write_atomically(path: Path, text: str) -> None:
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


def compute_reference(assignment: str, solution: bytes, key: str, settings: Settings) -> Reference:
    """What the probes record on the solution, run once and then read from the cache (``key``
    is its fingerprint). A solution that fails is cached as a failure too, so that it is not
    re-run per submission."""
    cache = settings.cache_dir / f"{assignment}-{key}.json"
    if cache.is_file():
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if "reference_error" in cached:
            return Reference(assignment, solution, key, error=cached["reference_error"])
        return Reference(assignment, solution, key, recorded=cached)
    reference_nb = notebook.parse(solution, assignment)
    run = _execute(assemble.assemble(reference_nb, reference_nb), {}, settings)
    try:
        recorded = _check_reference(assignment, reference_nb, run)
    except ReferenceError as error:
        write_atomically(cache, json.dumps({"reference_error": str(error)}))
        return Reference(assignment, solution, key, error=str(error))
    write_atomically(cache, json.dumps(recorded, allow_nan=True))
    return Reference(assignment, solution, key, recorded=recorded)


def load_reference(assignment: str, settings: Settings, language: str = messages.ENGLISH) -> Reference:
    """The reference of ``assignment`` (in ``language``) from its solution."""
    key = edition(assignment, language)
    solution = editions(settings)[key]
    return compute_reference(key, solution.read_bytes(), fingerprint(solution, settings), settings)


def reference_results(assignment: str, settings: Settings) -> dict:
    """What the probes record on the solution; ReferenceError when the solution is broken."""
    reference = load_reference(assignment, settings)
    if reference.error:
        raise ReferenceError(reference.error)
    return reference.recorded


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
    return {question: name if name.isidentifier() and isinstance(getattr(builtins, name, None), type)
            else messages.say("an error")
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


def read_submission(path: Path, solutions: dict[str, Path]) -> Submission:
    """The file, read and matched to one of the assignments of ``solutions`` (from ``editions``),
    with its language; NotebookError or NoMatch."""
    content = notebook.read_bytes(path)
    nb = notebook.parse(content, path)
    assignment = match.assignment_of(path, nb, [name for name in solutions if "." not in name])
    return Submission(str(path), match.student_of(path, assignment), assignment, content,
                      language_of(nb, assignment, solutions))


def result_of(submission: Submission, settings: Settings, reference: str | None = None) -> Result:
    return Result(file=submission.file, student=submission.student, assignment=submission.assignment,
                  sandbox=settings.sandbox, sha256=submission.sha256, reference=reference, language=submission.language)


def grade_submission(submission: Submission, reference: Reference,
                     settings: Settings) -> tuple[Result, object | None, list[str]]:
    """Grade one submission against its reference: ``(result, executed notebook or None, cell roles)``,
    the reasons in the submission's language."""
    with messages.speaking(submission.language):
        return _grade_submission(submission, reference, settings)


def _grade_submission(submission: Submission, reference: Reference,
                      settings: Settings) -> tuple[Result, object | None, list[str]]:
    started = time.monotonic()
    result = result_of(submission, settings, reference.fingerprint)
    if reference.error:
        result.error = f"{submission.file}: not graded, the reference is broken: {reference.error}"
        return result, None, []
    reference_nb = notebook.parse(reference.solution, reference.assignment)
    built = assemble.assemble(reference_nb, notebook.parse(submission.content, submission.file))
    try:
        run = _execute(built, forbidden_at_run_time(reference.recorded), settings)
    except execute.StartError as error:
        result.error = f"{submission.file}: {error}; grade it again"
        return result, None, []
    executed = executed_notebook(built, run)
    test_data = _test_data(settings.data_root) if _uses_accuracy(reference.recorded) else None
    verdicts = judge.verdicts(notebook.checks(reference_nb), reference.recorded, run.recorded, built.student_code,
                              run.stopped, test_data, probe_errors(run))
    result.verdicts, result.written = [v.as_dict() for v in verdicts], built.written
    result.missing_answers, result.stopped = built.missing_answers, run.stopped
    result.notes = _limit_notes(executed, settings.limits)
    result.seconds = round(time.monotonic() - started, 2)
    return result, executed, built.roles


def grade_file(path: Path, settings: Settings) -> tuple[dict, object | None, list[str]]:
    """Grade one file on this machine: ``(result as a dict, executed notebook or None, cell roles)``."""
    try:
        submission = read_submission(path, editions(settings))
    except (notebook.NotebookError, match.NoMatch) as error:
        return failed(path, str(error), settings.sandbox).to_dict(), None, []
    try:
        reference = load_reference(submission.assignment, settings, submission.language)
    except execute.StartError as error:
        result = result_of(submission, settings)
        result.error = f"{path}: {error}; grade it again"
        return result.to_dict(), None, []
    result, executed, roles = grade_submission(submission, reference, settings)
    return result.to_dict(), executed, roles


def _limit_notes(executed, limits: Limits) -> list[str]:
    """Cells that ran into the memory limit (the allocation failed with MemoryError)."""
    notes = []
    for index, cell in enumerate(executed.cells):
        if any(output.get("ename") == "MemoryError" for output in cell.get("outputs", [])):
            first = cell.source.strip().split("\n", 1)[0][:60]
            notes.append(f"cell {index + 1} ({first!r}) ran out of memory "
                         f"(limit {limits.memory_bytes / 1024**3:g} GiB per process)")
    return notes
