"""Help texts shown to people by several layers (inference warnings, reports, the CLI).

A leaf module: it imports nothing, so the report (or any layer) can show them without importing
the layers that produce the problems they describe.
"""

from __future__ import annotations

#: What to try when MCMC diagnostics fail (R-hat, ESS, divergences).
DIAGNOSTIC_HELP = (
    "Try more tuning (tune=2000) and a higher target_accept (0.95-0.99); check the data of the "
    "failing series (a series with no scale in its rise, or non-monotone scores, mixes slowly); "
    "parametrization='noncentered' can help when each series has few items."
)

__all__ = ["DIAGNOSTIC_HELP"]
