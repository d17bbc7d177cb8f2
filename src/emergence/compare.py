"""Model comparison: is a sigmoid needed, or does a smooth curve predict the scores as well?

:func:`compare` fits several curve models (``sigmoid``, ``powerlaw``, ``loglinear``) to the same
score table and estimates each one's expected log predictive density (elpd) by cross-validation:

``cv="loso"`` (default) -- exact leave-one-scale-out
    The question users care about is prediction at a scale that was not measured. Each fold
    removes **one scale from every series at once** (every row whose log10 scale equals the
    held-out value), refits, and scores the held-out rows with the posterior predictive density.
    Holding the scale out of all series together is deliberate: a scale is a model checkpoint,
    and "an unseen scale" means a model nobody evaluated, on any task. Holding it out of one
    series only would let the same model's scores on the other tasks inform the held-out
    prediction through the pooled hyperparameters and the family offsets (a leak that favours
    the more flexible model), and would need (series x scales) refits instead of (scales).
    ``folds="series"`` gives the per-series variant when that is the question. Every model is
    compiled once; folds swap data (:class:`~emergence.inference.CompiledSampler`), so a refit
    costs its sampling time only.

    The held-out log predictive density of one (series, scale) unit is computed from the fold's
    posterior draws in numpy (the models' curves from :mod:`emergence.curves` and the exact
    log-space likelihood), summed over the unit's rows within a draw and log-mean-exp'ed over
    draws.

``cv="loo"`` -- PSIS-LOO over rows
    One fit per model, pointwise log-likelihood from :func:`pymc.compute_log_likelihood`, and
    :func:`arviz.loo`. Pareto-k is reported per series; a :class:`ParetoKWarning` is issued when
    any k > 0.7 (we saw 15-30 % of cells above it on 8-scale data), in which case prefer LOSO.

Per series and overall, the result gives elpd with its SE, the elpd difference to the best
model with the SE of the difference (paired over units), stacking weights (Yao et al. 2018) and
``preferred``: a model name only when it beats *every* other model by more than 2 SE of the
difference, else ``"indistinguishable"``. With fewer than :data:`MIN_SCALES` scales a series is
flagged ``too_few_scales``: its elpd differences rest on a handful of held-out points, the
normal approximation behind the SE is poor (Sivula et al. 2025) and the end scales are
extrapolations.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from ._concurrent import run_jobs, suppressed
from ._io import atomic_write_json
from ._version import __version__
from .config import MODELS as VALID_MODELS
from .config import Config, make_config
from .data import ScoreTable, as_table
from .errors import ConfigError, ConvergenceWarning, EmergenceWarning
from .inference import CompiledSampler, diagnostics
from .models import CurveModel, ModelData, get
from .models.base import OPTIONAL_SERIES_VARS

#: Series with fewer distinct scales get ``too_few_scales`` and a notice.
MIN_SCALES = 5
#: A model is ``preferred`` only when it beats every other by more than this many SE of the
#: difference **and** by at least MIN_ELPD_DIFF: differences below about 4 are not decisive
#: whatever their SE, and the SE itself is unreliable then (Sivula, Magnusson & Vehtari 2022).
PREFER_SE = 2.0
MIN_ELPD_DIFF = 4.0
#: Pareto-k above which a PSIS-LOO estimate is unreliable.
K_THRESHOLD = 0.7
CV_METHODS = ("loso", "loo")
_CV_ALIASES = {"loso": "loso", "leave-one-scale-out": "loso", "loo": "loo", "psis-loo": "loo"}
FOLDS = ("scale", "series")
INDISTINGUISHABLE = "indistinguishable"
KEY_COLUMNS = ["task", "metric", "family", "shots", "setting"]


class ParetoKWarning(EmergenceWarning):
    """PSIS-LOO is unreliable for some observations (Pareto k > 0.7)."""


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    by_task : pandas.DataFrame
        One row per (series, model): keys, ``label``, ``model``, ``elpd``, ``se``,
        ``elpd_diff`` (to the series' best model, <= 0), ``dse`` (SE of that difference),
        ``weight`` (stacking), ``rank``, ``preferred`` (same on every row of a series),
        ``n_scales``, ``n_points`` (held-out units), ``too_few_scales``, ``notice``; with
        ``cv="loo"`` also ``pareto_k_max`` and ``n_k_high`` (k > 0.7).
    overall : pandas.DataFrame
        One row per model over all series: ``elpd``, ``se``, ``elpd_diff``, ``dse``,
        ``weight``, ``rank``, ``preferred``, ``n_points``.
    pointwise : pandas.DataFrame
        One row per held-out unit (``series_idx``, ``label``, ``x`` for LOSO, ``row`` for
        LOO) and one column of elpd per model.
    diagnostics : pandas.DataFrame
        One row per (model, fit): ``fold`` (held-out log10 scale; NaN for the full fit),
        ``rhat_max``, ``ess_bulk_min``, ``divergences``, ``sample_seconds``.
    cv : str
        ``"loso"`` or ``"loo"``.
    models : list of str
        Compared models.
    config : Config
        Options used (``config.model`` is irrelevant here).
    notices : list of str
        Human-readable caveats (sparse series, failed diagnostics, high Pareto k).
    timing : dict
        Seconds spent compiling and sampling, per model.
    fits : dict
        Full-data :class:`~emergence.results.Fit` per model (``keep_fits=True``): each model's
        own width, threshold and P(sharp) through its own curve (``fits[m].summary()``).
    """

    by_task: pd.DataFrame
    overall: pd.DataFrame
    pointwise: pd.DataFrame
    diagnostics: pd.DataFrame
    cv: str
    models: list[str]
    config: Config
    notices: list[str] = field(default_factory=list)
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    fits: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        n = self.by_task["label"].nunique() if len(self.by_task) else 0
        pref = self.overall["preferred"].iat[0] if len(self.overall) else "-"
        return (f"Comparison(cv={self.cv!r}, models={self.models}, {n} series, "
                f"overall preferred={pref!r})")

    def summary(self) -> pd.DataFrame:
        """One row per series: keys, ``n_scales``, ``elpd_<model>``, ``weight_<model>``,
        ``preferred``, ``too_few_scales`` (and ``pareto_k_max`` for LOO)."""
        bt = self.by_task
        first = bt.drop_duplicates("label").set_index("label")
        cols = [*KEY_COLUMNS, "n_scales"]
        out = first[cols].copy()
        for m in self.models:
            sub = bt[bt["model"] == m].set_index("label")
            out[f"elpd_{m}"] = sub["elpd"]
            out[f"weight_{m}"] = sub["weight"]
        out["preferred"] = first["preferred"]
        out["too_few_scales"] = first["too_few_scales"]
        if "pareto_k_max" in bt:
            out["pareto_k_max"] = bt.groupby("label", sort=False)["pareto_k_max"].max()
        return out.reset_index()

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready records, one per series.

        ``{task, metric, family, shots, setting, series, n_scales, too_few_scales, cv,
        models: {name: {elpd, se, elpd_diff, dse, weight}}, preferred}``.
        """
        out = []
        for label, g in self.by_task.groupby("label", sort=False):
            r0 = g.iloc[0]
            rec: dict[str, Any] = {k: _plain(r0[k]) for k in ("task", "metric", "family")}
            rec.update({"shots": _plain(r0["shots"]), "setting": _plain(r0["setting"]),
                        "series": label, "n_scales": int(r0["n_scales"]),
                        "too_few_scales": bool(r0["too_few_scales"]), "cv": self.cv})
            rec["models"] = {
                str(r["model"]): {k: _plain(r[k]) for k in ("elpd", "se", "elpd_diff", "dse",
                                                            "weight")}
                for _, r in g.iterrows()
            }
            if "pareto_k_max" in g:
                for _, r in g.iterrows():
                    rec["models"][str(r["model"])]["pareto_k_max"] = _plain(r["pareto_k_max"])
            rec["preferred"] = str(r0["preferred"])
            out.append(rec)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to read the result back: records, overall, diagnostics, config."""
        return {
            "emergence_version": __version__,
            "cv": self.cv,
            "models": list(self.models),
            "config": self.config.as_dict(),
            "records": self.to_records(),
            "overall": self.overall.to_dict("records"),
            "diagnostics": self.diagnostics.to_dict("records"),
            "notices": list(self.notices),
            "timing": self.timing,
        }

    def save(self, path: str | Path, records_only: bool = False) -> Path:
        """Write the result as JSON, atomically.

        Parameters
        ----------
        path : str or Path
            Output file.
        records_only : bool
            Write only the list of per-series records (:meth:`to_records`, the CLI's
            ``--json`` format) instead of the full result (:meth:`to_dict`, with the config).
        """
        return atomic_write_json(path, self.to_records() if records_only else self.to_dict())


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if v is pd.NA or v is None:
        return None
    return v


# ---- pointwise log-likelihood in numpy -----------------------------------------------------
def _draws(post: Any, name: str) -> np.ndarray:
    """Posterior variable as (samples, ...) array."""
    da = post[name]
    v = np.asarray(da.values)
    return v.reshape((-1, *v.shape[2:]))


def log_likelihood(model: type[CurveModel], md: ModelData, posterior: Any,
                   obs: pd.DataFrame) -> np.ndarray:
    """Per-draw log-likelihood of rows ``obs`` under a posterior (numpy).

    The model's one likelihood definition (:meth:`CurveModel.log_likelihood`) evaluated on the
    posterior draws.

    Returns
    -------
    numpy.ndarray
        Shape (chains * draws, len(obs)), columns in the order of ``obs``.
    """
    names = [p.name for p in model.all_params(md.likelihood)] + list(OPTIONAL_SERIES_VARS)
    values = {n: _draws(posterior, n) for n in names if n in posterior}
    D = next(iter(values.values())).shape[0]
    delta = None
    if "delta_family" in posterior:
        d = np.concatenate([np.zeros((D, 1)), _draws(posterior, "delta_family")], axis=1)
        delta = d[:, obs["family_idx"].to_numpy()]
    return model.log_likelihood(np, md.likelihood, model.data_arrays(md, obs), values, delta)


# ---- elpd tables ---------------------------------------------------------------------------
def stacking_weights(lpd: np.ndarray) -> np.ndarray:
    """Stacking weights (Yao et al. 2018) from a (units, models) matrix of pointwise elpd.

    Maximises ``sum_i log sum_k w_k exp(lpd_ik)`` over the simplex. Each row is shifted by its
    maximum first (exact: it adds a constant to the objective), so very negative elpd values do
    not underflow. Same objective as ``arviz.compare(method="stacking")``.
    """
    lpd = np.asarray(lpd, dtype=float)
    K = lpd.shape[1]
    if K == 1:
        return np.ones(1)
    if lpd.shape[0] == 0:
        return np.full(K, 1.0 / K)
    e = np.exp(lpd - lpd.max(axis=1, keepdims=True))

    def w_of(z: np.ndarray) -> np.ndarray:
        zz = np.append(z, 0.0)
        zz = zz - zz.max()
        w = np.exp(zz)
        return w / w.sum()

    def obj(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = w_of(z)
        dens = e @ w
        f = -np.sum(np.log(dens))
        gw = -(e / dens[:, None]).sum(axis=0)  # d f / d w
        gz = w * (gw - gw @ w)  # softmax chain rule
        return f, gz[:-1]

    res = minimize(obj, np.zeros(K - 1), jac=True, method="L-BFGS-B")
    w = w_of(res.x)
    w[w < 1e-10] = 0.0
    return w / w.sum()


def _elpd_table(pw: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """elpd, se, diff to best, dse, stacking weight, rank and preferred for one set of units."""
    M = pw[models].to_numpy(float)
    n = M.shape[0]
    elpd = M.sum(axis=0)
    se = np.sqrt(n * M.var(axis=0, ddof=1)) if n > 1 else np.full(len(models), np.nan)
    best = int(np.argmax(elpd))
    diff = elpd - elpd[best]
    dse = np.array([np.sqrt(n * np.var(M[:, best] - M[:, j], ddof=1)) if n > 1 else np.nan
                    for j in range(len(models))])
    dse[best] = 0.0
    w = stacking_weights(M)
    others = [j for j in range(len(models)) if j != best]
    clear = all(np.isfinite(dse[j]) and -diff[j] > PREFER_SE * dse[j]
                and -diff[j] >= MIN_ELPD_DIFF for j in others)
    preferred = models[best] if (clear and others) else INDISTINGUISHABLE
    rank = np.empty(len(models), int)
    rank[np.argsort(-elpd, kind="stable")] = np.arange(len(models))
    return pd.DataFrame({"model": models, "elpd": elpd, "se": se, "elpd_diff": diff, "dse": dse,
                         "weight": w, "rank": rank, "preferred": preferred, "n_points": n})


# ---- the comparison -----------------------------------------------------------------------
def _check_models(models: Sequence[str]) -> list[str]:
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    models = list(dict.fromkeys(models))
    bad = [m for m in models if m not in VALID_MODELS]
    if bad:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, bad))} in models=; valid models are "
            f"{', '.join(VALID_MODELS)}."
        )
    if len(models) < 2:
        raise ConfigError(
            f"models={models!r}: a comparison needs at least two models, e.g. "
            "models=['sigmoid', 'powerlaw', 'loglinear']."
        )
    return models


def _check_cv(cv: str) -> str:
    key = str(cv).lower()
    if key not in _CV_ALIASES:
        raise ConfigError(
            f"cv={cv!r} is not valid; choose 'loso' (leave-one-scale-out refits) or 'loo' "
            "(PSIS-LOO)."
        )
    return _CV_ALIASES[key]


def _fold_keys(obs: pd.DataFrame, folds: str) -> pd.Series:
    xr = obs["x"].round(9)
    if folds == "scale":
        return xr
    return obs["series_idx"].astype(str) + "@" + xr.astype(str)


def _unit_frame(obs: pd.DataFrame, md: ModelData) -> pd.DataFrame:
    """Units of LOSO: one per (series, held-out scale)."""
    u = obs[["series_idx"]].copy()
    u["x"] = obs["x"].round(9)
    u = u.drop_duplicates().sort_values(["series_idx", "x"], kind="stable")
    u["label"] = md.series["label"].to_numpy()[u["series_idx"].to_numpy()]
    return u.reset_index(drop=True)


def _fit_diag(tree: Any, model: type[CurveModel], fold: float, seconds: float) -> dict[str, Any]:
    names = [*model.series_param_names(), "lapse_logit"]
    _, o = diagnostics(tree, names)
    return {"fold": fold, "rhat_max": o["rhat_max"], "ess_bulk_min": o["ess_bulk_min"],
            "divergences": o["divergences"], "sample_seconds": seconds}


def _loso(model: type[CurveModel], md: ModelData, sampler: CompiledSampler, folds: str,
          seed: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    obs = md.obs
    units = _unit_frame(obs, md)
    unit_index = {(s, x): i for i, (s, x) in enumerate(zip(units["series_idx"], units["x"],
                                                           strict=True))}
    elpd = np.full(len(units), np.nan)
    keys = _fold_keys(obs, folds)
    diag = []
    for i, key in enumerate(pd.unique(keys)):
        test = keys == key
        train = obs[~test]
        t0 = time.perf_counter()
        tree = sampler.sample(data=model.data_arrays(md, train),
                              seed=seed + i)
        secs = time.perf_counter() - t0
        post = tree["posterior"]
        held = obs[test]
        ll = log_likelihood(model, md, post, held)
        D = ll.shape[0]
        hx = held["x"].round(9).to_numpy()
        hs = held["series_idx"].to_numpy()
        for (s, x), cols in pd.Series(range(len(held))).groupby([hs, hx]).groups.items():
            joint = ll[:, np.asarray(list(cols))].sum(axis=1)
            elpd[unit_index[(s, x)]] = logsumexp(joint) - np.log(D)
        diag.append(_fit_diag(tree, model, float(held["x"].iat[0]) if folds == "scale"
                              else float("nan"), secs))
        if folds == "series":
            diag[-1]["fold_key"] = str(key)
    units["elpd"] = elpd
    return units, diag


def _full_fit(model: type[CurveModel], md: ModelData, cfg: Config, table: ScoreTable,
              sampler: CompiledSampler, tree: Any, seed: int) -> Any:
    """A :class:`~emergence.results.Fit` of the full data (reusing the compiled sampler)."""
    from .results import Fit

    if tree is None:
        tree = sampler.sample(data=model.data_arrays(md), seed=seed)
    return Fit.from_tree(tree, cfg, table, md, sampler.timing, sampler)


def _reusable_fit(f: Any, name: str, cfg: Config, data: ScoreTable) -> Any:
    """``f`` if it is a fit of model ``name`` with options ``cfg`` on ``data``, else an error."""
    if f is None:
        return None
    if getattr(f, "_sampler", None) is None:
        raise ConfigError(f"fits[{name!r}] has no compiled model (a loaded fit?); pass fits made "
                          "in this session by emergence.fit, or leave `fits` out.")
    theirs, ours = f.config.as_dict(), cfg.as_dict()
    diff = sorted(k for k in ours if theirs.get(k) != ours[k])
    if diff:
        raise ConfigError(f"fits[{name!r}] was made with other options ({', '.join(diff)}); "
                          "refit with the comparison's options or leave `fits` out.")
    if len(f.table.data) != len(data.data) or not f.table.data["row"].equals(data.data["row"]):
        raise ConfigError(f"fits[{name!r}] was made on other data ({len(f.table.data)} rows vs "
                          f"{len(data.data)}); pass fits of the same table or leave `fits` out.")
    return f


def _loo(model: type[CurveModel], md: ModelData, pm_model: Any, sampler: CompiledSampler,
         seed: int, tree: Any = None, reloo: int = 0,
         ) -> tuple[pd.DataFrame, list[dict[str, Any]], np.ndarray, Any]:
    import arviz as az
    import xarray as xr

    t0 = time.perf_counter()
    if tree is None:
        tree = sampler.sample(seed=seed)
    secs = time.perf_counter() - t0
    diag = [_fit_diag(tree, model, float("nan"), secs)]
    obs = md.obs
    post = tree["posterior"]
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    # the model's one likelihood definition, in numpy, on the posterior draws
    ll = log_likelihood(model, md, post, obs).reshape(nc, nd, len(obs))
    dt = xr.DataTree.from_dict({
        "posterior": post.to_dataset(),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), ll)},
                                     coords={"chain": post["chain"].values,
                                             "draw": post["draw"].values}),
    })
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Pp]areto.*")
        warnings.filterwarnings("ignore", message=".*[Ee]stimated shape parameter.*")
        res = az.loo(dt, pointwise=True, var_name="y")
    units = obs[["series_idx", "row"]].copy().reset_index(drop=True)
    units["x"] = obs["x"].to_numpy()
    units["label"] = md.series["label"].to_numpy()[units["series_idx"].to_numpy()]
    units["elpd"] = np.asarray(res.elpd_i.values, float).ravel()
    k = np.asarray(res.pareto_k.values, float).ravel()
    units["pareto_k"] = k
    units["refit"] = False
    high = np.flatnonzero(k > K_THRESHOLD)
    if 0 < len(high) <= reloo:
        # exact leave-one-out for the rows PSIS cannot handle (arviz's "reloo"): refit the
        # compiled model without the row and use the exact log predictive density
        for j in high:
            train = obs.drop(index=obs.index[j])
            t0 = time.perf_counter()
            t_j = sampler.sample(data=model.data_arrays(md, train), seed=seed + 10_000 + int(j))
            ll_j = log_likelihood(model, md, t_j["posterior"], obs.iloc[[j]])[:, 0]
            units.loc[j, "elpd"] = float(logsumexp(ll_j) - np.log(len(ll_j)))
            units.loc[j, "refit"] = True
            diag.append({**_fit_diag(t_j, model, float(obs["x"].iat[j]),
                                     time.perf_counter() - t0), "reloo_row": int(obs["row"].iat[j])})
        units.loc[units["refit"], "pareto_k"] = np.nan  # exact now: no PSIS k to report
    return units, diag, units["pareto_k"].to_numpy(), tree


def compare(
    table: ScoreTable | pd.DataFrame | str | Path,
    models: Sequence[str] = ("sigmoid", "powerlaw", "loglinear"),
    cv: str = "loso",
    *,
    config: Config | dict[str, Any] | None = None,
    folds: str = "scale",
    keep_fits: bool = True,
    fits: Mapping[str, Any] | None = None,
    reloo: int = 40,
    scheduler: Any = None,
    **options: Any,
) -> Comparison:
    """Compare curve models by cross-validated predictive density, per series and overall.

    Parameters
    ----------
    table : ScoreTable, DataFrame or path
        Scores (validated with :func:`emergence.load_scores` when not a ScoreTable).
    models : sequence of str or comma-separated str
        At least two of ``"sigmoid"``, ``"powerlaw"``, ``"loglinear"``.
    cv : {"loso", "loo"}
        ``"loso"``: exact leave-one-scale-out refits (alias ``"leave-one-scale-out"``);
        ``"loo"``: PSIS-LOO over rows with Pareto-k diagnostics.
    config : Config or dict, optional
        Base options (sampler, draws, tune, chains, seed, likelihood, families, pooling,
        priors ...); keyword ``options`` override them. ``model`` is ignored.
    folds : {"scale", "series"}
        LOSO only. ``"scale"`` (default) holds a scale out of every series at once (an unseen
        model checkpoint); ``"series"`` holds it out of one series at a time (more refits, and
        the other series at that scale still inform the fit).
    keep_fits : bool
        Keep a full-data fit of every model in ``.fits`` (each model's own width and P(sharp));
        with LOSO that is one more sampling run per model (no recompilation).
    fits : mapping of str to Fit, optional
        Full-data fits already made with the same data and options (e.g. ``{"sigmoid": f}``):
        their compiled model is reused (no recompilation) and, with ``cv="loo"``, their draws
        too (no sampling). A fit made with other options or data is an error. Per-curve
        engine: a zero-argument callable in place of a fit is called in that model's job
        (the models run at the same time), e.g. to make the fit there.
    reloo : int
        ``cv="loo"`` only: when at most this many rows of a model have Pareto k > 0.7, each is
        refitted without the row (compiled model, new data) and its exact log predictive
        density replaces the PSIS estimate (Vehtari et al. 2017, arviz's ``reloo``); with more
        such rows none is refitted and they stay flagged. 0 turns it off.
    scheduler : distributed.Client or str, optional
        Per-curve engine: run its batches (fits and exact folds) on a Dask cluster, with the
        same numbers as locally.

    Returns
    -------
    Comparison
        ``.by_task`` (per series and model), ``.overall``, ``.summary()``, ``.to_records()``,
        ``.save(path)``.

    Raises
    ------
    ConfigError
        Unknown model or cv, fewer than two models, invalid options.

    Examples
    --------
    >>> import emergence as em
    >>> t = em.datasets.load("obsscaling_emergent", task="arithmetic_*")  # doctest: +SKIP
    >>> cmp = em.compare(t, cv="loso", seed=1, draws=500, tune=500)  # doctest: +SKIP
    >>> cmp.summary()[["task", "family", "preferred"]]  # doctest: +SKIP
    """
    models, cv, cfg, data = _inputs(table, models, cv, config, folds, reloo, options)
    seed = int(cfg.seed)  # type: ignore[arg-type]
    given = dict(fits or {})
    if cfg.resolved_engine() == "percurve":
        parts = _compare_percurve(data, models, cv, cfg, given, reloo, keep_fits, scheduler)
    else:
        parts = _compare_joint(data, models, cv, cfg, given, reloo, keep_fits, folds, seed)
    pointwise, diag_rows, timing, kmax, nhigh, fits, notices, md0 = parts
    _diagnostic_notice(pd.DataFrame(diag_rows), cfg, notices)
    return _assemble(pointwise, pd.DataFrame(diag_rows), md0, models, cv, cfg, notices, timing,
                     fits, kmax, nhigh)


def _inputs(table: Any, models: Any, cv: str, config: Any, folds: str, reloo: Any,
            options: dict[str, Any]) -> tuple[list[str], str, Config, ScoreTable]:
    """Validated models, cv method, config and table of a comparison."""
    models = _check_models(models)
    cv = _check_cv(cv)
    if isinstance(reloo, bool) or not isinstance(reloo, int | np.integer) or reloo < 0:
        raise ConfigError(f"reloo={reloo!r} must be a whole number >= 0 (rows to refit exactly "
                          "when PSIS-LOO's Pareto k > 0.7), e.g. 40; 0 turns it off.")
    if folds not in FOLDS:
        raise ConfigError(f"folds={folds!r} is not valid; choose 'scale' or 'series'.")
    options.pop("model", None)
    cfg = make_config(config, **options)
    data = as_table(table, scale=cfg.scale)
    if data.scale != cfg.scale:
        cfg = cfg.replace(scale=data.scale)
    return models, cv, cfg, data


def _compare_joint(data: ScoreTable, models: list[str], cv: str, cfg: Config,
                   given: dict[str, Any], reloo: int, keep_fits: bool, folds: str,
                   seed: int) -> tuple[Any, ...]:
    """Per model: the joint engine's LOSO refits or PSIS-LOO (compiled once per model)."""


    pointwise: pd.DataFrame | None = None
    diag_rows: list[dict[str, Any]] = []
    timing: dict[str, dict[str, float]] = {}
    kmax: dict[str, pd.Series] = {}
    nhigh: dict[str, pd.Series] = {}
    md0: ModelData | None = None
    notices: list[str] = []
    fits = {}
    for name in models:
        M = get(name)
        mcfg = cfg.replace(model=name)
        prior_fit = _reusable_fit(given.get(name), name, mcfg, data)
        if prior_fit is not None:
            md, sampler = prior_fit.model_data, prior_fit._sampler
            pm_model = sampler.model
        else:
            md = M.prepare(data, mcfg)
            pm_model = M.build_from(md, mcfg)
            sampler = CompiledSampler(pm_model, mcfg)
        md0 = md0 or md
        t0 = time.perf_counter()
        full_tree = None
        if cv == "loso":
            units, diag = _loso(M, md, sampler, folds, seed)
        else:
            units, diag, k, full_tree = _loo(M, md, pm_model, sampler, seed,
                                             prior_fit.tree if prior_fit is not None else None,
                                             reloo)
            g = units.groupby("series_idx")["pareto_k"]
            kmax[name], nhigh[name] = g.max(), g.apply(lambda v: int((v > K_THRESHOLD).sum()))
            if units["refit"].any():
                notices.append(f"PSIS-LOO of model {name!r}: {int(units['refit'].sum())} row(s) "
                               f"with Pareto k > {K_THRESHOLD} were refitted exactly (reloo).")
            if (k > K_THRESHOLD).any():
                frac = float((k > K_THRESHOLD).mean())
                msg = (f"PSIS-LOO of model {name!r}: {int((k > K_THRESHOLD).sum())} of {len(k)} "
                       f"rows ({frac:.0%}) have Pareto k > {K_THRESHOLD}; their elpd estimates "
                       f"are unreliable (more than reloo={reloo} rows to refit exactly). Raise "
                       "`reloo` or use cv='loso' (exact leave-one-scale-out refits).")
                notices.append(msg)
                warnings.warn(msg, ParetoKWarning, stacklevel=2)
        if keep_fits:
            fits[name] = (prior_fit if prior_fit is not None
                          else _full_fit(M, md, mcfg, data, sampler, full_tree, seed))
        timing[name] = {"compile": sampler.timing.compile,
                        "sample": time.perf_counter() - t0}
        for d in diag:
            diag_rows.append({"model": name, **d})
        col = units.rename(columns={"elpd": name})
        per_model = [c for c in ("pareto_k", "refit") if c in col]
        if pointwise is None:
            pointwise = col.drop(columns=per_model)
        else:
            pointwise[name] = col[name].to_numpy()
        for c in per_model:  # LOO: Pareto k (NaN where refitted exactly) and the reloo flag
            pointwise[f"{c}_{name}"] = col[c].to_numpy()
    assert pointwise is not None and md0 is not None
    return pointwise, diag_rows, timing, kmax, nhigh, fits, notices, md0


def _compare_percurve(data: ScoreTable, models: list[str], cv: str, cfg: Config,
                      given: dict[str, Any], reloo: int, keep_fits: bool,
                      scheduler: Any = None) -> tuple[Any, ...]:
    """Per model: one per-curve fit, then PSIS over (curve, scale) units with exact refits of
    the units whose Pareto k exceeds 0.7 (all of them with ``cv="loso"``, at most ``reloo``
    with ``cv="loo"``): :func:`emergence.crossval.loso_percurve`. The models are independent:
    on a local machine they run at the same time (:func:`emergence._concurrent.run_jobs`)."""
    jobs = [partial(_percurve_units, data, name, cv, cfg, given.get(name), reloo, scheduler)
            for name in models]
    out = run_jobs(jobs, workers=len(jobs) if scheduler is None else 1)
    pointwise, diag_rows, timing, kmax, nhigh, fits, notices = None, [], {}, {}, {}, {}, []
    for name, (f, units, unit_notes, seconds) in zip(models, out, strict=True):
        notices += [f"model {name!r}: {n}" for n in unit_notes]
        g = units.groupby("series_idx")["pareto_k"]
        kmax[name] = g.max()
        nhigh[name] = g.apply(lambda v: int((~(v <= K_THRESHOLD) & v.notna()).sum()))
        d = f.diagnostics_by_series()
        for _, r in d.iterrows():
            diag_rows.append({"model": name, "fold": float("nan"), "series": r["label"],
                              "rhat_max": r["rhat_max"], "ess_bulk_min": r["ess_bulk_min"],
                              "divergences": int(r["divergences"]), "sample_seconds": np.nan})
        timing[name] = {"compile": f.timing.compile, "sample": seconds}
        if keep_fits:
            fits[name] = f
        col = units.rename(columns={"elpd": name})
        if pointwise is None:
            pointwise = col.drop(columns=["pareto_k", "refit"])
        else:
            pointwise[name] = col[name].to_numpy()
        pointwise[f"pareto_k_{name}"] = col["pareto_k"].to_numpy()
        pointwise[f"refit_{name}"] = col["refit"].to_numpy()
    assert pointwise is not None
    return pointwise, diag_rows, timing, kmax, nhigh, fits, notices, out[0][0].model_data


def _percurve_units(data: ScoreTable, name: str, cv: str, cfg: Config, f: Any, reloo: int,
                    scheduler: Any) -> tuple[Any, pd.DataFrame, list[str], float]:
    """One model's fit (``f`` when given) and its leave-one-scale-out units; wall seconds."""
    from .crossval import loso_percurve
    from .results import fit as fit_model

    t0 = time.perf_counter()
    if callable(f):  # a fit made in this job (check's sigmoid fit)
        f = f()
    if f is None:
        with suppressed(ConvergenceWarning):
            f = fit_model(data, model=name, config=cfg.replace(model=name),
                          scheduler=scheduler)
    units, notes = loso_percurve(f, max_refits=None if cv == "loso" else reloo)
    return f, units, notes, time.perf_counter() - t0


def _diagnostic_notice(diag_df: pd.DataFrame, cfg: Config, notices: list[str]) -> None:
    """One notice (and warning) naming how many fits of each model failed their diagnostics."""
    if not len(diag_df):
        return
    fails = diag_df[(diag_df["rhat_max"] > cfg.rhat_max) | (diag_df["ess_bulk_min"] < cfg.ess_min)
                    | (diag_df["divergences"] > 0)]
    if len(fails):
        per = fails.groupby("model").size()
        msg = ("MCMC diagnostics failed in " + ", ".join(
            f"{n} of {int((diag_df['model'] == m).sum())} fits of {m!r}" for m, n in per.items())
            + f" (worst R-hat {fails['rhat_max'].max():.3f}, min bulk ESS "
            f"{fails['ess_bulk_min'].min():.0f}, {int(fails['divergences'].sum())} divergences); "
            "elpd values of those models are less certain. Increase draws/tune or target_accept.")
        notices.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)


def _assemble(pointwise: pd.DataFrame, diag_df: pd.DataFrame, md0: ModelData, models: list[str],
              cv: str, cfg: Config, notices: list[str], timing: dict[str, Any],
              fits: dict[str, Any], kmax: dict[str, Any], nhigh: dict[str, Any]) -> Comparison:
    """Per-series and overall elpd tables from the pointwise elpd of every model."""
    series = md0.series.reset_index(drop=True)
    rows = []
    for s_idx, g in pointwise.groupby("series_idx", sort=True):
        tab = _elpd_table(g, models)
        srow = series.iloc[int(s_idx)]
        n_scales = int(srow["n_scales"])
        few = n_scales < MIN_SCALES
        notice = ""
        if few:
            notice = (f"only {n_scales} scales: elpd differences rest on {len(g)} held-out points "
                      "and their SE is unreliable; treat the comparison as indicative")
        tab["label"] = srow["label"]
        for c in KEY_COLUMNS:
            tab[c] = srow[c]
        tab["series_idx"] = int(s_idx)
        tab["n_scales"] = n_scales
        tab["too_few_scales"] = few
        tab["notice"] = notice
        if cv == "loo":
            tab["pareto_k_max"] = [float(kmax[m].loc[s_idx]) for m in models]
            tab["n_k_high"] = [int(nhigh[m].loc[s_idx]) for m in models]
        rows.append(tab)
    by_task = pd.concat(rows, ignore_index=True)
    lead = [*KEY_COLUMNS, "label", "model"]
    by_task = by_task[lead + [c for c in by_task.columns if c not in lead]]
    overall = _elpd_table(pointwise, models)
    n_few = int(series["n_scales"].lt(MIN_SCALES).sum())
    if n_few:
        notices.append(f"{n_few} of {len(series)} series have fewer than {MIN_SCALES} scales; "
                       "their comparison is indicative only (see by_task['notice']).")
    return Comparison(by_task=by_task, overall=overall, pointwise=pointwise, diagnostics=diag_df,
                      cv=cv, models=models, config=cfg, notices=notices, timing=timing,
                      fits=fits)


def load_comparison(path: str | Path) -> dict[str, Any]:
    """Read a comparison saved with :meth:`Comparison.save` (as plain JSON data)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


__all__ = ["Comparison", "ParetoKWarning", "compare", "load_comparison", "log_likelihood",
           "stacking_weights"]
