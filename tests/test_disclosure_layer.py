"""Disclosure is one explicit layer (issue 31).

- No module of ``belonging_lib`` outside the ``disclosure`` package imports a private name of it (or
  one of its private modules): other modules go through the public hook ``protect`` and the public
  names.  Read from the source with ``ast``, imports inside functions included.
- No module-level global holds the policy or the context: they live in a ``contextvars.ContextVar``,
  so code run in a fresh context sees the defaults, whatever the running code has set.
"""

from __future__ import annotations

import ast
import contextvars
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from belonging_lib import DataError
from belonging_lib.disclosure import (
    DisclosurePolicy,
    FeasibleInterval,
    SuppressedTable,
    automatic_context,
    context,
    count_by,
    feasible_interval,
    get_context,
    get_default_policy,
    protect,
    set_context,
    set_default_policy,
    summarise_by,
)

PACKAGE = Path(__file__).resolve().parents[1] / "belonging_lib"
LAYER = "belonging_lib.disclosure"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def _private_uses(source: str, module: str, path: Path) -> list[str]:
    """Private names of the disclosure layer that one module imports or reads (with their line)."""
    tree = ast.parse(source)
    found = []
    aliases = set()  # local names bound to the disclosure package itself
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node, path)
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full == LAYER:
                    aliases.add(alias.asname or alias.name)
                if target == LAYER or target.startswith(LAYER + "."):
                    private_module = any(p.startswith("_") for p in target[len(LAYER) :].split(".") if p)
                    if private_module or alias.name.startswith("_"):
                        found.append(f"line {node.lineno}: from {target} import {alias.name}")
                elif full.startswith(LAYER + "._"):
                    found.append(f"line {node.lineno}: from {target} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(LAYER + "._"):
                    found.append(f"line {node.lineno}: import {alias.name}")
                if alias.name == LAYER and alias.asname:
                    aliases.add(alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            value = node.value
            if isinstance(value, ast.Name) and value.id in aliases:
                found.append(f"line {node.lineno}: {value.id}.{node.attr}")
            elif ast.unparse(value) == LAYER:
                found.append(f"line {node.lineno}: {LAYER}.{node.attr}")
    return found


def test_no_module_outside_the_layer_imports_its_private_names():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module == LAYER or module.startswith(LAYER + "."):
            continue
        uses = _private_uses(path.read_text(encoding="utf-8"), module, path)
        if uses:
            offenders[module] = uses
    assert not offenders, f"private names of {LAYER} used outside it: {offenders}"


@pytest.mark.parametrize(
    "source, module, expected",
    [
        ("from .disclosure import _Cell, suppress", "belonging_lib.report", 1),
        ("def f():\n    from ..disclosure import _protect_block\n", "belonging_lib.survey.design", 1),
        ("from ..disclosure._context import DisclosureContext", "belonging_lib.survey.design", 1),
        ("from . import disclosure as D\nD._row_ids(1, 2)", "belonging_lib.report", 1),
        ("import belonging_lib.disclosure._suppression", "belonging_lib.report", 1),
        (
            "from .disclosure import protect, suppress\nfrom .disclosure_ledger import _select",
            "belonging_lib.report",
            0,
        ),
    ],
)
def test_the_private_import_check_finds_what_it_should(source, module, expected):
    """The check above would have found the imports that report.py and survey/design.py used to make."""
    path = PACKAGE / (module.removeprefix("belonging_lib.").replace(".", "/") + ".py")
    assert len(_private_uses(source, module, path)) == expected


def test_the_layer_has_no_global_statement():
    for path in sorted((PACKAGE / "disclosure").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Global)], path.name


def _holds(value, targets) -> bool:
    if any(value is t for t in targets):
        return True
    if isinstance(value, dict):
        return any(_holds(k, targets) or _holds(v, targets) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(any(v is t for t in targets) for v in value)
    return False


def test_no_module_global_holds_the_policy_or_the_context(monkeypatch):
    monkeypatch.delenv("BELONGING_DISCLOSURE_THRESHOLD", raising=False)
    monkeypatch.delenv("BELONGING_DISCLOSURE_CONFIG", raising=False)
    d = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 15, "y": np.arange(27.0)})
    policy = DisclosurePolicy(threshold=5)
    set_default_policy(policy)
    try:
        with context() as ctx:
            count_by(d, by="g")
            auto = automatic_context(d)
            held = [
                name
                for mod_name, mod in list(sys.modules.items())
                if mod_name.startswith("belonging_lib")
                for name, value in vars(mod).items()
                if _holds(value, (policy, ctx, auto))
            ]
            assert not held, f"module globals hold the disclosure policy or a context: {held}"
            # a fresh context (a new thread or task starts from one) sees the defaults
            fresh = contextvars.Context()
            assert fresh.run(get_default_policy) == DisclosurePolicy()
            assert fresh.run(get_context) is None
            assert automatic_context(d) is auto
            assert fresh.run(automatic_context, d) is not auto
            # what is set in a copy of the running context stays there
            copy = contextvars.copy_context()
            copy.run(set_context, None)
            assert copy.run(get_context) is None
            assert get_context() is ctx
    finally:
        set_default_policy(None)
    assert get_context() is None


def test_protect_reproduces_the_context_check_of_a_summary():
    """A summary's rows given to ``protect`` in a context that has published the year sizes."""
    d = pd.DataFrame(
        {"year": ["Y5"] * 59 + ["Y6"] * 60, "gender": ["F"] * 9 + ["M"] * 50 + ["F"] * 30 + ["M"] * 30, "y": 1.0}
    )
    with context():
        count_by(d, by="year")
        expected = summarise_by(d, outcome="y", by=["year", "gender"])
    with context():
        count_by(d, by="year")
        table = pd.DataFrame({"year": ["Y5", "Y5", "Y6", "Y6"], "gender": ["F", "M", "F", "M"], "n": [9, 50, 30, 30]})
        groups = [
            (d["year"] == y).to_numpy() & (d["gender"] == g).to_numpy() for y, g in zip(table["year"], table["gender"])
        ]
        got = protect(table, counts="n", ids=groups, source=d, blocks=[np.arange(4)])
    assert isinstance(got, SuppressedTable)
    assert got.display()["n"].tolist() == expected.display()["n"].tolist() == ["[c]", "[c]", "[c]", "30"]
    # without the context the only small cell and its block partner are withheld
    alone = protect(table, counts="n", blocks=[np.arange(4)], context=False)
    assert alone.mask["n"].tolist() == [True, False, True, False]


def test_protect_names_the_argument_of_the_wrong_length():
    table = pd.DataFrame({"n": [12, 30]})
    with pytest.raises(DataError, match=r"`ids` has 1 entries, but the table has 2 rows"):
        protect(table, counts="n", ids=[np.arange(12)])
    with pytest.raises(DataError, match="`counts` names the column 'count'"):
        protect(table, counts="count")


def test_feasible_interval_is_a_result_object():
    got = feasible_interval([[1, 1, 1], [0, 0, 1]], [57, 50], [1, 0, 0])
    assert isinstance(got, FeasibleInterval)
    assert (got.low, got.high, got.width) == (0.0, 7.0, 7.0)
    assert got.to_frame().to_dict("records") == [{"low": 0.0, "high": 7.0, "width": 7.0}]
