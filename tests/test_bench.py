"""`make bench` runs end to end with tiny settings (a smoke test: no timing is checked)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from utils.data import missing_files, strict_mode

REPO = Path(__file__).resolve().parents[1]


def _bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.bench", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_bench_prints_the_table_with_all_four_pipelines():
    if missing_files() and not strict_mode():
        pytest.skip("the benchmark needs the real Fashion-MNIST (it refuses the stand-in)")
    run = _bench("--epochs", "1", "--subset", "2000", "--workers", "0", "--threads", "none",
                 "--spread-seeds", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert sum(line.startswith("| pipeline |") for line in lines) == 1
    for row in ("| (a) standard | cpu |", "| (b) workbook | cpu |", "| (c) no data path | cpu |",
                "| (d) NumPy, gradient by hand | cpu |"):
        assert sum(line.startswith(row) for line in lines) == 1, row
    assert any(line.startswith("cpu: (a)/(b) seconds per epoch = ") for line in lines)
    assert any(line.startswith("cpu: (a)/(c) = ") for line in lines)
    assert any(line.startswith("cpu: (b)/(d) = ") for line in lines)
    assert sum(line.startswith(("PASS  ", "FAIL  ")) for line in lines) == 4
    assert any(line.startswith("(b)'s final test accuracy from seeds 0-1: ") for line in lines)
    assert any(line.startswith("GPU rows skipped: ") for line in lines) or \
        any(line.startswith("| (b) workbook | cuda |") for line in lines)


def test_thread_study_runs_each_setting_idle_and_beside_a_busy_process(monkeypatch):
    psutil = pytest.importorskip("psutil")
    monkeypatch.syspath_prepend(str(REPO))  # benchmarks/ is not installed, it lives in the repository
    from benchmarks import bench

    calls = []

    def fake_child(job, env_extra=None):
        busy = [p for p in psutil.Process().children() if "while True" in " ".join(p.cmdline())]
        calls.append((env_extra["WORKBOOK_TORCH_THREADS"], len(busy)))
        return {"epoch_times": [0.1, 0.2, 0.3] if len(calls) % 2 else [0.4, 0.4]}

    monkeypatch.setattr(bench, "_run_child", fake_child)
    args = bench._parse(["--threads", "1,2"])
    lines = bench._thread_study(args, {"epochs": 2})
    assert calls == [("1", 0), ("1", 1), ("2", 0), ("2", 1)]  # one busy loop in the loaded runs
    assert lines[-2:] == ["| 1 | 0.200 (0.100) | 0.400 (0.400) | 2.0x |", "| 2 | 0.200 (0.100) | 0.400 (0.400) | 2.0x |"]
    assert not [p for p in psutil.Process().children() if "while True" in " ".join(p.cmdline())]


def test_bench_refuses_the_stand_in(tmp_path):
    env = {**os.environ, "FASHION_MNIST_ROOT": str(tmp_path), "FASHION_MNIST_STRICT": "0"}
    run = _bench("--epochs", "1", env=env)
    assert run.returncode == 2
    assert "refuses the offline stand-in" in run.stderr
    assert "| pipeline |" not in run.stdout


def test_both_pipelines_feed_the_model_identical_images():
    """ToTensor on each PIL image and the workbook's whole-tensor conversion agree bit for bit,
    so (a) and (b) in the benchmark differ only in speed and in their shuffle order."""
    if missing_files() and not strict_mode():
        pytest.skip("needs the real Fashion-MNIST")
    from torchvision import datasets, transforms

    from utils.data import data_root, load_fashion_mnist_tensors, to_float_images

    standard = datasets.FashionMNIST(str(data_root()), train=True, transform=transforms.ToTensor())
    images, labels = load_fashion_mnist_tensors(train=True)
    ours = to_float_images(images[:500])
    for i in range(500):
        X, y = standard[i]
        assert torch.equal(X, ours[i]) and y == labels[i]


def test_training_threads_default_and_override(monkeypatch):
    from utils import train as T

    monkeypatch.delenv(T.THREADS_VARIABLE, raising=False)
    assert T.training_threads() == 1
    monkeypatch.setenv(T.THREADS_VARIABLE, "2")
    assert T.training_threads() == 2
    monkeypatch.setenv(T.THREADS_VARIABLE, "0")
    assert T.training_threads() is None
    monkeypatch.setenv(T.THREADS_VARIABLE, "two")
    with pytest.raises(ValueError, match="WORKBOOK_TORCH_THREADS must be a whole number"):
        T.training_threads()


def test_train_epoch_uses_the_training_threads_and_restores_torchs(monkeypatch):
    from torch import nn

    from utils import train as T
    from utils.data import BatchIterator

    monkeypatch.setenv(T.THREADS_VARIABLE, "1")
    seen = []
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))

    def loss(y_hat, y):
        seen.append(torch.get_num_threads())
        return nn.functional.cross_entropy(y_hat, y)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data = BatchIterator(torch.rand(20, 1, 2, 2), torch.randint(0, 3, (20,)), 8, shuffle=True)
        T.train_epoch(net, data, loss, torch.optim.SGD(net.parameters(), lr=0.1))
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
