"""What the instructor gets: a gradebook CSV, every verdict as JSON, feedback per submission,
the written answers for reading by hand, and a short summary on the terminal.

Names and texts from submissions are hostile, so each output escapes them its own way:
terminal lines show control characters as escapes (no forged lines or ANSI tricks); CSV
cells that a spreadsheet would run as a formula start with ``'``; written answers sit
HTML-escaped inside code fences; file names keep Unicode letters and never collide;
feedback pages are built by ``feedback``. Nothing the student's code printed ever goes to
the terminal. A result file that is not one the grader wrote becomes an error row.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import unicodedata
from pathlib import Path

from grading import feedback
from grading.messages import say, speaking

MAX_RESULT_BYTES = 64 * 1024**2  # a result holds at most a notebook's written answers (50 MB)
MAX_NAME_CHARS = 100
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP: CSV cells a spreadsheet may run


def _safe(name: str) -> str:
    """A file name for ``name``: itself when it is plainly safe, else a cleaned form and a hash.

    Plainly safe: Unicode letters, digits, ``_.-``, lower case, NFC, short, no leading dot
    (so that case- and normalisation-insensitive file systems cannot merge two of them). The
    hashed form holds ``~``, which a plainly safe name never does: no two names collide.
    """
    plain = (re.fullmatch(r"[\w.-]+", name) and not name.startswith(".") and name == name.casefold()
             and unicodedata.normalize("NFC", name) == name and len(name) <= MAX_NAME_CHARS)
    if plain:
        return name
    cleaned = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", name)).strip("._")[:MAX_NAME_CHARS]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned}~{digest}"


def displayable(name: str) -> str:
    """A path or name from the file system as valid text (undecodable bytes as ``\\xff``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def printable(text: object) -> str:
    """``text`` on one terminal line: control and format characters (ANSI, CR, LF, bidi) escaped."""
    return "".join(char.encode("unicode_escape").decode("ascii") if unicodedata.category(char)[0] == "C" else char
                   for char in str(text))


def error_result(file: str, student: str, message: str) -> dict:
    """The result of a file that could not be graded."""
    return {"file": file, "student": student, "assignment": None, "verdicts": [], "written": {},
            "missing_answers": [], "error": message, "stopped": None, "notes": [], "sandbox": None}


def result_path(out_dir: Path, result: dict, suffix: str) -> Path:
    """Where a submission's own files go: ``<out>/<results or feedback>/<student>/<file name>``."""
    kind = "results" if suffix == ".json" else "feedback"
    return out_dir / kind / _safe(result["student"]) / (_safe(Path(result["file"]).stem) + suffix)


def score(result: dict) -> tuple[int, int]:
    return (sum(v["points"] for v in result["verdicts"]), sum(v["max_points"] for v in result["verdicts"]))


def summary_html(result: dict) -> str:
    """The verdicts as an HTML table, for the top of the feedback file (every text escaped),
    in the submission's language."""
    with speaking(result.get("language")):
        return _summary_html(result)


def _summary_html(result: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(v['question'])}</td><td>{v['points']} / {v['max_points']}</td>"
                   f"<td>{html.escape(v['status'])}</td></tr>" for v in result["verdicts"])
    got, most = score(result)
    notes = []
    if result.get("stopped"):
        notes.append(say("The run stopped early: {why}.", why=result["stopped"]))
    notes += [note + "." for note in result.get("notes", [])]
    if result.get("missing_answers"):
        notes.append(say("Answer cells not found in your notebook: {cells}.", cells=", ".join(result["missing_answers"])))
    if result["written"]:
        notes.append(say("Written answers ({labels}) are read and marked by hand.", labels=", ".join(result["written"])))
    paragraphs = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    heading = say("Feedback: {assignment}", assignment=result["assignment"] or "")
    columns = "".join(f"<th>{html.escape(name)}</th>" for name in (say("question"), say("points"), say("result")))
    return (f'<section class="feedback"><h1>{html.escape(heading)}</h1>'
            f"<table><thead><tr>{columns}</tr></thead><tbody>{rows}"
            f"<tr><th>{html.escape(say('total'))}</th><th>{got} / {most}</th><th></th></tr></tbody></table>{paragraphs}"
            f"<p>{html.escape(say('Below: your notebook as the grader ran it (the hidden tests are not shown).'))}</p>"
            "</section>")


def write_feedback(out_dir: Path, result: dict, executed, roles: list[str]) -> Path:
    """An HTML file: the verdicts, then the student's notebook as it ran (hidden cells left out).

    Built by ``feedback`` within a time limit; if that fails, the page holds the verdicts
    only and ``result["notes"]`` says so.
    """
    with speaking(result.get("language")):
        title = say("Feedback: {assignment}", assignment=result["assignment"] or "")
        page, failure = feedback.render_within_limit(summary_html(result), executed, roles, title)
    if failure:
        result["notes"] = [*result.get("notes", []), failure]
    target = result_path(out_dir, result, ".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def write_result(out_dir: Path, result: dict) -> Path:
    target = result_path(out_dir, result, ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=1, allow_nan=True), encoding="utf-8")
    return target


def _is_result(data: object) -> bool:
    """True when ``data`` has the shape of a result the grader writes (so the report can use it)."""
    def text(value, none: bool = False) -> bool:
        return isinstance(value, str) or (none and value is None)

    def verdict(value) -> bool:
        return (isinstance(value, dict) and text(value.get("question")) and text(value.get("status"))
                and all(isinstance(value.get(key), (int, float)) and not isinstance(value.get(key), bool)
                        for key in ("points", "max_points")))

    return (isinstance(data, dict) and text(data.get("file")) and text(data.get("student"))
            and text(data.get("assignment"), none=True) and text(data.get("error"), none=True)
            and text(data.get("stopped"), none=True)
            and isinstance(data.get("verdicts"), list) and all(map(verdict, data["verdicts"]))
            and isinstance(data.get("written"), dict) and all(map(text, data["written"].values()))
            and isinstance(data.get("notes", []), list) and all(map(text, data.get("notes", []))))


def read_result(path: Path) -> dict:
    """The result in ``path``, or an error result naming the file when it is not one the grader wrote."""
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError("too large")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        data = error
    if _is_result(data):
        return data
    reason = type(data).__name__ if isinstance(data, Exception) else "not the shape of a result"
    return error_result(str(path), path.parent.name, f"{path}: not a result the grader wrote ({reason}); skipped")


def read_results(out_dir: Path) -> list[dict]:
    """Every per-submission result under ``out_dir`` (e.g. written by separate cluster tasks)."""
    return [read_result(path) for path in sorted((out_dir / "results").glob("*/*.json"))]


def _question_key(question: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.]", question))


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` where it would start a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _status(result: dict) -> str:
    status = "error: " + result["error"] if result["error"] else (
        "stopped: " + result["stopped"] if result["stopped"] else "graded")
    return status + "".join("; " + note for note in result.get("notes", []))


def write_gradebook(out_dir: Path, results: list[dict]) -> Path:
    """One row per student and assignment, one column per question, then the total."""
    questions = sorted({v["question"] for r in results for v in r["verdicts"]}, key=_question_key)
    target = out_dir / "gradebook.csv"
    with open(target, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(map(_cell, ["student", "assignment", "file", *questions, "total", "max", "status"]))
        for result in sorted(results, key=lambda r: (r["student"], r["assignment"] or "", r["file"])):
            points = {v["question"]: v["points"] for v in result["verdicts"]}
            got, most = score(result)
            row = [result["student"], result["assignment"] or "", result["file"],
                   *[points.get(q, "") for q in questions], got, most, _status(result)]
            writer.writerow(map(_cell, row))
    return target


def _markdown_text(text: str) -> str:
    """``text`` as literal inline Markdown: one line, HTML escaped, Markdown's punctuation backslash-escaped."""
    escaped = html.escape(printable(text), quote=False)
    return re.sub(r"([!\"#$%'()*+,\-./:=?@\[\\\]^_`{|}~])", r"\\\1", escaped)


def _fenced(text: str) -> str:
    """``text`` HTML-escaped in a code fence longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{html.escape(text, quote=False)}\n{fence}"


def write_written_answers(out_dir: Path, results: list[dict],
                          model_answers: dict[str, dict[str, str]] | None = None) -> Path:
    """Every written answer, grouped by assignment and question, for reading by hand, each
    question's model answer (from the solution, when given) above the students' answers.

    Assignment ids and question labels come from the solutions; student and file names are
    escaped, and each answer sits in its own code fence, so no answer can forge a heading.
    """
    lines = ["# Written answers", ""]
    for assignment in sorted({r["assignment"] for r in results if r["assignment"]}):
        lines += [f"## {assignment}", ""]
        graded = [r for r in results if r["assignment"] == assignment]
        models = (model_answers or {}).get(assignment, {})
        for label in dict.fromkeys(label for r in graded for label in r["written"]):
            lines += [f"### {label}", ""]
            if label in models:
                lines += ["**Model answer** (from the solution; mark on the README's rubric):", "",
                          models[label].strip(), "", "---", ""]
            for result in sorted(graded, key=lambda r: r["student"]):
                answer = result["written"].get(label, "").strip() or "(no answer)"
                who = f"**{_markdown_text(result['student'])}** ({_markdown_text(result['file'])}):"
                lines += [who, "", _fenced(answer), "", "---", ""]
    target = out_dir / "written_answers.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def write_all(out_dir: Path, results: list[dict], model_answers: dict[str, dict[str, str]] | None = None) -> list[Path]:
    """The class-wide files from the per-submission results."""
    verdicts = out_dir / "verdicts.json"
    verdicts.write_text(json.dumps(results, indent=1, allow_nan=True), encoding="utf-8")
    return [write_gradebook(out_dir, results), verdicts, write_written_answers(out_dir, results, model_answers)]


def line(result: dict) -> str:
    """One terminal line per submission (never the student's output; every field made printable)."""
    who = f"{printable(result['student']):<16} {printable(result['assignment'] or '?'):<24}"
    if result["error"]:
        return f"{who} ERROR  {printable(result['error'])}"
    got, most = score(result)
    failed = [printable(v["question"]) for v in result["verdicts"] if not v["points"]]
    tail = f"  stopped: {printable(result['stopped'])}" if result["stopped"] else ""
    tail += "".join(f"  ({printable(note)})" for note in result.get("notes", []))
    return f"{who} {got:>3}/{most:<3} " + (f"failed: {', '.join(failed)}" if failed else "all passed") + tail
