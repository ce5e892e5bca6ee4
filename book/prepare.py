"""Assemble the book's source folder from the repository, without running any notebook.

    python book/prepare.py OUT_DIR [--repository-url URL] [--branch BRANCH]

OUT_DIR receives `_config.yml`, `_toc.yml`, the pages written from README.md (home, study
guide, glossary) and copies of `notebooks/*.ipynb` and `exercises/*.ipynb` under the same
relative paths as in the repository, so the book's launch links open the repository's own
files. The copies keep their stored outputs and get two changes for the web page only:

- every image output gets alternative text for screen readers (`mystnb.image.alt`), taken
  from an `# alt: ...` comment in the cell, else the plot titles in its code (unless
  they hold computed parts), else the sentence before the cell;
- an interactive widget (a slider), which needs a running kernel, is replaced by a note
  that says how to run the notebook.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("*Interactive figure: the sliders need a running Python kernel. "
               "Open this notebook with a launch button at the top of the page, or run `make lab`, "
               "and run the cell to move them.*")
TITLE_CALLS = {"set_title", "suptitle", "title"}
# Figures drawn inside a utils helper, whose title is not in the cell's code.
HELPER_FIGURES = {"train": "Training plot: train loss, train accuracy and test accuracy after each epoch"}


def readme_section(readme: str, heading: str) -> str:
    """The README section whose `## ` heading starts with `heading`, as a page of its own."""
    match = re.search(rf"^## {re.escape(heading)}.*?(?=^## |\Z)", readme, flags=re.M | re.S)
    if not match:
        sys.exit(f"README.md has no section '## {heading}': book/prepare.py builds a page from it.")
    return re.sub(r"^#(#+) ", r"\1 ", match.group(0).strip(), flags=re.M) + "\n"  # one level up: a page starts at #


def string_value(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's text with each placeholder shown as '…'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "…" for part in node.values)
    return None


def plot_titles(source: str) -> list[str]:
    """The titles a cell's code gives its plots: set_title(...), suptitle(...), title(...), title=..."""
    try:
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.M))  # skip IPython magics
    except SyntaxError:
        return []
    titles = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        candidates = node.args[:1] if name in TITLE_CALLS else []
        candidates += [kw.value for kw in node.keywords if kw.arg == "title"]
        titles += [text for text in map(string_value, candidates) if text and text.strip("… ")]
    return list(dict.fromkeys(" ".join(title.split()) for title in titles))


def last_sentence(markdown: str) -> str:
    """The last sentence of a markdown cell's last paragraph, without markup and a trailing colon."""
    paragraphs = [p for p in re.split(r"\n\s*\n", markdown) if p.strip() and not p.lstrip().startswith("#")]
    text = re.sub(r"[*`>]|\$+", "", paragraphs[-1] if paragraphs else "")
    text = " ".join(text.split())
    sentences = re.split(r"(?<=[.!?])\)?\s+", text)
    return sentences[-1].rstrip(":").strip() if sentences else ""


def alt_text(cell, previous_markdown: str, notebook_title: str) -> str:
    """Alternative text for the images of one code cell."""
    comment = re.search(r"^\s*#\s*alt:\s*(.+)$", cell.source, flags=re.M)
    if comment:
        return comment.group(1).strip()
    titles = plot_titles(cell.source)
    helpers = [text for name, text in HELPER_FIGURES.items() if re.search(rf"(?<![\w]){name}\(", cell.source)]
    if helpers and not titles:
        return helpers[0]
    sentence = last_sentence(previous_markdown)
    if titles and not any("…" in title for title in titles):
        return "Figure: " + "; ".join(titles)
    if sentence:  # a title with computed parts says less than the sentence that introduces it
        return "Figure: " + sentence
    if titles:
        return "Figure: " + "; ".join(titles)
    return f"Figure of {notebook_title}"


def prepare_notebook(source: Path, target: Path) -> None:
    """Copy one notebook, with alternative text on its images and a note in place of its widgets."""
    notebook = nbformat.read(source, as_version=4)
    notebook.metadata.pop("widgets", None)  # saved widget state: nothing on a static page can use it
    title = source.stem
    previous_markdown = ""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            previous_markdown = cell.source
            continue
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                output["data"] = {"text/markdown": WIDGET_NOTE}
        if any("image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {}) for o in cell.outputs):
            image_options = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
            image_options.setdefault("alt", alt_text(cell, previous_markdown, title))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def notebook_title(path: Path) -> str:
    """The first heading of a notebook, for the table of contents check."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        heading = re.search(r"^#\s+(.+)$", cell.source, flags=re.M) if cell.cell_type == "markdown" else None
        if heading:
            return heading.group(1)
    sys.exit(f"{path} has no '# Title' heading in a markdown cell: every page of the book needs one.")


def write_config(out: Path, repository_url: str | None, branch: str) -> None:
    """_config.yml from book/_config.yml, with launch links when the repository is known."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    if repository_url:
        config["repository"] = {"url": repository_url, "branch": branch, "path_to_book": ""}
        config["launch_buttons"].update(binderhub_url="https://mybinder.org",
                                        colab_url="https://colab.research.google.com")
        config["html"]["use_repository_button"] = True
    else:
        print("book: no repository URL (set BOOK_REPOSITORY_URL=https://github.com/OWNER/REPO): "
              "building without Binder and Colab launch links.")
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write_pages(out: Path, repository_url: str | None) -> None:
    """The home page, the study guide and the glossary, from README.md and book/intro.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    clone_url = f"{repository_url}.git" if repository_url else "https://github.com/OWNER/REPO.git"
    intro = (BOOK / "intro.md").read_text(encoding="utf-8").replace("{clone_url}", clone_url)
    (out / "intro.md").write_text(intro, encoding="utf-8")
    (out / "study_guide.md").write_text(readme_section(readme, "How to study"), encoding="utf-8")
    (out / "glossary.md").write_text(readme_section(readme, "Glossary"), encoding="utf-8")


def write_toc(out: Path, course: list[Path], exercises: list[Path]) -> None:
    """_toc.yml: home, study guide, every course notebook, every assignment, glossary."""
    def entries(paths: list[Path]) -> list[dict]:
        return [{"file": path.relative_to(out).with_suffix("").as_posix()} for path in paths]

    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "Start here", "chapters": [{"file": "study_guide"}]},
        {"caption": "The course", "chapters": entries(course)},
        {"caption": "Assignments (student copies)", "chapters": entries(exercises)},
        {"caption": "Reference", "chapters": [{"file": "glossary"}]},
    ]}
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the book's source folder (emptied first)")
    parser.add_argument("--repository-url", default="", help="https://github.com/OWNER/REPO, for launch links")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args(argv)
    url = args.repository_url.strip().removesuffix(".git") or None
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    copies = {}
    for folder in ("notebooks", "exercises"):
        sources = sorted((ROOT / folder).glob("*.ipynb"))
        if not sources:
            sys.exit(f"No notebooks in {ROOT / folder}: nothing to put in the book.")
        copies[folder] = [args.out / folder / path.name for path in sources]
        for path, target in zip(sources, copies[folder]):
            notebook_title(path)
            prepare_notebook(path, target)
    write_config(args.out, url, args.branch)
    write_pages(args.out, url)
    write_toc(args.out, copies["notebooks"], copies["exercises"])
    print(f"book: source ready in {args.out} ({len(copies['notebooks'])} course notebooks, "
          f"{len(copies['exercises'])} assignments)")


if __name__ == "__main__":
    main()
