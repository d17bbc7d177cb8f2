"""Refits per minute of a one-task, 8-scale sigmoid: emergence.design vs a naive pm.sample loop.

Both in one run, same model, draws and tune. The design path compiles once per worker and swaps
data (2 worker processes); the naive loop builds the model and calls pm.sample (nutpie) for
every replicate, as a user would without the package.

    python benchmarks/design_speed.py [--replicates 60] [--naive 6]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from emergence.design import Truth, design, simulate_scores


def naive(n: int, draws: int, tune: int) -> float:
    import pymc as pm
    import pytensor.tensor as pt

    rng = np.random.default_rng(0)
    x = np.linspace(8, 12, 8)
    t0 = time.perf_counter()
    for i in range(n):
        k = simulate_scores(Truth.sharp(0.5).params(rng), x, 1000, rng)
        with pm.Model():
            x0 = pm.Normal("x0", 10, 2)
            logk = pm.Normal("logk", 1.48, 1)
            lapse = pm.Normal("lapse_logit", -2, 1.5)
            z = pt.exp(logk) * (x - x0)
            p = (1 - pm.math.sigmoid(lapse)) * pm.math.sigmoid(z)
            pm.Binomial("y", n=1000, p=p, observed=k)
            pm.sample(draws=draws, tune=tune, chains=2, random_seed=i, progressbar=False,
                      compute_convergence_checks=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=60)
    ap.add_argument("--naive", type=int, default=6)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=500)
    args = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        design(Truth.sharp(0.5), ["1e8..1e12:8"], replicates=args.replicates, seed=0,
               draws=args.draws, tune=args.tune)
        fast = time.perf_counter() - t0
        slow = naive(args.naive, args.draws, args.tune)
    fast_rate = args.replicates / fast * 60
    slow_rate = args.naive / slow * 60
    print(f"design (compile once per worker, 2 workers): {args.replicates} refits in {fast:.1f} s"
          f" = {fast_rate:.0f} refits/min (compile included)")
    print(f"naive pm.sample loop: {args.naive} refits in {slow:.1f} s = {slow_rate:.1f} refits/min")
    print(f"ratio: {fast_rate / slow_rate:.1f}x")


if __name__ == "__main__":
    main()
