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

    PYTHONPATH=src python validation/pool_mcse.py --seeds 20   # ~4 min on 2 cores
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_engine_equivalence import _table  # the test's six curves

NAMES = ["x0", "logk", "mu_x0", "sigma_x0", "mu_logk", "sigma_logk"]


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
    ap.add_argument("--json", default="docs/results/pool_mcse.json")
    args = ap.parse_args()
    table = _table()
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
