"""The grader against hostile submissions, on a small made-up assignment (seconds per run).

Every attack is a blank or wrong submission that tries it; it must score 0 on what it
targets and change nothing outside its own throwaway copy. The real assignments are
graded end to end in tests/test_assignments.py.
"""

from __future__ import annotations

import copy
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading import batch, grade, judge, report
from grading.__main__ import main as grading_main
from grading.generate import REPO_ROOT, exercise_from_solution
from grading.sandbox import Limits

pytestmark = pytest.mark.usefixtures("sandbox")  # skipped without bubblewrap, failed in CI (conftest.py)

NAME = "01_double"
ANSWER = "return 2 * x"
STUB = "raise NotImplementedError()"


def _reference_notebook():
    nb = new_notebook(cells=[
        new_markdown_cell("# Assignment 1: doubling"),
        new_code_cell("import torch\nSCALE = 2"),
        new_code_cell("# PROBE SETUP\nfrom grading import probe"),
        new_code_cell(f"def double(x):\n    ### BEGIN SOLUTION\n    {ANSWER}\n    ### END SOLUTION"),
        new_code_cell("# CHECK 1.1 (2 points)\nassert double(torch.tensor(1.0)) == SCALE"),
        new_code_cell("# PROBE 1.1\nprobe.record('1.1', 'double on a hidden vector', double(torch.tensor([3.0, -7.5, 1e300])))\n"
                      "probe.forbid('1.1', 'double', 'multiply')"),
        new_code_cell("def noise(seed):\n    ### BEGIN SOLUTION\n    return torch.randn(3, generator=torch.Generator().manual_seed(seed))\n"
                      "    ### END SOLUTION"),
        new_code_cell("# CHECK 1.2 (1 point)\nassert noise(0).shape == (3,)"),
        new_code_cell("# PROBE 1.2\nprobe.record('1.2', 'seed 1', noise(1), judge='range', low=-10, high=10)\n"
                      "probe.record('1.2', 'seed 2', noise(2), judge='differs', target='seed 1', atol=1e-6)"),
        new_markdown_cell("**Answer 1.3.**\n### BEGIN SOLUTION\nBecause doubling is linear.\n### END SOLUTION"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


REFERENCE = _reference_notebook()  # one set of cell ids, shared by the solution and the copies


def reference_notebook():
    return copy.deepcopy(REFERENCE)


@pytest.fixture(scope="module")
def course(tmp_path_factory, real_root):
    """A solutions folder holding the made-up assignment, and settings to grade it."""
    root = tmp_path_factory.mktemp("course")
    (root / "solutions").mkdir()
    nbformat.write(reference_notebook(), root / "solutions" / f"{NAME}.ipynb")
    settings = grade.Settings(data_root=real_root, solutions_dir=root / "solutions", cache_dir=root / "cache",
                              limits=Limits(cell_seconds=20, notebook_seconds=60))
    return root, settings


def submission(path: Path, answer: str | None = None, extra: list | None = None, mutate=None) -> Path:
    """The student copy with ``answer`` in place of the stub and ``extra`` cells appended."""
    nb = exercise_from_solution(reference_notebook(), NAME)
    if answer is not None:
        cell = next(c for c in nb.cells if STUB in c.source and "double" in c.source)
        cell.source = cell.source.replace(STUB, answer)
    nb.cells += extra or []
    if mutate:
        mutate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def points(path: Path, settings) -> dict[str, int]:
    result, _, _ = grade.grade_file(path, settings)
    assert result["error"] is None, result["error"]
    return {v["question"]: v["points"] for v in result["verdicts"]}


def tree_hash(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".pytest_cache" not in p.parts
                           and "__pycache__" not in p.parts and "build" not in p.relative_to(folder).parts[:1]):
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- honest submissions

def test_solution_scores_full_marks_and_blank_scores_zero(course, tmp_path):
    _, settings = course
    assert points(submission(tmp_path / "a" / f"{NAME}.ipynb", ANSWER), settings)["1.1"] == 2
    assert points(submission(tmp_path / "b" / f"{NAME}.ipynb"), settings) == {"1.1": 0, "1.2": 0}


def test_wrong_answer_and_forbidden_name_score_zero(course, tmp_path):
    _, settings = course
    assert points(submission(tmp_path / "w" / f"{NAME}.ipynb", "return 2 * x + 1e-3"), settings)["1.1"] == 0
    forbidden = submission(tmp_path / "f" / f"{NAME}.ipynb", "return torch.multiply(x, 2)")
    result, _, _ = grade.grade_file(forbidden, settings)
    assert result["verdicts"][0]["points"] == 0 and "multiply" in result["verdicts"][0]["status"]


# ---------------------------------------------------------------- reading what it must not

def test_cannot_read_the_solution_or_a_classmate(course, tmp_path):
    root, settings = course
    classmate = submission(tmp_path / "bob" / f"{NAME}.ipynb", ANSWER)
    thief = f"""
import json
for path in [{str(root / 'solutions' / (NAME + '.ipynb'))!r}, {str(classmate)!r}, {str(REPO_ROOT / 'solutions')!r}]:
    try:
        open(path).read()
        raise SystemExit('READ ' + path)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        pass
"""
    steal = "source = open({!r}).read()\nreturn 2 * x if 'return 2 * x' in source else None"
    for target in (root / "solutions" / f"{NAME}.ipynb", classmate):
        path = submission(tmp_path / "eve" / f"{NAME}.ipynb", steal.format(str(target)), [new_code_cell(thief)])
        assert points(path, settings)["1.1"] == 0


def test_saboteurs_change_nothing_outside_their_copy(course, tmp_path):
    root, settings = course
    peers = tmp_path / "class"
    honest = submission(peers / "alice" / f"{NAME}.ipynb", ANSWER)
    targets = [root / "solutions" / f"{NAME}.ipynb", honest, REPO_ROOT / "utils" / "data.py",
               REPO_ROOT / "README.md", Path(sys.prefix) / "pyvenv.cfg", settings.data_root / "FashionMNIST" / "raw" / "MD5SUMS"]
    sabotage = "import os\n" + "\n".join(
        f"try:\n    open({str(t)!r}, 'w').write('pass')\nexcept OSError:\n    pass" for t in targets) + \
        f"\ntry:\n    os.remove({str(honest)!r})\nexcept OSError:\n    pass"
    submission(peers / "mallory" / f"{NAME}.ipynb", extra=[new_code_cell(sabotage)])
    before = tree_hash(REPO_ROOT / "utils", REPO_ROOT / "solutions", root / "solutions", peers), \
        hashlib.sha256((REPO_ROOT / "README.md").read_bytes()).hexdigest()
    results = batch.grade_all([peers], settings, tmp_path / "out", jobs=2, echo=lambda line: None)
    after = tree_hash(REPO_ROOT / "utils", REPO_ROOT / "solutions", root / "solutions", peers), \
        hashlib.sha256((REPO_ROOT / "README.md").read_bytes()).hexdigest()
    assert before == after
    scores = {r["student"]: report.score(r)[0] for r in results}
    assert scores == {"alice": 2, "mallory": 0}


def test_no_network_inside(course, tmp_path):
    _, settings = course
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    leak = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'stolen')\nreturn 2 * x"
    try:
        assert points(submission(tmp_path / "n" / f"{NAME}.ipynb", leak), settings)["1.1"] == 0
        listener.settimeout(0.1)
        with pytest.raises(OSError):
            listener.accept()
    finally:
        listener.close()


# ---------------------------------------------------------------- forging the verdict

# What the reference records for 1.1, forged by a blank submission that guessed the hidden
# inputs: each attack below tries to make the grader take these values (float32 turns 1e300 into inf).
FORGED_RESULTS = ("{'values': {'1.1': {'double on a hidden vector': {'shape': [3], 'data': [6.0, -15.0, float('inf')]}}}, "
                  "'judges': {}, 'forbidden': {}}")
FORGED_RECORD = "probe.record('1.1', 'double on a hidden vector', torch.tensor([6.0, -15.0, float('inf')]))"

FORGERIES = {
    "custom exception handler": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "input transformer rewriting the probe": (
        "def rewrite(lines):\n    return [line.replace('double(', '(lambda x: 2 * x)(') for line in lines]\n"
        "get_ipython().input_transformers_cleanup.append(rewrite)"),
    "AST transformer": (
        "import ast\nclass Twice(ast.NodeTransformer):\n    def visit_Name(self, node):\n"
        "        return ast.copy_location(ast.Name('twice', node.ctx), node) if node.id == 'double' else node\n"
        "twice = lambda x: 2 * x\nget_ipython().ast_transformers.append(Twice())"),
    "trace hook": ("import sys\ndef hook(frame, event, arg):\n    if 'probe' in frame.f_globals:\n"
                   "        frame.f_globals['double'] = lambda x: 2 * x\n    return None\nsys.settrace(hook)"),
    "thread rewriting the function": (
        "import threading, time\ndef keep():\n    for _ in range(6000):\n        globals()['double'] = lambda x: 2 * x\n"
        "        time.sleep(0.01)\nthreading.Thread(target=keep, daemon=True).start()"),
    "patched builtins": ("import builtins\noriginal_compile = builtins.compile\n"
                         f"builtins.compile = lambda source, *a, **k: original_compile({FORGED_RECORD!r} "
                         "if 'probe.' in str(source) else source, *a, **k)"),
    "thread hidden by a patched os.listdir": (
        "import os, threading, time\nreal_listdir = os.listdir\n"
        "os.listdir = lambda path='.': real_listdir(path)[:1] if str(path).endswith('task') else real_listdir(path)\n"
        "def keep():\n    for _ in range(6000):\n        globals()['double'] = lambda x: 2 * x\n        time.sleep(0.01)\n"
        "threading.Thread(target=keep, daemon=True).start()"),
    "import hook": (
        "import sys, types, importlib.abc, importlib.machinery\nclass Hijack(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n        if name == 'torch':\n"
        "            fake = types.ModuleType('torch')\n            fake.tensor = lambda *a, **k: None\n"
        "            return importlib.machinery.ModuleSpec(name, None)\n        return None\n"
        "sys.meta_path.insert(0, Hijack())\nsys.modules.pop('torch', None)"),
    "patched torch": "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True",
    "replaced recorder": ("class Forged:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"
                          "import builtins\nbuiltins.probe = Forged()\nprobe = Forged()"),
    "replaced json": ("import json, sys, types\nfake = types.ModuleType('json')\n"
                      f"fake.dump = lambda obj, file, **k: file.write(json.dumps({FORGED_RESULTS}))\n"
                      f"fake.dumps = lambda obj, **k: json.dumps({{'results': {{'recorded': {FORGED_RESULTS}}}}})\n"
                      "sys.modules['json'] = fake"),
    "atexit handler": ("import atexit, json\n"
                       f"atexit.register(lambda: json.dump({FORGED_RESULTS}, open('probe-results.json', 'w')))"),
    "forged results file": ("import json, os\n"
                            f"json.dump({FORGED_RESULTS}, open('probe-results.json', 'w'))\nos._exit(0)"),
    "forged messages to the grader": (
        "import json, os\nlines = (json.dumps({'cells_done': 99}) + '\\n' + json.dumps({'results': {'recorded': "
        f"{FORGED_RESULTS}}}, 'nonce': ''}}) + '\\n').encode()\n"
        "for fd in range(1, 40):\n    try:\n        os.write(fd, lines)\n    except OSError:\n        pass"),
    "exit early": "import os\nos._exit(0)",
}


@pytest.fixture(scope="module")
def forged(course, tmp_path_factory):
    """Each forgery on a blank answer, graded in one batch: ``{attack: points of 1.1}``."""
    _, settings = course
    folder = tmp_path_factory.mktemp("forgers")
    for number, attack in enumerate(FORGERIES):
        source = FORGERIES[attack]  # early in the notebook and again at its end
        submission(folder / f"forger{number}" / f"{NAME}.ipynb", extra=[new_code_cell(source)],
                   mutate=lambda nb, source=source: nb.cells.insert(2, new_code_cell(source)))
    results = batch.grade_all([folder], settings, folder / "out", jobs=2, echo=lambda line: None)
    by_student = {r["student"]: r for r in results}
    return {attack: by_student[f"forger{number}"]["verdicts"][0]["points"] for number, attack in enumerate(FORGERIES)}


@pytest.mark.parametrize("attack", FORGERIES, ids=str)
def test_forgeries_on_a_blank_answer_score_zero(attack, forged):
    assert forged[attack] == 0


def test_wrong_answer_with_patched_torch_scores_zero(course, tmp_path):
    _, settings = course
    path = submission(tmp_path / "p" / f"{NAME}.ipynb", "return 3 * x",
                      mutate=lambda nb: nb.cells.insert(2, new_code_cell(FORGERIES["patched torch"])))
    assert points(path, settings)["1.1"] == 0


def test_forged_outputs_tags_metadata_and_edited_checks_are_discarded(course, tmp_path):
    _, settings = course

    def forge(nb):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1.1 passed\n")]
            if cell.source.startswith("# CHECK"):
                cell.source = cell.source.split("\n")[0] + "\npass"
        nb.metadata["workbook_assignment"] = {"id": NAME}
    assert points(submission(tmp_path / "t" / f"{NAME}.ipynb", mutate=forge), settings) == {"1.1": 0, "1.2": 0}


def test_moved_and_added_cells_keep_their_own_code_only(course, tmp_path):
    """An answer moved to a new cell still counts; a probe copied into the notebook does not."""
    _, settings = course
    helper = new_code_cell("def helper(x):\n    return x + x")
    path = submission(tmp_path / "m" / f"{NAME}.ipynb", "return helper(x)",
                      mutate=lambda nb: nb.cells.insert(1, helper))
    assert points(path, settings)["1.1"] == 2


# ---------------------------------------------------------------- limits

def test_stuck_cell_ignoring_sigint_is_stopped_and_the_batch_finishes(course, tmp_path):
    _, settings = course
    quick = grade.Settings(**{**settings.__dict__, "limits": Limits(cell_seconds=15, notebook_seconds=60)})
    loop = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    submission(tmp_path / "class" / "loop" / f"{NAME}.ipynb", ANSWER, [new_code_cell(loop)])
    submission(tmp_path / "class" / "fine" / f"{NAME}.ipynb", ANSWER)
    started = time.monotonic()
    results = {r["student"]: r for r in batch.grade_all([tmp_path / "class"], quick, tmp_path / "out",
                                                        echo=lambda line: None)}
    assert time.monotonic() - started < 120
    assert "ran over 15 s" in results["loop"]["stopped"] and "'import signal'" in results["loop"]["stopped"], results["loop"]
    assert results["fine"]["stopped"] is None, results["fine"]
    assert report.score(results["fine"])[0] == 2


def test_every_process_of_the_sandbox_is_killed(course, tmp_path):
    _, settings = course
    quick = grade.Settings(**{**settings.__dict__, "limits": Limits(cell_seconds=15, notebook_seconds=60)})
    marker = f"workbook-orphan-{os.getpid()}"
    spawn = (f"import subprocess, signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
             f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'], start_new_session=True)\n"
             "while True:\n    pass")
    grade.grade_file(submission(tmp_path / "o" / f"{NAME}.ipynb", extra=[new_code_cell(spawn)]), quick)
    time.sleep(1)
    alive = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    for pid in alive:
        os.kill(int(pid), signal.SIGKILL)
    assert not alive, "a process started by the submission outlived its run"


def test_memory_hog_is_stopped_and_reported(course, tmp_path):
    _, settings = course
    hog = "big = bytearray(12 * 1024**3)"
    result, executed, _ = grade.grade_file(submission(tmp_path / "h" / f"{NAME}.ipynb", extra=[new_code_cell(hog)]),
                                           settings)
    errors = [o.get("ename") for cell in executed.cells for o in cell.get("outputs", [])]
    assert "MemoryError" in errors
    assert report.score(result)[0] == 0
    assert "ran out of memory" in result["notes"][0] and "bytearray" in result["notes"][0]


# ---------------------------------------------------------------- inputs and outputs

def test_bad_inputs_get_one_line_each_and_a_nonzero_exit(course, tmp_path, capsys):
    root, _ = course
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.ipynb").write_text("")
    (inbox / "text.ipynb").write_text("not json")
    (inbox / "list.ipynb").write_text("[1, 2]")
    (inbox / "unreadable.ipynb").write_bytes(b"\xff\xfe\x00")
    (inbox / "huge.ipynb").write_bytes(b" " * (51 * 1024**2))
    (tmp_path / "empty-folder").mkdir()
    submission(inbox / "notes.ipynb", ANSWER, mutate=lambda nb: nb.metadata.pop("workbook_assignment"))
    def renamed_with_written_answer(nb):
        nb.metadata.pop("workbook_assignment")
        for cell in nb.cells:
            cell.source = cell.source.replace("YOUR ANSWER HERE", "Doubling is linear, as I show here.")
    submission(inbox / "carol_4411_01-double (1).ipynb", ANSWER, mutate=renamed_with_written_answer)
    code = grading_main(["grade", str(inbox), str(tmp_path / "missing.ipynb"), str(tmp_path / "empty-folder"),
                         "--solutions", str(root / "solutions"), "--out", str(tmp_path / "out"),
                         "--data", str(course[1].data_root), "--cell-timeout", "20"])
    out = capsys.readouterr().out
    assert code == 1
    for name in ("empty.ipynb: the file is empty", "text.ipynb: not a valid", "list.ipynb: not a valid",
                 "unreadable.ipynb: cannot be read", "missing.ipynb: no such file", "no .ipynb files",
                 "notes.ipynb: matches no assignment", "huge.ipynb: 51 MB"):
        assert name in out, f"{name!r} not reported:\n{out}"
    assert "carol_4411" in out and "2/3" in out  # an LMS-renamed file is matched by its name
    gradebook = (tmp_path / "out" / "gradebook.csv").read_text()
    assert gradebook.splitlines()[0] == "student,assignment,file,1.1,1.2,total,max,status"
    assert (tmp_path / "out" / "verdicts.json").is_file() and (tmp_path / "out" / "written_answers.md").is_file()
    written = (tmp_path / "out" / "written_answers.md").read_text()
    assert "Doubling is linear, as I show here." in written
    assert written.index("Because doubling is linear.") < written.index("Doubling is linear, as I show here.")


def test_student_output_stays_out_of_the_report(course, tmp_path, capfd):
    root, settings = course
    loud = ("import os, sys\nprint('total 8 8 100%')\nos.write(1, b'FORGED LINE\\n')\nos.write(2, b'FORGED ERR\\n')\n"
            "from IPython.display import HTML, display\ndisplay(HTML('<script>alert(1)</script><b>bold</b>'))")
    path = submission(tmp_path / "loud" / f"{NAME}.ipynb", extra=[new_code_cell(loud)])
    code = grading_main(["grade", str(path), "--solutions", str(root / "solutions"), "--out", str(tmp_path / "out"),
                         "--data", str(settings.data_root)])
    captured = capfd.readouterr()
    assert code == 0
    assert "FORGED" not in captured.out + captured.err and "total 8 8" not in captured.out + captured.err
    feedback = (tmp_path / "out" / "feedback" / "loud" / f"{NAME}.html").read_text()
    assert "total 8 8 100%" in feedback and "probe.record(" not in feedback and "1e300" not in feedback
    assert "<script>alert(1)" not in feedback  # the feedback file sanitises the student's HTML


def test_grading_refuses_without_sandbox_or_data(course, tmp_path, monkeypatch, capsys):
    root, settings = course
    path = submission(tmp_path / "s" / f"{NAME}.ipynb", ANSWER)
    common = ["grade", str(path), "--solutions", str(root / "solutions"), "--out", str(tmp_path / "out")]
    assert grading_main(common + ["--data", str(tmp_path / "nowhere")]) == 2
    assert "real Fashion-MNIST" in capsys.readouterr().err
    monkeypatch.setattr("grading.__main__.sandbox_problem", lambda: "`bwrap` is not installed. Install bubblewrap")
    assert grading_main(common + ["--data", str(settings.data_root)]) == 2
    assert "no sandbox" in capsys.readouterr().err
    assert grading_main(common + ["--data", str(settings.data_root), "--no-sandbox"]) == 0
    assert "--no-sandbox" in capsys.readouterr().out


# ---------------------------------------------------------------- forbidden functions

# 1.1 forbids torch.multiply in double(); each route below reaches it all the same.
FORBIDDEN_ROUTES = {
    "no def at all": (None, "double = lambda x: torch.multiply(x, 2)"),
    "module-level alias": ("return times(x, 2)", "times = torch.multiply"),
    "getattr": ("return getattr(torch, 'multi' + 'ply')(x, 2)", None),
    "eval": ("return eval('torch.' + 'multiply')(x, 2)", None),
    "importlib and attrgetter": ("import importlib, operator\n    "
                                 "return operator.attrgetter('multi' + 'ply')(importlib.import_module('torch'))(x, 2)", None),
    "decorator that swaps the function": (None, "def swap(function):\n    return lambda x: torch.multiply(x, 2)\n"
                                                "@swap\ndef double(x):\n    raise NotImplementedError()"),
    "honest def under if False": (None, "if False:\n    def double(x):\n        return 2 * x\n"
                                        "else:\n    double = lambda x: torch.multiply(x, 2)"),
    "method of the tensor": ("return x.multiply(2)", None),
}


@pytest.fixture(scope="module")
def forbidden_routes(course, tmp_path_factory):
    """Each route to the forbidden function, graded in one batch: ``{route: 1.1's verdict}``."""
    _, settings = course
    folder = tmp_path_factory.mktemp("routes")
    for number, (answer, added) in enumerate(FORBIDDEN_ROUTES.values()):
        submission(folder / f"route{number}" / f"{NAME}.ipynb", answer, [new_code_cell(added)] if added else [])
    results = batch.grade_all([folder], settings, folder / "out", jobs=2, echo=lambda line: None)
    by_student = {r["student"]: r for r in results}
    return {route: by_student[f"route{number}"]["verdicts"][0] for number, route in enumerate(FORBIDDEN_ROUTES)}


@pytest.mark.parametrize("route", FORBIDDEN_ROUTES, ids=str)
def test_a_forbidden_function_scores_zero_however_it_is_reached(route, forbidden_routes):
    verdict = forbidden_routes[route]
    assert verdict["points"] == 0, verdict
    assert "multiply" in verdict["status"] or "not allowed" in verdict["status"] or "PermissionError" in verdict["status"]


# ---------------------------------------------------------------- what a student sees

def test_feedback_and_verdicts_show_nothing_of_the_probes(course, tmp_path):
    """The probes' source, inputs, tolerances and forbidden lists stay with the grader."""
    root, settings = course
    nosy = ("import gc, sys\nfor name in ('In', '_ih', 'Out', '_oh'):\n    print(name, globals().get(name))\n"
            "print(sorted(globals()))\nframe = sys._getframe()\nwhile frame:\n    print(frame.f_locals)\n"
            "    frame = frame.f_back\ntry:\n    print([o for o in gc.get_objects() if isinstance(o, str)])\n"
            "except RuntimeError as error:\n    print(error)")
    path = submission(tmp_path / "nosy" / f"{NAME}.ipynb", "raise ValueError(repr(x.tolist()))", [new_code_cell(nosy)])
    code = grading_main(["grade", str(path), "--solutions", str(root / "solutions"), "--out", str(tmp_path / "out"),
                         "--data", str(settings.data_root)])
    assert code == 0
    feedback = (tmp_path / "out" / "feedback" / "nosy" / f"{NAME}.html").read_text()
    verdicts = (tmp_path / "out" / "verdicts.json").read_text()
    assert "print(name, globals().get(name))" in feedback  # the student's own cell is there
    for secret in ("-7.5", "1e+300", "1e300", "probe.record", "probe.forbid", "multiply", "rtol", "atol"):
        assert secret not in feedback and secret not in verdicts, secret
    assert "your code raised ValueError" in verdicts


def test_cells_added_after_a_check_or_a_skipped_cell_keep_their_place(course, tmp_path):
    _, settings = course
    helper = new_code_cell("def shift():\n    return 0.0")

    def place_after_check(nb):
        check = next(i for i, cell in enumerate(nb.cells) if cell.source.startswith("# CHECK 1.1"))
        nb.cells.insert(check + 1, helper)
        noise = next(cell for cell in nb.cells if cell.source.startswith("def noise"))
        noise.source = noise.source.replace(STUB, "return torch.randn(3, generator=torch.Generator().manual_seed(seed)) + shift()")
    assert points(submission(tmp_path / "after" / f"{NAME}.ipynb", ANSWER, mutate=place_after_check), settings) == \
        {"1.1": 2, "1.2": 1}


# ---------------------------------------------------------------- one submission cannot harm another

def test_a_submission_that_takes_every_process_slot_harms_no_classmate(course, tmp_path):
    """Limits count per submission: each run has a user of its own."""
    _, settings = course
    hog = ("import threading, time\nthreads = []\ntry:\n    while True:\n"
           "        thread = threading.Thread(target=time.sleep, args=(25,), daemon=True)\n"
           "        thread.start()\n        threads.append(thread)\nexcept RuntimeError:\n    pass\n"
           "print('threads', len(threads))\ntime.sleep(20)")
    submission(tmp_path / "class" / "abe" / f"{NAME}.ipynb", extra=[new_code_cell(hog)])  # graded first
    threaded_noise = ("from concurrent.futures import ThreadPoolExecutor\n    with ThreadPoolExecutor(1) as pool:\n"
                      "        return pool.submit(torch.randn, 3, generator=torch.Generator().manual_seed(seed)).result()")

    def answer_noise_with_a_thread(nb):  # honest code that needs a thread of its own
        cell = next(cell for cell in nb.cells if cell.source.startswith("def noise"))
        cell.source = cell.source.replace(STUB, threaded_noise)
    for name in ("ann", "ben", "cai"):
        submission(tmp_path / "class" / name / f"{NAME}.ipynb", ANSWER, mutate=answer_noise_with_a_thread)
    results = batch.grade_all([tmp_path / "class"], settings, tmp_path / "out", jobs=2, echo=lambda line: None)
    scores = {r["student"]: report.score(r)[0] for r in results}
    assert scores == {"abe": 0, "ann": 3, "ben": 3, "cai": 3}, results


def test_the_sandbox_folders_are_capped(course, tmp_path):
    _, settings = course
    filler = ("for folder in ('/tmp', '/submission'):\n    written = 0\n    try:\n"
              "        with open(folder + '/big', 'wb') as file:\n            for _ in range(2048):\n"
              "                file.write(bytes(2**20))\n                file.flush()\n                written += 1\n"
              "    except OSError:\n        pass\n    print(folder, written)")
    result, executed, _ = grade.grade_file(submission(tmp_path / "fill" / f"{NAME}.ipynb", ANSWER,
                                                      [new_code_cell(filler)]), settings)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    sizes = dict(line.split() for line in printed.strip().splitlines())
    assert set(sizes) == {"/tmp", "/submission"}
    assert all(int(size) <= settings.limits.folder_bytes // 2**20 for size in sizes.values()), sizes
    assert report.score(result)[0] == 2


def test_a_sandbox_that_does_not_start_is_an_error_and_a_nonzero_exit(course, tmp_path, monkeypatch, capsys):
    root, settings = course
    path = submission(tmp_path / "s" / f"{NAME}.ipynb", ANSWER)
    grade.reference_results(NAME, settings)
    monkeypatch.setattr("grading.execute.START_SECONDS", 0.5)
    monkeypatch.setattr("grading.execute._command", lambda *args: [sys.executable, "-c", "import time; time.sleep(5)"])
    code = grading_main(["grade-one", str(path), "--solutions", str(root / "solutions"), "--out", str(tmp_path / "out"),
                         "--data", str(settings.data_root)])
    out = capsys.readouterr().out
    assert code == 1 and "the sandbox did not start" in out


def test_values_the_judge_cannot_compare_fail_their_label_without_a_crash():
    reference = {"values": {"1.1": {"v": {"shape": [2], "data": [1.0, 2.0]}}},
                 "judges": {"1.1": {"v": {"judge": "close", "rtol": 1e-9, "atol": 1e-12, "target": None},
                                    "m": {"judge": "accuracy", "min_accuracy": 0.5, "rtol": 0, "atol": 0}}}}
    test_data = (np.zeros((4, 784)), np.zeros(4, dtype=int))
    nested: list = []
    for _ in range(50_000):
        nested = [nested]
    for recorded_value, model in [({"shape": [2], "data": [10**400, 1]}, None),
                                  ({"shape": [2], "data": nested}, None),
                                  ({"shape": [2], "data": [1.0, 2.0]},
                                   {"dict": {"weight": {"shape": [784, 10], "data": [0.0] * 7840},
                                             "bias": {"shape": [10], "data": [0.0] * 10},
                                             "mean": {"shape": [3], "data": [0.0] * 3}}})]:
        recorded = {"values": {"1.1": {"v": recorded_value, "m": model}}}
        verdict, = judge.verdicts({"1.1": 2}, reference, recorded, [], None, test_data)
        assert verdict.points == 0 and verdict.status


def test_the_reference_cache_follows_what_the_values_depend_on(course, tmp_path, monkeypatch):
    root, settings = course
    solution = root / "solutions" / f"{NAME}.ipynb"
    other_limits = grade.Settings(**{**settings.__dict__, "limits": Limits(cell_seconds=21, notebook_seconds=60)})
    before = grade.fingerprint(solution, settings)
    assert before != grade.fingerprint(solution, other_limits)
    monkeypatch.setattr("torch.__version__", "0.0.0-elsewhere")
    assert grade.fingerprint(solution, settings) != before


def test_a_broken_solution_runs_once_and_every_submission_says_so(tmp_path, real_root, monkeypatch):
    (tmp_path / "solutions").mkdir()
    broken = reference_notebook()
    broken.cells[1].source = "import torch\nSCALE = 1 / 0"
    nbformat.write(broken, tmp_path / "solutions" / f"{NAME}.ipynb")
    settings = grade.Settings(data_root=real_root, solutions_dir=tmp_path / "solutions", cache_dir=tmp_path / "cache",
                              limits=Limits(cell_seconds=20, notebook_seconds=60))
    runs = []
    real_execute = grade._execute
    monkeypatch.setattr(grade, "_execute", lambda *args: runs.append(1) or real_execute(*args))
    for student in ("ann", "ben"):
        result, _, _ = grade.grade_file(submission(tmp_path / student / f"{NAME}.ipynb", ANSWER), settings)
        assert "the reference is broken" in result["error"] and "ZeroDivisionError" in result["error"]
    assert len(runs) == 1  # the solution ran once; neither submission ran against a broken reference
