"""The assignments: exercises/ is generated from solutions/, reveals nothing, and grades right.

Every solution scores full marks and every blank student copy scores 0 through the whole
sandboxed grading path. Plausible wrong answers per assignment are in
tests/test_assignments_01_04.py and tests/test_assignments_05_09.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from grading import notebook
from grading.generate import EXERCISES_DIR, SOLUTIONS_DIR, exercise_from_solution, notebook_text
from grading.grade import Settings, grade_file
from grading.notebook import BEGIN, END, NOTEBOOK_GLOB, strip_solutions

SOLUTIONS = sorted(SOLUTIONS_DIR.glob(NOTEBOOK_GLOB))
EXERCISES = sorted(EXERCISES_DIR.glob(NOTEBOOK_GLOB))
by_name = pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)


# ---------------------------------------------------------------- the generator

def test_exercises_match_solutions():
    """exercises/ is exactly what `make exercises` writes: no hand edits, no drift."""
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS], \
        "exercises/ and solutions/ hold different notebooks: run `make exercises`"
    for solution in SOLUTIONS:
        expected = notebook_text(exercise_from_solution(notebook.read(solution), solution.stem))
        actual = (EXERCISES_DIR / solution.name).read_text(encoding="utf-8")
        assert actual == expected, f"exercises/{solution.name} differs from its solution: run `make exercises`"


def test_generation_is_deterministic_and_leaves_the_solution_alone():
    solution = notebook.read(SOLUTIONS[0])
    before = notebook_text(solution)
    first, second = (notebook_text(exercise_from_solution(solution, "x")) for _ in range(2))
    assert first == second and notebook_text(solution) == before


def test_strip_solutions_keeps_indentation_and_prompts_for_written_answers():
    code = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ny = 1"
    assert strip_solutions(code, code=True) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = 1"
    text = "**Answer 1.1.**\n### BEGIN SOLUTION\nBecause.\nReally.\n### END SOLUTION"
    assert strip_solutions(text, code=False) == "**Answer 1.1.**\nYOUR ANSWER HERE"
    with pytest.raises(ValueError, match="without"):
        strip_solutions("### BEGIN SOLUTION\nx = 1", code=True)


@by_name
def test_every_question_has_a_check_and_a_probe(solution):
    nb = notebook.read(solution)
    checks = notebook.checks(nb)
    assert checks, f"{solution.name} has no '# CHECK <question> (<n> points)' cell"
    probed = {notebook.probe_question(cell) for cell in nb.cells} - {None}
    assert set(checks) == probed, f"{solution.name}: checks {sorted(checks)} but probes {sorted(probed)}"
    assert sum(notebook.is_probe_setup(cell) for cell in nb.cells) == 1, f"{solution.name}: one '# PROBE SETUP' cell"


@by_name
def test_exercise_metadata_for_matching_and_nbgrader(solution):
    exercise = notebook.read(EXERCISES_DIR / solution.name)
    assert exercise.metadata["workbook_assignment"] == {"id": solution.stem}
    for cell in exercise.cells:
        header = notebook.check_header(cell)
        if header:
            meta = cell.metadata["nbgrader"]
            assert meta["grade"] and meta["locked"] and not meta["solution"] and meta["points"] == header[1]
        elif {"# YOUR CODE HERE", "YOUR ANSWER HERE"} & {line.strip() for line in cell.source.splitlines()}:
            assert cell.metadata["nbgrader"]["solution"], f"{solution.name}: answer cell without nbgrader metadata"
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


# ---------------------------------------------------------------- nothing leaks

def _simple(node) -> bool:
    return isinstance(node, (ast.Name, ast.Constant, ast.Attribute))


def _building_block(tree) -> bool:
    """A name, a tuple of names or a call on plain names (``f(x, y)``): no answer by itself."""
    if isinstance(tree, ast.Tuple):
        return all(_simple(item) for item in tree.elts)
    if isinstance(tree, ast.Call):
        return all(_simple(arg) for arg in tree.args) and all(_simple(k.value) for k in tree.keywords)
    return _simple(tree)


TRIVIAL = re.compile(r"^(return|pass|else:|try:|\)|\]|\}|import \w+|[\w.]+\(\)|plt\.show\(\)|print\(\))?$")


def _marked_lines(cell):
    """``(stripped line, inside an answer block)`` for every non-marker line of a cell."""
    inside = False
    for line in cell.source.splitlines():
        marker = line.strip()
        if marker in (BEGIN, END):
            inside = marker == BEGIN
        elif marker:
            yield marker, inside


def _answer_and_hidden_lines(nb) -> set[str]:
    """Lines only the solution holds: inside answer blocks, probes and solution-only cells."""
    hidden, public = set(), set()
    for cell in nb.cells:
        secret_cell = notebook.is_solution_only(cell)
        for line, inside in _marked_lines(cell):
            (hidden if secret_cell or inside else public).add(line)
    return {line for line in hidden - public if not TRIVIAL.match(line) and not line.startswith("#")}


def _answer_expressions(nb) -> set[str]:
    """The expressions the answer blocks compute (``return X``, ``name = X``), written compactly.

    Prose may name a function to use; the student copy's code (checks, given code) must not
    hold the expression itself.
    """
    found = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or not notebook.has_solution(cell):
            continue
        for line, inside in _marked_lines(cell):
            if inside:
                expression = re.sub(r"^(return\s+|[\w, \[\]\"'.]+?\s*=\s*)", "", line)
                try:
                    tree = ast.parse(expression, mode="eval").body
                except SyntaxError:
                    continue
                if _building_block(tree):
                    continue
                compact = re.sub(r"\s+", "", expression)
                if len(compact) >= 14:
                    found.add(compact)
    return found


@by_name
def test_student_copy_reveals_no_answer(solution):
    nb = notebook.read(solution)
    exercise = notebook.read(EXERCISES_DIR / solution.name)
    text = "\n".join(cell.source for cell in exercise.cells)
    assert BEGIN not in text and END not in text
    lines = {line.strip() for line in text.splitlines()}
    leaked = sorted(_answer_and_hidden_lines(nb) & lines)
    assert not leaked, f"exercises/{solution.name} holds solution-only lines: {leaked[:5]}"
    code = re.sub(r"\s+", "", "\n".join(cell.source for cell in exercise.cells if cell.cell_type == "code"))
    leaked = sorted(expr for expr in _answer_expressions(nb) if expr in code)
    assert not leaked, f"exercises/{solution.name} holds reference expressions: {leaked[:5]}"
    assert not [c for c in exercise.cells if c.cell_type == "markdown" and c.source.lstrip("# ").startswith("Summary")], \
        f"exercises/{solution.name}: the Summary answers the questions; mark it <!-- SOLUTION ONLY -->"


# ---------------------------------------------------------------- the whole grading path

@pytest.fixture(scope="module")
def settings(grading_settings):
    return grading_settings


def _points(path: Path, settings: Settings) -> dict:
    result, _, _ = grade_file(path, settings)
    assert result["error"] is None, result["error"]
    assert result["stopped"] is None, result["stopped"]
    return {v["question"]: (v["points"], v["max_points"], v["status"]) for v in result["verdicts"]}


@by_name
def test_solution_scores_full_marks_in_the_sandbox(solution, settings):
    scores = _points(solution, settings)
    short = {q: status for q, (got, most, status) in scores.items() if got != most}
    assert not short, f"{solution.name} loses points: {short}"


@by_name
def test_blank_student_copy_scores_zero_in_the_sandbox(solution, settings):
    scores = _points(EXERCISES_DIR / solution.name, settings)
    scored = [q for q, (got, _, _) in scores.items() if got]
    assert not scored, f"exercises/{solution.name} scores with no answer: {scored}"


# ---------------------------------------------------------------- attacks on the real assignments

ATTACKS = {  # the attacks, each added to a blank student copy
    "03_realsoftmax": "import torch\ntorch.allclose = lambda *a, **k: True\n"
                      "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "07_numerical_limits": "DTYPES = ()",
    "01_hyperparameters": "import utils.data\nusing_stand_in = lambda: True\nutils.data.using_stand_in = lambda: True",
}


@pytest.mark.parametrize("assignment", sorted(ATTACKS))
def test_attacks_on_a_blank_copy_score_zero(assignment, settings, tmp_path):
    nb = notebook.read(EXERCISES_DIR / f"{assignment}.ipynb")
    nb.cells.insert(1, nbformat.v4.new_code_cell(ATTACKS[assignment]))
    nb.cells.append(nbformat.v4.new_code_cell(ATTACKS[assignment]))
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    result, _, _ = grade_file(path, settings)
    scored = [v["question"] for v in result["verdicts"] if v["points"]]
    assert result["verdicts"] and not scored, f"{assignment}: the attack scores {scored}"
