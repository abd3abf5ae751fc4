"""Layers point one way (issue 15).

- No import cycle inside ``belonging_lib``: the graph of the modules' top-level imports (those that
  run when a module is imported; imports inside functions are lazy and not counted) has no cycle.
- Estimators never import the figures: no module outside ``plots`` (and the chapters' helpers, which
  exist to draw) imports ``belonging_lib.plots`` when it is imported.  A result's ``.plot()`` method
  may import ``plots`` inside the method.

The graph is read from the source with ``ast``, so a cycle is found even where Python's import
order happens to let it run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "belonging_lib"

#: Modules that may import ``belonging_lib.plots`` at import time: the figures themselves, and the
#: chapters' helpers (they set the figures' style for a chapter).
MAY_IMPORT_PLOTS = ("belonging_lib.plots", "belonging_lib.schools.plots", "belonging_lib.notebook",
                    "belonging_lib.book")


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _top_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported (not inside functions or TYPE_CHECKING)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        stack.extend(ast.iter_child_nodes(node))


def _existing(name: str) -> str | None:
    """The module ``name``, or its nearest parent that is a module of the package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str) -> set[str]:
    """The package's modules that module ``name`` imports at import time."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if _is_package(name) else name.rpartition(".")[0]
    out = set()
    for node in _top_level_imports(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from pkg import sub` imports the submodule; `from pkg import name` runs pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for t in targets:
            if t.startswith("belonging_lib"):
                found = _existing(t)
                if found and found != name:
                    out.add(found)
    return out


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(cycle: list[str]) -> str:
    edges = [f"{a} -> {b}" for a in cycle for b in sorted(GRAPH[a]) if b in cycle]
    return "cycle among " + ", ".join(cycle) + " (" + "; ".join(edges) + ")"


def test_the_walk_sees_the_package():
    """The graph holds the modules and the imports (a walk that found nothing would pass)."""
    assert len(MODULES) > 50
    assert "belonging_lib.models.regression" in GRAPH["belonging_lib.models.gaps"]
    assert "belonging_lib._results" in GRAPH["belonging_lib.models.moderation"]


def test_no_import_cycle():
    cycles = find_cycles(GRAPH)
    assert not cycles, "\n".join(_describe(c) for c in cycles)


def test_the_cycle_check_catches_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def _may_import_plots(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in MAY_IMPORT_PLOTS)


def test_no_module_outside_the_figures_imports_plots_at_import_time():
    """Static: no module but the figures and the chapters' helpers imports ``plots`` at its top level."""
    bad = sorted(f"{name} imports {', '.join(sorted(t for t in targets if _may_import_plots(t)))}"
                 for name, targets in GRAPH.items()
                 if not _may_import_plots(name)
                 and any(t == "belonging_lib.plots" or t.startswith("belonging_lib.plots.") for t in targets))
    assert not bad, "\n".join(bad)


def test_importing_the_estimators_does_not_load_plots():
    """Dynamic: importing every module but the figures and the chapters' helpers leaves ``plots`` unloaded."""
    names = [n for n in sorted(MODULES) if not _may_import_plots(n) and n != "belonging_lib.__main__"
             and not n.endswith(".__main__")]
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n"
            "    importlib.import_module(n)\n"
            "    if 'belonging_lib.plots' in sys.modules:\n"
            "        print(n); break\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PACKAGE.parent, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not out.stdout.strip(), f"importing {out.stdout.strip()} loads belonging_lib.plots"


@pytest.mark.parametrize("estimator", ["belonging_lib.models.moderation", "belonging_lib.models.importance"])
def test_estimators_with_a_plot_method_import_plots_lazily(estimator):
    assert not any(t.startswith("belonging_lib.plots") for t in GRAPH[estimator])


#: The estimators' packages and modules: figures draw their results and never call them.
ESTIMATORS = ("belonging_lib.models", "belonging_lib.trials", "belonging_lib.reliability",
              "belonging_lib.structure", "belonging_lib.survey", "belonging_lib.imputation",
              "belonging_lib.proportions", "belonging_lib.school_intervals")


def _all_imports(name: str) -> set[str]:
    """Every module of the package that ``name`` imports anywhere, inside functions too."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if _is_package(name) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            out.add(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("belonging_lib"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("belonging_lib"))
    return out


def test_figures_never_call_an_estimator():
    """A figure draws what a result gives (``jn_curve()``, ``predicted_lines()``, tables); it does not
    import an estimator, not even inside a function (the old Johnson-Neyman plot did)."""
    bad = sorted(f"{name} imports {target}" for name in MODULES if name.startswith("belonging_lib.plots")
                 for target in _all_imports(name)
                 if any(target == e or target.startswith(e + ".") for e in ESTIMATORS))
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------- imports inside functions

#: Methods that import the figures lazily on purpose: a result's ``.plot()`` draws it with ``plots``.
#: An import inside a function of one of these names is left out of the full graph only when it
#: imports a figures module; any other import inside them counts.
LAZY_PLOT_METHODS = ("plot",)

#: Cycles that exist today through imports inside functions, each listed with the change that breaks
#: it. The test fails when a new cycle appears and when a listed one is gone (then delete its entry).
#: None today: the audit and its figure read the rating levels from schools._framework.
KNOWN_CYCLES: list[list[str]] = []


def _is_figures(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in ("belonging_lib.plots", "belonging_lib.schools.plots"))


def imports_anywhere(name: str) -> dict[str, set[str | None]]:
    """The package's modules that ``name`` imports, at import time or inside a function.

    Returns {module: names of the functions whose bodies import it (``None``: at import time)}.
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if _is_package(name) else name.rpartition(".")[0]
    out: dict[str, set[str | None]] = {}

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if node.level:
            base = here
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(ast.Module(body=[sub], type_ignores=[]), function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in targets(child):
                    found = _existing(t) if t.startswith("belonging_lib") else None
                    if found and found != name:
                        out.setdefault(found, set()).add(function)
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            visit(child, inner)

    visit(tree, None)
    return out


FULL = {name: imports_anywhere(name) for name in MODULES}


def full_graph() -> dict[str, set[str]]:
    """Every import, inside functions too, less the lazy figures imports of the ``.plot()`` methods."""
    return {name: {t for t, functions in imports.items()
                   if not (_is_figures(t) and functions <= set(LAZY_PLOT_METHODS))}
            for name, imports in FULL.items()}


def test_the_full_walk_sees_the_imports_inside_functions():
    """The full graph holds the lazy imports the top-level graph leaves out (a blind walk would pass)."""
    lazy = sum(1 for imports in FULL.values() for functions in imports.values() if functions - {None})
    assert lazy > 50, lazy
    # a known lazy import: the command line imports the book inside its run command
    assert "_cmd_run" in FULL["belonging_lib.cli"]["belonging_lib.book"]
    assert "belonging_lib.book" not in GRAPH["belonging_lib.cli"]
    # the allow-list names methods that exist and import the figures
    assert any("plot" in functions and _is_figures(t) for imports in FULL.values() for t, functions in imports.items())


def test_no_import_cycle_counting_imports_inside_functions():
    cycles = find_cycles(full_graph())
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if c not in cycles]
    graph = full_graph()
    assert not new, "\n".join("cycle among " + ", ".join(c) + " (" + "; ".join(
        f"{a} -> {b}" for a in c for b in sorted(graph[a]) if b in c) + ")" for c in new)
    assert not gone, f"these cycles are broken now: delete them from KNOWN_CYCLES: {gone}"
