"""The sandbox a submission runs in: bubblewrap, resource limits, a kernel inside it.

What the student's code can see: the system (``/usr``, ``/etc``), the Python install and
environment, the workbook's ``utils`` source and the data set, all read-only, and its own
throwaway folder, read-write. Nothing else of the machine: no ``solutions/``, no other
submission, no instructor file, no home folder. No network (its own empty network
namespace), its own PID namespace (it sees only its own processes, and when the sandbox's
first process is killed the kernel kills every process inside), a new session (no
terminal), no capabilities, and limits on memory and processes. Run as root, the code
inside runs as the unprivileged user ``nobody``.

Bubblewrap (Debian package ``bubblewrap``) is the sandbox; where it cannot run, grading
refuses (``sandbox_problem`` says why) unless the instructor asks for ``--no-sandbox``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager

import utils

NOBODY = 65534
INSIDE_WORKDIR = "/submission"
INSIDE_DATA = "/data"
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
    processes: int = 512
    file_bytes: int = 1024**3  # largest file it may write


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
    """The Python install, the environment and the workbook's ``utils`` (not the rest of it)."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(utils.__file__).resolve().parent}
    return sorted(paths, key=lambda p: len(p.parts))


def bwrap_args(workdir: Path, data_root: Path | None, extra_rw: list[Path] = ()) -> list[str]:
    """The bubblewrap command line, up to the program to run inside."""
    readable = read_only_paths()
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
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    args += _dirs_for(readable + list(extra_rw))
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    if data_root is not None:
        args += ["--ro-bind", str(data_root), INSIDE_DATA]
    args += ["--bind", str(workdir), INSIDE_WORKDIR]
    for path in extra_rw:
        args += ["--bind", str(path), str(path)]
    args += ["--chdir", INSIDE_WORKDIR]
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


def drop_privileges() -> list[str]:
    """Run as root, the command inside becomes ``nobody``, with no capabilities at all."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
            "--bounding-set=-all", "--inh-caps=-all"]


def limit_args(limits: Limits) -> list[str]:
    return ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}", "--core=0", f"--fsize={limits.file_bytes}", "--"]


def sandboxed(command: list[str], workdir: Path, data_root: Path | None, limits: Limits,
              extra_rw: list[Path] = ()) -> list[str]:
    """``command`` wrapped to run in the sandbox with ``workdir`` as its only writable folder."""
    return limit_args(limits) + bwrap_args(workdir, data_root, list(extra_rw)) + drop_privileges() + command


def give_to_sandbox(path: Path) -> None:
    """Make a folder the sandbox writes to its own (owned by ``nobody`` when we are root)."""
    if os.geteuid() == 0:
        for item in [path, *path.rglob("*")]:
            os.chown(item, NOBODY, NOBODY, follow_symlinks=False)


def sandbox_problem() -> str | None:
    """None when the sandbox works here; otherwise why not and what to do."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}. {INSTALL_HINT}"
    for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ()):
        if not shutil.which(tool):
            return f"`{tool}` is not installed. {INSTALL_HINT}"
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        give_to_sandbox(workdir)
        command = sandboxed([sys.executable, "-c", "import torch, utils"], workdir, None, Limits())
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return "a test run in the sandbox did not finish in 120 s."
    if run.returncode != 0:
        detail = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap is installed but a test run in it failed ({detail}). {INSTALL_HINT}"
    return None


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside the sandbox.

    The kernel talks to the grader over IPC sockets in a folder bound into the sandbox
    (there is no network inside). Interrupts go as messages, since signals cannot reach
    the new session.
    """

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        if os.geteuid() == 0:  # the kernel runs as nobody and must read it
            os.chown(self.connection_file, NOBODY, NOBODY)
        return result


def kernel_manager(workdir: Path, ipc_dir: Path, data_root: Path | None, limits: Limits | None,
                   spec_dir: Path) -> AsyncKernelManager:
    """A kernel manager for one run: sandboxed, or a plain local kernel when ``limits`` is None."""
    python = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if limits is None:
        argv, interrupt = python, "signal"
    else:
        argv = sandboxed(python, workdir, data_root, limits, extra_rw=[ipc_dir])
        interrupt = "message"
    kernel_dir = spec_dir / "workbook-submission"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "Submission", "language": "python", "interrupt_mode": interrupt}
    if limits is None:
        spec["env"] = {"FASHION_MNIST_STRICT": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                       **({"FASHION_MNIST_ROOT": str(data_root)} if data_root else {})}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    manager_class = SandboxKernelManager if limits is not None else AsyncKernelManager
    return manager_class(
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]),
        kernel_name="workbook-submission", transport="ipc", ip=str(ipc_dir / "kernel"),
        connection_file=str(ipc_dir / "connection.json"),
    )
