"""Verdict accuracy of ``emergence.check`` on simulated data with known truths.

    python validation/verdict_study.py [--datasets 5] [--seed 11] [--draws 1000] [--tune 500]

Each simulated dataset has 10 tasks (chance 0.25, 500 items, binomial noise, lapse 0.05):
5 sharp truths (10 %-90 % width drawn from U(0.3, 0.7) decades) and 5 smooth truths (width
U(2.5, 4)), thresholds x0 ~ U(9.6, 10.4) (log10 parameters). Two grids:

- ``dense``: 17 scales, 1e8-1e12 (a quarter decade apart). A verdict is correct when a sharp
  truth is called ``emergent`` and a smooth one ``smooth`` (goal >= 95 %).
- ``gap``: only 1e8, 10^8.5, 10^11.5, 1e12 — no scale inside any sharp rise. Here every
  ``emergent`` verdict on a sharp truth is unearned: the data cannot show the rise is sharp
  (goal: rate of false ``emergent`` <= 5 %).

Each dataset also has ``--powerlaw`` (default 3) tasks drawn from the smooth power law
(``curve="powerlaw"``, width U(2, 3) decades, i.e. exponent 1.339 / width; same thresholds,
chance, items and lapse): the comparison must never prefer the sigmoid for them with confidence
(``preferred == "sigmoid"``, i.e. |delta elpd| >= 4 and >= 2 SE), and they must never be called
``emergent``.

``check`` runs as a user would run it, with the smooth alternatives compared by PSIS-LOO
(``cv="loo"``, rows with Pareto k > 0.7 refitted exactly: ``reloo``; leave-one-scale-out
would cost 17 refits x 3 models per dataset) and the prior-sensitivity check on. Sharpness
cut: width < 1 decade (the default).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from emergence import curves as C
from emergence.check import check
from emergence.simulate import simulate_table

GRIDS = {"dense": np.linspace(8, 12, 17), "gap": np.array([8.0, 8.5, 11.5, 12.0])}


def dataset(grid: np.ndarray, seed: int, n_powerlaw: int = 3
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated table of 10 sigmoid tasks and ``n_powerlaw`` power-law tasks, and truths."""
    rng = np.random.default_rng(seed)
    width = np.r_[rng.uniform(0.3, 0.7, 5), rng.uniform(2.5, 4.0, 5)]
    kind = np.where(width < 1, "sharp", "smooth")
    truths = pd.DataFrame({
        "task": [f"{k}_{i}" for i, k in enumerate(kind)],
        "x0": rng.uniform(9.6, 10.4, 10), "logk": np.log(2 * C.LN9 / width), "lapse": 0.05,
        "width": width,
    })
    table = simulate_table("sigmoid", truths.to_dict("records"), grid, n_items=500,
                           chance=0.25, seed=rng)
    truths["truth"] = kind
    if n_powerlaw:  # drawn after the sigmoid tasks: those stay what they were without them
        pw = rng.uniform(2.0, 3.0, n_powerlaw)
        pl = pd.DataFrame({"task": [f"powerlaw_{i}" for i in range(n_powerlaw)],
                           "x0": rng.uniform(9.6, 10.4, n_powerlaw),
                           "log_alpha": np.log(float(C.width(C.POWERLAW, x0=0.0, log_alpha=0.0)) / pw),
                           "lapse": 0.05, "width": pw, "truth": "powerlaw"})
        table = pd.concat([table, simulate_table("powerlaw", pl.to_dict("records"), grid,
                                                 n_items=500, chance=0.25, seed=rng)],
                          ignore_index=True)
        truths = pd.concat([truths, pl], ignore_index=True)
    return table, truths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--grids", default="dense,gap")
    ap.add_argument("--powerlaw", type=int, default=3, help="power-law tasks per dataset")
    ap.add_argument("--out", default=None, help="write the per-curve records (JSON)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    recs = []
    for grid_name in args.grids.split(","):
        for d in range(args.datasets):
            seed = args.seed * 1000 + d
            table, truths = dataset(GRIDS[grid_name], seed, args.powerlaw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = check(table, cv="loo", seed=seed, draws=args.draws, tune=args.tune,
                            progress=False)
            out = pd.DataFrame(res.to_records()).merge(truths[["task", "width", "truth"]],
                                                        on="task")
            for _, r in out.iterrows():
                recs.append({"grid": grid_name, "dataset": d, "task": r["task"],
                             "truth": r["truth"], "true_width": float(r["width"]),
                             "verdict": r["verdict"], "reasons": list(r["reasons"]),
                             "preferred": r.get("preferred")})
            print(f"{grid_name} dataset {d}: {out['verdict'].value_counts().to_dict()} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(recs)
    expected = {"sharp": "emergent", "smooth": "smooth", "powerlaw": "smooth"}
    df["correct"] = df["verdict"] == df["truth"].map(expected)
    table = (df.groupby(["grid", "truth"])
               .agg(curves=("verdict", "size"), correct=("correct", "mean"),
                    emergent=("verdict", lambda v: (v == "emergent").mean()),
                    smooth=("verdict", lambda v: (v == "smooth").mean()),
                    undetermined=("verdict", lambda v: (v == "undetermined").mean()),
                    sigmoid_preferred=("preferred", lambda v: (v == "sigmoid").mean()))
               .reset_index())
    print(f"\nseed {args.seed}, {args.datasets} datasets x 10 tasks per grid, draws {args.draws} "
          f"+ tune {args.tune}, {time.perf_counter() - t0:.0f} s")
    print(table.round(3).to_string(index=False))
    for grid_name, sub in df.groupby("grid"):
        why = sub.loc[~sub["correct"], "reasons"].explode().value_counts().head(8)
        print(f"\nreasons on the {grid_name} grid's non-correct verdicts:\n{why.to_string()}")
    if args.out:
        Path(args.out).write_text(json.dumps(recs, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
