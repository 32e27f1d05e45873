"""The house rules a reader relies on: no study named in a rule file, no import cycle, short files."""

import ast
import re
from pathlib import Path

from memgen.studies import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workflow" / "memgen"
LONG_FILES = {"train.py"}  # the narrated training loop may be the one long file
MAX_LINES = 300


def test_no_rule_file_names_a_study():
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        for name in REGISTRY:
            assert not re.search(rf"[\"']{name}[\"']", text), f"{path.name} names the study {name!r}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """memgen modules imported anywhere in the file (function bodies too): ``from a import b`` counts as a.b when
    a.b is a module, else as a."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("memgen"):
            for a in node.names:
                out.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module)
    return out


def test_no_import_cycle_in_the_package():
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: _imports(p, set(files)) - {m} for m, p in files.items()}
    # a package imports its own submodules in __init__; a submodule importing its package's __init__ is the cycle
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_files_are_short():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES and p.name not in LONG_FILES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
