"""Whether a student's function uses what a question forbids, read statically from the source.

``violations(student_code, function, names)`` returns the grader's reasons (empty: fine).
``student_code`` is the student's code cells in notebook order. The rules:

1. Cells. A cell is read as IPython runs it: a cell that is not Python is re-read with its
   common leading indentation, ``>>>``/``In [n]:`` prompts and help lines (``x?``) removed;
   the magics ``%time``, ``%timeit`` (their statement kept), ``%%time``, ``%%timeit``,
   ``%%capture`` and ``%matplotlib`` are allowed, any other magic, ``!`` shell command or
   ``/ ; ,`` escape is a violation. A cell that still is not Python never ran: ignored.
2. Bindings. Every binding of a module-level name anywhere in the cells counts, wherever it
   stands (``if False:``, ``try``, loops, class bodies, later cells): ``def``, ``class``,
   assignments of every kind, ``for``/``with``/``except``/``match`` targets, imports, and
   assignments inside functions that declare the name ``global``. A binding's source is
   its statement (the whole outermost function for a binding inside a function). A
   statement that stores into ``x.attr`` or ``x[k]``, or calls a method of ``x`` or passes
   ``x`` (a name the student assigned) to a call, binds ``x`` too; a store into ``.attr``
   and a name bound in a class body are also followed wherever ``.attr`` is used.
3. Reach. From every binding of ``function``, every module-level name the code reads (scopes
   resolved: parameters and locals are not module names), with its decorators and default
   values, is followed through all its bindings, transitively (union, conservatively).
4. Forbidden. Reached code that names a forbidden function (a name, an attribute or an
   imported name, compared in lower case without ``_`` and digits), or holds a string
   (docstrings aside) containing one, violates. ``ALTERNATIVES`` extends each forbidden
   name with functions that compute the same (``softplus`` for ``logaddexp``, …).
5. Dynamic code. Names in ``DYNAMIC`` (``getattr``, ``eval``, ``importlib``, ``sys``, …)
   anywhere in reached code or in code that runs at module level (everything outside
   function bodies, and all it reaches), and an import of a module that is neither the
   standard library nor in ``LIBRARIES``, violate: they can hide a forbidden call.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable, Iterator

from grading.messages import say

_LOG_SUM_EXP = ("logsumexp", "logaddexp", "logaddexp2", "logcumsumexp", "reduce_logsumexp", "softplus",
                "logsigmoid", "log_expit", "softmax", "log_softmax", "softmin", "gumbel_softmax",
                "cross_entropy", "binary_cross_entropy_with_logits", "distributions")
_AUTOGRAD = ("grad", "backward", "hessian", "jacobian", "autograd", "vjp", "jvp", "hvp", "vhp", "jacrev",
             "jacfwd", "grad_and_value", "linearize", "functorch")

ALTERNATIVES: dict[str, tuple[str, ...]] = {name: family for family in (_LOG_SUM_EXP, _AUTOGRAD) for name in family}

DYNAMIC = frozenset({
    "getattr", "setattr", "delattr", "eval", "exec", "compile", "__import__", "importlib", "import_module",
    "attrgetter", "methodcaller", "globals", "locals", "vars", "__dict__", "__getattribute__", "__getattr__",
    "__builtins__", "builtins", "__main__", "sys", "ctypes", "inspect", "gc", "types", "ops", "_C", "overrides",
    "library", "__torch_function__", "__torch_dispatch__", "_python_dispatch", "__class__", "__subclasses__",
    "__globals__", "__code__", "__doc__", "marshal", "pickle", "runpy", "pydoc", "pkgutil", "timeit",
    "subprocess", "get_ipython",
})

LIBRARIES = frozenset({"torch", "torchvision", "numpy", "scipy", "matplotlib", "pandas", "PIL", "ipywidgets",
                       "IPython", "tqdm", "utils"})

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_ALLOWED_MAGICS = ("time", "timeit", "capture", "matplotlib")


def violations(student_code: list[str], function: str, names: list[str]) -> list[str]:
    """The grader's reasons why ``function`` breaks a rule forbidding ``names`` (empty: none)."""
    program = Program(student_code)
    used = program.reach(program.names.get(function, []))
    reasons = [say("{function} uses {name}{like}, which this question does not allow", function=function, name=name,
                   like=_like(name, original))
               for name, original in _forbidden(names).items() if _uses(used, name)]
    everything = program.reach(program.trees, enter_functions=False)
    everything.add(used)
    reasons += [say("your code uses {name}, which a question that forbids functions does not allow", name=name)
                for name in sorted(everything.identifiers & DYNAMIC)]
    if any(not _library(module) for module in everything.modules):
        reasons.append(say("your code imports a module that is not a library of the course, "
                           "which a question that forbids functions does not allow"))
    if program.magics:
        reasons.append(say("your code uses IPython magics or shell commands, "
                           "which a question that forbids functions does not allow"))
    return reasons


def with_alternatives(names: Iterable[str]) -> set[str]:
    """The names and every function ``ALTERNATIVES`` lists for them (what the runner blocks)."""
    return {found for name in names for found in (name, *ALTERNATIVES.get(name, ()))}


def _forbidden(names: list[str]) -> dict[str, str]:
    """Each forbidden name and alternative, with the name of the rule it comes from."""
    out = {_normal(name): (name, name) for name in names}
    for name in names:
        for alternative in ALTERNATIVES.get(name, ()):
            out.setdefault(_normal(alternative), (alternative, name))
    return dict(out.values())


def _like(name: str, original: str) -> str:
    return "" if name == original else say(" (it does what {original} does)", original=original)


def _normal(text: str) -> str:
    return re.sub("[^a-z]", "", text.lower())


def _uses(used: Uses, name: str) -> bool:
    key = _normal(name)
    named = any(_normal(word) == key for word in used.identifiers)
    return bool(key) and (named or any(key in _normal(text) for text in used.strings))


def _library(module: str) -> bool:
    top = module.split(".")[0]
    return bool(top) and (top in LIBRARIES or top in sys.stdlib_module_names)


# ---------------------------------------------------------------- cells as IPython runs them

def parse_cell(source: str) -> tuple[ast.Module | None, bool]:
    """The cell's tree (None if it never ran) and whether it uses a magic or shell command that is not allowed."""
    try:
        return ast.parse(source), False
    except SyntaxError:
        pass
    lines, special, magics = _ipython_lines(source)
    try:
        return ast.parse("\n".join(lines)), magics
    except SyntaxError:
        return None, special


def _ipython_lines(source: str) -> tuple[list[str], bool, bool]:
    """Python lines for an IPython cell, whether it had IPython syntax, and whether a disallowed magic."""
    lines = source.splitlines()
    first = next((line for line in lines if line.strip()), "")
    indent = first[:len(first) - len(first.lstrip())]
    out, special, magics = [], False, False
    for number, line in enumerate(lines):
        line = re.sub(r"^(>>> ?|\.\.\. ?|In \[\d+\]: ?|\s+\.\.\.: ?)", "", line.removeprefix(indent))
        code = line.lstrip()
        pad = line[:len(line) - len(code)]
        if number == 0 and code.startswith("%%") or re.match(r"[%!/;,?]|[\w.]+\s*=\s*[%!]|[\w.]+\?{1,2}\s*$", code):
            python = _magic_payload(code, cell=number == 0)
            special, magics = True, magics or python is None
            code = python or "pass"
        out.append(pad + code)
    return out, special, magics


def _magic_payload(code: str, cell: bool) -> str | None:
    """The Python an allowed magic or help line runs ("" for none); None for anything else."""
    if re.fullmatch(r"\??[\w.]*\?{0,2}\s*", code) and "?" in code:
        return ""
    found = re.fullmatch(r"%(%?)(\w+)\s*(.*)", code)
    if not found or found[2] not in _ALLOWED_MAGICS or (found[1] and not cell):
        return None
    if found[2] not in ("time", "timeit"):
        return ""
    payload = re.sub(r"^(-[a-z]+\s*\d*\s+)*", "", found[3])
    try:
        ast.parse(payload)
    except SyntaxError:
        return None
    return payload


# ---------------------------------------------------------------- scopes

def _arguments(node: ast.AST) -> list[ast.arg]:
    args = node.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]


def _outer_parts(node: ast.AST) -> list[ast.AST]:
    """What a def or lambda evaluates where it is defined: decorators, defaults, annotations."""
    parts = [*node.args.defaults, *filter(None, node.args.kw_defaults)]
    if not isinstance(node, ast.Lambda):
        annotations = [arg.annotation for arg in _arguments(node)] + [node.returns]
        parts += [*node.decorator_list, *filter(None, annotations)]
    return parts


def _scope_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under ``node`` in its own scope: nested functions, lambdas and classes give
    only themselves, comprehensions all but their loop targets."""
    for child in ast.iter_child_nodes(node):
        yield child
        if isinstance(child, (*_FUNCTIONS, ast.ClassDef)):
            continue
        if isinstance(child, ast.comprehension):
            for part in (child.iter, *child.ifs):
                yield part
                yield from _scope_nodes(part)
            continue
        yield from _scope_nodes(child)


def _bound_name(node: ast.AST) -> str | None:
    """The name a node binds in its scope, if any."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return node.id
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.MatchAs, ast.MatchStar,
                         ast.ExceptHandler)):
        return node.name
    if isinstance(node, ast.MatchMapping):
        return node.rest
    if isinstance(node, ast.alias):
        return node.asname or node.name.split(".")[0]
    return None


def _scope(function: ast.AST) -> tuple[frozenset[str], frozenset[str]]:
    """A function's local names and the names it declares ``global``."""
    nodes = list(_scope_nodes(function))
    declared = {name for node in nodes if isinstance(node, ast.Global) for name in node.names}
    bound = {arg.arg for arg in _arguments(function)} | set(filter(None, map(_bound_name, nodes)))
    return frozenset(bound - declared), frozenset(declared)


def _comprehension_targets(node: ast.AST) -> frozenset[str]:
    return frozenset(name.id for generator in node.generators for name in ast.walk(generator.target)
                     if isinstance(name, ast.Name))


def _root(node: ast.AST) -> str | None:
    """``x`` for ``x``, ``x.a.b``, ``x[k]``, ``*x`` (not for a call's result)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Scoped(ast.NodeVisitor):
    """A visitor that knows which names are local where it stands."""

    def __init__(self) -> None:
        self.local: frozenset[str] = frozenset()

    def is_global(self, name: str | None) -> bool:
        return name is not None and name not in self.local

    def visit_function(self, node: ast.AST) -> None:
        for part in _outer_parts(node):
            self.visit(part)
        self.visit_body(node)

    def visit_body(self, node: ast.AST) -> None:
        saved = self.local
        local, declared = _scope(node)
        self.local = (saved - declared) | local
        for statement in _without_docstring(node.body if isinstance(node.body, list) else [node.body]):
            self.visit(statement)
        self.local = saved

    def visit_comprehension_scope(self, node: ast.AST) -> None:
        self.visit(node.generators[0].iter)  # evaluated in the enclosing scope
        saved = self.local
        self.local = saved | _comprehension_targets(node)
        self.generic_visit(node)
        self.local = saved

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_function
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_comprehension_scope


def _without_docstring(body: list[ast.AST]) -> list[ast.AST]:
    docstring = body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    return body[1:] if docstring else body


# ---------------------------------------------------------------- what code uses

@dataclass
class Uses:
    """What some code reads from module scope and every name, attribute, module and string in it."""

    reads: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    strings: list[str] = field(default_factory=list)

    def add(self, other: Uses) -> None:
        self.reads |= other.reads
        self.attributes |= other.attributes
        self.identifiers |= other.identifiers
        self.modules |= other.modules
        self.strings += other.strings


class _Scanner(_Scoped):
    """Collects ``Uses``; with ``enter_functions`` false, function bodies are left out."""

    def __init__(self, enter_functions: bool) -> None:
        super().__init__()
        self.uses = Uses()
        self.enter_functions = enter_functions

    def visit_body(self, node: ast.AST) -> None:
        if self.enter_functions:
            super().visit_body(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for part in (*node.decorator_list, *node.bases, *node.keywords, *_without_docstring(node.body)):
            self.visit(part)

    def visit_Name(self, node: ast.Name) -> None:
        self.uses.identifiers.add(node.id)
        if isinstance(node.ctx, ast.Load) and self.is_global(node.id):
            self.uses.reads.add(node.id)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and self.is_global(node.target.id):
            self.uses.reads.add(node.target.id)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.uses.attributes.add(node.attr)
        self.uses.identifiers.add(node.attr)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)):
            self.uses.strings.append(node.value if isinstance(node.value, str) else node.value.decode("latin-1"))

    def visit_alias(self, node: ast.alias) -> None:
        self.uses.identifiers.update(node.name.split(".") + [node.asname or ""])

    def visit_Import(self, node: ast.Import) -> None:
        self.uses.modules.update(alias.name for alias in node.names)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.uses.modules.add("." * node.level + (node.module or ""))
        self.uses.identifiers.update((node.module or "").split("."))
        self.generic_visit(node)


# ---------------------------------------------------------------- bindings

class Program:
    """The student's cells: their trees and, per name, every source that binds it."""

    def __init__(self, student_code: list[str]) -> None:
        parsed = [parse_cell(source) for source in student_code]
        self.trees = [tree for tree, _ in parsed if tree is not None]
        self.magics = any(magics for _, magics in parsed)
        self.names: dict[str, list[ast.AST]] = {}
        self.attributes: dict[str, list[ast.AST]] = {}
        self.aliases: dict[str, set[str]] = {}  # x -> names assigned x itself (y = x, y = x.a)
        binder = _Binder(self)
        for tree in self.trees:
            binder.visit(tree)
        for name, source in binder.passed:
            if name in binder.assigned:
                self.names[name].append(source)

    def bind(self, table: dict[str, list[ast.AST]], name: str, source: ast.AST) -> None:
        table.setdefault(name, []).append(source)

    def _with_aliases(self, names: set[str]) -> set[str]:
        todo, out = list(names), set()
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo.extend(self.aliases.get(name, ()))
        return out

    def reach(self, roots: Iterable[ast.AST], enter_functions: bool = True) -> Uses:
        """Everything ``roots`` use, following the bindings of what they read, transitively.
        ``enter_functions`` false leaves out the roots' function bodies (not those of what they reach)."""
        total, seen = Uses(), set()
        todo = [(root, enter_functions) for root in roots]
        while todo:
            node, enter = todo.pop()
            if (id(node), enter) in seen:
                continue
            seen.add((id(node), enter))
            scanner = _Scanner(enter)
            scanner.visit(node)
            total.add(scanner.uses)
            followed = chain(*(self.names.get(name, []) for name in self._with_aliases(scanner.uses.reads)),
                             *(self.attributes.get(name, []) for name in scanner.uses.attributes))
            todo.extend((source, True) for source in followed)
        return total


class _Binder(_Scoped):
    """Records every binding in the cells: the name bound and its source statement."""

    def __init__(self, program: Program) -> None:
        super().__init__()
        self.program = program
        self.source: ast.AST | None = None
        self.in_function = False
        self.in_class = False
        self.assigned: set[str] = set()  # names bound other than by an import
        self.passed: list[tuple[str, ast.AST]] = []  # names a call may change, and where

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and not self.in_function:
            saved, self.source = self.source, node
            self.bind_name(node)
            super().visit(node)
            self.source = saved
        else:
            self.bind_name(node)
            super().visit(node)

    def bind_name(self, node: ast.AST) -> None:
        name = _bound_name(node)
        if not self.is_global(name):
            return
        self.program.bind(self.program.names, name, self.source)
        if self.in_class:
            self.program.bind(self.program.attributes, name, self.source)
        if not isinstance(node, ast.alias):
            self.assigned.add(name)

    def visit_body(self, node: ast.AST) -> None:
        saved = self.in_function, self.in_class
        self.in_function, self.in_class = True, False
        super().visit_body(node)
        self.in_function, self.in_class = saved

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        saved, self.in_class = self.in_class, True
        self.generic_visit(node)
        self.in_class = saved

    def visit_Assign(self, node: ast.Assign) -> None:
        root = _root(node.value) if isinstance(node.value, (ast.Name, ast.Attribute, ast.Subscript)) else None
        if self.is_global(root):
            targets = (name.id for target in node.targets for name in ast.walk(target) if isinstance(name, ast.Name))
            self.program.aliases.setdefault(root, set()).update(filter(self.is_global, targets))
        self.generic_visit(node)

    def store(self, node: ast.AST, attribute: str | None = None) -> None:
        """``node`` is stored into: bind its root name, and ``attribute`` when one is set."""
        root = _root(node)
        if self.is_global(root):
            self.program.bind(self.program.names, root, self.source)
        if attribute:
            self.program.bind(self.program.attributes, attribute, self.source)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.store(node.value, node.attr)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.store(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        receivers = [node.func.value] if isinstance(node.func, ast.Attribute) else []
        for part in chain(receivers, node.args, (keyword.value for keyword in node.keywords)):
            root = _root(part)
            if self.is_global(root):
                self.passed.append((root, self.source))
        self.generic_visit(node)
