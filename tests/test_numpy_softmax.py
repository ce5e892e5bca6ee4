"""utils.numpy_softmax: the hand-derived gradient, training, clear errors, and agreement with notebook 04b."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import numpy_softmax as N

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04b_gradient_by_hand.ipynb"
DEFINED_IN_NOTEBOOK = ("softmax", "cross_entropy", "logit_gradient", "SoftmaxRegression")


def _toy(n=600, d=6, k=3, seed=0):
    """A linearly separable k-class problem with d inputs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(0, 0.3, (n, d))
    X[np.arange(n), y] += 2
    return X, y


def _notebook_definitions() -> dict:
    """Run the code cells of notebook 04b that define the lesson's functions and class."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace = {"np": np}
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(f"def {name}(" in source or f"class {name}:" in source
                                                for name in DEFINED_IN_NOTEBOOK):
            exec(compile(source, f"{NOTEBOOK.name}", "exec"), namespace)
    missing = [name for name in DEFINED_IN_NOTEBOOK if name not in namespace]
    assert not missing, f"notebook 04b no longer defines {missing}"
    return namespace


def test_softmax_and_cross_entropy_are_stable_and_match_torch():
    O = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0], [-800.0, -801.0, -802.0]])
    y = np.array([2, 1, 0])
    P = N.softmax(O)
    assert np.isfinite(P).all() and np.allclose(P.sum(axis=1), 1)
    np.testing.assert_allclose(P, torch.softmax(torch.tensor(O), dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(N.cross_entropy(O, y),
                               F.cross_entropy(torch.tensor(O), torch.tensor(y), reduction="none").numpy(), rtol=1e-12)


def test_gradients_equal_autograds():
    X, y = _toy()
    model = N.SoftmaxRegression(num_inputs=6, num_classes=3, dtype=np.float64, seed=1)
    model.W = np.random.default_rng(2).normal(0, 0.5, model.W.shape)
    model.b = np.array([0.3, -0.2, 0.1])
    dW, db = model.gradients(X, y)
    W, b = torch.tensor(model.W, requires_grad=True), torch.tensor(model.b, requires_grad=True)
    F.cross_entropy(torch.tensor(X) @ W + b, torch.tensor(y)).backward()
    np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert model.loss(X, y) == pytest.approx(F.cross_entropy(torch.tensor(X) @ W + b, torch.tensor(y)).item())


def test_fit_learns_a_separable_problem_and_records_its_history():
    X, y = _toy()
    model = N.SoftmaxRegression(num_inputs=6, num_classes=3, lr=0.5, batch_size=64, seed=0)
    start = model.loss(X, y)
    assert model.fit(X, y, num_epochs=5) is model
    assert len(model.history) == 5 and model.history[-1][0] < model.history[0][0]
    assert model.loss(X, y) < start / 4
    assert (model.predict(X) == y).mean() > 0.97
    assert model.predict_proba(X).shape == (600, 3)


def test_a_given_order_gives_the_same_steps_as_manual_sgd():
    X, y = _toy(n=10)
    model = N.SoftmaxRegression(num_inputs=6, num_classes=3, lr=0.2, batch_size=4, dtype=np.float64, seed=0)
    W, b = model.W.copy(), model.b.copy()
    order = np.arange(10)[::-1]
    model.train_epoch(X, y, order=order)
    for start in range(0, 10, 4):
        index = order[start:start + 4]
        G = N.softmax(X[index] @ W + b) - np.eye(3)[y[index]]
        W = W - 0.2 * X[index].T @ G / len(index)
        b = b - 0.2 * G.mean(axis=0)
    np.testing.assert_allclose(model.W, W, rtol=1e-12)
    np.testing.assert_allclose(model.b, b, rtol=1e-12)


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((4, 5)), np.zeros(4, dtype=int), r"X must have shape \(n, 6\)"),
    (np.zeros((4, 28, 28)), np.zeros(4, dtype=int), "Flatten images"),
    (np.zeros((4, 6)), np.zeros(3, dtype=int), "one class index 0..2 per row"),
    (np.zeros((4, 6)), np.array([0, 1, 2, 3]), "one class index 0..2 per row"),
    (np.zeros((4, 6)), np.zeros(4), "one class index 0..2 per row"),
])
def test_bad_inputs_are_explained(X, y, message):
    model = N.SoftmaxRegression(num_inputs=6, num_classes=3)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, num_epochs=1)


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="batch_size must be at least 1 and lr positive"):
        N.SoftmaxRegression(batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1 and lr positive"):
        N.SoftmaxRegression(lr=-0.1)


def test_the_notebooks_definitions_agree_with_utils():
    """Notebook 04b writes the class out as the lesson; utils keeps the same code once."""
    lesson = _notebook_definitions()
    rng = np.random.default_rng(0)
    O, y = rng.normal(0, 3, (20, 10)), rng.integers(0, 10, 20)
    for name in ("softmax", "cross_entropy", "logit_gradient"):
        args = (O,) if name == "softmax" else (O, y)
        np.testing.assert_array_equal(lesson[name](*args), getattr(N, name)(*args), err_msg=name)
    X, y = rng.random((700, 784)).astype(np.float32), rng.integers(0, 10, 700)
    ours = lesson["SoftmaxRegression"](seed=5).fit(X, y, num_epochs=2)
    workbooks = N.SoftmaxRegression(seed=5).fit(X, y, num_epochs=2)
    np.testing.assert_array_equal(ours.W, workbooks.W)
    np.testing.assert_array_equal(ours.b, workbooks.b)
    assert ours.history == workbooks.history
    for method in ("predict_proba", "predict"):
        np.testing.assert_array_equal(getattr(ours, method)(X), getattr(workbooks, method)(X), err_msg=method)
    assert ours.loss(X, y) == workbooks.loss(X, y)
    for mine, theirs in zip(ours.gradients(X, y), workbooks.gradients(X, y)):
        np.testing.assert_array_equal(mine, theirs)
