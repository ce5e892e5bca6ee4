"""The grader speaks the submission's language: its messages are translated, and a Chinese
submission is graded against the Chinese solution with Chinese reasons and feedback."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

from grading import assemble, batch, grade, messages, notebook
from grading.sandbox import Limits
from test_grading import ANSWER, NAME, reference_notebook, submission


def test_every_grader_message_has_a_chinese_translation_with_the_same_fields():
    assert messages.GRADER.problems("zh_CN") == []


def test_a_new_message_without_translation_is_named(tmp_path):
    source = tmp_path / "new.py"
    source.write_text('say("{label}: a message nobody translated", label=1)\nsay("{label}: {reason}", label=1, reason=2)\n')
    assert messages.GRADER.problems("zh_CN", [source]) == [
        "new.py:1: no zh_CN translation of '{label}: a message nobody translated'"]


def test_messages_follow_the_language_they_are_spoken_in():
    with messages.speaking("zh_CN"):
        assert messages.say("{label}: not the expected value", label="x") == "x：不是预期的值"
    assert messages.say("{label}: not the expected value", label="x") == "x: not the expected value"
    with messages.speaking("tlh"):  # no catalog: English
        assert messages.say("total") == "total"


@pytest.fixture
def bilingual_course(tmp_path, real_root, sandbox):
    """The made-up assignment with a 'Chinese edition' (one translated message) beside it."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "zh").mkdir()
    nbformat.write(reference_notebook(), tmp_path / "solutions" / f"{NAME}.ipynb")
    chinese = reference_notebook()
    chinese.cells[0].source = "# 作业 1：加倍"
    chinese.metadata[grade.TRANSLATION_KEY] = {"language": "zh_CN", "source": f"solutions/{NAME}.ipynb"}
    nbformat.write(chinese, tmp_path / "zh" / f"{NAME}.ipynb")
    return grade.Settings(data_root=real_root, solutions_dir=tmp_path / "solutions", cache_dir=tmp_path / "cache",
                          limits=Limits(cell_seconds=20, notebook_seconds=60),
                          translated_solutions={"zh_CN": tmp_path / "zh"})


def test_a_class_hands_in_both_languages_and_each_gets_feedback_in_its_own(bilingual_course, tmp_path):
    def in_chinese(nb):
        nb.metadata[grade.TRANSLATION_KEY] = {"language": "zh_CN", "source": f"solutions/{NAME}.ipynb"}
        nb.cells[0].source = "# 作业 1：加倍"
    submission(tmp_path / "class" / "李娜" / f"{NAME}.ipynb", "return 3 * x", mutate=in_chinese)
    submission(tmp_path / "class" / "ann" / f"{NAME}.ipynb", "return 3 * x")
    results = {r["student"]: r for r in batch.grade_all([tmp_path / "class"], bilingual_course, tmp_path / "out",
                                                        jobs=1, echo=lambda line: None)}
    chinese, english = results["李娜"], results["ann"]
    assert (chinese["language"], english["language"]) == ("zh_CN", "en")
    assert chinese["verdicts"][0]["points"] == english["verdicts"][0]["points"] == 0
    assert "与正确结果最多相差" in chinese["verdicts"][0]["status"]
    assert "differs from the correct result" in english["verdicts"][0]["status"]
    chinese_page = open(chinese["feedback"], encoding="utf-8").read()
    english_page = open(english["feedback"], encoding="utf-8").read()
    assert "反馈：" in chinese_page and "作业 1：加倍" in chinese_page and "Feedback:" not in chinese_page
    assert "Feedback:" in english_page and "反馈" not in english_page


ZH = grade.REPO_ROOT / "zh"
CHINESE_SOLUTIONS = sorted((ZH / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("solution", CHINESE_SOLUTIONS, ids=lambda path: path.stem)
def test_the_chinese_solution_scores_full_marks_and_its_blank_copy_zero(solution, grading_settings, tmp_path):
    """Graded against the Chinese solution, with the reasons in Chinese."""
    scores = {}
    for kind, source in (("solution", solution), ("blank", ZH / "exercises" / solution.name)):
        path = tmp_path / kind / solution.name
        path.parent.mkdir()
        path.write_bytes(source.read_bytes())
        result, _, _ = grade.grade_file(path, grading_settings)
        assert result["error"] is None and result["language"] == "zh_CN", result
        scores[kind] = result
    assert all(v["points"] == v["max_points"] for v in scores["solution"]["verdicts"]), scores["solution"]["verdicts"]
    blank = scores["blank"]["verdicts"]
    assert all(v["points"] == 0 for v in blank)
    assert any("你的代码" in v["status"] or "没有值" in v["status"] for v in blank), blank


@pytest.mark.parametrize("solution", CHINESE_SOLUTIONS, ids=lambda path: path.stem)
def test_chinese_written_answers_carry_the_chinese_marker(solution):
    """Each written answer starts '**答案 N.M.**', so its label in written_answers.md is '答案 N.M'."""
    labels = {}
    for path in (grade.REPO_ROOT / "solutions" / solution.name, solution):
        nb = notebook.read(path)
        labels[path] = [assemble.written_label(nb, index)
                        for index, cell in enumerate(nb.cells) if notebook.is_written_answer(cell)]
    english, chinese = labels.values()
    assert chinese == [label.replace("Answer", "答案") for label in english]
