"""Plots for the workbook: image grids, weight images, probability bars, a live training plot,
confusion matrix.

Everything works inside Jupyter and outside it (scripts, IDEs, the headless Agg backend).
Importing this module sets matplotlib's base font to `FONT_SIZE`, and the figures drawn here are
at most `MAX_WIDTH` wide, so that in a 1000-px-wide JupyterLab notebook no figure is shrunk and
every label is at least as large as the body text (14 px).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from utils.fonts import use_cjk_font
from utils.messages import say, split_name

FONT_SIZE = 11  # points: about 15 px at matplotlib's 100 dpi, just above JupyterLab's 14-px body text
MAX_WIDTH = 9.0  # inches: 900 px at 100 dpi, the output area of a 1000-px-wide notebook (no shrinking)
TITLE_LINE = 0.3  # inches of height per line of an image title

plt.rcParams["font.size"] = FONT_SIZE  # ticks, labels and legends follow it; titles are 1.2x
use_cjk_font()  # Chinese labels (the Chinese edition) draw from a CJK font, never as empty boxes


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
    """Draw up to ``num_rows * num_cols`` grayscale images in a grid; return the axes.

    Each image is ``scale`` inches wide, less when the grid would be wider than `MAX_WIDTH`.
    """
    width = min(scale, MAX_WIDTH / num_cols)
    title_lines = max((title.count("\n") + 1 for title in titles), default=0) if titles else 0
    figure, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                                figsize=(num_cols * width, num_rows * (width + TITLE_LINE * title_lines)))
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(_as_image_array(img), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=FONT_SIZE)
    for ax in axes[len(imgs):]:
        ax.axis("off")
    figure.tight_layout()
    return axes


def show_weights(weights: torch.Tensor | np.ndarray, class_names: Sequence[str],
                 class_means: torch.Tensor | np.ndarray | None = None, num_cols: int = 5) -> np.ndarray:
    """Each class's weights as a 28x28 image (blue: positive, red: negative); return the axes.

    All classes share one symmetric colour scale, shown by a colour bar, with white at 0.

    ``weights`` holds one row of 784 weights per class, shape (classes, 784), the layout of
    ``nn.Linear.weight`` (pass ``W.T`` for a (784, classes) matrix). Given ``class_means``, each
    row of weight images comes under a row of the same classes' mean images.
    """
    rows = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    num_classes = len(class_names)
    if rows.shape != (num_classes, 28 * 28):
        raise ValueError(f"Expected weights of shape ({num_classes}, 784), one row per class, got "
                         f"{tuple(rows.shape)}; for a (784, {num_classes}) matrix W pass W.T.")
    if num_classes % num_cols:
        raise ValueError(f"num_cols={num_cols} must divide the number of classes, {num_classes}.")
    kinds = {say("weights"): list(rows.reshape(-1, 28, 28))}
    if class_means is not None:
        if len(class_means) != num_classes:
            raise ValueError(f"Got {len(class_means)} class means for {num_classes} classes.")
        kinds = {say("class mean"): [_as_image_array(mean) for mean in class_means], **kinds}
    grid, titles, row_kinds = [], [], []
    for first in range(0, num_classes, num_cols):
        for kind, images in kinds.items():
            grid += images[first:first + num_cols]
            titles += class_names[first:first + num_cols]
            row_kinds.append(kind)
    axes = show_images(grid, len(row_kinds), num_cols, titles=titles, scale=1.6)
    limit = float(np.abs(rows).max()) or 1.0  # one scale for every class, so colours compare across classes
    weight_axes = []
    for row, kind in enumerate(row_kinds):
        axes[row * num_cols].set_ylabel(kind)
        if kind == say("weights"):
            weight_axes += list(axes[row * num_cols:(row + 1) * num_cols])
    for ax in weight_axes:
        ax.images[0].set(cmap="RdBu", clim=(-limit, limit))  # white is 0
    _add_colour_bar(weight_axes, label=say("weight"))
    return axes


def _add_colour_bar(axes: Sequence, label: str) -> None:
    """One vertical colour bar for the images of ``axes``, right of the whole figure."""
    figure = axes[0].figure
    figure.tight_layout(rect=(0, 0, 0.9, 1))
    boxes = [ax.get_position() for ax in axes]
    bottom, top = min(box.y0 for box in boxes), max(box.y1 for box in boxes)
    bar = figure.add_axes((0.92, bottom, 0.02, top - bottom))
    figure.colorbar(axes[0].images[0], cax=bar, label=label)


def plot_probabilities(probs: torch.Tensor | Sequence[float], class_names: Sequence[str],
                       title: str | None = None, ax=None):
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
    ax.set_xlabel(say("probability"))
    ax.set_title(say("Predicted probabilities") if title is None else title)
    return ax


def plot_confusion_matrix(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str],
                          title: str | None = None, ax=None):
    """Heat map of counts: rows are true classes, columns predicted; return the axes."""
    counts = np.asarray(matrix.cpu() if isinstance(matrix, torch.Tensor) else matrix)
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 7.5))
    image = ax.imshow(counts, cmap="Blues")
    ax.figure.colorbar(image, ax=ax, label=say("examples"))
    ticks = range(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names), rotation=60, ha="right")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel(say("predicted class"))
    ax.set_ylabel(say("true class"))
    ax.set_title(say("Confusion matrix") if title is None else title)
    threshold = counts.max() / 2
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=FONT_SIZE,
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

    STYLES = ("-", "--", "-.")

    def __init__(self, num_epochs: int, title: str | None = None, eval_split: str = "test"):
        self.title = say("Training") if title is None else title
        self.num_epochs = num_epochs
        self.eval_split = eval_split
        self.figure, self.ax = plt.subplots(figsize=(5, 3.5))
        names = (say("train loss"), say("train acc"), say("{split} acc", split=split_name(eval_split)))
        self.lines = [self.ax.plot([], [], style, label=name)[0] for name, style in zip(names, self.STYLES)]
        self.ax.set_xlim(1, max(num_epochs, 2))
        self.ax.set_xlabel(say("epoch"))
        self.ax.set_ylabel(say("loss / accuracy"))
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
        """Append one epoch's results (``test_acc``: the accuracy on ``eval_split``) and redraw."""
        self.epochs.append(epoch)
        for line, values, value in zip(self.lines, self.values, (train_loss, train_acc, test_acc)):
            values.append(value)
            line.set_data(self.epochs, values)
        self.ax.relim()
        self.ax.autoscale_view(scalex=False)
        self.ax.set_title(say("{title}: epoch {epoch}/{epochs}, {split} acc {acc:.3f}", title=self.title, epoch=epoch,
                              epochs=self.num_epochs, split=split_name(self.eval_split), acc=test_acc))
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
            print(say("Training plot saved to {path}.", path=save_path) if save_path
                  else say("Training plot not shown (headless backend)."))
            plt.close(self.figure)
