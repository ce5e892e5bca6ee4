"""The grader's words to students, in the language of the submission.

Every message a student reads (verdict reasons, why a run stopped, the feedback page's
headings) is an English template in the code, ``say("{label}: not the expected value",
label=...)``; for a Chinese submission the template comes from the gettext catalog
``i18n/zh_CN/grading.po`` (read with polib) and the fields are filled in after. The language
is set once per submission with ``speaking(language)``. ``tests/test_i18n_grading.py``
fails on any template the catalog lacks.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from pathlib import Path

import polib

ENGLISH = "en"
CATALOGS = {"zh_CN": Path(__file__).resolve().parent.parent / "i18n" / "zh_CN" / "grading.po"}
_language = contextvars.ContextVar("grading_language", default=ENGLISH)


@functools.cache
def translations(language: str) -> dict[str, str]:
    """``{English template: translation}`` of the finished units of ``language``'s catalog."""
    path = CATALOGS.get(language)
    if path is None or not path.is_file():
        return {}
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(path))
            if entry.msgstr and not entry.fuzzy and not entry.obsolete}


def say(template: str, **fields) -> str:
    """``template`` in the current language, its ``{fields}`` filled in."""
    language = _language.get()
    text = template if language == ENGLISH else translations(language).get(template, template)
    return text.format(**fields)


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Messages made inside this block are in ``language`` (English when it has no catalog)."""
    token = _language.set(language if language in CATALOGS else ENGLISH)
    try:
        yield
    finally:
        _language.reset(token)


def templates(sources: list[Path]) -> dict[str, str]:
    """``{template: where}`` of every ``say("...")`` in the given Python files."""
    import ast

    found: dict[str, str] = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    return found


def grader_sources() -> list[Path]:
    return sorted(Path(__file__).parent.glob("*.py"))


def problems(language: str, sources: list[Path] | None = None) -> list[str]:
    """What keeps ``language``'s grader messages from being complete: templates with no
    finished translation, and translations whose ``{fields}`` differ from the template's."""
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}

    done = translations(language) if sources is None else _read(language)
    found = []
    for template, where in templates(sources or grader_sources()).items():
        if template not in done:
            found.append(f"{where}: no {language} translation of {template!r}")
        elif fields(done[template]) != fields(template):
            found.append(f"{where}: the {language} translation of {template!r} has other fields")
    return found


def _read(language: str) -> dict[str, str]:
    translations.cache_clear()
    return translations(language)


def update_catalog(language: str) -> list[str]:
    """Add the grader's new templates to ``language``'s catalog (untranslated), mark the ones no
    longer used obsolete; return the templates still to translate."""
    path = CATALOGS[language]
    catalog = polib.pofile(str(path)) if path.is_file() else polib.POFile()
    catalog.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": language}
    used = templates(grader_sources())
    entries = {entry.msgid: entry for entry in catalog}
    for template, where in used.items():
        if template not in entries:
            catalog.append(polib.POEntry(msgid=template, msgstr="", occurrences=[(where, "")]))
    for entry in catalog:
        entry.obsolete = entry.msgid not in used
    catalog.save(str(path))
    return [entry.msgid for entry in catalog if not entry.obsolete and (not entry.msgstr or entry.fuzzy)]


if __name__ == "__main__":
    for language in CATALOGS:
        for template in update_catalog(language):
            print(f"{CATALOGS[language].name} ({language}): to translate: {template}")
