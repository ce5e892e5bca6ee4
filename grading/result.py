"""What grading one submission gives: a small record, written as JSON per submission."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from grading.match import folder_of
from grading.report import displayable


@dataclass
class Result:
    """One submission's outcome: ``error`` (why it could not be graded) or ``stopped`` (why its
    run ended early), else its verdicts. ``sha256`` and ``reference`` (the reference's
    fingerprint) say what was graded, so that an unchanged submission is not graded twice."""

    file: str
    student: str
    assignment: str | None = None
    verdicts: list[dict] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    missing_answers: list[str] = field(default_factory=list)
    error: str | None = None
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)
    sandbox: bool | None = None
    seconds: float | None = None
    feedback: str | None = None
    sha256: str | None = None
    reference: str | None = None
    language: str | None = None  # of the submission, and of its feedback

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        """The result in ``data`` (keys it does not know are ignored); TypeError or KeyError when it is none."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def failed(path: Path, message: str, sandbox: bool | None = None) -> Result:
    """The result of a file that could not be graded (named by its folder: no student is known)."""
    return Result(file=displayable(str(path)), student=displayable(folder_of(path)), error=message, sandbox=sandbox)
