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


LN2 = float(np.log(2.0))
LN10 = float(np.log(10.0))


def _log_of_tokens(xp: ModuleType, L: Any) -> Any:
    if isinstance(L, int | float) and L == 1:
        return 0.0
    return xp.log(L)


#: Where ``e = log(-log g)`` of the power law stops growing linearly: beyond it ``e`` becomes
#: ``6 + log1p(e - 6)``, so ``log g`` falls linearly, not exponentially, below -exp(6) = -403
#: (a success probability of e^-403 per item, zero to machine precision; the curve stays
#: monotone and its log values keep moving with the parameters, which PSIS-LOO needs).
#: Uncompressed, ``log g`` is doubly exponential in the steepness (-1e33 at log alpha 4,
#: 3 decades below the midpoint) and the count likelihood's value and gradient overflowed to
#: NaN (measured 2026-11-27: NaN gradients from log alpha 4, NaN values from 5, where SBC
#: draws and HMC go).
LOGLOG_MAX = 6.0


@dataclass(frozen=True)
class PowerLaw:
    """Metric-induced rise: a Gumbel curve in log scale, ``g = exp(-L ln2 10^(-alpha (x - x0)))``.

    This is Schaeffer et al.'s (2023) "mirage" model: the per-item (per-token) loss falls as a
    power law in scale, ``loss = (N / N_c)^(-alpha)``, and a discrete metric scores an answer of
    ``L`` tokens right with probability ``exp(-L * loss)``. Written with the midpoint ``x0``
    (the log10 scale where ``g = 1/2`` at ``L = 1``) instead of ``N_c`` so its parameters are
    comparable with the sigmoid's (``log10 N_c = x0 + log10(ln 2) / alpha``).

    Parameters of the rise: ``x0`` and ``log_alpha`` (``alpha = exp(log_alpha)``, the power-law
    exponent of the per-item loss). ``L`` (answer tokens, relative to a reference length) is
    optional data; it shifts the curve by ``log10(L) / alpha`` decades and leaves its width
    unchanged. The 10 %-90 % width is ``log10(ln 10 / ln(10/9)) / alpha = 1.339 / alpha``
    decades: the curve is sharp (width < 1 decade) only for ``alpha > 1.34``.
    """

    name: str = "powerlaw"
    params: tuple[str, ...] = ("x0", "log_alpha")

    def _loglogrise(self, x: Any, xp: ModuleType, x0: Any, log_alpha: Any, L: Any) -> Any:
        # log(-log g) = log(L ln2) - alpha ln10 (x - x0), compressed beyond LOGLOG_MAX
        e = float(np.log(LN2)) + _log_of_tokens(xp, L) - xp.exp(log_alpha) * LN10 * (x - x0)
        over = xp.maximum(e - LOGLOG_MAX, 0.0)
        return xp.where(e > LOGLOG_MAX, LOGLOG_MAX + xp.log1p(over), e)

    def log_rise(self, x: Any, xp: ModuleType = np, *, x0: Any, log_alpha: Any,
                 L: Any = 1.0) -> tuple[Any, Any]:
        """Return ``(log g, log(1 - g))`` computed stably (no clipping)."""
        e = self._loglogrise(x, xp, x0, log_alpha, L)
        log_g = -xp.exp(e)
        # log(1 - exp(-t)) with t = exp(e): log1mexp, or log(t) - t/2 when t is tiny
        small = e < -20.0
        log_1mg = xp.where(small, e - 0.5 * xp.exp(xp.minimum(e, -20.0)),
                           _log1mexp(xp, -xp.exp(xp.maximum(e, -20.0))))
        return log_g, log_1mg

    def rise(self, x: Any, *, x0: Any, log_alpha: Any, L: Any = 1.0) -> np.ndarray:
        """Return ``g(x)`` (numpy)."""
        return np.exp(-np.exp(self._loglogrise(np.asarray(x, float), np, x0, log_alpha, L)))

    def inverse(self, level: Any, *, x0: Any, log_alpha: Any, L: Any = 1.0) -> np.ndarray:
        """Return the ``x`` at which the rise reaches fraction ``level`` (0 < level < 1)."""
        level = np.asarray(level, dtype=float)
        t = -np.log(level) / (LN2 * np.asarray(L, float))
        return np.asarray(x0) - np.log10(t) / np.exp(log_alpha)


def _log_softplus(xp: ModuleType, u: Any) -> Any:
    """``log(log(1 + exp(u)))`` without underflow for very negative ``u``."""
    lo = u < -20.0
    return xp.where(lo, u - 0.5 * xp.exp(xp.minimum(u, -20.0)),
                    xp.log(_softplus(xp, xp.maximum(u, -20.0))))


@dataclass(frozen=True)
class LogLinear:
    """Linear rise in log scale between floor and ceiling, with smoothly rounded corners.

    ``h = (x - x0) / w + 1/2`` runs from 0 to 1 over ``w = exp(logw)`` decades centred on
    ``x0``; the rise is the linear ramp ``clip(h, 0, 1)`` convolved with a logistic of scale
    ``1 / (smooth)`` in ``h``::

        g = [softplus(s h) - softplus(s (h - 1))] / s,     s = smooth (default 16)

    so the corners are rounded over about ``w / s`` decades, ``g`` has continuous derivatives
    (NUTS needs them) and both tails decay exponentially in ``h`` (never exactly 0 or 1, so tail
    cells keep a draw-dependent log-likelihood). ``1 - g(h) = g(1 - h)``. This is Wei et al.'s
    (2022) "gradual" improvement: performance linear in log N until it saturates.

    Parameters of the rise: ``x0`` (midpoint) and ``logw`` (log of the ramp length in decades).
    The 10 %-90 % width is ``(h90 - h10) w`` with ``h90 - h10`` a constant of ``smooth``
    (0.83 for the default).
    """

    name: str = "loglinear"
    params: tuple[str, ...] = ("x0", "logw")
    smooth: float = 16.0

    def _h(self, x: Any, xp: ModuleType, x0: Any, logw: Any) -> Any:
        return (x - x0) / xp.exp(logw) + 0.5

    def _log_g_of_h(self, xp: ModuleType, h: Any) -> Any:
        s = self.smooth
        la = _log_softplus(xp, s * h)
        lb = _log_softplus(xp, s * h - s)
        return la + _log1mexp(xp, lb - la) - float(np.log(s))

    def log_rise(self, x: Any, xp: ModuleType = np, *, x0: Any, logw: Any) -> tuple[Any, Any]:
        """Return ``(log g, log(1 - g))`` computed stably (no clipping)."""
        h = self._h(x, xp, x0, logw)
        return self._log_g_of_h(xp, h), self._log_g_of_h(xp, 1.0 - h)

    def rise(self, x: Any, *, x0: Any, logw: Any) -> np.ndarray:
        """Return ``g(x)`` (numpy)."""
        return np.exp(self._log_g_of_h(np, self._h(np.asarray(x, float), np, x0, logw)))

    def h_at(self, level: Any) -> np.ndarray:
        """Position ``h`` on the ramp where the rise reaches ``level`` (independent of x0, w)."""
        level = np.asarray(level, dtype=float)
        if np.any((level <= 0) | (level >= 1)):
            raise ValueError("levels must lie strictly between 0 and 1, e.g. 0.1 or 0.9.")
        target = np.log(level)
        lo = np.full(level.shape, -60.0)
        hi = np.full(level.shape, 61.0)
        for _ in range(80):  # bisection: g is increasing in h
            mid = 0.5 * (lo + hi)
            below = self._log_g_of_h(np, mid) < target
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def inverse(self, level: Any, *, x0: Any, logw: Any) -> np.ndarray:
        """Return the ``x`` at which the rise reaches fraction ``level`` (0 < level < 1)."""
        return np.asarray(x0) + (self.h_at(level) - 0.5) * np.exp(logw)


def log_mean(
    log_g: Any, log_1mg: Any, chance: Any, lapse_logit: Any, xp: ModuleType = np,
    log_chance: tuple[Any, Any] | None = None,
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
    log_chance : (log c, log(1 - c)), optional
        Precomputed logs of the floor, used instead of ``chance`` (lets a model mix known floors
        of 0 with estimated ones without a 0 * inf gradient).
    """
    if log_chance is not None:
        log_c, log_1mc = log_chance
    elif xp is np:
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
POWERLAW = PowerLaw()
LOGLINEAR = LogLinear()

#: Registry of curves by model name; models, plots and simulation look curves up here.
CURVES: dict[str, Rise] = {"sigmoid": SIGMOID, "powerlaw": POWERLAW, "loglinear": LOGLINEAR}


def get_curve(name: str) -> Rise:
    """Return the curve registered under ``name`` (error lists the valid names)."""
    try:
        return CURVES[name]
    except KeyError:
        raise ValueError(
            f"unknown curve {name!r}; valid curves are {', '.join(sorted(CURVES))}."
        ) from None
