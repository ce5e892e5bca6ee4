"""The Chinese edition of the book (`make book`, served in zh/ of the same site): its pages are
Chinese (zh-CN), every page links to the same page in English and back, every English page
links to its Chinese page (or, not translated yet, to the Chinese home page), and its search,
segmented by jieba, finds the notebooks that teach 交叉熵. Screenshot: build/ui/book-zh-*.png."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urljoin

import pytest

from conftest import BOOK_HTML, BOOK_HTML_ZH, ROOT

STEP_MS = 30_000
SWITCH = "p.language-switch a"
TERM = "交叉熵"


def pages(html: Path) -> list[str]:
    """The content pages of one edition, as paths relative to the site's root."""
    found = [html / "intro.html", html / "study_guide.html", html / "glossary.html"]
    found += sorted((html / "notebooks").glob("*.html")) + sorted((html / "exercises").glob("*.html"))
    return [path.relative_to(BOOK_HTML).as_posix() for path in found if path.exists()]


def switch_target(page, url: str) -> tuple[str, str]:
    """Open `url`; return the language switch's absolute target and its page's <html lang>."""
    page.goto(url, wait_until="domcontentloaded", timeout=STEP_MS)
    links = page.locator(SWITCH)
    assert links.count() == 1, f"{url}: {links.count()} language switches, expected one"
    return links.first.evaluate("a => a.href"), page.evaluate("() => document.documentElement.lang")


@pytest.fixture()
def page(browser):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(STEP_MS)
    yield page
    page.close()


def test_chinese_book_exists_with_every_translated_notebook():
    assert (BOOK_HTML_ZH / "intro.html").exists(), f"no Chinese book in {BOOK_HTML_ZH}: run `make book`"
    for notebook in sorted((ROOT / "zh" / "notebooks").glob("*.ipynb")):
        assert (BOOK_HTML_ZH / "notebooks" / f"{notebook.stem}.html").exists(), f"the Chinese book misses {notebook.name}"


def test_chinese_pages_link_to_english_and_back(page, book_site, screenshots):
    chinese = pages(BOOK_HTML_ZH)
    assert len(chinese) > 3, f"the Chinese book has only {chinese}"
    for relative in chinese:
        url = urljoin(book_site, relative)
        english, lang = switch_target(page, url)
        assert lang == "zh-CN", f"{relative}: <html lang={lang!r}>, expected zh-CN"
        assert english == urljoin(book_site, relative.removeprefix("zh/")), \
            f"{relative}: the English link goes to {english}"
        back, lang = switch_target(page, english)
        assert lang == "en" and back == url, f"{english}: the Chinese link goes to {back}, not back to {url}"
        if relative == "zh/notebooks/02_numerical_stability.html":
            page.goto(url, wait_until="load")
            page.screenshot(path=screenshots / "book-zh-02_numerical_stability.png")


def test_english_pages_link_to_chinese(page, book_site):
    chinese = set(pages(BOOK_HTML_ZH))
    for relative in pages(BOOK_HTML):
        if relative.startswith("zh/"):
            continue
        target, _ = switch_target(page, urljoin(book_site, relative))
        expected = f"zh/{relative}" if f"zh/{relative}" in chinese else "zh/intro.html"
        assert target == urljoin(book_site, expected), f"{relative}: the Chinese link goes to {target}"


def teaching(term: str) -> set[str]:
    """The Chinese notebooks whose text (markdown) uses the term."""
    found = set()
    for path in sorted((ROOT / "zh" / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        if any(cell["cell_type"] == "markdown" and term in "".join(cell["source"]) for cell in cells):
            found.add(path.stem)
    return found


def test_chinese_search_finds_the_notebooks_that_teach_cross_entropy(page, book_site, screenshots):
    expected = teaching(TERM)
    assert expected, f"no Chinese notebook uses {TERM}: nothing to search for"
    page.goto(urljoin(book_site, f"zh/search.html?q={quote(TERM)}"), wait_until="load")
    try:
        page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0", timeout=STEP_MS)
    except Exception:
        pytest.fail(f"searching {TERM} in the Chinese book listed nothing within {STEP_MS // 1000} s")
    page.screenshot(path=screenshots / "book-zh-search.png")
    hits = page.locator("#search-results li a").evaluate_all("links => links.map(a => a.href)")
    found = {hit.split("/zh/notebooks/")[1].split(".html")[0] for hit in hits if "/zh/notebooks/" in hit}
    assert expected <= found, f"searching {TERM} missed {sorted(expected - found)}: {hits}"
    assert all("/zh/" in hit for hit in hits), f"the Chinese search lists pages outside the Chinese book: {hits}"
