"""utils.data: the batches, labels, argument checks, integrity, offline behaviour, download."""

import gzip
import hashlib
import http.server
import shutil
import threading
from functools import partial

import pytest
import torch

from utils import data


def test_batches_have_the_documented_shape_type_and_range(real_iters):
    train_iter, test_iter = real_iters
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (256,) and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.99
    assert len(train_iter) == 235 and len(test_iter) == 40  # ceil(60000/256), ceil(10000/256)
    assert sum(len(y) for _, y in test_iter) == 10000


def test_pixels_match_the_published_statistics(real_iters):
    X = real_iters[0].X
    assert X.mean().item() == pytest.approx(0.2860406, abs=1e-6)
    assert X.std().item() == pytest.approx(0.3530242, abs=1e-5)


def test_training_batches_reshuffle_every_epoch_reproducibly(real_iters):
    train_iter = real_iters[0]
    torch.manual_seed(7)
    first = next(iter(train_iter))[1]
    second = next(iter(train_iter))[1]
    torch.manual_seed(7)
    again = next(iter(train_iter))[1]
    assert not torch.equal(first, second)
    assert torch.equal(first, again)


def test_test_batches_keep_file_order(real_iters, real_root):
    test_iter = real_iters[1]
    _, labels = data.load_fashion_mnist_tensors(train=False, root=real_root)
    assert torch.equal(torch.cat([y for _, y in test_iter]), labels)
    assert torch.equal(torch.cat([y for _, y in test_iter]), labels)


@pytest.mark.parametrize("resize, shape", [(32, (32, 32)), ((20, 24), (20, 24)), (28, (28, 28))])
def test_resize(real_root, resize, shape):
    train_iter, test_iter = data.load_data_fashion_mnist(64, resize=resize, root=real_root)
    X, _ = next(iter(test_iter))
    assert X.shape == (64, 1, *shape)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_device_cpu_keeps_splits_on_cpu(real_root):
    train_iter, _ = data.load_data_fashion_mnist(128, root=real_root, device="cpu")
    X, y = next(iter(train_iter))
    assert X.device.type == "cpu" and y.device.type == "cpu"


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "256", True, None])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        data.load_data_fashion_mnist(batch_size)


@pytest.mark.parametrize("resize", [0, -3, (28,), "28", (28, 0), 2.5, (28, 28, 1)])
def test_bad_resize(resize):
    with pytest.raises(ValueError, match="resize must be a positive int"):
        data.load_data_fashion_mnist(32, resize=resize)


@pytest.mark.parametrize("device", ["gpu", "tpu:0", 3.5])
def test_unknown_device(device):
    with pytest.raises(ValueError, match="Unknown device"):
        data.load_data_fashion_mnist(32, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_cuda_asked_for_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        data.load_data_fashion_mnist(32, device="cuda")


def test_batch_iterator_rejects_mismatched_tensors():
    with pytest.raises(ValueError, match="3 examples but y has 2"):
        data.BatchIterator(torch.zeros(3, 1, 28, 28), torch.zeros(2, dtype=torch.long), 2, shuffle=False)


def test_text_labels():
    assert data.get_fashion_mnist_labels([0, 9]) == ["t-shirt", "ankle boot"]
    assert data.get_fashion_mnist_labels(torch.tensor([[1], [5]])) == ["trouser", "sandal"]
    assert data.get_fashion_mnist_labels(3) == ["dress"]
    for bad in ([10], [-1], [1.5]):
        with pytest.raises(ValueError, match="integers 0 to 9"):
            data.get_fashion_mnist_labels(bad)


def test_truncated_file_is_named_and_never_used(copied_root, monkeypatch):
    path = data.raw_folder(copied_root) / "train-labels-idx1-ubyte"
    with open(path, "r+b") as f:
        f.truncate(30000)
    monkeypatch.setenv("FASHION_MNIST_STRICT", "0")  # not even the fallback hides it
    with pytest.raises(data.CorruptFileError, match="train-labels-idx1-ubyte has 30,000 bytes") as error:
        data.load_data_fashion_mnist(256, root=copied_root)
    assert "Delete it" in str(error.value)
    assert not data.using_stand_in()


def test_corrupted_byte_is_caught_by_md5(copied_root):
    path = data.raw_folder(copied_root) / "t10k-images-idx3-ubyte"
    content = bytearray(path.read_bytes())
    content[5000] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(data.CorruptFileError, match="t10k-images-idx3-ubyte has the right size but the wrong MD5"):
        data.load_data_fashion_mnist(256, root=copied_root)


def test_strict_mode_without_data_or_network_lists_the_files(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_STRICT", "1")
    with pytest.raises(data.DataUnavailableError) as error:
        data.load_data_fashion_mnist(256, root=tmp_path)
    message = str(error.value)
    assert "download failed" in message
    assert str(data.raw_folder(tmp_path).resolve()) in message
    for name in data.RAW_FILES:
        assert name in message
    assert not data.using_stand_in()


def test_offline_stand_in_is_announced_and_learnable(tmp_path, offline, monkeypatch, capsys):
    from torch import nn

    from utils.train import train

    monkeypatch.setenv("FASHION_MNIST_STRICT", "0")
    torch.manual_seed(0)
    train_iter, test_iter = data.load_data_fashion_mnist(256, root=tmp_path)
    out = capsys.readouterr().out
    assert "OFFLINE STAND-IN DATA: these are NOT Fashion-MNIST images" in out
    assert "train-images-idx3-ubyte" in out  # says what was missing
    assert data.using_stand_in()
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert len(train_iter.X) == 60000 and len(test_iter.X) == 10000
    assert set(torch.unique(train_iter.y).tolist()) == set(range(10))
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    history = train(net, train_iter, test_iter, nn.CrossEntropyLoss(), 2,
                    torch.optim.SGD(net.parameters(), lr=0.1), plot=False)
    assert history.train_loss[1] < history.train_loss[0]
    assert 0.5 < history.test_acc[-1] < 0.99


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_through_torchvision_from_a_local_mirror(real_root, tmp_path, monkeypatch):
    """The real download path, served from 127.0.0.1 (no internet here)."""
    served = tmp_path / "mirror"
    served.mkdir()
    resources = []
    for name in data.RAW_FILES:
        gz = served / f"{name}.gz"
        with open(data.raw_folder(real_root) / name, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fashion = data._torchvision_datasets().FashionMNIST
        monkeypatch.setattr(fashion, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(fashion, "resources", resources)
        monkeypatch.setenv("FASHION_MNIST_STRICT", "1")
        root = tmp_path / "fresh"
        train_iter, test_iter = data.load_data_fashion_mnist(256, root=root)
    finally:
        server.shutdown()
    assert data.verify(root) == data.raw_folder(root)
    assert len(train_iter.X) == 60000 and len(test_iter.X) == 10000


def test_describe_says_which_data(real_root, tmp_path):
    assert "real Fashion-MNIST" in data.describe(real_root)
    assert "not yet at" in data.describe(tmp_path)


def test_describe_shows_no_folder_of_the_machine(real_root, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(real_root))
    assert data.describe() == ("Data: real Fashion-MNIST at $FASHION_MNIST_ROOT/FashionMNIST/raw "
                               "(all four files verified by MD5).")
    monkeypatch.delenv("FASHION_MNIST_ROOT")
    assert " at data/FashionMNIST/raw" in data.describe().splitlines()[0]  # the default, the workbook's data/
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(data.DEFAULT_ROOT))  # inside the workbook: relative
    assert data.shown_location() == "data/FashionMNIST/raw"
    assert data.shown_location("some/where") == "some/where/FashionMNIST/raw"  # an argument as given


def test_class_means_average_each_class():
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    assert torch.equal(data.class_means(X, y, num_classes=2), torch.tensor([[2.0, 3.0], [10.0, 0.0]]))
    with pytest.raises(ValueError, match=r"No examples of classes \[2\]"):
        data.class_means(X, y, num_classes=3)
    with pytest.raises(ValueError, match="one label from 0 to 1 per image"):
        data.class_means(X, torch.tensor([0, 1, 2]), num_classes=2)
