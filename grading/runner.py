"""The program that runs inside the sandbox: a submission's cells, then the hidden probes.

It is plain Python, not a Jupyter kernel: no input or AST transformers, no IPython hooks,
nothing a student cell can register to rewrite the probes. The grader runs this file with
``python -I``; it imports torch, NumPy and matplotlib (Agg) before any cell, and keeps
their pristine state.

Two stages, each started by one JSON line from the grader on stdin:

1. ``{"cells": [[index, source], ...]}``: the given, answer and added code cells, in order,
   in one namespace. Each cell's stdout and stderr (at the file-descriptor level), its last
   expression, its figures and its error go back as one message. Then ``{"cells_done": n}``.
   The probes are not in this process yet, so nothing a cell prints can show them.
2. ``{"probes": [[question, source], ...], "forbidden": {question: [rules]}, "recorder": text,
   "nonce": ...}``: the grader sends it only after stage 1 and ignores any output from then on
   but the answer carrying its nonce. Before the probes run, this program restores every
   module the cells patched (builtins, ``sys``'s import machinery, json, math, torch,
   NumPy...), refuses if the student left a thread or a process running, and runs the probes
   in a namespace of their own, with a fresh recorder. Where a question forbids functions in
   one of the student's functions, the probes call that function through a guard in which
   those torch and NumPy functions raise, however the student's code reached them (a torch
   function mode sees every call, aliases and ``getattr`` included). The values go back as
   ``{"results": ..., "nonce": ...}``; the program then ends without running ``atexit`` handlers.

Messages go to a copy of the original stdout; the cells' own stdout and stderr are files.
The audit hook below refuses trace and profile hooks, ``ctypes``, ``gc``'s object walks and
new audit hooks for the whole run. Values a student's function returns are still the
student's claims: the grader compares them, outside, with the reference's.
"""

import ast
import builtins
import io
import json
import os
import sys
import traceback

MAX_STREAM_BYTES = 100_000  # of one cell's stdout or stderr
MAX_TEXT_CHARS = 20_000  # of a last expression's repr or a traceback
MAX_FIGURES = 5  # per cell
MAX_FIGURE_BYTES = 1_000_000
REFUSED_EVENTS = ("sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_objects", "gc.get_referrers",
                  "gc.get_referents", "ctypes.")
GUARDED_MODULES = ("builtins", "json", "math", "os", "random", "numpy", "torch", "torch.nn", "torch.nn.functional",
                   "torch.special", "torch.linalg", "torch.autograd", "torch.func")
GUARDED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("numpy", "ndarray"))

_write, _dumps, _loads, _dup, _dup2, _open = os.write, json.dumps, json.loads, os.dup, os.dup2, os.open
_BUILTINS = builtins.__dict__
_MODULES = sys.modules
_IMPORT_LISTS = {name: getattr(sys, name) for name in ("meta_path", "path_hooks", "path")}
CHANNEL = _dup(1)  # messages to the grader
_stdin = os.fdopen(_dup(0), "r", encoding="utf-8")


def send(message: dict) -> None:
    data = (_dumps(message, allow_nan=True) + "\n").encode("utf-8", "backslashreplace")
    while data:
        data = data[_write(CHANNEL, data):]


def receive() -> dict:
    line = _stdin.readline()
    if not line:
        os._exit(3)
    return _loads(line)


def refuse_hooks(event: str, args) -> None:
    """Audit hook: nothing in this process may trace, walk objects, or load C code by hand."""
    if event.startswith(REFUSED_EVENTS):
        raise RuntimeError(f"{event} is not allowed in graded code")


# ---------------------------------------------------------------- stage 1: the cells

class Shell:
    """A stand-in for ``get_ipython()``: ``%matplotlib`` is ignored, other magics raise."""

    def run_line_magic(self, name, line, *args, **kwargs):
        if name != "matplotlib":
            raise NotImplementedError(f"%{name} does not run in the grader")

    def run_cell_magic(self, name, line, cell):
        raise NotImplementedError(f"%%{name} does not run in the grader")

    def system(self, command):
        raise NotImplementedError("shell commands do not run in the grader")


def _read_capped(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, MAX_STREAM_BYTES + 1)
    text = data[:MAX_STREAM_BYTES].decode("utf-8", "replace")
    return text + ("\n[grader: further output cut]\n" if len(data) > MAX_STREAM_BYTES else "")


def _figures() -> list[str]:
    """PNGs (base64) of the figures a cell left open; they are closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    import base64

    images = []
    for number in pyplot.get_fignums()[:MAX_FIGURES]:
        buffer = io.BytesIO()
        try:
            pyplot.figure(number).savefig(buffer, format="png", dpi=72)
        except Exception:
            continue
        if buffer.tell() <= MAX_FIGURE_BYTES:
            images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    pyplot.close("all")
    return images


def _split_last_expression(source: str, name: str):
    """``(body code, last expression code or None)`` of a cell, as Jupyter shows its value."""
    tree = ast.parse(source, name)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), name, "eval")
    return compile(tree, name, "exec"), last


def _scratch_file() -> int:
    """An anonymous file in memory: a cell that fills /tmp still has its output kept."""
    return os.memfd_create("cell-output")


def _traceback(error: BaseException) -> str:
    """The traceback from the cell's own frames on (this program's frames left out)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines)[-MAX_TEXT_CHARS:]


def run_cell(index: int, source: str, namespace: dict) -> dict:
    """Run one cell with its stdout and stderr going to files; return what it showed."""
    out_fd, err_fd = _scratch_file(), _scratch_file()
    sys.stdout.flush(), sys.stderr.flush()
    saved = _dup(1), _dup(2)
    _dup2(out_fd, 1), _dup2(err_fd, 2)
    message = {"cell": index, "result": None, "error": None}
    try:
        body, last = _split_last_expression(source, f"<cell {index + 1}>")
        exec(body, namespace)
        if last is not None:
            value = eval(last, namespace)
            if value is not None:
                message["result"] = repr(value)[:MAX_TEXT_CHARS]
    except BaseException as error:  # SystemExit and KeyboardInterrupt included: the cell failed
        message["error"] = {"ename": type(error).__name__, "evalue": str(error)[:MAX_TEXT_CHARS],
                            "traceback": _traceback(error)}
    finally:
        try:
            sys.stdout.flush(), sys.stderr.flush()
        except Exception:
            pass
        _dup2(saved[0], 1), _dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])
    message["stdout"], message["stderr"] = _read_capped(out_fd), _read_capped(err_fd)
    os.close(out_fd), os.close(err_fd)
    message["images"] = _figures()
    return message


# ---------------------------------------------------------------- stage 2: the probes

def snapshot() -> dict:
    """The dictionaries of the guarded modules and classes, as they are before any cell runs."""
    saved = {"sys": {name: list(items) for name, items in _IMPORT_LISTS.items()}}
    for name in GUARDED_MODULES:
        if name in sys.modules:
            saved[name] = dict(vars(sys.modules[name]))
    for module, cls in GUARDED_CLASSES:
        if module in sys.modules and hasattr(sys.modules[module], cls):
            owner = getattr(sys.modules[module], cls)
            saved[(module, cls)] = (owner, dict(vars(owner)))
    return saved


def restore(saved: dict, modules_before: dict) -> None:
    """Undo what the cells patched in the guarded modules, classes and ``sys``'s import machinery."""
    dict.update(_BUILTINS, saved["builtins"])  # first: what follows uses builtins
    for name, items in _IMPORT_LISTS.items():
        items[:] = saved["sys"][name]
        setattr(sys, name, items)
    sys.path_importer_cache.clear()
    sys.modules = _MODULES
    for name, module in modules_before.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
    for key, value in saved.items():
        if key == "sys":
            continue
        if isinstance(key, tuple):
            owner, attributes = value
            for attribute in set(vars(owner)) - set(attributes):
                try:
                    delattr(owner, attribute)
                except (AttributeError, TypeError):
                    pass
            for attribute, original in attributes.items():
                if vars(owner).get(attribute, original) is not original and attribute not in ("__dict__", "__doc__"):
                    try:
                        setattr(owner, attribute, original)
                    except (AttributeError, TypeError):
                        pass
        else:
            vars(sys.modules[key]).update(value)


def still_running(baseline_threads: int, sandboxed: bool) -> str | None:
    """What the cells left running ("thread" or "process"), so that the probes must not run; else None.

    In the sandbox's own PID namespace every other process was started by the cells.
    """
    threads = len(os.listdir("/proc/self/task"))
    if threads > baseline_threads:
        return "thread"
    if not sandboxed:
        return None
    mine = {os.getpid(), os.getppid(), 1}
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in mine]
    return "process" if others else None


def forbidding(names: list[str]):
    """A context in which the named torch and NumPy functions raise, however they are reached."""
    import contextlib

    stack = contextlib.ExitStack()
    wanted = set(names) | {name + "_" for name in names}
    if "torch" in sys.modules:
        from torch.overrides import TorchFunctionMode

        class Forbid(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                if name in wanted:
                    raise PermissionError(f"{name} is not allowed in this answer")
                return func(*args, **(kwargs or {}))

        stack.enter_context(Forbid())
    numpy = sys.modules.get("numpy")
    for name in wanted & set(vars(numpy) if numpy else ()):
        original = vars(numpy)[name]
        setattr(numpy, name, _raiser(name))
        stack.callback(setattr, numpy, name, original)
    return stack


def guarded(function, names: list[str]):
    """``function`` with ``names`` forbidden while it runs (the probes call this instead)."""
    def call(*args, **kwargs):
        with forbidding(names):
            return function(*args, **kwargs)
    return call


def _raiser(name: str):
    def forbidden(*args, **kwargs):
        raise PermissionError(f"{name} is not allowed in this answer")
    return forbidden


def error_name(error: BaseException) -> str:
    """The exception's name if it is a built-in one; else a generic word (names can carry text)."""
    return type(error).__name__ if getattr(builtins, type(error).__name__, None) is type(error) else "an exception"


def run_probes(plan: dict, namespace: dict, baseline_threads: int, saved: dict, modules_before: dict) -> dict:
    """Run the hidden probes; return what they recorded, or why they did not run."""
    restore(saved, modules_before)
    refused = still_running(baseline_threads, plan["sandboxed"])
    if refused:
        return {"refused": refused}
    devnull = _open(os.devnull, os.O_WRONLY)
    _dup2(devnull, 1), _dup2(devnull, 2)
    recorder = type(sys)("probe")
    exec(compile(plan["recorder"], "probe.py", "exec"), vars(recorder))
    shared = dict(namespace)
    errors: dict[str, str] = {}
    for question, source in plan["probes"]:
        shared["probe"] = recorder
        for rule in plan["forbidden"].get(question, []):
            if callable(namespace.get(rule["function"])):
                shared[rule["function"]] = guarded(namespace[rule["function"]], rule["names"])
        try:
            exec(compile(source, f"<probe {question}>", "exec"), shared)
        except BaseException as error:
            errors.setdefault(question, error_name(error))
        for rule in plan["forbidden"].get(question, []):
            shared.pop(rule["function"], None)
            if rule["function"] in namespace:
                shared[rule["function"]] = namespace[rule["function"]]
    return {"recorded": recorder.RESULTS, "errors": errors}


def prepare() -> tuple[dict, dict, int]:
    """Import what the cells and probes rely on before any cell runs; return its pristine state."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy  # noqa: F401
    import torch
    import torch.nn.functional  # noqa: F401

    try:
        import torchvision  # noqa: F401  (it loads its operators with ctypes, refused later)
    except ImportError:
        pass
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.zeros(2) @ torch.zeros(2)  # torch starts its own threads before the baseline is counted
    return dict(sys.modules), snapshot(), len(os.listdir("/proc/self/task"))


def main() -> None:
    modules_before, saved, baseline_threads = prepare()
    sys.addaudithook(refuse_hooks)  # after the imports: torch loads its libraries with ctypes
    namespace = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": Shell}
    send({"ready": True})
    plan = receive()
    for index, source in plan["cells"]:
        send({"start": index})
        send(run_cell(index, source, namespace))
    send({"cells_done": len(plan["cells"])})
    probes = receive()
    send({"results": run_probes(probes, namespace, baseline_threads, saved, modules_before), "nonce": probes["nonce"]})
    os._exit(0)  # no atexit handler of the student's runs


if __name__ == "__main__":
    main()
