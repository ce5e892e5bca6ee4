"""book/prepare.py: the book's pages come from the repository, every figure gets alternative text."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_prepare", ROOT / "book" / "prepare.py")
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)

PNG = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}


def figure_cell(source):
    return nbformat.v4.new_code_cell(source, outputs=[nbformat.v4.new_output("display_data", data=PNG)])


@pytest.mark.parametrize("source, markdown, expected", [
    ("# alt: Three bars, one per class\nplt.bar(x, y)", "Here:", "Three bars, one per class"),
    ("ax.set_title('Pixel values')\nfig.suptitle(\"All images\")", "Here:", "Figure: Pixel values; All images"),
    ("plot_confusion_matrix(m, names, title='Confusion matrix')", "", "Figure: Confusion matrix"),
    ("ax.set_title(f'epoch {n}')", "The loss falls. A gallery of the errors:", "Figure: A gallery of the errors"),
    ("history = train(net, data)", "Numbers vary.", prepare.ENGLISH.helper_figures["train"]),
    ("show(x)", "", "Figure of 01_demo"),
])
def test_alt_text_comes_from_a_comment_the_titles_or_the_sentence_before(source, markdown, expected):
    assert prepare.alt_text(figure_cell(source), markdown, "01_demo") == expected


def test_every_figure_gets_alt_text_and_widgets_become_a_note(tmp_path):
    widget = nbformat.v4.new_output("display_data", data={
        prepare.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "interactive(children=(FloatSlider(...)"})
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 01 · Demo\n\nThe loss per epoch:"),
        figure_cell("ax.plot(loss)"),
        nbformat.v4.new_code_cell("display(slider)", outputs=[widget]),
    ], metadata={"widgets": {"state": {}}})
    source, target = tmp_path / "in.ipynb", tmp_path / "out" / "in.ipynb"
    nbformat.write(notebook, source)
    prepare.prepare_notebook(source, target)
    copy = nbformat.read(target, as_version=4)
    assert copy.cells[1].metadata["mystnb"]["image"]["alt"] == "Figure: The loss per epoch"
    assert copy.cells[2].outputs[0]["data"] == {"text/markdown": prepare.ENGLISH.widget_note}
    assert "widgets" not in copy.metadata
    assert nbformat.read(source, as_version=4).metadata["widgets"] == {"state": {}}, "the original changed"


def test_the_book_holds_the_whole_course_and_the_readme_pages(tmp_path):
    prepare.main([str(tmp_path / "src"), "--repository-url", "https://github.com/owner/repo.git"])
    toc = yaml.safe_load((tmp_path / "src" / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    for folder in ("notebooks", "exercises"):
        assert [f for f in files if f.startswith(folder)] == \
            [f"{folder}/{p.stem}" for p in sorted((ROOT / folder).glob("*.ipynb"))]
    assert (tmp_path / "src" / "glossary.md").read_text().startswith("# Glossary")
    assert (tmp_path / "src" / "study_guide.md").read_text().startswith("# How to study")
    config = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text())
    assert config["repository"]["url"] == "https://github.com/owner/repo"
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["binderhub_url"]
    assert "https://github.com/owner/repo.git" in (tmp_path / "src" / "intro.md").read_text()


def test_without_a_repository_url_the_book_has_no_launch_links(tmp_path):
    prepare.main([str(tmp_path / "src")])
    config = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text())
    assert "repository" not in config, "Jupyter Book would fall back to its own repository's URL"
    assert not config["launch_buttons"]["colab_url"] and not config["launch_buttons"]["binderhub_url"]


@pytest.mark.parametrize("page, edition, there, expected", [
    ("notebooks/02_x", prepare.ENGLISH, {"notebooks/02_x"}, ('href="../zh/notebooks/02_x.html"', ">中文<")),
    ("notebooks/01_x", prepare.ENGLISH, {"intro"}, ('href="../zh/intro.html"', ">中文版（本页尚未翻译）<")),
    ("intro", prepare.ENGLISH, {"intro"}, ('href="zh/intro.html"', 'hreflang="zh-CN"')),
    ("notebooks/02_x", prepare.CHINESE, {"notebooks/02_x"}, ('href="../../notebooks/02_x.html"', ">English<")),
    ("glossary", prepare.CHINESE, {"glossary"}, ('href="../glossary.html"', 'lang="en"')),
])
def test_the_language_switch_links_to_the_same_page_in_the_other_edition(page, edition, there, expected):
    link = prepare.switch_link(page, edition, there)
    assert all(part in link for part in expected), link


def test_the_switch_goes_under_the_title():
    assert prepare.with_switch("# Title\n\nText.", "<p>S</p>") == "# Title\n\n<p>S</p>\n\nText."
    assert prepare.with_switch("No title.", "<p>S</p>") == "<p>S</p>\n\nNo title."
    assert prepare.with_switch("# Title", "") == "# Title"


@pytest.mark.parametrize("markdown, expected", [
    ("损失在下降。下面是错误的图：", "下面是错误的图"),
    ("The loss falls. 它画出每一轮的损失！", "它画出每一轮的损失！"),
])
def test_last_sentence_splits_chinese_sentences(markdown, expected):
    assert prepare.last_sentence(markdown) == expected


def test_chinese_alt_text_and_widget_note(tmp_path):
    assert prepare.alt_text(figure_cell("ax.set_title('像素值')"), "", "02", prepare.CHINESE) == "图：像素值"
    assert prepare.alt_text(figure_cell("show(x)"), "", "02_demo", prepare.CHINESE) == "02_demo的图"
    assert prepare.alt_text(figure_cell("train(net)"), "", "05", prepare.CHINESE) == \
        prepare.CHINESE.helper_figures["train"]


def test_the_chinese_book_holds_the_translated_notebooks_and_the_chinese_readme(tmp_path):
    out = tmp_path / "src-zh"
    prepare.main([str(out), "--language", "zh_CN", "--repository-url", "https://github.com/owner/repo"])
    config = yaml.safe_load((out / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["language"] == "zh_CN"
    assert config["repository"]["path_to_book"] == "zh", "launch links must open zh/notebooks/..."
    terms = Path(config["sphinx"]["config"]["html_search_options"]["dict"]).read_text(encoding="utf-8").split()
    assert "交叉熵" in terms, "jieba needs the glossary's terms to keep 交叉熵 whole"
    toc = yaml.safe_load((out / "_toc.yml").read_text(encoding="utf-8"))
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    for folder in prepare.FOLDERS:
        assert [f for f in files if f.startswith(folder)] == \
            [f"{folder}/{p.stem}" for p in sorted((ROOT / "zh" / folder).glob("*.ipynb"))]
    assert all(part["chapters"] for part in toc["parts"]), "an empty part (nothing translated yet) is left out"
    assert (out / "study_guide.md").read_text(encoding="utf-8").startswith("# 如何学习")
    glossary = (out / "glossary.md").read_text(encoding="utf-8")
    assert glossary.startswith("# 术语表") and 'href="../glossary.html"' in glossary
    for notebook in sorted((out / "notebooks").glob("*.ipynb")):
        first = nbformat.read(notebook, as_version=4).cells[0].source
        assert f'href="../../notebooks/{notebook.name[:-6]}.html"' in first, f"{notebook.name}: no English link"


def test_the_english_book_links_every_page_to_chinese(tmp_path):
    prepare.main([str(tmp_path / "src")])
    for notebook in sorted((tmp_path / "src" / "notebooks").glob("*.ipynb")):
        first = nbformat.read(notebook, as_version=4).cells[0].source
        translated = (ROOT / "zh" / "notebooks" / notebook.name).exists()
        target = f"../zh/notebooks/{notebook.stem}.html" if translated else "../zh/intro.html"
        assert f'href="{target}"' in first, f"{notebook.name}: no link to {target}"
