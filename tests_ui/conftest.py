"""Fixtures of the browser tests: headless Chromium, a private JupyterLab server, the built book.

Run with `make test-ui` (not part of plain `pytest`). Screenshots go to build/ui/.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from utils.messages import LANGUAGE_FILE

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "ui"
BOOK_HTML = ROOT / "build" / "book" / "_build" / "html"
BOOK_HTML_ZH = BOOK_HTML / "zh"  # the Chinese edition, served in the same site
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Flags that let Chromium run headless as root in a container, offline, without background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAB_START_SECONDS = 120
# The whole run stops after this many seconds, whatever hangs (UI_TEST_LIMIT overrides).
WHOLE_RUN_SECONDS = int(os.environ.get("UI_TEST_LIMIT", "900"))
SERVERS: list[subprocess.Popen] = []
# JupyterLab user settings for the test: every cell in the page (no windowing, so text and
# prompts of cells out of view are in the DOM), no autosave, no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def pytest_configure(config):
    watchdog = threading.Timer(WHOLE_RUN_SECONDS, stop_the_run, args=[config])
    watchdog.daemon = True
    watchdog.start()


def stop_the_run(config) -> None:
    """The whole-run limit: end the JupyterLab servers and exit (Chromium ends with its driver)."""
    config.pluginmanager.get_plugin("capturemanager").suspend_global_capture(in_=True)
    print(f"\nUI tests: stopped after the whole-run limit of {WHOLE_RUN_SECONDS} s (UI_TEST_LIMIT); "
          "a step hung.", file=sys.stderr, flush=True)
    for server in SERVERS:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    os._exit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_executable() -> str | None:
    """The system's Chromium (CHROMIUM overrides); None lets Playwright use its own browser."""
    candidates = [os.environ.get("CHROMIUM", "")] + list(SYSTEM_CHROMIUM)
    return next((path for path in candidates if path and Path(path).exists()), None)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        executable = chromium_executable()
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as error:  # no system Chromium and no browser of Playwright's own
            pytest.fail(f"Cannot start Chromium ({error}). Install Debian's `chromium` "
                        "(apt-get install chromium) or set CHROMIUM=/path/to/chromium.")
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port, over a scratch copy of notebooks/ and exercises/.

    Yields (base URL with trailing slash, token). Its config, data, runtime, settings and
    workspace folders are private; the repository's notebooks are never written.
    """
    with lab_server(tmp_path_factory.mktemp("lab"), ROOT, LAB_SETTINGS) as server:
        yield server


@pytest.fixture(scope="session")
def lab_zh(tmp_path_factory):
    """Like `lab`, in Chinese (locale zh_CN, as `make lab-zh`), over a copy of zh/notebooks and
    zh/exercises without the folders' .workbook-language files, as a student who downloaded the
    notebooks alone has them: utils must take the language from the notebook JupyterLab runs."""
    settings = dict(LAB_SETTINGS, **{"@jupyterlab/translation-extension/plugin.jupyterlab-settings":
                                     {"locale": "zh_CN"}})
    with lab_server(tmp_path_factory.mktemp("lab-zh"), ROOT / "zh", settings, leave_out=(LANGUAGE_FILE,)) as server:
        yield server


@contextlib.contextmanager
def lab_server(home: Path, source: Path, settings: dict, leave_out: tuple[str, ...] = ()):
    """Run JupyterLab in `home` over copies of source/notebooks and source/exercises (without the
    files named in `leave_out`); yield (base, token)."""
    served = home / "root"
    for folder in ("notebooks", "exercises"):
        if (source / folder).is_dir():
            shutil.copytree(source / folder, served / folder,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", *leave_out))
    for name, values in settings.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), MPLCONFIGDIR=str(home / "mpl"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={served}", "--expose-app-in-browser",
               "--ServerApp.open_browser=False", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    SERVERS.append(server)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(base, token, server, home / "lab.log")
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def wait_for_server(base: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + LAB_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {LAB_START_SECONDS} s:\n{log.read_text()[-3000:]}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="session")
def book_site():
    """The built book (`make book`) served over HTTP on a free local port; yields its base URL."""
    if not (BOOK_HTML / "index.html").exists():
        pytest.fail(f"No built book in {BOOK_HTML}: run `make book` first (`make test-ui` does).")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             functools.partial(QuietHandler, directory=str(BOOK_HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
