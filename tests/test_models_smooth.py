"""Smooth alternatives: the power-law (Gumbel) and log-linear curves and their models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import emergence as em
from emergence import curves as C
from emergence.errors import ConfigError, EmergenceDataError
from emergence.models import LogLinearModel, PowerLawModel, get
from emergence.models.powerlaw import relative_answer_tokens
from emergence.simulate import simulate_table

PL = {"x0": 10.0, "log_alpha": np.log(0.7)}
LL = {"x0": 10.0, "logw": np.log(2.0)}


# ---- curves (numpy, fast) -------------------------------------------------------------------
@pytest.mark.parametrize("curve,p", [(C.POWERLAW, PL), (C.LOGLINEAR, LL), (C.SIGMOID,
                                                                          {"x0": 10.0, "logk": 1.0})])
def test_inverse_is_inverse_of_rise(curve, p):
    levels = np.array([0.01, 0.1, 0.5, 0.9, 0.99])
    np.testing.assert_allclose(curve.rise(curve.inverse(levels, **p), **p), levels, rtol=1e-9)


@pytest.mark.parametrize("curve,p", [(C.POWERLAW, PL), (C.LOGLINEAR, LL)])
def test_log_rise_matches_rise_and_never_ties(curve, p):
    x = np.linspace(4.0, 16.0, 2001)
    lg, l1g = curve.log_rise(x, **p)
    g = curve.rise(x, **p)
    assert np.all(np.isfinite(lg)) and np.all(np.isfinite(l1g))
    inside = (g > 1e-6) & (g < 1 - 1e-6)  # where 1 - g by subtraction is still accurate
    np.testing.assert_allclose(np.exp(lg[inside]), g[inside], rtol=1e-10)
    np.testing.assert_allclose(np.exp(l1g[inside]), 1 - g[inside], rtol=1e-8)
    # far in the tails, where g or 1-g underflow, the log values still move with the
    # parameters: a cell's log-likelihood is never constant across draws (PSIS-LOO needs this)
    q = dict(p)
    q["x0"] = p["x0"] + 0.01
    lg2, l1g2 = curve.log_rise(x, **q)
    assert np.all(lg2[:50] != lg[:50])
    assert np.all(l1g2[-50:] != l1g[-50:])


def test_powerlaw_width_is_1_339_over_alpha():
    # analytic: width = log10(ln 10 / ln(10/9)) / alpha = 1.3395 / alpha
    alpha = np.array([0.1, 0.5, 1.0, 3.0])
    w = C.width(C.POWERLAW, x0=0.0, log_alpha=np.log(alpha))
    np.testing.assert_allclose(w, np.log10(np.log(10) / np.log(10 / 9)) / alpha, rtol=1e-12)
    np.testing.assert_allclose(w * alpha, 1.339, atol=1e-3)


def test_powerlaw_answer_tokens_shift_not_widen():
    # exp(-L ln2 10^(-a(x-x0))): L multiplies the loss, i.e. shifts x by log10(L)/alpha
    alpha = 0.7
    p = {"x0": 10.0, "log_alpha": np.log(alpha)}
    mid1 = C.POWERLAW.inverse(0.5, **p)
    mid5 = C.POWERLAW.inverse(0.5, **p, L=5.0)
    assert mid1 == pytest.approx(10.0)
    assert mid5 - mid1 == pytest.approx(np.log10(5.0) / alpha)
    w5 = C.POWERLAW.inverse(0.9, **p, L=5.0) - C.POWERLAW.inverse(0.1, **p, L=5.0)
    assert w5 == pytest.approx(C.width(C.POWERLAW, **p))
    lg, _ = C.POWERLAW.log_rise(np.array([mid5]), **p, L=5.0)
    assert np.exp(lg[0]) == pytest.approx(0.5)


def test_powerlaw_is_asymmetric_gumbel():
    # a Gumbel in log N: slow approach to the ceiling, fast departure from the floor
    p = {"x0": 0.0, "log_alpha": 0.0}
    lo, hi = 0.0 - C.POWERLAW.inverse(0.1, **p), C.POWERLAW.inverse(0.9, **p) - 0.0
    # analytic (alpha = 1): 10 %->50 % takes log10(ln 10 / ln 2) = 0.521 decades,
    # 50 %->90 % takes log10(ln 2 / ln(10/9)) = 0.818 decades
    assert lo == pytest.approx(np.log10(np.log(10) / np.log(2)))
    assert hi == pytest.approx(np.log10(np.log(2) / np.log(10 / 9)))
    assert hi > 1.5 * lo


def test_loglinear_is_linear_in_the_middle_and_symmetric():
    w = 2.0
    p = {"x0": 10.0, "logw": np.log(w)}
    x = np.array([9.6, 9.8, 10.0, 10.2, 10.4])
    g = C.LOGLINEAR.rise(x, **p)
    # derivative of the smoothed ramp: (logistic(s h) - logistic(s (h - 1))) / w, s = 16;
    # in the middle 40 % of the ramp that is 1/w to within 1 %
    eps = 1e-6
    slope = (C.LOGLINEAR.rise(x + eps, **p) - C.LOGLINEAR.rise(x - eps, **p)) / (2 * eps)
    h = (x - 10.0) / w + 0.5
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(slope, (sig(16 * h) - sig(16 * (h - 1))) / w, rtol=1e-6)
    np.testing.assert_allclose(slope, 1 / w, rtol=0.01)
    assert g[2] == pytest.approx(0.5)
    xs = np.linspace(6, 14, 81)
    np.testing.assert_allclose(C.LOGLINEAR.rise(20 - xs, **p), 1 - C.LOGLINEAR.rise(xs, **p),
                               atol=1e-12)
    # 10-90 % width is a fixed fraction of the ramp length (0.828 for s = 16)
    np.testing.assert_allclose(C.width(C.LOGLINEAR, **p), 0.82819 * w, rtol=1e-4)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        C.LOGLINEAR.h_at(1.0)


@pytest.mark.parametrize("curve,p", [(C.POWERLAW, PL), (C.LOGLINEAR, LL)])
def test_pytensor_matches_numpy_with_finite_gradients(curve, p):
    import pytensor
    import pytensor.tensor as pt

    x = np.linspace(0.0, 20.0, 401)
    xs = pt.dvector("x")
    a, b = curve.log_rise(xs, pt, **p)
    f = pytensor.function([xs], [a, b, pytensor.grad(a.sum() + b.sum(), xs)])
    ra, rb, gr = f(x)
    na, nb = curve.log_rise(x, **p)
    np.testing.assert_allclose(ra, na, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rb, nb, rtol=1e-6, atol=1e-9)
    assert np.all(np.isfinite(gr))


# ---- registration and options ---------------------------------------------------------------
def test_models_are_registered_by_name():
    assert get("powerlaw") is PowerLawModel
    assert get("loglinear") is LogLinearModel
    assert C.get_curve("powerlaw") is C.POWERLAW
    assert em.Config(model="powerlaw").model == "powerlaw"
    with pytest.raises(ConfigError, match="loglinear"):
        em.Config(model="gompertz")
    assert "mu_log_alpha" in PowerLawModel.prior_names()
    assert "mu_logw" in LogLinearModel.prior_names()


def test_relative_answer_tokens_uses_series_geometric_mean():
    obs = pd.DataFrame({"series_idx": [0, 0, 1, 1, 1], "row": range(5),
                        "answer_tokens": [2.0, 8.0, 3.0, np.nan, 3.0]})
    rel = relative_answer_tokens(obs)
    np.testing.assert_allclose(rel.to_numpy(), [0.5, 2.0, 1.0, 1.0, 1.0])
    assert relative_answer_tokens(obs.drop(columns="answer_tokens")) is None
    bad = obs.assign(answer_tokens=[2.0, -1.0, 3.0, 3.0, 3.0])
    with pytest.raises(EmergenceDataError, match="answer_tokens.*rows \\[1\\]"):
        relative_answer_tokens(bad)


# ---- fits (sampling) ------------------------------------------------------------------------
def _powerlaw_table_with_tokens(seed: int = 3) -> tuple[pd.DataFrame, float]:
    """Two tasks, per-token exponent 0.8, answers of 1-8 tokens varying by row (all-right
    metric: P(correct) = exp(-L * per-token loss))."""
    alpha = 0.8
    rng = np.random.default_rng(seed)
    x = np.linspace(8.0, 12.0, 9)
    rows = []
    for task, x0 in (("add", 9.8), ("mul", 10.3)):
        L = rng.choice([1.0, 2.0, 4.0, 8.0], size=len(x))
        Lrel = L / np.exp(np.mean(np.log(L)))  # the model's reference: geometric mean
        mu = 0.97 * C.POWERLAW.rise(x, x0=x0, log_alpha=np.log(alpha), L=Lrel)
        k = rng.binomial(400, mu)
        for xi, ki, Li in zip(x, k, L, strict=True):
            rows.append({"task": task, "model": f"m{xi:.2f}", "params": 10**xi, "metric": "em",
                         "score": ki / 400, "n_items": 400, "chance": 0.0, "answer_tokens": Li})
    return pd.DataFrame(rows), alpha


def test_powerlaw_fit_with_answer_tokens_recovers_per_token_exponent():
    df, alpha = _powerlaw_table_with_tokens()
    fit = em.fit(df, model="powerlaw", seed=11, draws=400, tune=400, likelihood="binomial")
    md = fit.model_data
    assert "L" in PowerLawModel.data_arrays(md)
    a = np.exp(fit.draws("log_alpha"))
    lo, hi = np.quantile(a, [0.005, 0.995], axis=0)
    # truth 0.8 (simulation above) inside the 99 % interval of each series
    assert np.all((lo < alpha) & (alpha < hi)), (lo, hi)
    s = fit.summary()
    assert {"width_median", "p_sharp", "threshold_median"} <= set(s.columns)
    # width computed from the power-law curve: 1.339 / alpha per draw
    np.testing.assert_allclose(fit.draws("width"), 1.3395 / a, rtol=1e-3)


def test_loglinear_fit_recovers_ramp_width():
    truths = [{"task": f"t{i}", "x0": 9.5 + 0.5 * i, "logw": np.log(2.5), "lapse": 0.05}
              for i in range(3)]
    df = simulate_table("loglinear", truths, np.linspace(8.0, 12.0, 9), n_items=400, seed=5)
    fit = em.fit(df, model="loglinear", seed=2, draws=400, tune=400)
    w = fit.draws("width")
    truth = C.width(C.LOGLINEAR, x0=0.0, logw=np.log(2.5))  # 2.07 decades
    lo, hi = np.quantile(w, [0.005, 0.995], axis=0)
    assert np.all((lo < truth) & (truth < hi)), (lo, hi, truth)
    assert np.all(fit.p_sharp() < 0.05)  # 2-decade ramps are not sharp
    # plots draw the same numpy curve (no fitting in the plot layer)
    from emergence.plots import plot_curves

    fig = plot_curves(fit)
    assert len(fig.axes) >= 1


def test_steep_power_law_has_finite_density_and_gradient_in_the_sampler():
    """The power law's ``log g = -exp(e)`` is doubly exponential in its steepness: uncompressed,
    the compiled curve density had NaN gradients from log alpha 4 and NaN values from 5 for a
    threshold 4 decades above the smallest scale, and NaN gradients from log alpha 0 with the
    count likelihood's old JAX gradient; SBC draws and HMC chains go there (power-law SBC,
    seed 12: 115 of 200 simulations diverged). Beyond ``curves.LOGLOG_MAX``, ``e`` grows
    logarithmically."""
    import jax

    from emergence.config import make_config
    from emergence.engine import CurveSampler
    from emergence.sbc import _design_table

    M = get("powerlaw")
    md = M.prepare(_design_table(5, 8, 1000), make_config(model="powerlaw", seed=1))
    sampler = CurveSampler(M, md, make_config(model="powerlaw", seed=1))
    prog = sampler.program
    obs = md.obs.assign(k=np.where(md.obs.x > 11.0, 900.0, 0.0))
    data = [np.asarray(a[0]) for a in sampler.curve_data(obs.assign(y=obs.k / 1000))]
    grad = jax.jit(jax.value_and_grad(lambda p: prog.logp(p, data)))
    for log_alpha in (0.0, 1.0, 3.0, 4.0, 5.0, 8.0):
        for x0 in (11.2, 12.0):
            vals = [np.array([v]) for v in (x0, log_alpha, -2.35, -1.7)]
            value, g = grad([p[0] for p in prog.unconstrain(vals, md.context)])
            assert np.isfinite(float(value)), (log_alpha, x0)
            assert all(np.isfinite(np.asarray(v)).all() for v in g), (log_alpha, x0, g)
