"""Point-fit baselines for the back-test: what papers do with a handful of scores per curve.

Every baseline is fitted to the training rows of **one curve** (one family) and returns
predictive *draws* of an observed score at new log10 scales, on the same 0..1 score scale as
:meth:`emergence.Fit.predict`, so that :mod:`emergence.backtest` scores all methods with the
same code:

``logistic_lsq``
    Least squares (:func:`scipy.optimize.curve_fit`) of a logistic in log10 scale between the
    chance floor and 1: ``y = c + (1 - c) logistic(k (x - x0))``, as in scaling-law papers.
    Predictive draws by a parametric bootstrap: ``n_boot`` refits to the fitted curve plus
    normal residuals of the fitted residual sd, each refit's prediction plus its own residual
    noise, clipped to [0, 1].
``linear``
    Ordinary least squares of the score on log10 scale, with its exact predictive distribution
    (flat prior: ``sigma^2`` scaled-inverse-chi-square with ``n - 2`` degrees of freedom,
    coefficients normal given ``sigma``; marginally the textbook Student-t prediction interval),
    clipped to [0, 1].
``persistence``
    The last observed score (mean of the rows at the largest training scale), with normal
    spread ``s * sqrt(h)``: ``s`` the root mean square of the curve's step-to-step changes
    (between consecutive training scales), floored at :data:`PERSISTENCE_FLOOR` and at the
    binomial sd of the last score when ``n_items`` is known; ``h`` the distance to the
    predicted scale in median training steps (at least 1), as for a random walk. Clipped to
    [0, 1].

A baseline that cannot be fitted raises :class:`BaselineError` with the reason; the back-test
turns it into NaN scores for that curve's held-out points and counts it.

Examples
--------
>>> import numpy as np
>>> from emergence.baselines import fit_baseline
>>> x = np.array([8.0, 8.5, 9.0, 9.5, 10.0])
>>> y = np.array([0.02, 0.05, 0.2, 0.5, 0.8])
>>> d = fit_baseline("linear", x, y, np.array([10.5]), rng=np.random.default_rng(0), n_draws=500)
>>> d.shape
(500, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._concurrent import suppressed

#: Smallest spread (score units) of a persistence forecast per step.
PERSISTENCE_FLOOR = 0.01
#: Bootstrap refits of the least-squares logistic.
N_BOOT = 100
#: Share of bootstrap refits that must converge for the logistic baseline to count as fitted.
MIN_BOOT_SHARE = 0.5


class BaselineError(RuntimeError):
    """A baseline could not be fitted to a curve (the reason is the message)."""


def _logistic_curve(chance: float) -> Callable[..., np.ndarray]:
    def f(x: np.ndarray, x0: float, k: float) -> np.ndarray:
        z = np.clip(k * (x - x0), -700.0, 700.0)
        return chance + (1.0 - chance) / (1.0 + np.exp(-z))

    return f


def _lsq_logistic(x: np.ndarray, y: np.ndarray, chance: float,
                  p0: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Least-squares ``(x0, k)`` and the residual sd; raises BaselineError on failure."""
    from scipy.optimize import OptimizeWarning, curve_fit

    f = _logistic_curve(chance)
    lo = (float(x.min()) - 5.0, 1e-3)
    hi = (float(x.max()) + 5.0, 100.0)
    p0 = (float(np.clip(p0[0], lo[0] + 1e-6, hi[0] - 1e-6)),
          float(np.clip(p0[1], lo[1] + 1e-6, hi[1] - 1e-6)))
    try:
        with suppressed(OptimizeWarning):
            popt, _ = curve_fit(f, x, y, p0=p0, bounds=(lo, hi), maxfev=2000)
    except (RuntimeError, ValueError) as exc:
        raise BaselineError(f"least-squares logistic did not converge ({exc})") from None
    if not np.all(np.isfinite(popt)):
        raise BaselineError("least-squares logistic gave non-finite parameters")
    resid = y - f(x, *popt)
    dof = max(len(x) - 2, 1)
    return popt, float(np.sqrt(np.sum(resid**2) / dof))


def _start(x: np.ndarray, y: np.ndarray, chance: float) -> tuple[float, float]:
    """A starting point: the scale nearest to half-way between floor and the best score."""
    mid = chance + 0.5 * (max(float(y.max()), chance + 1e-3) - chance)
    return float(x[np.argmin(np.abs(y - mid))]), 2.0


def logistic_lsq(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *, rng: np.random.Generator,
                 n_draws: int = 1000, chance: float = 0.0, n_boot: int = N_BOOT,
                 **_: Any) -> np.ndarray:
    """Draws from the parametric bootstrap of a least-squares logistic (see module docstring)."""
    f = _logistic_curve(chance)
    popt, sigma = _lsq_logistic(x, y, chance, _start(x, y, chance))
    fitted = f(x, *popt)
    preds, sds = [], []
    for _ in range(n_boot):
        y_b = fitted + rng.normal(0.0, sigma, len(x))
        try:
            p_b, s_b = _lsq_logistic(x, y_b, chance, tuple(popt))
        except BaselineError:
            continue
        preds.append(f(x_new, *p_b))
        sds.append(s_b)
    if len(preds) < MIN_BOOT_SHARE * n_boot:
        raise BaselineError(f"only {len(preds)} of {n_boot} bootstrap refits of the "
                            "least-squares logistic converged")
    preds_a, sds_a = np.asarray(preds), np.asarray(sds)
    pick = np.arange(n_draws) % len(preds_a)
    draws = preds_a[pick] + rng.normal(0.0, 1.0, (n_draws, len(x_new))) * sds_a[pick, None]
    return np.clip(draws, 0.0, 1.0)


def linear(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *, rng: np.random.Generator,
           n_draws: int = 1000, **_: Any) -> np.ndarray:
    """Draws from the exact OLS predictive distribution of a line in log10 scale."""
    n = len(x)
    if n < 3 or np.unique(x).size < 2:
        raise BaselineError(f"a line needs at least 3 rows at 2 distinct scales ({n} rows)")
    X = np.column_stack([np.ones(n), x])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = n - 2
    s2 = float(np.sum((y - X @ beta) ** 2) / dof)
    s2 = max(s2, 1e-12)
    cov = np.linalg.inv(X.T @ X)
    sigma2 = dof * s2 / rng.chisquare(dof, n_draws)
    chol = np.linalg.cholesky(cov)
    b = beta[None, :] + np.sqrt(sigma2)[:, None] * (rng.normal(size=(n_draws, 2)) @ chol.T)
    Xn = np.column_stack([np.ones(len(x_new)), x_new])
    draws = b @ Xn.T + np.sqrt(sigma2)[:, None] * rng.normal(size=(n_draws, len(x_new)))
    return np.clip(draws, 0.0, 1.0)


def persistence(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *, rng: np.random.Generator,
                n_draws: int = 1000, n_items: float | None = None, **_: Any) -> np.ndarray:
    """Draws around the last observed score with a random-walk spread (see module docstring)."""
    xs = np.unique(x)
    means = np.array([y[x == v].mean() for v in xs])
    last = float(means[-1])
    steps = np.diff(means)
    s = float(np.sqrt(np.mean(steps**2))) if len(steps) else 0.0
    floor = PERSISTENCE_FLOOR
    if n_items is not None and np.isfinite(n_items) and n_items > 0:
        floor = max(floor, float(np.sqrt(last * (1 - last) / n_items)))
    s = max(s, floor)
    step = float(np.median(np.diff(xs))) if len(xs) > 1 else 1.0
    h = np.maximum(1.0, (np.asarray(x_new, float) - xs[-1]) / max(step, 1e-9))
    draws = last + s * np.sqrt(h)[None, :] * rng.normal(size=(n_draws, len(x_new)))
    return np.clip(draws, 0.0, 1.0)


#: Baselines by name (the names accepted in ``backtest(methods=...)``).
BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "logistic_lsq": logistic_lsq,
    "linear": linear,
    "persistence": persistence,
}


def fit_baseline(name: str, x: np.ndarray, y: np.ndarray, x_new: np.ndarray, *,
                 rng: np.random.Generator, n_draws: int = 1000, chance: float | None = None,
                 n_items: float | None = None, n_boot: int = N_BOOT) -> np.ndarray:
    """Fit baseline ``name`` to one curve's training rows; return draws at ``x_new``.

    Parameters
    ----------
    name : str
        One of :data:`BASELINES`.
    x, y : array
        Training log10 scales and scores (0..1, higher is better).
    x_new : array
        log10 scales to predict.
    rng : numpy Generator
        Source of randomness (seed it per curve and method for reproducible results).
    n_draws : int
        Predictive draws to return.
    chance : float, optional
        Chance floor of the logistic (0 when unknown).
    n_items : float, optional
        Items per evaluation (floor of the persistence spread).
    n_boot : int
        Bootstrap refits of the logistic.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_draws, len(x_new))``, values in [0, 1].

    Raises
    ------
    BaselineError
        When the baseline cannot be fitted (the message says why).
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}.")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    c = 0.0 if chance is None or not np.isfinite(chance) else float(chance)
    return BASELINES[name](x, y, np.asarray(x_new, dtype=float), rng=rng, n_draws=n_draws,
                           chance=c, n_items=n_items, n_boot=n_boot)
