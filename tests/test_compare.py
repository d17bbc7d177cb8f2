"""Model comparison: leave-one-scale-out and PSIS-LOO, stacking, 'preferred', records, CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import emergence as em
from emergence import curves as C
from emergence.cli import app
from emergence.compare import (
    INDISTINGUISHABLE,
    Comparison,
    ParetoKWarning,
    _elpd_table,
    _fold_keys,
    log_likelihood,
    stacking_weights,
)
from emergence.errors import ConfigError
from emergence.models import get
from emergence.simulate import simulate_table

FAST = {"draws": 300, "tune": 300}


def _sharp_sigmoid_table() -> pd.DataFrame:
    """Two sharp logistic rises (width 0.44 decades) on a dense grid of 12 scales."""
    truths = [{"task": f"sharp_{i}", "x0": 9.7 + 0.6 * i, "logk": np.log(10.0), "lapse": 0.05}
              for i in range(2)]
    return simulate_table("sigmoid", truths, np.linspace(8.0, 12.0, 12), n_items=500, seed=7)


def _smooth_powerlaw_table() -> pd.DataFrame:
    """Two smooth power-law (Gumbel) rises, alpha 0.6 (width 2.2 decades), 8 scales; plus a
    third task measured at only 4 scales (to exercise the too-few-scales flag)."""
    truths = [{"task": f"smooth_{i}", "x0": 9.8 + 0.4 * i, "log_alpha": np.log(0.6),
               "lapse": 0.05} for i in range(3)]
    df = simulate_table("powerlaw", truths, np.linspace(8.0, 12.0, 8), n_items=500, seed=8)
    keep = (df["task"] != "smooth_2") | df["params"].isin(sorted(df["params"].unique())[::2])
    return df[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def sharp_cmp() -> Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        return em.compare(_sharp_sigmoid_table(), models=["sigmoid", "powerlaw"], cv="loso",
                          seed=3, **FAST)


@pytest.fixture(scope="module")
def smooth_cmp() -> Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        return em.compare(_smooth_powerlaw_table(), models=["sigmoid", "powerlaw", "loglinear"],
                          cv="loso", seed=4, **FAST)


# ---- must show --------------------------------------------------------------------------
@pytest.mark.slow  # heavy: moved out of the default suite (5-minute budget)
def test_sharp_sigmoid_never_prefers_powerlaw(sharp_cmp):
    pref = sharp_cmp.summary()["preferred"]
    assert set(pref) <= {"sigmoid", INDISTINGUISHABLE}, pref.tolist()
    assert sharp_cmp.overall["preferred"].iat[0] in ("sigmoid", INDISTINGUISHABLE)
    # and the stacking weights lean to the true model overall
    w = sharp_cmp.overall.set_index("model")["weight"]
    assert w["sigmoid"] > w["powerlaw"]


def test_smooth_powerlaw_never_prefers_sigmoid(smooth_cmp):
    pref = smooth_cmp.summary()["preferred"]
    assert set(pref) <= {"powerlaw", INDISTINGUISHABLE}, pref.tolist()
    assert smooth_cmp.overall["preferred"].iat[0] in ("powerlaw", INDISTINGUISHABLE)
    w = smooth_cmp.overall.set_index("model")["weight"]
    assert w["powerlaw"] > w["sigmoid"]


# ---- structure of the result ---------------------------------------------------------------
def test_loso_units_and_tables(smooth_cmp):
    c = smooth_cmp
    bt = c.by_task
    assert set(bt["model"]) == {"sigmoid", "powerlaw", "loglinear"}
    # one LOSO unit per (series, scale): 2 tasks x 8 scales + 1 task x 4 scales
    assert len(c.pointwise) == 2 * 8 + 4
    assert np.isfinite(c.pointwise[c.models].to_numpy()).all()
    for _, g in bt.groupby("label"):
        assert g["elpd_diff"].max() == 0.0 and (g["elpd_diff"] <= 0).all()
        assert g["weight"].sum() == pytest.approx(1.0)
        assert g["preferred"].nunique() == 1
    # per-series elpd sums to the overall elpd
    tot = bt.groupby("model")["elpd"].sum()
    np.testing.assert_allclose(tot[c.overall["model"]].to_numpy(), c.overall["elpd"].to_numpy())
    # per-curve engine: one diagnostics row per curve and model (each curve's own R-hat, ESS,
    # divergences), one compiled program per model
    assert (c.diagnostics.groupby("model").size() == 3).all()
    assert set(c.diagnostics["series"]) == set(bt["label"])
    assert set(c.timing) == set(c.models)


def test_full_data_fits_give_each_models_own_sharpness(smooth_cmp):
    fits = smooth_cmp.fits
    assert set(fits) == {"sigmoid", "powerlaw", "loglinear"}
    assert all(f.config.model == m for m, f in fits.items())
    s = fits["powerlaw"].summary().set_index("task")
    # truth: alpha 0.6 -> width 1.339 / 0.6 = 2.2 decades, far from sharp
    assert (s.loc[["smooth_0", "smooth_1"], "p_sharp"] < 0.05).all()
    lo, hi = s.loc["smooth_0", ["width_lo", "width_hi"]]
    assert lo < 1.339 / 0.6 < hi


def test_too_few_scales_flag_and_notice(smooth_cmp):
    s = smooth_cmp.summary().set_index("task")
    assert bool(s.loc["smooth_2", "too_few_scales"]) and s.loc["smooth_2", "n_scales"] == 4
    assert not s.drop(index="smooth_2")["too_few_scales"].any()
    bt = smooth_cmp.by_task
    assert bt.loc[bt["task"] == "smooth_2", "notice"].str.contains("only 4 scales").all()
    assert any("fewer than 5 scales" in n for n in smooth_cmp.notices)


def test_records_and_json_round_trip(smooth_cmp, tmp_path):
    recs = smooth_cmp.to_records()
    assert len(recs) == 3
    r = recs[0]
    assert {"task", "metric", "family", "models", "preferred"} <= set(r)
    assert set(r["models"]) == {"sigmoid", "powerlaw", "loglinear"}
    assert {"elpd", "se", "weight"} <= set(r["models"]["powerlaw"])
    p = smooth_cmp.save(tmp_path / "cmp.json", records_only=True)
    assert json.loads(p.read_text()) == json.loads(json.dumps(recs))
    full = json.loads(smooth_cmp.save(tmp_path / "full.json").read_text())
    assert full["cv"] == "loso" and full["config"]["seed"] == 4
    assert len(full["overall"]) == 3 and len(full["records"]) == 3


# ---- numpy held-out density == the PyMC model's likelihood ---------------------------------
def _loglik_case(case: str) -> tuple[pd.DataFrame, dict]:
    if case == "powerlaw-mixed-tokens":
        # counts (beta-binomial) and scores without counts (beta), and answer lengths (the
        # power law's L data)
        truths = [{"task": f"t{i}", "x0": 10.0 + 0.5 * i, "log_alpha": np.log(0.7),
                   "lapse": 0.1} for i in range(2)]
        df = simulate_table("powerlaw", truths, np.linspace(8.0, 12.0, 6), n_items=300, seed=2)
        df.loc[df["task"] == "t1", "n_items"] = np.nan
        df["answer_tokens"] = np.tile([1, 2, 3, 4, 5, 6], 2)
        return df, {"model": "powerlaw"}
    # loglinear, two families with an offset, unknown chance floor (estimated), binomial
    truths = [{"task": "t0", "x0": 10.0, "logw": np.log(2.0), "lapse": 0.1}]
    a = simulate_table("loglinear", truths, np.linspace(8.0, 12.0, 5), n_items=300, seed=3,
                       chance=0.25, family="A")
    b = simulate_table("loglinear", truths, np.linspace(8.3, 11.7, 4), n_items=300, seed=4,
                       chance=0.25, family="B")
    df = pd.concat([a, b], ignore_index=True).drop(columns="chance")
    return df, {"model": "loglinear", "families": "offset", "likelihood": "binomial"}


@pytest.mark.parametrize("case", [
    "powerlaw-mixed-tokens",
    # heavy (a joint model compiled with C): moved out of the default suite (5-minute budget)
    pytest.param("loglinear-offset-floor", marks=pytest.mark.slow)])
def test_numpy_log_likelihood_matches_pytensor(case):
    """The pointwise numbers (numpy) and the PyMC / JAX models (PyTensor) evaluate the one
    definition ``CurveModel.log_likelihood``: both must agree on posterior draws, for every
    likelihood branch, family offsets, estimated floors and answer lengths."""
    import pytensor
    import pytensor.tensor as pt

    df, opts = _loglik_case(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        fit = em.fit(df, seed=1, draws=100, tune=100, **opts)
    M = get(opts["model"])
    md = fit.model_data
    post = fit.tree["posterior"]
    if case.startswith("loglinear"):
        assert "delta_family" in post and "floor" in post  # the branches this case is for
    names = [p.name for p in M.all_params(md.likelihood)] + [n for n in ("floor",) if n in post]
    draws = {n: np.asarray(post[n].values).reshape(-1, len(md.series)) for n in names}
    rows = M.data_arrays(md)
    sym = {n: pt.dvector(n) for n in names}
    delta = pt.dvector("delta")
    expr = M.log_likelihood(pt, md.likelihood, {k: pt.as_tensor(v) for k, v in rows.items()},
                            sym, delta)
    f = pytensor.function([*sym.values(), delta], expr, on_unused_input="ignore")
    mine = log_likelihood(M, md, post, md.obs)
    if "delta_family" in post:
        d = np.asarray(post["delta_family"].values).reshape(mine.shape[0], -1)
        shift = np.concatenate([np.zeros((len(d), 1)), d], axis=1)[:, rows["family_idx"]]
    else:
        shift = np.zeros((mine.shape[0], len(md.obs)))
    for i in range(0, mine.shape[0], 37):
        ref = f(*[draws[n][i] for n in names], shift[i])
        np.testing.assert_allclose(mine[i], ref, rtol=1e-6, atol=1e-6)


# ---- PSIS-LOO -------------------------------------------------------------------------------
@pytest.mark.slow  # heavy: moved out of the default suite (5-minute budget)
def test_loo_runs_on_floor_and_ceiling_cells_with_pareto_k():
    """Many cells at exactly 0 correct (chance 0) and near the ceiling: the log-space likelihood
    must keep az.loo from failing ('All tail values are the same') for every model."""
    truths = [{"task": f"t{i}", "x0": 10.5 + 0.3 * i, "logk": np.log(6.0), "lapse": 0.02}
              for i in range(2)]
    df = simulate_table("sigmoid", truths, np.linspace(7.0, 13.0, 10), n_items=200, seed=9)
    assert (df["score"] == 0).sum() >= 6  # the premise: several all-wrong cells
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = em.compare(df, models=["sigmoid", "powerlaw", "loglinear"], cv="loo", seed=5, **FAST)
    assert c.cv == "loo"
    assert np.isfinite(c.pointwise[c.models].to_numpy()).all()
    assert len(c.pointwise) == len(df)
    assert {"pareto_k_max", "n_k_high"} <= set(c.by_task.columns)
    high = int(c.by_task["n_k_high"].sum())
    warned = any(issubclass(w.category, ParetoKWarning) for w in caught)
    assert warned == (high > 0)
    assert not any("tail values" in str(w.message) for w in caught)


# ---- stacking and the 'preferred' rule (no sampling) ----------------------------------------
def test_stacking_matches_arviz_compare():
    import arviz as az
    import xarray as xr

    rng = np.random.default_rng(0)
    trees = {}
    for j, shift in enumerate((0.0, -0.3, -0.1)):
        ll = rng.normal(-1.0 + shift, 0.3 + 0.1 * j, size=(2, 200, 40))
        trees[f"m{j}"] = xr.DataTree.from_dict({
            "posterior": xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(2, 200)))}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), ll)}),
        })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.compare(trees, method="stacking")
        loos = {k: az.loo(v, pointwise=True) for k, v in trees.items()}
    M = np.column_stack([np.asarray(loos[k].elpd_i).ravel() for k in trees])
    mine = stacking_weights(M)
    np.testing.assert_allclose(mine, ref.loc[list(trees), "weight"].to_numpy(), atol=2e-3)


def test_stacking_is_stable_for_very_negative_elpd():
    M = np.array([[-900.0, -1000.0], [-1200.0, -1100.5], [-5.0, -4.0]])
    w = stacking_weights(M)
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, stacking_weights(M - M.max(axis=1, keepdims=True)))


def test_preferred_only_beyond_two_se():
    rng = np.random.default_rng(1)
    base = rng.normal(-3, 1, 20)
    clear = pd.DataFrame({"a": base, "b": base - 2.0 + rng.normal(0, 0.1, 20)})
    t = _elpd_table(clear, ["a", "b"])
    assert set(t["preferred"]) == {"a"}
    close = pd.DataFrame({"a": base, "b": base + rng.normal(0, 1.0, 20)})
    assert set(_elpd_table(close, ["a", "b"])["preferred"]) == {INDISTINGUISHABLE}
    # beats b clearly but not c: not preferred
    three = clear.assign(c=base + rng.normal(0, 1.0, 20))
    assert set(_elpd_table(three, ["a", "b", "c"])["preferred"]) == {INDISTINGUISHABLE}
    # a single unit has no SE: never a winner
    assert set(_elpd_table(clear.head(1), ["a", "b"])["preferred"]) == {INDISTINGUISHABLE}


def test_fold_keys_scale_vs_series():
    obs = pd.DataFrame({"series_idx": [0, 0, 1, 1], "x": [8.0, 9.0, 8.0, 9.0]})
    assert _fold_keys(obs, "scale").nunique() == 2
    assert _fold_keys(obs, "series").nunique() == 4


# ---- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"models": ["sigmoid", "gompertz"]}, "unknown model.*'gompertz'.*valid models"),
    ({"models": ["sigmoid"]}, "at least two models"),
    ({"cv": "kfold"}, "cv='kfold' is not valid; choose 'loso'"),
    ({"folds": "task"}, "folds='task' is not valid"),
    ({"draws": 0}, "option 'draws'"),
])
def test_bad_options_raise_before_fitting(tiny_frame, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        em.compare(tiny_frame, **kwargs)


def test_models_as_comma_string_are_accepted_by_validation(tiny_frame):
    with pytest.raises(ConfigError, match="'bogus'"):
        em.compare(tiny_frame, models="sigmoid, bogus")


# ---- CLI ----------------------------------------------------------------------------------
def test_cli_compare_writes_records(tmp_path):
    truths = [{"task": "riddles", "x0": 10.0, "log_alpha": np.log(0.8), "lapse": 0.05}]
    df = simulate_table("powerlaw", truths, np.linspace(8.0, 12.0, 6), n_items=300, seed=1)
    src = tmp_path / "scores.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "cmp.json"
    # --cv loo: one fit per model keeps this end-to-end test short (LOSO is tested above)
    res = CliRunner().invoke(app, ["compare", str(src), "--models", "sigmoid,powerlaw",
                                   "--cv", "loo", "--draws", "100", "--tune", "100",
                                   "--seed", "1", "--json", str(out)])
    assert res.exit_code in (0, 1), res.output  # 1: diagnostics failed (100 draws)
    assert "preferred" in res.output
    recs = json.loads(out.read_text())["records"]  # --json: the full result document
    assert isinstance(recs, list) and recs[0]["task"] == "riddles"
    assert recs[0]["cv"] == "loo"
    assert set(recs[0]["models"]) == {"sigmoid", "powerlaw"}
    assert "pareto_k_max" in recs[0]["models"]["sigmoid"]


def test_cli_compare_bad_model_exits_with_message(tmp_path, tiny_frame):
    src = tmp_path / "s.csv"
    tiny_frame.to_csv(src, index=False)
    res = CliRunner().invoke(app, ["compare", str(src), "--models", "sigmoid,nope"])
    assert res.exit_code == 2
    assert "nope" in res.output


def test_curve_of_compare_models_is_the_registered_curve():
    # plots and simulation reuse the same numpy curve the comparison scores with
    for name in ("sigmoid", "powerlaw", "loglinear"):
        assert get(name).curve is C.get_curve(name)


@pytest.mark.slow
def test_must_show_with_more_tasks_and_draws():
    """The must-show claims again with 5 tasks per truth and 1000 draws (slow)."""
    sharp = simulate_table("sigmoid", [
        {"task": f"s{i}", "x0": 9.4 + 0.3 * i, "logk": np.log(10.0), "lapse": 0.05}
        for i in range(5)], np.linspace(8.0, 12.0, 14), n_items=500, seed=17)
    smooth = simulate_table("powerlaw", [
        {"task": f"p{i}", "x0": 9.6 + 0.2 * i, "log_alpha": np.log(0.5), "lapse": 0.05}
        for i in range(5)], np.linspace(8.0, 12.0, 8), n_items=500, seed=18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        a = em.compare(sharp, cv="loso", seed=1, draws=1000, tune=1000)
        b = em.compare(smooth, cv="loso", seed=2, draws=1000, tune=1000)
    assert set(a.summary()["preferred"]) <= {"sigmoid", INDISTINGUISHABLE}
    assert set(b.summary()["preferred"]) <= {"powerlaw", INDISTINGUISHABLE}
    assert a.overall.set_index("model")["weight"].idxmax() == "sigmoid"
    assert b.overall.set_index("model")["weight"].idxmax() == "powerlaw"


@pytest.mark.slow
def test_loso_per_series_folds_cover_every_unit():
    truths = [{"task": f"t{i}", "x0": 10.0, "logk": np.log(3.0), "lapse": 0.05} for i in range(2)]
    df = simulate_table("sigmoid", truths, np.linspace(8.0, 12.0, 5), n_items=300, seed=21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        c = em.compare(df, models=["sigmoid", "loglinear"], folds="series", seed=1, **FAST)
    # the per-curve engine: one full-data fit per (model, series) in the diagnostics; every
    # (series, scale) unit scored exactly once, by PSIS where its Pareto k <= 0.7 and by an
    # exact refit of the curve without that scale where not (until session 18 this test
    # expected the joint engine's one refit per unit: 2 x 5 diagnostics rows per model)
    assert (c.diagnostics.groupby("model").size() == 2).all()
    pw = c.pointwise
    assert len(pw) == 10 and not pw.duplicated(["series_idx", "x"]).any()
    assert np.isfinite(pw[c.models].to_numpy()).all()
    for m in c.models:
        assert (pw[f"refit_{m}"] | (pw[f"pareto_k_{m}"] <= 0.7)).all()


@pytest.mark.slow  # heavy: moved out of the default suite (5-minute budget)
def test_loo_reuses_a_given_fit_without_recompiling_or_resampling(monkeypatch):
    """compare(fits={"sigmoid": f}) with cv="loo" uses f's draws (same elpd as computing LOO on
    f directly) and f itself as the kept full-data fit; other options or data are an error."""
    df = _sharp_sigmoid_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = em.fit(df, seed=4, engine="joint", **FAST)
        calls = []
        real = f._sampler.sample
        monkeypatch.setattr(f._sampler, "sample", lambda *a, **k: calls.append(1) or real(*a, **k))
        c = em.compare(df, models=["sigmoid", "loglinear"], cv="loo", seed=4,
                       fits={"sigmoid": f}, reloo=0, engine="joint", **FAST)
    assert c.fits["sigmoid"] is f
    assert calls == []  # no second sampling run of the sigmoid
    assert c.timing["sigmoid"]["compile"] == f.timing.compile  # the fit's own compile, once
    # the elpd is that of f's draws: the numpy log-likelihood of f's posterior reproduces it
    import arviz as az
    import xarray as xr

    ll = log_likelihood(get("sigmoid"), f.model_data, f.posterior, f.model_data.obs)
    post = f.posterior
    ll = ll.reshape(post.sizes["chain"], post.sizes["draw"], -1)
    ref = az.loo(xr.DataTree.from_dict({"posterior": post, "log_likelihood": xr.Dataset(
        {"y": (("chain", "draw", "obs"), ll)})}), var_name="y")
    assert c.overall.set_index("model").loc["sigmoid", "elpd"] == pytest.approx(
        float(ref.elpd), rel=1e-6)
    with pytest.raises(ConfigError, match="other options .*draws"):
        em.compare(df, models=["sigmoid", "loglinear"], cv="loo", seed=4, draws=200, tune=300,
                   fits={"sigmoid": f}, engine="joint")
    with pytest.raises(ConfigError, match="other data"):
        em.compare(df.iloc[:-1], models=["sigmoid", "loglinear"], cv="loo", seed=4,
                   fits={"sigmoid": f}, engine="joint", **FAST)


def test_resample_changes_sampler_options_only():
    df = _sharp_sigmoid_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = em.fit(df, seed=4, draws=100, tune=100)
        g = f.resample(draws=150, target_accept=0.95, seed=5)
    assert g.posterior.sizes["draw"] == 150 and f.posterior.sizes["draw"] == 100
    assert g.config.target_accept == 0.95 and f.config.target_accept == 0.9
    assert g.timing.compile == 0.0  # no recompilation
    # the new fit samples the same compiled program; the old fit's sampler keeps its options
    # (its leave-one-scale-out folds read target_accept, draws and tune from it)
    assert g._sampler.program is f._sampler.program and g._sampler is not f._sampler
    assert f._sampler.config.target_accept == 0.9 and f._sampler.config.draws == 100
    assert g._sampler.config.target_accept == 0.95
    assert "width" in g.posterior and len(g.summary()) == len(f.summary())
    with pytest.raises(ConfigError, match="sampler options only .*likelihood"):
        f.resample(likelihood="binomial")


@pytest.mark.slow  # heavy: moved out of the default suite (5-minute budget)
def test_reloo_refits_high_k_rows_exactly():
    """Rows with Pareto k > 0.7 are refitted without the row (exact LOO) when there are at most
    `reloo` of them: their k is then NaN, no row stays flagged, and their elpd is the exact
    log predictive density, which differs from the PSIS estimate it replaces."""
    truths = [{"task": f"t{i}", "x0": 10.5 + 0.3 * i, "logk": np.log(6.0), "lapse": 0.02}
              for i in range(2)]
    df = simulate_table("sigmoid", truths, np.linspace(7.0, 13.0, 10), n_items=200, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        psis = em.compare(df, models=["sigmoid", "loglinear"], cv="loo", seed=5, reloo=0, **FAST)
        exact = em.compare(df, models=["sigmoid", "loglinear"], cv="loo", seed=5, reloo=40,
                           **FAST)
    n_high = int(psis.by_task["n_k_high"].sum())
    assert n_high > 0  # the premise: sharp rises give influential rows (k > 0.7)
    assert int(exact.by_task["n_k_high"].sum()) == 0
    assert any("refitted exactly" in n for n in exact.notices)
    n_refit = 0
    for m in exact.models:
        refit = exact.pointwise[f"refit_{m}"].to_numpy(bool)
        n_refit += int(refit.sum())
        assert np.isnan(exact.pointwise[f"pareto_k_{m}"].to_numpy()[refit]).all()
        a, b = psis.pointwise[m].to_numpy(), exact.pointwise[m].to_numpy()
        np.testing.assert_allclose(a[~refit], b[~refit])
        if refit.any():
            assert not np.allclose(a[refit], b[refit])
    assert n_refit >= n_high  # every flagged row is refitted (and rows PSIS cannot score)
    with pytest.raises(ConfigError, match="reloo=-1 must be a whole number"):
        em.compare(df, models=["sigmoid", "loglinear"], cv="loo", reloo=-1)
