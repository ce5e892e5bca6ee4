"""Which assignment a submitted file is, and whose.

First the id the generator stamped into the notebook's metadata; then the file name, with
the decorations learning-management systems add (``alice_12345_03_realsoftmax.ipynb``,
``03-realsoftmax.ipynb``, ``03_realsoftmax (1).ipynb``). A file that matches no assignment,
or several, is an error for that file: it is never graded against itself. Names keep their
Unicode letters (``张伟_03_realsoftmax.ipynb`` is 张伟's), and the folder that names a student
is the one the file is in as given, never a symbolic link's target.
"""

from __future__ import annotations

import re
from pathlib import Path

from grading.notebook import ASSIGNMENT_KEY


class NoMatch(ValueError):
    """The file is no known assignment; the message says what was tried."""


def _tokens(text: str) -> list[str]:
    """The lower-case runs of Unicode letters and digits in ``text``."""
    return [token for token in re.split(r"[\W_]+", text.lower()) if token]


def _find(tokens: list[str], wanted: list[str]) -> int | None:
    """Where ``wanted`` starts as a run inside ``tokens`` (the last such place), else None."""
    starts = [i for i in range(len(tokens) - len(wanted) + 1) if tokens[i:i + len(wanted)] == wanted]
    return starts[-1] if starts else None


def assignment_of(path: Path, nb, known: list[str]) -> str:
    """The id (e.g. ``03_realsoftmax``) of the assignment that ``nb`` at ``path`` answers."""
    stamped = nb.metadata.get(ASSIGNMENT_KEY, {})
    stamped = stamped.get("id") if isinstance(stamped, dict) else None
    if stamped in known:
        return stamped
    tokens = _tokens(path.stem)
    by_name = [name for name in known if _find(tokens, _tokens(name)) is not None]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise NoMatch(f"{path.name}: the name fits several assignments ({', '.join(by_name)}); rename it")
    raise NoMatch(f"{path.name}: matches no assignment (no assignment id in its metadata, and the name "
                  f"contains none of {', '.join(known)}); it was not graded")


def student_of(path: Path, assignment: str) -> str:
    """Who handed it in: the name before the assignment in the file name, else the folder's name."""
    tokens = _tokens(path.stem)
    start = _find(tokens, _tokens(assignment))
    return "_".join(tokens[:start]) if start else folder_of(path)


def folder_of(path: Path) -> str:
    """The name of the folder ``path`` is in, as given (symbolic links are not followed)."""
    return path.absolute().parent.name
