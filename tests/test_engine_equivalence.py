"""The two-stage per-curve engine gives the joint posterior (issue 14, "same posterior").

Six curves x 8 sizes are simulated from the default model's own assumptions (sigmoid curves,
model-to-model logit noise sd 0.35, 500 items) and fitted twice with the default model
(logit-normal noise pooled across curves, Student-t population of x0 and log k):
``engine="percurve"`` (stage 1 per curve + Lunn et al. 2013 population step) and
``engine="joint"`` (one long nutpie NUTS run of the joint hierarchical model, 4 x 3000 draws,
non-centred, target_accept 0.95). The 5 %, 50 % and 95 % quantiles of every curve's x0 and
log k and of the population's mu/sigma of x0 and log k must agree within Monte Carlo error:

    |q_percurve - q_joint| <= 4 * sqrt(mcse_percurve^2 + mcse_joint^2)

with each MCSE arviz's ``mcse(method="quantile")`` (which accounts for autocorrelation through
the ESS). The per-curve engine's curve draws are picked from a finite pool, each curve's
stage-1 draws, whose own Monte Carlo error arviz's ESS of the picked draws does not see: a
curve quantity's variance adds the pool's, ``mcse**2 * ess_quantile / ess_pool``
(``engine.pool_ess``; the population's quantities are not picked from a pool). Without that
term the test failed at 1 of 48 (2026-11-28, curve 0's median x0, z = -4.33); over 20 seeds
the spread of the per-curve quantiles was 1.53 times arviz's MCSE (median, up to 2.57), their
mean within |z| <= 2.8 of the joint run's (docs/validation.md). Under equal posteriors the
standardised difference is about N(0, 1); 48 quantities are compared per per-curve run (two
runs, :data:`PERCURVE_RUNS`: long, and at the default draws where small pools are drawn again
near the pooled posterior), and 4 SE keeps the chance of a false alarm below 96 * 6e-5 = 0.6 %.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

import emergence as em
from emergence.simulate import simulate_families

NAMES = ["x0", "logk", "mu_x0", "sigma_x0", "mu_logk", "sigma_logk"]
QUANTILES = (0.05, 0.5, 0.95)
Z_MAX = 4.0


def _table() -> object:
    """Six sigmoid curves x 8 sizes with model-to-model noise (the module docstring)."""
    x = np.linspace(8.0, 11.0, 8)
    rng = np.random.default_rng(5)
    truths = pd.DataFrame({"task": [f"t{i}" for i in range(6)], "x0": np.linspace(8.8, 10.2, 6),
                           "logk": rng.normal(1.2, 0.5, 6), "chance": 0.0, "lapse": 0.1})
    return em.load_scores(simulate_families(truths, x, seed=7, n_items=500), warn=False)


#: The per-curve fits compared with the joint run: long (every pool large) and at the default
#: 500 draws, where two curves' pools fall below ``ess_min`` and are drawn again near their
#: pooled posterior (``engine._near_pools``; measured 2026-11-28: pools 303 and 360 -> drawn).
PERCURVE_RUNS = {"percurve": dict(draws=2000, tune=500), "percurve_default": {}}


def _standardised_differences() -> pd.DataFrame:
    table = _table()
    runs = {**PERCURVE_RUNS,
            "joint": dict(draws=3000, tune=1500, target_accept=0.95,
                          parametrization="noncentered")}
    posts, pools, notes = {}, {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in runs.items():
            f = em.fit(table, engine="joint" if name == "joint" else "percurve", seed=11, **kw)
            posts[name] = f.tree["posterior"].to_dataset()[NAMES]
            notes[name] = " ".join(f.notes)
            if name != "joint":
                pools[name] = f.tree["curve_diagnostics"]["ess_pool"].values
    assert "near their pooled posterior" in notes["percurve_default"]
    return pd.concat([_run_differences(posts[name], posts["joint"], pools[name]).assign(run=name)
                      for name in PERCURVE_RUNS])


def _run_differences(post: object, joint: object, pool: np.ndarray) -> pd.DataFrame:
    """Standardised differences of one per-curve posterior's quantiles from the joint run's."""
    rows = []
    for p in QUANTILES:
        q = {e: x.quantile(p, dim=("chain", "draw")) for e, x in (("a", post), ("b", joint))}
        se = {e: az.mcse(x, method="quantile", prob=p) for e, x in (("a", post), ("b", joint))}
        ess = az.ess(post, method="quantile", prob=p)
        for v in NAMES:
            a, b = (np.atleast_1d(q[e][v].values) for e in "ab")
            sa, sb = (np.atleast_1d(se[e][v].values) for e in "ab")
            if v in ("x0", "logk"):  # picked from the curve's pool of stage-1 draws
                sa = sa * np.sqrt(1.0 + ess[v].values / pool)
            for i in range(len(a)):
                rows.append({"quantile": p, "name": v, "curve": i, "percurve": a[i],
                             "joint": b[i], "z": (a[i] - b[i]) / np.hypot(sa[i], sb[i])})
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_percurve_quantiles_match_long_joint_nuts() -> None:
    d = _standardised_differences()
    print(d.round(3).to_string())
    assert len(d) == len(PERCURVE_RUNS) * 3 * (2 * 6 + 4)
    assert np.isfinite(d["z"]).all()
    assert (d["z"].abs() <= Z_MAX).all(), d[d["z"].abs() > Z_MAX]


def _curve_quantiles(table: object, seed: int, **kw: object) -> pd.DataFrame:
    """5/50/95 % quantiles of every curve's x0 and log k from one per-curve fit (``kw``: its
    options), with arviz's MCSE and the SE with the pool's variance added (as in the test
    above)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = em.fit(table, engine="percurve", seed=seed, **kw)
    post = f.tree["posterior"].to_dataset()[["x0", "logk"]]
    pool = f.tree["curve_diagnostics"]["ess_pool"].values
    rows = []
    for p in QUANTILES:
        q = post.quantile(p, dim=("chain", "draw"))
        se = az.mcse(post, method="quantile", prob=p)
        ess = az.ess(post, method="quantile", prob=p)
        for v in ("x0", "logk"):
            rows += [{"quantile": p, "name": v, "curve": i, "q": q[v].values[i],
                      "mcse": se[v].values[i],
                      "se": se[v].values[i] * np.sqrt(1 + ess[v].values[i] / pool[i])}
                     for i in range(len(pool))]
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.parametrize("run", list(PERCURVE_RUNS))
def test_pool_corrected_mcse_matches_the_spread_over_seeds(run: str) -> None:
    """Over 20 seeds (each fit's stage-1 pool and population chain independent), the spread of
    each curve quantile is the true Monte Carlo error. arviz's MCSE of the pooled draws falls
    short of it (measured: median ratio 1.53, docs/validation.md); the pool-corrected SE must
    not (measured: spread / SE at most 1.08). With 20 seeds a spread is estimated within about
    +-16 % (1 / sqrt(2 x 19)), so 36 ratios of a correct SE stay below 1.5; a median ratio of
    arviz's MCSE above 1.2 shows the correction is needed."""
    table = _table()
    d = pd.concat([_curve_quantiles(table, s, **PERCURVE_RUNS[run]) for s in range(11, 31)])
    g = d.groupby(["quantile", "name", "curve"]).agg(spread=("q", "std"), mcse=("mcse", "mean"),
                                                    se=("se", "mean"))
    print((g["spread"] / g["se"]).describe(), (g["spread"] / g["mcse"]).median())
    assert len(g) == 36
    assert (g["spread"] / g["se"]).max() < 1.5
    assert (g["spread"] / g["mcse"]).median() > 1.2
