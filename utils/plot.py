"""Plots for the workbook: image grids, probability bars, a live training plot, confusion matrix.

Everything works inside Jupyter and outside it (scripts, IDEs, the headless Agg backend).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch


def in_notebook() -> bool:
    """True inside a running Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _as_image_array(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """A (H, W) array from an image with or without a leading channel axis."""
    array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"Expected a grayscale image of shape (H, W) or (1, H, W), got {array.shape}.")
    return array


def show_images(imgs, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5) -> np.ndarray:
    """Draw up to ``num_rows * num_cols`` grayscale images in a grid; return the axes."""
    figure, axes = plt.subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale),
                                squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(_as_image_array(img), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    for ax in axes[len(imgs):]:
        ax.axis("off")
    figure.tight_layout()
    return axes


def plot_probabilities(probs: torch.Tensor | Sequence[float], class_names: Sequence[str],
                       title: str = "Predicted probabilities", ax=None):
    """Horizontal bar chart of one probability vector, one bar per class; return the axes."""
    values = torch.as_tensor(probs, dtype=torch.float64).detach().cpu().flatten()
    if len(values) != len(class_names):
        raise ValueError(f"Got {len(values)} probabilities for {len(class_names)} class names.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.3 * len(values) + 1))
    ax.barh(range(len(values)), values.numpy(), color="tab:blue")
    ax.set_yticks(range(len(values)), labels=list(class_names))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.set_title(title)
    return ax


def plot_confusion_matrix(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str],
                          title: str = "Confusion matrix", ax=None):
    """Heat map of counts: rows are true classes, columns predicted; return the axes."""
    counts = np.asarray(matrix.cpu() if isinstance(matrix, torch.Tensor) else matrix)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(counts, cmap="Blues")
    ax.figure.colorbar(image, ax=ax, label="examples")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names), rotation=60, ha="right")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    threshold = counts.max() / 2
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    return ax


def _interactive_backend() -> bool:
    return matplotlib.get_backend().lower() not in {"agg", "pdf", "svg", "ps", "cairo", "template"}


class TrainingPlot:
    """Loss and accuracies per epoch, redrawn in place as training goes.

    In Jupyter the figure is shown once through a display handle and updated with
    ``handle.update`` (no ``clear_output``). Elsewhere an interactive backend redraws its
    window; a headless backend draws nothing until `finish` saves the figure.
    """

    SERIES = (("train loss", "-"), ("train acc", "--"), ("test acc", "-."))

    def __init__(self, num_epochs: int, title: str = "Training"):
        self.title = title
        self.num_epochs = num_epochs
        self.figure, self.ax = plt.subplots(figsize=(5, 3.5))
        self.lines = [self.ax.plot([], [], style, label=name)[0] for name, style in self.SERIES]
        self.ax.set_xlim(1, max(num_epochs, 2))
        self.ax.set_xlabel("epoch")
        self.ax.set_ylabel("loss / accuracy")
        self.ax.grid(True, alpha=0.3)
        self.ax.legend(loc="center right")
        self.epochs: list[int] = []
        self.values: list[list[float]] = [[], [], []]
        self.handle = None
        if in_notebook():
            from IPython.display import display
            plt.close(self.figure)  # shown through the handle only, not again at cell end
            self.handle = display(self.figure, display_id=True)

    def add(self, epoch: int, train_loss: float, train_acc: float, test_acc: float) -> None:
        """Append one epoch's results and redraw."""
        self.epochs.append(epoch)
        for line, values, value in zip(self.lines, self.values, (train_loss, train_acc, test_acc)):
            values.append(value)
            line.set_data(self.epochs, values)
        self.ax.relim()
        self.ax.autoscale_view(scalex=False)
        self.ax.set_title(f"{self.title}: epoch {epoch}/{self.num_epochs}, test acc {test_acc:.3f}")
        if self.handle is not None:
            self.handle.update(self.figure)
        elif _interactive_backend():
            self.figure.canvas.draw_idle()
            plt.pause(0.001)

    def finish(self, save_path: str | None = None) -> None:
        """Save the final figure if asked; outside Jupyter say where it went."""
        if save_path:
            self.figure.savefig(save_path, bbox_inches="tight")
        if self.handle is None and not _interactive_backend():
            where = f"saved to {save_path}" if save_path else "not shown (headless backend)"
            print(f"Training plot {where}.")
            plt.close(self.figure)
