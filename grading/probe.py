"""The recorder that grading probes use, loaded as ``probe`` by the runner for the probes.

A ``# PROBE q`` cell runs the student's code on inputs the student never saw and calls
``probe.record(question, label, value, ...)``. Nothing recorded here is trusted: the values
leave the sandbox as plain JSON and the grader compares them, outside, with what the same
probe recorded on the reference solution. How a value is judged (``judge``, tolerances,
bounds) and which functions a question forbids are read from the *reference* run only.

Self-contained on purpose (standard library only): the runner loads this file's text in the
sandbox, where the rest of the instructor's tooling is not visible, after the student's cells
ran and after it restored the modules they patched.

Judges (see ``grading.judge``):

- ``close``: equal to the reference's value of ``target`` (default: the same label) within
  ``atol + rtol * |expected|``, same shape, inf and nan in the same places;
- ``equal``: exactly the reference's value (integers, booleans, text);
- ``differs``: NOT within ``atol`` of the student's own value of ``target`` (e.g. two seeds
  must give two different samples);
- ``range``: every element finite and within ``[low, high]``;
- ``accuracy``: a linear model ``{"weight": (784, 10), "bias": (10,)}`` (optionally with
  ``"mean"`` and ``"scale"`` used as ``(x - mean) / scale``) whose test accuracy, computed by
  the grader on the real Fashion-MNIST test set, is at least ``min_accuracy``.
"""

JUDGES = ("close", "equal", "differs", "range", "accuracy")
MAX_ELEMENTS = 1_000_000

RESULTS = {"values": {}, "judges": {}, "forbidden": {}}


def _plain_array(value):
    """``{"shape": [...], "data": [...]}`` for a tensor, an array or a number."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        shape, data = list(value.shape), value.reshape(-1).tolist()
    elif hasattr(value, "shape") and hasattr(value, "tolist"):  # a NumPy array or scalar
        shape, data = list(value.shape), value.reshape(-1).tolist()
    elif isinstance(value, (bool, int, float)):
        shape, data = [], [value]
    elif isinstance(value, (list, tuple)):
        flat = [_plain_array(item) for item in value]
        if any(item["shape"] != flat[0]["shape"] for item in flat):
            raise ValueError("a list of values of different shapes cannot be recorded")
        shape = [len(flat)] + (flat[0]["shape"] if flat else [])
        data = [x for item in flat for x in item["data"]]
    else:
        raise TypeError(f"cannot record a value of type {type(value).__name__}")
    if len(data) > MAX_ELEMENTS:
        raise ValueError(f"a recorded value may have at most {MAX_ELEMENTS} elements")
    if not all(isinstance(x, (bool, int, float)) for x in data):
        raise TypeError("recorded values must hold numbers")
    return {"shape": shape, "data": [float(x) if isinstance(x, float) else x for x in data]}


def to_plain(value):
    """A JSON-ready copy of ``value``: text, a dict of arrays, or an array."""
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict):
        return {"dict": {str(key): _plain_array(item) for key, item in value.items()}}
    return _plain_array(value)


def record(question, label, value, *, judge="close", rtol=1e-9, atol=1e-12, target=None,
           low=None, high=None, min_accuracy=None):
    """Record ``value`` under ``question`` and ``label``, and say how it is to be judged."""
    if judge not in JUDGES:
        raise ValueError(f"unknown judge {judge!r}; use one of {JUDGES}")
    question, label = str(question), str(label)
    RESULTS["values"].setdefault(question, {})[label] = to_plain(value)
    RESULTS["judges"].setdefault(question, {})[label] = {
        "judge": judge, "rtol": rtol, "atol": atol, "target": target,
        "low": low, "high": high, "min_accuracy": min_accuracy,
    }


def forbid(question, function, *names):
    """Question ``question`` fails if ``function`` (or a function of the student's that it
    calls) uses any of ``names``, e.g. ``forbid("3.1", "real_softmax", "logaddexp")``."""
    RESULTS["forbidden"].setdefault(str(question), []).append(
        {"function": str(function), "names": [str(name) for name in names]})
