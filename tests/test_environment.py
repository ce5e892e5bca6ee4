"""The set-up: pins agree, torch and torchvision work together, mismatches are explained."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils import doctor

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    """{package name (lower case): full requirement} from requirement lines."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[=<>!~ ]", line, maxsplit=1)[0].lower()
            pins[name] = line
    return pins


def test_requirements_and_environment_pin_the_same_versions():
    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == requirements
    assert "python=3.11" in environment["dependencies"]
    assert requirements["torch"] == "torch===2.13.0" and requirements["torchvision"] == "torchvision==0.28.0"
    for package in ("jupyterlab", "matplotlib", "nbval", "ipywidgets"):
        assert "==" in requirements[package], f"{package} is not pinned"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, requirement in _pins((ROOT / "requirements.txt").read_text().splitlines()).items():
        if "==" in requirement:
            pinned = requirement.split("=")[-1]
            assert version(name).split("+")[0] == pinned, f"{name}: installed {version(name)}, pinned {pinned}"


def test_torch_and_torchvision_import_together():
    torchvision = doctor.import_torchvision()
    import torch

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]  # compiled operator


def test_a_build_mismatch_is_diagnosed_with_the_fix(monkeypatch):
    real_import = doctor.importlib.import_module

    def broken(name, *args):
        if name.startswith("torchvision"):
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args)

    monkeypatch.setattr(doctor.importlib, "import_module", broken)
    with pytest.raises(doctor.TorchvisionMismatchError) as error:
        doctor.import_torchvision()
    message = str(error.value)
    assert "built for different torch builds" in message
    assert "torch===2.13.0" in message and "make clean && make env" in message


def test_a_missing_torchvision_is_diagnosed():
    message = doctor.diagnose_torchvision_error(ModuleNotFoundError("No module named 'torchvision'"))
    assert "not installed" in message and "torchvision==0.28.0" in message


def test_doctor_reports_versions_device_and_data(real_root):
    result = subprocess.run([sys.executable, "-m", "utils.doctor"], capture_output=True, text=True,
                            cwd=ROOT, env={**__import__("os").environ, "FASHION_MNIST_ROOT": str(real_root)})
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in ("import together (OK)", "torchvision  0.28.0", "device       cpu", "verified by MD5",
                     "All good."):
        assert expected in result.stdout
