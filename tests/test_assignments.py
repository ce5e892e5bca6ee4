"""The assignments: exercises/ is generated from solutions/, every check is real, grading works.

Grading runs notebooks in fresh kernels, so the slow tests here are a handful of
notebook runs of a few seconds each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from utils.assignments import (
    BEGIN, END, EXERCISES_DIR, NOTEBOOK_GLOB, SOLUTIONS_DIR, check_header, exercise_from_solution,
    format_table, grade_notebook, notebook_text, strip_solutions,
)

SOLUTIONS = sorted(SOLUTIONS_DIR.glob(NOTEBOOK_GLOB))
EXERCISES = sorted(EXERCISES_DIR.glob(NOTEBOOK_GLOB))


def read(path: Path):
    return nbformat.read(path, as_version=4)


def checks_of(nb) -> list[str]:
    return [check_header(cell)[0] for cell in nb.cells if check_header(cell)]


def answer_only_lines(nb) -> set[str]:
    """Stripped lines that occur inside solution blocks and nowhere else in the notebook."""
    inside, outside = set(), set()
    for cell in nb.cells:
        in_block = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker in (BEGIN, END):
                in_block = marker == BEGIN
            elif marker:
                (inside if in_block else outside).add(marker)
    return inside - outside


# ---------------------------------------------------------------- the generator

def test_solutions_exist():
    assert SOLUTIONS, f"no notebooks in {SOLUTIONS_DIR}"


def test_exercises_match_solutions():
    """exercises/ is exactly what `make exercises` writes: no hand edits, no drift."""
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS], \
        "exercises/ and solutions/ hold different notebooks: run `make exercises`"
    for solution in SOLUTIONS:
        expected = notebook_text(exercise_from_solution(read(solution)))
        actual = (EXERCISES_DIR / solution.name).read_text(encoding="utf-8")
        assert actual == expected, f"exercises/{solution.name} differs from its solution: run `make exercises`"


def test_generation_is_deterministic_and_leaves_the_solution_alone():
    solution = read(SOLUTIONS[0])
    before = notebook_text(solution)
    assert notebook_text(exercise_from_solution(solution)) == notebook_text(exercise_from_solution(solution))
    assert notebook_text(solution) == before


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_has_checks(solution):
    nb = read(solution)
    questions = checks_of(nb)
    assert questions, f"{solution.name} has no '# CHECK <question> (<n> points)' cell"
    assert len(questions) == len(set(questions)), f"{solution.name}: a question is checked twice: {questions}"
    assert any(BEGIN in cell.source for cell in nb.cells), f"{solution.name} has no answer to hide"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_exercise_holds_no_solution(solution):
    exercise = read(EXERCISES_DIR / solution.name)
    text = "\n".join(cell.source for cell in exercise.cells)
    assert BEGIN not in text and END not in text
    leaked = answer_only_lines(read(solution)) & {line.strip() for line in text.splitlines()}
    assert not leaked, f"exercises/{solution.name} still contains answer lines: {sorted(leaked)}"
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"exercises/{solution.name}: outputs left"
    assert checks_of(exercise) == checks_of(read(solution))


def test_strip_solutions_keeps_indentation_and_prompts_for_written_answers():
    code = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ny = 1"
    assert strip_solutions(code, code=True) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = 1")
    text = "**Answer 1.1.**\n### BEGIN SOLUTION\nBecause.\nReally.\n### END SOLUTION"
    assert strip_solutions(text, code=False) == "**Answer 1.1.**\nYOUR ANSWER HERE"
    with pytest.raises(ValueError, match="without"):
        strip_solutions("### BEGIN SOLUTION\nx = 1", code=True)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.stem)
def test_nbgrader_metadata_on_generated_cells(exercise):
    stubs = {"# YOUR CODE HERE", "YOUR ANSWER HERE"}
    for cell in read(exercise).cells:
        header = check_header(cell)
        if header:
            meta = cell.metadata["nbgrader"]
            assert meta["grade"] and meta["locked"] and not meta["solution"] and meta["points"] == header[1]
        elif stubs & {line.strip() for line in cell.source.splitlines()}:
            assert cell.metadata["nbgrader"]["solution"], f"{exercise.name}: answer cell without nbgrader metadata"


# ---------------------------------------------------------------- every check is real

@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.stem)
def test_unanswered_exercise_scores_zero(exercise):
    results = grade_notebook(exercise)
    assert results, f"{exercise.name}: no checks graded"
    scored = [r for r in results if r.points]
    assert not scored, f"{exercise.name}: checks pass with no answer: {[r.question for r in scored]}"
    assert all(r.status != "passed" for r in results)


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake: replace `old` by `new` in the solution; exactly `fails` must fail."""

    notebook: str
    old: str
    new: str
    fails: frozenset[str]

    def __str__(self) -> str:
        return f"{self.notebook}: {self.new.strip()[:40]}"


def grade_wrong_answer(case: WrongAnswer, tmp_path: Path):
    source = SOLUTIONS_DIR / case.notebook
    if not source.exists():
        pytest.skip(f"solutions/{case.notebook} is not written yet")
    nb = read(source)
    hits = [cell for cell in nb.cells if case.old in cell.source]
    assert len(hits) == 1 and hits[0].source.count(case.old) == 1, \
        f"{case.notebook}: the answer code to change ({case.old!r}) must occur exactly once"
    hits[0].source = hits[0].source.replace(case.old, case.new)
    target = tmp_path / case.notebook  # same name: graded against the real solution's checks
    nbformat.write(nb, target)
    results = grade_notebook(target)
    failed = {r.question for r in results if not r.passed}
    assert failed == case.fails, (
        f"{case}: expected exactly {sorted(case.fails)} to fail, got {sorted(failed)}\n{format_table(results)}")


# ---- wrong answers: assignments 03-07 (no data, seconds each)
WRONG_ANSWERS = [
    WrongAnswer("03_realsoftmax.ipynb",  # the hard maximum instead of LogSumExp
                "return torch.logsumexp(lam * x, dim=-1) / lam",
                "return (lam * x).max(dim=-1).values / lam", frozenset({"3.7"})),
    WrongAnswer("04_temperature.ipynb",  # alpha = T instead of 1 / T
                "return 1 / k", "return k", frozenset({"4.4"})),
    WrongAnswer("05_exponential_family.ipynb",  # the variances without the covariances
                "return torch.diag(p) - torch.outer(p, p)", "return torch.diag(p)", frozenset({"5.2"})),
    WrongAnswer("06_log_partition.ipynb",  # the book's g(x - b) = g(x): forgets to add b back
                "return (b + torch.log(torch.exp(x - b).sum(dim=-1, keepdim=True))).squeeze(-1)",
                "return torch.log(torch.exp(x - b).sum(dim=-1, keepdim=True)).squeeze(-1)", frozenset({"6.2"})),
    WrongAnswer("07_numerical_limits.ipynb",  # the smallest normal number instead of a search
                "return last_good(dtype, 0.0, -1000.0, lambda x: bool(torch.exp(x) > 0))",
                "return math.log(torch.finfo(dtype).tiny)", frozenset({"7.3"})),
]


@pytest.mark.parametrize("case", WRONG_ANSWERS, ids=str)
def test_wrong_answer_fails_its_check(case, tmp_path):
    grade_wrong_answer(case, tmp_path)


# ---- wrong answers: assignments 01-02 (training; cases added with those solutions)
TRAINING_WRONG_ANSWERS: list[WrongAnswer] = []


@pytest.mark.parametrize("case", TRAINING_WRONG_ANSWERS, ids=str)
def test_training_wrong_answer_fails_its_check(case, tmp_path):
    grade_wrong_answer(case, tmp_path)


@pytest.mark.parametrize("number", [f"{n:02d}" for n in range(1, 8)])
def test_every_assignment_has_a_wrong_answer_case(number):
    present = sorted(SOLUTIONS_DIR.glob(f"{number}_*.ipynb"))
    if not present:
        pytest.skip(f"no solutions/{number}_*.ipynb yet")
    covered = {case.notebook for case in WRONG_ANSWERS + TRAINING_WRONG_ANSWERS}
    assert present[0].name in covered, f"{present[0].name} has no WrongAnswer case in this file"


# ---------------------------------------------------------------- the grader

def test_grader_scores_checks_around_an_error_and_uses_the_reference_checks(tmp_path):
    reference = new_notebook(cells=[
        new_code_cell("x = 1"),
        new_code_cell("# CHECK 1.1 (1 point)\nassert x == 1"),
        new_code_cell("# CHECK 1.2 (2 points)\nassert x == 1, 'x changed'"),
        new_code_cell("# CHECK 1.3 (1 point)\nassert x == 2, 'x should be 2'"),
        new_code_cell("# CHECK 1.4 (3 points)\nassert True"),
    ])
    submission = new_notebook(cells=[
        new_markdown_cell("A submission that breaks part-way and edits a check."),
        new_code_cell("x = 1"),
        new_code_cell("# CHECK 1.1 (1 point)\nassert x == 1"),
        new_code_cell("raise ValueError('boom')"),
        new_code_cell("# CHECK 1.2 (2 points)\nassert x == 1, 'x changed'"),
        new_code_cell("# CHECK 1.3 (1 point)\npass  # edited by the student"),
        new_code_cell("# CHECK 9.9 (5 points)\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION"),
        new_code_cell("# CHECK 8.8 (5 points)\nassert True  # not one of the reference's checks"),
    ])
    for nb in (reference, submission):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(reference, tmp_path / "reference.ipynb")
    nbformat.write(submission, tmp_path / "submission.ipynb")

    results = grade_notebook(tmp_path / "submission.ipynb", reference=tmp_path / "reference.ipynb")

    by_question = {r.question: r for r in results}
    assert list(by_question) == ["1.1", "1.2", "1.3", "1.4"]
    assert by_question["1.1"].points == 1 and by_question["1.2"].points == 2  # before and after the error
    assert by_question["1.3"].points == 0 and by_question["1.3"].status == "AssertionError: x should be 2"
    assert by_question["1.4"].points == 0 and by_question["1.4"].status == "missing"
    table = format_table(results)
    assert "1.3" in table and table.splitlines()[-1].split()[:3] == ["total", "3", "7"]


# ================================================================ assignments 01-02 (training)
# Appended with solutions/01_hyperparameters and 02_overfitting. One full-run case per
# notebook joins TRAINING_WRONG_ANSWERS above (about 20-30 s each); the other mistakes are
# graded on the notebook cut just after the check they must trip, which keeps them fast.

TRAINING_WRONG_ANSWERS.extend([
    WrongAnswer("01_hyperparameters.ipynb",  # picks the setting with the LOWEST validation accuracy
                "return max(results, key=results.get)", "return min(results, key=results.get)",
                frozenset({"1.7", "1.9", "1.11", "1.12"})),
    WrongAnswer("02_overfitting.ipynb",  # keeps a live state_dict: "restores" the last epoch's weights
                "best, best_state = epoch, copy.deepcopy(net.state_dict())",
                "best, best_state = epoch, net.state_dict()", frozenset({"2.5"})),
])

# A test-set evaluation in place of the validation one (tuning on the test set).
_TUNED_ON_TEST = (
    "test_images, test_labels = load_fashion_mnist_tensors(train=False)\n"
    "test_batches = BatchIterator(standardize(to_float_images(test_images), train_mean, train_scale),\n"
    "                             test_labels, 10_000, shuffle=False)\n"
    "lr_results = {lr: evaluate_accuracy(train_linear(X_train_s, y_train, lr, SWEEP_BATCH, SWEEP_EPOCHS),\n"
    "                                    test_batches)"
)
EARLY_WRONG_ANSWERS = [  # (case, the check after which the notebook is cut)
    (WrongAnswer("01_hyperparameters.ipynb",  # statistics of all 60,000 images: the validation part leaks in
                 "train_mean, train_scale = pixel_statistics(X_train)",
                 "train_mean, train_scale = pixel_statistics(X_all)", frozenset({"1.3"})), "1.3"),
    (WrongAnswer("01_hyperparameters.ipynb",  # batches in file order
                 "batches = BatchIterator(X, y, batch_size, shuffle=True)",
                 "batches = BatchIterator(X, y, batch_size, shuffle=False)", frozenset({"1.4"})), "1.4"),
    (WrongAnswer("01_hyperparameters.ipynb",  # tunes the learning rate on the test set
                 "lr_results = {lr: validation_accuracy(train_linear(X_train_s, y_train, lr, SWEEP_BATCH, SWEEP_EPOCHS))",
                 _TUNED_ON_TEST, frozenset({"1.5"})), "1.5"),
    (WrongAnswer("02_overfitting.ipynb",  # forgets to pass the weight decay to the optimizer
                 "optimizer = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=weight_decay)",
                 "optimizer = torch.optim.SGD(net.parameters(), lr=lr)", frozenset({"2.1"})), "2.1"),
    (WrongAnswer("02_overfitting.ipynb",  # the gap the wrong way round
                 'return curves["train"][index] - curves["val"][index]',
                 'return curves["val"][index] - curves["train"][index]', frozenset({"2.2"})), "2.2"),
]


@pytest.mark.parametrize("case, last_check", EARLY_WRONG_ANSWERS,
                         ids=lambda x: str(x) if isinstance(x, WrongAnswer) else f"cut after {x}")
def test_training_wrong_answer_fails_its_check_early(case, last_check, tmp_path):
    """The mistake trips its check while every check before it still passes."""
    nb = read(SOLUTIONS_DIR / case.notebook)
    hits = [cell for cell in nb.cells if case.old in cell.source]
    assert len(hits) == 1 and hits[0].source.count(case.old) == 1, \
        f"{case.notebook}: the answer code to change ({case.old!r}) must occur exactly once"
    hits[0].source = hits[0].source.replace(case.old, case.new)
    cut = next(i for i, cell in enumerate(nb.cells) if (check_header(cell) or ("",))[0] == last_check)
    nb.cells = nb.cells[:cut + 1]
    nbformat.write(nb, tmp_path / case.notebook)  # same name: graded against the real solution's checks
    results = grade_notebook(tmp_path / case.notebook)
    ran = [r for r in results if r.status != "missing"]
    assert ran and ran[-1].question == last_check, format_table(results)
    failed = {r.question for r in ran if not r.passed}
    assert failed == case.fails, (
        f"{case}: expected exactly {sorted(case.fails)} to fail, got {sorted(failed)}\n{format_table(results)}")
