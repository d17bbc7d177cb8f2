"""Every docstring example of the package runs and prints what it says (``doctest``)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import emergence

MODULES = sorted(m.name for m in pkgutil.walk_packages(emergence.__path__, "emergence.")
                 if not m.name.endswith("__main__"))


def test_the_package_has_examples() -> None:
    finder = doctest.DocTestFinder()
    n = sum(len(t.examples) for name in MODULES
            for t in finder.find(importlib.import_module(name)))
    assert n >= 100


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False, verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples of {name} failed; "
        f"run `python -m doctest -v {module.__file__}` to see them")
