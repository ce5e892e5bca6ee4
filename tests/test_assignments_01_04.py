"""Assignments 01-04: the grader tells each listed wrong answer from the reference.

Each test grades a copy of a solution with one answer swapped for a plausible wrong one
(``grading.grade.grade_file``, without the sandbox for speed: the submissions here are
ours) and asserts that exactly the questions that answer touches lose their points; a
correct alternative keeps them. The solutions' full marks and the blank copies' zero
through the sandbox are tested for every assignment in tests/test_assignments.py. Slow: one fresh kernel per variant.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from grading import grade
from grading.generate import SOLUTIONS_DIR
from grading.notebook import BEGIN, END


@pytest.fixture(scope="module")
def settings(real_root) -> grade.Settings:
    """Grading without the sandbox (these submissions are ours), the references from the usual cache."""
    return grade.Settings(data_root=real_root, sandbox=False)


def submission(folder: Path, name: str, answers: dict[str, list[str]]) -> Path:
    """The solution ``name`` with the solution blocks of some answer cells replaced
    (cell id -> new code for each of its blocks), written as a student's file."""
    nb = nbformat.read(SOLUTIONS_DIR / name, as_version=4)
    for cell in nb.cells:
        if cell.id in answers:
            cell.source = swap_blocks(cell.source, answers.pop(cell.id))
    assert not answers, f"no such answer cells: {sorted(answers)}"
    path = folder / "student" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def swap_blocks(source: str, codes: list[str]) -> str:
    """``source`` with its solution blocks, in order, replaced by ``codes`` (indented alike)."""
    lines, out, codes = source.split("\n"), [], list(codes)
    inside = False
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + new if new else new for new in codes.pop(0).strip("\n").split("\n"))
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    assert not codes, "more replacements than solution blocks"
    return "\n".join(out)


def lost_points(path: Path, settings: grade.Settings) -> dict[str, str]:
    """``{question: why}`` for every question of the graded file that did not score full marks."""
    result, _, _ = grade.grade_file(path, settings)
    assert result["error"] is None and result["stopped"] is None, result
    return {v["question"]: v["status"] for v in result["verdicts"] if v["points"] < v["max_points"]}


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

PIXEL_STATISTICS = "return X.mean(dim=0, keepdim=True), X.std(dim=0, keepdim=True) + EPS"
STANDARDIZE = "return (X - mean) / scale"
TRAIN_STATISTICS = """
train_mean, train_scale = pixel_statistics(X_train)
X_train_s = standardize(X_train, train_mean, train_scale)
X_val_s = standardize(X_val, train_mean, train_scale)
"""

WRONG = {
    "01 train_linear with plain SGD (no momentum, decay or schedule)": (
        A01, {"80e77e42": [PLAIN_SGD]}, {"1.4", "1.5", "1.11", "1.12"}),
    "01 split without shuffling": (
        A01, {"94d984fe": ["order = torch.arange(n)\nreturn order[:n - num_val], order[n - num_val:]"]}, {"1.1"}),
    "01 pixel_statistics without EPS": (
        A01, {"53f5d1cd": ["return X.mean(dim=0, keepdim=True), X.std(dim=0, keepdim=True)", STANDARDIZE, TRAIN_STATISTICS]},
        {"1.3", "1.11"}),  # train_final standardises with pixel_statistics
    "01 the validation part standardised with its own statistics": (
        A01, {"53f5d1cd": [PIXEL_STATISTICS, STANDARDIZE, TRAIN_STATISTICS.replace("X_val_s = standardize(X_val, train_mean, train_scale)",
                                                                              "X_val_s = standardize(X_val, *pixel_statistics(X_val))")]},
        {"1.3"}),
    "01 sweep scored on the training data": (
        A01, {"0429b8d0": ["return {value: accuracy_on(train_linear(*train_data, **{**base, name: value}), train_data)\n"
                          "        for value in values}"]}, {"1.5"}),
    "01 standard error without the square root": (
        A01, {"371269db": ["return accuracy * (1 - accuracy) / n"]}, {"1.8"}),
    "01 cheapest_within returning the best setting": (
        A01, {"0096b178": ["return max(results, key=results.get)"]}, {"1.9"}),
    "02 weight decay on the bias too": (
        A02, {"9fb2f859": ["""
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
"""]}, {"2.1", "2.6"}),
    "02 early stopping that keeps the live state_dict, not a copy": (
        A02, {"c2d4b303": ["""
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
"""]}, {"2.5"}),
    "03 smooth_max shifting by the global maximum": (
        A03, {"31c2dd03": ["m = (lam * x).max()\nreturn (m + torch.log(torch.exp(lam * x - m).sum(dim=-1))) / lam"]}, {"3.7"}),
    "04 limits as the softmax at T = 1e-4 and T = 1e8": (
        A04, {"92e8cfab": ["return torch.softmax(o / 1e-4, dim=-1)", "return torch.softmax(o / 1e8, dim=-1)"]}, {"4.5"}),
}

FORBIDDEN = {
    "03 real_softmax through torch.logaddexp": (A03, {"f03694c3": ["return torch.logaddexp(a, b)"]}, {"3.1"}),
    "03 gap through real_softmax": (A03, {"a6b02ee0": ["return real_softmax(torch.zeros_like(d), -d)"]}, {"3.3"}),
    "03 real_softmax through softplus (does what logaddexp does)": (
        A03, {"f03694c3": ["return torch.maximum(a, b) + torch.nn.functional.softplus(-(a - b).abs())"]}, {"3.1"}),
    "03 real_softmax through an alias of torch.logaddexp": (
        A03, {"f03694c3": ["add = getattr(torch, 'logadd' + 'exp')\nreturn add(a, b)"]}, {"3.1"}),
}


@pytest.mark.parametrize("case", sorted(WRONG) + sorted(FORBIDDEN))
def test_wrong_answer_loses_exactly_its_questions(case, tmp_path, settings):
    name, answers, questions = {**WRONG, **FORBIDDEN}[case]
    lost = lost_points(submission(tmp_path, name, {key: list(codes) for key, codes in answers.items()}), settings)
    assert set(lost) == questions, lost


def test_gap_accepts_log_of_one_plus(tmp_path, settings):
    """log(1 + exp(-d)) is a correct closed form: it passes 3.3 (float64's tolerance)."""
    assert lost_points(submission(tmp_path, A03, {"a6b02ee0": ["return torch.log(1 + torch.exp(-d))"]}), settings) == {}


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
