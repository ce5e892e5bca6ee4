"""Assignments 01-04: the hidden probes tell each listed wrong answer from the reference.

Each test runs a copy of a solution the way the grader does (CHECK and SKIP WHEN GRADING
cells dropped, PROBE cells kept) with one answer swapped for a plausible wrong one, reads
what the probes recorded (``grading.probe``), and judges it against the reference's
recording with the probe's own judges. A wrong answer must fail its questions and only
those; a correct alternative must pass. Slow: one fresh kernel per variant.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from utils.assignments import BEGIN, END, SOLUTIONS_DIR

pytest.importorskip("grading.probe", reason="the instructor package grading/ is not on this branch yet")

RUN_TIMEOUT = 600  # seconds per notebook run (each cell also has this limit)


# ---------------------------------------------------------------- running the probes

def graded_copy(name: str, answers: dict[str, str]):
    """The solution ``name`` as the grader runs it, with the answer blocks of ``answers``
    (cell id -> new code) swapped in."""
    nb = nbformat.read(SOLUTIONS_DIR / name, as_version=4)
    kept = []
    for cell in nb.cells:
        first = cell.source.split("\n", 1)[0]
        if cell.cell_type == "code" and (first.startswith("# CHECK") or first.startswith("# SKIP WHEN GRADING")):
            continue
        if cell.id in answers:
            cell.source = swap_block(cell.source, answers.pop(cell.id))
        kept.append(cell)
    assert not answers, f"no such answer cells: {sorted(answers)}"
    nb.cells = kept
    return nb


def swap_block(source: str, code: str) -> str:
    """``source`` with the lines between its solution markers replaced by ``code`` (indented alike)."""
    lines = source.split("\n")
    begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    end = next(i for i, line in enumerate(lines) if line.strip() == END)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    new = [indent + line if line else line for line in code.strip("\n").split("\n")]
    return "\n".join(lines[:begin] + new + lines[end + 1:])


def probe_results(nb, tmp_path: Path) -> dict:
    """Run ``nb`` in a fresh kernel (errors allowed, like the grader) and return what the probes recorded."""
    out = tmp_path / "probes.json"
    nb.cells.append(new_code_cell(f"probe.save({str(out)!r})"))
    NotebookClient(nb, timeout=RUN_TIMEOUT, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(SOLUTIONS_DIR)}}).execute()
    return json.loads(out.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- judging (the probe's judges)

def flat(value: dict) -> list:
    return [x for item in value["dict"].values() for x in item["data"]] if "dict" in value else value["data"]


def close(expected: dict, got: dict, rtol: float, atol: float) -> bool:
    if "text" in expected or "text" in got:
        return expected == got
    if expected.get("shape") != got.get("shape"):
        return False
    for e, g in zip(flat(expected), flat(got)):
        if math.isnan(e) or math.isnan(g) or math.isinf(e) or math.isinf(g):
            if not (e == g or (math.isnan(e) and math.isnan(g))):
                return False
        elif abs(g - e) > atol + rtol * abs(e):
            return False
    return True


@pytest.fixture(scope="module")
def test_set():
    from utils.data import load_fashion_mnist_tensors, to_float_images
    images, labels = load_fashion_mnist_tensors(train=False)
    return to_float_images(images).reshape(len(labels), -1).double(), labels


def accuracy(model: dict, test_set) -> float:
    import torch
    X, y = test_set
    part = {key: torch.tensor(value["data"], dtype=torch.float64).reshape(value["shape"])
            for key, value in model["dict"].items()}
    X = (X - part["mean"]) / part["scale"] if "mean" in part else X
    return ((X @ part["weight"] + part["bias"]).argmax(dim=1) == y).double().mean().item()


def failed_questions(reference: dict, student: dict, test_set) -> set[str]:
    """The questions where some label the reference recorded does not pass its judge."""
    failed = set()
    for question, labels in reference["values"].items():
        for label, expected in labels.items():
            judge = reference["judges"][question][label]
            got = student["values"].get(question, {}).get(label)
            if got is None:
                ok = False
            elif judge["judge"] == "equal":
                ok = got == expected
            elif judge["judge"] == "accuracy":
                ok = accuracy(got, test_set) >= judge["min_accuracy"]
            else:
                ok = close(expected, got, judge["rtol"], judge["atol"])
            if not ok:
                failed.add(question)
    return failed


REFERENCES: dict[str, dict] = {}


def reference(name: str, tmp_path_factory) -> dict:
    if name not in REFERENCES:
        REFERENCES[name] = probe_results(graded_copy(name, {}), tmp_path_factory.mktemp("reference"))
    return REFERENCES[name]


# ---------------------------------------------------------------- the wrong answers

A01, A02, A03, A04 = "01_hyperparameters.ipynb", "02_overfitting.ipynb", "03_realsoftmax.ipynb", "04_temperature.ipynb"

PLAIN_SGD = """
torch.manual_seed(seed)
net = make_model()
batches = BatchIterator(X, y, batch_size, shuffle=True)
optimizer = torch.optim.SGD(net.parameters(), lr=lr)
loss = nn.CrossEntropyLoss()
for _ in range(num_epochs):
    for X_batch, y_batch in batches:
        optimizer.zero_grad()
        loss(net(X_batch), y_batch).backward()
        optimizer.step()
return net
"""

WRONG = {
    "01 train_linear with plain SGD (no momentum, decay or schedule)": (
        A01, {"80e77e42": PLAIN_SGD}, {"1.4", "1.5", "1.11", "1.12"}),
    "01 split without shuffling": (
        A01, {"94d984fe": "order = torch.arange(n)\nreturn order[:n - num_val], order[n - num_val:]"}, {"1.1"}),
    "01 pixel_statistics without EPS": (
        A01, {"53f5d1cd": "return X.mean(dim=0, keepdim=True), X.std(dim=0, keepdim=True)"}, {"1.3"}),
    "01 sweep scored on the training data": (
        A01, {"0429b8d0": "return {value: accuracy_on(train_linear(*train_data, **{**base, name: value}), train_data)\n"
                          "        for value in values}"}, {"1.5"}),
    "01 standard error without the square root": (
        A01, {"371269db": "return accuracy * (1 - accuracy) / n"}, {"1.8"}),
    "01 cheapest_within returning the best setting": (
        A01, {"0096b178": "return max(results, key=results.get)"}, {"1.9"}),
    "02 weight decay on the bias too": (
        A02, {"9fb2f859": """
torch.manual_seed(seed)
net = make_model()
optimizer = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=weight_decay)
batches = BatchIterator(*train_data, batch_size, shuffle=True)
loss = nn.CrossEntropyLoss()
curves = {"train": [], "val": []}
for _ in range(num_epochs):
    train_epoch(net, batches, loss, optimizer)
    curves["train"].append(accuracy_on(net, train_data))
    curves["val"].append(accuracy_on(net, val_data))
return net, curves
"""}, {"2.1", "2.6"}),
    "02 early stopping that keeps the live state_dict, not a copy": (
        A02, {"c2d4b303": """
torch.manual_seed(seed)
net = make_model()
optimizer = torch.optim.SGD(net.parameters(), lr=lr)
batches = BatchIterator(*train_data, batch_size, shuffle=True)
loss = nn.CrossEntropyLoss()
curves = {"train": [], "val": []}
best, best_state = 0, None
for epoch in range(1, max_epochs + 1):
    train_epoch(net, batches, loss, optimizer)
    curves["train"].append(accuracy_on(net, train_data))
    curves["val"].append(accuracy_on(net, val_data))
    if best == 0 or curves["val"][-1] > curves["val"][best - 1]:
        best, best_state = epoch, net.state_dict()
    elif epoch - best >= patience:
        break
net.load_state_dict(best_state)
return net, curves, best
"""}, {"2.5"}),
    "03 smooth_max shifting by the global maximum": (
        A03, {"31c2dd03": "m = (lam * x).max()\nreturn (m + torch.log(torch.exp(lam * x - m).sum(dim=-1))) / lam"}, {"3.7"}),
    "04 limits as the softmax at T = 1e-4 and T = 1e8": (
        A04, {"92e8cfab": "return torch.softmax(o / 1e-4, dim=-1)",
              "d0b5a3c6": "return torch.softmax(o / 1e8, dim=-1)"}, {"4.5"}),
}

FORBIDDEN = {
    "03 real_softmax through torch.logaddexp": (A03, "3.1", "real_softmax", "logaddexp"),
    "03 gap through real_softmax": (A03, "3.3", "gap", "real_softmax"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_answer_fails_its_questions(case, tmp_path, tmp_path_factory, test_set):
    name, answers, questions = WRONG[case]
    answers = dict(answers)
    nb = graded_copy(name, {key: value for key, value in answers.items() if key != "d0b5a3c6"})
    if "d0b5a3c6" in answers:  # the second solution block of the same cell (A04 limits)
        cell = next(cell for cell in nb.cells if cell.id == "92e8cfab")
        head, _, tail = cell.source.partition("def limit_infinite_temperature")
        cell.source = head + "def limit_infinite_temperature" + swap_block(tail, answers["d0b5a3c6"])
    student = probe_results(nb, tmp_path)
    assert failed_questions(reference(name, tmp_path_factory), student, test_set) == questions


@pytest.mark.parametrize("name", [A01, A02, A03, A04])
def test_reference_passes_its_own_probes(name, tmp_path, tmp_path_factory, test_set):
    """A second run of the reference records the same values: every probe is reproducible."""
    again = probe_results(graded_copy(name, {}), tmp_path)
    assert failed_questions(reference(name, tmp_path_factory), again, test_set) == set()


def test_gap_accepts_log_of_one_plus(tmp_path, tmp_path_factory, test_set):
    """log(1 + exp(-d)) is a correct closed form: it passes 3.3 (float64's tolerance)."""
    nb = graded_copy(A03, {"a6b02ee0": "return torch.log(1 + torch.exp(-d))"})
    assert failed_questions(reference(A03, tmp_path_factory), probe_results(nb, tmp_path), test_set) == set()


@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_forbidden_names_are_declared(case, tmp_path_factory):
    """The reference's probes forbid what the prose forbids (the grader enforces it)."""
    name, question, function, used = FORBIDDEN[case]
    forbidden = reference(name, tmp_path_factory)["forbidden"].get(question, [])
    assert any(rule["function"] == function and used in rule["names"] for rule in forbidden)


def test_probes_do_not_reach_skipped_cells():
    """No probe reads a name that only a SKIP WHEN GRADING cell assigns (the grader never runs those)."""
    for name in (A01, A02, A03, A04):
        nb = nbformat.read(SOLUTIONS_DIR / name, as_version=4)
        assigned, elsewhere, read = set(), set(), {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(cell.source)
            stored = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
            (assigned if cell.source.startswith("# SKIP WHEN GRADING") else elsewhere).update(stored)
            if cell.source.startswith("# PROBE"):
                read[cell.source.split("\n", 1)[0]] = {
                    node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        only_skipped = assigned - elsewhere
        for probe_cell, names in read.items():
            assert not names & only_skipped, f"{name}: {probe_cell} uses {sorted(names & only_skipped)}"
