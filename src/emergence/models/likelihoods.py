"""Observation models: the one definition of every likelihood.

Each :class:`Likelihood` writes its per-row log density once, in an array namespace ``xp``
(``numpy`` for pointwise numbers in comparison, back-testing and checks; ``pytensor.tensor``
inside the PyMC models, from which the JAX per-curve sampler is compiled), and draws new
observations in numpy (posterior predictive). Every density takes ``log mu`` and ``log(1 - mu)``
of the mean curve, so tail rows never saturate.

``logitnormal`` (the default) -- model-to-model variation
    Models of one family differ in data and recipe, so a model's score scatters around any
    smooth curve by more than item sampling: ``logit p_m = logit mu(x_m) + e_m``,
    ``e_m ~ Normal(0, tau)``, and ``k_m ~ Binomial(n, p_m)``. Rows with counts get the exact
    probability of ``k`` under this model (the binomial integrated over the logit-normal noise by
    adaptive Gauss-Hermite quadrature), so small counts and counts of 0 or n are neither biased
    nor saturated. Scores without counts use the normal density of ``z = logit(y)`` with variance
    ``tau^2 + v``, ``v = 1 / ((n + 1) y (1 - y))`` from ``n_items`` when known, else 0.
    ``tau`` (``log_tau`` per curve) is partially pooled across curves: one curve's jump cannot be
    explained away by noise that no other curve shows. (Until 2026-11-27 count rows used the
    empirical logit ``logit((k + 1/2) / (n + 1))`` with a normal approximation and a censored
    form for 0 and n; SBC showed it biased log k on rows of 1-9 successes.)
``binomial``
    Item sampling only (``k ~ Binomial(n, mu)``); every wiggle is signal.
``betabinomial`` / ``beta``
    Overdispersion ``phi`` (``log_phi`` per curve, pooled across curves) on counts / on scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))
#: Items assumed for squeezing scores of exactly 0 or 1 when no ``n_items`` is known
#: (Smithson & Verkuilen 2006): y -> clip(y, 0.5/N, 1 - 0.5/N).
SQUEEZE_N = 1000
#: Largest precision ``log phi`` the beta and beta-binomial densities are evaluated at. Beyond
#: it they are their binomial / point-mass limits (variance inflation (n - 1) / (phi + 1) below
#: 2e-5 for up to 10^4 items; tests/test_likelihoods.py checks 1e-3 nats), while
#: ``gammaln`` of ``phi`` ~ 10^19 loses every digit to cancellation (measured: a log density of
#: +996 at log phi = 44, which importance sampling then picked as its one heavy draw).
LOG_PHI_MAX = 20.0


def _gammaln(xp: ModuleType, a: Any) -> Any:
    if xp is np:
        from scipy.special import gammaln

        return gammaln(a)
    return xp.gammaln(a)


def _log_choose(xp: ModuleType, n: Any, k: Any) -> Any:
    """``log (n choose k)``."""
    return _gammaln(xp, n + 1) - _gammaln(xp, k + 1) - _gammaln(xp, n - k + 1)


def _where(xp: ModuleType, cond: Any, a: Any, b: Any) -> Any:
    return np.where(cond, a, b) if xp is np else xp.switch(cond, a, b)


#: Gauss-Hermite nodes of the adaptive quadrature and Newton steps (each clipped to
#: +-NEWTON_CLIP on the logit scale) locating the integrand's mode. 7 nodes after 4 steps: within
#: 0.006 nats of numerical integration for n = 20-5000, any k, logit mean -500..500, tau
#: 0.02-2.5 (rows with log probability above -40; 762 cases, tests/test_likelihoods.py). Beyond
#: tau 2.5 the integrand is a half-normal cut by the binomial and 7 nodes lose accuracy: 0.08
#: nats at tau = 6 (0.03 with 11 nodes, 0.02 with 15; measured 2026-11-27).
GH_NODES, GH_WEIGHTS = np.polynomial.hermite.hermgauss(7)
NEWTON_STEPS = 4
NEWTON_CLIP = 2.0


def _sigmoid(xp: ModuleType, a: Any) -> Any:
    if xp is np:
        from scipy.special import expit

        return expit(a)
    return xp.sigmoid(a)


def _log_integrand(xp: ModuleType, k: Any, n: Any, eta: Any, tau2: Any, u: Any) -> Any:
    """``log(p^k (1 - p)^(n - k)) - u^2 / (2 tau^2)`` at ``logit p = eta + u``.

    Written as ``k log p + (n - k) log(1 - p)``, two terms <= 0: the shorter ``n log p - (n -
    k) logit p`` cancels two numbers of size ``n |eta|``, and compiled to JAX (fused
    multiply-adds) it returned +243 718 for a count of 0 at ``eta`` = -2e18, where the exact
    value is 0. ``-log p = max(-l, 0) + c`` and ``-log(1 - p) = max(l, 0) + c`` share
    ``c = log(1 + exp(-|l|))`` at ``l = logit p``: one ``exp`` and one ``log1p`` for both (the
    integrand is most of the cost of every gradient; measured 20.5 -> 15.8 us per gradient of
    8 curves x 8 rows, 2026-11-27)."""
    ll = eta + u
    c = xp.log1p(xp.exp(-xp.abs(ll)))
    return (-k * (xp.maximum(-ll, 0.0) + c) - (n - k) * (xp.maximum(ll, 0.0) + c)
            - 0.5 * u * u / tau2)


def _best_start(xp: ModuleType, k: Any, n: Any, eta: Any, tau2: Any, *starts: Any) -> Any:
    """Of 0 and ``starts`` (offsets from ``eta``), the one where the integrand is highest: the
    start of the Newton steps. The normal approximation of the empirical logit alone (the
    precision-weighted start) misplaces the mode of a row far from the curve's rise: a count of
    0 with ``eta`` = -60 and tau = 1 started 20 logits above its mode, which 4 clipped steps
    cannot cross (measured: log probability -16.8 where the integral gives -0.0; -182 at
    ``eta`` = -100), a false penalty on steep curves and on model-to-model noise."""
    zero = 0.0 * eta
    best, top = zero, _log_integrand(xp, k, n, eta, tau2, zero)
    for s in starts:
        f = _log_integrand(xp, k, n, eta, tau2, s)
        best, top = _where(xp, f > top, s, best), _where(xp, f > top, f, top)
    return best


def _logit_normal_binomial(xp: ModuleType, k: Any, n: Any, eta: Any, tau2: Any, z: Any,
                           v: Any) -> Any:
    """``log P(k | n, eta, tau)`` for ``k ~ Binomial(n, p)``, ``logit p ~ Normal(eta, tau^2)``.

    Adaptive Gauss-Hermite quadrature (Liu & Pierce 1994): the integrand
    ``p^k (1 - p)^(n - k) N(logit p | eta, tau^2)`` is log-concave in ``logit p``; Newton steps
    from the best of ``eta``, the empirical logit ``z`` (variance ``v``) and their
    precision-weighted mean find its mode, and the nodes are placed there with the curvature's
    scale. Exact (to quadrature error) for small counts and for 0 or n successes, where the
    normal approximation of the empirical logit is biased. Everything is computed in the offset
    ``u = logit p - eta``, so a logit mean of any size (a steep curve far from its rise:
    ``eta`` = -1e17) keeps the normal factor exact.

    Compiled to JAX, its gradient was NaN for every logit mean below about -745 until
    2026-11-27 (PyTensor's JAX ``softplus``: :func:`emergence.models._ops.register_jax_fixes`).
    A steep sigmoid far below its rise reaches that (log k 5, 5 decades), and a power law's
    logit mean is doubly exponential in its steepness (-3.6e8 at log alpha 1, 3 decades below
    the midpoint): every gradient of such a curve was NaN, and HMC diverged wherever a curve's
    threshold lay a few decades from a tested scale.

    Examples
    --------
    >>> import numpy as np
    >>> lp = _logit_normal_binomial(np, np.array(3.0), np.array(50.0), np.array(-2.0),
    ...                             np.array(0.25), np.array(-2.7), np.array(0.27))
    >>> round(float(lp), 3)
    -2.312
    """
    u = _best_start(xp, k, n, eta, tau2, (z - eta) * tau2 / (v + tau2), z - eta)
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(xp, eta + u)
        step = (k - n * p - u / tau2) / (n * p * (1 - p) + 1 / tau2)
        u = u + xp.clip(step, -NEWTON_CLIP, NEWTON_CLIP)
    p = _sigmoid(xp, eta + u)
    s = xp.sqrt(1.0 / (n * p * (1 - p) + 1 / tau2))
    uu = xp.expand_dims(u, -1) + xp.expand_dims(s, -1) * (np.sqrt(2.0) * GH_NODES)
    log_f = _log_integrand(xp, xp.expand_dims(k, -1), xp.expand_dims(n, -1),
                           xp.expand_dims(eta, -1), xp.expand_dims(tau2, -1), uu)
    a = log_f + (np.log(GH_WEIGHTS) + GH_NODES**2)
    top = xp.max(a, axis=-1)
    lse = top + xp.log(xp.exp(a - xp.expand_dims(top, -1)).sum(axis=-1))
    lchoose = _log_choose(xp, n, k)
    return lchoose + lse + xp.log(s) + 0.5 * np.log(2.0) - 0.5 * xp.log(tau2) - 0.5 * LOG_2PI


def row_arrays(k: np.ndarray, n: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row observation arrays every likelihood reads.

    Parameters
    ----------
    k, n : numpy.ndarray
        Counts and items (NaN where unknown).
    y : numpy.ndarray
        Scores on the 0..1 analysis scale.

    Returns
    -------
    dict
        ``z`` (empirical logit), ``v`` (its sampling variance), ``k``, ``n`` (0 where unknown),
        ``y`` (squeezed into (0, 1)) and ``use_counts`` (1.0 where counts are known).

    Examples
    --------
    >>> import numpy as np
    >>> a = row_arrays(np.array([0.0]), np.array([99.0]), np.array([0.0]))
    >>> round(float(a["z"][0]), 3), round(float(a["v"][0]), 3)
    (-5.293, 2.01)
    """
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    y = np.asarray(y, float)
    counts = np.isfinite(k) & np.isfinite(n)
    nn = np.where(np.isfinite(n), n, SQUEEZE_N)
    ysq = np.clip(y, 0.5 / nn, 1 - 0.5 / nn)
    p = np.where(counts, (np.nan_to_num(k) + 0.5) / (nn + 1), ysq)
    z = np.log(p) - np.log1p(-p)
    v = np.where(np.isfinite(n), 1.0 / ((nn + 1) * p * (1 - p)), 0.0)
    return {"z": z, "v": v, "k": np.where(counts, k, 0.0), "n": np.where(counts, n, 0.0),
            "y": ysq, "use_counts": counts.astype(float)}


@dataclass(frozen=True)
class Likelihood:
    """Base class: subclasses define :meth:`logp` and :meth:`draw`.

    ``noise`` names the per-curve noise parameter (``log_tau`` or ``log_phi``), or None.
    """

    name: ClassVar[str] = ""
    noise: ClassVar[str | None] = None
    needs_counts: ClassVar[bool] = False

    def logp(self, xp: ModuleType, lmu: Any, l1mu: Any, d: dict[str, Any], noise: Any) -> Any:
        """Per-row log density (unweighted) from ``log mu``, ``log(1 - mu)`` and the rows ``d``."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, mu: np.ndarray, noise: np.ndarray | None,
             n_items: np.ndarray | None) -> np.ndarray:
        """Draw observed scores (0..1) for means ``mu``; ``n_items`` NaN = no item noise."""
        raise NotImplementedError


def _items(rng: np.random.Generator, p: np.ndarray, n_items: np.ndarray | None) -> np.ndarray:
    if n_items is None:
        return p
    n = np.broadcast_to(np.asarray(n_items, float), p.shape)
    ok = np.isfinite(n) & (n > 0)
    k = rng.binomial(np.where(ok, n, 1).astype(np.int64), np.clip(p, 0, 1))
    return np.where(ok, k / np.where(ok, n, 1), p)


@dataclass(frozen=True)
class LogitNormal(Likelihood):
    """Model-to-model variation on the logit scale plus item sampling (module docstring)."""

    name: ClassVar[str] = "logitnormal"
    noise: ClassVar[str | None] = "log_tau"

    def logp(self, xp: ModuleType, lmu: Any, l1mu: Any, d: dict[str, Any], noise: Any) -> Any:
        tau2 = xp.exp(2.0 * noise)
        eta = lmu - l1mu
        # rows with counts: the exact logit-normal-binomial probability (adaptive quadrature);
        # scores without counts: the normal density of the logit, with item variance v
        var = tau2 + d["v"]
        r = d["z"] - eta
        normal = -0.5 * (r * r / var + xp.log(var) + LOG_2PI)
        exact = _logit_normal_binomial(xp, d["k"], d["n"], eta, tau2, d["z"], d["v"])
        return _where(xp, d["use_counts"] > 0.5, exact, normal)

    def draw(self, rng: np.random.Generator, mu: np.ndarray, noise: np.ndarray | None,
             n_items: np.ndarray | None) -> np.ndarray:
        mu = np.clip(mu, 1e-12, 1 - 1e-12)
        eta = np.log(mu) - np.log1p(-mu) + np.exp(noise) * rng.standard_normal(mu.shape)
        return _items(rng, 1.0 / (1.0 + np.exp(-eta)), n_items)


@dataclass(frozen=True)
class Binomial(Likelihood):
    """Item sampling only: ``k ~ Binomial(n, mu)``."""

    name: ClassVar[str] = "binomial"
    needs_counts: ClassVar[bool] = True

    def logp(self, xp: ModuleType, lmu: Any, l1mu: Any, d: dict[str, Any], noise: Any) -> Any:
        n, k = d["n"], d["k"]
        lchoose = _log_choose(xp, n, k)
        return lchoose + _where(xp, k > 0, k * lmu, 0.0) + _where(xp, n - k > 0, (n - k) * l1mu, 0.0)

    def draw(self, rng: np.random.Generator, mu: np.ndarray, noise: np.ndarray | None,
             n_items: np.ndarray | None) -> np.ndarray:
        return _items(rng, mu, n_items)


@dataclass(frozen=True)
class BetaBinomial(Likelihood):
    """Overdispersed counts (``phi = exp(log_phi)``); rows without counts get a beta density."""

    name: ClassVar[str] = "betabinomial"
    noise: ClassVar[str | None] = "log_phi"

    def logp(self, xp: ModuleType, lmu: Any, l1mu: Any, d: dict[str, Any], noise: Any) -> Any:
        noise = xp.minimum(noise, LOG_PHI_MAX)
        la, lb = lmu + noise, l1mu + noise
        a, b = xp.exp(la), xp.exp(lb)
        n, k = d["n"], d["k"]
        lchoose = _log_choose(xp, n, k)
        # log Gamma(m + a) - log Gamma(a) written with gammaln(1 + a) - log a (finite for tiny a)
        rise_a = _where(xp, k > 0, la + _gammaln(xp, k + a) - _gammaln(xp, 1 + a), 0.0)
        rise_b = _where(xp, n - k > 0, lb + _gammaln(xp, n - k + b) - _gammaln(xp, 1 + b), 0.0)
        bb = lchoose + rise_a + rise_b - (_gammaln(xp, n + a + b) - _gammaln(xp, a + b))
        lbeta = _gammaln(xp, 1 + a) - la + _gammaln(xp, 1 + b) - lb - _gammaln(xp, a + b)
        beta = (a - 1) * xp.log(d["y"]) + (b - 1) * xp.log1p(-d["y"]) - lbeta
        return _where(xp, d["use_counts"] > 0.5, bb, beta)

    def draw(self, rng: np.random.Generator, mu: np.ndarray, noise: np.ndarray | None,
             n_items: np.ndarray | None) -> np.ndarray:
        phi = np.exp(np.minimum(noise, LOG_PHI_MAX))
        mu = np.clip(mu, 1e-12, 1 - 1e-12)
        return _items(rng, rng.beta(mu * phi, (1 - mu) * phi), n_items)


@dataclass(frozen=True)
class Beta(BetaBinomial):
    """Beta density on scores (counts ignored)."""

    name: ClassVar[str] = "beta"

    def logp(self, xp: ModuleType, lmu: Any, l1mu: Any, d: dict[str, Any], noise: Any) -> Any:
        return super().logp(xp, lmu, l1mu, {**d, "use_counts": 0.0 * d["z"]}, noise)


LIKELIHOODS: dict[str, Likelihood] = {
    c.name: c() for c in (LogitNormal, Binomial, BetaBinomial, Beta)
}


def get_likelihood(name: str) -> Likelihood:
    """The likelihood registered as ``name`` (``"auto"`` is ``logitnormal``)."""
    from ..errors import ConfigError

    name = "logitnormal" if name == "auto" else name
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ConfigError(f"unknown likelihood {name!r}; choose one of auto, "
                          f"{', '.join(LIKELIHOODS)}.") from None
