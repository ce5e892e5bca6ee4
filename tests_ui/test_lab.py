"""What a student sees in JupyterLab: every course notebook runs clean, sliders move plots,
the training plot is live, and an unanswered exercise fails with the student's own error.

Each notebook is opened in headless Chromium, run with Kernel > Restart Kernel and Run All
Cells, and read back from the page (text with textContent, outputs from the notebook model
that JupyterLab shows). Screenshots: build/ui/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import ROOT, SCREENSHOTS

COURSE = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISE = ROOT / "exercises" / "03_realsoftmax.ipynb"
STEP_MS = 30_000  # one click, one page load, one figure redraw
RUN_ALL_MS = 180_000  # one whole notebook (each runs in well under a minute)
# A call of the workbook's training loop, which draws the live training plot unless plot=False.
TRAINING_CALL = re.compile(r"(?<!def )(?<![\w.])train\(|utils\.train\.train\(")

# What an untrusted or unrendered widget looks like: its Python repr instead of the widget.
WIDGET_AS_TEXT = re.compile(r"interactive\(children=|\w+Slider\(value=")

RECORD_FRAMES = """() => {
    // Record every distinct image each cell shows while the notebook runs.
    window.uiFrames = {};
    const cells = () => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')];
    const note = (img) => {
        const cell = img.closest('.jp-Cell');
        if (!cell || !img.src) return;
        const index = cells().indexOf(cell);
        const key = img.src.length + ':' + img.src.slice(-80);
        (window.uiFrames[index] = window.uiFrames[index] || new Set()).add(key);
    };
    new MutationObserver((mutations) => {
        for (const m of mutations) {
            if (m.type === 'attributes' && m.target.tagName === 'IMG') note(m.target);
            for (const node of m.addedNodes || []) {
                if (node.nodeType !== 1) continue;
                if (node.tagName === 'IMG') note(node);
                node.querySelectorAll('img').forEach(note);
            }
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    window.uiSawBusy = false;
    window.uiBusyWatch = setInterval(() => {
        if ([...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('[*]')))
            window.uiSawBusy = true;
    }, 50);
}"""

RUN_FINISHED = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const busy = [...panel.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('[*]'));
    return window.uiSawBusy && kernel && kernel.status === 'idle' && !busy;
}"""

KERNEL_CONNECTED_AND_IDLE = """() => {
    const session = window.jupyterapp.shell.currentWidget.sessionContext.session;
    const kernel = session && session.kernel;
    return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

RUN_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const prompts = [...panel.node.querySelectorAll('.jp-Cell')].map(c => c.querySelector('.jp-InputPrompt'));
    return {kernel: kernel ? kernel.status : 'none', sawBusy: window.uiSawBusy,
            busy: prompts.flatMap((p, i) => p && p.textContent.includes('[*]') ? [i] : [])};
}"""

CELLS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const nodes = [...panel.node.querySelectorAll('.jp-Cell')];
    return [...panel.content.model.cells].map((cell, i) => ({
        type: cell.type,
        source: cell.sharedModel.getSource(),
        count: cell.type === 'code' ? cell.executionCount : null,
        outputs: cell.type === 'code' ? cell.outputs.toJSON() : [],
        text: nodes[i] ? nodes[i].querySelector('.jp-Cell-outputWrapper, .jp-OutputArea')?.textContent || '' : '',
    }));
}"""


def open_notebook(page, lab, relative: str):
    base, token = lab
    page.goto(f"{base}lab/tree/{relative}?reset&token={token}", timeout=STEP_MS * 4)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.isReady",
                           timeout=STEP_MS * 4)
    # A restart while the new kernel's websocket is still being set up can leave the page on a
    # dead connection (jupyter_server: "Replacing stale connection", then no cell ever runs).
    page.wait_for_function(KERNEL_CONNECTED_AND_IDLE, timeout=STEP_MS * 4, polling=250)


def restart_and_run_all(page, name: str) -> None:
    """Kernel menu > Restart Kernel and Run All Cells…, confirm, wait until no cell is [*]."""
    page.evaluate(RECORD_FRAMES)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click(timeout=STEP_MS)
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click(timeout=STEP_MS)
    page.locator(".jp-Dialog .jp-mod-accept").click(timeout=STEP_MS)
    try:
        page.wait_for_function(RUN_FINISHED, timeout=RUN_ALL_MS, polling=250)
    except PlaywrightTimeout:
        state = page.evaluate(RUN_STATE)
        page.screenshot(path=SCREENSHOTS / f"timeout-{name}.png")
        pytest.fail(f"{name}: the run did not finish within {RUN_ALL_MS // 1000} s: kernel {state['kernel']}, "
                    f"cells still [*]: {state['busy']}, any [*] seen: {state['sawBusy']} "
                    f"(screenshot build/ui/timeout-{name}.png)")


def shut_down(page) -> None:
    page.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")


def error_outputs(cells) -> list[str]:
    found = []
    for index, cell in enumerate(cells):
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue']}")
            elif output.get("name") == "stderr":
                found.append(f"cell {index} wrote to stderr: {''.join(output['text'])[:300]}")
    return found


def check_sliders(page, name: str, screenshots: Path) -> int:
    """Every slider is a real slider, and dragging it redraws the figure of its widget."""
    sliders = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider")
    for index in range(sliders.count()):
        slider = sliders.nth(index)
        handle = slider.locator(".noUi-handle, input[type=range]").first
        assert handle.count() == 1, f"{name}: slider {index} has no handle to drag"
        widget = slider.locator("xpath=ancestor::div[contains(@class, 'widget-interact')][1]")
        if widget.count() == 0:  # a slider outside `interactive`: its figure is in the same cell
            widget = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]")
        figure = widget.locator("img").first
        figure.wait_for(timeout=STEP_MS)
        before = figure.get_attribute("src")
        handle.scroll_into_view_if_needed(timeout=STEP_MS)
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        page.wait_for_function("([root, before]) => { const img = root.querySelector('img');"
                               " return img && img.src !== before; }",
                               arg=[widget.element_handle(), before], timeout=STEP_MS)
        if index == 0:
            widget.screenshot(path=screenshots / f"{name}-slider.png")
    return sliders.count()


def live_plot_cells(path: Path) -> list[int]:
    """Indices of the cells that call the training loop and whose stored output is its plot."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [index for index, cell in enumerate(cells)
            if cell["cell_type"] == "code" and TRAINING_CALL.search("".join(cell["source"]))
            and any("image/png" in output.get("data", {}) for output in cell["outputs"])]


def stored_widgets(path: Path) -> int:
    """How many widget outputs the committed notebook holds."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum("application/vnd.jupyter.widget-view+json" in output.get("data", {})
               for cell in cells for output in cell.get("outputs", []))


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_course_notebook_runs_in_jupyterlab(browser, lab, screenshots, path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(STEP_MS)
    try:
        open_notebook(page, lab, f"notebooks/{path.name}")
        restart_and_run_all(page, path.stem)
        cells = page.evaluate(CELLS)
        page.screenshot(path=screenshots / f"{path.stem}.png")
        code = [cell for cell in cells if cell["type"] == "code"]
        assert [cell["count"] for cell in code] == list(range(1, len(code) + 1)), \
            f"{path.name}: not every cell ran, in order, in the fresh kernel"
        assert not error_outputs(cells), f"{path.name}: " + "; ".join(error_outputs(cells))
        shown_as_text = [i for i, cell in enumerate(cells) if WIDGET_AS_TEXT.search(cell["text"])]
        assert not shown_as_text, f"{path.name}: cells {shown_as_text} show a widget as text, not as a widget"

        frames = page.evaluate("() => Object.fromEntries(Object.entries(window.uiFrames)"
                               ".map(([k, v]) => [k, v.size]))")
        for index in live_plot_cells(path):
            assert frames.get(str(index), 0) > 1, \
                f"{path.name}: the training plot of cell {index} drew {frames.get(str(index), 0)} frame(s), not a live plot"
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index).screenshot(
                path=screenshots / f"{path.stem}-training.png")

        sliders = check_sliders(page, path.stem, screenshots)
        if stored_widgets(path):
            assert sliders >= 1, f"{path.name}: its stored outputs hold widgets, but the page shows no slider"
    finally:
        shut_down(page)
        page.close()


def test_the_checks_above_are_not_vacuous():
    """04 and 05 (at least) train with the live plot, and 01 (at least) has sliders."""
    assert any(stored_widgets(path) for path in COURSE), "no course notebook has a slider to check"
    training = [path.name for path in COURSE if live_plot_cells(path)]
    assert len(training) >= 2, f"expected the live training plot in 04 and 05, found it in {training}"


def test_unanswered_exercise_shows_the_students_error(browser, lab, screenshots):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(STEP_MS)
    try:
        open_notebook(page, lab, f"exercises/{EXERCISE.name}")
        restart_and_run_all(page, EXERCISE.stem)
        cells = page.evaluate(CELLS)
        first_check = next(i for i, cell in enumerate(cells) if cell["source"].startswith("# CHECK"))
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(first_check).scroll_into_view_if_needed()
        page.screenshot(path=screenshots / f"exercise-{EXERCISE.stem}.png")
        errors = [(i, o) for i, cell in enumerate(cells) for o in cell["outputs"] if o["output_type"] == "error"]
        assert errors, "the unanswered exercise ran without any error"
        index, error = errors[0]
        assert index == first_check, f"the first error is in cell {index}, not in the first CHECK cell {first_check}"
        assert error["ename"] == "NotImplementedError", f"the first CHECK cell failed with {error['ename']}"
        assert "NotImplementedError" in cells[first_check]["text"], "the page does not show the NotImplementedError"
        status = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status")
        assert status == "idle", f"the kernel is {status} after the error: it should survive a student's error"
    finally:
        shut_down(page)
        page.close()
