"""The Chinese edition in JupyterLab with the zh_CN locale (as `make lab-zh`): the menus are in
Chinese, a notebook runs clean through the Chinese Kernel menu, what utils prints in it is in
Chinese (found from the notebook's metadata: the served copy has no .workbook-language file),
and its Chinese text is drawn with real CJK glyphs, not boxes. Screenshot: build/ui/zh-<notebook>.png.

Nothing here depends on English menu text: the Kernel menu is found by its Chinese label and
its item by the JupyterLab command id (`data-command`).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import ROOT
from test_lab import (CELLS, RECORD_FRAMES, RUN_ALL_MS, RUN_FINISHED, RUN_STATE, STEP_MS, error_outputs,
                      open_notebook, shut_down)

NOTEBOOK = "notebooks/03_fashion_mnist.ipynb"  # quick to run, and prints through utils (its data check)
UTILS_IN_CHINESE = "数据：真实的Fashion-MNIST"  # utils.data.describe() in a Chinese notebook
RESTART_RUN_ALL = "runmenu:restart-and-run-all"  # the Kernel menu's item (notebook:restart-run-all runs it)
MENU_BAR = ".lm-MenuBar-itemLabel"
# Draw characters on a canvas in the font of the notebook's text: different CJK characters must
# give different pictures (missing glyphs all come out as the same box) and differ from an
# unassigned code point (U+0378), which has no glyph in any font.
GLYPHS = """() => {
    const text = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown');
    const family = getComputedStyle(text).fontFamily;
    const canvas = document.createElement('canvas');
    canvas.width = 48; canvas.height = 48;
    const context = canvas.getContext('2d');
    const draw = (character) => {
        context.clearRect(0, 0, 48, 48);
        context.font = `32px ${family}`;
        context.fillText(character, 4, 38);
        return context.getImageData(0, 0, 48, 48).data.join(',');
    };
    const pictures = ['交', '叉', '熵'].map(draw);
    return {family, distinct: new Set(pictures).size, inked: pictures[0] !== draw(' '),
            notABox: !pictures.includes(draw('\\u0378')),
            fontsCheck: document.fonts.check('16px "Noto Sans CJK SC"', '交叉熵'),
            width: (() => { context.font = `32px ${family}`; return context.measureText('交叉熵').width; })()};
}"""


def run_all_through_chinese_menu(page, name: str) -> str:
    """内核 > the item of `notebook:restart-run-all`, confirm; wait until no cell is [*]. Returns the dialog's text."""
    page.evaluate(RECORD_FRAMES)
    page.locator(MENU_BAR, has_text="内核").click(timeout=STEP_MS)
    item = page.locator(f'.lm-Menu-item[data-command="{RESTART_RUN_ALL}"]')
    try:
        item.click(timeout=STEP_MS)
    except PlaywrightTimeout:
        pytest.fail(f"the 内核 menu has no item for the command {RESTART_RUN_ALL} within {STEP_MS // 1000} s")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=STEP_MS)
    question = dialog.inner_text(timeout=STEP_MS)
    dialog.locator(".jp-mod-accept").click(timeout=STEP_MS)
    try:
        page.wait_for_function(RUN_FINISHED, timeout=RUN_ALL_MS, polling=250)
    except PlaywrightTimeout:
        state = page.evaluate(RUN_STATE)
        pytest.fail(f"{name}: the run did not finish within {RUN_ALL_MS // 1000} s: kernel {state['kernel']}, "
                    f"cells still [*]: {state['busy']}, any [*] seen: {state['sawBusy']}")
    return question


def test_chinese_notebook_runs_in_chinese_jupyterlab(browser, lab_zh, screenshots):
    path = ROOT / "zh" / NOTEBOOK
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make zh`")
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.set_default_timeout(STEP_MS)
    try:
        open_notebook(page, lab_zh, NOTEBOOK)
        page.locator(MENU_BAR, has_text="文件").wait_for(timeout=STEP_MS)
        menus = page.locator(MENU_BAR).all_inner_texts()
        assert "文件" in menus and "内核" in menus, f"the menu bar is not in Chinese: {menus}"
        assert not {"File", "Kernel"} & set(menus), f"English menus left in the Chinese JupyterLab: {menus}"

        question = run_all_through_chinese_menu(page, path.stem)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in question), f"the restart dialog is not in Chinese: {question!r}"
        cells = page.evaluate(CELLS)
        code = [cell for cell in cells if cell["type"] == "code"]
        assert [cell["count"] for cell in code] == list(range(1, len(code) + 1)), \
            f"{path.name}: not every cell ran, in order, in the fresh kernel"
        assert not error_outputs(cells), f"{path.name}: " + "; ".join(error_outputs(cells))
        assert any(UTILS_IN_CHINESE in cell["text"] for cell in code), \
            f"{path.name}: utils did not print in Chinese in JupyterLab (no '{UTILS_IN_CHINESE}' in any output)"

        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.scroll_into_view_if_needed()
        page.screenshot(path=screenshots / f"zh-{path.stem}.png")
        glyphs = page.evaluate(GLYPHS)
        assert glyphs["inked"] and glyphs["distinct"] == 3 and glyphs["notABox"], \
            f"Chinese text is not drawn with CJK glyphs (font {glyphs['family']}): {glyphs}; install fonts-noto-cjk"
    finally:
        shut_down(page)
        page.close()
