"""The logit-normal likelihood's count rows against numerical integration."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, log_expit

from emergence.models.likelihoods import LIKELIHOODS, _logit_normal_binomial, row_arrays


def _by_integration(k: int, n: int, eta: float, tau: float) -> float:
    """log P(k | n, eta, tau) by the trapezoid rule on a fine logit grid (40k points) over
    ``eta +- 12 tau``: the binomial factor is at most 1, so the integrand has no mass beyond the
    normal's."""
    grid = np.linspace(eta - 12 * tau, eta + 12 * tau, 40_001)
    f = (k * log_expit(grid) + (n - k) * log_expit(-grid) - 0.5 * (grid - eta) ** 2 / tau**2
         - np.log(tau) - 0.5 * np.log(2 * np.pi))
    top = f.max()
    lchoose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return float(lchoose + top + np.log(np.trapezoid(np.exp(f - top), grid)))


def _quadrature(k: int, n: int, eta: float, tau: float) -> float:
    a = row_arrays(np.array([k]), np.array([n]), np.array([k / n]))
    return float(_logit_normal_binomial(np, a["k"], a["n"], np.array([eta]), np.array([tau**2]),
                                        a["z"], a["v"])[0])


def test_quadrature_matches_numerical_integration():
    """762 rows (n 20-5000, k from 0 to n, logit mean -500..500, tau 0.02-2.5, log
    probability above -40): the adaptive quadrature is within 0.01 nats of the integral
    (measured: 0.006). Logit means far from the data are the rows of a steep curve away from
    its rise; with the Newton steps started at the precision-weighted logit only, a count of 0
    at logit mean -60 came out 17 nats too low (_best_start)."""
    worst = 0.0
    count = 0
    for n in [20, 100, 1000, 5000]:
        for k in sorted({0, 1, 3, 9, min(30, n), n // 2, n - 2, n}):
            for eta in [-500.0, -100.0, -30.0, -12.0, -6.0, -3.0, 0.0, 3.0, 6.0, 12.0, 30.0,
                        100.0, 500.0]:
                for tau in [0.02, 0.1, 0.35, 1.0, 2.5]:
                    want = _by_integration(k, n, eta, tau)
                    if want < -40:
                        continue
                    worst = max(worst, abs(_quadrature(k, n, eta, tau) - want))
                    count += 1
    assert count == 762
    assert worst < 0.01, worst


def test_row_far_below_a_steep_rise_costs_nothing():
    """0 of 1000 right where the curve's logit mean is -60 or -100 (a steep curve two decades
    below its threshold): the probability is 1 whatever the model-to-model noise, so the log
    probability is 0 (the old start gave -16.8 and -182 at tau = 1)."""
    for eta in [-60.0, -100.0, -500.0]:
        for tau in [0.3, 1.0, 2.5]:
            assert abs(_quadrature(0, 1000, eta, tau)) < 1e-6, (eta, tau)
            assert abs(_quadrature(1000, 1000, -eta, tau)) < 1e-6, (eta, tau)


def test_count_rows_sum_to_one_over_k():
    """A probability mass function: exp(logp) over k = 0..n sums to 1 (n = 40)."""
    n = 40
    k = np.arange(n + 1, dtype=float)
    d = row_arrays(k, np.full(n + 1, float(n)), k / n)
    lik = LIKELIHOODS["logitnormal"]
    for mu, log_tau in [(0.02, np.log(0.5)), (0.5, np.log(0.1)), (0.97, np.log(1.5))]:
        lp = lik.logp(np, np.log(mu), np.log1p(-mu), d, log_tau)
        assert abs(np.exp(lp).sum() - 1.0) < 1e-3


def test_beta_binomial_is_finite_at_extreme_precision():
    """At precision phi = e^44 gammaln loses every digit (a log probability of +996 was
    measured); the density is evaluated at LOG_PHI_MAX beyond it, its binomial limit: a count's
    log probability stays <= 0 and equals the binomial's within 1e-3 nats."""
    from scipy.stats import binom

    from emergence.models.likelihoods import LOG_PHI_MAX

    lik = LIKELIHOODS["betabinomial"]
    k, n, mu = np.array([3.0, 250.0, 997.0]), np.full(3, 1000.0), np.array([0.01, 0.3, 0.99])
    d = row_arrays(k, n, k / n)
    for log_phi in (LOG_PHI_MAX, 30.0, 44.0):
        lp = lik.logp(np, np.log(mu), np.log1p(-mu), d, np.full(3, log_phi))
        assert np.all(lp <= 0) and np.allclose(lp, binom.logpmf(k, n, mu), atol=1e-3), lp
