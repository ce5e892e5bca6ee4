"""The report and input side of the grader against hostile names and contents (no sandbox, no kernel)."""

import base64
import csv
import json
import os
import re
import time
import unicodedata
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grading import batch, feedback, match, report
from grading.__main__ import main as grading_main

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 20).decode()


def result_of(student: str, file: str = "03_realsoftmax.ipynb", **changes) -> dict:
    result = {"file": file, "student": student, "assignment": "03_realsoftmax",
              "verdicts": [{"question": "3.1", "points": 2, "max_points": 2, "status": "passed"}],
              "written": {"3.2": "an answer"}, "missing_answers": [], "error": None, "stopped": None,
              "notes": [], "sandbox": True}
    return {**result, **changes}


# 1. Submissions are regular files


def test_symbolic_links_pipes_and_linked_folders_are_refused_unread(tmp_path):
    solutions, inbox, elsewhere = tmp_path / "solutions", tmp_path / "inbox", tmp_path / "elsewhere"
    for folder in (solutions, inbox / "bob", elsewhere):
        folder.mkdir(parents=True)
    (solutions / "03_realsoftmax.ipynb").write_text("{}")
    (elsewhere / "stolen.ipynb").write_text("{}")
    (inbox / "bob" / "real.ipynb").write_text("{}")
    (inbox / "bob" / "03_realsoftmax.ipynb").symlink_to(solutions / "03_realsoftmax.ipynb")
    (inbox / "mallory").symlink_to(elsewhere, target_is_directory=True)
    os.mkfifo(inbox / "bob" / "pipe.ipynb")
    found, errors = batch.find_submissions([inbox])
    assert found == [inbox / "bob" / "real.ipynb"]
    messages = sorted(error["error"] for error in errors)
    assert len(messages) == 3 and all("not a regular file" in message for message in messages)
    assert sum("a symbolic link" in message for message in messages) == 2
    assert {error["student"] for error in errors} == {"bob", "inbox"}  # the folders as given, not resolved
    named_link, = batch.find_submissions([inbox / "bob" / "03_realsoftmax.ipynb"])[1]
    assert "a symbolic link" in named_link["error"] and named_link["student"] == "bob"


def test_the_student_is_named_by_the_path_as_given(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "notes.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "notes.ipynb").symlink_to(tmp_path / "alice" / "notes.ipynb")
    assert match.student_of(tmp_path / "bob" / "notes.ipynb", "03_realsoftmax") == "bob"


# 2. Unicode names never collide


def test_unicode_names_stay_and_never_collide():
    names = ["张伟", "李娜", "unnamed", "a b", "a_b", "Alice", "alice", "..", ".hidden", "e\u0301", "\u00e9",
             "x" * 300]
    safe = [report._safe(name) for name in names]
    assert len(set(safe)) == len(names)
    assert report._safe("张伟").startswith("张伟") and report._safe("alice") == "alice"
    assert all(len(name) < 120 and not name.startswith(".") and "/" not in name for name in safe)
    assert report._safe("a_b~" + report._safe("a b").split("~")[1]) != report._safe("a b")  # no forged hash


def test_a_chinese_name_in_a_file_name_names_the_student(tmp_path):
    path = tmp_path / "inbox" / "张伟_03_realsoftmax.ipynb"
    assert match.assignment_of(path, new_notebook(), ["01_double", "03_realsoftmax"]) == "03_realsoftmax"
    assert match.student_of(path, "03_realsoftmax") == "张伟"


def test_two_chinese_named_students_both_reach_the_gradebook(tmp_path):
    for student in ("张伟", "李娜"):
        report.write_result(tmp_path, result_of(student))
    assert {r["student"] for r in report.read_results(tmp_path)} == {"张伟", "李娜"}
    grading_main(["report", str(tmp_path)])
    rows = list(csv.reader((tmp_path / "gradebook.csv").open(encoding="utf-8")))
    assert sorted(row[0] for row in rows[1:]) == sorted(["张伟", "李娜"])


# 3. Names that are not UTF-8


def test_names_that_are_not_utf8_cost_one_line_each(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkdir(os.fsencode(inbox) + b"/\xff\xfe")
    (Path(os.fsdecode(os.fsencode(inbox) + b"/\xff\xfe")) / "03_realsoftmax.ipynb").write_text("{}")
    Path(os.fsdecode(os.fsencode(inbox) + b"/\xfe_03_realsoftmax.ipynb")).write_text("{}")
    (inbox / "fine.ipynb").write_text("{}")
    found, errors = batch.find_submissions([inbox])
    assert found == [inbox / "fine.ipynb"] and len(errors) == 2
    assert all("the file name is not valid UTF-8; rename it" in error["error"] for error in errors)
    good = result_of("alice", written={"3.2": "fine"})
    out = tmp_path / "out"
    for result in errors:
        report.write_result(out, result)
        report.line(result).encode("utf-8")
    report.write_result(out, good)
    written = report.write_all(out, report.read_results(out))
    assert len(list(csv.reader(written[0].open(encoding="utf-8")))) == 4
    assert len(json.loads(written[1].read_text(encoding="utf-8"))) == 3
    assert "fine" in written[2].read_text(encoding="utf-8")


# 4. Terminal lines


def test_a_terminal_line_cannot_be_forged():
    forged = "\x1b[2K\ralice  01  8/8 all passed\n"
    results = [result_of(forged, notes=["\x9b31m" + forged]), result_of(forged, error=forged, assignment=None),
               result_of(forged, stopped=forged, verdicts=[{"question": forged, "points": 0, "max_points": 1,
                                                            "status": "failed"}])]
    for result in results:
        shown = report.line(result)
        assert not [char for char in shown if unicodedata.category(char)[0] == "C"], shown
        assert shown.startswith("\\x1b[2K\\ralice")


# 5. CSV injection


def test_gradebook_cells_never_start_a_formula(tmp_path):
    hostile = ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    results = [result_of(name, file=name + ".ipynb") for name in hostile]
    report.write_gradebook(tmp_path, results)
    rows = list(csv.reader((tmp_path / "gradebook.csv").open(newline="", encoding="utf-8")))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(report.FORMULA_STARTS)]
    assert sorted(row[0] for row in rows[1:]) == sorted("'" + name for name in hostile)
    assert all(row[3:6] == ["2", "2", "2"] for row in rows[1:])  # the grader's numbers stay numbers


# 6. written_answers.md


def test_written_answers_cannot_inject_html_or_structure(tmp_path):
    answer = ("<img src=x onerror=alert(1)>\n<script>alert(1)</script>\n**alice** (x.ipynb):\n### 3.2\n"
              "## 03_realsoftmax\n````\n# top\n---")
    results = [result_of("<b>mallory</b>\n## forged", file="x\n### 9.9.ipynb", written={"3.2": answer}),
               result_of("alice", written={"3.2": "honest"})]
    text = report.write_written_answers(tmp_path, results).read_text(encoding="utf-8")
    assert "<img" not in text and "<script" not in text and "<b>" not in text
    tokens = MarkdownIt("commonmark").parse(text)
    headings = [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]
    assert headings == ["Written answers", "03_realsoftmax", "3.2"]
    assert not [token for token in tokens if token.type.startswith("html")]
    fences = [token.content for token in tokens if token.type == "fence"]
    assert fences[1] == "honest\n" and "**alice** (x.ipynb):\n### 3.2\n" in fences[0]  # "<b>..." sorts first


# 7. Feedback pages


def hostile_notebook():
    markdown = ("[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) <javascript:alert(2)> ![i](data:text/html,x) "
                "[v](vbscript:x)\n\n<script>alert(1)</script> <img src=x onerror=alert(1)> [ok](https://example.org)"
                "\n\n[ref]\n\n[ref]: java\tscript:alert(3)")
    display = new_output("display_data", data={"text/plain": "D" * 100 * 1024**2})
    images = [new_output("display_data", data={"image/png": png}) for png in (PNG, "bm90IGEgcG5n", '"><script>')]
    error = new_output("error", ename="E", evalue="v", traceback=["\x1b[31mTraceback\x1b[0m <script>x</script>"])
    cells = [new_markdown_cell(markdown), new_markdown_cell("[" * 150_000),
             new_code_cell("print(1)", outputs=[display, *images, error]),
             new_code_cell("PROBE SECRET"), new_code_cell("SETUP SECRET"), new_code_cell("SAVE SECRET"),
             new_code_cell("x" * 50_000)]
    return new_notebook(cells=cells), ["answer", "given", "added", "probe", "setup", "save", "answer"]


def test_feedback_is_safe_capped_and_quick(tmp_path):
    executed, roles = hostile_notebook()
    result = result_of("alice")
    started = time.monotonic()
    path = report.write_feedback(tmp_path, result, executed, roles)
    assert time.monotonic() - started < 30  # a hang guard, not a benchmark
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 1024**2 and "[cut by the grader" in page
    assert "javascript:alert(1)" not in page.lower() and "vbscript" not in page and "data:text" not in page
    urls = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert urls and all(url.startswith(("https://", f"data:image/png;base64,{PNG}")) for url in urls)
    assert "<script" not in page and not re.search("<[^>]*onerror", page) and "\x1b" not in page
    assert 'href="https://example.org"' in page and "<table>" in page and "Feedback: 03_realsoftmax" in page
    assert page.count("data:image/png") == 1 and f'src="data:image/png;base64,{PNG}"' in page
    assert "SECRET" not in page and result["notes"] == []


@pytest.mark.parametrize("failure", [TimeoutError, ValueError])
def test_a_failing_or_slow_rendering_keeps_the_verdicts(tmp_path, monkeypatch, failure):
    def slow_or_broken(self, executed, roles):
        if failure is TimeoutError:
            time.sleep(10)
        raise failure("<script>student text</script>")

    monkeypatch.setattr(feedback.Page, "cells", slow_or_broken)
    monkeypatch.setattr(feedback, "RENDER_SECONDS", 0.2)
    monkeypatch.setattr(feedback.render_within_limit, "__defaults__", (0.2,))
    result = result_of("alice")
    started = time.monotonic()
    page = report.write_feedback(tmp_path, result, *hostile_notebook()).read_text(encoding="utf-8")
    assert time.monotonic() - started < 5
    assert "<table>" in page and "student text" not in page
    assert result["notes"] == [f"the feedback shows the verdicts only (rendering the notebook failed: "
                               f"{failure.__name__})"]


# 8. Nothing after the sandbox loses a row


def test_a_grader_fault_on_one_file_keeps_its_row(tmp_path, monkeypatch):
    path = tmp_path / "alice" / "03_realsoftmax.ipynb"
    path.parent.mkdir()
    path.write_text("{}")
    monkeypatch.setattr(batch.grade, "grade_file", lambda path, settings: (result_of("alice"), new_notebook(), []))
    def broken(*args):
        raise RuntimeError("student text")
    monkeypatch.setattr(report, "write_feedback", broken)
    result = batch.grade_and_write(path, None, tmp_path / "out")
    assert result["error"].endswith("the grader could not write the feedback (RuntimeError)")
    monkeypatch.setattr(batch.grade, "grade_file", broken)
    result = batch.grade_and_write(path, None, tmp_path / "out")
    assert result["error"].endswith("the grader could not grade it (RuntimeError)") and result["student"] == "alice"
    assert [r["error"] for r in report.read_results(tmp_path / "out")] == [result["error"]]


def test_malformed_result_files_become_error_rows(tmp_path, monkeypatch):
    folder = tmp_path / "results" / "x"
    folder.mkdir(parents=True)
    report.write_result(tmp_path, result_of("alice"))
    contents = {"nested": "[" * 100_000, "text": "not json", "list": "[1, 2]", "huge": " " * 2000,
                "shape": json.dumps({**result_of("bob"), "verdicts": [{"points": "2"}]}), "bytes": b"\xff"}
    for name, content in contents.items():
        (folder / f"{name}.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    monkeypatch.setattr(report, "MAX_RESULT_BYTES", 1000)
    results = report.read_results(tmp_path)
    assert [r["student"] for r in results if not r["error"]] == ["alice"]
    errors = [r["error"] for r in results if r["error"]]
    assert len(errors) == len(contents) and all("not a result the grader wrote" in error for error in errors)
    assert all(any(f"{name}.json" in error for error in errors) for name in contents)
    report.write_all(tmp_path, results)
