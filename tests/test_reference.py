"""Importance draws from related posteriors: a fit started from a reference fit
(``em.fit(..., reference=)``, what ``check``'s back-test does), leave-one-scale-out folds started
from the full-data draws (:func:`emergence.crossval.fold_draws`), and programs compiled once.

Expected values come from the same posterior sampled by HMC alone: quantiles agree within 4
Monte Carlo standard errors (the weights' effective sample size, the resampling and the HMC
run's ESS), as in ``tests/test_engine.py``. Curves that do not take importance draws get the
HMC draws they would have had without a reference, bit for bit (their seeds are their labels').
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import emergence as em
from emergence import engine as E
from emergence.errors import ConfigError
from test_engine import FAST, _table


def _drop_largest(table: em.ScoreTable) -> em.ScoreTable:
    """The table without each curve's largest model (what a back-test of holdout 1 trains on)."""
    df = table.data
    keep = df["x"] < df.groupby("task")["x"].transform("max")
    cols = ["task", "model", "params", "score", "n_items", "chance"]
    return em.load_scores(df.loc[keep, cols].reset_index(drop=True))


def _agree(a: np.ndarray, b: np.ndarray, ess_a: float, what: tuple) -> None:
    """10/50/90 % quantiles of importance draws ``a`` (weights' ESS ``ess_a``) and HMC draws
    ``b`` (chains, draws) agree within 4 Monte Carlo standard errors."""
    import arviz as az
    import xarray as xr

    n_b = float(az.ess(xr.DataArray(b, dims=("chain", "draw")), method="bulk"))
    a, b = a.ravel(), b.ravel()
    for q in (0.1, 0.5, 0.9):
        dens = 0.1 / (np.quantile(b, q + 0.05) - np.quantile(b, q - 0.05))
        se = np.sqrt(q * (1 - q) * (1 / ess_a + 1 / a.size + 1 / n_b)) / dens
        assert abs(np.quantile(a, q) - np.quantile(b, q)) < 4 * se, (*what, q)


@pytest.fixture(scope="module")
def fits() -> dict[str, em.Fit]:
    full = em.fit(_table(3), pooling="none", **FAST)
    train = _drop_largest(_table(3))
    return {"full": full, "plain": em.fit(train, pooling="none", **FAST),
            "started": em.fit(train, pooling="none", reference=full, **FAST), "train": train}


def test_fit_from_a_reference_gives_the_posterior_of_a_fit_from_scratch(fits) -> None:
    started, plain = fits["started"], fits["plain"]
    cd = started.tree["curve_diagnostics"]
    took = cd["hmc_t_is"].values
    assert took.any(), "no curve took importance draws from the reference"
    assert any("reference fit's draws" in n for n in started.notes)
    for i in np.flatnonzero(took):
        ess = float(cd["ess_bulk_min"].values[i])
        assert ess >= started.config.ess_min
        for name in ("x0", "logk", "log_tau"):
            _agree(started.tree["stage1"][name].values[..., i],
                   plain.tree["stage1"][name].values[..., i], ess, (i, name))


def test_curves_without_reliable_reference_weights_keep_their_own_hmc_draws(fits) -> None:
    """A reference that points a curve elsewhere (another curve's draws: k-hat fails) and a
    curve missing from the reference: both are sampled by HMC exactly as without one."""
    full, plain, train = fits["full"], fits["plain"], fits["train"]
    labels = plain.series["label"].tolist()
    names = [p.name for p in full.model.all_params(full.model_data.likelihood)]
    ref = E.reference_draws(full.tree, names)
    wrong = {labels[0]: ref[labels[2]]}  # curve 0 proposed from curve 2's posterior
    f = em.fit(train, pooling="none", reference=wrong, **FAST)
    assert any(n.startswith("0 of 1 curve(s) took importance draws from a Student-t fitted "
                            "to a reference") for n in f.notes), f.notes
    for name in names:
        np.testing.assert_array_equal(f.tree["stage1"][name].values,
                                      plain.tree["stage1"][name].values)


def test_a_reference_of_another_model_or_engine_is_refused(fits) -> None:
    with pytest.raises(ConfigError, match="reference must be a per-curve-engine fit of the "
                                          "'powerlaw' model"):
        em.fit(fits["train"], model="powerlaw", pooling="none", reference=fits["full"], **FAST)
    with pytest.raises(ConfigError, match="needs the per-curve engine"):
        em.fit(fits["train"], engine="joint", reference=fits["full"], **FAST)


def test_loso_fold_draws_by_importance_match_hmc_fold_draws(fits) -> None:
    """Leave-one-scale-out folds start from the full-data draws of their curve
    (:func:`emergence.crossval.fold_draws`); where those weights are reliable the fold's draws
    give the posterior an HMC run of the fold gives."""
    from emergence.crossval import fold_draws

    full = fits["full"]
    md, sampler = full.model_data, full._sampler
    obs = md.obs
    frames = []
    for f, s in enumerate(range(len(md.series))):  # each curve without its largest scale
        rows = obs[obs["series_idx"] == s]
        frames.append(rows[rows["x"] < rows["x"].max()].assign(fold=f))
    train = pd.concat(frames, ignore_index=True)
    data = sampler.curve_data(train, by="fold")
    labels = [f"fold{f}" for f in range(len(frames))]
    series = np.arange(len(frames))
    by_is = fold_draws(full, sampler, data, labels, series)
    by_hmc, _, _ = sampler.run(data, labels, series, int(full.config.seed),
                               float(full.config.target_accept))
    stage1 = full.tree["stage1"]
    ref = {k: np.moveaxis(stage1[k].values, -1, 0) for k in sampler.program.var_names}
    _, ok, _, ess = sampler.importance(data, labels, series, int(full.config.seed), hmc=ref,
                                       n=E.NEAR_IS_DRAWS)
    assert ok.any()
    for i in np.flatnonzero(ok):
        for name in ("x0", "logk"):
            _agree(by_is[name][i], by_hmc[name][i], ess[i], (i, name))
    for i in np.flatnonzero(~ok):  # the others are the HMC draws themselves
        np.testing.assert_array_equal(by_is["x0"][i], by_hmc["x0"][i])


def test_sampling_programs_compile_once_per_argument_shape(fits) -> None:
    """The first call of a sampling loop passes host arrays, later calls the previous result
    (device arrays): both must hit one compiled program (``engine._on_device``); before, every
    HMC and population program was compiled, or loaded from the cache, twice."""
    em.fit(_table(3), pooling="partial", **FAST)  # the population chain runs too
    programs = [blk for _, blk in E._PROGRAMS.values()]
    programs += [fn for c in E._STAGE_TWO.values() for pair in c.values() for fn in pair]
    checked = 0
    for p in programs:
        for call in {id(c): c for c in p._calls.values()}.values():
            sigs = sum(c is call for c in p._calls.values())
            assert call._cache_size() == sigs, p._key[:60]
            checked += 1
    assert checked >= 3


def test_backtest_from_a_reference_gives_the_same_numbers_on_dask(fits) -> None:
    """``check`` passes its sigmoid fit to the back-test; the reference's draws travel to the
    Dask workers with the training table, so the forecasts are the local ones."""
    distributed = pytest.importorskip("distributed")
    import warnings

    from emergence.backtest import backtest

    opts = {"holdout": 1, "methods": ("emergence",), "seed": 5, "n_draws": 300,
            "pooling": "none", "draws": 200, "tune": 200, "chains": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = backtest(_table(3), reference=fits["full"], **opts)
        plain = backtest(_table(3), **opts)
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cl, \
                distributed.Client(cl) as client:
            remote = backtest(_table(3), reference=fits["full"], scheduler=client, **opts)
    pd.testing.assert_frame_equal(remote.records, local.records)
    assert not local.records.equals(plain.records)  # the reference was used
