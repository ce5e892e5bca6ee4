"""Grading on Dask: a real scheduler and workers, a worker killed mid-batch, an interrupted
batch run again. The made-up assignment of test_grading.py, without the sandbox (the
sandbox itself is tested there), with short limits: seconds per notebook."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from grading import batch, cluster, grade, report
from grading.generate import REPO_ROOT
from grading.sandbox import Limits
from test_grading import ANSWER, NAME, reference_notebook, submission


WRONG = "return 2 * x + 1e-3"
CLASS = {"ann": ANSWER, "ben": None, "cat": WRONG, "dan": ANSWER, "eve": None, "fay": WRONG}


@pytest.fixture
def settings(tmp_path, real_root) -> grade.Settings:
    (tmp_path / "solutions").mkdir()
    nbformat.write(reference_notebook(), tmp_path / "solutions" / f"{NAME}.ipynb")
    return grade.Settings(data_root=real_root, solutions_dir=tmp_path / "solutions", cache_dir=tmp_path / "cache",
                          limits=Limits(cell_seconds=20, notebook_seconds=60), sandbox=False)


def hand_in(folder: Path, answers: dict[str, str | None]) -> Path:
    for student, answer in answers.items():
        submission(folder / student / f"{NAME}.ipynb", answer)
    return folder


def gradebook(out: Path) -> dict[str, str]:
    """``{file: total}`` from the gradebook; fails on a file that appears twice."""
    with open(out / "gradebook.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len({row["file"] for row in rows}) == len(rows), rows
    return {row["file"]: row["total"] for row in rows}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(logs: Path, workers: int) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and ``workers`` single-thread workers, each a process of the venv's ``dask`` CLI."""
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{_free_port()}"
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                  "--name", f"worker-{index}"] for index in range(workers)]
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for index, command in enumerate(commands):
            log = open(logs / f"{index}.log", "w")
            processes.append(subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT))
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait()


def test_a_worker_killed_mid_batch_loses_nothing(settings, tmp_path):
    folder = hand_in(tmp_path / "class", CLASS)
    local = batch.grade_all([folder], settings, tmp_path / "local", jobs=2, echo=lambda line: None)
    report.write_all(tmp_path / "local", local)
    with dask_cluster(tmp_path / "logs", workers=2) as (address, workers):
        killed = []

        def kill_after_first_result(line: str) -> None:
            if NAME in line and not killed:
                workers[0].send_signal(signal.SIGKILL)
                killed.append(time.monotonic())

        started = time.monotonic()
        results = batch.grade_all([folder], settings, tmp_path / "out", echo=kill_after_first_result,
                                  scheduler=address)
        print(f"graded {len(results)} on two dask workers, one killed, in {time.monotonic() - started:.1f} s")
    report.write_all(tmp_path / "out", results)
    assert killed and workers[0].poll() is not None
    assert not [r for r in results if r["error"]], results
    assert gradebook(tmp_path / "out") == gradebook(tmp_path / "local")
    assert sorted(gradebook(tmp_path / "out")) == sorted(str(folder / s / f"{NAME}.ipynb") for s in CLASS)


def test_workers_that_cannot_grade_refuse_loudly(settings, tmp_path):
    folder = hand_in(tmp_path / "class", {"ann": ANSWER})
    nowhere = grade.Settings(**{**settings.__dict__, "data_root": tmp_path / "no-data"})
    lines = []
    with pytest.raises(cluster.CannotGrade, match="no worker can grade"):
        batch.grade_all([folder], nowhere, tmp_path / "out", echo=lines.append)
    assert any("WORKER PROBLEM" in line and "Fashion-MNIST" in line for line in lines), lines


def _grade_command(folder: Path, settings: grade.Settings, out: Path) -> list[str]:
    return [sys.executable, "-m", "grading", "grade", str(folder), "--solutions", str(settings.solutions_dir),
            "--data", str(settings.data_root), "--out", str(out), "--no-sandbox", "--jobs", "1",
            "--cell-timeout", "20", "--notebook-timeout", "60"]


def _wait_for_results(out: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not list(out.glob("results/*/*.json")):
        assert time.monotonic() < deadline, "no result was written"
        time.sleep(0.2)


def test_an_interrupted_batch_grades_only_what_is_missing_when_run_again(settings, tmp_path):
    students = {"ann": ANSWER, "ben": None, "cat": WRONG, "dan": ANSWER}
    folder, out = hand_in(tmp_path / "class", students), tmp_path / "out"
    command = _grade_command(folder, settings, out)
    first = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_results(out, timeout=120)
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=60)[0]
    assert first.returncode == 130 and "interrupted" in output, output
    written = sorted(out.glob("results/*/*.json"))
    assert 0 < len(written) < len(students), output
    written[0].write_text(written[0].read_text()[:40])  # as if cut off half-way: it must not count

    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("(already graded)") == len(written) - 1, again.stdout
    totals = gradebook(out)
    assert [totals[str(folder / s / f"{NAME}.ipynb")] for s in students] == ["2", "0", "0", "2"], totals

    submission(folder / "ann" / f"{NAME}.ipynb", WRONG)  # handed in again: other bytes
    third = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert third.stdout.count("(already graded)") == len(students) - 1, third.stdout
    assert gradebook(out)[str(folder / "ann" / f"{NAME}.ipynb")] == "0"
