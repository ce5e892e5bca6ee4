"""One notebook run in a throwaway folder, in the sandbox, and the values its probes recorded.

Per-cell and whole-run time limits end the run by killing the kernel (with the sandbox's
PID namespace, every process the student started goes with it). The student's output is
capped and never reaches the grader's terminal: the kernel's own stdout and stderr go to a
file in the throwaway folder.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output

from grading import sandbox
from grading.sandbox import Limits

RESULTS_NAME = "probe-results.json"
MAX_RESULTS_BYTES = 64 * 1024**2
MAX_OUTPUT_CHARS = 200_000  # of the student's output kept per notebook, for the feedback file


class CappedClient(NotebookClient):
    """An nbclient that keeps at most MAX_OUTPUT_CHARS of output and notes where it cut."""

    kept = 0

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self.kept + size > MAX_OUTPUT_CHARS:
            if self.kept <= MAX_OUTPUT_CHARS:
                outs.append(new_output("stream", name="stderr", text="[grader: further output cut]\n"))
                self.kept = MAX_OUTPUT_CHARS + 1
            return None
        self.kept += size
        return super().output(outs, msg, display_id, cell_index)


@dataclass
class Run:
    """What came out of one run."""

    nb: object
    recorded: dict | None  # the probes' values, None if nothing usable was saved
    stopped: str | None  # why the run ended early, in words
    seconds: float


def _read_results(path: Path) -> dict | None:
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_RESULTS_BYTES:
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _cell_label(nb, index: int | None) -> str:
    if index is None:
        return "a cell"
    first = nb.cells[index].source.strip().split("\n", 1)[0][:60]
    return f"cell {index + 1} ({first!r})" if first else f"cell {index + 1}"


def _kill(km) -> None:
    """Kill the kernel's process (the sandbox's first process) outright."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        process.kill()


async def _execute(client: CappedClient, limits: Limits, log_file) -> str | None:
    km = client.km
    try:
        await asyncio.wait_for(client.async_execute(stdout=log_file, stderr=subprocess.STDOUT),
                               timeout=limits.notebook_seconds)
    except CellTimeoutError:
        return f"{_cell_label(client.nb, _running_index(client))} ran over {limits.cell_seconds} s and was stopped"
    except asyncio.TimeoutError:
        return f"the notebook ran over {limits.notebook_seconds} s in all and was stopped " \
               f"at {_cell_label(client.nb, _running_index(client))}"
    except DeadKernelError:
        return (f"the kernel died at {_cell_label(client.nb, _running_index(client))} "
                f"(memory limit {limits.memory_bytes // 1024**3} GiB, exit, or crash)")
    except RuntimeError as error:  # the kernel could not start or answer
        return f"the kernel stopped answering ({str(error).splitlines()[0][:120]})"
    finally:
        _kill(km)
        atexit.unregister(client._cleanup_kernel)
        if client.kc is not None:
            client.kc.stop_channels()
        try:
            await km.shutdown_kernel(now=True)
        except Exception:  # already gone
            pass
    return None


def _running_index(client: CappedClient) -> int | None:
    """The cell that was running: the first code cell without a reply yet."""
    for index, cell in enumerate(client.nb.cells):
        if cell.cell_type == "code" and cell.get("execution_count") is None:
            return index
    return None


def run(nb, limits: Limits, use_sandbox: bool, data_root: Path | None) -> Run:
    """Execute ``nb`` in a fresh kernel in a throwaway folder; collect the probes' values.

    The notebook's last cell saves them to RESULTS_NAME in its working folder.
    """
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="workbook-grade-"))
    try:
        workdir, ipc_dir = scratch / "submission", scratch / "ipc"
        workdir.mkdir()
        ipc_dir.mkdir()
        if use_sandbox:
            sandbox.give_to_sandbox(workdir)
            sandbox.give_to_sandbox(ipc_dir)
        km = sandbox.kernel_manager(workdir, ipc_dir, data_root, limits if use_sandbox else None,
                                    scratch / "kernels")
        client = CappedClient(nb, km=km, timeout=limits.cell_seconds, allow_errors=True,
                              interrupt_on_timeout=False, record_timing=False, startup_timeout=120,
                              resources={"metadata": {"path": str(workdir)}})
        with open(scratch / "kernel.log", "wb") as log_file:
            stopped = asyncio.run(_execute(client, limits, log_file))
        recorded = _read_results(workdir / RESULTS_NAME)
        return Run(nb=nb, recorded=recorded, stopped=stopped, seconds=time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
