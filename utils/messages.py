"""What code shows people, in their language, from gettext catalogs.

Each part of the workbook that speaks writes English templates in its code,
``say("epoch {epoch}: ...", epoch=...)``, and keeps their translations in the catalog
``i18n/<language>/<part>.po`` (read and written with polib):

- ``utils`` (this package): the text of printouts and figures in the notebooks, in the
  language of the notebook being run (``notebook_language``).
- ``grading``: the grader's words to students (``grading.messages``).

A template without a finished translation is shown in English; ``Catalog.problems`` lists
such templates for the tests, ``Catalog.update`` adds new ones for ``make i18n``
(``python -m utils.messages``).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import string
import warnings
from dataclasses import dataclass
from pathlib import Path

import polib

ENGLISH = "en"
I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"
LANGUAGE_VARIABLE = "WORKBOOK_LANGUAGE"
LANGUAGE_FILE = ".workbook-language"
TRANSLATION_KEY = "workbook_translation"  # metadata of a translated notebook: {"language": ..., "source": ...}


@functools.lru_cache(maxsize=None)
def _finished(path: Path, stamp: int) -> dict[str, str]:
    """``{template: translation}`` of the finished units of the catalog at ``path``."""
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(path))
            if entry.msgstr and not entry.fuzzy and not entry.obsolete}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@dataclass(frozen=True)
class Catalog:
    """The translations of one part of the workbook: ``i18n/<language>/<part>.po``."""

    part: str
    sources: tuple[Path, ...]  # the Python files whose ``say("...")`` templates it translates
    languages: tuple[str, ...] = ("zh_CN",)

    def path(self, language: str) -> Path:
        return I18N_DIR / language / f"{self.part}.po"

    def translations(self, language: str) -> dict[str, str]:
        path = self.path(language)
        return _finished(path, path.stat().st_mtime_ns) if path.is_file() else {}

    def text(self, language: str, template: str, **fields) -> str:
        """``template`` in ``language`` (English where it has no translation), fields filled in."""
        if language != ENGLISH:
            template = self.translations(language).get(template, template)
        return template.format(**fields)

    def templates(self, sources: list[Path] | None = None) -> dict[str, str]:
        """``{template: where}`` of every ``say("...")`` in the sources."""
        found: dict[str, str] = {}
        for path in sources or self.sources:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say" and node.args
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
        return found

    def problems(self, language: str, sources: list[Path] | None = None) -> list[str]:
        """Templates with no finished translation, and translations whose ``{fields}`` differ."""
        done = self.translations(language)
        found = []
        for template, where in self.templates(sources).items():
            if template not in done:
                found.append(f"{where}: no {language} translation of {template!r}")
            elif _fields(done[template]) != _fields(template):
                found.append(f"{where}: the {language} translation of {template!r} has other fields")
        return found

    def update(self, language: str) -> list[str]:
        """Add new templates to the catalog (untranslated), mark unused ones obsolete; return
        the templates still to translate."""
        path = self.path(language)
        catalog = polib.pofile(str(path)) if path.is_file() else polib.POFile()
        catalog.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": language}
        used = self.templates()
        known = {entry.msgid for entry in catalog}
        for template, where in used.items():
            if template not in known:
                catalog.append(polib.POEntry(msgid=template, msgstr="", occurrences=[(where, "")]))
        for entry in catalog:
            entry.obsolete = entry.msgid not in used
        catalog.save(str(path))
        return [entry.msgid for entry in catalog if not entry.obsolete and (not entry.msgstr or entry.fuzzy)]


UTILS = Catalog("utils", tuple(Path(__file__).parent / name for name in ("data.py", "messages.py", "plot.py", "train.py")))


def notebook_language() -> str:
    """The language of the notebook being run, from the first of:

    - ``$WORKBOOK_LANGUAGE``;
    - the metadata of the notebook that JupyterLab started this kernel for (``$JPY_SESSION_NAME``),
      so a Chinese notebook speaks Chinese wherever a student saved it;
    - the ``.workbook-language`` file in the working folder, which ``make zh`` leaves beside the
      Chinese notebooks for runs without JupyterLab (nbclient, nbval: kernels run in the
      notebook's folder);
    - else English.
    """
    language = (os.environ.get(LANGUAGE_VARIABLE, "").strip() or _language_of(os.environ.get("JPY_SESSION_NAME", ""))
                or _marker_language(Path(LANGUAGE_FILE)) or ENGLISH)
    if language != ENGLISH and language not in UTILS.languages:
        warnings.warn(f"The notebook asks for language {language!r}, which the workbook has no catalog for; "
                      f"showing English (known: {', '.join(UTILS.languages)}).", stacklevel=3)
        return ENGLISH
    return language


def _language_of(notebook: str) -> str:
    path = Path(notebook)
    if path.suffix != ".ipynb" or not path.is_file():
        return ""
    return _metadata_language(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _metadata_language(path: Path, stamp: int) -> str:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return ""
    translation = metadata.get(TRANSLATION_KEY)
    return translation.get("language", "") if isinstance(translation, dict) else ""


def _marker_language(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def say(template: str, **fields) -> str:
    """``template`` in the language of the notebook being run, its ``{fields}`` filled in."""
    return UTILS.text(notebook_language(), template, **fields)


def split_name(split: str) -> str:
    """The usual data splits by name in the notebook's language ("test", "validation")."""
    return {"test": say("test"), "validation": say("validation"), "train": say("train")}.get(split, split)


if __name__ == "__main__":
    for language in UTILS.languages:
        for template in UTILS.update(language):
            print(f"{UTILS.path(language).name} ({language}): to translate: {template}")
