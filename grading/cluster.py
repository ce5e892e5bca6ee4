"""Grading on a Dask cluster: the workers' check, the connection, and the task a worker runs.

Without a scheduler, a ``LocalCluster`` of ``jobs`` worker processes on this machine runs the
same tasks. A worker gets grading tasks only once it has shown that it can grade (the
``GRADER`` resource, set by ``CanGrade.setup``); one that cannot says why, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from grading import grade, report
from grading.result import Result

GRADER = "grader"  # the resource a checked worker offers: one per thread
WORKER_WAIT_SECONDS = 60  # for the first worker of a named cluster


class CannotGrade(RuntimeError):
    """A worker, or every worker, cannot grade; the message says why."""


def grading_problem(data_root: Path, use_sandbox: bool) -> str | None:
    """None when this machine can grade: torch imports, the real data is there, the sandbox works."""
    from utils import data

    try:
        import torch  # noqa: F401  (the runner imports it in every run)
    except ImportError as error:
        return f"torch does not import: {error}"
    try:
        data.verify(data_root)
    except data.DataError as error:
        return f"no real Fashion-MNIST at {data_root}: {error}"
    if use_sandbox:
        from grading.sandbox import sandbox_problem

        return sandbox_problem()
    return None


class CanGrade(WorkerPlugin):
    """Checks at a worker's start that it can grade; only then does it offer the ``GRADER`` resource."""

    name = "workbook-can-grade"

    def __init__(self, data_root: Path, use_sandbox: bool):
        self.data_root, self.use_sandbox = data_root, use_sandbox

    async def setup(self, worker) -> None:
        problem = await asyncio.to_thread(grading_problem, self.data_root, self.use_sandbox)
        if problem:
            raise CannotGrade(f"worker {worker.address} cannot grade: {problem}")
        await worker.set_resources(**{GRADER: worker.state.nthreads})


def graders(client: Client) -> list[str]:
    """The workers that passed the check."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return [address for address, worker in workers.items() if worker.get("resources", {}).get(GRADER)]


@contextlib.contextmanager
def connect(settings: grade.Settings, jobs: int, address: str | None = None, scheduler_file: str | None = None,
            echo=print) -> Iterator[Client]:
    """A client of the named cluster, else of ``jobs`` local worker processes, with the workers checked.

    CannotGrade when no worker can grade.
    """
    with contextlib.ExitStack() as stack:
        if address or scheduler_file:
            client = stack.enter_context(Client(address, scheduler_file=scheduler_file))
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                                       dashboard_address=None, memory_limit=0))
            client = stack.enter_context(Client(cluster))
        try:
            client.register_plugin(CanGrade(settings.data_root, settings.sandbox))
        except Exception as error:  # the first worker that failed its check
            echo(f"WORKER PROBLEM: {error}")
        if not graders(client):
            raise CannotGrade("no worker can grade (see the WORKER PROBLEM above and the workers' logs)")
        yield client


def grade_task(submission: grade.Submission, reference: grade.Reference,
               settings: grade.Settings) -> tuple[Result, str | None]:
    """The unit of work a worker runs: ``(result, feedback HTML or None)``; it writes nothing that stays."""
    result, executed, roles = grade.grade_submission(submission, reference, settings)
    if executed is None:
        return result, None
    with tempfile.TemporaryDirectory(prefix="workbook-feedback-") as scratch:
        html = report.write_feedback(Path(scratch), result.to_dict(), executed, roles).read_text(encoding="utf-8")
    return result, html
