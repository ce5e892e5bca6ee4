"""tools.run_notebooks and the pytest run limit: a stuck or failing cell is named, its kernel stopped, the run fails."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tools.run_notebooks import WakefulChannel, main

ROOT = Path(__file__).resolve().parents[1]
SPIN = "while True:\n    pass"
DEAF_TO_INTERRUPTS = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)"
# A guard so that a regression fails the test instead of hanging the suite; not a speed target.
HANG_GUARD_S = 300


def write_notebook(folder: Path, name: str, *sources: str) -> Path:
    notebook = new_notebook(cells=[new_markdown_cell("# A test notebook")] + [new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.run_notebooks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)


def is_running(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_good_notebook_is_executed_and_written_with_its_html(tmp_path):
    path = write_notebook(tmp_path, "good", "x = 6 * 7", "print(x)")
    result = run("--output-dir", str(tmp_path / "out"), "--html-dir", str(tmp_path / "html"), str(path))
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(tmp_path / "out" / "good.ipynb", as_version=4)
    assert [cell.execution_count for cell in executed.cells[1:]] == [1, 2]
    assert executed.cells[2].outputs[0].text == "42\n"
    assert "42" in (tmp_path / "html" / "good.html").read_text()


def test_a_spinning_cell_is_reported_by_notebook_and_cell_and_the_next_notebook_still_runs(tmp_path):
    stuck = write_notebook(tmp_path, "stuck", "x = 1", SPIN)
    good = write_notebook(tmp_path, "good", "x = 2")
    result = run("--output-dir", str(tmp_path / "out"), "--cell-timeout", "3", str(stuck), str(good))
    assert result.returncode == 1
    assert f"{stuck}: cell 2 (code cell 1): `while True:` did not finish within 3 s (per-cell limit)" in result.stderr
    assert "1 of 2 notebooks failed" in result.stderr
    assert not (tmp_path / "out" / "stuck.ipynb").exists(), "a failed notebook must not be written"
    assert (tmp_path / "out" / "good.ipynb").exists()


def test_a_cell_that_ignores_interrupts_is_stopped_by_the_whole_run_limit(tmp_path):
    deaf = write_notebook(tmp_path, "deaf", DEAF_TO_INTERRUPTS, SPIN)
    later = write_notebook(tmp_path, "later", "x = 1")
    result = run("--inplace", "--cell-timeout", "1000", "--run-timeout", "8", str(deaf), str(later))
    assert result.returncode == 1
    assert f"{deaf}: stopped by the whole-run limit (8 s left for it) in cell 2 (code cell 1): `while True:`" \
        in result.stderr
    assert f"{later}: not run: the whole-run limit was reached before it" in result.stderr
    assert nbformat.read(deaf, as_version=4).cells[1].execution_count is None, "--inplace must not save a failed run"


def test_a_cell_that_ignores_interrupts_is_killed_at_its_cell_timeout(tmp_path):
    pid_file = tmp_path / "kernel.pid"
    deaf = write_notebook(tmp_path, "deaf", f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))",
                          DEAF_TO_INTERRUPTS, SPIN)
    result = run("--inplace", "--cell-timeout", "3", str(deaf))
    assert result.returncode == 1
    assert f"{deaf}: cell 3 (code cell 2): `while True:` did not finish within 3 s (per-cell limit)" in result.stderr
    assert not is_running(int(pid_file.read_text())), "the stuck kernel was left running"


def test_an_error_in_a_cell_names_the_cell_and_the_exception(tmp_path, capsys):
    path = write_notebook(tmp_path, "error", "x = 1", "1 / 0")
    assert main(["--inplace", str(path)]) == 1
    assert f"{path}: cell 2 (code cell 1): `1 / 0` raised ZeroDivisionError: division by zero" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--inplace", "no/such.ipynb"], "no such notebook: no/such.ipynb"),
    (["notebooks/01_softmax_regression.ipynb"], "one of the arguments --inplace --output-dir is required"),
    (["--inplace", "--html-dir", "x", "notebooks/01_softmax_regression.ipynb"], "--html-dir goes with --output-dir"),
])
def test_bad_arguments_say_what_is_wrong(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_pytest_run_past_its_whole_run_limit_is_interrupted_and_names_the_running_test(tmp_path):
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_sleeps():\n    time.sleep(1000)\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", os.devnull,
                             "--rootdir", str(tmp_path), "-o", "run_timeout=3", str(tmp_path / "test_slow.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == pytest.ExitCode.INTERRUPTED
    assert "The whole-run limit of 3 s (run_timeout) was reached in test_slow.py::test_sleeps" in result.stdout


async def reply_after_a_raw_send(channel_class: type, wait_s: float) -> str | None:
    """The kernel replies while the client sends a message, as nbclient's Output widget does in a
    `widgets.interactive` cell; return the type of message the client's wait got, or None."""
    context = zmq.asyncio.Context()
    kernel = zmq.Context.shadow(context.underlying).socket(zmq.ROUTER)
    kernel.bind("inproc://shell")
    client = context.socket(zmq.DEALER)
    client.connect("inproc://shell")
    session = Session(key=b"secret")
    session.send(client, "kernel_info_request")
    identity = kernel.recv_multipart()[0]
    try:
        waiting = asyncio.ensure_future(channel_class(client, session).get_msg(timeout=None))
        await asyncio.sleep(0.1)  # the wait is registered with the event loop
        session.send(kernel, "execute_reply", ident=identity)
        session.send(client, "comm_msg")  # jupyter_client sends raw, through a shadow of the asyncio socket
        try:
            return (await asyncio.wait_for(waiting, wait_s))["msg_type"]
        except asyncio.TimeoutError:
            return None
    finally:
        kernel.close()
        client.close()
        context.term()


def test_nbclients_own_channel_misses_a_reply_that_arrives_during_a_raw_send():
    """The upstream cause (jupyter/nbclient#312): if this starts to fail, WakefulChannel may be retired."""
    assert asyncio.run(reply_after_a_raw_send(AsyncZMQSocketChannel, wait_s=3)) is None


def test_the_wakeful_channel_finds_that_reply_without_a_timeout():
    assert asyncio.run(reply_after_a_raw_send(WakefulChannel, wait_s=60)) == "execute_reply"


def test_the_stress_benchmark_counts_runs_and_hangs(tmp_path):
    """A smoke test of benchmarks/stress_execute.py with tiny settings (no timing is checked)."""
    good = write_notebook(tmp_path, "good", "x = 1")
    stuck = write_notebook(tmp_path, "stuck", SPIN)
    result = subprocess.run([sys.executable, "-m", "benchmarks.stress_execute", "--runs", "2", "--busy", "0",
                             "--cell-timeout", "2", str(good), str(stuck)],
                            cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 1
    assert "runs: 2   hung: 2   failed (not a hang): 0   cell replies over 5 s late: 0 (in 0 runs)" in result.stdout
    assert "run 2: stuck.ipynb: cell 1 (code cell 0): `while True:` did not finish within 2 s" in result.stdout
