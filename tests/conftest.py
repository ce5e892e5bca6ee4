"""Shared fixtures: the real data (required, never skipped) and a headless matplotlib."""

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from utils import data  # noqa: E402  (after choosing the backend)


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The root of the verified real Fashion-MNIST; fails loudly when it is not there."""
    root = Path(os.environ.get("FASHION_MNIST_ROOT") or data.DEFAULT_ROOT)
    try:
        data.verify(root)
    except data.DataError as error:
        pytest.fail(f"These tests need the real Fashion-MNIST (set FASHION_MNIST_ROOT).\n{error}")
    return root


@pytest.fixture(scope="session")
def real_iters(real_root):
    """(train_iter, test_iter) on the real data, batch 256, loaded once."""
    return data.load_data_fashion_mnist(256, root=real_root)


@pytest.fixture
def copied_root(real_root, tmp_path) -> Path:
    """A private, writable copy of the real raw files, to damage in a test."""
    raw = data.raw_folder(tmp_path)
    shutil.copytree(data.raw_folder(real_root), raw)
    for path in raw.iterdir():
        path.chmod(0o644)
    return tmp_path


@pytest.fixture
def offline(monkeypatch):
    """No network: torchvision's download mirror is a closed local port."""
    tv_datasets = data._torchvision_datasets()
    monkeypatch.setattr(tv_datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setattr(data, "_STAND_IN_USED", False)


@pytest.fixture(scope="session")
def sandbox() -> None:
    """The grader's sandbox works here. Without it the grading tests are skipped, loudly, except
    where WORKBOOK_REQUIRE_SANDBOX=1 (CI) makes that a failure: macOS or a machine without
    bubblewrap can still run `make test`, and CI never skips the threat model."""
    from grading.sandbox import sandbox_problem

    problem = sandbox_problem()
    if problem and os.environ.get("WORKBOOK_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"grading needs the sandbox: {problem}")
    if problem:
        pytest.skip(f"no sandbox, grading not tested: {problem}")


@pytest.fixture(scope="session")
def grading_settings(real_root, sandbox):
    """The grader's settings on the real data, in the sandbox."""
    from grading.grade import Settings

    return Settings(data_root=real_root)
