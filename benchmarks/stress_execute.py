"""Does notebook execution ever hang? Execute the course N times back to back under load.

    python -m benchmarks.stress_execute                  # 20 runs of notebooks/*.ipynb
    python -m benchmarks.stress_execute --runs 3 notebooks/01_softmax_regression.ipynb

Each run executes every notebook in a fresh kernel with `tools.run_notebooks` (the code behind
`make run`), with its per-cell and whole-run limits, while other processes keep CPU cores busy
(`--busy`, default 1), as on a shared machine. A cell that passes its limit counts as a hang
(the limits turn a hang into a failure instead of a wait without end). It also counts cell
replies that reached the runner more than 5 s after the kernel sent them: the lost wake-ups
that hang `jupyter nbconvert --execute` (see tools/run_notebooks.py). `--plain-client` runs
nbclient's own kernel client instead of the runner's wakeful one, to show that problem.
Prints each notebook's result, then how many runs hung or failed, the late replies and the
timings. Exits with status 1 when any run hung or failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from tools.run_notebooks import LATE_REPLY_S, Outcome, run_all

REPO = Path(__file__).resolve().parents[1]
HANG_MARKERS = ("did not finish within", "whole-run limit")
VERSIONS = ("ipykernel", "jupyter_client", "nbclient", "pyzmq", "tornado", "ipywidgets")


def is_hang(outcome: Outcome) -> bool:
    return outcome.problem is not None and any(marker in outcome.problem for marker in HANG_MARKERS)


def start_busy_processes(count: int) -> list[subprocess.Popen]:
    """Processes that each keep one core busy until stopped."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def summary(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.1f}, min {min(seconds):.1f}, max {max(seconds):.1f}"


def report(runs: list[list[Outcome]], run_seconds: list[float]) -> int:
    """Print the totals and per-notebook timings; return the number of runs that hung or failed."""
    hung = sum(any(is_hang(o) for o in run) for run in runs)
    failed = sum(any(o.problem and not is_hang(o) for o in run) for run in runs)
    late = sum(outcome.late_replies for run in runs for outcome in run)
    late_runs = sum(any(outcome.late_replies for outcome in run) for run in runs)
    print(f"\nruns: {len(runs)}   hung: {hung}   failed (not a hang): {failed}   "
          f"cell replies over {LATE_REPLY_S:.0f} s late: {late} (in {late_runs} runs)")
    print(f"whole run (s): {summary(run_seconds)}")
    for index, outcome in enumerate(runs[0]):
        seconds = [run[index].seconds for run in runs if run[index].problem is None]
        times = summary(seconds) if seconds else "never finished"
        print(f"  {outcome.path.name} (s): {times}")
    for number, run in enumerate(runs, 1):
        for outcome in run:
            if outcome.problem:
                print(f"  run {number}: {outcome.path.name}: {outcome.problem}")
    return hung + failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress_execute", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the course, notebooks/*.ipynb")
    parser.add_argument("--runs", type=int, default=20, help="how many times to execute them all (default 20)")
    parser.add_argument("--busy", type=int, default=1, help="processes keeping a core busy meanwhile (default 1)")
    parser.add_argument("--cell-timeout", type=float, default=300, help="seconds per cell (default 300)")
    parser.add_argument("--run-timeout", type=float, default=1200, help="seconds per run (default 1200)")
    parser.add_argument("--plain-client", action="store_true",
                        help="use nbclient's own kernel client, without the runner's fix for lost wake-ups")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if args.runs < 1 or args.busy < 0:
        parser.error("--runs must be at least 1 and --busy at least 0")

    client = "nbclient's own kernel client" if args.plain_client else "the runner's wakeful kernel client"
    print(f"{args.runs} runs of {len(notebooks)} notebook(s), back to back, next to {args.busy} busy process(es), "
          f"with {client}; limits {args.cell_timeout:.0f} s per cell, {args.run_timeout:.0f} s per run")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start; Python {platform.python_version()}; "
          + ", ".join(f"{name} {version(name)}" for name in VERSIONS))
    busy = start_busy_processes(args.busy)
    runs, run_seconds = [], []
    try:
        with tempfile.TemporaryDirectory() as output_dir:
            for number in range(1, args.runs + 1):
                print(f"-- run {number}/{args.runs}", flush=True)
                start = time.monotonic()
                runs.append(run_all(notebooks, Path(output_dir), None, args.cell_timeout, args.run_timeout,
                                    wakeful=not args.plain_client))
                run_seconds.append(time.monotonic() - start)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 1 if report(runs, run_seconds) else 0


if __name__ == "__main__":
    sys.exit(main())
