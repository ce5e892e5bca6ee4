"""Assemble the book's source folder from the repository, without running any notebook.

    python book/prepare.py OUT_DIR [--language en|zh_CN] [--repository-url URL] [--branch BRANCH]

OUT_DIR receives `_config.yml`, `_toc.yml`, the pages written from the README (home, study
guide, glossary) and copies of the edition's `notebooks/*.ipynb` and `exercises/*.ipynb`
under the same relative paths as in the repository (the Chinese edition's come from `zh/`,
README.zh-CN.md and book/intro.zh_CN.md), so the book's launch links open the repository's
own files. The two editions are served as one site, the Chinese one in the folder `zh/`;
under its title every page links to the same page in the other language (to the other
edition's home page where that page is not translated yet). The copies keep their stored
outputs and get two changes for the web page only:

- every image output gets alternative text for screen readers (`mystnb.image.alt`), taken
  from an `# alt: ...` comment in the cell, else the plot titles in its code (unless
  they hold computed parts), else the sentence before the cell;
- an interactive widget (a slider), which needs a running kernel, is replaced by a note
  that says how to run the notebook.
"""

from __future__ import annotations

import argparse
import ast
import csv
import posixpath
import re
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TITLE_CALLS = {"set_title", "suptitle", "title"}
FOLDERS = ("notebooks", "exercises")
README_PAGES = {"study_guide": 0, "glossary": 1}  # page name: index of its heading in Edition.headings


class Edition(NamedTuple):
    """One language of the book: where its sources are, where it is served, its words."""

    language: str  # Sphinx's `language`
    source: str  # the folder of its notebooks in the repository ("" for the top level)
    site: str  # its folder in the served site ("" for the top level)
    readme: str
    intro: str  # the home page's template in book/
    headings: tuple[str, str]  # the README's `## ` headings of the study guide and the glossary
    title: str
    captions: tuple[str, str, str, str]  # start here, the course, assignments, reference
    switch_label: str  # the link to this edition, in its own language
    untranslated: str  # the same link where the page is not in this edition yet
    figure: str  # the start of alternative text
    figure_of: str  # the alternative text of a figure with nothing better, with {title}
    widget_note: str
    helper_figures: dict[str, str]  # figures drawn by a utils helper, whose title is not in the cell


ENGLISH = Edition(
    language="en", source="", site="", readme="README.md", intro="intro.md",
    headings=("How to study", "Glossary"), title="Softmax Regression Workbook",
    captions=("Start here", "The course", "Assignments (student copies)", "Reference"),
    switch_label="English", untranslated="English",
    figure="Figure: ", figure_of="Figure of {title}",
    widget_note=("*Interactive figure: the sliders need a running Python kernel. "
                 "Open this notebook with a launch button at the top of the page, or run `make lab`, "
                 "and run the cell to move them.*"),
    helper_figures={"train": "Training plot: train loss, train accuracy and test accuracy after each epoch"})
CHINESE = Edition(
    language="zh_CN", source="zh", site="zh", readme="README.zh-CN.md", intro="intro.zh_CN.md",
    headings=("如何学习", "术语表"), title="softmax回归练习册",
    captions=("从这里开始", "课程", "作业（学生版）", "参考"),
    switch_label="中文", untranslated="中文版（本页尚未翻译）",
    figure="图：", figure_of="{title}的图",
    widget_note=("*交互式图形：滑块需要运行中的Python内核。请用页面顶部的启动按钮打开这个笔记本，"
                 "或者运行`make lab-zh`，再运行这个单元格来拖动滑块。*"),
    helper_figures={"train": "训练曲线：每轮之后的训练损失、训练准确率和测试准确率"})
EDITIONS = {edition.language: edition for edition in (ENGLISH, CHINESE)}


def readme_section(readme: str, heading: str, name: str = "README.md") -> str:
    """The README section whose `## ` heading starts with `heading`, as a page of its own."""
    match = re.search(rf"^## {re.escape(heading)}.*?(?=^## |\Z)", readme, flags=re.M | re.S)
    if not match:
        sys.exit(f"{name} has no section '## {heading}': book/prepare.py builds a page from it.")
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
    sentences = [s for s in re.split(r"(?<=[.!?])\)?\s+|(?<=[。！？])[）)]?\s*", text) if s.strip()]
    return sentences[-1].rstrip(":：").strip() if sentences else ""


def alt_text(cell, previous_markdown: str, notebook_title: str, edition: Edition = ENGLISH) -> str:
    """Alternative text for the images of one code cell, in the edition's language."""
    comment = re.search(r"^\s*#\s*alt:\s*(.+)$", cell.source, flags=re.M)
    if comment:
        return comment.group(1).strip()
    titles = plot_titles(cell.source)
    helpers = [text for name, text in edition.helper_figures.items()
               if re.search(rf"(?<![\w]){name}\(", cell.source)]
    if helpers and not titles:
        return helpers[0]
    sentence = last_sentence(previous_markdown)
    if titles and not any("…" in title for title in titles):
        return edition.figure + "; ".join(titles)
    if sentence:  # a title with computed parts says less than the sentence that introduces it
        return edition.figure + sentence
    if titles:
        return edition.figure + "; ".join(titles)
    return edition.figure_of.format(title=notebook_title)


def prepare_notebook(source: Path, target: Path, edition: Edition = ENGLISH, switch: str = "") -> None:
    """Copy one notebook, with alternative text on its images, a note in place of its widgets
    and the language switch (HTML, if given) under its title."""
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
                output["data"] = {"text/markdown": edition.widget_note}
        if any("image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {}) for o in cell.outputs):
            image_options = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
            image_options.setdefault("alt", alt_text(cell, previous_markdown, title, edition))
    if switch:
        first = next(c for c in notebook.cells if c.cell_type == "markdown" and re.search(r"^# ", c.source, re.M))
        first.source = with_switch(first.source, switch)
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


def other_edition(edition: Edition) -> Edition:
    return CHINESE if edition is ENGLISH else ENGLISH


def notebook_sources(edition: Edition, folder: str) -> list[Path]:
    """The edition's notebooks in one of FOLDERS, in order."""
    return sorted((ROOT / edition.source / folder).glob("*.ipynb"))


def book_pages(edition: Edition) -> set[str]:
    """The edition's page names: home, study guide, glossary and one per notebook ('notebooks/01_x')."""
    return {"intro", *README_PAGES} | {f"{folder}/{path.stem}" for folder in FOLDERS
                                       for path in notebook_sources(edition, folder)}


def switch_link(page: str, edition: Edition, pages_there: set[str]) -> str:
    """HTML: a relative link from `page` to the same page of the other edition, else to its home page."""
    there = other_edition(edition)
    target = page if page in pages_there else "intro"
    label = there.switch_label if target == page else there.untranslated
    href = posixpath.relpath(posixpath.join(there.site, f"{target}.html"),
                             posixpath.dirname(posixpath.join(edition.site, page)) or ".")
    lang = there.language.replace("_", "-")
    return (f'<p class="language-switch" style="text-align: right; margin: 0">'
            f'<a href="{href}" hreflang="{lang}" lang="{lang}">{label}</a></p>')


def with_switch(markdown: str, switch: str) -> str:
    """The markdown with the language switch under its first `# ` heading (at the top without one)."""
    if not switch:
        return markdown
    heading = re.search(r"^# .*$", markdown, flags=re.M)
    at = heading.end() if heading else 0
    return f"{markdown[:at]}\n\n{switch}\n\n{markdown[at:].lstrip(chr(10))}".lstrip("\n")


def search_terms(path: Path) -> None:
    """A jieba user dictionary of the glossary's Chinese terms, so that search keeps 交叉熵 whole."""
    with (ROOT / "i18n" / "glossary.csv").open(encoding="utf-8") as rows:
        terms = [row["chinese"].strip() for row in csv.DictReader(rows)]
    path.write_text("".join(f"{term}\n" for term in dict.fromkeys(terms) if term and " " not in term),
                    encoding="utf-8")


def write_config(out: Path, repository_url: str | None, branch: str, edition: Edition = ENGLISH) -> None:
    """_config.yml from book/_config.yml in the edition's language, with launch links when the
    repository is known."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    if edition is not ENGLISH:
        config["title"] = edition.title
        config["sphinx"]["config"]["language"] = edition.language
    if edition.language.startswith("zh"):  # Sphinx segments Chinese with jieba, helped by the glossary
        search_terms(out / "search_terms.txt")
        config["sphinx"]["config"]["html_search_options"] = {"dict": str((out / "search_terms.txt").resolve())}
    if repository_url:
        config["repository"] = {"url": repository_url, "branch": branch, "path_to_book": edition.source}
        config["launch_buttons"].update(binderhub_url="https://mybinder.org",
                                        colab_url="https://colab.research.google.com")
        config["html"]["use_repository_button"] = True
    else:
        print("book: no repository URL (set BOOK_REPOSITORY_URL=https://github.com/OWNER/REPO): "
              "building without Binder and Colab launch links.")
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write_pages(out: Path, repository_url: str | None, edition: Edition = ENGLISH, switches=None) -> None:
    """The home page, the study guide and the glossary, from the edition's README and book/ intro,
    each with its language switch when `switches` (page name -> HTML) gives one."""
    readme = (ROOT / edition.readme).read_text(encoding="utf-8")
    clone_url = f"{repository_url}.git" if repository_url else "https://github.com/OWNER/REPO.git"
    pages = {"intro": (BOOK / edition.intro).read_text(encoding="utf-8").replace("{clone_url}", clone_url)}
    for page, index in README_PAGES.items():
        pages[page] = readme_section(readme, edition.headings[index], edition.readme)
    for page, text in pages.items():
        (out / f"{page}.md").write_text(with_switch(text, (switches or {}).get(page, "")), encoding="utf-8")


def write_toc(out: Path, course: list[Path], exercises: list[Path], edition: Edition = ENGLISH) -> None:
    """_toc.yml: home, study guide, every course notebook, every assignment, glossary (empty parts left out)."""
    def entries(paths: list[Path]) -> list[dict]:
        return [{"file": path.relative_to(out).with_suffix("").as_posix()} for path in paths]

    start, lessons, assignments, reference = edition.captions
    parts = [{"caption": start, "chapters": [{"file": "study_guide"}]},
             {"caption": lessons, "chapters": entries(course)},
             {"caption": assignments, "chapters": entries(exercises)},
             {"caption": reference, "chapters": [{"file": "glossary"}]}]
    toc = {"format": "jb-book", "root": "intro", "parts": [part for part in parts if part["chapters"]]}
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def copy_notebooks(out: Path, edition: Edition, switches: dict[str, str]) -> dict[str, list[Path]]:
    """Prepare the edition's notebooks into OUT; return their copies per folder."""
    copies = {}
    for folder in FOLDERS:
        sources = notebook_sources(edition, folder)
        if not sources and (edition is ENGLISH or folder == "notebooks"):
            sys.exit(f"No notebooks in {ROOT / edition.source / folder}: nothing to put in the book.")
        copies[folder] = [out / folder / path.name for path in sources]
        for path, target in zip(sources, copies[folder]):
            notebook_title(path)
            prepare_notebook(path, target, edition, switches.get(f"{folder}/{path.stem}", ""))
    return copies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the book's source folder (emptied first)")
    parser.add_argument("--language", choices=sorted(EDITIONS), default="en", help="the edition (default: en)")
    parser.add_argument("--repository-url", default="", help="https://github.com/OWNER/REPO, for launch links")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args(argv)
    edition = EDITIONS[args.language]
    url = args.repository_url.strip().removesuffix(".git") or None
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    pages_there = book_pages(other_edition(edition))
    switches = {page: switch_link(page, edition, pages_there) for page in book_pages(edition)}
    copies = copy_notebooks(args.out, edition, switches)
    write_config(args.out, url, args.branch, edition)
    write_pages(args.out, url, edition, switches)
    write_toc(args.out, copies["notebooks"], copies["exercises"], edition)
    print(f"book ({edition.language}): source ready in {args.out} ({len(copies['notebooks'])} course notebooks, "
          f"{len(copies['exercises'])} assignments)")


if __name__ == "__main__":
    main()
