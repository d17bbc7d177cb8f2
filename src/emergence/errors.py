"""Exception and warning classes of the package.

Every error raised on bad input is an :class:`EmergenceDataError` (a ``ValueError``) whose
message names the row and column involved and says how to fix it.
"""

from __future__ import annotations


class EmergenceError(Exception):
    """Base class of all errors raised by ``emergence``."""


class EmergenceDataError(EmergenceError, ValueError):
    """A score table failed validation (the message names row, column and fix)."""


class ConfigError(EmergenceError, ValueError):
    """An option of :class:`emergence.Config` is invalid (the message lists valid choices)."""


class EmergenceWarning(UserWarning):
    """Base class of all warnings emitted by ``emergence``."""


class ConvergenceWarning(EmergenceWarning):
    """MCMC diagnostics failed: R-hat, effective sample size or divergences."""


class SparseDataWarning(EmergenceWarning):
    """A series has too few distinct scales for a trustworthy curve (kept, and flagged)."""


class DroppedRowsWarning(EmergenceWarning):
    """Rows were removed from a score table (they are listed in ``ScoreTable.dropped``)."""


class Interrupted(KeyboardInterrupt):
    """A run was stopped (Ctrl-C) before it finished; nothing partial was kept as a result.

    A ``KeyboardInterrupt`` (not an :class:`EmergenceError`): code that handles bad input with
    ``except EmergenceError`` or ``except Exception`` never mistakes an interrupt for an error
    and never carries on with a partial posterior. The CLI exits with status 130.
    """


class LargeTableWarning(EmergenceWarning):
    """A score table is so large that fitting it whole will be slow (select a subset)."""
