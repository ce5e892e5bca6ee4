"""utils.plot under the headless Agg backend (as in scripts, CI and IDEs without a window)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from utils import plot
from utils.data import TEXT_LABELS, BatchIterator
from utils.train import train


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("images", [
    torch.rand(6, 1, 28, 28), torch.rand(6, 28, 28), np.random.rand(6, 28, 28), [torch.rand(28, 28)] * 6,
])
def test_show_images_accepts_tensors_and_arrays(images):
    axes = plot.show_images(images, 2, 4, titles=list(TEXT_LABELS[:6]))
    assert len(axes) == 8
    assert axes[0].get_title() == "t-shirt" and axes[5].get_title() == "sandal"
    assert not axes[7].axison  # empty slots are blank


def test_show_images_rejects_colour_or_flat_images():
    with pytest.raises(ValueError, match=r"grayscale image of shape \(H, W\)"):
        plot.show_images(torch.rand(2, 3, 28, 28), 1, 2)


def test_image_grids_are_never_wider_than_a_notebook_and_their_titles_readable():
    axes = plot.show_images(torch.rand(18, 28, 28), 2, 9, titles=["x"] * 18)
    assert axes[0].figure.get_figwidth() <= plot.MAX_WIDTH
    assert axes[0].title.get_fontsize() >= plot.FONT_SIZE >= 10  # 10 pt is 14 px at 100 dpi


def test_weights_as_images_under_the_class_means():
    weights, means = torch.randn(10, 784), torch.rand(10, 1, 28, 28)
    axes = plot.show_weights(weights, TEXT_LABELS, class_means=means)
    assert len(axes) == 20 and axes[0].get_ylabel() == "class mean" and axes[5].get_ylabel() == "weights"
    assert axes[5].get_title() == "t-shirt" and axes[19].get_title() == "ankle boot"
    shown = axes[6].images[0]
    assert np.array_equal(shown.get_array(), weights[1].reshape(28, 28).numpy())
    limit = float(weights.abs().max())
    assert all(ax.images[0].get_clim() == (-limit, limit) for ax in axes[5:10])  # one scale, centred on 0
    colour_bars = [ax for ax in axes[0].figure.axes if ax.get_ylabel() == "weight"]
    assert len(colour_bars) == 1
    assert len(plot.show_weights(weights, TEXT_LABELS)) == 10
    with pytest.raises(ValueError, match=r"pass W.T"):
        plot.show_weights(weights.T, TEXT_LABELS)
    with pytest.raises(ValueError, match="9 class means for 10 classes"):
        plot.show_weights(weights, TEXT_LABELS, class_means=means[:9])


def test_probability_bars():
    ax = plot.plot_probabilities(torch.softmax(torch.randn(10), 0), TEXT_LABELS, title="one example")
    assert len(ax.patches) == 10 and ax.get_title() == "one example"
    with pytest.raises(ValueError, match="3 probabilities for 10 class names"):
        plot.plot_probabilities([0.2, 0.3, 0.5], TEXT_LABELS)


def test_confusion_matrix_plot_writes_every_count():
    counts = torch.arange(9).reshape(3, 3)
    ax = plot.plot_confusion_matrix(counts, ["a", "b", "c"])
    assert sorted(t.get_text() for t in ax.texts) == [str(i) for i in range(9)]
    assert ax.get_xlabel() == "predicted class"


def test_not_in_a_notebook_here():
    assert not plot.in_notebook()


def test_live_plot_works_headless_and_saves_the_final_figure(tmp_path, capsys):
    torch.manual_seed(0)
    X, y = torch.rand(64, 1, 2, 2), torch.randint(0, 3, (64,))
    it = BatchIterator(X, y, 16, shuffle=True)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    target = tmp_path / "curve.png"
    train(net, it, it, nn.CrossEntropyLoss(), 3, torch.optim.SGD(net.parameters(), lr=0.1),
          save_plot=str(target))
    assert target.stat().st_size > 1000
    assert f"Training plot saved to {target}" in capsys.readouterr().out


def test_live_plot_draws_every_series():
    live = plot.TrainingPlot(num_epochs=2)
    live.add(1, 0.9, 0.7, 0.68)
    live.add(2, 0.6, 0.8, 0.79)
    assert [list(line.get_ydata()) for line in live.lines] == [[0.9, 0.6], [0.7, 0.8], [0.68, 0.79]]
    assert "epoch 2/2" in live.ax.get_title() and "test acc 0.790" in live.ax.get_title()
    live.finish()


def test_live_plot_names_the_split_it_was_given():
    live = plot.TrainingPlot(num_epochs=1, eval_split="validation")
    live.add(1, 0.9, 0.7, 0.68)
    assert [line.get_label() for line in live.lines][-1] == "validation acc"
    assert "validation acc 0.680" in live.ax.get_title()
    live.finish()
