"""The grader's words to students, in the language of the submission.

Every message a student reads (verdict reasons, why a run stopped, the feedback page's
headings) is an English template in the code, ``say("{label}: not the expected value",
label=...)``; for a Chinese submission the template comes from the gettext catalog
``i18n/zh_CN/grading.po`` (``utils.messages.Catalog``, polib) and the fields are filled in
after. The language is set once per submission with ``speaking(language)``.
``tests/test_i18n_grading.py`` fails on any template the catalog lacks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

from utils.messages import ENGLISH, Catalog

GRADER = Catalog("grading", tuple(sorted(Path(__file__).parent.glob("*.py"))))
_language = contextvars.ContextVar("grading_language", default=ENGLISH)


def say(template: str, **fields) -> str:
    """``template`` in the current language, its ``{fields}`` filled in."""
    return GRADER.text(_language.get(), template, **fields)


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Messages made inside this block are in ``language`` (English when it has no catalog)."""
    token = _language.set(language if language in GRADER.languages else ENGLISH)
    try:
        yield
    finally:
        _language.reset(token)


if __name__ == "__main__":
    for language in GRADER.languages:
        for template in GRADER.update(language):
            print(f"{GRADER.path(language).name} ({language}): to translate: {template}")
