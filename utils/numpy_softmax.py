"""Softmax regression in NumPy, trained with the gradient derived by hand (notebook 04b).

The notebook writes this class out as the lesson; this is the same code, kept once here for
``make bench`` and later use. A test checks that the two agree numerically.
"""

from __future__ import annotations

import numpy as np


def softmax(O: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (batch, classes) array; the row maximum is subtracted first, so exp never overflows."""
    E = np.exp(O - O.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def cross_entropy(O: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy of each row of logits ``O`` with its class index in ``y``: logsumexp(o) - o_y."""
    m = O.max(axis=1, keepdims=True)
    log_partition = (m + np.log(np.exp(O - m).sum(axis=1, keepdims=True)))[:, 0]
    return log_partition - O[np.arange(len(y)), y]


def logit_gradient(O: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean cross-entropy with respect to the logits: (softmax(O) - Y) / n, Y one-hot."""
    G = softmax(O)
    G[np.arange(len(y)), y] -= 1  # subtract the one-hot Y without forming it
    return G / len(y)


class SoftmaxRegression:
    """Softmax regression o = xW + b, trained by mini-batch SGD on the hand-derived gradient.

    ``X`` is (n, num_inputs), ``y`` holds class indices 0..num_classes-1. Weights start from
    N(0, 0.01^2), biases at zero; ``seed`` fixes them and the shuffling.
    """

    def __init__(self, num_inputs: int = 784, num_classes: int = 10, lr: float = 0.1, batch_size: int = 256,
                 seed: int = 0, dtype: type = np.float32):
        if batch_size < 1 or lr <= 0:
            raise ValueError(f"batch_size must be at least 1 and lr positive, got {batch_size} and {lr}.")
        self.lr, self.batch_size, self.num_classes = lr, batch_size, num_classes
        self.rng = np.random.default_rng(seed)
        self.W = self.rng.normal(0, 0.01, size=(num_inputs, num_classes)).astype(dtype)
        self.b = np.zeros(num_classes, dtype=dtype)
        self.history: list[tuple[float, float]] = []

    def _check(self, X: np.ndarray, y: np.ndarray | None = None) -> None:
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise ValueError(f"X must have shape (n, {self.W.shape[0]}): one flattened example per row, "
                             f"got {X.shape}. Flatten images with X.reshape(len(X), -1).")
        if y is not None and (y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer)
                              or y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"y must hold one class index 0..{self.num_classes - 1} per row of X "
                             f"({len(X)} integers), got shape {y.shape} and dtype {y.dtype}.")

    def logits(self, X: np.ndarray) -> np.ndarray:
        """The scores o = XW + b, shape (n, num_classes)."""
        return X @ self.W + self.b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, num_classes); each row sums to 1."""
        self._check(X)
        return softmax(self.logits(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class of each row."""
        self._check(X)
        return self.logits(X).argmax(axis=1)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy over the rows of X."""
        self._check(X, y)
        return float(cross_entropy(self.logits(X), y).mean())

    def gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dL/dW = X^T (P - Y) / n and dL/db = mean of the rows of P - Y, for the mean loss L."""
        G = logit_gradient(self.logits(X), y)
        return X.T @ G, G.sum(axis=0)

    def train_epoch(self, X: np.ndarray, y: np.ndarray, order: np.ndarray | None = None) -> tuple[float, float]:
        """One pass of mini-batch SGD in a shuffled ``order``; returns (mean loss, accuracy) seen during the pass."""
        self._check(X, y)
        order = self.rng.permutation(len(X)) if order is None else order
        loss_sum, correct = 0.0, 0
        for start in range(0, len(X), self.batch_size):
            index = order[start:start + self.batch_size]
            Xb, yb = X[index], y[index]
            O = self.logits(Xb)
            loss_sum += float(cross_entropy(O, yb).sum())
            correct += int((O.argmax(axis=1) == yb).sum())
            G = logit_gradient(O, yb)  # as in `gradients`, reusing O
            self.W -= self.lr * (Xb.T @ G)
            self.b -= self.lr * G.sum(axis=0)
        return loss_sum / len(X), correct / len(X)

    def fit(self, X: np.ndarray, y: np.ndarray, num_epochs: int = 10) -> SoftmaxRegression:
        """Train for ``num_epochs``; (mean loss, accuracy) of each epoch are appended to ``history``."""
        self.history += [self.train_epoch(X, y) for _ in range(num_epochs)]
        return self
