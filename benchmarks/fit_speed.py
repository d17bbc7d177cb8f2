"""Fit speed on the bundled ObsScaling emergent tasks: nutpie (default) vs PyMC's own NUTS.

Same model, same data, same draws, one process, one run. Prints compile and sampling wall time
separately, min bulk ESS per second of sampling, the diagnostics, and the ratios against PyMC's
NUTS measured in this run.

    python benchmarks/fit_speed.py [--samplers nutpie,pymc] [--draws 2000] [--tune 1000]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from machine import machine

import emergence as em


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samplers", default="nutpie,pymc")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20240101)
    args = ap.parse_args()
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}; "
          f"date {time.strftime('%Y-%m-%d %H:%M')}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = em.datasets.load("obsscaling_emergent")
    print(f"data: {table!r}")
    rows = []
    for sampler in args.samplers.split(","):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = em.fit(table, sampler=sampler, draws=args.draws, tune=args.tune, seed=args.seed)
        wall = time.perf_counter() - t0
        d = fit.diagnostics
        rows.append({"sampler": sampler, "wall": wall, "compile": fit.timing.compile,
                     "sample": fit.timing.sample, "ess": d["ess_bulk_min"],
                     "ess_s": d["ess_bulk_min"] / fit.timing.sample, "rhat": d["rhat_max"],
                     "div": d["divergences"]})
    ref = next((r for r in rows if r["sampler"] == "pymc"), rows[-1])
    print(f"\n{'sampler':8} {'wall s':>7} {'compile s':>9} {'sample s':>8} {'minESS':>7} "
          f"{'ESS/s':>7} {'Rhat':>6} {'div':>4} {'wall/ref':>8} {'ESS/s÷ref':>9}")
    for r in rows:
        print(f"{r['sampler']:8} {r['wall']:7.1f} {r['compile']:9.1f} {r['sample']:8.1f} "
              f"{r['ess']:7.0f} {r['ess_s']:7.1f} {r['rhat']:6.3f} {r['div']:4d} "
              f"{r['wall'] / ref['wall']:8.2f} {r['ess_s'] / ref['ess_s']:9.2f}")


if __name__ == "__main__":
    main()
