"""A whole-run limit for every pytest run of the workbook, so that no test run can hang.

nbval limits each notebook cell (`--nbval-cell-timeout` in pyproject.toml). This limits the
whole run: after `run_timeout` seconds (pyproject.toml; `pytest -o run_timeout=N` to change,
0 for none) the run is interrupted as Ctrl-C would, which names the test then running, lets
pytest stop the kernels and print its summary, and makes the run fail. If it has not ended
a minute later, the process exits.
"""

import os
import signal
import threading

import pytest

GRACE_S = 60
_state = {"running": "no test yet (collecting)", "interrupted": "", "timer": None}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("run_timeout", "seconds the whole pytest run may take (0: no limit)", default="0")


def pytest_configure(config: pytest.Config) -> None:
    limit = float(config.getini("run_timeout"))
    if limit > 0:
        _state["timer"] = _start_timer(limit, _interrupt, limit)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _state["timer"]:
        _state["timer"].cancel()  # the run is over: no interrupt while Python exits


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _state["running"] = nodeid


def pytest_terminal_summary(terminalreporter) -> None:
    if _state["interrupted"]:
        terminalreporter.write_line(_state["interrupted"], red=True, bold=True)


def _start_timer(seconds: float, action, *args) -> threading.Timer:
    timer = threading.Timer(seconds, action, args)
    timer.daemon = True
    timer.start()
    return timer


def _interrupt(limit: float) -> None:
    _state["interrupted"] = (f"The whole-run limit of {limit:.0f} s (run_timeout) was reached "
                             f"in {_state['running']}: the run was interrupted.")
    _start_timer(GRACE_S, os._exit, 1)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # wakes a blocking wait, as Ctrl-C does
