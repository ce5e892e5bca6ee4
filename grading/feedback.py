"""A student's feedback page: the verdicts, then the notebook as the grader ran it.

Everything in the notebook is the student's and may be hostile, so the page is built by
the grader from a few kinds of parts and nothing else:

- Markdown rendered by markdown-it-py (linear time, raw HTML off) with every link and
  image kept only when it is http, https or relative;
- code, text outputs and tracebacks (ANSI codes removed) escaped inside ``<pre>``;
- ``image/png`` outputs, checked to be base64 PNG, added as ``data:`` images after the
  whole page went through bleach's allow-list.

Hidden cells (probes, their set-up, the save) are never shown. Text and images are capped
per cell and in all (a visible note marks every cut), and rendering runs under a time
limit: on any failure the page is a plain one with the verdicts only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import re
import secrets
import signal
import threading
from collections.abc import Iterator

import bleach
from markdown_it import MarkdownIt

from grading.messages import say

SHOWN_ROLES = ("given", "answer", "added")  # probe, setup and save cells stay hidden
MARKDOWN_CHARS = 10_000  # per markdown cell
CODE_CHARS = 20_000  # per code cell's source
OUTPUT_CHARS = 50_000  # per cell's outputs together
TOTAL_CHARS = 200_000  # all the text of the page
MAX_IMAGES = 20
IMAGE_BYTES = 2 * 1024**2
RENDER_SECONDS = 20
ANSI_CODE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAFE_SCHEMES = ("http", "https")
ALLOWED_TAGS = {"a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li",
                "ol", "p", "pre", "s", "section", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
                "div"}
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title"], "ol": ["start"],
                      "div": ["class"], "section": ["class"], "p": ["class"]}
STYLE = ("body{font-family:sans-serif;margin:1em 2em;max-width:60em}pre{background:#f6f6f6;padding:.5em;"
         "white-space:pre-wrap;overflow-wrap:anywhere}.output pre{background:#fff;border-left:3px solid #ccc}"
         ".error pre{border-left-color:#c33}.cut{color:#a00}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.2em .6em}img{max-width:100%}")


def is_safe_url(url: str) -> bool:
    """True for http, https and relative URLs (no scheme); False for javascript:, data: and the rest."""
    url = re.sub(r"[\x00-\x20\x7f]+", "", html.unescape(url))
    scheme = re.match(r"([^/?#]*):", url)
    return scheme is None or scheme[1].lower() in SAFE_SCHEMES


def _drop_unsafe_urls(state) -> None:
    """A markdown-it core rule: links and images keep their text and lose any URL that is not safe."""
    for token in state.tokens:
        for child in token.children or []:
            attribute = {"link_open": "href", "image": "src"}.get(child.type)
            if attribute and not is_safe_url(str(child.attrs.get(attribute, ""))):
                del child.attrs[attribute]


def _markdown_renderer() -> MarkdownIt:
    """CommonMark with tables and strikethrough, raw HTML shown as text, unsafe URLs dropped."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    renderer.validateLink = lambda url: True  # parse every link, so that _drop_unsafe_urls removes its URL
    renderer.core.ruler.push("drop_unsafe_urls", _drop_unsafe_urls)
    return renderer


MARKDOWN = _markdown_renderer()


class Budget:
    """How much text the page may still hold; cuts each part to its own limit and to what is left."""

    def __init__(self, total: int = TOTAL_CHARS) -> None:
        self.left = total

    def take(self, text: str, limit: int) -> tuple[str, str]:
        """``(kept text, cut note or "")``."""
        kept = text[: max(0, min(limit, self.left))]
        self.left -= len(kept)
        return kept, (say("[cut by the grader: {count} more characters]", count=len(text) - len(kept))
                      if len(kept) < len(text) else "")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block after ``seconds`` (in the main thread; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _text(value) -> str:
    """nbformat text: a string, or a list of strings to join."""
    return "".join(value) if isinstance(value, list) else str(value)


def _pre(text: str, cut: str = "") -> str:
    note = f'<p class="cut">{html.escape(cut)}</p>' if cut else ""
    return f"<pre>{html.escape(text)}</pre>{note}" if text or not note else note


def png_data(value) -> str | None:
    """The base64 text of a PNG output, or None when it is not one or is over the size cap."""
    encoded = re.sub(r"\s+", "", _text(value))
    if len(encoded) > IMAGE_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return encoded if raw.startswith(PNG_SIGNATURE) else None


class Page:
    """The notebook part of one feedback page, built cell by cell."""

    def __init__(self) -> None:
        self.budget = Budget()
        self.images: dict[str, str] = {}  # placeholder -> base64 PNG
        self.nonce = secrets.token_hex(16)  # placeholders the student cannot write

    def markdown(self, source: str) -> str:
        kept, cut = self.budget.take(source, MARKDOWN_CHARS)
        return f'<div class="markdown">{MARKDOWN.render(kept)}</div>' + _pre("", cut)

    def code(self, cell) -> str:
        source, cut = self.budget.take(_text(cell.get("source", "")), CODE_CHARS)
        parts = [_pre(source, cut)]
        output_budget = Budget(OUTPUT_CHARS)
        for output in cell.get("outputs", []):
            parts.append(self.output(output, output_budget))
        return '<div class="code">' + "".join(parts) + "</div>"

    def output(self, output, output_budget: Budget) -> str:
        kind = output.get("output_type")
        if kind == "stream":
            text = _text(output.get("text", ""))
        elif kind == "error":
            text = ANSI_CODE.sub("", "\n".join(map(_text, output.get("traceback", []))))
        else:
            data = output.get("data", {})
            if "image/png" in data:
                return self.image(data["image/png"])
            text = _text(data.get("text/plain", ""))
        kept, cut = output_budget.take(text, self.budget.left)
        self.budget.left -= len(kept)
        css = "output error" if kind == "error" else "output"
        return f'<div class="{css}">{_pre(kept, cut)}</div>'

    def image(self, value) -> str:
        encoded = png_data(value)
        if encoded is None or len(self.images) >= MAX_IMAGES:
            reason = "not a PNG image or over 2 MB" if encoded is None else f"more than {MAX_IMAGES} images"
            return _pre("", f"[image left out by the grader: {reason}]")
        placeholder = f"IMAGE-{self.nonce}-{len(self.images)}"
        self.images[placeholder] = encoded
        return f"<p>{placeholder}</p>"

    def cells(self, executed, roles: list[str]) -> str:
        shown = [cell for cell, role in zip(executed.cells, roles) if role in SHOWN_ROLES]
        return "".join(self.markdown(_text(cell.get("source", ""))) if cell.get("cell_type") == "markdown"
                       else self.code(cell) for cell in shown)

    def with_images(self, sanitised: str) -> str:
        for placeholder, encoded in self.images.items():
            sanitised = sanitised.replace(placeholder, f'<img alt="output" src="data:image/png;base64,{encoded}">')
        return sanitised


def sanitise(body: str) -> str:
    """Only allow-listed tags and attributes; links and images only http, https or relative."""
    return bleach.clean(body, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=list(SAFE_SCHEMES),
                        strip=True, strip_comments=True)


def document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def render(summary: str, executed, roles: list[str], title: str) -> str:
    """The whole page: the grader's ``summary`` (already escaped), then the notebook, sanitised."""
    page = Page()
    body = sanitise(summary + page.cells(executed, roles))
    return document(title, page.with_images(body))


def plain(summary: str, title: str) -> str:
    """The page when the notebook could not be shown: the verdicts only."""
    return document(title, sanitise(summary) + f"<p>{html.escape(say('The grader could not show your notebook here.'))}</p>")


def render_within_limit(summary: str, executed, roles: list[str], title: str,
                        seconds: float = RENDER_SECONDS) -> tuple[str, str | None]:
    """``(page, None)``, or the plain page and a note naming the failure (its type only)."""
    try:
        with time_limit(seconds):
            return render(summary, executed, roles, title), None
    except Exception as error:  # a hostile notebook must never lose the student's row
        note = say("the feedback shows the verdicts only (rendering the notebook failed: {error})",
                   error=type(error).__name__)
        return plain(summary, title), note
