"""Curve functions: the one place where each model's shape is written down.

Every curve is a *rise* ``g(x)`` from 0 to 1 in ``x = log10(scale)``, placed between a floor
(the chance level ``c``) and a ceiling ``c + (1 - c)(1 - lapse)``::

    mu(x) = c + (1 - c) * (1 - lapse) * g(x)

``lapse`` is the fraction of the head-room above chance that is never reached, so the ceiling is
always above the floor; the distance of the ceiling from 1 is ``(1 - c) * lapse``.

The functions take an array namespace ``xp`` (``numpy`` by default, ``pytensor.tensor`` inside the
PyMC models) so the same code serves models, plots and simulation. Everything the likelihood needs
is computed in log space (``log mu`` and ``log(1 - mu)`` via ``logaddexp``/``log1mexp``), never by
clipping, so tail cells keep a non-constant log-likelihood (PSIS-LOO needs that).

No PyMC import here: this module is cheap to import and to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

LN9 = float(np.log(9.0))
#: Rise fractions that define the width of a transition (10 % to 90 % of the rise).
WIDTH_LEVELS = (0.1, 0.9)


def _softplus(xp: ModuleType, z: Any) -> Any:
    return xp.logaddexp(0.0, z)


def _log1mexp(xp: ModuleType, a: Any) -> Any:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate in both regimes."""
    if xp is np:
        a = np.asarray(a, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > -np.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))
    return xp.log1mexp(a)


def _logistic(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _logit(p: Any) -> Any:
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


class Rise(Protocol):
    """What every curve declares (see :class:`Sigmoid` for the reference implementation)."""

    name: str
    params: tuple[str, ...]

    def log_rise(self, x: Any, xp: ModuleType = np, **p: Any) -> tuple[Any, Any]: ...

    def rise(self, x: Any, **p: Any) -> np.ndarray: ...

    def inverse(self, level: Any, **p: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Sigmoid:
    """Logistic rise in log scale: ``g = logistic(k (x - x0))`` with ``k = exp(logk)``.

    A logistic in ``log N`` is a Hill function in ``N``: both tails are power laws, so emergence
    is a claim about steepness ``k`` (decades⁻¹), not about the functional family alone.

    Parameters of the rise: ``x0`` (log10 scale of the midpoint) and ``logk`` (log steepness per
    decade). The 10 %-90 % width is ``2 ln 9 / k`` decades.
    """

    name: str = "sigmoid"
    params: tuple[str, ...] = ("x0", "logk")

    def log_rise(self, x: Any, xp: ModuleType = np, *, x0: Any, logk: Any) -> tuple[Any, Any]:
        """Return ``(log g, log(1 - g))`` computed stably."""
        z = xp.exp(logk) * (x - x0)
        return -_softplus(xp, -z), -_softplus(xp, z)

    def rise(self, x: Any, *, x0: Any, logk: Any) -> np.ndarray:
        """Return ``g(x)`` (numpy)."""
        return _logistic(np.exp(logk) * (np.asarray(x) - x0))

    def inverse(self, level: Any, *, x0: Any, logk: Any) -> np.ndarray:
        """Return the ``x`` at which the rise reaches fraction ``level`` (0 < level < 1)."""
        return np.asarray(x0) + _logit(level) / np.exp(logk)


def log_mean(
    log_g: Any, log_1mg: Any, chance: Any, lapse_logit: Any, xp: ModuleType = np
) -> tuple[Any, Any]:
    """Return ``(log mu, log(1 - mu))`` for a rise placed between chance floor and ceiling.

    Parameters
    ----------
    log_g, log_1mg : array-like
        ``log g`` and ``log(1 - g)`` of the rise.
    chance : array-like
        Floor ``c`` in [0, 1); 0 is allowed (``log 0 = -inf`` is handled by ``logaddexp``).
    lapse_logit : array-like
        ``logit(lapse)``, lapse being the unreached fraction of the head-room.
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    """
    if xp is np:
        chance = np.asarray(chance, dtype=float)
        with np.errstate(divide="ignore"):
            log_c = np.log(chance)
        log_1mc = np.log1p(-chance)
    else:
        log_c, log_1mc = xp.log(chance), xp.log1p(-chance)
    log_lapse = -_softplus(xp, -lapse_logit)
    log_1mlapse = -_softplus(xp, lapse_logit)
    log_mu = xp.logaddexp(log_c, log_1mc + log_1mlapse + log_g)
    log_1mmu = log_1mc + xp.logaddexp(log_lapse, log_1mlapse + log_1mg)
    return log_mu, log_1mmu


def mean(curve: Rise, x: Any, chance: Any, lapse: Any, **p: Any) -> np.ndarray:
    """Expected score ``c + (1 - c)(1 - lapse) g(x)`` (numpy, broadcasting)."""
    chance = np.asarray(chance, dtype=float)
    return chance + (1.0 - chance) * (1.0 - np.asarray(lapse)) * curve.rise(x, **p)


def width(curve: Rise, **p: Any) -> np.ndarray:
    """Decades of scale between 10 % and 90 % of the rise."""
    lo, hi = WIDTH_LEVELS
    return curve.inverse(hi, **p) - curve.inverse(lo, **p)


def threshold(curve: Rise, level: float = 0.5, **p: Any) -> np.ndarray:
    """log10 scale at which the rise reaches fraction ``level`` (psignifit's threshold)."""
    if not 0 < level < 1:
        raise ValueError(f"level = {level!r} must lie strictly between 0 and 1, e.g. 0.5.")
    return curve.inverse(level, **p)


SIGMOID = Sigmoid()

#: Registry of curves by model name; models, plots and simulation look curves up here.
CURVES: dict[str, Rise] = {"sigmoid": SIGMOID}


def get_curve(name: str) -> Rise:
    """Return the curve registered under ``name`` (error lists the valid names)."""
    try:
        return CURVES[name]
    except KeyError:
        raise ValueError(
            f"unknown curve {name!r}; valid curves are {', '.join(sorted(CURVES))}."
        ) from None
