"""The notebook that is actually run for a submission.

It is built from the reference (the solution), never from the submission: given code,
probes and their set-up come from the reference; from the submission only the source of
its answer cells (matched by cell id, then by nbgrader ``grade_id``) and of cells the
student added (kept after the cell they followed). Outputs, execution counts, tags and
metadata of the submission are not carried over. Self-checks, solution-only cells and
cells marked ``# SKIP WHEN GRADING`` are not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading import notebook

PROBE_SOURCE = Path(__file__).with_name("probe.py")


@dataclass
class Assembled:
    """The notebook to run, the role of each of its cells, and the student's code."""

    nb: object
    roles: list[str] = field(default_factory=list)  # given, answer, added, probe, setup, save
    student_code: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # question label -> text
    missing_answers: list[str] = field(default_factory=list)


def probe_setup_source() -> str:
    """The recorder's own text, run as a module named ``probe`` in the student's kernel."""
    text = PROBE_SOURCE.read_text(encoding="utf-8")
    return ("import types as _types\n"
            "probe = _types.ModuleType('probe')\n"
            f"exec(compile({text!r}, 'probe.py', 'exec'), probe.__dict__)\n"
            "del _types")


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


def written_label(reference, index: int) -> str:
    """A label for a written answer: the ``**Answer 3.2.**`` line, else the heading before it."""
    first = notebook.first_line(reference.cells[index]).strip("* ")
    if first.lower().startswith("answer"):
        return first.rstrip(".")
    for cell in reversed(reference.cells[:index]):
        if cell.cell_type == "markdown" and cell.source.startswith("#"):
            return notebook.first_line(cell).lstrip("# ")
    return f"cell {index}"


def assemble(reference, submission, results_path: str) -> Assembled:
    """Build the run for ``submission`` against ``reference``; the recorder saves to ``results_path``."""
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
        if notebook.is_probe_setup(cell):
            add(probe_setup_source(), "setup")
        elif notebook.probe_question(cell):
            add(cell.source, "probe")
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
        elif notebook.check_header(cell) or notebook.is_solution_only(cell) or notebook.skipped_when_grading(cell):
            continue
        elif cell.cell_type in ("code", "markdown"):
            add(cell.source, "given", markdown)
        for extra in added.get(cell.id, []):
            add(extra.source, "added", extra.cell_type == "markdown")
    add(f"probe.save({results_path!r})", "save")
    return out
