"""The house rules a reader relies on: no study named in a rule file or outside the studies package, no import
cycle between modules or between packages, no private name used across modules, short files."""

import ast
import re
from pathlib import Path

import pytest

from memgen.studies import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
# Strings that equal a study's name without naming the study: (file, value) -> why.
NOT_A_STUDY = {("workflow/memgen/analysis/capacity.py", "capacity"): "the table column of the measured capacity"}
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


REFERENCE = re.compile(r"^(memgen(?:\.\w+)+):\w+$")  # "package.module:function", resolved when a job runs


def _imports(path: Path, modules: set[str]) -> set[str]:
    """memgen modules imported anywhere in the file (function bodies too): ``from a import b`` counts as a.b when
    a.b is a module, else as a; a ``"memgen.module:function"`` string (a record's reference, `memgen.studies.resolve`)
    counts as importing that module."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and REFERENCE.match(node.value):
            out.add(REFERENCE.match(node.value).group(1))
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("memgen"):
            for a in node.names:
                out.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module)
    return out


def _cycle(graph: dict[str, set[str]]) -> None:
    """Raise AssertionError naming the first cycle of a dependency graph (node -> nodes it imports)."""
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


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: _imports(p, set(files)) - {m} for m, p in files.items()}


def test_no_import_cycle_between_modules():
    _cycle(_graph())


def _unit(module: str) -> str:
    """A module's package below memgen (memgen.studies.grid -> memgen.studies), or the top-level module itself."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_packages():
    """A floor plan: evaluation/ and analysis/, studies/ and interop/ ... never import each other both ways, also
    through other packages (imports inside functions count)."""
    units: dict[str, set[str]] = {}
    for module, imported in _graph().items():
        units.setdefault(_unit(module), set()).update(_unit(m) for m in imported if _unit(m) != _unit(module))
    units = {u: deps - {"memgen"} for u, deps in units.items()}
    _cycle(units)


def test_record_references_count_as_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('T = Table("t", "memgen.analysis.tables:concat")\nDOC = "memgen.analysis.tables"\n')
    assert _imports(module, {"memgen.analysis.tables"}) == {"memgen.analysis.tables"}
    module.write_text('DOC = "see memgen.analysis.tables:concat"\n')
    assert _imports(module, {"memgen.analysis.tables"}) == set()


def test_every_function_a_record_names_resolves():
    """Every "module:function" of every registered study's tables (build, Markdown), figures and jobs is
    importable (a typo would otherwise surface only when that job runs)."""
    from memgen.studies import resolve

    refs = {ref for study in REGISTRY.values() for ref in record_references(study)}
    assert refs and all(isinstance(r, str) for r in refs)
    for ref in sorted(refs):
        assert callable(resolve(ref)), ref


def record_references(study) -> list:
    """The function references a study record holds (strings or callables)."""
    refs = [t.build for t in study.tables] + [t.markdown for t in study.tables if t.markdown]
    refs += [f.draw for f in study.figures] + [j.run for j in getattr(study, "jobs", ())]
    return refs


def test_the_cycle_check_can_fail():
    with pytest.raises(AssertionError, match="a -> b -> a"):
        _cycle({"a": {"b"}, "b": {"a"}})


def test_no_private_name_is_imported_across_modules():
    used = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("memgen"):
                used += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                         if a.name.startswith("_")]
    assert not used, used


def _names_a_study(value: str) -> str | None:
    """The study a string names: equal to its name, or a config key or results path under it (``name.sizes``)."""
    return next((name for name in REGISTRY if value == name or re.search(rf"(?<![\w.]){name}[./]\w", value)), None)


def test_no_python_outside_the_studies_package_names_a_study():
    """Study names appear in memgen's code only inside memgen.studies (docstrings, help texts and comments aside)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if "studies" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _is_docstring(node, path):
                name = _names_a_study(node.value)
                if name and (rel, node.value) not in NOT_A_STUDY:
                    found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, found


def test_the_study_name_check_can_fail():
    assert _names_a_study("capacity") == "capacity" and _names_a_study("disjoint_split.sizes: 5") == "disjoint_split"
    assert _names_a_study("results/capacity/x") == "capacity" and _names_a_study("a loss_gap figure") is None


def test_files_are_short():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES and p.name not in LONG_FILES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def _is_docstring(node: ast.Constant, path: Path) -> bool:
    return node.value in _docstrings(path)


_DOCS: dict[Path, set[str]] = {}


def _docstrings(path: Path) -> set[str]:
    if path not in _DOCS:
        tree = ast.parse(path.read_text())
        _DOCS[path] = {ast.get_docstring(n, clean=False) for n in ast.walk(tree)
                       if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))} - {None}
    return _DOCS[path]
