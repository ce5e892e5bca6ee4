"""Training helpers: accuracy, evaluation, one epoch, the training loop, device choice."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Union

import torch
from torch import nn

from utils.data import BatchIterator
from utils.messages import say, split_name

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Updater = Union[torch.optim.Optimizer, Callable[[int], None]]

THREADS_VARIABLE = "WORKBOOK_TORCH_THREADS"
DEFAULT_THREADS = 1


class TrainingDivergedError(FloatingPointError):
    """The loss became nan or inf."""


def get_device() -> torch.device:
    """The fastest device here: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def training_threads() -> int | None:
    """CPU threads for `train_epoch`, `evaluate_accuracy` and `predict`; None: torch's own.

    ``$WORKBOOK_TORCH_THREADS`` when set (``0`` keeps torch's setting), else 1. On a 2-core
    machine two threads run these small models about 1.4x faster while nothing else runs,
    but several times slower as soon as another process keeps a core busy (every parallel
    operation waits for the descheduled thread), so one thread is the default; see ``make bench``.
    """
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit():
        raise ValueError(f"{THREADS_VARIABLE} must be a whole number (0: torch's own setting), got {value!r}.")
    return int(value) or None


@contextmanager
def _threads_for_training() -> Iterator[None]:
    """Run the block with `training_threads` torch threads, then restore the setting."""
    wanted, before = training_threads(), torch.get_num_threads()
    if wanted is None or wanted == before:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_logits_and_labels(y_hat: torch.Tensor, y: torch.Tensor, check_range: bool = True) -> None:
    """Raise ``ValueError`` when logits (B, C) and labels (B,) do not fit together.

    ``check_range=False`` checks shapes and dtypes only: no label is read, so on a GPU
    nothing waits for the device.
    """
    if y_hat.dim() != 2:
        raise ValueError(f"Expected logits or probabilities of shape (batch, classes), got {tuple(y_hat.shape)}.")
    if y.dim() != 1 or y.shape[0] != y_hat.shape[0]:
        raise ValueError(
            f"Batch sizes differ: {y_hat.shape[0]} rows of outputs but labels of shape {tuple(y.shape)}; "
            f"labels must be a 1-D tensor with one class index per row."
        )
    if y.dtype.is_floating_point:
        raise ValueError(f"Labels must be integer class indices, got dtype {y.dtype}.")
    if check_range:
        check_label_range(y, y_hat.shape[1])


def check_label_range(labels: torch.Tensor, num_classes: int) -> None:
    """Raise ``ValueError`` unless every label is a class index in 0..num_classes-1."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"Labels must lie in 0..{num_classes - 1} for {num_classes} outputs, but range from "
            f"{int(labels.min())} to {int(labels.max())}. Does the last layer have one output per class?"
        )


def _check_batch(data_iter: Batches, y_hat: torch.Tensor, y: torch.Tensor, first: bool) -> None:
    """Shapes on every batch; the label range once per pass, on the first batch: all the labels
    of a `BatchIterator` (one cheap check covers the whole pass), else that batch's."""
    check_logits_and_labels(y_hat, y, check_range=False)
    if first:
        check_label_range(data_iter.y if isinstance(data_iter, BatchIterator) else y, y_hat.shape[1])


def correct_predictions(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of rows whose largest output is the true class (a 0-d tensor, no sync)."""
    return (y_hat.argmax(dim=1) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``y_hat`` (B, C) whose argmax equals the label in ``y`` (B,)."""
    check_logits_and_labels(y_hat, y)
    return float(correct_predictions(y_hat, y)) / max(len(y), 1)


def evaluate_accuracy(net: Callable[[torch.Tensor], torch.Tensor], data_iter: Batches) -> float:
    """Accuracy of ``net`` over every batch of ``data_iter``, without gradients."""
    if isinstance(net, nn.Module):
        net.eval()
    correct, total = 0, 0
    with torch.no_grad(), _threads_for_training():
        for X, y in data_iter:
            y_hat = net(X)
            _check_batch(data_iter, y_hat, y, first=total == 0)
            correct = correct + correct_predictions(y_hat, y)
            total += len(y)
    return float(correct) / max(total, 1)


def predict(net: Callable[[torch.Tensor], torch.Tensor], data_iter: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted, true)`` class indices for every example of ``data_iter``, on the CPU."""
    if isinstance(net, nn.Module):
        net.eval()
    predicted, true = [], []
    with torch.no_grad(), _threads_for_training():
        for X, y in data_iter:
            predicted.append(net(X).argmax(dim=1).cpu())
            true.append(y.cpu())
    return torch.cat(predicted), torch.cat(true)


def most_confident_mistakes(probs: torch.Tensor, labels: torch.Tensor, k: int = 12) -> torch.Tensor:
    """Indices of the (at most) ``k`` wrong predictions made with the highest probability, surest first."""
    check_logits_and_labels(probs, labels)
    confidence, predicted = probs.max(dim=1)
    wrong = (predicted != labels).nonzero().flatten()
    return wrong[confidence[wrong].argsort(descending=True, stable=True)[:k]]


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as class ``j``."""
    index = true.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _step(l: torch.Tensor, updater: Updater, batch_size: int) -> None:
    """Backpropagate the batch loss and update the parameters."""
    if isinstance(updater, torch.optim.Optimizer):
        updater.zero_grad()
        (l if l.dim() == 0 else l.mean()).backward()
        updater.step()
    else:  # hand-written updater(batch_size) that divides the summed gradient by batch_size
        (l * batch_size if l.dim() == 0 else l.sum()).backward()
        updater(batch_size)


def train_epoch(net: Callable[[torch.Tensor], torch.Tensor], train_iter: Batches,
                loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                updater: Updater) -> tuple[float, float]:
    """One pass over ``train_iter``; returns (mean training loss, training accuracy).

    ``loss`` may return one value per example (``reduction='none'``) or their mean.
    Sums stay on the device until the end of the epoch (one sync per epoch, not per batch).
    Shapes are checked on every batch, the label range once per pass: all the labels of a
    `BatchIterator`, the first batch's for other iterables. Runs with `training_threads` threads.
    """
    if isinstance(net, nn.Module):
        net.train()
    loss_sum, correct, total = 0.0, 0, 0
    with _threads_for_training():
        for X, y in train_iter:
            y_hat = net(X)
            _check_batch(train_iter, y_hat, y, first=total == 0)
            l = loss(y_hat, y)
            _step(l, updater, len(y))
            with torch.no_grad():
                loss_sum = loss_sum + (l.sum() if l.dim() else l * len(y))
                correct = correct + correct_predictions(y_hat, y)
            total += len(y)
    return float(loss_sum) / max(total, 1), float(correct) / max(total, 1)


@dataclass
class History:
    """Per-epoch results of `train`; ``test_acc`` is the accuracy on the split named ``eval_split``."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    eval_split: str = "test"


def train(net: Callable[[torch.Tensor], torch.Tensor], train_iter: Batches, test_iter: Batches,
          loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], num_epochs: int,
          updater: Updater, plot: bool = True, save_plot: str | None = None,
          eval_split: str = "test") -> History:
    """Train for ``num_epochs``, evaluating on ``test_iter`` after each; return the history.

    ``updater`` is a ``torch.optim`` optimizer or a function ``updater(batch_size)``.
    ``eval_split`` names the data ``test_iter`` holds (e.g. ``"validation"``) in the printout
    and the plot; its accuracies are kept in ``History.test_acc`` whatever the name.
    Draws a live plot of loss and accuracies unless ``plot=False`` (``save_plot`` also
    writes the final figure to that file). Stops with `TrainingDivergedError` if the loss
    becomes nan or inf.
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}.")
    from .plot import TrainingPlot  # matplotlib only when a plot is wanted

    history = History(eval_split=eval_split)
    live = TrainingPlot(num_epochs, eval_split=eval_split) if plot or save_plot else None
    try:
        for epoch in range(1, num_epochs + 1):
            train_loss, train_acc = train_epoch(net, train_iter, loss, updater)
            if not math.isfinite(train_loss):
                raise TrainingDivergedError(say(
                    "The training loss became {loss} in epoch {epoch}. The updates overshot: try a smaller "
                    "learning rate (e.g. a tenth of it), and check the inputs are in [0, 1].",
                    loss=train_loss, epoch=epoch))
            test_acc = evaluate_accuracy(net, test_iter)
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.test_acc.append(test_acc)
            if live:
                live.add(epoch, train_loss, train_acc, test_acc)
    finally:
        if live:
            live.finish(save_plot)
    print(say("epoch {epoch}: train loss {loss:.4f}, train acc {train_acc:.4f}, {split} acc {eval_acc:.4f}",
              epoch=len(history.train_loss), loss=history.train_loss[-1], train_acc=history.train_acc[-1],
              split=split_name(eval_split), eval_acc=history.test_acc[-1]))
    return history
