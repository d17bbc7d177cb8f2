"""Leave-one-scale-out PIT of every observed score (a measurement; ``check`` does not use it).

``Fit.predictive_check`` (behind ``check``'s ``ppc_misfit``) compares each score with the
posterior predictive interval of a fit that saw it: a curve's own noise scale can grow to take
in a wild score, and the score then looks fine. Here each tested scale of each curve (with more
than two scales) is held out in turn; its fold (the curve without that scale) is importance-
sampled from the curve's full-data draws or refitted by HMC (:func:`emergence.crossval.fold_draws`,
the folds ``check``'s comparison uses) and re-weighted to the population; then the held-out
score's mid-PIT under the fold's predictive distribution (the mean curve, the noise model and
item sampling: the likelihood's own ``draw``) is
``P(y_rep < y) + P(y_rep = y) / 2``. A calibrated model puts about 1 % of scores outside
(0.005, 0.995) and 10 % outside (0.05, 0.95).

    python validation/loso_pit.py obsscaling|opt|sharp16|smooth16|sharp8 [--seed 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.special import logsumexp

import emergence as em
from emergence import crossval as cv
from emergence.engine import CurveSampler


def _folds(fit: em.Fit) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict, np.ndarray]:
    """Held-out units (one per scale of each curve with > 2 scales) and their fold draws."""
    md, obs = fit.model_data, fit.model_data.obs
    codes, _ = pd.factorize(cv._units(obs), sort=False)
    n_scales = obs.groupby("series_idx")["x"].transform(lambda v: v.round(9).nunique())
    units = np.unique(codes[n_scales.to_numpy() > 2])
    train = pd.concat([obs[(obs["series_idx"] == obs["series_idx"].to_numpy()[codes == u][0])
                           & (codes != u)].assign(fold=f) for f, u in enumerate(units)],
                      ignore_index=True)
    sampler = (fit._sampler if isinstance(fit._sampler, CurveSampler)
               else CurveSampler(fit.model, md, fit.config))
    labels = [f"{md.series['label'].iat[int(g['series_idx'].iat[0])]}|loso|{g['x'].iat[0]:.6f}"
              for _, g in train.groupby("fold", sort=True)]
    series = np.array([obs["series_idx"].to_numpy()[codes == u][0] for u in units])
    vals = cv.fold_draws(fit, sampler, sampler.curve_data(train, by="fold"), labels, series)
    values = {k: v.reshape(len(units), -1).T for k, v in vals.items()}  # (draws, folds)
    return obs, codes, units, values, cv.population_weights(fit, values, series)


def loso_pit(fit: em.Fit, seed: int = 0) -> pd.DataFrame:
    """One row per held-out score: ``label``, ``x``, ``y``, ``pit``."""
    obs, codes, units, values, lw = _folds(fit)
    like, rng, out = fit.model_data.likelihood, np.random.default_rng(seed), []
    for f, u in enumerate(units):
        held = obs[codes == u]
        d = fit.model.data_arrays(fit.model_data, held.assign(series_idx=0))
        one = {k: v[:, [f]][:, d["series_idx"]] for k, v in values.items()}  # (draws, rows)
        theta = {n: one[n] for n in fit.model.series_param_names()}
        lmu, _ = fit.model.log_mean(np, d, theta, one["lapse_logit"], one.get("floor"), None)
        yrep = like.draw(rng, np.exp(lmu), one[like.noise] if like.noise else None,
                         held["n_items"].to_numpy(float)[None, :])
        w = np.exp(lw[:, f] - logsumexp(lw[:, f]))[:, None]
        y = held["y"].to_numpy(float)
        pit = (w * ((yrep < y - 1e-12) + 0.5 * (np.abs(yrep - y) <= 1e-12))).sum(0)
        label = fit.series["label"].iat[int(held["series_idx"].iat[0])]
        out += [{"label": label, "x": x, "y": v, "pit": p}
                for x, v, p in zip(held["x"], y, pit, strict=True)]
    return pd.DataFrame(out)


def table(name: str) -> em.ScoreTable:
    """The bundled / simulated table of a case name."""
    if name == "obsscaling":
        return em.datasets.load("obsscaling_emergent")
    if name == "opt":
        return em.read_lm_eval("data/lm-eval-raw/opt", warn=False)
    from emergence.simulate import realistic_truths, simulate_families

    kind = name.rstrip("0123456789")
    n = int(name[len(kind):])
    x = np.linspace(8.0, 11.0, 16) if n == 16 else np.linspace(8.4, 10.6, 8)
    truths = realistic_truths(kind, x, seed=1)
    return em.load_scores(simulate_families(truths, x, seed=2), warn=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["obsscaling", "opt", "sharp16", "smooth16", "sharp8"])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fit = em.fit(table(args.case), seed=args.seed)
        df = loso_pit(fit)
        ppc = fit.predictive_check()
    out99 = (df["pit"] < 0.005) | (df["pit"] > 0.995)
    out90 = (df["pit"] < 0.05) | (df["pit"] > 0.95)
    print(f"{args.case}: {len(df)} held-out scores ({time.perf_counter() - t0:.0f} s); outside "
          f"the 99 % LOSO interval {int(out99.sum())} ({out99.mean():.1%}), outside 90 % "
          f"{int(out90.sum())} ({out90.mean():.1%}); outside the 99 % posterior predictive "
          f"interval (Fit.predictive_check) {int(ppc['outside'].sum())}")
    print(df[out99].to_string(index=False))


if __name__ == "__main__":
    main()
