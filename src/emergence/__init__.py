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

from . import curves, datasets, models
from .backtest import BacktestResult, backtest, load_backtest
from .check import CheckResult, check
from .compare import Comparison, compare
from .config import Config
from .data import ScoreTable, load_scores
from .errors import (
    ConfigError,
    ConvergenceWarning,
    DroppedRowsWarning,
    EmergenceDataError,
    EmergenceError,
    EmergenceWarning,
    SparseDataWarning,
)
from .readers import from_wide, read_lm_eval
from .report import report
from .results import Fit, fit, load_fit

__all__ = [
    "BacktestResult",
    "CheckResult",
    "Comparison",
    "Config",
    "ConfigError",
    "ConvergenceWarning",
    "DesignResult",
    "DroppedRowsWarning",
    "EmergenceDataError",
    "EmergenceError",
    "EmergenceWarning",
    "Fit",
    "ScoreTable",
    "SparseDataWarning",
    "Truth",
    "__version__",
    "backtest",
    "check",
    "compare",
    "curves",
    "datasets",
    "design",
    "fit",
    "from_wide",
    "load_backtest",
    "load_fit",
    "load_scores",
    "models",
    "plots",
    "read_lm_eval",
    "recommend_scales",
    "report",
    "subsample",
]
