"""Repository rules: committed notebooks ran in order without errors; CI runs the README's command."""

import configparser
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_notebook_ran_top_to_bottom_without_errors(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1)), \
        "run it top to bottom in a fresh kernel (make execute)"
    errors = [o for cell in code for o in cell["outputs"] if o["output_type"] == "error"]
    assert not errors, f"stored error output: {errors[0].get('ename')}"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def sanitized(text):
    """Apply the regexes of nbval_sanitize.cfg, as nbval does before comparing outputs."""
    config = configparser.ConfigParser()
    config.read(ROOT / "nbval_sanitize.cfg")
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_compared_outputs_hold_no_machine_specific_path(path):
    """A clone elsewhere (CI checks out under another folder) must reproduce every compared output."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or "NBVAL_IGNORE_OUTPUT" in "".join(cell["source"]):
            continue
        for output in cell["outputs"]:
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            paths = re.findall(r"(?:/[\w.-]+){2,}", sanitized(text))
            assert not paths, f"cell output holds the path {paths[0]}: sanitize it or mark the cell NBVAL_IGNORE_OUTPUT"


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_output_shows_an_absolute_path(path):
    """Not even ignored outputs: the material shows nothing of the machine it was executed on."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            paths = re.findall(r"(?<![\w.$~])/(?:[\w.-]+/)+[\w.-]*", text)
            assert not paths, f"an output shows the absolute path {paths[0]}: print it relative to the workbook"


def test_the_course_has_its_seven_notebooks():
    names = [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert names == ["01_softmax_regression.ipynb", "02_numerical_stability.ipynb", "03_fashion_mnist.ipynb",
                     "04_softmax_from_scratch.ipynb", "04b_gradient_by_hand.ipynb", "05_softmax_concise.ipynb",
                     "06_beyond_the_chapter.ipynb"]


def test_ci_runs_the_test_command_the_readme_gives():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_data_files_are_tracked():
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [name for name in tracked if "ubyte" in name or name.endswith((".npz", ".npy", ".pt", ".pth"))]


@pytest.mark.parametrize("target", ["lab", "lab-zh"])
def test_make_lab_opens_a_notebook_inside_the_folder_it_serves(target):
    """JupyterLab refuses a file to open that is not under its root_dir (named from where make runs)."""
    import shlex
    import subprocess

    dry_run = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = shlex.split(dry_run[dry_run.index("jupyter lab"):].replace("\\\n", " ").splitlines()[0])
    root = Path(re.search(r"--ServerApp.root_dir=(\S+)", " ".join(command))[1]).resolve()
    notebook = (ROOT / command[-1]).resolve()
    assert notebook.suffix == ".ipynb" and notebook.is_file() and notebook.is_relative_to(root), (root, notebook)
