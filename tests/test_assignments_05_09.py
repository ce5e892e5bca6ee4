"""Assignments 05-09: each plausible wrong answer scores 0 on its question through the grader,
other correct answers keep their points, and the student copies show none of the answers the
assignments issue listed.

A round copies a solution, swaps answer cells (by cell id) for plausible wrong answers, and
grades the copy through the whole sandboxed path (``grading.grade.grade_file``): the grader
takes the answer cells from the copy and everything else from the solution, runs the hidden
probes, and judges what they recorded against the solution's recordings. Answers that change
different cells of one notebook share a round (one kernel instead of several).
"""

from __future__ import annotations

import functools
from pathlib import Path

import nbformat
import pytest

from grading import notebook
from grading.generate import EXERCISES_DIR, SOLUTIONS_DIR
from grading.grade import Settings, grade_file


# The rest of a block code (8.3), the same in every case that changes only block_bits.
BLOCK_CODE_REST = """

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
"""

NOTEBOOKS = {
    "05": "05_exponential_family", "06": "06_log_partition", "07": "07_numerical_limits",
    "08": "08_information_codes", "09": "09_bradley_terry",
}


# ---------------------------------------------------------------- plausible wrong answers

WRONG_ANSWERS = {  # name: (assignment, answer cell id, question it must lose, the wrong answer cell)
    # 05: closed forms where autograd is asked for, a covariance that never samples, wrong covariances
    "05 loss_hessian from the closed form instead of autograd": ("05", "fc7cb5fb", "5.1", """
def loss_hessian(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(o, dim=-1)
    return torch.diag(p) - torch.outer(p, p)
"""),
    "05 loss_hessian from the closed form with the scale read off F.cross_entropy": ("05", "fc7cb5fb", "5.1", """
def loss_hessian(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    c = torch.log(torch.expm1(F.cross_entropy(torch.tensor([1.0, 0.0]), torch.tensor(1))))  # loss(c o) at o = (1, 0)
    p = torch.softmax(c * o, dim=-1)
    return c ** 2 * (torch.diag(p) - torch.outer(p, p))
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
    "05 second_derivative_along from the variance with the scale read off F.cross_entropy": ("05", "32304e99", "5.3", """
def second_derivative_along(o: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    c = torch.log(torch.expm1(F.cross_entropy(torch.tensor([1.0, 0.0]), torch.tensor(1))))
    return c ** 2 * variance_of(v, torch.softmax(c * o, dim=-1))


def variance_of(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    mean = (p * v).sum()
    return (p * (v - mean) ** 2).sum()
"""),
    "05 variance_of through the autograd second derivative": ("05", "32304e99", "5.3", """
def second_derivative_along(o: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    t = torch.zeros((), requires_grad=True)
    (first,) = torch.autograd.grad(F.cross_entropy(o + t * v, y), t, create_graph=True)
    (second,) = torch.autograd.grad(first, t)
    return second


def variance_of(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return second_derivative_along(torch.log(p), torch.tensor(0), v)
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
    "05 sampled_covariance is the exact covariance plus seeded noise of 1e-6": ("05", "3ec067a6", "5.4", """
def sampled_covariance(p: torch.Tensor, n: int) -> torch.Tensor:
    noise = 1e-6 * torch.randn(len(p), len(p), dtype=p.dtype)
    return torch.diag(p) - torch.outer(p, p) + (noise + noise.T) / 2
"""),
    "05 sampled_covariance does not centre the one-hot rows": ("05", "3ec067a6", "5.4", """
def sampled_covariance(p: torch.Tensor, n: int) -> torch.Tensor:
    rows = F.one_hot(torch.multinomial(p, n, replacement=True), num_classes=len(p)).to(p.dtype)
    return rows.T @ rows / n
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
    "06 hessian_eigenvalues closed form with the scale read off torch.logsumexp": ("06", "60c0b98a", "6.3", '''
def hessian_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros(2, dtype=torch.float64)
    c = torch.log(torch.tensor(2.0, dtype=torch.float64)) / torch.logsumexp(zeros, dim=-1)  # g_c(0, 0) = log(2) / c
    p = torch.softmax(c * x, dim=-1)
    return torch.linalg.eigvalsh(c * (torch.diag(p) - torch.outer(p, p)))
'''),
    "06 hessian_eigenvalues from fourth-order differences of torch.logsumexp": ("06", "60c0b98a", "6.3", '''
def hessian_eigenvalues(x: torch.Tensor, h: float = 4e-3) -> torch.Tensor:
    g = lambda z: torch.logsumexp(z, dim=-1)
    e = h * torch.eye(len(x), dtype=x.dtype)
    first = {-2: 1, -1: -8, 1: 8, 2: -1}  # d/dx_i, times 12 h
    second = {-2: -1, -1: 16, 0: -30, 1: 16, 2: -1}  # d^2/dx_i^2, times 12 h^2
    H = torch.empty(len(x), len(x), dtype=x.dtype)
    for i in range(len(x)):
        H[i, i] = sum(w * g(x + s * e[i]) for s, w in second.items()) / (12 * h * h)
        for j in range(i):
            H[i, j] = H[j, i] = sum(a * b * g(x + s * e[i] + t * e[j])
                                    for s, a in first.items() for t, b in first.items()) / (144 * h * h)
    return torch.linalg.eigvalsh(H)
'''),
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

""" + BLOCK_CODE_REST),
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
}

CORRECT_ANSWERS = {  # name: (assignment, answer cell id, question it must keep, another correct answer cell)
    "05 loss_hessian with torch.func.hessian": ("05", "fc7cb5fb", "5.1", """
def loss_hessian(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.func.hessian(lambda z: F.cross_entropy(z, y))(o)
"""),
    "05 second_derivative_along as v H v from the autograd Hessian": ("05", "32304e99", "5.3", """
def second_derivative_along(o: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return v @ torch.autograd.functional.hessian(lambda z: F.cross_entropy(z, y), o) @ v


def variance_of(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (p * v ** 2).sum() - (p * v).sum() ** 2
"""),
    "05 sampled_covariance with torch.cov (divides by n - 1)": ("05", "3ec067a6", "5.4", """
def sampled_covariance(p: torch.Tensor, n: int) -> torch.Tensor:
    rows = F.one_hot(torch.multinomial(p, n, replacement=True), num_classes=len(p)).to(p.dtype)
    return torch.cov(rows.T)
"""),
    "06 hessian_eigenvalues with torch.func.hessian of the Tensor method": ("06", "60c0b98a", "6.3", '''
def hessian_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvalsh(torch.func.hessian(lambda z: z.logsumexp(-1))(x))
'''),
}
CASES = {**WRONG_ANSWERS, **CORRECT_ANSWERS}


# Answers run together when they change different cells of one notebook; a question may also
# fail because it calls a function that a wrong answer replaced.
ROUNDS = [
    ["05 loss_hessian from the closed form instead of autograd",
     "05 softmax_covariance leaves out the product of the means",
     "05 second_derivative_along from the variance instead of autograd",
     "05 sampled_covariance returns the exact covariance without sampling"],
    ["05 softmax_covariance through the Hessian of 5.1",
     "05 variance_of forgets to subtract the mean",
     "05 sampled_covariance does not centre the one-hot rows",
     "05 loss_hessian from the closed form with the scale read off F.cross_entropy"],
    ["05 second_derivative_along from the variance with the scale read off F.cross_entropy",
     "05 sampled_covariance is the exact covariance plus seeded noise of 1e-6",
     "05 loss_hessian with torch.func.hessian"],
    ["05 second_derivative_along as v H v from the autograd Hessian",
     "05 sampled_covariance with torch.cov (divides by n - 1)"],
    ["06 log_partition_stable shifts by the global max",
     "06 hessian_eigenvalues from the closed form instead of autograd"],
    ["06 log_partition_stable calls torch.logsumexp",
     "06 hessian_eigenvalues closed form spelled without softmax, diag or outer"],
    ["06 log_partition_stable hides torch.logsumexp in a helper",
     "06 hessian_eigenvalues closed form with the scale read off torch.logsumexp"],
    ["06 hessian_eigenvalues from fourth-order differences of torch.logsumexp"],
    ["05 variance_of through the autograd second derivative"],
    ["06 hessian_eigenvalues with torch.func.hessian of the Tensor method"],
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
DEPENDENT = {"7.1": {"7.2", "7.3", "7.4"}, "9.5": {"9.6"}}  # questions whose functions call these


@pytest.fixture(scope="module")
def settings(grading_settings):
    return grading_settings


def questions_lost(index: int, settings: Settings, folder: Path) -> frozenset:
    """The questions that score 0 when round ``index``'s wrong answers are graded."""
    cases = [CASES[case] for case in ROUNDS[index]]
    (number,) = {case[0] for case in cases}
    swaps = {cell_id: source.strip("\n") for _, cell_id, _, source in cases}
    nb = notebook.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb")
    for cell in nb.cells:
        if cell.get("id") in swaps:
            assert notebook.has_solution(cell), f"cell {cell.id} of {number} is not an answer cell"
            cell.source = swaps.pop(cell.id)
    assert not swaps, f"no cells with ids {sorted(swaps)} in {number}"
    path = folder / f"{NOTEBOOKS[number]}.ipynb"
    nbformat.write(nb, path)
    result, _, _ = grade_file(path, settings)
    assert result["error"] is None and result["stopped"] is None, result["error"] or result["stopped"]
    return frozenset(v["question"] for v in result["verdicts"] if v["points"] < v["max_points"])


@pytest.fixture(scope="module")
def failed_in_round(settings, tmp_path_factory):
    """``round index -> questions that scored 0``, each round graded once."""
    @functools.lru_cache(maxsize=None)
    def lost(index: int) -> frozenset:
        return questions_lost(index, settings, tmp_path_factory.mktemp(f"round_{index}"))
    return lost


def test_every_answer_runs_in_one_round():
    assert not set(WRONG_ANSWERS) & set(CORRECT_ANSWERS)
    assert sorted(case for cases in ROUNDS for case in cases) == sorted(CASES)
    for cases in ROUNDS:
        cells = [CASES[case][1] for case in cases]
        assert len(cells) == len(set(cells)), f"a round changes one cell twice: {cases}"
        assert len({CASES[case][0] for case in cases}) == 1, f"a round mixes notebooks: {cases}"


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_wrong_answer_scores_zero_on_its_question(case, failed_in_round):
    question = WRONG_ANSWERS[case][2]
    index = next(i for i, cases in enumerate(ROUNDS) if case in cases)
    failed = failed_in_round(index)
    assert question in failed, f"{case}: question {question} still scores"
    allowed = set()
    for other in (case for case in ROUNDS[index] if case in WRONG_ANSWERS):
        targeted = WRONG_ANSWERS[other][2]
        allowed |= {targeted} | DEPENDENT.get(targeted, set())
    assert failed <= allowed, f"{case}: questions it does not target score 0 too: {sorted(failed - allowed)}"


@pytest.mark.parametrize("case", sorted(CORRECT_ANSWERS))
def test_correct_variant_keeps_its_points(case, failed_in_round):
    question = CORRECT_ANSWERS[case][2]
    index = next(i for i, cases in enumerate(ROUNDS) if case in cases)
    assert question not in failed_in_round(index), f"{case}: a correct answer loses question {question}"


# ---------------------------------------------------------------- what the student copy shows

LEAKS = {  # answers (and the expressions the issue found) that no student copy may show
    "05": ["torch.diag(p) - torch.outer(p, p)", "diag(p) - p", "outer(p, p)", "p_i \\delta_{ij} - p_i p_j",
           "p @ v ** 2", "(p * v ** 2).sum()", "(v - mean) ** 2", "hessian(lambda z: F.cross_entropy"],
    "06": ["hessian(lambda z: torch.logsumexp", "eigvalsh(torch.diag", "max(dim=-1, keepdim=True)", "b = max(x)",
           "diag(p) - p"],
    "07": ["torch.exp(logits) / torch.exp(logits).sum()", "e / e.sum(", "ref = lambda"],
    "08": ["bit_length", "3 ** trits < count", "math.log2(x) for x in p"],
    "09": ["F.logsigmoid(differences)", "softmax(torch.stack([s_i, s_j]", "scores -= scores.mean()"],
}


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_student_copy_shows_none_of_the_listed_answers(number):
    exercise = notebook.read(EXERCISES_DIR / f"{NOTEBOOKS[number]}.ipynb")
    text = "\n".join(cell.source for cell in exercise.cells)
    shown = [leak for leak in LEAKS[number] if leak in text]
    assert not shown, f"exercises/{NOTEBOOKS[number]}.ipynb shows {shown}"


# ================================================================ 08 and 09: what the prompts ask, both ways
# (kept in one block at the end of the file, apart from the cases above, to ease merging)

import subprocess  # noqa: E402
import sys  # noqa: E402

# Wrong answers that the probes once took: each must lose exactly its question. They join ROUNDS,
# so `failed_in_round` grades each round once.
WRONG_ANSWERS_08_09 = {
    "08 entropy_bits never checks for negative entries": ("08", "a08-answer-entropy", "8.4", """
def entropy_bits(p) -> float:
    p = [float(x) for x in p]
    if abs(math.fsum(p) - 1) > 1e-9:
        raise ValueError(f"p must add up to 1, got {p}")
    return -math.fsum(x * math.log2(x) for x in p if x > 0)
"""),
    "08 block_bits from a float logarithm": ("08", "a08-answer-block", "8.3", """
def block_bits(n: int) -> int:
    if n < 1:
        raise ValueError("a block holds at least one symbol")
    return math.ceil(n * math.log2(3))

""" + BLOCK_CODE_REST),
    "09 logistic as exp(d) / (1 + exp(d)) (nan at d = 1000)": ("09", "a09-answer-two-way", "9.1", """
def two_way_softmax(s_i: torch.Tensor, s_j: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.stack([s_i, s_j], dim=-1), dim=-1)[..., 0]


def logistic(d: torch.Tensor) -> torch.Tensor:
    return torch.exp(d) / (1 + torch.exp(d))
"""),
    "09 three_way_probabilities stacks on dim 0 and transposes (wrong for 2-D batches)": (
        "09", "a09-answer-three-way", "9.3", """
def three_way_probabilities(s_i: torch.Tensor, s_j: torch.Tensor, s_neither: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.stack([s_i, s_j, s_neither]), 0).T
"""),
}
ROUNDS_08_09 = [
    ["08 entropy_bits never checks for negative entries", "08 block_bits from a float logarithm"],
    ["09 logistic as exp(d) / (1 + exp(d)) (nan at d = 1000)",
     "09 three_way_probabilities stacks on dim 0 and transposes (wrong for 2-D batches)"],
]
WRONG_ANSWERS.update(WRONG_ANSWERS_08_09)
CASES.update(WRONG_ANSWERS_08_09)
ROUNDS.extend(ROUNDS_08_09)


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS_08_09))
def test_08_09_wrong_answer_scores_zero_on_its_question(case, failed_in_round):
    test_wrong_answer_scores_zero_on_its_question(case, failed_in_round)


# Other correct answers: full marks from the grader, and every visible check passes on them.
CORRECT_VARIANTS_08_09 = {  # name: (assignment, answer cell id, the answer cell)
    "08 block code through bin() and int(..., 3)": ("08", "a08-answer-block", """
def block_bits(n: int) -> int:
    if n < 1:
        raise ValueError("a block holds at least one symbol")
    return len(bin(3 ** n - 1)) - 2


def bits_per_symbol(n: int) -> float:
    return block_bits(n) / n


def encode_block(digits: list) -> str:
    if not digits or set(digits) - {0, 1, 2}:
        raise ValueError("a block is a non-empty list of the digits 0, 1, 2")
    return format(int("".join(map(str, digits)), 3), f"0{block_bits(len(digits))}b")


def decode_block(bits: str, n: int) -> list:
    number = int(bits, 2)
    return [number // 3 ** power % 3 for power in reversed(range(n))]
"""),
    "08 entropy_bits that checks the smallest entry first": ("08", "a08-answer-entropy", """
def entropy_bits(p) -> float:
    p = list(p)
    if min(p) < 0:
        raise ValueError(f"a probability cannot be negative: {p}")
    if abs(sum(p) - 1) > 1e-9:
        raise ValueError(f"probabilities add up to 1, these to {sum(p)}")
    return sum(-x * math.log2(x) for x in p if x > 0)
"""),
    "09 logistic as the two-way softmax against 0": ("09", "a09-answer-two-way", """
def two_way_softmax(s_i: torch.Tensor, s_j: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.stack([s_i, s_j], dim=-1), dim=-1)[..., 0]


def logistic(d: torch.Tensor) -> torch.Tensor:
    return two_way_softmax(d, torch.zeros_like(d))
"""),
    "09 three_way_probabilities stacks on dim 0 and moves it last": ("09", "a09-answer-three-way", """
def three_way_probabilities(s_i: torch.Tensor, s_j: torch.Tensor, s_neither: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.stack([s_i, s_j, s_neither]), 0).movedim(0, -1)
"""),
    "09 fit_scores centred once, at the end": ("09", "a09-answer-fit", """
def fit_scores(wins: torch.Tensor, steps: int = 500, lr: float = 2.0) -> torch.Tensor:
    scores = torch.zeros(len(wins), requires_grad=True)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(-log_likelihood(scores, wins) / wins.sum(), scores)
        with torch.no_grad():
            scores -= lr * gradient
    scores = scores.detach()
    return scores - scores.mean()
"""),
    # the gradient sums to 0 over the players, so from all zeros the mean stays 0 without centring
    "09 fit_scores from zeros, never centred": ("09", "a09-answer-fit", """
def fit_scores(wins: torch.Tensor, steps: int = 500, lr: float = 2.0) -> torch.Tensor:
    scores = torch.zeros(len(wins), requires_grad=True)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(-log_likelihood(scores, wins) / wins.sum(), scores)
        with torch.no_grad():
            scores -= lr * gradient
    return scores.detach()
"""),
}
CORRECT_ROUNDS_08_09 = [
    ["08 block code through bin() and int(..., 3)", "08 entropy_bits that checks the smallest entry first"],
    ["09 logistic as the two-way softmax against 0", "09 three_way_probabilities stacks on dim 0 and moves it last",
     "09 fit_scores centred once, at the end"],
    ["09 fit_scores from zeros, never centred"],
]


def _with_variants(cases: list[str]):
    """(assignment number, the solution with these correct variants in its answer cells)."""
    (number,) = {CORRECT_VARIANTS_08_09[case][0] for case in cases}
    swaps = {CORRECT_VARIANTS_08_09[case][1]: CORRECT_VARIANTS_08_09[case][2].strip("\n") for case in cases}
    nb = notebook.read(SOLUTIONS_DIR / f"{NOTEBOOKS[number]}.ipynb")
    for cell in nb.cells:
        if cell.get("id") in swaps:
            assert notebook.has_solution(cell), f"cell {cell.id} of {number} is not an answer cell"
            cell.source = swaps.pop(cell.id)
    assert not swaps, f"no cells with ids {sorted(swaps)} in {number}"
    return number, nb


def test_08_09_every_correct_variant_runs_in_one_round():
    assert sorted(case for cases in CORRECT_ROUNDS_08_09 for case in cases) == sorted(CORRECT_VARIANTS_08_09)


@pytest.mark.parametrize("cases", CORRECT_ROUNDS_08_09, ids=lambda cases: " + ".join(cases))
def test_08_09_correct_variants_keep_full_marks(cases, settings, tmp_path):
    number, nb = _with_variants(cases)
    path = tmp_path / f"{NOTEBOOKS[number]}.ipynb"
    nbformat.write(nb, path)
    result, _, _ = grade_file(path, settings)
    assert result["error"] is None and result["stopped"] is None, result["error"] or result["stopped"]
    lost = {v["question"]: v["status"] for v in result["verdicts"] if v["points"] < v["max_points"]}
    assert not lost, f"{cases} lose {lost}"


@pytest.mark.parametrize("cases", CORRECT_ROUNDS_08_09, ids=lambda cases: " + ".join(cases))
def test_08_09_visible_checks_pass_correct_variants(cases, tmp_path):
    """A check that fails correct code misleads as much as one that passes wrong code."""
    _, nb = _with_variants(cases)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code" and not cell.source.startswith("# PROBE")]
    script = tmp_path / "checks.py"
    script.write_text("\n\n".join(code), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, f"{cases}: a visible check fails\n{run.stderr[-2000:]}"
