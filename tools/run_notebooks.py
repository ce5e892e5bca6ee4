"""Execute notebooks headless, each in a fresh kernel, so that nothing can hang.

    python -m tools.run_notebooks --output-dir build/notebooks --html-dir build/html notebooks/*.ipynb
    python -m tools.run_notebooks --inplace notebooks/*.ipynb solutions/*.ipynb

Every cell has a time limit (--cell-timeout) and the whole command has one (--run-timeout).
A cell that errs or passes a limit is reported by notebook, cell index and first line; its
kernel is killed, the next notebook still runs, and the command exits with status 1.
A notebook is written only when it ran to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

KERNEL_NAME = "python3"


@dataclass
class Outcome:
    """What happened to one notebook: `problem` is None when it ran to the end."""

    path: Path
    seconds: float
    problem: str | None = None


def describe_cell(notebook: nbformat.NotebookNode, index: int) -> str:
    """'cell 23 (code cell 11): `first line`', the indices counted from 0 as nbval does."""
    cells = notebook.cells
    code_index = sum(cell.cell_type == "code" for cell in cells[:index])
    first_line = cells[index].source.strip().splitlines()[0] if cells[index].source.strip() else ""
    return f"cell {index} (code cell {code_index}): `{first_line}`"


async def execute(notebook: nbformat.NotebookNode, path: Path, cell_timeout: float, run_timeout: float) -> str | None:
    """Run every cell of `notebook` in a fresh kernel; return None, or what went wrong."""
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name=KERNEL_NAME,
        shutdown_kernel="immediate",  # after a failure the kernel may be stuck: kill it
        resources={"metadata": {"path": str(path.parent)}},
    )
    running: list[int] = []
    client.on_cell_execute = lambda cell, cell_index: running.append(cell_index)
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


def run_one(path: Path, output: Path | None, html_dir: Path | None, cell_timeout: float, run_timeout: float) -> Outcome:
    """Execute one notebook; on success write it to `output` (and its HTML to `html_dir`)."""
    start = time.monotonic()
    notebook = nbformat.read(path, as_version=4)
    if run_timeout <= 0:
        return Outcome(path, 0.0, "not run: the whole-run limit was reached before it")
    problem = asyncio.run(execute(notebook, path, cell_timeout, run_timeout))
    if problem is None and output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output)
        if html_dir is not None:
            html_dir.mkdir(parents=True, exist_ok=True)
            body, _ = HTMLExporter().from_notebook_node(notebook)
            (html_dir / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
    return Outcome(path, time.monotonic() - start, problem)


def run_all(paths: list[Path], output_dir: Path | None, html_dir: Path | None,
            cell_timeout: float, run_timeout: float) -> list[Outcome]:
    """Execute the notebooks in order, sharing one whole-run deadline; print one line each."""
    deadline = time.monotonic() + run_timeout
    outcomes = []
    for path in paths:
        output = path if output_dir is None else output_dir / path.name
        outcome = run_one(path, output, html_dir, cell_timeout, deadline - time.monotonic())
        status = "ok" if outcome.problem is None else f"FAILED: {outcome.problem}"
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
