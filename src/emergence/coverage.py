"""Scale coverage: how the tested scales limit what a fit can say (per-series diagnostics).

(Formerly ``emergence.sampling``; it is about which scales were sampled, not about MCMC.)

For each curve of a :class:`~emergence.results.Fit`:

* ``n_in_transition`` — tested scales inside the posterior-median 10 %-90 % transition region,
  and ``p_no_scale_in_rise`` — posterior probability that no tested scale lies inside it;
* ``bracket`` — decades between the tested scales that bracket that region (the largest below
  it and the smallest above it; NaN when the region reaches past the tested range): a rise
  with at most one tested scale inside still has its width bounded by the data when this is
  short;
* ``width_contraction`` — 90 % interval length of log(width), posterior over prior (1 = the data
  taught nothing about the width; the prior is simulated from the model's declarative priors);
  ``prior_driven_width`` when it exceeds :data:`PRIOR_DRIVEN`;
* ``p_threshold_above`` / ``p_threshold_below`` — P(x0 > largest tested scale) and
  P(x0 < smallest): a threshold outside the tested range is reported this way instead of as a
  falsely precise interval;
* ``shape_dependent`` — no tested scale in the rise: whatever the width posterior says comes
  from the curve's assumed tails (a logistic's), not from observed points.

This module sits at the results layer: it reads a fit's draws and priors, it never fits.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import curves as C
from .priors import Prior, draw_priors


class FitLike(Protocol):
    """What this module reads of a :class:`~emergence.results.Fit` (no import of results:
    results imports this module)."""

    model: Any
    model_data: Any
    config: Any
    series: pd.DataFrame

    def draws(self, name: str) -> np.ndarray: ...


#: Posterior/prior interval ratio of log(width) above which the width is called prior-driven.
PRIOR_DRIVEN = 0.5
PRIOR_DRAWS = 20_000


def _draw_prior(prior: Prior, context: dict[str, float], rng: np.random.Generator,
                n: int) -> np.ndarray:
    """``n`` draws of ``prior`` (kept for callers of the old helper; use :meth:`Prior.draw`)."""
    return prior.draw(n, context, seed=rng)


def prior_series_draws(f: FitLike, n: int = PRIOR_DRAWS, seed: int = 0,
                       stage1: bool = False) -> dict[str, np.ndarray]:
    """Prior draws of one series' curve parameters: the population's (marginal over the
    hyperpriors: Student-t or normal around ``mu`` with scale ``sigma``) when pooled, else -- or
    with ``stage1=True`` -- the curve's own (stage-1) prior.

    All priors involved are drawn by PyMC in one call (:func:`emergence.priors.draw_priors`),
    so any PyMC distribution a user puts in ``Config.priors`` works here too.
    """
    from .models.base import POPULATION_NU

    rng = np.random.default_rng(seed)
    md = f.model_data
    hyper = md.pooled and not stage1
    names = {}
    for p in f.model.params:
        if p.pooled and hyper:
            names[f"mu_{p.name}"] = names[f"sigma_{p.name}"] = None
        else:
            names[p.name] = None
    d = draw_priors({k: md.priors[k] for k in names}, n, md.context, rng)
    out = {}
    for p in f.model.params:
        if p.pooled and hyper:
            z = (rng.standard_t(POPULATION_NU, n) if p.population == "StudentT"
                 else rng.standard_normal(n))
            out[p.name] = d[f"mu_{p.name}"] + d[f"sigma_{p.name}"] * z
        else:
            out[p.name] = d[p.name]
    return out


def flat_at_chance(obs: pd.DataFrame, margin: float = 0.05) -> pd.Series:
    """Per ``series_idx``: every score of a curve with counts and a known chance level is
    indistinguishable (binomial test, p > 0.01) from chance plus ``margin`` of the head-room."""
    from scipy.stats import binom

    out = {}
    for s, g in obs.groupby("series_idx"):
        if not (g["k"].notna().all() and g["chance"].notna().all()):
            out[s] = False
            continue
        c = g["chance"].to_numpy(float)
        p = binom.sf(g["k"].to_numpy(float) - 1, g["n_items"].to_numpy(float), c + margin * (1 - c))
        out[s] = bool(np.all(p > 0.01))
    return pd.Series(out, name="flat_at_chance")


def sampling_diagnostics(f: FitLike) -> pd.DataFrame:
    """Per-series sampling diagnostics of a fit (see the module docstring for the columns)."""
    model = f.model
    names = model.series_param_names()
    post = {n: f.draws(n) for n in names}
    lo_lv, hi_lv = C.WIDTH_LEVELS
    x10 = model.threshold(lo_lv, **post)
    x90 = model.threshold(hi_lv, **post)
    x50 = f.draws("threshold")
    width = f.draws("width")
    prior = prior_series_draws(f, seed=int(f.config.seed) % (2**32))
    with np.errstate(all="ignore"):
        prior_w = np.log(model.width(**prior))
    prior_w = prior_w[np.isfinite(prior_w)]
    q = (1 - f.config.interval) / 2
    prior_len = float(np.diff(np.quantile(prior_w, [q, 1 - q]))[0])
    obs = f.model_data.obs
    rows = []
    for i in range(len(f.series)):
        xs = np.unique(obs.loc[obs["series_idx"] == i, "x"].to_numpy())
        a, b = x10[:, i], x90[:, i]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        m_lo, m_hi = float(np.median(lo)), float(np.median(hi))
        n_in = int(np.sum((xs >= m_lo) & (xs <= m_hi)))
        below, above = xs[xs < m_lo], xs[xs > m_hi]
        bracket = float(above.min() - below.max()) if len(below) and len(above) else np.nan
        inside = (xs[None, :] >= lo[:, None]) & (xs[None, :] <= hi[:, None])
        p_none = float(np.mean(~inside.any(axis=1)))
        lw = np.log(width[:, i])
        post_len = float(np.diff(np.quantile(lw, [q, 1 - q]))[0])
        contraction = post_len / prior_len if prior_len > 0 else np.nan
        rows.append({
            "n_in_transition": n_in,
            "bracket": bracket,
            "p_no_scale_in_rise": p_none,
            "transition_lo": m_lo,
            "transition_hi": m_hi,
            "width_contraction": contraction,
            "prior_driven_width": bool(contraction > PRIOR_DRIVEN),
            "p_threshold_above": float(np.mean(x50[:, i] > xs.max())),
            "p_threshold_below": float(np.mean(x50[:, i] < xs.min())),
            "shape_dependent": n_in == 0,
        })
    return pd.DataFrame(rows)


def sampling_notes(row: dict[str, Any] | pd.Series, sharp_width: float) -> list[str]:
    """Sentences for people about one series' sampling diagnostics."""
    out = []
    if row["n_in_transition"] == 0:
        out.append(
            "no tested scale lies inside the posterior 10 %-90 % transition "
            f"({10 ** row['transition_lo']:.3g} to {10 ** row['transition_hi']:.3g}): the width "
            "(and so P(sharp)) rests on the curve's assumed shape, not on observed points"
        )
    if row["prior_driven_width"]:
        out.append(f"the width posterior is prior-driven (interval {row['width_contraction']:.0%} "
                   "of the prior's)")
    if row["p_threshold_above"] > 0.5:
        out.append(f"the threshold probably lies above the largest tested scale "
                   f"(P = {row['p_threshold_above']:.2f})")
    if row["p_threshold_below"] > 0.5:
        out.append(f"the threshold probably lies below the smallest tested scale "
                   f"(P = {row['p_threshold_below']:.2f})")
    return out
