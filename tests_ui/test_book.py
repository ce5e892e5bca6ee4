"""The built book (`make book`) in headless Chromium: every page loads with nothing fetched from
outside, every image is there with alternative text, the maths is typeset, no internal link
is broken, search finds pages, and the table of contents lists the whole course."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import BOOK_HTML, ROOT

STEP_MS = 30_000
MATH_MS = 20_000
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)"', re.I)
PAGE_FACTS = """() => ({
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: [...document.querySelectorAll('img')].map(img => ({
        src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0, alt: img.getAttribute('alt') || ''})),
    math: document.querySelectorAll('.math').length,
    typeset: [...document.querySelectorAll('.math')].filter(m => m.querySelector('mjx-container')).length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    title: document.title,
})"""


def book_pages() -> list[Path]:
    pages = sorted(BOOK_HTML.rglob("*.html"))  # both editions: the Chinese one is in zh/
    return [page for page in pages if not any(part.startswith("_") for part in page.relative_to(BOOK_HTML).parts)]


@pytest.fixture(scope="module")
def visited(browser, book_site, screenshots):
    """Load every page once; return {url: facts} and the outside requests that were attempted."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    outside, facts, failures = [], {}, []

    def only_local(route):
        if urlparse(route.request.url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("response", lambda response: response.status >= 400 and failures.append(
        f"{response.url}: HTTP {response.status} (asked for by {page.url})"))
    page.set_default_timeout(STEP_MS)
    for path in book_pages():
        url = urljoin(book_site, path.relative_to(BOOK_HTML).as_posix())
        redirect = REDIRECT.search(path.read_text(encoding="utf-8"))
        if redirect:  # index.html only sends the browser on: check where to
            if not (path.parent / redirect.group(1)).exists():
                failures.append(f"{url}: redirects to the missing {redirect.group(1)}")
            continue
        response = page.goto(url, wait_until="load")
        if response is None or not response.ok:
            failures.append(f"{url}: HTTP {response.status if response else 'no response'}")
            continue
        if page.locator(".math").count():
            try:
                page.wait_for_function("() => [...document.querySelectorAll('.math')]"
                                       ".every(m => m.querySelector('mjx-container'))", timeout=MATH_MS)
            except PlaywrightTimeout:
                pass  # test_maths_is_typeset names the page
        facts[url] = page.evaluate(PAGE_FACTS)
        if path.parent.name == "notebooks" and path.stem.startswith("01"):
            page.screenshot(path=screenshots / f"book-{path.stem}.png", full_page=False)
    context.close()
    return facts, failures, outside


def test_every_page_loads_offline(visited):
    facts, failures, outside = visited
    assert len(facts) > len(list((ROOT / "notebooks").glob("*.ipynb"))), f"only {len(facts)} pages loaded"
    problems = failures + [f"{url}: outside the site (the book must work offline)" for url in sorted(set(outside))]
    assert not problems, f"{len(problems)} problems: {problems[:6]}"


def test_every_image_is_present_with_alternative_text(visited):
    facts, _, _ = visited
    images = [(url, image) for url, page in facts.items() for image in page["images"]]
    assert images, "the book shows no image at all"
    broken = [f"{url}: {image['src'][:100]}" for url, image in images if not image["ok"]]
    assert not broken, f"images that did not load: {broken[:5]}"
    no_alt = [f"{url}: {image['src'][:100]}" for url, image in images if not image["alt"].strip()]
    assert not no_alt, f"images without alternative text: {no_alt[:5]}"


def test_maths_is_typeset(visited):
    facts, _, _ = visited
    with_math = {url: page for url, page in facts.items() if page["math"]}
    assert with_math, "no page has maths: MathJax cannot be checked"
    for url, page in with_math.items():
        assert page["typeset"] == page["math"], f"{url}: {page['math'] - page['typeset']} formulas not typeset"
        assert not page["mathErrors"], f"{url}: {page['mathErrors']} formulas with TeX errors"


def test_no_internal_link_is_broken(visited, book_site):
    facts, _, _ = visited
    broken = []
    for url, page in facts.items():
        for link in page["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(book_site):
                continue
            path = BOOK_HTML / target[len(book_site):]
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{url} -> {link}")
            elif fragment and path.suffix == ".html" and target in facts and fragment not in facts[target]["ids"]:
                broken.append(f"{url} -> {link} (no element with that id)")
    assert not broken, f"{len(broken)} broken internal links: {broken[:5]}"


def test_table_of_contents_lists_the_whole_course(visited, book_site):
    facts, _, _ = visited
    links = {urldefrag(link)[0] for link in facts[urljoin(book_site, "intro.html")]["links"]}
    for folder in ("notebooks", "exercises"):
        for notebook in sorted((ROOT / folder).glob("*.ipynb")):
            assert urljoin(book_site, f"{folder}/{notebook.stem}.html") in links, \
                f"the table of contents misses {folder}/{notebook.name}"


def test_search_finds_the_course(browser, book_site):
    page = browser.new_page()
    try:
        page.goto(urljoin(book_site, "search.html?q=cross-entropy"), wait_until="load", timeout=STEP_MS)
        page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0", timeout=STEP_MS)
        hits = page.locator("#search-results li a").evaluate_all("links => links.map(a => a.href)")
        assert any("/notebooks/" in hit for hit in hits), f"searching 'cross-entropy' found no course notebook: {hits}"
    finally:
        page.close()


def test_launch_links_open_the_repositorys_notebooks(visited, book_site):
    """With a repository URL, Binder and Colab open each notebook from it; without, no launch links."""
    config = yaml.safe_load((BOOK_HTML.parents[1] / "src" / "_config.yml").read_text(encoding="utf-8"))
    repository = config.get("repository", {}).get("url")
    facts, _, _ = visited
    if not repository:  # built without BOOK_REPOSITORY_URL: no launch link may point anywhere else
        strays = [link for page in facts.values() for link in page["links"]
                  if re.match(r"https://(mybinder\.org|colab\.research\.google\.com|github\.com)/", link)]
        assert not strays, f"launch or repository links without a repository URL: {strays[:3]}"
        return
    owner_repo = urlparse(repository).path.strip("/")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        links = facts[urljoin(book_site, f"notebooks/{notebook.stem}.html")]["links"]
        assert any(link.startswith(f"https://mybinder.org/v2/gh/{owner_repo}/") and
                   link.endswith(f"notebooks/{notebook.name}") for link in links), f"no Binder link on {notebook.stem}"
        assert any(link.startswith(f"https://colab.research.google.com/github/{owner_repo}/blob/") and
                   link.endswith(f"notebooks/{notebook.name}") for link in links), f"no Colab link on {notebook.stem}"
