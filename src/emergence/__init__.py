"""emergence: Bayesian analysis of emergent abilities in scaling data.

Quick start::

    import emergence as em
    table = em.load_scores("scores.csv", scale="params")
    fit = em.fit(table, model="sigmoid", seed=1)
    fit.summary()

The namespace is lazy: ``import emergence`` is fast (no PyMC), and each name of
:data:`__all__` is imported on first use.

Functions that share their name with their module (``check``, ``compare``, ``design``,
``report``, ``backtest``) are *callable modules*: ``em.compare`` is the module
``emergence.compare``, and calling it calls the function ``emergence.compare.compare``. So both
``em.compare(table)`` and ``import emergence.compare as m; m.Comparison`` work, and the answer
does not depend on which was imported first (a plain function attribute would be replaced by
the module as soon as anything imports the submodule, or would make ``import emergence.compare
as m`` return the function). ``inspect.signature(em.compare)`` is the function's signature and
``em.compare.__wrapped__`` is the function itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

#: name -> (module, attribute) of the public names; attribute ``None`` means the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "BacktestResult": ("backtest", "BacktestResult"),
    "CheckResult": ("check", "CheckResult"),
    "Comparison": ("compare", "Comparison"),
    "Config": ("config", "Config"),
    "ConfigError": ("errors", "ConfigError"),
    "ConvergenceWarning": ("errors", "ConvergenceWarning"),
    "DesignResult": ("design", "DesignResult"),
    "DroppedRowsWarning": ("errors", "DroppedRowsWarning"),
    "EmergenceDataError": ("errors", "EmergenceDataError"),
    "EmergenceError": ("errors", "EmergenceError"),
    "EmergenceWarning": ("errors", "EmergenceWarning"),
    "Fit": ("results", "Fit"),
    "Prior": ("priors", "Prior"),
    "ScoreTable": ("data", "ScoreTable"),
    "SparseDataWarning": ("errors", "SparseDataWarning"),
    "Truth": ("design", "Truth"),
    "backtest": ("backtest", None),
    "check": ("check", None),
    "compare": ("compare", None),
    "coverage": ("coverage", None),
    "curves": ("curves", None),
    "datasets": ("datasets", None),
    "design": ("design", None),
    "fit": ("results", "fit"),
    "from_wide": ("readers", "from_wide"),
    "load_backtest": ("backtest", "load_backtest"),
    "load_fit": ("results", "load_fit"),
    "load_scores": ("data", "load_scores"),
    "models": ("models", None),
    "plots": ("plots", None),
    "read_lm_eval": ("readers", "read_lm_eval"),
    "recommend_scales": ("design", "recommend_scales"),
    "report": ("report", None),
    "subsample": ("design", "subsample"),
}
#: Modules holding a function of their own name: the package attribute is the module, made
#: callable (calling it calls the function).
CALLABLE_MODULES = ("backtest", "check", "compare", "design", "report")

#: Names of modules that other work may not have added yet: listed in ``__all__`` only when present.
_OPTIONAL_MODULES = ("backtest",)
__all__ = ["__version__", *sorted(
    n for n, (m, _) in _LAZY.items()
    if m not in _OPTIONAL_MODULES or importlib.util.find_spec(f"{__name__}.{m}") is not None)]


class _CallableModule(types.ModuleType):
    """A module that, called, calls its function of the same name (``em.compare(...)``)."""

    @property
    def __wrapped__(self) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # replaced per module, see below
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # function attributes (``__globals__``, ``__defaults__``, ...) are the function's
        if name.startswith("__") and name.endswith("__") and name != "__wrapped__":
            return getattr(self.__wrapped__, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(self.__wrapped__)


class _Package(types.ModuleType):
    """The package module: makes a submodule in :data:`CALLABLE_MODULES` callable whenever the
    import system binds it as an attribute (whoever imported it first)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (name in CALLABLE_MODULES and isinstance(value, types.ModuleType)
                and type(value) is types.ModuleType):
            # calling the module *is* calling the function (no extra frame: warnings raised
            # with a stacklevel still point at the caller's line)
            func = getattr(value, name)
            value.__class__ = type(f"CallableModule[{name}]", (_CallableModule,),
                                   {"__call__": staticmethod(func)})
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
for _name in CALLABLE_MODULES:  # submodules imported before this line (there are none today)
    if f"{__name__}.{_name}" in sys.modules:
        setattr(sys.modules[__name__], _name, sys.modules[f"{__name__}.{_name}"])


def __getattr__(name: str) -> Any:
    """Import a public name on first use (a missing optional module fails loudly here)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module}":
            raise  # a dependency of the module is missing: say which
        raise AttributeError(
            f"emergence.{name} needs the module emergence.{module}, which this installation "
            "does not have; reinstall emergence-bayes.") from exc
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what static type checkers and IDEs see (the names of __all__)
    from . import coverage, curves, datasets, models, plots  # noqa: F401
    from .backtest import BacktestResult, backtest, load_backtest  # noqa: F401
    from .check import CheckResult, check  # noqa: F401
    from .compare import Comparison, compare  # noqa: F401
    from .config import Config  # noqa: F401
    from .data import ScoreTable, load_scores  # noqa: F401
    from .design import DesignResult, Truth, design, recommend_scales, subsample  # noqa: F401
    from .errors import (  # noqa: F401
        ConfigError,
        ConvergenceWarning,
        DroppedRowsWarning,
        EmergenceDataError,
        EmergenceError,
        EmergenceWarning,
        SparseDataWarning,
    )
    from .priors import Prior  # noqa: F401
    from .readers import from_wide, read_lm_eval  # noqa: F401
    from .report import report  # noqa: F401
    from .results import Fit, fit, load_fit  # noqa: F401
