"""The Chinese edition (tools/i18n.py): catalogs in step, code unchanged, terms kept, nothing left in English.

Each rule is tested twice: on the committed catalogs and notebooks of i18n/MANIFEST, and on a
temporary copy with a planted defect, to show that the rule fails when it should.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from tools import i18n

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = i18n.manifest()
EXAMPLE = "notebooks/02_numerical_stability.ipynb"  # a translated notebook for the planted defects


def read(path: Path):
    return nbformat.read(path, as_version=4)


def catalog_of(notebook: str):
    return i18n.read_catalog(i18n.catalog_path(notebook))


@pytest.fixture
def copy_of_example(tmp_path):
    """A temporary English notebook and its catalog: (English path, catalog path)."""
    english, catalog = tmp_path / EXAMPLE, tmp_path / "zh_CN" / Path(i18n.catalog_path(EXAMPLE)).name
    english.parent.mkdir(parents=True)
    catalog.parent.mkdir(parents=True)
    shutil.copy(ROOT / EXAMPLE, english)
    shutil.copy(i18n.catalog_path(EXAMPLE), catalog)
    return english, catalog


def test_the_manifest_names_english_notebooks_with_catalogs():
    assert EXAMPLE in NOTEBOOKS
    for notebook in NOTEBOOKS:
        assert (ROOT / notebook).is_file(), notebook
        assert i18n.catalog_path(notebook).is_file(), f"{notebook} has no catalog: run `make i18n`"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_cells_split_into_pieces_that_rebuild_them(notebook):
    for cell in read(ROOT / notebook).cells:
        assert "".join(piece.text for piece in i18n.cell_pieces(cell)) == cell.source


def test_labels_shown_by_way_of_a_name_are_units_but_names_and_keys_in_use_are_not():
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell('for what, call in [("a bad value", f), ("plain, T fitted", g)]:\n'
                      '    raise AssertionError(f"{what} must raise")\n'
                      'for scale in ["linear", "log"]:\n'
                      '    print(f"{scale} scale")\n'
                      'cases = {"very negative": -1000, f"case {T}": 1}\n'
                      'for name, value in cases.items():\n'
                      '    assert value, f"{name}: no value"\n'),
        new_code_cell('print(results["plain, T fitted"])\n'
                      'plot_curves(curves, "No regularisation")\n'
                      'ax = plot_sweep(x, y, "widget size")\n'
                      'assert "widget size" in ax.get_xlabel(), "label the x axis"\n'
                      'titles = [f"true: {t}" for t in ys]\n'
                      'show_images(xs, 1, 2, titles=titles)\n'),
    ])
    texts = [unit.text for unit in i18n.units(nb)]
    assert texts == ["a bad value", "{what} must raise", "{scale} scale", "very negative", "case {T}", "{name}: no value",
                     "No regularisation", "label the x axis", "true: {t}"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_unit_is_translated_and_not_fuzzy(notebook):
    problems = i18n.problems(ROOT / notebook, i18n.catalog_path(notebook), notebook)
    assert not problems, "run `make i18n`, translate these, then `make zh`:\n" + "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_catalog_is_in_step_with_the_english_notebook(notebook, tmp_path):
    copy = tmp_path / "catalog.po"
    shutil.copy(i18n.catalog_path(notebook), copy)
    i18n.update_catalog(ROOT / notebook, copy, notebook)
    assert copy.read_text(encoding="utf-8") == i18n.catalog_path(notebook).read_text(encoding="utf-8"), \
        f"{i18n.catalog_path(notebook)} is out of step with {notebook}: run `make i18n`"


def test_a_changed_english_cell_turns_its_translation_fuzzy_and_is_named(copy_of_example):
    english, catalog = copy_of_example
    nb = read(english)
    index = next(i for i, cell in enumerate(nb.cells) if cell.source.startswith("Add 999 to every logit."))
    old = nb.cells[index].source
    nb.cells[index].source = old.replace("Add 999", "Add 1000")
    nb.cells.insert(index, nbformat.v4.new_markdown_cell("A brand-new paragraph."))
    nbformat.write(nb, english)
    updated = i18n.update_catalog(english, catalog, EXAMPLE)
    problems = i18n.problems(english, catalog, EXAMPLE)
    assert any(f"cell {index + 1} (markdown, fuzzy): Add 1000 to every logit." in line for line in problems), problems
    assert any(f"cell {index} (markdown, untranslated): A brand-new paragraph." in line for line in problems), problems
    fuzzy = updated.find(nb.cells[index + 1].source)
    assert "fuzzy" in fuzzy.flags and fuzzy.previous_msgid == old and fuzzy.msgstr
    built = i18n.translate_notebook(nb, updated, EXAMPLE)
    assert built.cells[index + 1].source == nb.cells[index + 1].source  # fuzzy units stay English


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_committed_chinese_notebook_is_the_built_one(notebook, tmp_path):
    built = read(i18n.build([notebook], zh_dir=tmp_path)[0])
    committed = read(i18n.zh_path(notebook))
    assert [(c.cell_type, c.get("id"), c.source) for c in built.cells] == \
           [(c.cell_type, c.get("id"), c.source) for c in committed.cells], f"run `make zh`: {notebook} is stale"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_chinese_notebook_ran_top_to_bottom(notebook):
    cells = [cell for cell in read(i18n.zh_path(notebook)).cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), "run `make zh`"
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_chinese_code_is_the_english_code(notebook):
    differences = i18n.code_differences(read(ROOT / notebook), read(i18n.zh_path(notebook)))
    assert not differences, "\n".join(differences)


def test_code_comparison_ignores_texts_but_catches_a_changed_line():
    english = read(ROOT / EXAMPLE)
    chinese = read(i18n.zh_path(EXAMPLE))
    index = next(i for i, cell in enumerate(english.cells) if "large = small + 999.0" in cell.source)
    assert english.cells[index].source != chinese.cells[index].source  # its print texts are translated
    chinese.cells[index].source = chinese.cells[index].source.replace("999.0", "998.0")
    assert i18n.code_differences(english, chinese) == [f"cell {index}: code differs: "
                                                       + i18n.shorten(chinese.cells[index].source, 80)]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_translations_use_the_term_base(notebook):
    mismatches = i18n.term_mismatches(catalog_of(notebook), i18n.glossary(), notebook)
    assert not mismatches, "\n".join(mismatches)


def test_a_wrong_term_is_listed():
    catalog = catalog_of(EXAMPLE)
    entry = next(e for e in catalog if e.msgid.startswith("### Cross-entropy straight from the logits"))
    entry.msgstr = entry.msgstr.replace("交叉熵", "互熵")
    mismatches = i18n.term_mismatches(catalog, i18n.glossary(), EXAMPLE)
    assert mismatches == [f"{EXAMPLE}: 'cross-entropy' should be '交叉熵' in: {entry.msgstr}"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_no_english_sentence_is_left(notebook):
    left = i18n.english_left(catalog_of(notebook), notebook)
    assert not left, "\n".join(left)


def test_an_english_sentence_left_in_chinese_is_found_but_code_and_maths_are_not():
    catalog = catalog_of(EXAMPLE)
    entry = next(e for e in catalog if e.msgid == "*The main path continues here.*")
    entry.msgstr = "*主线从这里继续。* The main path continues here."
    assert i18n.english_left(catalog, EXAMPLE) == [
        f"{EXAMPLE}: English left ('The main path continues here') in: {entry.msgstr}"]
    entry.msgstr = "用`torch.nn.functional.log_softmax`计算$\\ln(\\text{smallest normal number})$，见Fashion-MNIST。"
    assert i18n.english_left(catalog, EXAMPLE) == []
    entry.msgstr = "见《论现代神经网络的校准》（*On Calibration of Modern Neural Networks*）。"  # a cited title
    assert i18n.english_left(catalog, EXAMPLE) == []
    entry.msgstr = "见*On Calibration of Modern Neural Networks*。"  # a title with no Chinese one before it
    assert len(i18n.english_left(catalog, EXAMPLE)) == 1


def test_the_readme_glossaries_are_generated_from_the_term_base(tmp_path):
    terms = i18n.glossary()
    for readme, chinese_first in i18n.readmes().items():
        text = readme.read_text(encoding="utf-8")
        assert i18n.with_glossary(text, i18n.glossary_markdown(terms, chinese_first)) == text, \
            f"{readme.name}: its glossary differs from i18n/glossary.csv; run `python -m tools.i18n readme`"
    changed = tmp_path / "glossary.csv"
    changed.write_text(i18n.GLOSSARY.read_text(encoding="utf-8").replace("独热编码", "one-hot 编码"), encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert i18n.with_glossary(readme, i18n.glossary_markdown(i18n.glossary(changed))) != readme


def test_the_term_base_has_unique_terms_and_the_d2l_names():
    terms = i18n.glossary()
    english = [term.english.lower() for term in terms]
    assert len(english) == len(set(english))
    names = {term.english: term.chinese for term in terms}
    for word, chinese in [("mini-batch stochastic gradient descent", "小批量随机梯度下降"), ("one-hot encoding", "独热编码"),
                          ("cross-entropy loss", "交叉熵损失"), ("logits", "未规范化的预测"), ("softmax regression", "softmax回归"),
                          ("loss function", "损失函数"), ("learning rate", "学习率"), ("batch size", "批量大小"),
                          ("overfitting", "过拟合"), ("temperature", "温度"), ("log-likelihood", "对数似然"), ("entropy", "熵")]:
        assert names[word] == chinese


def test_chinese_exercises_are_generated_from_the_chinese_solutions(tmp_path):
    from grading.generate import generate

    solutions = i18n.ZH_DIR / "solutions"
    written = generate(solutions, tmp_path) if solutions.is_dir() else []
    committed = sorted((i18n.ZH_DIR / "exercises").glob("[0-9][0-9]_*.ipynb"))
    assert [path.name for path in written] == [path.name for path in committed], "run `make zh`"
    for path in written:
        assert path.read_text(encoding="utf-8") == (i18n.ZH_DIR / "exercises" / path.name).read_text(encoding="utf-8")
        assert read(path).metadata["workbook_assignment"]["id"] == path.stem  # graded as the English assignment


def test_a_message_after_a_non_ascii_character_is_cut_where_it_starts():
    """ast counts columns in bytes: "±" before a message must not shift it."""
    pieces = i18n.code_pieces('x = "±"; print("after ± sign")\n')
    assert [piece.text for piece in pieces if piece.kind] == ["after ± sign"]
