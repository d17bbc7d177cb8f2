"""Pointwise predictive densities of a fit, and leave-one-scale-out for the per-curve engine.

Every number here comes from the model's one likelihood definition
(:meth:`emergence.models.CurveModel.log_likelihood`, evaluated in numpy on posterior draws).

Leave-one-scale-out with the per-curve engine (:func:`loso_percurve`): a unit is one tested
scale of one curve. Its elpd is first estimated by Pareto-smoothed importance sampling from the
hierarchical posterior (PSIS, Vehtari et al. 2017); every unit whose Pareto k exceeds 0.7 is
refitted exactly -- the curve without that scale, sampled alone under its stage-1 prior and
re-weighted to the population (``population(theta | phi) / stage1_prior(theta)`` averaged over
the population draws). A refitted fold's stage-1 draws come from importance sampling with a
Student-t fitted to its curve's full-data stage-1 draws where those weights are reliable
(:func:`fold_draws`), and from HMC, all remaining folds in one vectorised batch, where not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ._concurrent import suppressed
from .models.base import OPTIONAL_SERIES_VARS

#: Pareto k above which a PSIS estimate is replaced by an exact refit.
K_THRESHOLD = 0.7
#: Population draws used to re-weight an exact fold to the population.
POP_DRAWS = 64


def param_draws(fit: Any, group: str = "posterior") -> dict[str, np.ndarray]:
    """Per-series parameter draws of a fit as ``{name: (draws, series)}``."""
    post = fit.tree[group]
    names = [p.name for p in fit.model.all_params(fit.model_data.likelihood)]
    names += [n for n in OPTIONAL_SERIES_VARS if n in post]
    out = {}
    for n in names:
        v = np.asarray(post[n].values)
        out[n] = v.reshape(-1, v.shape[-1])
    return out


def _delta(fit: Any, obs: pd.DataFrame, n_draws: int) -> np.ndarray | None:
    post = fit.tree["posterior"]
    if "delta_family" not in post:
        return None
    d = np.asarray(post["delta_family"].values).reshape(n_draws, -1)
    d = np.concatenate([np.zeros((n_draws, 1)), d], axis=1)
    return d[:, obs["family_idx"].to_numpy()]


def pointwise_loglik(fit: Any, obs: pd.DataFrame | None = None,
                     values: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Log-likelihood of rows ``obs`` (default: the fitted rows) per posterior draw.

    Returns
    -------
    numpy.ndarray
        Shape (draws, rows).
    """
    md = fit.model_data
    obs = md.obs if obs is None else obs
    values = param_draws(fit) if values is None else values
    d = fit.model.data_arrays(md, obs)
    D = next(iter(values.values())).shape[0]
    return fit.model.log_likelihood(np, md.likelihood, d, values, _delta(fit, obs, D))


def _units(obs: pd.DataFrame) -> pd.Series:
    return obs["series_idx"].astype(str) + "@" + obs["x"].round(9).astype(str)


def _psis(ll_units: np.ndarray, chains: int) -> tuple[np.ndarray, np.ndarray]:
    """PSIS-LOO elpd and Pareto k per column of a (draws, units) log-likelihood matrix."""
    import arviz as az
    import xarray as xr

    D, U = ll_units.shape
    flat = np.ptp(ll_units, axis=0) < 1e-12  # a stuck chain: PSIS cannot fit a tail
    elpd = np.asarray(ll_units[0], float).copy()
    k = np.full(U, np.inf)
    if flat.all():
        return elpd, k

    def loo(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arr = ll_units[:, cols].reshape(chains, D // chains, -1)
        dt = xr.DataTree.from_dict({
            "posterior": xr.Dataset({"dummy": (("chain", "draw"), np.zeros(arr.shape[:2]))}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "unit"), arr)}),
        })
        with suppressed():
            res = az.loo(dt, pointwise=True, var_name="y")
        return (np.asarray(res.elpd_i.values, float).ravel(),
                np.asarray(res.pareto_k.values, float).ravel())

    cols = np.flatnonzero(~flat)
    try:
        elpd[cols], k[cols] = loo(cols)
    except ValueError:  # e.g. "All tail values are the same": draws resampled by the
        for c in cols:  # population step repeat; such a unit keeps k = inf (exact refit)
            try:
                elpd[[c]], k[[c]] = loo(np.array([c]))
            except ValueError:
                pass
    return elpd, k


def population_weights(fit: Any, values: dict[str, np.ndarray],
                       series: np.ndarray) -> np.ndarray:
    """Log weights ``log mean_phi population(theta | phi) - log stage1_prior(theta)`` of
    stage-1 draws ``values`` (each (draws, folds)) of curves ``series`` (one per fold)."""
    from .models.base import population_densities

    md = fit.model_data
    post = fit.tree["posterior"]
    D, F = next(iter(values.values())).shape
    if not md.pooled or not any(f"mu_{k}" in post for k in values):
        return np.zeros((D, F))
    dens = population_densities(fit.model, md)
    rng = np.random.default_rng(0)
    n_pop = np.asarray(post[f"mu_{dens.pooled[0]}"].values).size
    pick = rng.choice(n_pop, min(POP_DRAWS, n_pop), replace=False)
    P = len(pick)
    mu = np.stack([np.asarray(post[f"mu_{k}"].values).ravel()[pick] for k in dens.pooled])
    sd = np.stack([np.asarray(post[f"sigma_{k}"].values).ravel()[pick] for k in dens.pooled])
    th = np.stack([np.broadcast_to(values[k].reshape(1, D * F), (P, D * F)) for k in dens.pooled])
    lw = dens.population(th, mu[:, :, None], sd[:, :, None]).sum(0).reshape(P, D, F)
    lw -= sum(dens.stage1(k, values[k]) for k in dens.pooled)[None]
    return logsumexp(lw, axis=0) - np.log(P)


def loso_percurve(fit: Any, k_threshold: float = K_THRESHOLD,
                  max_refits: int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Leave-one-scale-out elpd per (curve, scale) of a per-curve-engine fit.

    Returns the units (``series_idx``, ``x``, ``label``, ``elpd``, ``pareto_k`` (NaN where
    refitted), ``refit``) and notes.
    """
    md = fit.model_data
    obs = md.obs
    chains = int(fit.tree["posterior"].sizes["chain"])
    ll = pointwise_loglik(fit)
    keys = _units(obs)
    codes, uniq = pd.factorize(keys, sort=False)
    ll_u = np.zeros((ll.shape[0], len(uniq)))
    np.add.at(ll_u.T, codes, ll.T)
    elpd, k = _psis(ll_u, chains)
    first = obs.groupby(codes).first()
    units = pd.DataFrame({"series_idx": first["series_idx"].to_numpy(),
                          "x": first["x"].round(9).to_numpy()})
    units["label"] = md.series["label"].to_numpy()[units["series_idx"].to_numpy()]
    units["elpd"], units["pareto_k"], units["refit"] = elpd, k, False
    high = np.flatnonzero(~(k <= k_threshold))
    notes = []
    if max_refits is not None and len(high) > max_refits:
        notes.append(f"{len(high)} unit(s) with Pareto k > {k_threshold}; only the first "
                     f"{max_refits} were refitted exactly (max_refits).")
        high = high[:max_refits]
    n_scales = units.groupby("series_idx")["x"].transform("size").to_numpy()
    high = high[n_scales[high] > 1]  # a curve's only scale has no fold to refit (PSIS kept)
    if len(high):
        units.loc[high, "elpd"] = _exact_folds(fit, obs, codes, high)
        units.loc[high, "refit"] = True
        units.loc[high, "pareto_k"] = np.nan
        notes.append(f"{len(high)} of {len(units)} held-out scale(s) had Pareto k > "
                     f"{k_threshold} and were refitted exactly.")
    return units, notes


def _exact_folds(fit: Any, obs: pd.DataFrame, codes: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Exact held-out elpd of ``units``: each fold is its curve without that scale."""
    from .engine import CurveSampler

    md = fit.model_data
    cfg = fit.config
    frames = []
    for f, u in enumerate(units):
        s = obs["series_idx"].to_numpy()[codes == u][0]
        train = obs[(obs["series_idx"] == s) & (codes != u)]
        frames.append(train.assign(fold=f))
    train_all = pd.concat(frames, ignore_index=True)
    sampler = fit._sampler if isinstance(fit._sampler, CurveSampler) else CurveSampler(
        fit.model, md, cfg)
    data = sampler.curve_data(train_all, by="fold")
    labels = [f"{md.series['label'].iat[int(g['series_idx'].iat[0])]}|loso|{g['x'].iat[0]:.6f}"
              for _, g in train_all.groupby("fold", sort=True)]
    series = np.array([obs["series_idx"].to_numpy()[codes == u][0] for u in units])
    vals = fold_draws(fit, sampler, data, labels, series)
    values = {k: v.reshape(len(units), -1).T for k, v in vals.items()}  # (draws, folds)
    lw = population_weights(fit, values, series)
    out = np.empty(len(units))
    for f, u in enumerate(units):
        held = obs[codes == u].assign(series_idx=0)
        one = {k: v[:, [f]] for k, v in values.items()}
        ll = fit.model.log_likelihood(np, md.likelihood, fit.model.data_arrays(md, held), one)
        joint = ll.sum(axis=1) + lw[:, f]
        out[f] = logsumexp(joint) - logsumexp(lw[:, f])
    return out


def fold_draws(fit: Any, sampler: Any, data: list[np.ndarray], labels: list[str],
               series: np.ndarray) -> dict[str, np.ndarray]:
    """Stage-1 draws of each fold (the curve ``series[f]`` without one scale), each
    (folds, chains, draws).

    Each fold's curve's full-data stage-1 draws are its reference
    (:func:`emergence.engine.first_draws`): the fold is importance-sampled from a Student-t
    mixture fitted to them (the fold's posterior is its curve's without one scale, so they
    are a close proposal); where the weights are not reliable (Pareto k-hat >= 0.7 or too small
    an effective sample size) the fold is sampled by HMC, with the seeds it would have had
    without this step.
    """
    from .engine import first_draws, reference_draws

    by_label = reference_draws(fit.tree, sampler.program.var_names)
    curves = fit.series["label"].tolist()
    reference = {f: by_label[curves[s]] for f, s in enumerate(series)}
    return first_draws(sampler, data, labels, int(fit.config.seed), reference)[0]
