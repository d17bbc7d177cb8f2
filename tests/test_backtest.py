"""Back-test: Fit.predict, baselines, scoring rules, splitting, save/load, Dask, CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import emergence as em
from emergence import curves as C
from emergence.backtest import (
    JUMP_MIN,
    SUMMARY_COLUMNS,
    backtest,
    crps,
    load_backtest,
    log_density,
    score_draws,
)
from emergence.baselines import BaselineError, fit_baseline

BASELINES = ("logistic_lsq", "linear", "persistence")
FAST = {"draws": 150, "tune": 150, "chains": 2, "ess_min": 100}  # diagnostics are not the point here


def simulate_families(n_families: int = 4, n_sharp: int = 4, n_smooth: int = 4, seed: int = 0,
                      sizes: int = 8, decades: float = 2.2, n_items: int = 2000,
                      sd: float = 0.35) -> pd.DataFrame:
    """Families with model-level noise: each model's score is
    ``logistic(logit(mu) + N(0, sd))`` then Binomial(n_items); ceilings 0.7-0.95; sharp
    truths of width 0.3-0.6 decades and smooth ones of width 2.5-4, thresholds inside the
    grid; half of the tasks have chance 0.25."""
    rng = np.random.default_rng(seed)
    widths = {"sharp": (0.3, 0.6), "smooth": (2.5, 4.0)}
    kinds = ["sharp"] * n_sharp + ["smooth"] * n_smooth
    rows = []
    for f in range(n_families):
        x = np.linspace(9.0, 9.0 + decades, sizes) + rng.uniform(-0.1, 0.1)
        for t, kind in enumerate(kinds):
            logk = np.log(2 * C.LN9 / rng.uniform(*widths[kind]))
            x0 = rng.uniform(x[1], x[-2])
            ceiling = rng.uniform(0.7, 0.95)
            chance = 0.25 if t % 2 else 0.0
            lapse = 1 - (ceiling - chance) / (1 - chance)
            mu = C.mean(C.SIGMOID, x, chance, lapse, x0=x0, logk=logk)
            p = 1 / (1 + np.exp(-(np.log(mu / (1 - mu)) + rng.normal(0, sd, len(x)))))
            for xi, ki in zip(x, rng.binomial(n_items, p), strict=True):
                rows.append({"task": f"{kind}_{t}", "family": f"fam{f}", "metric": "acc",
                             "model": f"fam{f}-{10**xi:.3g}", "params": 10**xi,
                             "score": ki / n_items, "n_items": n_items, "chance": chance})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def small_table() -> em.ScoreTable:
    return em.load_scores(simulate_families(n_families=2, n_sharp=1, n_smooth=1, sizes=6, seed=3))


@pytest.fixture(scope="module")
def small_bt(small_table) -> em.BacktestResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return backtest(small_table, holdout=1, seed=5, n_draws=300, n_boot=40, **FAST)


# ---- Fit.predict (provisional implementation, same interface as the new core's) -----------
def test_predict_dims_kinds_and_seed(small_table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = em.fit(small_table, seed=2, **FAST)
    label = f.series["label"].iat[1]
    mean = f.predict([9.5, 10.0], kind="mean")
    assert mean.dims == ("sample", "series", "scale")
    assert mean.shape == (300, len(f.series), 2)
    assert list(mean["series"].values) == f.series["label"].tolist()
    np.testing.assert_allclose(mean.sel(series=label).values, f.curve([9.5, 10.0], 1))
    raw = f.predict([10**9.5, 1e10], [label], kind="mean", log10=False)
    np.testing.assert_allclose(raw.values[:, 0], mean.sel(series=label).values)
    s1 = f.predict([10.0], 1, seed=7)
    s2 = f.predict([10.0], 1, seed=7)
    np.testing.assert_array_equal(s1.values, s2.values)
    assert ((s1 >= 0) & (s1 <= 1)).all()
    # score draws are k / n for the curve's own 2000 items, and noisier than the mean curve
    assert np.allclose(s1.values * 2000, np.round(s1.values * 2000))
    assert float(s1.std()) > float(mean.sel(series=label).isel(scale=1).std())
    few = f.predict([10.0], 1, n_items=10, seed=7)
    assert np.allclose(few.values * 10, np.round(few.values * 10)) and float(few.std()) > float(s1.std())
    with pytest.raises(ValueError, match="kind"):
        f.predict([10.0], kind="draws")
    with pytest.raises(ValueError, match="positive"):
        f.predict([-1.0], log10=False)
    with pytest.raises(KeyError):
        f.predict([10.0], "no such curve")


# ---- scoring rules ------------------------------------------------------------------------
def test_log_density_matches_a_known_density():
    rng = np.random.default_rng(0)
    d = rng.beta(8, 4, 20000)
    for y in (0.3, 0.6, 0.8):
        assert log_density(d, y) == pytest.approx(stats.beta(8, 4).logpdf(y), abs=0.05)
    # far outside every draw: very low but finite
    assert np.isfinite(log_density(d, 0.001)) and log_density(d, 0.001) < -10


def test_crps_matches_the_normal_closed_form():
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 0.1, 20000)
    z = (0.62 - 0.5) / 0.1
    exact = 0.1 * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert crps(d, 0.62) == pytest.approx(exact, rel=0.02)
    assert crps(np.full(10, 0.3), 0.3) == 0.0


def test_score_draws_intervals_and_pit():
    d = np.linspace(0, 1, 1001)
    s = score_draws(d, 0.25)
    assert s["pit"] == pytest.approx(0.25, abs=1e-3)
    assert s["lo_90"] == pytest.approx(0.05) and s["hi_90"] == pytest.approx(0.95)
    assert s["lo_50"] == pytest.approx(0.25) and s["median"] == pytest.approx(0.5)


# ---- baselines ----------------------------------------------------------------------------
def test_linear_baseline_is_the_t_prediction_interval():
    rng = np.random.default_rng(2)
    x = np.array([8.0, 8.5, 9.0, 9.5, 10.0, 10.5])
    y = 0.1 + 0.1 * (x - 8) + rng.normal(0, 0.02, 6)
    d = fit_baseline("linear", x, y, np.array([11.0]), rng=rng, n_draws=40000)[:, 0]
    res = stats.linregress(x, y)
    s = np.sqrt(np.sum((y - res.intercept - res.slope * x) ** 2) / 4)
    se = s * np.sqrt(1 + 1 / 6 + (11 - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    lo, hi = res.intercept + res.slope * 11 + np.array([-1, 1]) * stats.t.ppf(0.95, 4) * se
    assert np.quantile(d, 0.05) == pytest.approx(lo, abs=0.01)
    assert np.quantile(d, 0.95) == pytest.approx(hi, abs=0.01)


def test_logistic_baseline_recovers_a_curve_and_fails_loudly():
    x = np.linspace(8, 11, 7)
    y = 0.25 + 0.75 / (1 + np.exp(-3 * (x - 9.5)))
    d = fit_baseline("logistic_lsq", x, y + 0.001 * np.sin(7 * x), np.array([12.0]),
                     rng=np.random.default_rng(0), chance=0.25, n_boot=30)
    assert np.median(d) == pytest.approx(0.25 + 0.75 / (1 + np.exp(-7.5)), abs=0.02)
    with pytest.raises(BaselineError, match="did not converge|bootstrap"):
        fit_baseline("logistic_lsq", x, np.full(7, np.nan), np.array([12.0]),
                     rng=np.random.default_rng(0))


def test_persistence_baseline_spread_grows_with_distance():
    x = np.array([8.0, 8.5, 9.0, 9.5])
    y = np.array([0.2, 0.3, 0.25, 0.4])
    d = fit_baseline("persistence", x, y, np.array([10.0, 11.5]), rng=np.random.default_rng(0),
                     n_draws=20000)
    assert np.median(d[:, 0]) == pytest.approx(0.4, abs=0.01)
    rms = np.sqrt(np.mean(np.diff(y) ** 2))
    assert np.std(d[:, 0]) == pytest.approx(rms, rel=0.05)
    assert np.std(d[:, 1]) == pytest.approx(rms * 2, rel=0.05)  # 4 steps ahead: sqrt(4)


# ---- the back-test ------------------------------------------------------------------------
def test_backtest_split_records_and_summary(small_bt, small_table):
    bt = small_bt
    assert len(bt.curves) == 4 and len(bt.skipped) == 0
    assert list(bt.summary().columns) == SUMMARY_COLUMNS
    assert bt.summary()["method"].tolist() == ["emergence", *BASELINES]
    # the held-out point of each curve is its family's largest model, never in training
    d = small_table.data
    for c in bt.curves.to_dict("records"):
        rows = d[(d["task"] == c["task"]) & (d["family"] == c["family"])]
        held = bt.records[bt.records["curve"] == c["curve"]]
        assert set(held["x"]) == {rows["x"].max()}
        assert rows["x"].max() not in set(bt.training.loc[bt.training["curve"] == c["curve"], "x"])
    assert len(bt.records) == 4 * 4
    ok = bt.records[bt.records["status"] == "ok"]
    assert ((ok["lo_90"] <= ok["lo_50"]) & (ok["hi_50"] <= ok["hi_90"])).all()
    assert ok["pit"].between(0, 1).all() and (ok["crps"] >= 0).all()
    assert bt.fits[0]["model"] == "sigmoid" and bt.fits[0]["n_series"] == 4


def test_predictability_calls(small_bt):
    p = small_bt.predictability()
    assert len(p) == len(small_bt.curves)
    r = small_bt.records[small_bt.records["method"] == "emergence"].set_index("curve")
    for row in p.to_dict("records"):
        obs, lo, hi = r.loc[row["curve"], ["observed", "lo_90", "hi_90"]]
        want = ("unpredicted_jump" if obs >= hi + JUMP_MIN else "above_forecast" if obs > hi
                else "below_forecast" if obs < lo else "predictable_from_smaller")
        assert row["call"] == want
    with pytest.raises(ValueError, match="not scored"):
        small_bt.predictability(level=0.95)


def test_backtest_save_load_roundtrip(small_bt, tmp_path):
    p = small_bt.save(tmp_path / "bt.json")
    raw = json.loads(p.read_text())
    assert raw["kind"] == "backtest" and raw["config"]["holdout"] == 1
    assert {"summary", "records", "config"} <= set(raw)
    back = load_backtest(p)
    pd.testing.assert_frame_equal(back.summary(), small_bt.summary())
    assert back.fans.shape == small_bt.fans.shape
    with pytest.raises(ValueError, match="not a back-test"):
        (tmp_path / "x.json").write_text("{}")
        load_backtest(tmp_path / "x.json")


def test_backtest_dask_gives_the_same_numbers(small_bt, small_table):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cl, distributed.Client(cl) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dbt = backtest(small_table, holdout=1, seed=5, n_draws=300, n_boot=40,
                           scheduler=client, **FAST)
    pd.testing.assert_frame_equal(dbt.records, small_bt.records)


def test_baselines_only_failure_is_counted_not_dropped(small_table, monkeypatch):
    # a baseline that cannot be fitted to one curve: NaN scores for its points, counted
    from emergence import baselines

    real = baselines.BASELINES["logistic_lsq"]

    def fussy(x, y, x_new, **kw):
        if np.all(y == 0):
            raise BaselineError("did not converge (test)")
        return real(x, y, x_new, **kw)

    monkeypatch.setitem(baselines.BASELINES, "logistic_lsq", fussy)
    d = small_table.data
    flat = d[d["task"] == d["task"].iat[0]].assign(task="flat", score=0.0)
    frame = pd.concat([d, flat], ignore_index=True)[["task", "family", "metric", "model",
                                                     "params", "score", "n_items", "chance"]]
    bt = backtest(frame, holdout=2, methods=BASELINES, seed=1, n_draws=200, n_boot=20)
    assert "emergence" not in set(bt.records["method"])
    s = bt.summary().set_index("method")
    assert (s["n"] + s["n_failed"] == len(bt.curves) * 2).all()
    assert s.loc["logistic_lsq", "n_failed"] == 4 and s.loc["linear", "n_failed"] == 0
    failed = bt.records[bt.records["status"] != "ok"]
    assert set(failed["task"]) == {"flat"} and failed["log_score"].isna().all()
    assert failed["status"].str.contains("did not converge").all()
    common = bt.records[(bt.records["task"] != "flat") & (bt.records["method"] == "linear")]
    assert s.loc["linear", "mean_log_score_common"] == pytest.approx(common["log_score"].mean())
    again = backtest(frame, holdout=2, methods=BASELINES, seed=1, n_draws=200, n_boot=20)
    pd.testing.assert_frame_equal(bt.records, again.records)


def test_backtest_rejects_bad_options(small_table):
    with pytest.raises(em.ConfigError, match="holdout"):
        backtest(small_table, holdout=0)
    with pytest.raises(em.ConfigError, match="methods"):
        backtest(small_table, methods=("oracle",))
    with pytest.raises(em.EmergenceDataError, match="holdout \\+ 3"):
        backtest(small_table, holdout=4, methods=("linear",))


def test_cli_backtest_json_and_report(tmp_path):
    from typer.testing import CliRunner

    from emergence.cli import app

    csv = tmp_path / "s.csv"
    frame = simulate_families(n_families=1, n_sharp=1, n_smooth=1, sizes=6)
    sparse = frame[frame["task"] == "sharp_0"].head(3).assign(task="<b>sparse</b>")
    pd.concat([frame, sparse], ignore_index=True).to_csv(csv, index=False)
    out, rep = tmp_path / "bt.json", tmp_path / "bt.html"
    res = CliRunner().invoke(app, ["backtest", str(csv), "--methods", "linear,persistence",
                                   "--seed", "3", "--json", str(out), "--report", str(rep)])
    assert res.exit_code == 0, res.output
    assert "coverage" in res.output
    assert load_backtest(out).summary()["method"].tolist() == ["linear", "persistence"]
    page = rep.read_text()
    assert "Back-test" in page and "data:image/png;base64" in page
    assert "&lt;b&gt;sparse&lt;/b&gt;" in page and "<b>sparse" not in page  # listed, escaped
    assert "1 curve(s) not back-tested" in res.output
    bad = CliRunner().invoke(app, ["backtest", str(csv), "--holdout", "9"])
    assert bad.exit_code == 2 and "holdout + 3" in bad.output
    bad = CliRunner().invoke(app, ["backtest", str(csv), "--report", str(tmp_path / "r.txt")])
    assert bad.exit_code == 2 and ".html or .pdf" in bad.output


# ---- must show ----------------------------------------------------------------------------
@pytest.mark.slow
def test_calibrated_forecasts_on_families_with_model_level_noise():
    """90 % coverage within 0.80-0.98 and a mean log score above every baseline's, on 4
    families x 8 tasks (4 sharp, 4 smooth), 8 sizes over 2.2 decades, 2 held out per curve."""
    table = em.load_scores(simulate_families(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = backtest(table, holdout=2, seed=1, draws=1000, tune=1000)
    s = bt.summary().set_index("method")
    print(s.round(3).to_string())
    assert s.loc["emergence", "n"] == 64
    assert 0.80 <= s.loc["emergence", "coverage_90"] <= 0.98
    for b in BASELINES:
        assert s.loc["emergence", "mean_log_score"] > s.loc[b, "mean_log_score"], b


def test_equal_weight_mixture_takes_the_same_share_from_each_model():
    from emergence.backtest import _mixture

    a = np.zeros((100, 2))
    b = np.ones((100, 2))
    mix = _mixture([{"draws": {7: a}}, {"draws": {7: b}}], 7, 100)
    assert mix.shape == (100, 2) and mix[:, 0].mean() == 0.5


def test_a_score_just_above_a_forecast_at_the_ceiling_is_not_a_jump(small_bt):
    """The call needs an excess of at least JUMP_MIN over the 90 % upper bound: the records of
    a fitted back-test are edited so that one curve's held-out score is 0.002 above its
    forecast (a saturated curve), another's 0.2 above it (a jump)."""
    import copy

    bt = copy.copy(small_bt)
    rec = small_bt.records.copy()
    em_rows = rec.index[rec["method"] == "emergence"]
    first, second = em_rows[0], em_rows[-1]
    rec.loc[first, "observed"] = rec.loc[first, "hi_90"] + 0.002
    rec.loc[second, "observed"] = rec.loc[second, "hi_90"] + 0.2
    bt.records = rec
    calls = bt.predictability().set_index("curve")["call"]
    assert calls[rec.loc[first, "curve"]] == "above_forecast"
    assert calls[rec.loc[second, "curve"]] == "unpredicted_jump"
