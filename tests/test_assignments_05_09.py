"""Assignments 05-09: the hidden probes catch each listed wrong answer; the student copies leak nothing.

Each wrong-answer case copies a solution, swaps one answer cell for a plausible wrong answer, and
runs the notebook the way the grader does: ``# CHECK`` and ``# SKIP WHEN GRADING`` cells dropped,
``# PROBE`` cells kept, an error in one cell does not stop the run, and a last cell saves what
the probes recorded. The recordings are then judged against those of the unchanged solution
(judges as documented in ``grading.probe``), and the forbidden names are looked for in the
student's functions.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import math
import os
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = ROOT / "solutions"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DROPPED = ("# CHECK", "# SKIP WHEN GRADING")
NOTEBOOKS = {
    "05": "05_exponential_family", "06": "06_log_partition", "07": "07_numerical_limits",
    "08": "08_information_codes", "09": "09_bradley_terry",
}


# ---------------------------------------------------------------- running like the grader

def first_line(cell) -> str:
    return cell.source.split("\n", 1)[0].strip()


def graded_copy(number: str, swaps: dict[str, str] | None = None):
    """The solution as the grader runs it, with answer cells (by id) replaced by ``swaps``."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb", as_version=4)
    swaps = dict(swaps or {})
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and first_line(cell).startswith(DROPPED):
            continue
        if cell.get("id") in swaps:
            assert BEGIN in cell.source, f"cell {cell.id} of {number} is not an answer cell"
            cell = copy.deepcopy(cell)
            cell.source = swaps.pop(cell.id)
        cells.append(cell)
    assert not swaps, f"no answer cells with ids {sorted(swaps)} in {number}"
    nb.cells = cells
    return nb


def run_probes(nb) -> dict:
    """Execute ``nb`` in a fresh kernel in a scratch folder and return what its probes recorded."""
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "probe_results.json"
        nb = copy.deepcopy(nb)
        nb.cells.append(nbformat.v4.new_code_cell(f"probe.save({str(results)!r})"))
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": folder}})
        client.execute(env=dict(os.environ))
        assert results.exists(), "the probes' results were not saved (did the PROBE SETUP cell run?)"
        return json.loads(results.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def reference(number: str) -> dict:
    """What the probes record on the unchanged solution (run once per test session)."""
    return run_probes(graded_copy(number))


# ---------------------------------------------------------------- judging (as grading.probe documents)

def flat(value: dict) -> tuple[list, list]:
    return value.get("shape"), value.get("data")


def within(got: float, want: float, rtol: float, atol: float) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):
        return got == want
    if math.isnan(want) or math.isinf(want):
        return (math.isnan(want) and math.isnan(got)) or got == want
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


def close(got: dict, want: dict, rtol: float, atol: float) -> bool:
    if "text" in want or "text" in got:
        return got == want
    if "dict" in want or "dict" in got:
        return (set(got.get("dict", {})) == set(want.get("dict", {}))
                and all(close(got["dict"][k], want["dict"][k], rtol, atol) for k in want["dict"]))
    (got_shape, got_data), (want_shape, want_data) = flat(got), flat(want)
    return got_shape == want_shape and all(within(g, w, rtol, atol) for g, w in zip(got_data, want_data))


def label_passes(rule: dict, label: str, student_values: dict, reference_values: dict) -> bool:
    if label not in student_values:
        return False
    value = student_values[label]
    if rule["judge"] == "equal":
        return value == reference_values[label]
    if rule["judge"] == "close":
        return close(value, reference_values[rule["target"] or label], rule["rtol"], rule["atol"])
    if rule["judge"] == "differs":
        other = student_values.get(rule["target"])
        return other is not None and not close(value, other, 0.0, rule["atol"])
    if rule["judge"] == "range":
        _, data = flat(value)
        return bool(data) and all(isinstance(x, (int, float)) and math.isfinite(x)
                                  and rule["low"] <= x <= rule["high"] for x in data)
    raise AssertionError(f"this test does not judge {rule['judge']!r}")


def names_used(nb, function: str) -> set[str]:
    """Every name and attribute in ``function`` and in the notebook's functions it calls."""
    definitions = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or first_line(cell).startswith("# PROBE"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                definitions[node.name] = node
    seen, names, todo = set(), set(), [function]
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        for node in ast.walk(definitions[name]):
            if isinstance(node, ast.Name):
                names.add(node.id)
                todo.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def failed_questions(nb, student: dict, ref: dict) -> set[str]:
    """Questions for which some label the reference recorded fails, or a forbidden name is used."""
    failed = set()
    for question, rules in ref["judges"].items():
        values = student["values"].get(question, {})
        for label, rule in rules.items():
            if not label_passes(rule, label, values, ref["values"][question]):
                failed.add(question)
    for question, rules in ref["forbidden"].items():
        for rule in rules:
            if names_used(nb, rule["function"]) & set(rule["names"]):
                failed.add(question)
    return failed


# ---------------------------------------------------------------- the solutions themselves

@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_solution_passes_its_own_probes(number):
    ref = reference(number)
    assert ref["values"], f"assignment {number} records nothing"
    assert failed_questions(graded_copy(number), ref, ref) == set()


# ---------------------------------------------------------------- plausible wrong answers

WRONG_ANSWERS = {
    # 08: codes that lose information, float logarithms where integers are exact, wrong units
    "08 encode puts a space between codewords": ("08", "a08-answer-codec", "8.1", """
def encode(message, code: dict) -> str:
    return " ".join(code[symbol] for symbol in message)


def decode(bits: str, code: dict) -> list:
    symbol_of = {word: symbol for symbol, word in code.items()}
    return [symbol_of[word] for word in bits.split()]
"""),
    "08 block width as whole bits per symbol (2 bits each)": ("08", "a08-answer-block", "8.3", """
def block_bits(n: int) -> int:
    return 2 * n


def bits_per_symbol(n: int) -> float:
    return block_bits(n) / n


def encode_block(digits: list) -> str:
    number = 0
    for digit in digits:
        number = 3 * number + digit
    return format(number, f"0{block_bits(len(digits))}b")


def decode_block(bits: str, n: int) -> list:
    number, digits = int(bits, 2), []
    for _ in range(n):
        number, digit = divmod(number, 3)
        digits.append(digit)
    return digits[::-1]
"""),
    "08 entropy in nats instead of bits": ("08", "a08-answer-entropy", "8.4", """
def entropy_bits(p) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)
"""),
    "08 trits_needed from a float logarithm": ("08", "a08-answer-pam3", "8.6", """
def trits_needed(count: int) -> int:
    if count < 1:
        raise ValueError("count must be at least 1")
    return math.ceil(math.log2(count) / math.log2(3))


def pam3_encode(value: int, k: int) -> list:
    if not 0 <= value < 3 ** k:
        raise ValueError("value out of range")
    levels = []
    for _ in range(k):
        value, digit = divmod(value, 3)
        levels.append(digit - 1)
    return levels[::-1]


def pam3_decode(levels: list) -> int:
    if any(level not in (-1, 0, 1) for level in levels):
        raise ValueError("bad level")
    value = 0
    for level in levels:
        value = 3 * value + level + 1
    return value
"""),
    # 09: overflow in the two-way softmax, "neither" left out of the normalisation, log(0), no centring
    "09 two_way_softmax from exp without the max trick": ("09", "a09-answer-two-way", "9.1", """
def two_way_softmax(s_i: torch.Tensor, s_j: torch.Tensor) -> torch.Tensor:
    return torch.exp(s_i) / (torch.exp(s_i) + torch.exp(s_j))


def logistic(d: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-d))
"""),
    "09 three_way_probabilities keeps the two-way probabilities for i and j": ("09", "a09-answer-three-way", "9.3", """
def three_way_probabilities(s_i: torch.Tensor, s_j: torch.Tensor, s_neither: torch.Tensor) -> torch.Tensor:
    p_i = torch.sigmoid(s_i - s_j)
    p_neither = torch.sigmoid(s_neither - torch.maximum(s_i, s_j))
    return torch.stack([p_i * (1 - p_neither), (1 - p_i) * (1 - p_neither), p_neither], dim=-1)
"""),
    "09 log_likelihood as log(sigmoid) (log 0 = -inf)": ("09", "a09-answer-likelihood", "9.5", """
def log_likelihood(scores: torch.Tensor, wins: torch.Tensor) -> torch.Tensor:
    return (wins * torch.log(torch.sigmoid(scores[:, None] - scores[None, :]))).sum()
"""),
    "09 fit_scores from random scores, not centred": ("09", "a09-answer-fit", "9.6", """
def fit_scores(wins: torch.Tensor, steps: int = 500, lr: float = 2.0) -> torch.Tensor:
    scores = torch.randn(len(wins), requires_grad=True)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(-log_likelihood(scores, wins) / wins.sum(), scores)
        with torch.no_grad():
            scores -= lr * gradient
    return scores.detach()
"""),
    "09 fit_scores stops after 20 steps": ("09", "a09-answer-fit", "9.6", """
def fit_scores(wins: torch.Tensor, steps: int = 500, lr: float = 2.0) -> torch.Tensor:
    scores = torch.zeros(len(wins), requires_grad=True)
    for _ in range(20):
        (gradient,) = torch.autograd.grad(-log_likelihood(scores, wins) / wins.sum(), scores)
        with torch.no_grad():
            scores -= lr * gradient
    return (scores - scores.mean()).detach()
"""),
    # 05: closed forms where autograd is asked for, a covariance that never samples, wrong covariances
    "05 loss_hessian from the closed form instead of autograd": ("05", "fc7cb5fb", "5.1", """
def loss_hessian(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(o, dim=-1)
    return torch.diag(p) - torch.outer(p, p)
"""),
    "05 softmax_covariance leaves out the product of the means": ("05", "218536e0", "5.2", """
def softmax_covariance(p: torch.Tensor) -> torch.Tensor:
    return torch.diag(p)
"""),
    "05 softmax_covariance through the Hessian of 5.1": ("05", "218536e0", "5.2", """
def softmax_covariance(p: torch.Tensor) -> torch.Tensor:
    return loss_hessian(torch.log(p), torch.tensor(0))
"""),
    "05 second_derivative_along from the variance instead of autograd": ("05", "32304e99", "5.3", """
def second_derivative_along(o: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return variance_of(v, torch.softmax(o, dim=-1))


def variance_of(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    mean = (p * v).sum()
    return (p * (v - mean) ** 2).sum()
"""),
    "05 variance_of forgets to subtract the mean": ("05", "32304e99", "5.3", """
def second_derivative_along(o: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    t = torch.zeros((), requires_grad=True)
    (first,) = torch.autograd.grad(F.cross_entropy(o + t * v, y), t, create_graph=True)
    (second,) = torch.autograd.grad(first, t)
    return second


def variance_of(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (p * v ** 2).sum()
"""),
    "05 sampled_covariance returns the exact covariance without sampling": ("05", "3ec067a6", "5.4", """
def sampled_covariance(p: torch.Tensor, n: int) -> torch.Tensor:
    return torch.diag(p) - torch.outer(p, p)
"""),
    "05 sampled_covariance does not centre the one-hot rows": ("05", "3ec067a6", "5.4", """
def sampled_covariance(p: torch.Tensor, n: int) -> torch.Tensor:
    rows = F.one_hot(torch.multinomial(p, n, replacement=True), num_classes=len(p)).to(p.dtype)
    return rows.T @ rows / n
"""),
    # 07: a bisection on Python floats, limits from formulas, a softmax with the max trick
    "07 last_good bisects Python floats, not the values of the format": ("07", "f0ff38a0", "7.1", """
def last_good(dtype: torch.dtype, good: float, bad: float, is_good) -> float:
    for step in range(200):
        middle = (good + bad) / 2
        if is_good(torch.tensor(middle, dtype=dtype)):
            good = middle
        else:
            bad = middle
    return good
"""),
    "07 exp limits from log(finfo.max) and log(finfo.tiny)": ("07", "520598fd", "7.2", """
def largest_safe_exp_argument(dtype: torch.dtype) -> float:
    return math.log(torch.finfo(dtype).max)


def smallest_safe_exp_argument(dtype: torch.dtype) -> float:
    return last_good(dtype, 0.0, -1000.0, lambda x: bool(torch.exp(x) > 0))
"""),
    "07 naive_softmax subtracts the maximum": ("07", "ca59fe05", "7.4", """
def naive_softmax(o: torch.Tensor) -> torch.Tensor:
    e = torch.exp(o - o.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def largest_safe_logit(dtype: torch.dtype, num_classes: int) -> float:
    def is_distribution(c: torch.Tensor) -> bool:
        p = torch.exp(c.repeat(num_classes))
        p = p / p.sum()
        return bool(torch.isfinite(p).all()) and abs(p.double().sum().item() - 1) < 0.01

    return last_good(dtype, 0.0, 1000.0, is_distribution)
"""),
    "07 largest_safe_logit from the formula log(max) - log(n)": ("07", "ca59fe05", "7.4", """
def naive_softmax(o: torch.Tensor) -> torch.Tensor:
    e = torch.exp(o)
    return e / e.sum(dim=-1, keepdim=True)


def largest_safe_logit(dtype: torch.dtype, num_classes: int) -> float:
    return math.log(torch.finfo(dtype).max) - math.log(num_classes)
"""),
    # 06: one b for the whole batch: row [0, 1] of [[1000, 999], [0, 1]] becomes 1000 + log(0) = -inf
    "06 log_partition_stable shifts by the global max": ("06", "940e5688", "6.2", '''
def log_partition_stable(x: torch.Tensor) -> torch.Tensor:
    b = x.max()
    return b + torch.log(torch.exp(x - b).sum(dim=-1))
'''),
    "06 log_partition_stable calls torch.logsumexp": ("06", "940e5688", "6.2", '''
def log_partition_stable(x: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(x, dim=-1)
'''),
    "06 log_partition_stable hides torch.logsumexp in a helper": ("06", "940e5688", "6.2", '''
def helper(x):
    return x.logsumexp(-1)


def log_partition_stable(x: torch.Tensor) -> torch.Tensor:
    return helper(x)
'''),
    "06 hessian_eigenvalues from the closed form instead of autograd": ("06", "60c0b98a", "6.3", '''
def hessian_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(x, dim=-1)
    return torch.linalg.eigvalsh(torch.diag(p) - torch.outer(p, p))
'''),
    "06 hessian_eigenvalues closed form spelled without softmax, diag or outer": ("06", "60c0b98a", "6.3", '''
def hessian_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    e = (x - x.max()).exp()
    p = e / e.sum()
    return torch.linalg.eigvalsh(torch.eye(len(x), dtype=x.dtype) * p - p[:, None] * p[None, :])
'''),
}


# Wrong answers run together when they change different cells of one notebook (one kernel per
# round instead of one per case); a question may also fail because it calls a wrong function.
ROUNDS = [
    ["05 loss_hessian from the closed form instead of autograd",
     "05 softmax_covariance leaves out the product of the means",
     "05 second_derivative_along from the variance instead of autograd",
     "05 sampled_covariance returns the exact covariance without sampling"],
    ["05 softmax_covariance through the Hessian of 5.1",
     "05 variance_of forgets to subtract the mean",
     "05 sampled_covariance does not centre the one-hot rows"],
    ["06 log_partition_stable shifts by the global max",
     "06 hessian_eigenvalues from the closed form instead of autograd"],
    ["06 log_partition_stable calls torch.logsumexp",
     "06 hessian_eigenvalues closed form spelled without softmax, diag or outer"],
    ["06 log_partition_stable hides torch.logsumexp in a helper"],
    ["07 last_good bisects Python floats, not the values of the format"],
    ["07 exp limits from log(finfo.max) and log(finfo.tiny)", "07 naive_softmax subtracts the maximum"],
    ["07 largest_safe_logit from the formula log(max) - log(n)"],
    ["08 encode puts a space between codewords", "08 block width as whole bits per symbol (2 bits each)",
     "08 entropy in nats instead of bits", "08 trits_needed from a float logarithm"],
    ["09 two_way_softmax from exp without the max trick",
     "09 three_way_probabilities keeps the two-way probabilities for i and j",
     "09 log_likelihood as log(sigmoid) (log 0 = -inf)"],
    ["09 fit_scores from random scores, not centred"],
    ["09 fit_scores stops after 20 steps"],
]
DEPENDENT = {"7.1": {"7.2", "7.3", "7.4"}, "9.5": {"9.6"}}  # questions whose functions call the named one


def round_of(case: str) -> int:
    (index,) = [i for i, cases in enumerate(ROUNDS) if case in cases]
    return index


@functools.lru_cache(maxsize=None)
def failed_in_round(index: int) -> frozenset:
    cases = [WRONG_ANSWERS[case] for case in ROUNDS[index]]
    (number,) = {case[0] for case in cases}
    nb = graded_copy(number, {cell_id: source.strip("\n") for _, cell_id, _, source in cases})
    return frozenset(failed_questions(nb, run_probes(nb), reference(number)))


def test_every_wrong_answer_runs_in_one_round():
    assert sorted(case for cases in ROUNDS for case in cases) == sorted(WRONG_ANSWERS)
    for cases in ROUNDS:
        cells = [WRONG_ANSWERS[case][1] for case in cases]
        assert len(cells) == len(set(cells)), f"a round changes one cell twice: {cases}"


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_wrong_answer_fails_its_question(case):
    number, cell_id, question, source = WRONG_ANSWERS[case]
    index = round_of(case)
    failed = failed_in_round(index)
    assert question in failed, f"{case}: question {question} still scores"
    allowed = set()
    for other in ROUNDS[index]:
        targeted = WRONG_ANSWERS[other][2]
        allowed |= {targeted} | DEPENDENT.get(targeted, set())
    assert failed <= allowed, f"{case}: questions it does not target fail too: {sorted(failed - allowed)}"


# ---------------------------------------------------------------- what the student copy shows

HIDDEN_CELL = ("# PROBE", "# SOLUTION ONLY", "<!-- SOLUTION ONLY -->")
LEAKS = {  # answers that must not appear anywhere a student can read them
    "05": ["torch.diag(p) - torch.outer(p, p)", "diag(p) - p", "outer(p, p)", "p_i \\delta_{ij} - p_i p_j",
           "p @ v ** 2", "(p * v ** 2).sum()", "(v - mean) ** 2", "hessian(lambda z: F.cross_entropy"],
    "06": ["hessian(lambda z: torch.logsumexp", "eigvalsh(torch.diag", "max(dim=-1, keepdim=True)", "b = max(x)",
           "diag(p) - p"],
    "07": ["torch.exp(logits) / torch.exp(logits).sum()", "e / e.sum(", "ref = lambda"],
    "08": ["bit_length", "3 ** trits < count", "math.log2(x) for x in p"],
    "09": ["F.logsigmoid(differences)", "softmax(torch.stack([s_i, s_j]", "scores -= scores.mean()"],
}


def student_view(number: str) -> str:
    """Every line a student can read: hidden cells dropped, answers cut out (as the generator does)."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb", as_version=4)
    lines = []
    for cell in nb.cells:
        if first_line(cell).startswith(HIDDEN_CELL):
            continue
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif not inside:
                lines.append(line)
    return "\n".join(lines)


def hidden_lines(number: str) -> set[str]:
    """Stripped lines of answers and hidden cells that a student must not see."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb", as_version=4)
    hidden = set()
    for cell in nb.cells:
        whole_cell_hidden = first_line(cell).startswith(HIDDEN_CELL) and not first_line(cell).startswith("# PROBE")
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif (inside or whole_cell_hidden) and len(line.strip()) > 12:
                hidden.add(line.strip())
    return hidden


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_student_view_leaks_no_answer(number):
    view = student_view(number)
    for leak in LEAKS[number]:
        assert leak not in view, f"{number}: the student copy shows {leak!r}"
    visible = {line.strip() for line in view.splitlines()}
    shown = sorted(hidden_lines(number) & visible)
    assert not shown, f"{number}: lines of answers or solution-only cells appear elsewhere: {shown}"


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_every_checked_question_has_a_probe(number):
    nb = nbformat.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb", as_version=4)
    heads = [first_line(cell) for cell in nb.cells if cell.cell_type == "code"]
    checked = {head.split()[2] for head in heads if head.startswith("# CHECK ")}
    probed = {head.split()[2] for head in heads if head.startswith("# PROBE ") and head != "# PROBE SETUP"}
    assert checked == probed, f"{number}: checked {sorted(checked)} but probed {sorted(probed)}"
    assert "# PROBE SETUP" in heads, f"{number} has no PROBE SETUP cell"
