"""emergence: Bayesian analysis of emergent abilities in scaling data.

Quick start::

    import emergence as em
    table = em.load_scores("scores.csv", scale="params")
    fit = em.fit(table, model="sigmoid", seed=1)
    fit.summary()
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("emergence-bayes")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from . import curves, datasets, models  # noqa: E402
from .compare import Comparison, compare
from .config import Config  # noqa: E402
from .data import ScoreTable, load_scores  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    ConvergenceWarning,
    DroppedRowsWarning,
    EmergenceDataError,
    EmergenceError,
    EmergenceWarning,
    SparseDataWarning,
)
from .results import Fit, fit, load_fit  # noqa: E402
from .check import CheckResult, check  # noqa: E402

__all__ = [
    "CheckResult",
    "check",
    "Comparison",
    "Config",
    "ConfigError",
    "ConvergenceWarning",
    "DroppedRowsWarning",
    "EmergenceDataError",
    "EmergenceError",
    "EmergenceWarning",
    "Fit",
    "ScoreTable",
    "SparseDataWarning",
    "__version__",
    "compare",
    "curves",
    "datasets",
    "fit",
    "load_fit",
    "load_scores",
    "models",
]
