"""Execute notebooks headless, each in a fresh kernel, so that nothing can hang.

    python -m tools.run_notebooks --output-dir build/notebooks --html-dir build/html notebooks/*.ipynb
    python -m tools.run_notebooks --inplace notebooks/*.ipynb solutions/*.ipynb

Every cell has a time limit (--cell-timeout) and the whole command has one (--run-timeout).
A cell that errs or passes a limit is reported by notebook, cell index and first line; its
kernel is killed, the next notebook still runs, and the command exits with status 1.
A notebook is written only when it ran to the end.

Why not `jupyter nbconvert --execute`: besides having no time limit by default, it can wait
for ever on a cell whose reply has already come. nbclient's stand-in for Output widgets
(used by `widgets.interactive`) sends a message on the shell socket while a cell runs, and
jupyter_client's `Session.send` writes it through a plain shadow of the asyncio socket. That
write can consume the socket's edge-triggered "readable" signal, so a reply arriving in
the same moment wakes nobody: the wait lasts until its timeout, without end by default
(jupyter/nbclient#312 and jupyter_client#1059, open for nbclient 0.11 and jupyter_client 8.10).
Here every wait for a message looks again at least once a second (`WakefulChannel`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from traitlets import Type
from traitlets.config import Config

KERNEL_NAME = "python3"
POLL_SLICE_S = 1.0  # the longest a missed wake-up can delay a message
LATE_REPLY_S = 5.0  # a reply that reaches us later than this after the kernel sent it is counted


class WakefulChannel(AsyncZMQSocketChannel):
    """A channel whose wait for a message looks again every POLL_SLICE_S seconds.

    Each look ends with a direct poll of the socket, so a message whose wake-up signal was lost
    is found at the next look instead of at the end of the whole wait.
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(POLL_SLICE_S, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class WakefulKernelClient(AsyncKernelClient):
    """nbclient's kernel client, with wakeful shell and IOPub channels."""

    shell_channel_class = Type(WakefulChannel)
    iopub_channel_class = Type(WakefulChannel)


@dataclass
class Outcome:
    """What happened to one notebook: `problem` is None when it ran to the end."""

    path: Path
    seconds: float
    problem: str | None = None
    late_replies: int = 0  # replies that reached us more than LATE_REPLY_S after the kernel sent them


def describe_cell(notebook: nbformat.NotebookNode, index: int) -> str:
    """'cell 23 (code cell 11): `first line`', the indices counted from 0 as nbval does."""
    cells = notebook.cells
    code_index = sum(cell.cell_type == "code" for cell in cells[:index])
    first_line = cells[index].source.strip().splitlines()[0] if cells[index].source.strip() else ""
    return f"cell {index} (code cell {code_index}): `{first_line}`"


def reply_delay(cell: nbformat.NotebookNode) -> float:
    """Seconds from the kernel sending this cell's execute_reply until now (nbclient records the time)."""
    sent = datetime.strptime(cell.metadata.execution["shell.execute_reply"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return (datetime.now(timezone.utc) - sent.replace(tzinfo=timezone.utc)).total_seconds()


async def execute(notebook: nbformat.NotebookNode, path: Path, cell_timeout: float, run_timeout: float,
                  late_replies: list[int], wakeful: bool = True) -> str | None:
    """Run every cell of `notebook` in a fresh kernel; return None, or what went wrong.

    Appends to `late_replies` the index of each cell whose reply reached us late.
    `wakeful=False` uses nbclient's own kernel client (to measure the problem it has).
    """
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name=KERNEL_NAME,
        shutdown_kernel="immediate",  # after a failure the kernel may be stuck: kill it
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
        config=Config({"AsyncKernelManager": {"client_factory": WakefulKernelClient}}) if wakeful else None,
    )
    running: list[int] = []
    client.on_cell_execute = lambda cell, cell_index: running.append(cell_index)
    client.on_cell_executed = lambda cell, cell_index, execute_reply: (
        late_replies.append(cell_index) if reply_delay(cell) > LATE_REPLY_S else None)
    task = asyncio.ensure_future(client.async_execute())
    done, _ = await asyncio.wait({task}, timeout=run_timeout)
    if not done:
        task.cancel()  # nbclient's own clean-up (in a `finally`) shuts the kernel down
        await asyncio.gather(task, return_exceptions=True)
        where = f" in {describe_cell(notebook, running[-1])}" if running else " while starting its kernel"
        return f"stopped by the whole-run limit ({run_timeout:.0f} s left for it){where}"
    try:
        task.result()
    except CellTimeoutError:
        return f"{describe_cell(notebook, running[-1])} did not finish within {cell_timeout:.0f} s (per-cell limit)"
    except CellExecutionError as error:
        return f"{describe_cell(notebook, running[-1])} raised {error.ename}: {error.evalue}"
    except DeadKernelError:
        return f"the kernel died in {describe_cell(notebook, running[-1]) if running else 'its start-up'}"
    except RuntimeError as error:  # e.g. the kernel did not start within nbclient's start-up limit
        return f"could not run: {error}"
    return None


def run_one(path: Path, output: Path | None, html_dir: Path | None, cell_timeout: float, run_timeout: float,
            wakeful: bool = True) -> Outcome:
    """Execute one notebook; on success write it to `output` (and its HTML to `html_dir`)."""
    start = time.monotonic()
    notebook = nbformat.read(path, as_version=4)
    if run_timeout <= 0:
        return Outcome(path, 0.0, "not run: the whole-run limit was reached before it")
    late_replies: list[int] = []
    problem = asyncio.run(execute(notebook, path, cell_timeout, run_timeout, late_replies, wakeful))
    if problem is None and output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output)
        if html_dir is not None:
            html_dir.mkdir(parents=True, exist_ok=True)
            body, _ = HTMLExporter().from_notebook_node(notebook)
            (html_dir / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
    return Outcome(path, time.monotonic() - start, problem, len(late_replies))


def run_all(paths: list[Path], output_dir: Path | None, html_dir: Path | None,
            cell_timeout: float, run_timeout: float, wakeful: bool = True) -> list[Outcome]:
    """Execute the notebooks in order, sharing one whole-run deadline; print one line each."""
    deadline = time.monotonic() + run_timeout
    outcomes = []
    for path in paths:
        output = path if output_dir is None else output_dir / path.name
        outcome = run_one(path, output, html_dir, cell_timeout, deadline - time.monotonic(), wakeful)
        status = "ok" if outcome.problem is None else f"FAILED: {outcome.problem}"
        if outcome.late_replies:
            status += f" ({outcome.late_replies} cell replies reached us over {LATE_REPLY_S:.0f} s late)"
        print(f"{path}  {outcome.seconds:6.1f} s  {status}", flush=True)
        outcomes.append(outcome)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.run_notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--inplace", action="store_true", help="overwrite each notebook with its executed copy")
    where.add_argument("--output-dir", type=Path, help="write the executed notebooks here")
    parser.add_argument("--html-dir", type=Path, help="also write HTML here (with --output-dir)")
    parser.add_argument("--cell-timeout", type=float, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--run-timeout", type=float, default=1800,
                        help="seconds for all the notebooks together (default 1800)")
    args = parser.parse_args(argv)
    if args.html_dir and args.inplace:
        parser.error("--html-dir goes with --output-dir, not --inplace")
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    outcomes = run_all(args.notebooks, args.output_dir, args.html_dir, args.cell_timeout, args.run_timeout)
    failed = [outcome for outcome in outcomes if outcome.problem]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} notebooks failed:", file=sys.stderr)
        for outcome in failed:
            print(f"  {outcome.path}: {outcome.problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
