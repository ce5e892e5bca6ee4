"""What the instructor gets: a gradebook CSV, every verdict as JSON, feedback per submission,
the written answers for reading by hand, and a short summary on the terminal.

Nothing the student's code printed ever goes to the terminal; it appears only inside that
student's feedback file, where nbconvert sanitises any HTML it holds.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbformat.v4 import new_markdown_cell

HIDDEN_ROLES = ("probe", "setup", "save")  # hidden tests stay hidden in the feedback


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "unnamed"


def result_path(out_dir: Path, result: dict, suffix: str) -> Path:
    """Where a submission's own files go: ``<out>/<results or feedback>/<student>/<file name>``."""
    kind = "results" if suffix == ".json" else "feedback"
    return out_dir / kind / _safe(result["student"]) / (_safe(Path(result["file"]).stem) + suffix)


def score(result: dict) -> tuple[int, int]:
    return (sum(v["points"] for v in result["verdicts"]), sum(v["max_points"] for v in result["verdicts"]))


def summary_table(result: dict) -> str:
    """The verdicts as a Markdown table, for the top of the feedback file."""
    rows = ["| question | points | result |", "| --- | --- | --- |"]
    for verdict in result["verdicts"]:
        rows.append(f"| {verdict['question']} | {verdict['points']} / {verdict['max_points']} | "
                    f"{html.escape(verdict['status']).replace('|', '&#124;')} |")
    got, most = score(result)
    rows.append(f"| **total** | **{got} / {most}** | |")
    notes = []
    if result.get("stopped"):
        notes.append(f"The run stopped early: {html.escape(result['stopped'])}.")
    if result.get("missing_answers"):
        notes.append("Answer cells not found in your notebook: " + html.escape(", ".join(result["missing_answers"])) + ".")
    if result["written"]:
        notes.append("Written answers (" + html.escape(", ".join(result["written"])) + ") are read and marked by hand.")
    return "\n".join([f"# Feedback: {html.escape(result['assignment'] or '')}", "", *rows, "", *notes])


def write_feedback(out_dir: Path, result: dict, executed, roles: list[str]) -> Path:
    """An HTML file: the verdicts, then the student's notebook as it ran (hidden tests left out)."""
    shown = nbformat.v4.new_notebook(metadata=executed.metadata)
    shown.cells = [new_markdown_cell(summary_table(result))]
    shown.cells += [cell for cell, role in zip(executed.cells, roles) if role not in HIDDEN_ROLES]
    exporter = HTMLExporter(sanitize_html=True, exclude_input_prompt=False)
    body, _ = exporter.from_notebook_node(shown)
    target = result_path(out_dir, result, ".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def write_result(out_dir: Path, result: dict) -> Path:
    target = result_path(out_dir, result, ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=1, allow_nan=True), encoding="utf-8")
    return target


def read_results(out_dir: Path) -> list[dict]:
    """Every per-submission result under ``out_dir`` (e.g. written by separate cluster tasks)."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((out_dir / "results").glob("*/*.json"))]


def _question_key(question: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.]", question))


def write_gradebook(out_dir: Path, results: list[dict]) -> Path:
    """One row per student and assignment, one column per question, then the total."""
    questions = sorted({v["question"] for r in results for v in r["verdicts"]}, key=_question_key)
    target = out_dir / "gradebook.csv"
    with open(target, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "assignment", "file", *questions, "total", "max", "status"])
        for result in sorted(results, key=lambda r: (r["student"], r["assignment"] or "", r["file"])):
            points = {v["question"]: v["points"] for v in result["verdicts"]}
            got, most = score(result)
            status = "error: " + result["error"] if result["error"] else (
                "stopped: " + result["stopped"] if result["stopped"] else "graded")
            writer.writerow([result["student"], result["assignment"] or "", result["file"],
                             *[points.get(q, "") for q in questions], got, most, status])
    return target


def write_written_answers(out_dir: Path, results: list[dict]) -> Path:
    """Every written answer, grouped by assignment and question, for reading by hand."""
    lines = ["# Written answers", ""]
    for assignment in sorted({r["assignment"] for r in results if r["assignment"]}):
        lines += [f"## {assignment}", ""]
        graded = [r for r in results if r["assignment"] == assignment]
        for label in dict.fromkeys(label for r in graded for label in r["written"]):
            lines += [f"### {label}", ""]
            for result in sorted(graded, key=lambda r: r["student"]):
                answer = result["written"].get(label, "").strip() or "(no answer)"
                lines += [f"**{result['student']}** ({result['file']}):", "", answer, "", "---", ""]
    target = out_dir / "written_answers.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def write_all(out_dir: Path, results: list[dict]) -> list[Path]:
    """The class-wide files from the per-submission results."""
    verdicts = out_dir / "verdicts.json"
    verdicts.write_text(json.dumps(results, indent=1, allow_nan=True), encoding="utf-8")
    return [write_gradebook(out_dir, results), verdicts, write_written_answers(out_dir, results)]


def line(result: dict) -> str:
    """One terminal line per submission (never the student's output)."""
    who = f"{result['student']:<16} {result['assignment'] or '?':<24}"
    if result["error"]:
        return f"{who} ERROR  {result['error']}"
    got, most = score(result)
    failed = [v["question"] for v in result["verdicts"] if not v["points"]]
    tail = f"  stopped: {result['stopped']}" if result["stopped"] else ""
    return f"{who} {got:>3}/{most:<3} " + (f"failed: {', '.join(failed)}" if failed else "all passed") + tail
