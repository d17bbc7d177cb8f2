"""Command-line interface (typer). Each command lives in its own module of this package; the
shared options are defined once in :mod:`emergence.cli._options`."""

from __future__ import annotations

from . import backtest as _backtest  # noqa: F401  (registers commands)
from . import check as _check  # noqa: F401
from . import compare as _compare  # noqa: F401
from . import demo as _demo  # noqa: F401
from . import design as _design  # noqa: F401
from . import fit as _fit  # noqa: F401
from . import report as _report  # noqa: F401
from . import sbc as _sbc  # noqa: F401
from ._app import app, main

__all__ = ["app", "main"]
