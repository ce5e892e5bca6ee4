"""The static rule on forbidden functions (grading.forbid): attacks caught, honest code passed."""

import pytest

from grading.forbid import violations

RULE = ("real_softmax", ["logaddexp", "logsumexp"])
HONEST = """
def real_softmax(a, b):
    m = torch.maximum(a, b)
    return m + torch.log1p(torch.exp(-(a - b).abs()))
"""

ATTACKS = {
    "plain binding": ["import torch", "real_softmax = torch.logaddexp"],
    "module-level alias": ["lae = torch.logaddexp", "def real_softmax(a, b):\n    return lae(a, b)"],
    "lambda helper": ["helper = lambda a, b: torch.logaddexp(a, b)",
                      "def real_softmax(a, b):\n    return helper(a, b)"],
    "swapping decorator": ["def swap(f):\n    return torch.logaddexp",
                           "@swap\ndef real_softmax(a, b):\n    return torch.maximum(a, b)"],
    "wraps decorator": ["import functools",
                        "@functools.wraps(torch.logaddexp)\ndef real_softmax(a, b):\n    return a.__wrapped__(b)"],
    "getattr with concatenation": ["def real_softmax(a, b):\n    return getattr(torch, 'logadd' + 'exp')(a, b)"],
    "eval": ["def real_softmax(a, b):\n    return eval('torch.' + 'logadd' + 'exp')(a, b)"],
    "exec at module level": ["exec('real_softmax = torch.' + 'logadd' + 'exp')"],
    "importlib and attrgetter": ["import importlib, operator",
                                 "def real_softmax(a, b):\n    t = importlib.import_module('torch')\n"
                                 "    return operator.attrgetter('logadd' + 'exp')(t)(a, b)"],
    "builtins.eval": ["import builtins",
                      "def real_softmax(a, b):\n    return builtins.eval('torch.log' + 'addexp')(a, b)"],
    "honest def under if False": ["if False:\n" + HONEST.replace("\n", "\n    "),
                                  "def cheat(a, b):\n    return torch.logaddexp(a, b)",
                                  "try:\n    real_softmax = cheat\nexcept Exception:\n    pass"],
    "reassigned in a later cell": [HONEST, "def cheat(a, b):\n    return torch.logaddexp(a, b)",
                                   "real_softmax = cheat"],
    "softplus": ["def real_softmax(a, b):\n    m = torch.maximum(a, b)\n"
                 "    return m + torch.nn.functional.softplus(-(a - b).abs())"],
    "logcumsumexp": ["def real_softmax(a, b):\n    return torch.logcumsumexp(torch.stack([a, b]), 0)[1]"],
    "torch.special.logsumexp": ["def real_softmax(a, b):\n    return torch.special.logsumexp(torch.stack([a, b]), 0)"],
    "numpy.logaddexp": ["import numpy",
                        "def real_softmax(a, b):\n    return torch.from_numpy(numpy.logaddexp(a.numpy(), b.numpy()))"],
    "method call": ["def real_softmax(a, b):\n    return a.logaddexp(b)"],
    "default argument": ["def real_softmax(a, b, f=torch.logaddexp):\n    return f(a, b)"],
    "global set by another function": ["def setup():\n    global helper\n    f = torch.logaddexp\n    helper = f",
                                       "setup()", "def real_softmax(a, b):\n    return helper(a, b)"],
    "patched torch": ["torch.maximum = torch.logaddexp", "def real_softmax(a, b):\n    return torch.maximum(a, b)"],
    "patched tensor method": ["torch.Tensor.cheat = lambda s, o: torch.logaddexp(s, o)",
                              "def real_softmax(a, b):\n    return a.cheat(b)"],
    "list filled by a helper": ["fns = []", "def fill(d):\n    d.append(torch.logaddexp)", "fill(fns)",
                                "def real_softmax(a, b):\n    return fns[0](a, b)"],
    "alias of a mutated dict": ["table = {}", "other = table", "other['f'] = torch.logaddexp",
                                "def real_softmax(a, b):\n    return table['f'](a, b)"],
    "comprehension reading the global it shadows": [
        "lae = [torch.logaddexp]", "def real_softmax(a, b):\n    return [lae(a, b) for lae in lae][0]"],
    "callable class": ["class C:\n    def __call__(self, a, b):\n        return torch.logaddexp(a, b)",
                       "real_softmax = C()"],
    "from-import alias": ["from torch import logaddexp as lae", "def real_softmax(a, b):\n    return lae(a, b)"],
    "cell hidden behind a magic": ["%time x = 1\nreal_softmax = torch.logaddexp"],
    "payload of an allowed magic": ["%time real_softmax = torch.logaddexp"],
    "shell command": [HONEST, "!echo hi"],
    "indented cell": ["    real_softmax = torch.logaddexp"],
    "prompted cell": [">>> real_softmax = torch.logaddexp"],
    "student module": ["from helpers import real_softmax"],
    "torch.ops": ["def real_softmax(a, b):\n    return torch.ops.aten.logaddexp(a, b)"],
    "dispatch mode at module level": ["from torch.utils._python_dispatch import TorchDispatchMode", HONEST],
}


@pytest.mark.parametrize("cells", ATTACKS.values(), ids=ATTACKS.keys())
def test_attacks_are_violations(cells):
    assert violations(cells, *RULE)


HONEST_NOTEBOOKS = {
    "max shift": [HONEST],
    "helper def": ["import torch", "def gap(d):\n    return torch.log1p(torch.exp(-d))",
                   "def real_softmax(a, b):\n    return torch.maximum(a, b) + gap((a - b).abs())"],
    "loop": ["def real_softmax(a, b):\n    out = torch.empty_like(a)\n    for i in range(a.numel()):\n"
             "        x, y = a.view(-1)[i], b.view(-1)[i]\n        m = max(x, y)\n"
             "        out.view(-1)[i] = m + math.log1p(math.exp(-abs(x - y)))\n    return out"],
    "module class elsewhere": [HONEST, "import torch.nn as nn\nclass Model(nn.Module):\n"
                               "    def __init__(self):\n        super().__init__()\n"
                               "        self.linear = nn.Linear(2, 2)\n"
                               "    def forward(self, x):\n        return torch.log_softmax(self.linear(x), dim=-1)",
                               "model = Model()"],
    "unrelated function using logsumexp": [HONEST, "def smooth_max(x, lam=1.0):\n"
                                           "    return torch.logsumexp(lam * x, dim=-1) / lam"],
    "checks against torch at module level": [
        HONEST, "a, b = torch.randn(3), torch.randn(3)\nout = torch.logaddexp(a, b)\n"
        "torch.testing.assert_close(real_softmax(a, b), torch.logaddexp(a, b))\nprint(a.logsumexp(0), out)"],
    "local names shadowing module-level ones": [
        "m = torch.logsumexp(torch.randn(3), 0)",
        "def real_softmax(a, b):\n    m = torch.maximum(a, b)\n    return m + torch.log1p(torch.exp(-(a - b).abs()))"],
    "docstring and allowed magics": [
        'def real_softmax(a, b):\n    """Like torch.logaddexp, without it."""\n    m = torch.maximum(a, b)\n'
        "    return m + torch.log1p(torch.exp(-(a - b).abs()))",
        "%timeit real_softmax(torch.ones(3), torch.zeros(3))", "%matplotlib inline\nimport math, functools"],
    "cell with a syntax error": [HONEST, "real_softmax = torch.logaddexp("],
}


@pytest.mark.parametrize("cells", HONEST_NOTEBOOKS.values(), ids=HONEST_NOTEBOOKS.keys())
def test_honest_code_passes(cells):
    assert violations(cells, *RULE) == []


AUTOGRAD = ("variance_of", ["hessian", "grad", "backward", "loss_hessian", "second_derivative_along"])


@pytest.mark.parametrize("call", ["torch.autograd.functional.hessian(f, v)", "torch.func.hessian(f)(v)",
                                  "torch.autograd.functional.jacobian(f, v)", "torch.func.jacrev(f)(v)",
                                  "torch.autograd.functional.vhp(f, v, v)[1]"])
def test_autograd_rule_catches_other_differentiation(call):
    cells = [f"def variance_of(v, p):\n    f = lambda z: (p * z).sum()\n    return {call}"]
    assert violations(cells, *AUTOGRAD)


def test_autograd_rule_passes_the_closed_form_next_to_autograd_code():
    cells = ["def second_derivative_along(o, y, v):\n    t = torch.zeros((), requires_grad=True)\n"
             "    (first,) = torch.autograd.grad(F.cross_entropy(o + t * v, y), t, create_graph=True)\n"
             "    return torch.autograd.grad(first, t)[0]\n\n\n"
             "def variance_of(v, p):\n    mean = (p * v).sum()\n    return (p * (v - mean) ** 2).sum()"]
    assert violations(cells, *AUTOGRAD) == []


def test_reasons_name_the_function_and_say_why_without_student_source():
    reasons = violations(["import sys as secret_name", "real_softmax = torch.nn.functional.softplus"], *RULE)
    assert "real_softmax uses softplus (it does what logaddexp does), which this question does not allow" in reasons
    assert "your code uses sys, which a question that forbids functions does not allow" in reasons
    assert not any("secret_name" in reason for reason in reasons)


def test_student_functions_named_in_the_rule_are_forbidden():
    cells = [HONEST, "def gap(d):\n    return real_softmax(d, torch.zeros_like(d)) - d"]
    assert violations(cells, "gap", ["real_softmax", "logaddexp"]) == [
        "gap uses real_softmax, which this question does not allow"]
