"""The Chinese edition: English notebooks + gettext catalogs -> ``zh/`` notebooks.

    python -m tools.i18n update      # refresh i18n/zh_CN/*.po from the English notebooks, list what needs work
    python -m tools.i18n build       # write zh/notebooks and zh/solutions (outputs cleared)
    python -m tools.i18n exercises   # write zh/exercises from zh/solutions (grading.generate)
    python -m tools.i18n readme      # write the glossary tables into README.md and README.zh-CN.md
    python -m tools.i18n check       # list untranslated and fuzzy units (exit 1 if any)

The English notebooks are the one source of code, figures and cell order. A catalog holds one
unit per Markdown block (paragraph, heading, list, table), per code comment and per
user-facing string literal (print texts, assert and exception messages, figure labels). A
unit whose English changes keeps its old translation marked fuzzy (msgmerge semantics), and
fuzzy or missing units are built in English, so the tests see them.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import difflib
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat
import polib

from utils.messages import LANGUAGE_FILE, TRANSLATION_KEY

ROOT = Path(__file__).resolve().parent.parent
I18N_DIR = ROOT / "i18n"
LANGUAGE = "zh_CN"
CATALOG_DIR = I18N_DIR / LANGUAGE
MANIFEST = I18N_DIR / "MANIFEST"
GLOSSARY = I18N_DIR / "glossary.csv"
ZH_DIR = ROOT / "zh"
FUZZY_CUTOFF = 0.6  # how similar an old English text must be for its translation to be kept (fuzzy)

# Lines and comments that are machine markers, never translated.
MARKDOWN_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "<!-- SOLUTION ONLY -->")
COMMENT_MARKER = re.compile(r"^#+\s*(NBVAL_\w+|YOUR CODE HERE|CHECK \S+ \(\d+ points?\)|PROBE\b.*|SOLUTION ONLY"
                            r"|SKIP WHEN GRADING|(BEGIN|END) SOLUTION|noqa\b.*|type:.*)\s*$")
# Calls whose string arguments a reader sees: printed, raised, or drawn in a figure.
SHOWN_BY_CALL = {"print", "bar", "barh", "title", "suptitle", "xlabel", "ylabel", "set_title", "set_xlabel", "set_ylabel",
                 "set_suptitle", "text", "annotate", "legend", "warn", "display_markdown", "Markdown"}
SHOWN_BY_KEYWORD = {"label", "title", "xlabel", "ylabel", "labels", "titles"}
# The workbook's own plotting functions whose string arguments become titles and axis labels.
LABELLED_BY_CALL = {"plot_sweep", "plot_curves", "reliability_figure", "show_images"}


@dataclass(frozen=True)
class Piece:
    """A stretch of a cell's source; ``kind`` is None when it is kept as it is."""

    text: str
    kind: str | None = None  # "markdown", "comment" or "string"


@dataclass(frozen=True)
class Unit:
    """One translatable text and where it stands."""

    text: str
    kind: str
    cell_index: int
    cell_id: str


# ---------------------------------------------------------------- splitting cells into pieces

def is_prose(block: str) -> bool:
    """True for a Markdown block worth translating (not a marker, fence, lone formula or blank)."""
    stripped = block.strip()
    if not re.search(r"[A-Za-z]{2}", stripped) or stripped in MARKDOWN_MARKERS:
        return False
    if stripped.startswith(("```", "~~~")):
        return False
    return not (stripped.startswith("$$") and stripped.endswith("$$") and stripped.count("$$") == 2)


def markdown_pieces(source: str) -> list[Piece]:
    """Blocks separated by blank lines; headings and markers are blocks of their own."""
    pieces: list[Piece] = []
    block: list[str] = []
    fence: str | None = None

    def close() -> None:
        if block:
            text = "".join(block)
            body = text.rstrip("\n")
            pieces.append(Piece(body, "markdown" if is_prose(body) else None))
            if text[len(body):]:
                pieces.append(Piece(text[len(body):]))
            block.clear()

    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if fence:
            block.append(line)
            if stripped.startswith(fence) and len(block) > 1:
                fence = None
                close()
        elif stripped.startswith(("```", "~~~")):
            close()
            fence = stripped[:3]
            block.append(line)
        elif not stripped:
            close()
            pieces.append(Piece(line))
        elif stripped.startswith("#") or stripped in MARKDOWN_MARKERS:
            close()
            block.append(line)
            close()
        else:
            block.append(line)
    close()
    return pieces


def parsable(source: str) -> str:
    """The source with IPython magics and shell lines blanked (same length), so ``ast`` can read it."""
    return "".join(" " * len(line.rstrip("\n")) + line[len(line.rstrip("\n")):]
                   if line.lstrip().startswith(("%", "!")) else line
                   for line in source.splitlines(keepends=True))


def shown_strings(node: ast.AST) -> list[ast.expr]:
    """The string literals in an expression that end up on screen as they are."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) or isinstance(node, ast.JoinedStr):
        return [node]
    if isinstance(node, ast.IfExp):
        return shown_strings(node.body) + shown_strings(node.orelse)
    if isinstance(node, ast.BinOp):
        return shown_strings(node.left) + shown_strings(node.right)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [found for element in node.elts for found in shown_strings(element)]
    if isinstance(node, ast.ListComp):
        return shown_strings(node.elt)
    return []


def call_name(call: ast.Call) -> str:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def message_literals(tree: ast.AST, in_use: frozenset[str] = frozenset()) -> list[ast.expr]:
    """String literals a reader sees: docstrings, print texts, assert and exception messages,
    figure labels, and the `labels` whose text the notebook's code uses nowhere else (``in_use``)."""
    found = direct_messages(tree)
    found += [label for label in labels(tree, found) if getattr(label, "value", None) not in in_use]
    return [node for node in found if re.search(r"[A-Za-z]{2}", shown_text(node))]


def direct_messages(tree: ast.AST) -> list[ast.expr]:
    """Docstrings, print texts, assert and exception messages, figure labels."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and ast.get_docstring(node):
            found.append(node.body[0].value)
        elif isinstance(node, ast.Assert) and node.msg is not None:
            found += shown_strings(node.msg)
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            found += [s for argument in node.exc.args for s in shown_strings(argument)]
        elif isinstance(node, ast.Call):
            if call_name(node) in SHOWN_BY_CALL:
                found += [s for argument in node.args for s in shown_strings(argument)]
            found += [s for keyword in node.keywords if keyword.arg in SHOWN_BY_KEYWORD
                      for s in shown_strings(keyword.value)]
    return found


def labels(tree: ast.AST, messages: list[ast.expr]) -> list[ast.expr]:
    """Strings that reach a message or a figure by way of a name or a helper: see `call_labels`
    and `loop_labels`. Single words are left out: they may be names the code uses (``"linear"``,
    ``"FIXED"``). Texts inside an f-string's fields (``f"{'accuracy':>9}"``) stay English:
    before Python 3.12 their positions in the source are not reliable."""
    literals = {target.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    found = call_labels(tree, literals) + loop_labels(tree, messages, literals)
    return [node for node in found if isinstance(node, ast.JoinedStr)
            or isinstance(node, ast.Constant) and isinstance(node.value, str) and not node.value.isidentifier()]


def call_labels(tree: ast.AST, literals: dict[str, ast.expr]) -> list[ast.expr]:
    """The string arguments of the workbook's plotting functions, and the strings a shown
    argument holds through a name assigned in the cell (``titles = [...]``, then
    ``show_images(..., titles=titles)``)."""
    def strings(value: ast.expr) -> list[ast.expr]:
        return shown_strings(literals.get(value.id, value) if isinstance(value, ast.Name) else value)

    found = []
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        shown_arguments = [keyword.value for keyword in call.keywords if keyword.arg in SHOWN_BY_KEYWORD]
        if call_name(call) in LABELLED_BY_CALL:
            found += [string for argument in call.args for string in strings(argument)]
        elif call_name(call) in SHOWN_BY_CALL:
            shown_arguments += call.args
        found += [string for argument in shown_arguments if isinstance(argument, ast.Name) for string in strings(argument)]
    return found


def loop_labels(tree: ast.AST, messages: list[ast.expr], literals: dict[str, ast.expr]) -> list[ast.expr]:
    """The strings a loop hands to a message: in ``for what, call in [("a bad value", ...), ...]``
    (or over a dict literal's ``.items()``), those bound to a name a message's f-string shows."""
    shown = {field.id for message in messages if isinstance(message, ast.JoinedStr)
             for value in message.values if isinstance(value, ast.FormattedValue)
             for field in ast.walk(value.value) if isinstance(field, ast.Name)}
    found = []
    for loop in (node for node in ast.walk(tree) if isinstance(node, ast.For)):
        targets = loop.target.elts if isinstance(loop.target, ast.Tuple) else [loop.target]
        iterable, items = loop.iter, False
        if isinstance(iterable, ast.Call) and call_name(iterable) == "items" and isinstance(iterable.func, ast.Attribute):
            iterable, items = iterable.func.value, True
        iterable = literals.get(iterable.id, iterable) if isinstance(iterable, ast.Name) else iterable
        if items and isinstance(iterable, ast.Dict):
            rows = [[key, value] for key, value in zip(iterable.keys, iterable.values)]
        elif isinstance(iterable, (ast.List, ast.Tuple)):
            rows = [row.elts if isinstance(row, ast.Tuple) else [row] for row in iterable.elts]
        else:
            continue
        found += [row[position] for position, target in enumerate(targets)
                  if isinstance(target, ast.Name) and target.id in shown for row in rows if len(row) > position]
    return found


def shown_text(node: ast.expr) -> str:
    """The literal text of a string or f-string (its fields left out)."""
    if isinstance(node, ast.JoinedStr):
        return "".join(value.value for value in node.values if isinstance(value, ast.Constant))
    return node.value


def literal_text(literal: str) -> tuple[str, str, str]:
    """``(prefix and opening quote, text, closing quote)`` of one literal; the whole source if several."""
    match = re.fullmatch(r"([rRbBuUfF]{0,2})('''|\"\"\"|'|\")(.*)\2", literal, re.DOTALL)
    if match and len(list(string_tokens(literal))) == 1:
        return match[1] + match[2], match[3], match[2]
    return "", literal, ""


def string_tokens(source: str):
    try:
        return [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.STRING]
    except (tokenize.TokenError, SyntaxError):
        return []


def offsets(source: str) -> list[int]:
    """The offset in ``source`` at which each line (numbered from 1) starts."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def code_pieces(source: str, in_use: frozenset[str] = frozenset()) -> list[Piece]:
    """Comments and user-facing string texts as units; everything else kept."""
    masked = parsable(source)
    try:
        tree = ast.parse(masked)
    except SyntaxError:
        return [Piece(source)]
    starts, lines = offsets(masked), masked.splitlines()
    spans: list[tuple[int, int, str]] = []  # (start, end, kind) of translatable text
    for node in message_literals(tree, in_use):
        begin = starts[node.lineno] + len(lines[node.lineno - 1].encode()[:node.col_offset].decode())  # ast counts bytes
        opening, text, _ = literal_text(ast.get_source_segment(masked, node) or "")
        spans.append((begin + len(opening), begin + len(opening) + len(text), "string"))
    for token in tokenize.generate_tokens(io.StringIO(masked).readline):
        if token.type == tokenize.COMMENT and not COMMENT_MARKER.match(token.string):
            text = token.string.lstrip("#").strip()
            if re.search(r"[A-Za-z]{2}", text):
                end = starts[token.end[0]] + token.end[1]
                spans.append((end - len(text), end, "comment"))
    pieces, position = [], 0
    for begin, end, kind in sorted(spans):
        pieces += [Piece(source[position:begin]), Piece(source[begin:end], kind)]
        position = end
    return [piece for piece in pieces + [Piece(source[position:])] if piece.text]


def cell_pieces(cell, in_use: frozenset[str] = frozenset()) -> list[Piece]:
    if cell.cell_type == "markdown":
        return markdown_pieces(cell.source)
    if cell.cell_type == "code":
        return code_pieces(cell.source, in_use)
    return [Piece(cell.source)]


def strings_in_use(nb) -> frozenset[str]:
    """Strings the notebook's code writes somewhere other than a message or a label (a dict
    key looked up, a value compared): a label with such a text must stay as it is."""
    used: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                tree = ast.parse(parsable(cell.source))
            except SyntaxError:
                continue
            messages = direct_messages(tree)
            shown = {id(part) for node in messages + labels(tree, messages) for part in ast.walk(node)}
            used |= {node.value for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in shown}
    return frozenset(used)


def units(nb) -> list[Unit]:
    """Every translatable unit of a notebook, in order."""
    in_use = strings_in_use(nb)
    return [Unit(piece.text, piece.kind, index, cell.get("id", str(index)))
            for index, cell in enumerate(nb.cells) for piece in cell_pieces(cell, in_use) if piece.kind]


# ---------------------------------------------------------------- catalogs

def manifest(path: Path = MANIFEST) -> list[str]:
    """The English notebooks (``notebooks/NN_x.ipynb``) that have a Chinese edition."""
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def catalog_path(notebook: str, catalog_dir: Path = CATALOG_DIR) -> Path:
    return catalog_dir / f"{Path(notebook).stem}.po"


def new_catalog(notebook: str) -> polib.POFile:
    catalog = polib.POFile(wrapwidth=0)
    catalog.metadata = {
        "Project-Id-Version": f"softmax-regression-workbook {notebook}",
        "Language": LANGUAGE,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=1; plural=0;",
    }
    return catalog


def template(nb, notebook: str) -> polib.POFile:
    """The catalog's English side: one entry per distinct text, with every place it occurs."""
    catalog = new_catalog(notebook)
    entries: dict[str, polib.POEntry] = {}
    places: dict[str, list[str]] = {}
    for unit in units(nb):
        if unit.text not in entries:
            entries[unit.text] = polib.POEntry(msgid=unit.text, msgstr="", comment=unit.kind)
            places[unit.text] = []
            catalog.append(entries[unit.text])
        entries[unit.text].occurrences.append((notebook, str(unit.cell_index)))
        places[unit.text].append(unit.cell_id)
    for text, entry in entries.items():
        entry.comment = f"{entry.comment}; cell ids: {' '.join(dict.fromkeys(places[text]))}"
    return catalog


def cell_ids(entry: polib.POEntry) -> set[str]:
    return set(entry.comment.split("cell ids: ")[-1].split()) if "cell ids: " in entry.comment else set()


def closest(entry: polib.POEntry, candidates: list[polib.POEntry]) -> polib.POEntry | None:
    """The old entry whose translation a changed text inherits: same cell first, then most similar."""
    def score(old: polib.POEntry) -> tuple[bool, float]:
        ratio = difflib.SequenceMatcher(None, entry.msgid, old.msgid, autojunk=False).ratio()
        return bool(cell_ids(entry) & cell_ids(old)) and ratio >= FUZZY_CUTOFF / 2, ratio

    scored = [(score(old), old) for old in candidates if old.msgstr]
    best = max(scored, key=lambda item: item[0], default=None)
    if best and (best[0][0] or best[0][1] >= FUZZY_CUTOFF):
        return best[1]
    return None


def merge(old: polib.POFile, new: polib.POFile) -> polib.POFile:
    """msgmerge: keep exact translations, mark inherited ones fuzzy, make unused ones obsolete."""
    by_id = {entry.msgid: entry for entry in old}
    used = {entry.msgid for entry in new if entry.msgid in by_id}
    spare = [entry for entry in old if entry.msgid not in used]
    for entry in new:
        previous = by_id.get(entry.msgid)
        if previous is not None and not previous.obsolete:
            entry.msgstr, entry.tcomment = previous.msgstr, previous.tcomment
            entry.flags = [flag for flag in previous.flags if flag == "fuzzy"]
            entry.previous_msgid = previous.previous_msgid if "fuzzy" in previous.flags else None
            continue
        if previous is not None:  # an obsolete entry whose English came back unchanged
            entry.msgstr, entry.tcomment = previous.msgstr, previous.tcomment
            continue
        match = closest(entry, spare)
        if match is not None:
            spare.remove(match)
            entry.msgstr, entry.tcomment = match.msgstr, match.tcomment
            entry.flags = ["fuzzy"]
            entry.previous_msgid = match.msgid
    merged = new
    merged.metadata = old.metadata or new.metadata
    for entry in spare:
        if entry.msgstr:
            entry.obsolete = True
            entry.occurrences = []
            merged.append(entry)
    return merged


def read_catalog(path: Path) -> polib.POFile:
    return polib.pofile(str(path), wrapwidth=0)


def update_catalog(english: Path, catalog: Path, notebook: str) -> polib.POFile:
    """Bring ``catalog`` in step with the English notebook and write it."""
    fresh = template(nbformat.read(english, as_version=4), notebook)
    merged = merge(read_catalog(catalog), fresh) if catalog.exists() else fresh
    merged.wrapwidth = 0
    catalog.parent.mkdir(parents=True, exist_ok=True)
    merged.save(str(catalog))
    return merged


def problems(english: Path, catalog: Path, notebook: str) -> list[str]:
    """'notebook cell N: untranslated|fuzzy: English text' for each unit that is not ready."""
    entries = {entry.msgid: entry for entry in read_catalog(catalog) if not entry.obsolete} if catalog.exists() else {}
    found = []
    for unit in units(nbformat.read(english, as_version=4)):
        entry = entries.get(unit.text)
        state = "missing from the catalog" if entry is None else "fuzzy" if "fuzzy" in entry.flags \
            else "untranslated" if not entry.msgstr else None
        if state:
            found.append(f"{notebook} cell {unit.cell_index} ({unit.kind}, {state}): {shorten(unit.text)}")
    return found


def shorten(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# ---------------------------------------------------------------- building the Chinese notebooks

def translations(catalog: polib.POFile) -> dict[str, str]:
    """English text -> Chinese text, for the finished (translated, not fuzzy) entries."""
    return {entry.msgid: entry.msgstr for entry in catalog
            if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags}


def translate_notebook(nb, catalog: polib.POFile, notebook: str):
    """The Chinese notebook: same cells, code and ids; texts from the catalog; no outputs."""
    table = translations(catalog)
    result = copy.deepcopy(nb)
    in_use = strings_in_use(nb)
    for cell in result.cells:
        cell.source = "".join(table.get(piece.text, piece.text) if piece.kind else piece.text
                              for piece in cell_pieces(cell, in_use))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        for key in ("execution",):
            cell.metadata.pop(key, None)
    result.metadata.pop("widgets", None)
    result.metadata[TRANSLATION_KEY] = {"language": LANGUAGE, "source": notebook}
    return result


def zh_path(notebook: str, zh_dir: Path = ZH_DIR) -> Path:
    return zh_dir / notebook


def build(notebooks: list[str], root: Path = ROOT, zh_dir: Path = ZH_DIR, catalog_dir: Path = CATALOG_DIR) -> list[Path]:
    """Write the Chinese edition of each notebook whose cells changed (outputs cleared: ``make zh`` executes them)."""
    written = []
    for notebook in notebooks:
        nb = translate_notebook(nbformat.read(root / notebook, as_version=4),
                                read_catalog(catalog_path(notebook, catalog_dir)), notebook)
        target = zh_path(notebook, zh_dir)
        if not (target.exists() and same_cells(nbformat.read(target, as_version=4), nb)):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(nbformat.writes(nb).rstrip("\n") + "\n", encoding="utf-8")
        written.append(target)
    for folder in {path.parent for path in written} | {zh_dir / "exercises"}:
        write_folder_settings(folder)
    return written


def same_cells(old, new) -> bool:
    """True when two notebooks have the same cells (types, ids, sources): an executed one is kept."""
    def cells(nb):
        return [(cell.cell_type, cell.get("id"), cell.source) for cell in nb.cells]

    return cells(old) == cells(new) and old.metadata.get(TRANSLATION_KEY) == new.metadata.get(TRANSLATION_KEY)


def write_folder_settings(folder: Path) -> None:
    """What a kernel reads from its working folder: ``matplotlibrc`` (CJK fonts for the figures)
    and ``.workbook-language`` (``utils`` prints and labels figures in Chinese)."""
    from utils.fonts import rc_text

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "matplotlibrc").write_text(rc_text(), encoding="utf-8")
    (folder / LANGUAGE_FILE).write_text(LANGUAGE + "\n", encoding="utf-8")


def build_exercises(zh_dir: Path = ZH_DIR) -> list[Path]:
    """Chinese student copies from the Chinese solutions, by the same generator as the English ones."""
    from grading.generate import generate

    return generate(zh_dir / "solutions", zh_dir / "exercises")


# ---------------------------------------------------------------- code equality

def normalised_code(source: str) -> str:
    """The code's AST with every string text blanked (f-string fields kept, in any order); no comments."""
    tree = ast.parse(parsable(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            fields = [value for value in node.values if isinstance(value, ast.FormattedValue)]
            node.values = sorted(fields, key=ast.dump)  # a translation may reorder the fields
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    magics = [line.strip() for line in source.splitlines() if line.lstrip().startswith(("%", "!"))]
    return ast.dump(tree) + "\n".join(magics)


def code_differences(english_nb, chinese_nb) -> list[str]:
    """Cells whose code differs beyond comments and string texts (or whose cell layout differs)."""
    if [(c.cell_type, c.get("id")) for c in english_nb.cells] != [(c.cell_type, c.get("id")) for c in chinese_nb.cells]:
        return ["the cells (their order, types or ids) differ"]
    found = []
    for index, (english, chinese) in enumerate(zip(english_nb.cells, chinese_nb.cells)):
        if english.cell_type == "code":
            try:
                same = normalised_code(english.source) == normalised_code(chinese.source)
            except SyntaxError as error:
                same, error_text = False, f" ({error.msg})"
            else:
                error_text = ""
            if not same:
                found.append(f"cell {index}: code differs{error_text}: {shorten(chinese.source, 80)}")
    return found


# ---------------------------------------------------------------- the term base

@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    kind: str  # "term" or "class" (a Fashion-MNIST class name)
    checked: bool  # False for words too ambiguous to check (e.g. "class", which is also Python's)


def glossary(path: Path = GLOSSARY) -> list[Term]:
    with path.open(encoding="utf-8", newline="") as file:
        return [Term(row["english"], row["chinese"], row["kind"], row["check"] == "yes") for row in csv.DictReader(file)]


def term_pattern(english: str) -> re.Pattern:
    """The English term, any case, with '-' or ' ' between words and an inflected last word."""
    english = re.sub(r"\s*\(.*?\)", "", english)
    if len(english) > 4 and english.endswith("s") and not english.endswith("ss"):
        english = english[:-1]  # "logits" also matches "logit"
    words = [re.escape(word) for word in re.split(r"[- ]", english)]
    return re.compile(r"(?<![\w-])" + r"[- ]".join(words) + r"(?:s|es|ed|d|ing)?(?![\w-])", re.IGNORECASE)


def prose_only(text: str) -> str:
    """Text without code spans, maths, links' targets, HTML tags and f-string fields."""
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]+>|https?://\S+", " ", text)
    text = re.sub(r"[\w.]*(?:[a-z][A-Z]|_|[a-z]\.[a-z])[\w.]*", " ", text)  # identifiers: DataLoader, F.log_softmax
    return re.sub(r"\{[^{}]*\}", " ", text)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def term_mismatches(catalog: polib.POFile, terms: list[Term], notebook: str) -> list[str]:
    """Units whose English uses a term and whose Chinese lacks the term's Chinese name."""
    checked = sorted((t for t in terms if t.checked), key=lambda t: len(t.english), reverse=True)
    found = []
    for english, chinese in translations(catalog).items():
        text = prose_only(english)
        for term in checked:
            pattern = term_pattern(term.english)
            if pattern.search(text):
                text = pattern.sub(" ", text)
                if squeeze(term.chinese) not in squeeze(chinese):
                    found.append(f"{notebook}: '{term.english}' should be '{term.chinese}' in: {shorten(chinese, 80)}")
    return found


# Names that stay in English in Chinese prose (products, people, data sets, the course's titles),
# and a cited work's original title in italics after its Chinese title: 《…》（*Original Title*）.
KEPT_NAMES = re.compile(r"Fashion-MNIST|PyTorch|NumPy|Jupyter(Lab)?|Dive into Deep Learning|Bradley-Terry"
                        r"|(?<=》（)\*[^*]+\*(?=）)", re.I)
ENGLISH_RUN = re.compile(r"(?<![\w.])[A-Za-z]+(?:['-][A-Za-z]+)*(?:[ ]+[A-Za-z]+(?:['-][A-Za-z]+)*){2,}(?![\w(])")


def english_left(catalog: polib.POFile, notebook: str) -> list[str]:
    """Translations that still hold an English sentence: three English words in a row, outside code and maths."""
    found = []
    for entry in catalog:
        if entry.msgstr and not entry.obsolete:
            run = ENGLISH_RUN.search(KEPT_NAMES.sub(" ", prose_only(entry.msgstr)))
            if run:
                found.append(f"{notebook}: English left ('{run.group()}') in: {shorten(entry.msgstr, 80)}")
    return found


# ---------------------------------------------------------------- README glossary tables

BEGIN_GLOSSARY = "<!-- glossary: generated from i18n/glossary.csv by `python -m tools.i18n readme` -->"
END_GLOSSARY = "<!-- end of glossary -->"


def glossary_markdown(terms: list[Term], chinese_first: bool = False) -> str:
    """Two terms a row, then the ten class names."""
    head = ("中文", "English") if chinese_first else ("English", "中文")
    rows = [f"| {head[0]} | {head[1]} | {head[0]} | {head[1]} |", "| --- | --- | --- | --- |"]
    words = [(t.chinese, t.english) if chinese_first else (t.english, t.chinese) for t in terms if t.kind == "term"]
    for left, right in zip(words[::2], words[1::2] + [("", "")] * (len(words) % 2)):
        rows.append(f"| {left[0]} | {left[1]} | {right[0]} | {right[1]} |".replace("|  |", "| |"))
    names = [t for t in terms if t.kind == "class"]
    if chinese_first:
        classes = "Fashion-MNIST的十个类别：" + "、".join(f"{t.chinese}（{t.english}）" for t in names) + "。"
    else:
        classes = "The ten Fashion-MNIST classes: " + ", ".join(f"{t.english} {t.chinese}" for t in names) + "."
    return "\n".join(rows) + "\n\n" + classes


def with_glossary(readme: str, table: str) -> str:
    """``readme`` with the text between the glossary markers replaced by ``table``."""
    begin, end = readme.index(BEGIN_GLOSSARY) + len(BEGIN_GLOSSARY), readme.index(END_GLOSSARY)
    return readme[:begin] + "\n" + table + "\n" + readme[end:]


def readmes(root: Path = ROOT) -> dict[Path, bool]:
    """Each README with the glossary, and whether its table puts Chinese first."""
    return {root / "README.md": False, root / "README.zh-CN.md": True}


def write_readmes(root: Path = ROOT, glossary_path: Path = GLOSSARY) -> None:
    terms = glossary(glossary_path)
    for path, chinese_first in readmes(root).items():
        path.write_text(with_glossary(path.read_text(encoding="utf-8"), glossary_markdown(terms, chinese_first)),
                        encoding="utf-8")


# ---------------------------------------------------------------- command line

def update_all(root: Path = ROOT, catalog_dir: Path = CATALOG_DIR) -> list[str]:
    """Update every manifest catalog; return what needs translating."""
    todo = []
    for notebook in manifest(root / "i18n" / "MANIFEST"):
        path = catalog_path(notebook, catalog_dir)
        update_catalog(root / notebook, path, notebook)
        todo += problems(root / notebook, path, notebook)
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["update", "check", "build", "exercises", "readme"])
    command = parser.parse_args(argv).command
    notebooks = manifest()
    if command in ("update", "check"):
        todo = update_all() if command == "update" else [
            line for nb in notebooks for line in problems(ROOT / nb, catalog_path(nb), nb)]
        for line in todo:
            print(line)
        print(f"{len(todo)} unit(s) to translate in {', '.join(catalog_path(nb).relative_to(ROOT).as_posix() for nb in notebooks)}"
              if todo else f"All {len(notebooks)} catalogs are complete.")
        return 1 if todo and command == "check" else 0
    if command == "build":
        for path in build(notebooks):
            print(f"wrote {path.relative_to(ROOT)}")
    elif command == "exercises":
        for path in build_exercises():
            print(f"wrote {path.relative_to(ROOT)}")
    else:
        write_readmes()
        print("wrote the glossary tables into README.md and README.zh-CN.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
