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
    ("history = train(net, data)", "Numbers vary.", prepare.HELPER_FIGURES["train"]),
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
    assert copy.cells[2].outputs[0]["data"] == {"text/markdown": prepare.WIDGET_NOTE}
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
