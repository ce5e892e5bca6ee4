"""The verdicts: what the probes recorded on a submission against what they recorded on the
reference. Runs in the grader's own process, on plain data; nothing here trusts the
submission: the way each value is judged and what each question forbids come from the
reference run, and a question scores only when every value the reference recorded for it
passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grading.messages import say

from grading import forbid


@dataclass
class Verdict:
    """One question's result."""

    question: str
    points: int
    max_points: int
    status: str  # "passed", or why not, in words a student understands

    @property
    def passed(self) -> bool:
        return self.points == self.max_points

    def as_dict(self) -> dict:
        return asdict(self)


class BadValue(ValueError):
    """A recorded value that is not what a probe writes."""


def as_array(plain) -> np.ndarray:
    """A recorded ``{"shape", "data"}`` as a float64 array (BadValue if malformed)."""
    if not isinstance(plain, dict) or not isinstance(plain.get("shape"), list) or not isinstance(plain.get("data"), list):
        raise BadValue(say("not a recorded array"))
    shape = plain["shape"]
    if not all(isinstance(n, int) and n >= 0 for n in shape) or math.prod(shape) != len(plain["data"]):
        raise BadValue(say("shape and data do not agree"))
    if not all(isinstance(x, (int, float)) for x in plain["data"]):
        raise BadValue(say("data must be numbers"))
    return np.asarray(plain["data"], dtype=np.float64).reshape(shape)


def _differences(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """Why ``got`` is not ``want`` within the tolerances, or None when it is."""
    if got.shape != want.shape:
        return say("has shape {got}, expected {want}", got=tuple(got.shape), want=tuple(want.shape))
    same_special = (np.isnan(got) == np.isnan(want)).all() and (np.isinf(want) <= (got == want)).all()
    if not same_special:
        return say("has inf or nan where the correct result is finite, or the other way round")
    finite = np.isfinite(want)
    if not finite.any():
        return None
    error = np.abs(got[finite] - want[finite])
    allowed = atol + rtol * np.abs(want[finite])
    if (error <= allowed).all():
        return None
    worst = int(np.argmax(error - allowed))
    return say("differs from the correct result by up to {error:.3g} (allowed: {allowed:.3g})",
               error=error[worst], allowed=allowed[worst])


def judge_value(label: str, how: dict, got, expected, student_values: dict, test_data,
                raised: str | None = None) -> str | None:
    """None when the student's recorded value ``got`` passes; else the reason (never a crash:
    whatever the submission recorded, a value that cannot be judged fails its label)."""
    try:
        with np.errstate(all="ignore"):
            return _judge_value(label, how, got, expected, student_values, test_data, raised)
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError):
        return say("{label}: the value your code gave could not be compared with the correct one", label=label)


def _judge_value(label: str, how: dict, got, expected, student_values: dict, test_data,
                 raised: str | None = None) -> str | None:
    kind = how.get("judge", "close")
    try:
        if got is None:
            return (say("{label}: your code raised {error}", label=label, error=raised) if raised
                    else say("{label}: no value (the code did not run)", label=label))
        if kind == "equal":
            same = isinstance(got, (dict, list, str, int, float, bool)) and got == expected
            return None if same else say("{label}: not the expected value", label=label)
        if kind == "accuracy":
            return _judge_accuracy(label, got, how, test_data)
        value = as_array(got)
        if kind == "close":
            reason = _differences(value, as_array(expected), float(how["rtol"]), float(how["atol"]))
        elif kind == "differs":
            other = student_values.get(how.get("target"))
            if other is None:
                return say("{label}: nothing to compare with", label=label)
            other = as_array(other)
            same = other.shape == value.shape and np.allclose(value, other, rtol=0, atol=float(how["atol"]))
            reason = say("gives the same result every time; it should vary (e.g. with the seed)") if same else None
        elif kind == "range":
            low = -math.inf if how.get("low") is None else float(how["low"])
            high = math.inf if how.get("high") is None else float(how["high"])
            inside = np.isfinite(value).all() and (value >= low).all() and (value <= high).all()
            reason = None if inside else say("should lie between {low:g} and {high:g}", low=low, high=high)
        else:
            return say("{label}: the reference asks for an unknown judge {kind!r}", label=label, kind=kind)
    except BadValue as error:
        return say("{label}: the recorded value is malformed ({error})", label=label, error=error)
    return None if reason is None else say("{label}: {reason}", label=label, reason=reason)


def _judge_accuracy(label: str, got, how: dict, test_data) -> str | None:
    """Test accuracy of an exported linear model, computed here on the real test set."""
    if not isinstance(got, dict) or not isinstance(got.get("dict"), dict):
        return say("{label}: expected the model's weight and bias", label=label)
    parts = got["dict"]
    try:
        weight, bias = as_array(parts.get("weight")), as_array(parts.get("bias")).reshape(-1)
        mean = as_array(parts["mean"]).reshape(-1) if "mean" in parts else 0.0
        scale = as_array(parts["scale"]).reshape(-1) if "scale" in parts else 1.0
    except BadValue as error:
        return say("{label}: the exported model is malformed ({error})", label=label, error=error)
    images, labels = test_data
    if weight.shape == (10, images.shape[1]):
        weight = weight.T
    if weight.shape != (images.shape[1], 10) or bias.shape != (10,):
        return say("{label}: the model must map {pixels} pixels to 10 classes", label=label, pixels=images.shape[1])
    with np.errstate(all="ignore"):
        logits = ((images - mean) / scale) @ weight + bias
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    needed = float(how["min_accuracy"])
    if accuracy >= needed:
        return None
    return say("{label}: test accuracy {accuracy:.4f}, at least {needed:.4f} expected", label=label, accuracy=accuracy,
               needed=needed)


def test_set(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The real test images (flattened, in [0, 1]) and labels, loaded by the grader."""
    from utils.data import load_fashion_mnist_tensors, to_float_images

    images, labels = load_fashion_mnist_tensors(train=False, root=data_root)
    return to_float_images(images).reshape(len(labels), -1).double().numpy(), labels.numpy()


# ---------------------------------------------------------------- the verdicts

def verdicts(questions: dict[str, int], reference: dict, recorded: dict | None, student_code: list[str],
             stopped: str | None, test_data=None, raised: dict[str, str] | None = None) -> list[Verdict]:
    """One verdict per question (points all or nothing).

    ``raised`` holds, per question, the error its probe met (to explain a missing value).
    """
    raised = raised or {}
    recorded = recorded if isinstance(recorded, dict) else {}
    values = recorded.get("values") if isinstance(recorded.get("values"), dict) else {}
    out = []
    for question, points in questions.items():
        reasons = []
        mine = values.get(question) if isinstance(values.get(question), dict) else {}
        for label, how in reference["judges"].get(question, {}).items():
            expected = reference["values"][question].get(how.get("target") or label)
            reason = judge_value(label, how, mine.get(label), expected, mine, test_data, raised.get(question))
            if reason:
                reasons.append(reason)
        for rule in reference.get("forbidden", {}).get(question, []):
            reasons += forbid.violations(student_code, rule["function"], rule["names"])
        if reasons and stopped and not mine:
            reasons = [say("not graded: {why}", why=stopped)]
        out.append(Verdict(question, 0 if reasons else points, points, "; ".join(reasons) or "passed"))
    return out
