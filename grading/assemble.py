"""What is actually run for a submission: its cells, then the hidden probes, apart.

It is built from the reference (the solution), never from the submission: given code and
the probes come from the reference; from the submission only the source of its answer
cells (matched by cell id, then by nbgrader ``grade_id``) and of cells the student added
(kept right after the cell they followed, whatever that cell is). Outputs, execution
counts, tags and metadata of the submission are not carried over. Self-checks,
solution-only cells and cells marked ``# SKIP WHEN GRADING`` are not run. The probes are
kept apart: the runner gets them only after the cells ran (``grading.runner``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading import notebook

PROBE_SOURCE = Path(__file__).with_name("probe.py")


@dataclass
class Assembled:
    """The notebook as it is run (for the feedback), the role of each cell, the probes apart."""

    nb: object
    roles: list[str] = field(default_factory=list)  # given, answer, added
    probes: list[tuple[str, str]] = field(default_factory=list)  # (question, source), in order
    student_code: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # question label -> text
    missing_answers: list[str] = field(default_factory=list)

    def code_cells(self) -> list[tuple[int, str]]:
        """``(index, Python source)`` of the cells to run, IPython syntax turned into Python."""
        python = TransformerManager()
        return [(index, python.transform_cell(cell.source)) for index, cell in enumerate(self.nb.cells)
                if cell.cell_type == "code"]


def recorder_source() -> str:
    """The recorder (``grading/probe.py``), which the runner loads as ``probe`` for the probes."""
    return PROBE_SOURCE.read_text(encoding="utf-8")


def answer_keys(solution) -> dict[str, str]:
    """``{cell id: nbgrader grade_id}`` of the answer cells, numbered as the generator numbers them."""
    ids = [cell.id for cell in solution.cells if notebook.has_solution(cell)]
    return {cell_id: f"answer_{number}" for number, cell_id in enumerate(ids, start=1)}


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str) else None


def student_cells_by_reference(reference, submission) -> tuple[dict[str, object], dict[str, list]]:
    """Map the submission onto the reference.

    Returns ``(answers, added)``: the student's cell for each reference answer cell id, and
    the cells the student added, keyed by the id of the reference cell they follow
    (``""`` for cells before any known cell).
    """
    keys = answer_keys(reference)
    by_grade_id = {grade_id: cell_id for cell_id, grade_id in keys.items()}
    reference_ids = {cell.id for cell in reference.cells}
    kinds = {cell.id: cell.cell_type for cell in reference.cells}
    answers: dict[str, object] = {}
    added: dict[str, list] = {}
    anchor = ""
    for cell in submission.cells:
        cell_id = cell.get("id")
        known = cell_id if cell_id in reference_ids else by_grade_id.get(_grade_id(cell))
        if known and kinds.get(known) == cell.cell_type:
            if known in keys and known not in answers:
                answers[known] = cell
            anchor = known
        elif cell.cell_type in ("code", "markdown"):
            added.setdefault(anchor, []).append(cell)
    return answers, added


ANSWER_MARKERS = ("answer", "答案")  # how a written answer's first line starts, per edition


def written_label(reference, index: int) -> str:
    """A label for a written answer: the ``**Answer 3.2.**`` (``**答案 3.2.**``) line, else the heading before it."""
    first = notebook.first_line(reference.cells[index]).strip("* ")
    if first.lower().startswith(ANSWER_MARKERS):
        return first.rstrip(".")
    for cell in reversed(reference.cells[:index]):
        if cell.cell_type == "markdown" and cell.source.startswith("#"):
            return notebook.first_line(cell).lstrip("# ")
    return f"cell {index}"


def assemble(reference, submission) -> Assembled:
    """Build the run for ``submission`` against ``reference``."""
    answers, added = student_cells_by_reference(reference, submission)
    out = Assembled(nb=new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}}))

    def add(source: str, role: str, markdown: bool = False) -> None:
        out.nb.cells.append(new_markdown_cell(source) if markdown else new_code_cell(source))
        out.roles.append(role)
        if role in ("answer", "added") and not markdown:
            out.student_code.append(source)

    for cell in added.get("", []):
        add(cell.source, "added", cell.cell_type == "markdown")
    for index, cell in enumerate(reference.cells):
        markdown = cell.cell_type == "markdown"
        if notebook.probe_question(cell):
            out.probes.append((notebook.probe_question(cell), cell.source))
        elif notebook.has_solution(cell):
            mine = answers.get(cell.id)
            if mine is None:
                out.missing_answers.append(written_label(reference, index) if markdown else f"code cell {index}")
                source = notebook.strip_solutions(cell.source, code=not markdown)
            else:
                source = mine.source
            add(source, "answer", markdown)
            if markdown:
                out.written[written_label(reference, index)] = source
        elif not (notebook.check_header(cell) or notebook.is_solution_only(cell)
                  or notebook.skipped_when_grading(cell)) and cell.cell_type in ("code", "markdown"):
            add(cell.source, "given", markdown)
        for extra in added.get(cell.id, []):
            add(extra.source, "added", extra.cell_type == "markdown")
    return out
