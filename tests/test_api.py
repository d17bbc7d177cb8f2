"""The package namespace: every name of ``__all__`` resolves, modules are not shadowed by
functions, and the layers import one way (no cycles through the package ``__init__``)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import types

import pytest

import emergence as em


def test_every_name_in_all_resolves():
    missing = [n for n in em.__all__ if not hasattr(em, n)]
    assert missing == []
    for name in ("design", "DesignResult", "Truth", "recommend_scales", "subsample", "plots",
                 "fit", "load_fit", "check", "compare", "report", "Prior"):
        assert name in em.__all__
        assert getattr(em, name) is not None


def test_star_import_in_a_fresh_interpreter():
    code = ("from emergence import *; import emergence as em; "
            "missing = [n for n in em.__all__ if n not in globals()]; "
            "assert not missing, missing; print(len(em.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == len(em.__all__)


def test_import_is_lazy_no_pymc():
    code = "import sys, emergence; print('pymc' in sys.modules, 'emergence.results' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.parametrize("name", ["check", "compare", "design", "report"])
def test_modules_are_not_shadowed_and_stay_callable(name):
    mod = importlib.import_module(f"emergence.{name}")
    alias = importlib.import_module("emergence")
    assert getattr(alias, name) is mod  # `import emergence.compare as m` gives the module
    assert isinstance(mod, types.ModuleType)
    func = getattr(mod, name)
    assert inspect.isfunction(func)
    assert callable(mod) and mod.__wrapped__ is func
    assert inspect.signature(mod) == inspect.signature(func)


def test_import_as_gives_module_in_fresh_interpreter():
    # the order matters for plain attributes: import the submodule first, then call via em
    code = ("import emergence.compare as m, types, emergence as em; "
            "assert isinstance(m, types.ModuleType) and hasattr(m, 'Comparison'); "
            "assert em.compare is m and callable(em.compare); "
            "from emergence import check; assert check.check is check.__wrapped__; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr


def test_callable_module_calls_the_function():
    # em.design(...) is emergence.design.design(...): a bad grid gets that function's error
    with pytest.raises(em.ConfigError, match="FROM..TO:COUNT"):
        em.design(em.Truth.sharp(0.5), ["lots"], replicates=1)


def test_unknown_name_is_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        em.nonexistent  # noqa: B018


def test_layers_do_not_import_the_package_init_names_or_cycle():
    """coverage must not import results (results imports coverage); leaf modules stay leaves."""
    import ast
    from pathlib import Path

    src = Path(em.__file__).parent
    for leaf, forbidden in (("coverage.py", {"results"}), ("messages.py", None),
                            ("_version.py", None), ("priors.py", {"models", "results", "config"})):
        tree = ast.parse((src / leaf).read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
        mods = {m or "" for m in mods}
        if forbidden is None:
            assert mods == set(), (leaf, mods)
        else:
            assert not (mods & forbidden), (leaf, mods)


def test_no_long_functions_in_the_interface_modules():
    """No function over 80 lines (the project's hard limit) in the CLI, config, priors,
    coverage and package modules."""
    import ast
    from pathlib import Path

    src = Path(em.__file__).parent
    files = [*(src / "cli").glob("*.py"), *(src / n for n in ("__init__.py", "config.py",
                                                               "priors.py", "coverage.py"))]
    long = []
    for f in files:
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 80:
                long.append(f"{f.name}:{n.name} ({n.end_lineno - n.lineno + 1} lines)")
    assert long == []
