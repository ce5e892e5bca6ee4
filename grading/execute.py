"""One submission run in the sandbox (``grading/runner.py``), driven and timed from outside.

The grader sends the runner the submission's code cells, reads what each cell showed, and
only then sends the hidden probes; whatever the process writes after that is ignored
except the probes' results. Per-cell and whole-run time limits kill the sandbox (its PID
namespace takes every process the student started with it); a runner that does not start
is tried again, and then reported as the grader's failure, never as the student's.
Every message is read with a size cap; nothing the student prints reaches the terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grading import sandbox
from grading.messages import say
from grading.sandbox import Limits

MAX_MESSAGE_BYTES = 64 * 1024**2  # one line from the runner
MAX_TOTAL_BYTES = 128 * 1024**2  # everything from one run
START_SECONDS = 120  # for the runner to import torch and say it is ready
START_ATTEMPTS = 3


class StartError(RuntimeError):
    """The runner did not start, several times: the grader's problem, not the student's."""


@dataclass
class Run:
    """What came out of one run."""

    outputs: dict[int, dict] = field(default_factory=dict)  # cell index -> what the runner sent
    recorded: dict | None = None  # the probes' values, None when they did not run
    errors: dict[str, str] = field(default_factory=dict)  # question -> the error its probe met
    stopped: str | None = None  # why the run ended early, in words


class Channel:
    """The runner's messages, one JSON object per line, read by a thread with caps."""

    def __init__(self, stream):
        self.messages: queue.Queue = queue.Queue()
        self.total = 0
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        while True:
            line = stream.readline(MAX_MESSAGE_BYTES + 1)
            self.total += len(line)
            if not line or len(line) > MAX_MESSAGE_BYTES or self.total > MAX_TOTAL_BYTES:
                self.messages.put(None if not line else {"too_large": True})
                return
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                message = {"malformed": True}
            self.messages.put(message if isinstance(message, dict) else {"malformed": True})

    def drain(self) -> None:
        """Forget the messages read so far."""
        while True:
            try:
                if self.messages.get_nowait() is None:
                    self.messages.put(None)
                    return
            except queue.Empty:
                return

    def next(self, deadline: float) -> dict | None:
        """The next message; ``{"timeout": True}`` after ``deadline``; None at the end."""
        try:
            return self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return {"timeout": True}


def _command(use_sandbox: bool, data_root: Path | None, limits: Limits, user: int | None) -> list[str]:
    python = [sys.executable, "-I"]
    if use_sandbox:
        return sandbox.sandboxed(python + [sandbox.INSIDE_RUNNER], data_root, limits, user)
    return python + [str(sandbox.RUNNER)]


def _environment(use_sandbox: bool, data_root: Path | None) -> dict | None:
    if use_sandbox:
        return None  # bubblewrap clears it and sets its own
    return {**os.environ, "FASHION_MNIST_STRICT": "1", "MPLBACKEND": "Agg",
            **({"FASHION_MNIST_ROOT": str(data_root)} if data_root else {})}


def _start(command: list[str], environment: dict | None, workdir: str) -> tuple[subprocess.Popen, Channel]:
    """Start the runner and wait until it is ready; StartError after several tries."""
    for _ in range(START_ATTEMPTS):
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=environment, cwd=workdir, start_new_session=True)
        channel = Channel(process.stdout)
        if (channel.next(time.monotonic() + START_SECONDS) or {}).get("ready") is True:
            return process, channel
        _kill(process)
    raise StartError(f"the sandbox did not start ({START_ATTEMPTS} tries)")


def _kill(process: subprocess.Popen) -> None:
    """Kill the runner's process group (in the sandbox: bubblewrap, and with it every process inside)."""
    try:
        os.killpg(process.pid, 9)
    except ProcessLookupError:
        pass
    process.wait()


def _send(process: subprocess.Popen, message: dict) -> bool:
    try:
        process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        process.stdin.flush()
        return True
    except OSError:  # the runner is gone
        return False


def _cell_label(cells: list[tuple[int, str]], index: int | None) -> str:
    sources = dict(cells)
    if index not in sources:
        return say("a cell")
    first = sources[index].strip().split("\n", 1)[0][:60]
    return say("cell {number} ({first!r})", number=index + 1, first=first) if first else say("cell {number}", number=index + 1)


def _run_cells(process, channel: Channel, cells, limits: Limits, run: Run, deadline: float) -> bool:
    """Stage 1: every cell, each within its own limit. True when they all ran, in order."""
    if not _send(process, {"cells": cells}):
        run.stopped = say("the sandbox ended before the first cell")
        return False
    expected = [index for index, _ in cells]
    running, cell_deadline = None, deadline
    while True:
        message = channel.next(min(deadline, cell_deadline))
        if message is None:
            run.stopped = say("the notebook ended the run at {cell} (exit, crash or memory)", cell=_cell_label(cells, running))
            return False
        if message.get("timeout"):
            cell = _cell_label(cells, running)
            run.stopped = (say("{cell} ran over {seconds} s and was stopped", cell=cell, seconds=limits.cell_seconds)
                           if time.monotonic() < deadline else
                           say("the notebook ran over {seconds} s in all and was stopped at {cell}",
                               seconds=limits.notebook_seconds, cell=cell))
            return False
        if message.get("too_large") or message.get("malformed"):
            run.stopped = say("the notebook wrote to the grader's channel and the run was stopped")
            return False
        if "start" in message and message["start"] in expected[len(run.outputs):len(run.outputs) + 1]:
            running, cell_deadline = message["start"], time.monotonic() + limits.cell_seconds
        elif "cell" in message and message["cell"] == running and running not in run.outputs:
            run.outputs[running] = message
        elif "cells_done" in message and len(run.outputs) == len(expected):
            return True


def _run_probes(process, channel: Channel, probes, forbidden, recorder: str, sandboxed: bool,
                run: Run, deadline: float, limit_seconds: int) -> None:
    """Stage 2: the probes. Only a results message that answers this very request counts."""
    channel.drain()  # whatever the notebook queued up before the probes were sent
    nonce = secrets.token_hex(16)
    if not _send(process, {"probes": probes, "forbidden": forbidden, "recorder": recorder,
                           "sandboxed": sandboxed, "nonce": nonce}):
        run.stopped = say("the sandbox ended before the hidden tests")
        return
    while True:
        message = channel.next(deadline)
        if message is None or message.get("too_large") or message.get("malformed"):
            run.stopped = say("the run ended during the hidden tests (exit, crash or memory)")
            return
        if message.get("timeout"):
            run.stopped = say("the hidden tests ran past the notebook's limit of {seconds} s and were stopped",
                              seconds=limit_seconds)
            return
        results = message.get("results")
        if isinstance(results, dict) and message.get("nonce") == nonce:
            if "refused" in results:  # the runner's word for what is left running, never its text
                left = say("a process") if results["refused"] == "process" else say("a thread")
                run.stopped = say("your code left {what} running, so the hidden tests did not run", what=left)
            else:
                run.recorded = results.get("recorded") if isinstance(results.get("recorded"), dict) else None
                errors = results.get("errors")
                run.errors = {str(q): str(e)[:40] for q, e in errors.items()} if isinstance(errors, dict) else {}
            return


def run(cells: list[tuple[int, str]], probes: list[tuple[str, str]], forbidden: dict[str, list[dict]],
        limits: Limits, use_sandbox: bool, data_root: Path | None, recorder: str) -> Run:
    """Run ``cells`` (index, source) then ``probes`` (question, source) in a fresh sandbox."""
    result = Run()
    with sandbox.sandbox_user() if use_sandbox else contextlib.nullcontext() as user, \
            tempfile.TemporaryDirectory(prefix="workbook-grade-") as workdir:
        process, channel = _start(_command(use_sandbox, data_root, limits, user),
                                  _environment(use_sandbox, data_root), workdir)
        try:
            deadline = time.monotonic() + limits.notebook_seconds
            if _run_cells(process, channel, cells, limits, result, deadline):
                _run_probes(process, channel, probes, forbidden, recorder, use_sandbox, result, deadline,
                            limits.notebook_seconds)
        finally:
            _kill(process)
    return result
