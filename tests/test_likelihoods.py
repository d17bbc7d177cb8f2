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


def _jax_count_density():
    """The count density as the samplers compile it (PyTensor graph -> JAX), value and gradient
    in (logit mean, log tau)."""
    import jax
    import pytensor.tensor as pt
    from pymc.sampling.jax import get_jaxified_graph

    from emergence.engine import _jax

    _jax()  # 64-bit floats and the JAX fixes, as in every fit
    eta, lt, k, n, z, v = (pt.dscalar(s) for s in ("eta", "lt", "k", "n", "z", "v"))
    out = _logit_normal_binomial(pt, k, n, eta, pt.exp(2 * lt), z, v)
    f = get_jaxified_graph(inputs=[eta, lt, k, n, z, v], outputs=[out])

    def density(e, t, kk, nn=1000.0):
        a = row_arrays(np.array([kk]), np.array([nn]), np.array([kk / nn]))
        return f(e, t, kk, nn, a["z"][0], a["v"][0])[0]

    return jax.jit(jax.value_and_grad(density, argnums=(0, 1)), static_argnums=(2, 3))


def test_count_density_gradient_is_finite_far_from_the_rise():
    """Compiled to JAX, the gradient was NaN at every logit mean below about -745 (PyTensor's
    JAX softplus: ``emergence.models._ops.register_jax_fixes``), which a steep sigmoid far
    below its rise and any steep power law reach: HMC diverged there. Rows of 0 of 1000 have
    zero gradient in the logit mean far below the rise; rows of 900 of 1000 have gradient
    ``k = 900`` (``d log P / d eta`` -> k once the logit mean is far below the data). The
    gradient at ordinary rows must match central finite differences of the value."""
    g = _jax_count_density()
    for kk in (0.0, 900.0):
        for eta in (-700.0, -800.0, -1e4, -1e8, -1e18, 1e8):
            value, grad = g(eta, -1.7, kk)
            assert np.isfinite(float(value)) and all(np.isfinite(float(x)) for x in grad), (
                kk, eta, value, grad)
        value, (d_eta, _) = g(-1e4, -1.7, kk)
        assert float(d_eta) == (0.0 if kk == 0 else 900.0) or abs(float(d_eta) - kk) < 1e-6
    h = 1e-5
    for kk, eta, lt in [(3.0, -4.0, -1.0), (500.0, 0.3, -2.0), (990.0, 3.0, 0.5)]:
        _, (d_eta, d_lt) = g(eta, lt, kk)
        fd_eta = (float(g(eta + h, lt, kk)[0]) - float(g(eta - h, lt, kk)[0])) / (2 * h)
        fd_lt = (float(g(eta, lt + h, kk)[0]) - float(g(eta, lt - h, kk)[0])) / (2 * h)
        assert abs(float(d_eta) - fd_eta) < 1e-4 * (1 + abs(fd_eta)), (kk, eta, lt)
        assert abs(float(d_lt) - fd_lt) < 1e-4 * (1 + abs(fd_lt)), (kk, eta, lt)
