"""utils.train: accuracy, clear errors, both kinds of updater, divergence, a real training run."""

import pytest
import torch
from torch import nn

from utils import train as T
from utils.data import BatchIterator


def _toy_iters(n=512, seed=0):
    """A small linearly separable 3-class problem shaped like images."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    X = torch.randn(n, 1, 2, 2, generator=g) * 0.3
    X[:, 0, 0, 0] += (y == 0).float() * 2
    X[:, 0, 0, 1] += (y == 1).float() * 2
    X[:, 0, 1, 0] += (y == 2).float() * 2
    return BatchIterator(X, y, 64, shuffle=True), BatchIterator(X, y, 64, shuffle=False)


def test_accuracy_is_the_fraction_of_correct_argmaxes():
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.5, 0.2, 0.3], [0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    assert T.accuracy(y_hat, torch.tensor([2, 0, 0, 1])) == 0.5
    assert T.accuracy(y_hat, torch.tensor([2, 0, 1, 0])) == 1.0


def test_mismatched_batch_sizes_are_explained():
    with pytest.raises(ValueError, match="Batch sizes differ: 4 rows of outputs"):
        T.accuracy(torch.zeros(4, 10), torch.zeros(3, dtype=torch.long))


def test_labels_out_of_range_are_explained():
    with pytest.raises(ValueError, match=r"Labels must lie in 0..9 for 10 outputs.*one output per class"):
        T.accuracy(torch.zeros(2, 10), torch.tensor([3, 10]))
    with pytest.raises(ValueError, match="Labels must lie in"):
        T.accuracy(torch.zeros(2, 10), torch.tensor([-1, 0]))


def test_a_bad_label_late_in_a_batch_iterator_is_explained_before_training():
    """The whole label set of a BatchIterator is checked on the first batch, not only that batch's."""
    from utils.data import BatchIterator

    y = torch.randint(0, 3, (40,))
    y[-1] = 7  # in the last batch only
    data = BatchIterator(torch.rand(40, 1, 2, 2), y, 8, shuffle=False)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"Labels must lie in 0..2 for 3 outputs, but range from 0 to 7"):
        T.train_epoch(net, data, nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.1))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters())), "no update before the error"
    with pytest.raises(ValueError, match="Labels must lie in 0..2"):
        T.evaluate_accuracy(net, data)


def test_float_labels_and_wrong_output_shape_are_explained():
    with pytest.raises(ValueError, match="integer class indices"):
        T.accuracy(torch.zeros(2, 10), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(batch, classes\)"):
        T.accuracy(torch.zeros(2, 10, 1), torch.tensor([1, 2]))


def test_training_with_too_few_outputs_stops_with_a_clear_error():
    train_iter, test_iter = _toy_iters()
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))  # 3 classes, 2 outputs
    with pytest.raises(ValueError, match="one output per class"):
        T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 1,
                torch.optim.SGD(net.parameters(), lr=0.1), plot=False)


def _scratch_model():
    W = torch.normal(0, 0.01, size=(4, 3), requires_grad=True)
    b = torch.zeros(3, requires_grad=True)

    def updater(batch_size):
        with torch.no_grad():
            for p in (W, b):
                p -= 0.5 * p.grad / batch_size
                p.grad.zero_()

    return (lambda X: X.reshape(-1, 4) @ W + b), updater


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("kind", ["optimizer", "hand-written"])
def test_train_learns_with_either_updater_and_reduction(kind, reduction):
    torch.manual_seed(0)
    train_iter, test_iter = _toy_iters()
    if kind == "optimizer":
        net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        updater = torch.optim.SGD(net.parameters(), lr=0.5)
    else:
        net, updater = _scratch_model()
    history = T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction=reduction), 5,
                      updater, plot=False)
    assert len(history.train_loss) == len(history.train_acc) == len(history.test_acc) == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.test_acc[-1] > 0.95


@pytest.mark.parametrize("split", [None, "validation"])
def test_train_names_the_split_it_evaluates_on(split, capsys):
    torch.manual_seed(0)
    train_iter, test_iter = _toy_iters()
    net, updater = _scratch_model()
    named = {} if split is None else {"eval_split": split}
    history = T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 2, updater, plot=False, **named)
    printed = capsys.readouterr().out
    want = split or "test"
    assert history.eval_split == want and f", {want} acc {history.test_acc[-1]:.4f}" in printed
    assert split is None or "test acc" not in printed


def test_both_reductions_take_the_same_steps():
    results = []
    for reduction in ("none", "mean"):
        torch.manual_seed(0)
        train_iter, test_iter = _toy_iters()
        net, updater = _scratch_model()
        T.train_epoch(net, train_iter, nn.CrossEntropyLoss(reduction=reduction), updater)
        results.append(net(test_iter.X))
    torch.testing.assert_close(results[0], results[1])


def test_diverging_loss_names_the_epoch_and_the_fix():
    torch.manual_seed(0)
    train_iter, test_iter = _toy_iters()
    train_iter.X[5, 0, 0, 0] = float("nan")  # one bad value poisons the weights
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(T.TrainingDivergedError, match=r"became nan in epoch 1.*smaller learning rate"):
        T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 3,
                torch.optim.SGD(net.parameters(), lr=0.1), plot=False)


@pytest.mark.parametrize("num_epochs", [0, -2, 1.5, True])
def test_bad_number_of_epochs(num_epochs):
    train_iter, test_iter = _toy_iters()
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match="num_epochs must be a positive int"):
        T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(), num_epochs,
                torch.optim.SGD(net.parameters(), lr=0.1), plot=False)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    predicted = torch.tensor([0, 1, 1, 2, 2, 2])
    true = torch.tensor([0, 1, 2, 2, 2, 0])
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 1, 2]])
    assert torch.equal(T.confusion_matrix(predicted, true, 3), expected)


def test_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert T.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert T.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert T.get_device() == torch.device("cuda")


def test_a_short_real_training_run_passes_075(real_iters):
    torch.manual_seed(0)
    train_iter, test_iter = real_iters
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.normal_(net[1].weight, std=0.01)
    nn.init.zeros_(net[1].bias)
    history = T.train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 2,
                      torch.optim.SGD(net.parameters(), lr=0.1), plot=False)
    assert history.test_acc[-1] > 0.75
    predicted, true = T.predict(net, test_iter)
    assert T.confusion_matrix(predicted, true, 10).sum() == 10000
    assert (predicted == true).float().mean().item() == pytest.approx(history.test_acc[-1])


def test_most_confident_mistakes_come_surest_first():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    labels = torch.tensor([1, 1, 1, 0, 0])  # wrong: rows 0 (0.9), 2 (0.6), 3 (0.7)
    assert T.most_confident_mistakes(probs, labels).tolist() == [0, 3, 2]
    assert T.most_confident_mistakes(probs, labels, k=1).tolist() == [0]
    assert T.most_confident_mistakes(probs, probs.argmax(dim=1)).numel() == 0
