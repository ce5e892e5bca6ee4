"""Fashion-MNIST: find it, check it, keep it in memory, serve fast mini-batches.

The four raw IDX files live in torchvision's layout, ``<root>/FashionMNIST/raw/``.
The root is, in order: the ``root`` argument, the ``FASHION_MNIST_ROOT`` environment
variable, the workbook's own ``data/`` folder (git-ignored). Missing files are downloaded with torchvision; every file is checked
against its published MD5 sum before use. With no data and no network the loader falls
back to a generated offline stand-in (loudly announced) unless ``FASHION_MNIST_STRICT=1``.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Iterator, Sequence

import torch

from utils.messages import say

TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
NUM_CLASSES = len(TEXT_LABELS)

# Published MD5 sums of the uncompressed files, and their sizes in bytes.
RAW_FILES = {
    "train-images-idx3-ubyte": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016),
    "train-labels-idx1-ubyte": ("9018921c3c673c538a1fc5bad174d6f9", 60008),
    "t10k-images-idx3-ubyte": ("8181f5470baa50b63fa0f6fddb340f0a", 7840016),
    "t10k-labels-idx1-ubyte": ("15d484375f8d13e6eb1aabb0c3f46965", 10008),
}
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "data"
OFFICIAL_SOURCE = "https://github.com/zalandoresearch/fashion-mnist#get-the-data"

_STAND_IN_SIZES = {True: 60000, False: 10000}
_STAND_IN_USED = False  # set once a loader in this process has served the stand-in
STAND_IN_BANNER = """
################################################################################
#  OFFLINE STAND-IN DATA: these are NOT Fashion-MNIST images.                 #
#  The real data could not be found or downloaded, so the workbook generated  #
#  look-alike 28x28 images with the same ten class names. Every number and    #
#  picture below comes from this stand-in and differs from the real results.  #
#  To use the real data, see the message above; FASHION_MNIST_STRICT=1 turns  #
#  this fallback into an error.                                               #
################################################################################
"""


class DataError(RuntimeError):
    """The Fashion-MNIST files cannot be used."""


class DataUnavailableError(DataError):
    """The files are missing and could not be downloaded (the stand-in may replace them)."""


class CorruptFileError(DataError):
    """A file is there but is not the published one (never used, never replaced silently)."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds ``FashionMNIST/raw/``: argument, environment, the workbook's data/."""
    chosen = root if root is not None else os.environ.get("FASHION_MNIST_ROOT") or DEFAULT_ROOT
    return Path(chosen).expanduser()


def raw_folder(root: str | os.PathLike | None = None) -> Path:
    """The folder where the four raw files are (or should be)."""
    return data_root(root) / "FashionMNIST" / "raw"


def strict_mode() -> bool:
    """True when ``FASHION_MNIST_STRICT`` forbids the offline stand-in."""
    return os.environ.get("FASHION_MNIST_STRICT", "").strip().lower() in {"1", "true", "yes"}


def _torchvision_datasets():
    from .doctor import import_torchvision  # turns a torch/torchvision mismatch into advice

    return import_torchvision().datasets


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path) -> None:
    """Raise `DataError` unless ``path`` is exactly the published Fashion-MNIST file."""
    expected_md5, expected_size = RAW_FILES[path.name]
    size = path.stat().st_size
    problem = None
    if size != expected_size:
        problem = f"has {size:,} bytes instead of {expected_size:,} (truncated or wrong file)"
    elif _md5(path) != expected_md5:
        problem = f"has the right size but the wrong MD5 sum (corrupted); expected {expected_md5}"
    if problem:
        raise CorruptFileError(
            f"The Fashion-MNIST file {path} {problem}. It will not be used.\n"
            f"Delete it and run again to download it afresh, or copy a good copy of "
            f"{path.name} there (official source: {OFFICIAL_SOURCE})."
        )


def missing_files(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the raw files not present under ``root``."""
    folder = raw_folder(root)
    return [name for name in RAW_FILES if not (folder / name).is_file()]


def verify(root: str | os.PathLike | None = None) -> Path:
    """Check that all four raw files are present and intact; return their folder."""
    folder = raw_folder(root)
    missing = missing_files(root)
    if missing:
        raise DataUnavailableError(_missing_message(folder, missing, reason="they are not there"))
    for name in RAW_FILES:
        check_file(folder / name)
    return folder


def _missing_message(folder: Path, missing: Sequence[str], reason: str) -> str:
    names = "\n".join(f"  - {name}" for name in missing)
    return (
        f"Fashion-MNIST is not available: {reason}.\n"
        f"Put these files (uncompressed) in {folder.resolve()}:\n{names}\n"
        f"Get them from {OFFICIAL_SOURCE} (gunzip the .gz files), or point "
        f"FASHION_MNIST_ROOT at a folder that has FashionMNIST/raw/ with all four."
    )


def download(root: str | os.PathLike | None = None) -> None:
    """Download the missing raw files with torchvision; raise `DataError` when that fails."""
    folder = raw_folder(root)
    missing = missing_files(root)
    for name in RAW_FILES:
        if name not in missing:
            check_file(folder / name)  # never download around a corrupt file
    if not missing:
        return
    datasets = _torchvision_datasets()
    print(f"Downloading Fashion-MNIST into {folder.resolve()} ...")
    try:
        datasets.FashionMNIST(str(data_root(root)), train=True, download=True)
    except (RuntimeError, OSError) as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        raise DataUnavailableError(_missing_message(
            folder, missing_files(root) or missing,
            reason=f"the download failed (no network? last error: {first_line})"
        )) from error
    verify(root)


def ensure_data(root: str | os.PathLike | None = None) -> Path:
    """Return the folder of the verified raw files, downloading them if needed."""
    download(root)
    return verify(root)


def _read_split(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    datasets = _torchvision_datasets()
    prefix = "train" if train else "t10k"
    images = datasets.mnist.read_image_file(str(folder / f"{prefix}-images-idx3-ubyte"))
    labels = datasets.mnist.read_label_file(str(folder / f"{prefix}-labels-idx1-ubyte"))
    return images, labels


def _locate(root: str | os.PathLike | None) -> Path | None:
    """The verified raw folder, or None when the offline stand-in must replace it."""
    global _STAND_IN_USED
    try:
        return ensure_data(root)
    except DataUnavailableError as error:
        if strict_mode():
            raise
        print(error)
        print(STAND_IN_BANNER)
        _STAND_IN_USED = True
        return None


def _split(folder: Path | None, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if folder is None:
        return make_stand_in(_STAND_IN_SIZES[train], seed=0 if train else 1)
    return _read_split(folder, train)


def load_fashion_mnist_tensors(
    train: bool = True, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One whole split as ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    Uses the real data when it can be found or downloaded. When it can be neither, gives
    the offline stand-in with a banner, or raises `DataUnavailableError` in strict mode.
    A corrupt file always raises `CorruptFileError`.
    """
    return _split(_locate(root), train)


def using_stand_in() -> bool:
    """True once a loader in this process has served the offline stand-in."""
    return _STAND_IN_USED


# ---------------------------------------------------------------- offline stand-in


def _class_templates(generator: torch.Generator) -> torch.Tensor:
    """Ten smooth 28x28 silhouettes in [0, 1], one per class."""
    rows = torch.linspace(-1, 1, 28).view(28, 1)
    cols = torch.linspace(-1, 1, 28).view(1, 28)
    templates = []
    for _ in range(NUM_CLASSES):
        image = torch.zeros(28, 28)
        for _ in range(4):  # a few soft ellipses make one shape
            centre = torch.rand(2, generator=generator) * 1.0 - 0.5
            radius = torch.rand(2, generator=generator) * 0.5 + 0.2
            blob = ((rows - centre[0]) / radius[0]) ** 2 + ((cols - centre[1]) / radius[1]) ** 2
            image = torch.maximum(image, torch.exp(-blob ** 2))
        templates.append(image)
    return torch.stack(templates)


def make_stand_in(num_examples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate learnable look-alike data: uint8 images (N, 28, 28) and int64 labels (N,).

    Each image blends its class's silhouette with a random other class's (up to 60%) and
    adds noise, so a linear model learns it well but not perfectly.
    """
    generator = torch.Generator().manual_seed(seed)
    templates = _class_templates(torch.Generator().manual_seed(2024))
    labels = torch.randint(0, NUM_CLASSES, (num_examples,), generator=generator)
    others = torch.randint(0, NUM_CLASSES, (num_examples,), generator=generator)
    mix = 0.6 * torch.rand(num_examples, 1, 1, generator=generator)
    brightness = 0.6 + 0.4 * torch.rand(num_examples, 1, 1, generator=generator)
    images = brightness * ((1 - mix) * templates[labels] + mix * templates[others])
    images = images + 0.3 * torch.randn(images.shape, generator=generator)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels


# ---------------------------------------------------------------- batches

class BatchIterator:
    """Mini-batches ``(X, y)`` cut from tensors that are already in memory.

    ``X`` is float32 of shape (N, 1, H, W) in [0, 1], ``y`` int64. With ``shuffle`` the order
    is redrawn from torch's global generator at every pass, so ``torch.manual_seed`` makes
    it reproducible. ``len()`` is the number of batches (the last one may be smaller).
    Batches are made where the tensors are: on a GPU, no data crosses from the host.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool):
        _check_batch_size(batch_size)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]}; they must match.")
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return math.ceil(self.X.shape[0] / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.X.shape[0]
        if self.shuffle:
            # One permutation per pass, drawn on the GPU when the data is there (nothing is
            # copied from the host), else on the CPU generator. index_select gives the same
            # batch as X[index] but gathers it several times faster on the CPU.
            where = self.X.device if self.X.device.type == "cuda" else torch.device("cpu")
            order = torch.randperm(n, device=where).to(self.X.device)
            for start in range(0, n, self.batch_size):
                index = order[start:start + self.batch_size]
                yield self.X.index_select(0, index), self.y.index_select(0, index)
        else:
            for start in range(0, n, self.batch_size):
                yield self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")


def _check_resize(resize: object) -> tuple[int, int] | None:
    if resize is None:
        return None
    size = (resize, resize) if isinstance(resize, int) else tuple(resize) if isinstance(resize, (tuple, list)) else None
    if (size is None or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(
            f"resize must be a positive int or a (height, width) pair of positive ints, got {resize!r}."
        )
    return size


def _check_device(device: object) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"Unknown device {device!r}: use 'cpu', 'cuda', 'cuda:0', 'mps' or a torch.device."
        ) from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available here; use 'cpu'.")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was asked for, but MPS is not available here; use 'cpu'.")
    return chosen


def to_float_images(
    images: torch.Tensor, resize: tuple[int, int] | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """uint8 (N, 28, 28) to float32 (N, 1, H, W) in [0, 1], resized once, on ``device``."""
    X = images.to(device or "cpu").unsqueeze(1).float().div_(255)
    if resize is not None and tuple(X.shape[-2:]) != resize:
        X = torch.nn.functional.interpolate(X, size=resize, mode="bilinear", antialias=True,
                                            align_corners=False).clamp_(0, 1)
    return X


def load_data_fashion_mnist(
    batch_size: int,
    resize: int | tuple[int, int] | None = None,
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> tuple[BatchIterator, BatchIterator]:
    """Fashion-MNIST as ``(train_iter, test_iter)`` of in-memory mini-batches.

    Each batch is ``X`` float32 (B, 1, 28, 28) (or the resize) in [0, 1] and ``y`` int64 class
    indices. The training iterator reshuffles every epoch; the test one keeps its order.
    With ``device`` both splits are moved there once and batches are made there.
    """
    _check_batch_size(batch_size)
    size = _check_resize(resize)
    target = _check_device(device)
    folder = _locate(root)
    iterators = []
    for train in (True, False):
        images, labels = _split(folder, train)
        X = to_float_images(images, size, target)
        iterators.append(BatchIterator(X, labels.to(target), batch_size, shuffle=train))
    return iterators[0], iterators[1]


def get_fashion_mnist_labels(labels: torch.Tensor | Sequence[int] | int) -> list[str]:
    """Text labels for class indices, e.g. ``[0, 9] -> ['t-shirt', 'ankle boot']``."""
    indices = torch.as_tensor(labels).flatten().tolist()
    bad = [i for i in indices if not (isinstance(i, int) and 0 <= i < NUM_CLASSES)]
    if bad:
        raise ValueError(f"Fashion-MNIST labels are integers 0 to {NUM_CLASSES - 1}; got {bad[:5]}.")
    return [TEXT_LABELS[i] for i in indices]


def class_means(X: torch.Tensor, y: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """The average image of each class: shape (num_classes, *X.shape[1:])."""
    if len(y) != len(X) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"Need one label from 0 to {num_classes - 1} per image; got {len(y)} labels "
                         f"from {int(y.min())} to {int(y.max())} for {len(X)} images.")
    counts = torch.bincount(y, minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"No examples of classes {(counts == 0).nonzero().flatten().tolist()}; "
                         "every class needs at least one to have a mean.")
    sums = torch.zeros(num_classes, *X.shape[1:], dtype=X.dtype, device=X.device).index_add_(0, y, X)
    return sums / counts.view(-1, *[1] * (X.dim() - 1)).to(X.dtype)


def shown_location(root: str | os.PathLike | None = None) -> str:
    """Where the raw files are, written without the machine's own folders.

    Relative to the workbook when they are inside it, else as the setting that chose them:
    ``$FASHION_MNIST_ROOT/FashionMNIST/raw``, or the ``root`` argument as it was given.
    """
    folder = raw_folder(root)
    workbook = DEFAULT_ROOT.parent
    if folder.resolve().is_relative_to(workbook):
        return folder.resolve().relative_to(workbook).as_posix()
    if root is None:
        return "$FASHION_MNIST_ROOT/FashionMNIST/raw"
    return folder.as_posix()


def describe(root: str | os.PathLike | None = None) -> str:
    """One line saying which data this workbook will use and where it is (no machine paths)."""
    folder = shown_location(root)
    try:
        verify(root)
    except CorruptFileError as error:
        return say("Data: PROBLEM, a file under {folder} is corrupt.", folder=folder) + f"\n{error}"
    except DataUnavailableError as error:
        fallback = say("an error (strict mode)") if strict_mode() else say("a download, else the offline stand-in")
        return say("Data: Fashion-MNIST not yet at {folder}; loaders will try {fallback}.", folder=folder,
                   fallback=fallback) + f"\n{error}"
    return say("Data: real Fashion-MNIST at {folder} (all four files verified by MD5).", folder=folder)


if __name__ == "__main__":
    print(describe())
