"""Monte Carlo error of the per-curve engine's pooled draws, against independent seeds.

The population step picks each curve's draws from its stage-1 draws (a finite pool), so a
curve quantile's Monte Carlo error has two parts: the population chain's, which arviz's
``mcse(method="quantile")`` of the pooled draws measures, and the pool's, which it does not.
``engine.pool_ess`` estimates the pool's effective size; the corrected standard error is
``mcse * sqrt(1 + ess_quantile / ess_pool)``.

This script fits the six-curve case of ``tests/test_engine_equivalence.py`` (its ``_table``) with
``engine="percurve"`` (4 x 2000 draws) under ``--seeds`` seeds and compares, for the 5 %,
50 % and 95 % quantiles of every curve's x0 and log k and of the population parameters, the
spread of the quantile over seeds with the mean arviz MCSE and the mean corrected SE.

    PYTHONPATH=src python validation/pool_mcse.py --seeds 20 [--case flat]   # ~4 min, 2 cores

``--case flat`` fits eight curves of which two are flat at 0 (thresholds far beyond the tested
range), where the pools are smallest.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import emergence as em
from emergence._io import atomic_write_json
from emergence.simulate import simulate_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_engine_equivalence import _table  # the test's six curves

NAMES = ["x0", "logk", "mu_x0", "sigma_x0", "mu_logk", "sigma_logk"]


def _flat_table() -> object:
    """Eight curves x 8 sizes (1e8-1e11): six rising inside the range, two with thresholds
    (13.5, 14) far beyond it, flat at 0 (their stage-1 posterior is about the prior's width
    and the population narrows them: the pools are smallest there)."""
    x = np.linspace(8.0, 11.0, 8)
    truths = pd.DataFrame({"task": [f"t{i}" for i in range(8)],
                           "x0": [8.6, 9.0, 9.4, 9.8, 10.2, 10.6, 13.5, 14.0],
                           "logk": [1.5, 1.4, 1.3, 1.5, 1.4, 1.3, 1.4, 1.4], "chance": 0.0,
                           "lapse": 0.1})
    return em.load_scores(simulate_families(truths, x, seed=7, n_items=500), warn=False)


def _one(table: object, seed: int) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = em.fit(table, engine="percurve", seed=seed, draws=2000, tune=500)
    post = f.tree["posterior"].to_dataset()[NAMES]
    pool = f.tree["curve_diagnostics"]["ess_pool"].values
    rows = []
    for p in (0.05, 0.5, 0.95):
        q = post.quantile(p, dim=("chain", "draw"))
        se = az.mcse(post, method="quantile", prob=p)
        ess = az.ess(post, method="quantile", prob=p)
        for v in NAMES:
            qs, ses, es = (np.atleast_1d(d[v].values) for d in (q, se, ess))
            for i in range(len(qs)):
                corr = ses[i] * np.sqrt(1 + es[i] / pool[i]) if v in ("x0", "logk") else ses[i]
                rows.append({"seed": seed, "quantile": p, "name": v, "curve": i, "q": qs[i],
                             "mcse": ses[i], "se_corrected": corr})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--case", choices=("six", "flat"), default="six",
                    help="six: the equivalence test's curves; flat: two of eight flat at 0")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    table = _table() if args.case == "six" else _flat_table()
    args.json = args.json or ("docs/results/pool_mcse.json" if args.case == "six" else
                              "docs/results/pool_mcse_flat.json")
    d = pd.DataFrame([r for s in range(11, 11 + args.seeds) for r in _one(table, s)])
    g = d.groupby(["quantile", "name", "curve"]).agg(spread=("q", "std"), mcse=("mcse", "mean"),
                                                    se_corrected=("se_corrected", "mean"))
    g["ratio_arviz"] = g["spread"] / g["mcse"]
    g["ratio_corrected"] = g["spread"] / g["se_corrected"]
    print(g.round(4).to_string())
    cur = g[g.index.get_level_values("name").isin(["x0", "logk"])]
    summary = {"seeds": args.seeds, "curve_quantities": len(cur),
               "ratio_arviz_median": float(cur["ratio_arviz"].median()),
               "ratio_arviz_max": float(cur["ratio_arviz"].max()),
               "ratio_corrected_median": float(cur["ratio_corrected"].median()),
               "ratio_corrected_max": float(cur["ratio_corrected"].max())}
    print(json.dumps(summary, indent=1))
    atomic_write_json(args.json, {"summary": summary,
                                         "rows": g.reset_index().to_dict("records")})


if __name__ == "__main__":
    main()
