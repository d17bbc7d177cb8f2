"""Robustness check of emergence claims: one verdict per curve, with its reasons.

``check(table)`` combines

* **sharpness** — the posterior of the 10 %-90 % width, P(width < ``sharp_width``);
* **smooth alternatives** — model comparison (leave-one-scale-out by default) of the sigmoid
  against power-law and log-linear curves; P(sharp) averaged over curve shapes with the stacking
  weights is the sharpness criterion when the comparison ran;
* **metric choice** — a discrete metric that looks sharp while a continuous metric of the same
  task and family rises smoothly is ``metric-induced`` (Schaeffer et al. 2023); the check also
  tests whether the discrete curve is predicted by the continuous one as ``score ≈ p^L``;
* **chance** — Wei et al.'s "absent at small scales": is the smallest tested model
  indistinguishable from random guessing?
* **prior sensitivity** — power-scaling (``arviz.psense``) of the top-level priors on the width
  and threshold;
* **family agreement** — the same task judged sharp in one family and smooth in another;
* **sampling density** — tested scales inside the transition, threshold beyond the tested range.

A verdict other than ``undetermined`` is only issued when the MCMC diagnostics pass
(R-hat, bulk ESS, no divergences, Pareto-k of PSIS-LOO when used).
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._concurrent import run_jobs, suppressed
from ._io import _jsonable, atomic_write_json
from .config import Config, make_config
from .coverage import flat_at_chance
from .data import ScoreTable, as_table
from .errors import ConfigError, ConvergenceWarning
from .inference import check_diagnostics, diagnostic_failures
from .models.likelihoods import get_likelihood
from .results import Fit, fit

VERDICTS = ("emergent", "smooth", "metric-induced", "undetermined")

#: Reason codes and the sentence shown to people (formatted with the record's numbers).
REASONS: dict[str, str] = {
    "sharp": "the width of the rise is below {sharp_width:g} decade(s) with probability "
             "{p_sharp_avg:.2f}{avg_note}",
    "smooth_width": "the width of the rise exceeds {sharp_width:g} decade(s) with probability "
                    "{p_smooth:.2f}{avg_note}",
    "width_uncertain": "the data do not settle the width: P(sharp) = {p_sharp_avg:.2f}{avg_note} "
                       "(needs > 0.9 for emergent, < 0.1 for smooth)",
    "too_sparse": "only {n_scales} distinct scales were tested; at least 4 are needed for a "
                  "verdict",
    "diagnostics_failed": "this curve's MCMC diagnostics failed ({diag}) even after it was "
                          "re-sampled alone; its numbers are not trustworthy. Run longer "
                          "(draws=2000, tune=1000) or evaluate more model sizes for this curve",
    "uninformed_width": "the data carry no information on the width (flat at chance, or at "
                        "most one tested scale in the rise with the scales around it "
                        "{sharp_width:g} decade(s) or more apart): the reported interval is the "
                        "prior's, and neither a sharp nor a smooth call can rest on it",
    "no_scale_in_rise": "no tested scale lies inside the 10 %-90 % transition region, so the "
                        "sharpness rests on the curve's assumed shape, not on observed points; "
                        "evaluate models between {gap_lo} and {gap_hi}",
    "prior_driven_width": "the width posterior is prior-driven (posterior/prior interval "
                          "ratio {contraction:.2f})",
    "threshold_beyond_range": "the threshold probably lies outside the tested scales "
                              "(P(above) = {p_above:.2f}, P(below) = {p_below:.2f}): the data "
                              "show one side of the rise, and its width comes from the "
                              "assumed shape, so neither a sharp nor a smooth call rests on "
                              "observed points",
    "smooth_model_preferred": "a smooth curve ({preferred}) predicts unseen scales better than "
                              "the sigmoid (elpd difference >= 4 and > 2 SE)",
    "sigmoid_preferred": "the sigmoid predicts unseen scales better than every smooth curve "
                         "(elpd difference >= 4 and > 2 SE)",
    "sharp_vs_smooth_model": "the evidence conflicts: the sigmoid's width is sharp but a smooth "
                             "curve predicts better; neither claim is made",
    "comparison_indistinguishable": "the sigmoid and smooth curves predict unseen scales "
                                    "about equally well (elpd difference < 4 or within 2 SE); "
                                    "model-averaged P(sharp) = {p_sharp_avg:.2f}",
    "noise_model_sensitive": "the call depends on the noise model: P(sharp) = {p_sharp:.2f} with "
                             "model-to-model variation (logit-normal) but {p_sharp_alt:.2f} "
                             "with {alt_likelihood} noise; the data do not settle it",
    "mc_uncertain": "P(sharp) = {p_sharp_avg:.2f} rests on about {ess_mc:.0f} effective draws "
                    "(the pooled posterior was drawn from {ess_pool:.0f} effective stage-1 "
                    "draws): within Monte Carlo error it lies in {mc_lo:.2f}-{mc_hi:.2f}, on "
                    "both sides of a decision threshold (0.1 / 0.9). Fit again with more draws "
                    "(e.g. draws=4000)",
    "pooling_sensitive": "the call depends on pooling: P(sharp) = {p_sharp:.2f} pooled across "
                         "curves but {p_sharp_nopool:.2f} for this curve alone",
    "unpredicted_jump": "the largest model scores above the 90 % forecast made from the smaller "
                        "models alone (forecast P(lower score) = {forecast_pit:.3f}): the rise "
                        "was not predictable by extrapolation (the second half of Wei et al.'s "
                        "definition)",
    "predictable_from_smaller": "the largest model's score lies inside the 90 % forecast made "
                                "from the smaller models (forecast P(lower score) = "
                                "{forecast_pit:.3f}): its level was predictable from them",
    "ppc_misfit": "{ppc_outside} observed score(s) lie outside the 99 % posterior predictive "
                  "interval (at {ppc_scales}): the fitted curve does not describe these points",
    "continuous_metric_smooth": "the continuous metric {other_metric!r} of the same task already "
                                "rises by {other_rise_at_floor:.0%} of its range (P = "
                                "{other_p_rise:.2f}) across the scales where this metric sits at "
                                "its floor",
    "predicted_by_continuous": "this metric is predicted by the continuous one as "
                               "{other_metric}^L with L = {L:.1f} ({fit_share:.0%} of points "
                               "within binomial error)",
    "above_chance_at_smallest": "already above chance at the smallest tested scale "
                                "(score {first_score:.3f} vs chance {chance:.3f}, p = "
                                "{chance_p:.2g}): the ability is not absent in small models",
    "prior_sensitive": "the width or threshold is sensitive to the priors (power-scaling: "
                       "{psense})",
    "prior_data_conflict": "power-scaling of the priors flags this curve ({psense})",
    "family_disagreement": "other families disagree on this task: {family_note}",
    "pareto_k_high": "PSIS-LOO was unreliable for this curve (Pareto-k > 0.7)",
    "flat_at_chance": "no tested scale is distinguishable from chance (best score {best:.3f}, "
                      "chance {chance:.3f}, margin {margin:.0%} of the head-room): the ability is "
                      "absent up to {x_max:.3g}, so nothing can be said about the shape of a rise; "
                      "its threshold lies beyond the largest tested model",
}
#: Codes that prevent any verdict but ``undetermined``.
BLOCKING = ("too_sparse", "diagnostics_failed", "flat_at_chance")
#: Codes that prevent ``emergent`` (the claim then is ``undetermined``).
BLOCK_EMERGENT = ("no_scale_in_rise", "prior_driven_width", "above_chance_at_smallest",
                  "prior_sensitive", "pareto_k_high")
#: Codes that prevent both ``emergent`` and ``smooth``. ``threshold_beyond_range`` blocked only
#: ``emergent`` until 2026-11-27; a slow lower tail (GPT-Neo/J arithmetic_2dm: 0.02-0.42
#: over 2.2 decades, midpoint above 20B) was then called ``smooth`` because a logistic's tails
#: are symmetric, not because the rise was seen.
BLOCK_CALL = ("noise_model_sensitive", "pooling_sensitive", "ppc_misfit", "uninformed_width",
              "threshold_beyond_range", "mc_uncertain")
#: Posterior predictive interval mass of the misfit check.
PPC_MASS = 0.99
#: Threads for check's independent fits (the comparison, whose models run on threads of their
#: own, the noise-model refit and the back-test): all start at once, so both cores of a small
#: machine stay busy while a job runs a serial step (importance sampling curve by curve, the
#: population chain, compiling a model, one slow curve's extra draws).
CHECK_WORKERS = 3
MIN_SCALES_FOR_VERDICT = 4
#: Rise of a continuous metric (share of its range) before a discrete sibling leaves its floor
#: that makes the discrete metric's onset metric-induced.
MIN_EARLY_RISE = 0.1
#: Share of the head-room above chance still counted as "absent" (Wei et al.'s near-chance).
ABSENT_MARGIN = 0.05
#: Draws (and their fixed seed) of the null distribution of :func:`chance_test`; the smallest
#: p-value it can give is 1 / (CHANCE_DRAWS + 1), well under its 0.01 cut.
CHANCE_DRAWS = 20000
CHANCE_SEED = 20261127
P_DECISIVE = 0.9
#: target_accept of the one automatic retry of a fit that failed its diagnostics.
RETRY_TARGET_ACCEPT = 0.99


@dataclass
class CheckResult:
    """Verdicts of :func:`check`, one record per curve.

    Attributes
    ----------
    records : list of dict
        ``task, metric, family, verdict, reasons`` (codes), ``messages`` (sentences) and the key
        numbers (p_sharp, width and threshold median/interval, n_scales, points in the
        transition, comparison weights).
    config : Config
        Options used (saved with the result).
    fit : Fit or None
        The sigmoid fit the verdicts rest on (None when every curve was flat at chance).
    comparison : object or None
        The model comparison (``emergence.compare``) when it ran.
    """

    records: list[dict[str, Any]]
    config: Config
    fit: Fit | None
    comparison: Any = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """The verdict table (reasons joined as text)."""
        df = pd.DataFrame(self.records)
        if len(df):
            df["reasons"] = df["reasons"].map(", ".join)
        cols = ["task", "metric", "family", "verdict", "reasons", "p_sharp", "p_sharp_avg",
                "width_median", "width_lo", "width_hi", "threshold_median", "threshold_lo",
                "threshold_hi", "n_scales", "n_in_transition"]
        return df[[c for c in cols if c in df.columns]]

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready records (``reasons`` as a list of codes)."""
        return _jsonable(self.records)

    def save(self, path: str | Path) -> Path:
        """Write the records and the config as JSON (atomically)."""
        return atomic_write_json(path, {"config": self.config.as_dict(), "notes": self.notes,
                                        "records": self.to_records()})

    def __repr__(self) -> str:
        counts = pd.Series([r["verdict"] for r in self.records]).value_counts().to_dict()
        return f"CheckResult({len(self.records)} curves: {counts})"

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.summary().to_html(
            float_format=lambda v: f"{v:.3g}")


# --------------------------------------------------------------------------------------------
# individual checks (plain functions of results and data; each returns per-series columns)
# --------------------------------------------------------------------------------------------
def chance_test(table: ScoreTable, series: pd.DataFrame, keys: list[str],
                likelihood: Any = None, noise: np.ndarray | None = None) -> pd.DataFrame:
    """Is the smallest tested model above chance? One-sided test per discrete curve.

    "Indistinguishable from chance" allows a practical margin of :data:`ABSENT_MARGIN` of the
    head-room (a generative task at 0.2 % exact match with chance 0 counts as absent): the test
    is of H0 "the curve's mean at the smallest scale is at most ``c + margin (1 - c)``". The
    null distribution of the observed score is the fit's own likelihood at that mean
    (``likelihood.draw``, :data:`CHANCE_DRAWS` draws with a fixed seed), with the curve's
    posterior median noise parameter (``noise``, e.g. ``log_tau``): models differ by more
    than item sampling, and one small model 0.05 above chance is no evidence of ability when
    its family scatters by that much (measured on simulated families with logit noise 0.35:
    the item-sampling-only test flagged a sharp truth's smallest model at p < 0.01). Without
    a likelihood it is the binomial test of item sampling alone. Returns columns
    ``first_score``, ``chance_level``, ``chance_p`` (NaN for continuous metrics or unknown
    chance).
    """
    from scipy.stats import binom

    out = []
    d = table.data
    for i, (_, s) in enumerate(series.iterrows()):
        rows = d
        for k in keys:
            rows = rows[rows[k] == s[k]]
        first = rows[rows["x"] == rows["x"].min()]
        c = float(first["chance"].iloc[0]) if first["chance"].notna().all() else np.nan
        score = float(first["y"].mean())
        p = np.nan
        if first["k"].notna().all() and np.isfinite(c):
            k = float(first["k"].sum())
            n = float(first["n_items"].sum())
            h0 = c + ABSENT_MARGIN * (1 - c)
            if likelihood is None or noise is None or likelihood.noise is None:
                p = float(binom.sf(k - 1, n, h0))
            else:
                rng = np.random.default_rng(CHANCE_SEED)
                sim = likelihood.draw(rng, np.full(CHANCE_DRAWS, h0), np.full(CHANCE_DRAWS,
                                      float(noise[i])), np.full(CHANCE_DRAWS, n))
                p = float((1 + np.sum(np.rint(sim * n) >= k)) / (CHANCE_DRAWS + 1))
        out.append({"first_score": score, "chance_level": c, "chance_p": p})
    return pd.DataFrame(out)


def power_law_link(discrete: np.ndarray, continuous: np.ndarray, n_items: np.ndarray,
                   L: float | None = None) -> dict[str, float]:
    """Test ``discrete ≈ continuous^L`` (exact match as the product of per-token successes).

    L is fitted by least squares on ``log discrete = L log continuous`` over points where both are
    positive, unless given. Returns ``L`` and ``fit_share``: the share of points whose discrete
    score lies within 2.6 binomial SD (99 %) of ``continuous^L``.
    """
    ok = (discrete > 0) & (continuous > 0) & (continuous < 1)
    if L is None:
        if ok.sum() < 2:
            return {"L": np.nan, "fit_share": np.nan}
        lc, ld = np.log(continuous[ok]), np.log(discrete[ok])
        L = float(np.sum(lc * ld) / np.sum(lc * lc))
    pred = np.clip(continuous, 0, 1) ** L
    sd = np.sqrt(np.maximum(pred * (1 - pred), 1e-12) / n_items) + 1.0 / n_items
    share = float(np.mean(np.abs(discrete - pred) <= 2.6 * sd))
    return {"L": float(L), "fit_share": share}


def prior_sensitivity(f: Fit, threshold: float = 0.05) -> pd.DataFrame:
    """Power-scaling sensitivity (arviz ``psense``) of width and threshold per series.

    Only the top-level priors are power-scaled (population means and sds, and the independent
    per-series priors): scaling the hierarchical prior itself would measure the pooling, not the
    prior choice. Returns per series the largest prior and likelihood sensitivities and the
    arviz diagnosis.
    """
    import arviz as az
    import pymc as pm
    import xarray as xr

    from .crossval import pointwise_loglik

    model = f.pymc_model()
    tree = f.tree.copy()
    post = tree["posterior"]
    # the joint model has no observed variable (its likelihood is a Potential): the pointwise
    # log-likelihood comes from the one numpy definition, per draw and fitted row
    ll = pointwise_loglik(f).reshape(post.sizes["chain"], post.sizes["draw"], -1)
    tree["log_likelihood"] = xr.DataTree(xr.Dataset(
        {"loglik": (("chain", "draw", "row"), ll)},
        coords={"chain": post["chain"].values, "draw": post["draw"].values}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = pm.stats.compute_log_prior(tree, model=model, extend_inferencedata=True,
                                          progressbar=False)
    lp = tree["log_prior"]
    top = [v for v in lp.data_vars if v.startswith(("mu_", "sigma_"))
           or v in ("lapse_logit", "log_phi", "floor", "sigma_family")]
    if not f.model_data.pooled:
        top = [v for v in lp.data_vars]
    # psense_summary prints a generic "We detected potential issues" banner to stdout; the
    # per-curve diagnosis it returns is reported instead (reason codes prior_sensitive, ...)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        s = az.psense_summary(tree, var_names=["width", "threshold"], threshold=threshold,
                              prior_var_names=top)
    labels = f.series["label"].tolist()
    rows = []
    for lab in labels:
        sub = s[[idx.endswith(f"[{lab}]") for idx in s.index]]
        diag = [d for d in sub["diagnosis"] if d != "✓"]
        rows.append({"psense_prior": float(sub["prior"].max()),
                     "psense_likelihood": float(sub["likelihood"].max()),
                     "psense_diagnosis": "; ".join(sorted(set(diag))) or "ok"})
    return pd.DataFrame(rows)


def _call(p: float) -> str:
    return "sharp" if p > P_DECISIVE else "smooth" if p < 1 - P_DECISIVE else "uncertain"


#: Standard errors either side of a probability for the Monte Carlo check of a call.
MC_Z = 2.0


def mc_interval(p: float, n: float, z: float = MC_Z) -> tuple[float, float]:
    """Wilson score interval of a probability estimated as a share ``p`` of ``n`` effective
    draws (``z`` standard errors): where the estimate may lie within Monte Carlo error. Unlike
    ``p +- z sqrt(p (1 - p) / n)`` it does not collapse at 0 or 1.

    Examples
    --------
    >>> [round(v, 3) for v in mc_interval(0.9765, 36)]  # 36 effective draws
    [0.861, 0.996]
    >>> [round(v, 3) for v in mc_interval(0.9765, 4000)]
    [0.971, 0.981]
    """
    c = z * z / n
    mid = (p + c / 2) / (1 + c)
    half = z * np.sqrt(p * (1 - p) / n + c / (4 * n)) / (1 + c)
    return float(mid - half), float(mid + half)


def _effective_draws(r: pd.Series) -> tuple[float, float]:
    """Effective draws behind a curve's P(sharp): the sampler's (``ess_bulk_min``) combined
    with the stage-1 pool's (``ess_pool``; :func:`emergence.engine.pooled_ess`), and the
    pool's own (NaN without a population step)."""
    from .engine import pooled_ess

    ess, pool = float(r.get("ess_bulk_min", np.nan)), float(r.get("ess_pool", np.nan))
    return float(pooled_ess(ess, pool)), pool


def alternative_likelihood(table: ScoreTable) -> str:
    """The noise model a verdict is checked against: item sampling only (``binomial``) when every
    row has counts, else pooled overdispersion (``betabinomial``)."""
    return "binomial" if table.data["k"].notna().all() else "betabinomial"


def noise_refit(table: ScoreTable, cfg: Config, scheduler: Any = None) -> Fit | None:
    """The sigmoid fit under :func:`alternative_likelihood` (None when that is the fit's own)."""
    alt = alternative_likelihood(table)
    if alt == get_likelihood(cfg.likelihood).name:
        return None
    with suppressed(ConvergenceWarning):
        return fit(table, model="sigmoid", config=cfg.replace(likelihood=alt),
                   scheduler=scheduler)


def sensitivity(f: Fit, table: ScoreTable, cfg: Config, scheduler: Any = None,
                alt_fit: Fit | None = None) -> pd.DataFrame:
    """P(sharp) of each curve without pooling and under the alternative noise model.

    No pooling is the per-curve engine's stage 1 (each curve alone under its wide stage-1
    prior); the alternative noise model is a refit with :func:`alternative_likelihood`
    (:func:`noise_refit`, made here unless ``alt_fit`` is given; none when the alternative
    is the fit's own likelihood).
    Columns ``p_sharp_nopool``, ``p_sharp_alt``, ``alt_failed``, ``alt_likelihood``.
    """
    out = pd.DataFrame(index=range(len(f.series)))
    w = cfg.sharp_width
    if "stage1" in f.tree.children and f.model_data.pooled:
        width = f.tree["stage1"]["width"]
        out["p_sharp_nopool"] = (width < w).mean(("chain", "draw")).values
    g = alt_fit if alt_fit is not None else noise_refit(table, cfg, scheduler)
    if g is not None:
        out["p_sharp_alt"] = g.p_sharp(w).to_numpy()
        out["alt_failed"] = [bool(diagnostic_failures(r, cfg))
                             for _, r in g.diagnostics_by_series().iterrows()]
        out["alt_likelihood"] = g.model_data.likelihood.name
    return out


def predictability_calls(table: ScoreTable, cfg: Config, series: pd.DataFrame,
                         scheduler: Any = None) -> pd.DataFrame:
    """Per curve: ``unpredicted_jump``, ``above_forecast``, ``predictable_from_smaller``,
    ``below_forecast`` or ``no_forecast``
    (:meth:`emergence.backtest.BacktestResult.predictability`, the package's own 90 % forecast
    of each curve's largest model from its smaller ones). Columns ``predictability`` and
    ``forecast_pit`` (:func:`_forecast_calls`)."""
    return _calls_by_curve(_forecast_calls(table, cfg, scheduler), series)


def _forecast_calls(table: ScoreTable, cfg: Config, scheduler: Any = None,
                    reference: Fit | None = None) -> dict[str, tuple[str, float]]:
    """``{curve label: (predictability call, PIT)}`` from a back-test holding out each curve's
    largest model (empty when no curve has enough sizes to hold one out). The PIT is the
    forecast's probability of a lower score than the one observed (the highest over the
    held-out rows), so a call decided at an interval's edge shows as a PIT near 0.05 or
    0.95. ``reference``, the check's sigmoid fit of the whole table, is where its training fit
    starts (``reference=`` of :func:`emergence.backtest.backtest`)."""
    from .backtest import backtest
    from .errors import EmergenceDataError

    try:
        with suppressed():
            bt = backtest(table, holdout=1, methods=("emergence",), config=cfg,
                          scheduler=scheduler, reference=reference)
    except EmergenceDataError:  # no curve has enough sizes to hold one out
        return {}
    calls = bt.predictability(level=0.9)
    if not len(calls):
        return {}
    return dict(zip(calls["label"], zip(calls["call"], calls["max_pit"], strict=True),
                    strict=True))


def _calls_by_curve(calls: dict[str, tuple[str, float]], series: pd.DataFrame) -> pd.DataFrame:
    got = [calls.get(lab, (None, np.nan)) for lab in series["label"]]
    return pd.DataFrame({"predictability": [c for c, _ in got],
                         "forecast_pit": [float(p) for _, p in got]})


def ppc_misfit(f: Fit) -> pd.DataFrame:
    """Observed scores outside the central :data:`PPC_MASS` posterior predictive interval.

    The predictive draws include the noise model and item sampling
    (:meth:`emergence.results.Fit.predictive_check`). Columns ``ppc_outside`` (count) and
    ``ppc_scales``.
    """
    pc = f.predictive_check(mass=PPC_MASS)
    rows = []
    for s in range(len(f.series)):
        out = pc[(pc["series_idx"] == s) & pc["outside"]]
        rows.append({"ppc_outside": len(out),
                     "ppc_scales": ", ".join(f"{10 ** v:.3g}" for v in out["x"])})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
def check(
    data: ScoreTable | pd.DataFrame | str | Path,
    *,
    sharp_width: float | None = None,
    models: tuple[str, ...] | list[str] = ("sigmoid", "powerlaw", "loglinear"),
    cv: str = "loso",
    metric_kinds: dict[str, str] | None = None,
    answer_tokens: float | None = None,
    psense: bool | None = None,
    retry: bool = True,
    sensitivity_checks: bool = True,
    predictability: bool = True,
    scheduler: Any = None,
    config: Config | dict[str, Any] | None = None,
    **options: Any,
) -> CheckResult:
    """Check emergence claims: one verdict per (task, metric[, family]) curve, with reasons.

    Parameters
    ----------
    data : ScoreTable, DataFrame or path
        Scores (several metrics of a task enable the metric-choice check).
    sharp_width : float, optional
        Sharpness cut in decades of scale (10 %-90 % width); default the config's (1.0).
    models : sequence of str
        Models for the comparison; the first must be ``"sigmoid"``. ``["sigmoid"]`` skips it.
    cv : {"loso", "loo", "none"}
        Comparison by leave-one-scale-out refits, PSIS-LOO, or none.
    metric_kinds : dict, optional
        ``{metric name: "discrete" | "continuous"}`` overriding the inferred kinds.
    answer_tokens : float, optional
        Answer length L for the ``discrete ≈ continuous^L`` test (fitted when omitted).
    psense : bool, optional
        Run the power-scaling prior-sensitivity check (``arviz.psense``; joint engine only,
        the default there). With the per-curve engine the prior check is ``pooling_sensitive``:
        the population prior against each curve's wide stage-1 prior.
    retry : bool
        Joint engine only: when the sigmoid fit fails its diagnostics, sample the same compiled
        model once more with ``target_accept`` 0.99 and twice the tuning. (The per-curve engine
        re-samples failing curves on its own.)
    sensitivity_checks : bool
        Refit under the alternative noise model and compare with no pooling
        (:func:`sensitivity`); a call that changes is ``undetermined``.
    predictability : bool
        Forecast each curve's largest model from the smaller ones (:func:`emergence.backtest`):
        ``unpredicted_jump`` (above the 90 % forecast) or ``predictable_from_smaller``
        (inside); evidence, not blocking (a wide forecast proves little).
    scheduler : distributed.Client or str, optional
        Run the per-curve engine's batches on a Dask cluster (same numbers as locally).
    config : Config or dict, optional
        Fit options; keyword ``options`` override them (seed, draws, ...).

    Returns
    -------
    CheckResult
        ``.summary()`` is the verdict table; ``.to_records()`` the JSON records.
    """
    cfg, table, models, keys, flat_records, notes = _prepare(
        data, config, sharp_width, metric_kinds, models, options)
    if not len(table):
        return CheckResult(records=flat_records, config=cfg, fit=None, notes=notes)
    f, cfg, comparison, alt, calls = _fits(table, cfg, models if cv != "none" else [], cv,
                                           retry, sensitivity_checks, predictability,
                                           scheduler, notes)
    series = f.series.reset_index(drop=True)
    comp = pd.DataFrame(index=range(len(series)))
    if comparison is not None:
        comp = _comparison_columns(comparison, series, models, f)
    empty = pd.DataFrame(index=range(len(series)))
    sens = sensitivity(f, table, cfg, alt_fit=alt) if sensitivity_checks else empty
    pred = _calls_by_curve(calls, series) if predictability else empty
    evidence = _evidence_columns(f, table, cfg, keys, psense, sens, pred)
    full = pd.concat([f.summary().reset_index(drop=True), series[["label", "metric_kind"]], comp,
                      evidence], axis=1)
    links = _metric_links(table, full, f, answer_tokens)
    fam_notes = _family_notes(full, cfg)
    records = [_verdict(r, f, cfg, links.get(i), fam_notes.get(i)) for i, r in full.iterrows()]
    return CheckResult(records=records + flat_records, config=cfg, fit=f, comparison=comparison,
                       notes=notes)


def _prepare(data: Any, config: Any, sharp_width: float | None,
             metric_kinds: dict[str, str] | None, models: Any,
             options: dict[str, Any]) -> tuple[Any, ...]:
    """Validated config, table and models; curves flat at chance split off with their records
    (they carry no information on the shape of a rise and get their verdict without a fit)."""
    cfg = make_config(config, sharp_width=sharp_width, **options).replace(model="sigmoid")
    table = as_table(data, scale=cfg.scale)
    if metric_kinds:
        table = table.with_metric_kinds(metric_kinds)
    models = list(models)
    if not models or models[0] != "sigmoid":
        raise ConfigError(f"models={models!r}: the first model must be 'sigmoid' (the emergent "
                          "curve), e.g. ['sigmoid', 'powerlaw', 'loglinear'].")
    notes: list[str] = []
    keys = table.series_keys(cfg.families)
    flat_records, table = _split_flat(table, keys, cfg)
    if flat_records:
        notes.append(f"{len(flat_records)} curve(s) at chance at every tested scale were not "
                     "fitted (verdict undetermined, reason flat_at_chance).")
    return cfg, table, models, keys, flat_records, notes


def _sigmoid_fit(table: ScoreTable, cfg: Config, retry: bool, scheduler: Any,
                 notes: list[str]) -> tuple[Fit, Config]:
    """The sigmoid fit the verdicts rest on (joint engine: resampled once when it fails)."""
    joint = cfg.resolved_engine() == "joint"
    with warnings.catch_warnings():
        if retry and joint:  # the warning is given below if the retry fails too
            warnings.simplefilter("ignore", ConvergenceWarning)
        f = fit(table, model="sigmoid", config=cfg, scheduler=scheduler)
    notes += f.notes
    if not (f.failed and retry and joint):
        return f, cfg
    first = "; ".join(f.failed)
    f = f.resample(target_accept=max(cfg.target_accept, RETRY_TARGET_ACCEPT), tune=2 * cfg.tune)
    cfg = f.config
    notes.append(f"The first fit failed its diagnostics ({first}); it was resampled with "
                 f"target_accept {cfg.target_accept} and {cfg.tune} tuning steps (same "
                 "model, no recompilation)" + (f", and failed again ({'; '.join(f.failed)})."
                                              if f.failed else ", which passed."))
    check_diagnostics(f.diagnostics, cfg, what="sigmoid fit (after the retry)")
    return f, cfg


def _fits(table: ScoreTable, cfg: Config, models: list[str], cv: str, retry: bool,
          sensitivity_checks: bool, predictability: bool, scheduler: Any, notes: list[str]
          ) -> tuple[Fit, Config, Any, Fit | None, dict[str, str]]:
    """Every fit of a check: the sigmoid fit, the comparison (None when ``models`` has only
    the sigmoid), the noise-model refit and the predictability back-test.

    They are independent (the comparison's sigmoid is the sigmoid fit, made in the
    comparison's own job), except that the back-test's training fit starts from the sigmoid
    fit's draws (``reference=``; it waits for that fit), so on a local machine with the
    per-curve engine they run at the same time (:func:`emergence._concurrent.run_jobs`,
    :data:`CHECK_WORKERS` threads; the numbers do not depend on it). The joint engine, whose
    failing fit is resampled and whose fit the others wait for, and a Dask scheduler run them
    one after the other. Returns the sigmoid fit, the config (changed by a joint-engine
    retry), the comparison, the refit (None when off or not needed) and the predictability
    calls by curve label."""
    percurve = cfg.resolved_engine() == "percurve"
    local = scheduler is None and percurve
    box: dict[str, Any] = {}
    made_fit: Future[Fit] = Future()  # the back-test's reference (per-curve engine)

    def sigmoid() -> Fit:
        box["fit"], box["cfg"] = _sigmoid_fit(table, cfg, retry, scheduler, notes)
        made_fit.set_result(box["fit"])  # a failure is passed on by _resolving
        return box["fit"]

    if not local:  # the others wait for it (and take a joint-engine retry's config)
        sigmoid()
    # the fit made already, or made in its job (compare calls it in the sigmoid's job, per-curve
    # engine only); the per-curve engine never changes the config
    made = box.get("fit")
    given = sigmoid if made is None else made
    run_cfg = box.get("cfg", cfg)
    jobs = [sigmoid if made is None else (lambda: made)]
    if len(models) > 1:
        from .compare import compare

        jobs = [lambda: compare(table, models=models, cv=cv, config=run_cfg,
                                fits={"sigmoid": given}, scheduler=scheduler)]
    if sensitivity_checks:
        jobs.append(lambda: noise_refit(table, run_cfg, scheduler))
    if predictability:  # waits for the sigmoid fit (the first job) and starts from its draws
        jobs.append(lambda: _forecast_calls(table, run_cfg, scheduler,
                                            made_fit.result() if percurve else None))
    out = run_jobs([partial(_resolving, jobs[0], made_fit), *jobs[1:]],
                   workers=CHECK_WORKERS if local else 1)
    first_out = out.pop(0)
    comparison = first_out if len(models) > 1 else None
    alt = out.pop(0) if sensitivity_checks else None
    calls = out.pop(0) if predictability else {}
    return box["fit"], box["cfg"], comparison, alt, calls


def _resolving(job: Callable[[], Any], made: Future) -> Any:
    """Run ``job`` (the one that makes the sigmoid fit); if it ends without having made it (it
    failed, in or before the fit), fail ``made`` too, so that a job waiting for the fit never
    hangs (:func:`emergence._concurrent.run_jobs` raises the first job's own error)."""
    try:
        return job()
    finally:
        if not made.done():
            made.set_exception(RuntimeError("the sigmoid fit was not made"))


def _evidence_columns(f: Fit, table: ScoreTable, cfg: Config, keys: list[str],
                      psense: bool | None, sens: pd.DataFrame, pred: pd.DataFrame
                      ) -> pd.DataFrame:
    """Per-curve columns of the individual checks: prior sensitivity (joint engine), pooling
    and noise-model sensitivity, predictive misfit, predictability and chance."""
    n = len(f.series)
    joint = cfg.resolved_engine() == "joint"
    empty = pd.DataFrame(index=range(n))
    ps = prior_sensitivity(f) if (joint if psense is None else psense) and joint else empty
    ch = chance_test(table, f.series.reset_index(drop=True), keys, f.model_data.likelihood,
                     _noise_median(f))
    return pd.concat([ps, sens, ppc_misfit(f), pred, ch], axis=1)


def _noise_median(f: Fit) -> np.ndarray | None:
    """Per-series posterior median of the likelihood's noise parameter (None without one)."""
    name = f.model_data.likelihood.noise
    if name is None or name not in f.tree["posterior"]:
        return None
    v = f.tree["posterior"][name]
    return np.asarray(v.median(dim=("chain", "draw")).values, float).reshape(-1)


def _split_flat(table: ScoreTable, keys: list[str], cfg: Config) -> tuple[list[dict[str, Any]],
                                                                         ScoreTable]:
    """Records for discrete curves indistinguishable from chance at every scale
    (:func:`emergence.coverage.flat_at_chance`, the test ``Fit.summary`` uses too); rest of
    the table."""
    from dataclasses import replace

    d = table.data
    codes = d.groupby(keys, sort=False, dropna=False).ngroup()
    flat = flat_at_chance(d.assign(series_idx=codes), margin=ABSENT_MARGIN)
    flat_idx, records = [], []
    for code in flat[flat].index:
        g = d[codes == code]
        flat_idx.extend(g.index.tolist())
        records.append(_flat_record(g, keys))
    rest = replace(table, data=d.drop(index=flat_idx).reset_index(drop=True))
    return records, rest


def _flat_record(g: pd.DataFrame, keys: list[str]) -> dict[str, Any]:
    rec = {k: g[k].iat[0] for k in keys}
    rec.setdefault("family", "(all)")
    n_scales = int(g["x"].nunique())
    c = g["chance"].to_numpy(float)
    reasons = ["flat_at_chance"]
    messages = [REASONS["flat_at_chance"].format(best=float(g["y"].max()), chance=float(c.max()),
                                                 margin=ABSENT_MARGIN, x_max=10 ** g["x"].max())]
    if n_scales < MIN_SCALES_FOR_VERDICT:
        reasons.append("too_sparse")
        messages.append(REASONS["too_sparse"].format(n_scales=n_scales))
    empty = dict.fromkeys(("p_sharp", "p_sharp_avg", "p_sharp_nopool", "p_sharp_alt",
                           "width_median", "width_lo", "width_hi", "threshold_median",
                           "threshold_lo", "threshold_hi", "n_in_transition", "weights",
                           "preferred", "forecast_pit"))
    return {**rec, "verdict": "undetermined", "reasons": reasons, "messages": messages, **empty,
            "n_scales": n_scales, "ppc_outside": 0, "metric_kind": g["metric_kind"].iat[0]}


def _comparison_columns(comparison: Any, series: pd.DataFrame, models: list[str],
                        sigmoid_fit: Fit) -> pd.DataFrame:
    """Per-series preferred model, stacking weights and model-averaged P(sharp).

    P(sharp) of each model comes from that model's full-data fit (``comparison.fits``) through
    its own curve; the average uses the stacking weights of the models with a P(sharp).
    """
    bt = comparison.by_task
    fits = dict(getattr(comparison, "fits", {}) or {})
    fits.setdefault("sigmoid", sigmoid_fit)
    p_by_model = {}
    for m in models:
        if m in fits and fits[m] is not None:
            ps = fits[m].p_sharp(sigmoid_fit.config.sharp_width)
            p_by_model[m] = dict(zip(fits[m].series["label"], ps.to_numpy(), strict=True))
    rows = []
    for _, s in series.iterrows():
        m = bt[bt["label"] == s["label"]]
        if not len(m):
            rows.append({})
            continue
        weights = {str(r["model"]): float(r["weight"]) for _, r in m.iterrows()}
        psh = {k: float(p_by_model.get(k, {}).get(s["label"], np.nan)) for k in models}
        use = [k for k in models if np.isfinite(psh[k]) and np.isfinite(weights.get(k, np.nan))]
        wsum = sum(weights[k] for k in use)
        avg = sum(weights[k] * psh[k] for k in use) / wsum if wsum > 0 else psh["sigmoid"]
        k_high = bool((m["n_k_high"] > 0).any()) if "n_k_high" in m.columns else False
        rows.append({"preferred": str(m["preferred"].iat[0]), "weights": weights,
                     "p_sharp_models": psh, "p_sharp_avg": float(avg), "pareto_k_high": k_high,
                     "too_few_scales_cmp": bool(m["too_few_scales"].iat[0])
                     if "too_few_scales" in m.columns else False})
    return pd.DataFrame(rows, index=range(len(series)))


def _metric_links(table: ScoreTable, full: pd.DataFrame, f: Fit,
                  answer_tokens: float | None) -> dict[int, dict[str, Any]]:
    """For discrete curves with a continuous sibling (same task, family, shots, setting).

    Measures (1) how much the continuous metric rises, as a share of its own range, between the
    smallest tested scale and the scale where the discrete curve leaves its floor (10 % of its
    rise) — ``other_rise_at_floor`` with the posterior probability that it rises at all — and
    (2) how well ``discrete ≈ continuous^L`` fits (:func:`power_law_link`).
    """
    out: dict[int, dict[str, Any]] = {}
    sib_keys = ["task", "family", "shots", "setting"]
    d = table.data
    onset = f.threshold(0.1)["threshold_median"].to_numpy()
    for i, r in full.iterrows():
        if r["metric_kind"] != "discrete":
            continue
        sibs = full[(full["metric_kind"] == "continuous")
                    & np.logical_and.reduce([full[k] == r[k] for k in sib_keys])]
        if not len(sibs):
            continue
        j = int(sibs.index[0])
        o = sibs.iloc[0]
        rows = d[np.logical_and.reduce([d[k] == r[k] for k in sib_keys])]
        a = rows[rows["metric"] == r["metric"]].groupby("model")[["y", "n_items", "x"]].first()
        b = rows[rows["metric"] == o["metric"]].groupby("model")["y"].first()
        joined = a.join(b.rename("cont"), how="inner")
        link = power_law_link(joined["y"].to_numpy(), joined["cont"].to_numpy(),
                              joined["n_items"].fillna(1000).to_numpy(), answer_tokens)
        x_lo, x_on = float(r["x_min"]), float(onset[i])
        rise, p_rise = 0.0, 0.0
        if x_on > x_lo:
            mu = f.curve(np.array([x_lo, x_on]), j)
            span = f.draws("ceiling")[:, j] - f.draws("chance_floor")[:, j]
            delta = mu[:, 1] - mu[:, 0]
            rise = float(np.median(delta / np.maximum(span, 1e-12)))
            p_rise = float(np.mean(delta > 0))
        out[i] = {"other_metric": o["metric"], "other_p_sharp": float(o["p_sharp"]),
                  "other_width": float(o["width_median"]), "other_rise_at_floor": rise,
                  "other_p_rise": p_rise, **link}
    return out


def _family_notes(full: pd.DataFrame, cfg: Config) -> dict[int, str]:
    if cfg.families != "separate":
        return {}
    out = {}
    for _, g in full.groupby(["task", "metric", "shots", "setting"], sort=False):
        sharp = g[g["p_sharp"] > P_DECISIVE]["family"].tolist()
        smooth = g[g["p_sharp"] < 1 - P_DECISIVE]["family"].tolist()
        if sharp and smooth:
            note = f"sharp in {', '.join(sharp)}; smooth in {', '.join(smooth)}"
            for i in g.index:
                out[i] = note
    return out


def _verdict(r: pd.Series, f: Fit, cfg: Config, link: dict[str, Any] | None,
             fam_note: str | None) -> dict[str, Any]:
    """The record of one curve: its evidence as reason codes, then one decision."""
    reasons, ctx = _evidence(r, cfg)
    sharp_call = _sharpness(r, reasons, ctx)
    metric_induced = _metric_evidence(link, sharp_call, reasons, ctx)
    if fam_note:
        reasons.append("family_disagreement")
        ctx["family_note"] = fam_note
    verdict = decide(reasons, sharp_call, metric_induced)
    return _record(r, verdict, reasons, ctx)


def decide(reasons: list[str], sharp_call: str, metric_induced: bool) -> str:
    """The verdict from the reason codes and the sharpness call (a pure function).

    Blocking codes give ``undetermined``; a metric-induced onset wins next; a sharp call is
    ``emergent`` unless a code blocks that claim; a smooth width (or a preferred smooth model
    that the width does not contradict, with a tested scale inside the rise) is ``smooth``
    unless a code blocks every call.

    Examples
    --------
    >>> decide(["sharp"], "sharp", False)
    'emergent'
    >>> decide(["sharp", "noise_model_sensitive"], "sharp", False)
    'undetermined'
    """
    has = set(reasons)
    if has & set(BLOCKING):
        return "undetermined"
    if metric_induced:
        return "metric-induced"
    if has & set(BLOCK_CALL):
        return "undetermined"
    if sharp_call == "sharp":
        return "undetermined" if has & set(BLOCK_EMERGENT) else "emergent"
    smooth_model = ("smooth_model_preferred" in has and "sharp_vs_smooth_model" not in has
                    and "no_scale_in_rise" not in has)
    if sharp_call == "smooth" or smooth_model:
        return "smooth"
    return "undetermined"


def _evidence(r: pd.Series, cfg: Config) -> tuple[list[str], dict[str, Any]]:
    """Reason codes that do not depend on the sharpness call, with their numbers."""
    reasons: list[str] = []
    p = float(r["p_sharp"])
    ctx: dict[str, Any] = {"sharp_width": cfg.sharp_width, "n_scales": int(r["n_scales"]),
                           "p_sharp": p, "p_smooth": 1 - p}
    diag = diagnostic_failures(r, cfg)  # this curve's own (per-curve engine)
    if diag:
        reasons.append("diagnostics_failed")
        ctx["diag"] = ", ".join(diag)
    if int(r["n_scales"]) < MIN_SCALES_FOR_VERDICT:
        reasons.append("too_sparse")
    if bool(r.get("pareto_k_high", False)):
        reasons.append("pareto_k_high")
    n_in = r.get("n_in_transition", np.nan)
    if n_in == 0:
        reasons.append("no_scale_in_rise")
        ctx["gap_lo"] = f"{10 ** r['threshold_lo']:.3g}"
        ctx["gap_hi"] = f"{10 ** r['threshold_hi']:.3g}"
    if not bool(r.get("width_informed", True)):
        reasons.append("uninformed_width")
    if bool(r.get("prior_driven_width", False)):
        reasons.append("prior_driven_width")
        ctx["contraction"] = float(r.get("width_contraction", np.nan))
    p_above = float(r.get("p_threshold_above", np.nan))
    p_below = float(r.get("p_threshold_below", np.nan))
    if max(np.nan_to_num(p_above), np.nan_to_num(p_below)) > 0.5:
        reasons.append("threshold_beyond_range")
        ctx.update(p_above=p_above, p_below=p_below)
    cp = r.get("chance_p", np.nan)
    if np.isfinite(cp) and cp < 0.01:
        reasons.append("above_chance_at_smallest")
        ctx.update(first_score=float(r["first_score"]), chance=float(r["chance_level"]), chance_p=cp)
    diagnosis = str(r.get("psense_diagnosis", "ok"))
    if "weak likelihood" in diagnosis:
        reasons.append("prior_sensitive")
        ctx["psense"] = diagnosis
    elif "conflict" in diagnosis:
        reasons.append("prior_data_conflict")
        ctx["psense"] = diagnosis
    _sensitivity_evidence(r, p, reasons, ctx)
    if r.get("predictability") in ("unpredicted_jump", "predictable_from_smaller"):
        reasons.append(str(r["predictability"]))
        ctx["forecast_pit"] = float(r["forecast_pit"])
    if int(r.get("ppc_outside", 0) or 0) > 0:
        reasons.append("ppc_misfit")
        ctx.update(ppc_outside=int(r["ppc_outside"]), ppc_scales=r.get("ppc_scales", ""))
    return reasons, ctx


def _sensitivity_evidence(r: pd.Series, p: float, reasons: list[str],
                          ctx: dict[str, Any]) -> None:
    """``noise_model_sensitive`` / ``pooling_sensitive``: the call changes and one is decisive."""
    def flips(q: Any) -> bool:  # different calls (so at least one of them is decisive)
        return q is not None and bool(np.isfinite(q)) and _call(p) != _call(float(q))

    alt = r.get("p_sharp_alt", np.nan)
    if flips(alt) and not bool(r.get("alt_failed", False)):
        reasons.append("noise_model_sensitive")
        ctx.update(p_sharp_alt=float(alt), alt_likelihood=r.get("alt_likelihood", "another"))
    nopool = r.get("p_sharp_nopool", np.nan)
    if flips(nopool):
        reasons.append("pooling_sensitive")
        ctx["p_sharp_nopool"] = float(nopool)


def _average_note(r: Any) -> str:
    """Where the sharpness call's P(sharp) comes from, when it is model-averaged: the stacking
    weights and the sigmoid's own P(sharp) (the curve panels and ``p_sharp`` show the latter);
    empty when the comparison did not run.

    Examples
    --------
    >>> _average_note({"p_sharp": 0.96, "weights": {"sigmoid": 0.0, "powerlaw": 1.0}})
    ' (model-averaged with stacking weights sigmoid 0.00, powerlaw 1.00; the sigmoid alone: 0.96)'
    >>> _average_note({"p_sharp": 0.96})
    ''
    """
    weights = r.get("weights", None)
    if not isinstance(weights, dict) or not weights:
        return ""
    shown = ", ".join(f"{k} {float(v):.2f}" for k, v in weights.items())
    return (f" (model-averaged with stacking weights {shown}; the sigmoid alone: "
            f"{float(r['p_sharp']):.2f})")


def _sharpness(r: pd.Series, reasons: list[str], ctx: dict[str, Any]) -> str:
    """The sharpness call (model-averaged P(sharp) when the comparison ran) and its codes."""
    p_avg = r.get("p_sharp_avg", np.nan)
    p_eff = float(p_avg) if p_avg == p_avg and p_avg is not None else float(r["p_sharp"])
    ctx["p_sharp_avg"] = p_eff
    ctx["avg_note"] = _average_note(r)
    preferred = r.get("preferred", None)
    if isinstance(preferred, str) and preferred not in ("indistinguishable", ""):
        ctx["preferred"] = preferred
        reasons.append("sigmoid_preferred" if preferred == "sigmoid" else "smooth_model_preferred")
    elif isinstance(preferred, str):
        reasons.append("comparison_indistinguishable")
    call = _call(p_eff)
    reasons.append({"sharp": "sharp", "smooth": "smooth_width", "uncertain": "width_uncertain"}[call])
    n, pool = _effective_draws(r)
    if call != "uncertain" and np.isfinite(n):
        lo, hi = mc_interval(p_eff, n)
        if _call(lo) != call or _call(hi) != call:
            reasons.append("mc_uncertain")
            ctx.update(ess_mc=n, ess_pool=pool, mc_lo=lo, mc_hi=hi)
    ctx["p_smooth"] = 1 - p_eff
    if "smooth_model_preferred" in reasons and call == "sharp":
        reasons.append("sharp_vs_smooth_model")
        return "uncertain"
    return call


def _metric_evidence(link: dict[str, Any] | None, sharp_call: str, reasons: list[str],
                     ctx: dict[str, Any]) -> bool:
    """Metric choice: whether the discrete curve's onset is induced by the metric."""
    if link is None:
        return False
    ctx.update(link)
    rises = link["other_p_rise"] > 0.95 and link["other_rise_at_floor"] > MIN_EARLY_RISE
    if rises:
        reasons.append("continuous_metric_smooth")
    if np.isfinite(link.get("fit_share", np.nan)) and link["fit_share"] >= 0.8 and link["L"] >= 1:
        reasons.append("predicted_by_continuous")
        ctx["fit_share"] = link["fit_share"]
    return rises and sharp_call != "smooth"


def _record(r: pd.Series, verdict: str, reasons: list[str], ctx: dict[str, Any]) -> dict[str, Any]:
    messages = []
    for c in reasons:
        try:
            messages.append(REASONS[c].format(**ctx))
        except (KeyError, ValueError):
            messages.append(REASONS[c])
    n_in = r.get("n_in_transition", np.nan)
    preferred = r.get("preferred", None)

    def num(k: str) -> float | None:
        v = r.get(k, np.nan)
        return float(v) if v is not None and np.isfinite(v) else None

    return {
        "task": r["task"], "metric": r["metric"], "family": r["family"], "shots": r["shots"],
        "setting": r["setting"], "verdict": verdict, "reasons": reasons, "messages": messages,
        "p_sharp": float(r["p_sharp"]), "p_sharp_avg": ctx["p_sharp_avg"],
        "p_sharp_nopool": num("p_sharp_nopool"), "p_sharp_alt": num("p_sharp_alt"),
        "width_median": float(r["width_median"]), "width_lo": float(r["width_lo"]),
        "width_hi": float(r["width_hi"]), "threshold_median": float(r["threshold_median"]),
        "threshold_lo": float(r["threshold_lo"]), "threshold_hi": float(r["threshold_hi"]),
        "n_scales": int(r["n_scales"]),
        "n_in_transition": None if not np.isfinite(n_in) else int(n_in),
        "ppc_outside": int(r.get("ppc_outside", 0) or 0),
        "forecast_pit": num("forecast_pit"),
        "metric_kind": r["metric_kind"],
        "weights": r.get("weights") if isinstance(r.get("weights"), dict) else None,
        "preferred": preferred if isinstance(preferred, str) else None,
    }


def load_check(path: str | Path) -> dict[str, Any]:
    """Read a saved check result (JSON: config, notes, records)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
