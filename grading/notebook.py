"""The markers in ``solutions/`` and the role they give each cell."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_STUB = "YOUR ANSWER HERE"
CHECK_LINE = re.compile(r"^# CHECK (?P<question>\S+) \((?P<points>\d+) points?\)\s*$")
PROBE_LINE = re.compile(r"^# PROBE (?!SETUP\s*$)(?P<question>\S+)\s*$")
PROBE_SETUP = "# PROBE SETUP"
SOLUTION_ONLY = ("# SOLUTION ONLY", "<!-- SOLUTION ONLY -->")
SKIP_WHEN_GRADING = "# SKIP WHEN GRADING"
ASSIGNMENT_KEY = "workbook_assignment"  # notebook metadata: {"id": "03_realsoftmax"}
# Solution metadata, never in the student copy: {"3.2": ["log(1 + exp(-d))", ...]}, the key facts of
# each question's answer (checked questions and written answers alike), which nothing a student
# receives may hold (tests/test_answer_facts.py).
ANSWER_FACTS_KEY = "workbook_answer_facts"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
MAX_NOTEBOOK_BYTES = 50 * 1024**2


class NotebookError(ValueError):
    """A file that cannot be read as a notebook; the message says why."""


def read(path: str | Path):
    """The notebook at ``path`` (nbformat 4), or NotebookError saying what is wrong with it."""
    return parse(read_bytes(path), path)


def read_bytes(path: str | Path) -> bytes:
    """The file's content, or NotebookError when it is missing, unreadable or too large to be a notebook."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {path.stat().st_size / 1024**2:.0f} MB, larger than any real notebook "
                            f"({MAX_NOTEBOOK_BYTES // 1024**2} MB at most)")
    try:
        return path.read_bytes()
    except OSError as error:
        raise NotebookError(f"{path}: cannot be read ({error})") from None


def parse(content: bytes, name: str | Path):
    """The notebook in ``content`` (the file ``name``), or NotebookError saying what is wrong with it."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(f"{name}: cannot be read ({error})") from None
    if not text.strip():
        raise NotebookError(f"{name}: the file is empty")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several types for bad JSON or structure
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise NotebookError(f"{name}: not a valid Jupyter notebook ({reason[:200]})") from None
    return nb


def first_line(cell) -> str:
    return cell.source.split("\n", 1)[0].strip()


def has_solution(cell) -> bool:
    """True for a cell holding at least one ``### BEGIN SOLUTION`` line: an answer cell."""
    return any(line.strip() == BEGIN for line in cell.source.splitlines())


def check_header(cell) -> tuple[str, int] | None:
    """``(question, points)`` for a visible self-check, else None."""
    if cell.cell_type != "code" or has_solution(cell):
        return None
    match = CHECK_LINE.match(first_line(cell))
    return (match["question"], int(match["points"])) if match else None


def probe_question(cell) -> str | None:
    """The question a ``# PROBE q`` cell records, else None."""
    match = PROBE_LINE.match(first_line(cell)) if cell.cell_type == "code" else None
    return match["question"] if match else None


def is_probe_setup(cell) -> bool:
    return cell.cell_type == "code" and first_line(cell) == PROBE_SETUP


def is_solution_only(cell) -> bool:
    """Cells the student copy leaves out: probes, their set-up, and marked cells."""
    return first_line(cell) in SOLUTION_ONLY or is_probe_setup(cell) or probe_question(cell) is not None


def skipped_when_grading(cell) -> bool:
    return cell.cell_type == "code" and first_line(cell) == SKIP_WHEN_GRADING


def is_written_answer(cell) -> bool:
    return cell.cell_type == "markdown" and has_solution(cell)


def checks(nb) -> dict[str, int]:
    """``{question: points}`` of a notebook's self-checks, in order."""
    return {header[0]: header[1] for header in map(check_header, nb.cells) if header}


def answer_facts(nb) -> dict[str, list[str]]:
    """``{question: [fact, ...]}`` declared in a solution's metadata (empty when none)."""
    return dict(nb.metadata.get(ANSWER_FACTS_KEY, {}))


def solution_text(cell) -> str:
    """The text inside a cell's solution blocks (the model answer of a written question)."""
    inside, kept = False, []
    for line in cell.source.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            kept.append(line)
    return "\n".join(kept)


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
            out.extend(indent + stub for stub in CODE_STUB) if code else out.append(ANSWER_STUB)
        elif marker == END:
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)
