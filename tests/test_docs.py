"""Every ```python and ```bash block of README.md and docs/*.md runs as written.

Each block is one test, run in a fresh interpreter (or bash) in a scratch folder holding the
files the docs name (``scores.csv``: two GPT-3 arithmetic tasks of two families from the bundled
ObsScaling table; ``results/`` and ``sizes.csv``: lm-eval results; ``data/``: the bundled data).
The documented commands run unchanged except that

* ``EMERGENCE_DOCS_FAST=1`` caps draws and tuning steps at 100 (tests/docs_fast/sitecustomize.py),
* replicate and simulation counts are cut to 2 (``replicates=50`` -> ``replicates=2``),
* a python block runs after the earlier blocks of its file that define the names it uses (as
  in a notebook), and names no block defines (``df``, ``fit``) come from :data:`FIXTURES`.

In bash, ``emergence`` exiting with 1 (diagnostics failed: expected with 100 draws) is
accepted; any other failure, and any traceback, fails the test.

Opting out: a block preceded by ``<!-- skip-test: reason -->`` is not collected (the reason
stays in the document);
``<!-- test: slow -->`` marks a block slow. Blocks running an analysis beyond a fit (check,
compare, design, sbc, demo, backtest, ...) are slow automatically; the rest are in the default
suite.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FAST_DIR = Path(__file__).resolve().parent / "docs_fast"
TIMEOUT = 900

_FENCE = re.compile(r"^```(python|bash)[^\n]*\n(.*?)^```", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*(skip-test|test)\s*:?\s*(.*?)\s*-->\s*$", re.S)
#: Calls that make a block slow (an analysis beyond one fit, or many fits).
_HEAVY = re.compile(r"\b(em\.)?(check|compare|design|recommend_scales|subsample|sbc|backtest)\("
                    r"|\bemergence (check|compare|design|sbc|demo|backtest)\b|\bread_lm_eval\([^)]*"
                    r"lm-eval-raw")
#: Count arguments cut to 2 in the docs tests.
_COUNTS = re.compile(r"(\b(?:replicates|simulations)\s*=\s*|--(?:replicates|simulations)[ =])\d+")

#: Code defining names the docs use without defining them (a block that needs one runs it
#: first). ``fit`` costs a fit, so blocks using it are slow.
FIXTURES = {
    "df": 'import pandas as pd\ndf = pd.DataFrame({"model": ["a-1b", "a-7b", "a-70b"], '
          '"size": [1e9, 7e9, 7e10], "mmlu": [26.0, 35.5, 63.1], "gsm8k": [1.5, 10.2, 55.0]})',
    "fit": 'import emergence as em\nfit = em.fit(em.load_scores("scores.csv"), seed=1)',
}
_HEAVY_FIXTURES = {"fit"}


@dataclass
class Block:
    path: Path
    index: int  # position among the file's blocks of its language
    lang: str
    code: str
    line: int
    skip: str | None
    slow: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.lang}"


def extract(path: Path) -> list[Block]:
    """The ```python and ```bash blocks of a markdown file, with their directives."""
    text = path.read_text(encoding="utf-8")
    out: list[Block] = []
    counts = {"python": 0, "bash": 0}
    for m in _FENCE.finditer(text):
        lang, code = m.group(1), m.group(2)
        before = text[:m.start()].rstrip().rsplit("\n", 1)[-1]
        d = _DIRECTIVE.search(before)
        skip = d.group(2) or "opted out" if d and d.group(1) == "skip-test" else None
        slow = bool(d and d.group(1) == "test" and "slow" in d.group(2)) or bool(_HEAVY.search(code))
        out.append(Block(path, counts[lang], lang, code, text[:m.start()].count("\n") + 1,
                         skip, slow))
        counts[lang] += 1
    return out


def _blocks() -> list[Block]:
    return [b for p in DOCS for b in extract(p)]


def _params() -> list:
    out = []
    for b in _blocks():
        if b.skip is not None:  # opted out in the document, with its reason: not a test
            continue
        slow = b.slow
        if b.lang == "python" and b.skip is None:
            _, deps, heavy_fixture = python_program(b)
            slow = slow or heavy_fixture or any(d.slow for d in deps)
        out.append(pytest.param(b, id=b.id, marks=[pytest.mark.slow] if slow else []))
    return out


def shrink(code: str) -> str:
    """Cut replicate and simulation counts to 2."""
    return _COUNTS.sub(lambda m: m.group(1) + "2", code)


def undefined_names(code: str) -> set[str]:
    """Names a python program reads but never binds (and that are not builtins)."""
    tree = ast.parse(code)
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store | ast.Del) else used).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return used - bound - set(dir(builtins))


def bound_names(code: str) -> set[str]:
    """Names a python program binds at top level (assignments, imports, defs)."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _split_imports(code: str) -> tuple[str, str]:
    """(the top-level import statements, the rest) of a python block."""
    tree = ast.parse(textwrap.dedent(code))
    lines = textwrap.dedent(code).splitlines()
    imp = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    rows = {i for n in imp for i in range(n.lineno - 1, n.end_lineno)}
    return ("\n".join(lines[i] for i in sorted(rows)),
            "\n".join(ln for i, ln in enumerate(lines) if i not in rows))


def python_program(block: Block) -> tuple[str, list[Block], bool]:
    """The script of a python block: the fixtures it needs, the file's earlier blocks that
    define names it uses (and theirs, in order), then the block.

    Returns the script, the earlier blocks included and whether a heavy fixture is used.
    """
    earlier = [b for b in extract(block.path)
               if b.lang == "python" and b.index < block.index and b.skip is None]
    needed = undefined_names(block.code)
    deps: list[Block] = []
    parts: list[str] = []
    for b in reversed(earlier):
        imports, rest = _split_imports(b.code)
        if needed & bound_names(rest):
            deps.insert(0, b)
            parts.insert(0, b.code)
            needed = (needed - bound_names(b.code)) | undefined_names(b.code)
        elif needed & bound_names(imports):  # only its imports are needed
            parts.insert(0, imports)
            needed -= bound_names(imports)
    body = "\n".join(shrink(textwrap.dedent(c)) for c in [*parts, block.code])
    missing = undefined_names(body)
    unknown = missing - set(FIXTURES)
    assert not unknown, (f"{block.id} uses {sorted(unknown)}, defined by no earlier block; define "
                         "them in the docs or add a fixture to tests/test_docs.py FIXTURES")
    pre = [FIXTURES[n] for n in sorted(missing)]
    return "\n".join([*pre, body]), deps, bool(missing & _HEAVY_FIXTURES)


BASH_PRELUDE = """set -eo pipefail
emergence() {
  local rc=0
  "$EMERGENCE_PYTHON" -m emergence "$@" || rc=$?
  if [ "$rc" -gt 1 ]; then echo "emergence $* exited with $rc" >&2; exit "$rc"; fi
}
"""


@pytest.fixture(scope="session")
def docs_files(tmp_path_factory) -> Path:
    """The files the docs name, built once."""
    d = tmp_path_factory.mktemp("docs_files")
    src = pd.read_csv(ROOT / "data" / "obsscaling_ruan2024.csv")
    keep = src["task"].isin(["arithmetic_2da", "arithmetic_3ds"]) & src["family"].isin(
        ["OPT", "Pythia"])
    src[keep].to_csv(d / "scores.csv", index=False)
    shutil.copytree(ROOT / "tests" / "fixtures" / "lm_eval_04x", d / "results")
    pd.DataFrame({"model": ["EleutherAI/pythia-160m"], "params": [1.6e8]}).to_csv(
        d / "sizes.csv", index=False)
    return d


def _workdir(docs_files: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(docs_files, work)
    (work / "data").symlink_to(ROOT / "data")
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(FAST_DIR), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env.update({"EMERGENCE_DOCS_FAST": "1", "PYTHONPATH": os.pathsep.join(p for p in paths if p),
                "EMERGENCE_PYTHON": sys.executable, "MPLBACKEND": "Agg", "NO_COLOR": "1"})
    return env


@pytest.mark.parametrize("block", _params())
def test_doc_block_runs(block: Block, docs_files: Path, tmp_path: Path) -> None:
    work = _workdir(docs_files, tmp_path)
    if block.lang == "python":
        code, _, _ = python_program(block)
        cmd = [sys.executable, "-c", code]
    else:
        cmd = ["bash", "-c", BASH_PRELUDE + shrink(block.code)]
    out = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True,
                         timeout=TIMEOUT)
    log = f"--- {block.id}\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-5000:]}"
    assert out.returncode == 0, log
    assert "Traceback" not in out.stderr, log


def test_extraction_and_directives(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("# t\n\n<!-- skip-test: needs a GPU -->\n```bash\nrun-gpu\n```\n\n"
                  "```python\nimport emergence as em\nres = em.check(t)\n```\n\n"
                  "<!-- test: slow -->\n```python\nx = 1\n```\n\n```text\nnot code\n```\n")
    b = extract(md)
    assert [(x.lang, x.skip, x.slow) for x in b] == [
        ("bash", "needs a GPU", False), ("python", None, True), ("python", None, True)]
    assert shrink("em.design(t, g, replicates=50); --replicates 50 --simulations 200") == \
        "em.design(t, g, replicates=2); --replicates 2 --simulations 2"
    assert undefined_names("import emergence as em\nx = em.f(df)\nprint(x)") == {"df"}
    assert len(_blocks()) >= 10  # README and docs/ were found
