"""Check the set-up: versions, a torch/torchvision pair that works together, device, data.

Run it as ``python -m utils.doctor`` (or ``make doctor``). It exits with status 1 when
something needs fixing and says what to do.
"""

from __future__ import annotations

import importlib
import platform
import sys
from types import ModuleType

import torch

FIX_TORCHVISION = (
    "Fix: install the matching pair from the project's pins, e.g.\n"
    "    make clean && make env\n"
    "or, inside your environment,\n"
    "    pip install --force-reinstall 'torch===2.13.0' 'torchvision==0.28.0'\n"
    "('===' asks for the standard build; a local '+cpu' build of torch does not fit the "
    "torchvision wheels on PyPI)."
)


class TorchvisionMismatchError(ImportError):
    """torchvision is installed but was built for another build of torch."""


def diagnose_torchvision_error(error: BaseException) -> str:
    """Explain a failed ``import torchvision`` in words a student can act on."""
    text = str(error)
    if "torchvision::" in text or "undefined symbol" in text or "_C.so" in text:
        cause = (
            f"torchvision cannot load its compiled operators into torch {torch.__version__}: "
            f"the two were built for different torch builds (typically a CPU-only '+cpu' "
            f"torch next to a torchvision from PyPI)."
        )
    elif isinstance(error, ModuleNotFoundError):
        cause = "torchvision is not installed in this environment."
    else:
        cause = f"importing torchvision failed: {type(error).__name__}: {text}"
    return f"{cause}\n{FIX_TORCHVISION}"


def import_torchvision() -> ModuleType:
    """``import torchvision``, turning a build mismatch into a clear error with the fix."""
    try:
        torchvision = importlib.import_module("torchvision")
        importlib.import_module("torchvision.datasets")
    except (ImportError, RuntimeError, OSError) as error:
        raise TorchvisionMismatchError(diagnose_torchvision_error(error)) from None
    return torchvision


def version_lines() -> list[str]:
    """Python and key package versions."""
    lines = [f"python       {platform.python_version()} ({sys.executable})"]
    for name in ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "nbval", "jupyterlab"):
        try:
            module = importlib.import_module(name)
            version = getattr(module, "__version__", "?")
        except Exception as error:  # report every failure, keep going
            version = f"NOT USABLE ({type(error).__name__})"
        lines.append(f"{name:<12} {version}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the report; return 0 when all is well, 1 otherwise."""
    from . import data
    from .train import get_device

    quiet = "--quiet" in (sys.argv[1:] if argv is None else argv)
    problems = []
    try:
        import_torchvision()
        print(f"torch {torch.__version__} + torchvision: import together (OK)")
    except TorchvisionMismatchError as error:
        print(f"torch + torchvision: PROBLEM\n{error}")
        problems.append("torchvision")
    if quiet:  # only the check that must hold for the environment to be usable
        return 1 if problems else 0
    print("\n".join(version_lines()))
    print(f"device       {get_device()} (cuda, then mps, then cpu); torch threads {torch.get_num_threads()}")
    report = data.describe()
    print(report)
    if "PROBLEM" in report:
        problems.append("data")
    print("All good." if not problems else f"Needs fixing: {', '.join(problems)}.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
