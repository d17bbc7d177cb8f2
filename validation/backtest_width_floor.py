"""How narrow can a calibrated 90 % forecast of a held-out score be? (issue 13, docs/backtest.md)

    python validation/backtest_width_floor.py [--dataset obsscaling_emergent] [--seed 1]

Issue 13 asks for a mean 90 % interval width <= 0.15 on ObsScaling emergent. A forecast of an
*observed* score cannot be narrower than the noise between models of one size, whatever the
curve model. This script measures that floor: for every held-out point of the back-test
(largest model of each curve held out), it takes the mean curve at that scale to be known
exactly (equal to the observed score: the most favourable case) and draws the score from the
likelihood's own ``draw`` (model-to-model logit noise ``tau``, then item sampling with the
row's number of items). The width of the central 90 % of those draws is the narrowest a
calibrated interval could be. Three noise levels:

- each curve's posterior median ``tau`` from the package's fit of the whole table;
- ``tau`` = 0.35 (the model-level noise of issue 12's realistic simulations);
- ``tau`` = 0.2.

It prints the mean floor next to the package's mean width from the same back-test.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import emergence as em
from emergence.models.likelihoods import LogitNormal

DRAWS = 20000


def floor_width(mu: float, tau: float, n_items: float, rng: np.random.Generator) -> float:
    """Width of the central 90 % of scores drawn at mean ``mu`` (noise ``tau``, items)."""
    mu_arr = np.full(DRAWS, float(mu))
    n = None if not np.isfinite(n_items) else np.full(DRAWS, float(n_items))
    s = LogitNormal().draw(rng, mu_arr, np.full(DRAWS, np.log(tau)), n)
    lo, hi = np.quantile(s, [0.05, 0.95])
    return float(hi - lo)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="obsscaling_emergent")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    table = em.datasets.load(args.dataset)
    bt = em.backtest(table, holdout=1, seed=args.seed, methods=("emergence",))
    rec = bt.records[bt.records["method"] == "emergence"]
    fit = em.fit(table, seed=args.seed)
    tau = np.exp(fit.tree["posterior"]["log_tau"].median(dim=("chain", "draw")).values)
    by_label = dict(zip(fit.series["label"], np.asarray(tau).reshape(-1), strict=True))
    rng = np.random.default_rng(args.seed)
    floors: dict[str, list[float]] = {"fitted tau": [], "tau 0.35": [], "tau 0.2": []}
    for _, r in rec.iterrows():
        for name, t in (("fitted tau", by_label[r["label"]]), ("tau 0.35", 0.35),
                        ("tau 0.2", 0.2)):
            floors[name].append(floor_width(r["observed"], t, r["n_items"], rng))
    width = float((rec["hi_90"] - rec["lo_90"]).mean())
    print(f"{args.dataset}: {len(rec)} held-out points; the package's mean 90 % width "
          f"{width:.3f}; median fitted tau {np.median(tau):.2f}")
    for name, w in floors.items():
        print(f"  floor with {name:10s}: mean 90 % width {np.mean(w):.3f} "
              f"(mean curve known exactly at every held-out scale)")


if __name__ == "__main__":
    main()
