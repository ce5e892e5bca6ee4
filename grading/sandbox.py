"""The sandbox a submission runs in: bubblewrap and resource limits, one user per run.

What the student's code can see: the system (``/usr``, ``/etc``), the Python install and
environment, the workbook's ``utils`` source, the data set and the grader's runner, all
read-only, and two small memory-backed folders of its own (``/submission``, its home and
working folder, and ``/tmp``), each capped in size. Nothing else of the machine: no
``solutions/``, no other submission, no instructor file, no home folder. No network (its
own empty network namespace), its own PID namespace (it sees only its own processes, and
when the sandbox's first process is killed the kernel kills every process inside), a new
session (no terminal), no capabilities, and limits on memory, processes and file size.

Run as root, each run gets a user id of its own (``sandbox_user``), so that the limit on
processes, which the kernel counts per user, is one submission's alone: a submission that
takes every process slot it may have harms no classmate graded beside it.

Bubblewrap (Debian package ``bubblewrap``) is the sandbox; where it cannot run, grading
refuses (``sandbox_problem`` says why) unless the instructor asks for ``--no-sandbox``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import utils

FIRST_USER = 2_000_000  # sandbox users: FIRST_USER, FIRST_USER + 1, ... (no account needed)
USERS = 10_000
USER_LOCKS = Path(tempfile.gettempdir()) / "workbook-grading-users"
INSIDE_WORKDIR = "/submission"
INSIDE_DATA = "/data"
INSIDE_RUNNER = "/grader/runner.py"
RUNNER = Path(__file__).with_name("runner.py")
INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `dnf install "
    "bubblewrap`) on a Linux machine that allows user namespaces, or grade on such a machine. "
    "Only where you trust every submission, `--no-sandbox` grades without it."
)


@dataclass(frozen=True)
class Limits:
    """What one notebook run may use."""

    cell_seconds: int = 300
    notebook_seconds: int = 900
    memory_bytes: int = 6 * 1024**3  # address space per process; torch alone maps about 1.5 GiB
    processes: int = 128  # processes and threads of the run's own user
    file_bytes: int = 256 * 1024**2  # largest file it may write
    folder_bytes: int = 256 * 1024**2  # each of /submission and /tmp (memory-backed)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _dirs_for(paths: list[Path]) -> list[str]:
    """``--dir`` arguments (mode 0755) for every parent of the bind targets, parents first.

    Bubblewrap would otherwise create them owner-only, and ``nobody`` could not walk in.
    """
    parents = sorted({parent for path in paths for parent in path.parents if parent != Path("/")},
                     key=lambda p: len(p.parts))
    args: list[str] = []
    for parent in parents:
        if str(parent) in ("/usr", "/etc", "/tmp"):
            continue
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def read_only_paths() -> list[Path]:
    """The Python install, the environment and the workbook's ``utils`` (not the rest of it).

    Each as named and as resolved, so a symlinked environment works too.
    """
    prefixes = (Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent.parent)
    paths = {path for prefix in prefixes for path in (prefix.absolute(), prefix.resolve())}
    paths.add(Path(utils.__file__).resolve().parent)
    return sorted(paths, key=lambda p: len(p.parts))


def bwrap_args(data_root: Path | None, limits: Limits) -> list[str]:
    """The bubblewrap command line, up to the program to run inside."""
    readable = read_only_paths()
    # --clearenv also drops JPY_PARENT_PID: ipykernel would otherwise watch its parent, see
    # PID 1 (the PID namespace's first process) and exit at once.
    args = ["bwrap", "--clearenv", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/" + name)
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    size = str(limits.folder_bytes)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", INSIDE_WORKDIR]
    args += _dirs_for(readable + [Path(INSIDE_RUNNER)])
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    if data_root is not None:
        args += ["--ro-bind", str(data_root), INSIDE_DATA]
    args += ["--ro-bind", str(RUNNER), INSIDE_RUNNER, "--chdir", INSIDE_WORKDIR]
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": INSIDE_WORKDIR,
        "MPLCONFIGDIR": f"{INSIDE_WORKDIR}/.matplotlib", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "WORKBOOK_TORCH_THREADS": "1",
        "FASHION_MNIST_STRICT": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }
    if data_root is not None:
        environment["FASHION_MNIST_ROOT"] = INSIDE_DATA
    for key, value in environment.items():
        args += ["--setenv", key, value]
    return args


def drop_privileges(user: int | None) -> list[str]:
    """Run as root, the command inside becomes ``user``, with no capabilities at all."""
    if user is None:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--no-new-privs",
            "--bounding-set=-all", "--inh-caps=-all"]


def _has_processes(user: int) -> bool:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nUid:\t{user}\t" in status.read_text():
                return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def sandbox_user() -> Iterator[int | None]:
    """A user id no other run holds (a lock file per id) and no process runs as; None unless root.

    Not root, bubblewrap maps the grader's own user into the sandbox and the process limit
    counts all runs of that user together.
    """
    if os.geteuid() != 0:
        yield None
        return
    USER_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for user in range(FIRST_USER, FIRST_USER + USERS):
        lock = os.open(USER_LOCKS / str(user), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        try:
            if _has_processes(user):  # left over from a grader that was killed
                continue
            yield user
            return
        finally:
            os.close(lock)  # closing the file releases the lock
    raise RuntimeError(f"all {USERS} sandbox users are in use")


def limit_args(limits: Limits) -> list[str]:
    return ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}", "--core=0", f"--fsize={limits.file_bytes}", "--"]


def sandboxed(command: list[str], data_root: Path | None, limits: Limits, user: int | None) -> list[str]:
    """``command`` wrapped to run in the sandbox as ``user``."""
    return limit_args(limits) + bwrap_args(data_root, limits) + drop_privileges(user) + command


def sandbox_problem() -> str | None:
    """None when the sandbox works here; otherwise why not and what to do."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}. {INSTALL_HINT}"
    for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ()):
        if not shutil.which(tool):
            return f"`{tool}` is not installed. {INSTALL_HINT}"
    with sandbox_user() as user:
        command = sandboxed([sys.executable, "-c", "import torch, utils"], None, Limits(), user)
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return "a test run in the sandbox did not finish in 120 s."
    if run.returncode != 0:
        detail = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap is installed but a test run in it failed ({detail}). {INSTALL_HINT}"
    return None
