"""No answer reaches a student through prose, checks, outputs or the course.

Each solution declares the key facts of every question's answer in its notebook metadata
(``grading.notebook.ANSWER_FACTS_KEY``), e.g. ``{"3.2": ["log(1 + exp(-d))", ...]}``: a closed
form in the spellings a leak could use, a number, or a key phrase of a written answer. The
generator drops them from the student copy. Here every fact of every assignment is searched in
everything a student receives: the student copies (every cell's source, outputs and metadata,
and the notebook's metadata), the course notebooks, README.md and the book's own page
(book/intro.md; the book's other pages are the notebooks, the student copies and README
sections, scanned as such, see book/prepare.py).

Matching ignores case and the amount of whitespace; a fact with symbols (a formula) also
matches with every space removed or added; a fact that starts or ends with a letter or digit
must start or end a word ("1/T" is not found in "1/Temperature", nor "5/3" in "15/3").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from grading import notebook
from grading.assemble import written_label
from grading.generate import REPO_ROOT, SOLUTIONS_DIR, exercise_from_solution, nbgrader_source
from grading.notebook import ANSWER_FACTS_KEY, NOTEBOOK_GLOB

SOLUTIONS = sorted(SOLUTIONS_DIR.glob(NOTEBOOK_GLOB))
PENDING = {"05_exponential_family", "06_log_partition", "08_information_codes", "09_bradley_terry"}  # facts added elsewhere
# The Chinese edition (zh/) is scanned too: its code, formulas and numbers are the English ones.
STUDENT_NOTEBOOKS = sorted([*(REPO_ROOT / "exercises").glob(NOTEBOOK_GLOB), *(REPO_ROOT / "zh" / "exercises").glob(NOTEBOOK_GLOB)])
COURSE_NOTEBOOKS = sorted([*(REPO_ROOT / "notebooks").glob("*.ipynb"), *(REPO_ROOT / "zh" / "notebooks").glob("*.ipynb")])
STUDENT_PAGES = [REPO_ROOT / "README.md", REPO_ROOT / "README.zh-CN.md", REPO_ROOT / "book" / "intro.md",
                 REPO_ROOT / "book" / "intro.zh_CN.md"]
TEXT_OUTPUTS = ("text/plain", "text/markdown", "text/html", "text/latex", "image/svg+xml", "application/json")


# ---------------------------------------------------------------- the scan

def fact_pattern(fact: str) -> re.Pattern:
    """A regex for ``fact``: any case, any run of whitespace (and emphasis between the words of a phrase);
    formulas also with spaces removed or added."""
    text = " ".join(fact.split())
    if re.fullmatch(r"[\w ]+", text):
        body = r"[\s*_`]+".join(map(re.escape, text.split(" ")))  # words may carry markdown emphasis
    else:
        body = r"\s*".join(map(re.escape, text.replace(" ", "")))
    start = r"(?<!\w)" if re.match(r"\w", text) else ""
    end = r"(?!\w)" if re.search(r"\w$", text) else ""
    return re.compile(start + body + end, re.IGNORECASE)


def output_text(output) -> str:
    """The text a student sees in one output: stream text, text-like data, an error's traceback."""
    parts = [output.get("text", ""), output.get("ename", ""), output.get("evalue", "")]
    parts += output.get("traceback", [])
    data = output.get("data", {})
    parts += [value if isinstance(value, str) else json.dumps(value) for key, value in data.items() if key in TEXT_OUTPUTS]
    return "\n".join(parts)


def notebook_parts(path: Path, name: str):
    """``(where, text)`` for a notebook's metadata and, per cell, its source, outputs and metadata."""
    nb = nbformat.read(path, as_version=4)
    yield f"{name} metadata", json.dumps(nb.metadata, ensure_ascii=False)
    for index, cell in enumerate(nb.cells):
        outputs = "\n".join(output_text(output) for output in cell.get("outputs", []))
        yield f"{name} cell {index}", "\n".join([cell.source, outputs, json.dumps(cell.metadata, ensure_ascii=False)])


def page_parts(path: Path, name: str):
    """``(where, text)`` for each paragraph of a text page, named by its first line."""
    line = 1
    for paragraph in re.split(r"(\n\s*\n)", path.read_text(encoding="utf-8")):
        if paragraph.strip():
            yield f"{name} line {line + len(paragraph) - len(paragraph.lstrip(chr(10)))}", paragraph
        line += paragraph.count("\n")


def document_parts(path: Path, root: Path = REPO_ROOT):
    name = path.relative_to(root).as_posix()
    return notebook_parts(path, name) if path.suffix == ".ipynb" else page_parts(path, name)


def find_leaks(facts: dict[str, list[str]], parts) -> list[str]:
    """One line per fact found in a part: '<where> gives away <question>: <fact>'."""
    patterns = [(question, fact, fact_pattern(fact)) for question, listed in facts.items() for fact in listed]
    return [f"{where} gives away {question}: {fact!r}"
            for where, text in parts for question, fact, pattern in patterns if pattern.search(text)]


def all_facts(solutions=SOLUTIONS) -> dict[str, list[str]]:
    """Every declared fact of every solution, by question (question numbers differ between assignments)."""
    facts: dict[str, list[str]] = {}
    for path in solutions:
        for question, listed in notebook.answer_facts(notebook.read(path)).items():
            facts.setdefault(question, []).extend(listed)
    return facts


def questions(nb) -> list[str]:
    """Every question of a solution: its checks and its written answers ('Answer 3.2' and '答案 3.2' are '3.2')."""
    written = [written_label(nb, index).split()[-1]
               for index, cell in enumerate(nb.cells) if notebook.is_written_answer(cell)]
    return list(notebook.checks(nb)) + written


# ---------------------------------------------------------------- the real material

def _ids(paths):
    return [path.relative_to(REPO_ROOT).as_posix() for path in paths]


def _assert_gives_nothing_away(path: Path) -> None:
    leaks = find_leaks(all_facts(), document_parts(path))
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=_ids(STUDENT_NOTEBOOKS))
def test_student_copy_gives_no_answer_away(path):
    _assert_gives_nothing_away(path)


@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=_ids(COURSE_NOTEBOOKS))
def test_course_notebook_gives_no_answer_away(path):
    _assert_gives_nothing_away(path)


@pytest.mark.parametrize("path", STUDENT_PAGES, ids=_ids(STUDENT_PAGES))
def test_readme_and_book_give_no_answer_away(path):
    _assert_gives_nothing_away(path)


def _declaring(path: Path):
    pending = path.stem in PENDING and ANSWER_FACTS_KEY not in notebook.read(path).metadata
    marks = [pytest.mark.xfail(strict=False, reason="its facts are being declared on another branch")] if pending else []
    return pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("solution", [_declaring(path) for path in SOLUTIONS])
def test_every_question_declares_answer_facts(solution):
    nb = notebook.read(solution)
    facts = notebook.answer_facts(nb)
    asked = questions(nb)
    missing = [question for question in asked if not facts.get(question)]
    assert not missing, f"{solution.name}: no answer facts for {missing} (metadata '{ANSWER_FACTS_KEY}')"
    unknown = sorted(set(facts) - set(asked))
    assert not unknown, f"{solution.name}: answer facts for questions it does not ask: {unknown}"
    bad = [fact for listed in facts.values() for fact in listed if not isinstance(fact, str) or not fact.strip()]
    assert not bad, f"{solution.name}: every fact must be a non-empty string, got {bad}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda path: path.stem)
def test_generated_copies_drop_the_answer_facts(solution):
    nb = notebook.read(solution)
    for copy_ in (exercise_from_solution(nb, solution.stem), nbgrader_source(nb)):
        assert ANSWER_FACTS_KEY not in copy_.metadata
    assert ANSWER_FACTS_KEY not in notebook.read(REPO_ROOT / "exercises" / solution.name).metadata


# ---------------------------------------------------------------- the scan catches each kind of leak

FACTS = {"1.1": ["alpha = 1/T"], "1.2": ["5/3"], "1.3": ["validation score optimistic"]}


def test_matching_ignores_case_and_spacing_but_not_word_boundaries():
    assert fact_pattern("alpha = 1/T").search("so ALPHA=1 / t here")
    assert fact_pattern("log(1 + exp(-d))").search("gap = log( 1+exp( -d ) )")
    assert fact_pattern("validation score optimistic").search("its Validation\n  score optimistic.")
    assert not fact_pattern("validation score optimistic").search("validationscore optimistic")
    assert fact_pattern("biased upwards").search("is biased **upwards**, an")
    assert not fact_pattern("5/3").search("15/3 and 5/31")
    assert fact_pattern("5/3").search("is 5/3.")
    assert not fact_pattern("1/T").search("1/Temperature")


def _synthetic_solution():
    """A small solution with a check, a written answer and answer facts in its metadata."""
    cells = [
        nbformat.v4.new_markdown_cell("## 1.1 The power\nWhich power doubles the temperature?"),
        nbformat.v4.new_code_cell("def power(T):\n    ### BEGIN SOLUTION\n    return 1 / T\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("# CHECK 1.1 (1 point)\nassert power(2.0) > 0, 'a power is positive'\nprint('ok')"),
        nbformat.v4.new_markdown_cell("**Answer 1.3.**\n### BEGIN SOLUTION\nIt makes the validation score optimistic.\n"
                                      "### END SOLUTION"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata[ANSWER_FACTS_KEY] = FACTS
    return nb


PLANTS = {  # where a leak hides: (cell index, how to plant it) in the student copy
    "markdown prompt": (0, lambda cell: cell.update(source=cell.source + " (Hint: alpha = 1/T.)")),
    "check message": (2, lambda cell: cell.update(source=cell.source.replace("'a power is positive'", "'it is 5/3'"))),
    "code comment": (1, lambda cell: cell.update(source="# use alpha = 1 / T\n" + cell.source)),
    "cell output": (2, lambda cell: cell.update(outputs=[nbformat.v4.new_output("stream", text="ALPHA = 1/T\n")])),
    "rich output": (2, lambda cell: cell.update(outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": "the validation score  optimistic"})])),
    "cell metadata": (0, lambda cell: cell.metadata.update(tags=["5/3"])),
}


def test_a_clean_student_copy_passes(tmp_path):
    exercise = exercise_from_solution(_synthetic_solution(), "01_x")
    assert ANSWER_FACTS_KEY not in exercise.metadata
    path = tmp_path / "exercises" / "01_x.ipynb"
    path.parent.mkdir()
    nbformat.write(exercise, path)
    assert find_leaks(FACTS, document_parts(path, tmp_path)) == []


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_the_scan_catches_a_leak_in_the_student_copy(kind, tmp_path):
    exercise = exercise_from_solution(_synthetic_solution(), "01_x")
    index, plant = PLANTS[kind]
    plant(exercise.cells[index])
    path = tmp_path / "exercises" / "01_x.ipynb"
    path.parent.mkdir()
    nbformat.write(exercise, path)
    leaks = find_leaks(FACTS, document_parts(path, tmp_path))
    assert len(leaks) == 1 and leaks[0].startswith(f"exercises/01_x.ipynb cell {index} gives away "), leaks


def test_the_scan_catches_facts_left_in_the_metadata(tmp_path):
    path = tmp_path / "leaky.ipynb"
    nbformat.write(_synthetic_solution(), path)
    leaks = find_leaks(FACTS, document_parts(path, tmp_path))
    assert "leaky.ipynb metadata gives away 1.1: 'alpha = 1/T'" in leaks


def test_the_scan_catches_a_leak_in_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Course\n\nIntro.\n\n| 01 | which power, alpha = 1 / T, doubles it |\n", encoding="utf-8")
    assert find_leaks(FACTS, document_parts(readme, tmp_path)) == ["README.md line 5 gives away 1.1: 'alpha = 1/T'"]


def test_the_scan_catches_a_leak_in_a_course_notebook(tmp_path):
    course = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Course"),
                                             nbformat.v4.new_code_cell("x = 5 / 3", outputs=[])])
    path = tmp_path / "notebooks" / "01_course.ipynb"
    path.parent.mkdir()
    nbformat.write(course, path)
    assert find_leaks(FACTS, document_parts(path, tmp_path)) == ["notebooks/01_course.ipynb cell 1 gives away 1.2: '5/3'"]
