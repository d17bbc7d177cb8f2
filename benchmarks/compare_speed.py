"""Benchmark: leave-one-scale-out comparison, 20 tasks x 8 scales x 3 models.

Compile once and swap data (what :func:`emergence.compare` does) against the naive loop that
rebuilds and recompiles the model for every fold, measured in the same run on a subset of folds
(the naive loop over all 24 folds would take minutes for no information).

Run::

    python benchmarks/compare_speed.py [--draws 1000] [--tune 1000] [--naive-folds 2]

Prints the wall time of the full comparison, per-model compile and per-refit times, the naive
per-fold time and the ratio naive / compiled per fold (compile amortised over the folds).
"""

from __future__ import annotations

import argparse
import subprocess
import time
import warnings

import numpy as np
from machine import machine

import emergence as em
from emergence.inference import CompiledSampler
from emergence.models import get
from emergence.simulate import sigmoid_population, simulate_table


def table(n_tasks: int = 20, n_scales: int = 8, seed: int = 0):
    truth = sigmoid_population(n_tasks, seed=seed)
    x = np.linspace(8.0, 12.0, n_scales)
    return simulate_table("sigmoid", truth.to_dict("records"), x, n_items=1000, seed=seed + 1)


def naive_fold_seconds(df, model: str, cfg: em.Config, n_folds: int) -> float:
    """Mean wall time of one fold when the model is rebuilt and recompiled for it."""
    M = get(model)
    t = em.load_scores(df)
    md = M.prepare(t, cfg.replace(model=model))
    xs = np.sort(md.obs["x"].round(9).unique())
    times = []
    for i, xf in enumerate(xs[:n_folds]):
        t0 = time.perf_counter()
        train = t.data[t.data["x"].round(9) != xf].reset_index(drop=True)
        sub = em.ScoreTable(data=train, scale=t.scale, dropped=t.dropped)
        pm_model, _ = M.build(sub, cfg.replace(model=model))
        sampler = CompiledSampler(pm_model, cfg)
        sampler.sample(seed=int(cfg.seed) + i)
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--naive-folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"load before: {subprocess.getoutput('uptime')}")
    df = table()
    models = ["sigmoid", "powerlaw", "loglinear"]
    cfg = em.Config(draws=a.draws, tune=a.tune, seed=a.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = em.compare(df, models=models, cv="loso", config=cfg)
        total = time.perf_counter() - t0
    d = res.diagnostics
    n_folds = int(d.groupby("model").size().iloc[0])
    print(f"LOSO: 20 tasks x 8 scales x {len(models)} models, {n_folds} folds per model, "
          f"draws={a.draws}, tune={a.tune}, chains={cfg.chains}")
    print(f"  total wall time: {total:.1f} s")
    per_fold_compiled = {}
    for m in models:
        comp = res.timing[m]["compile"]
        refit = d.loc[d["model"] == m, "sample_seconds"]
        per_fold_compiled[m] = (comp + res.timing[m]["sample"]) / n_folds
        print(f"  {m:9s}: compile {comp:5.1f} s, refit mean {refit.mean():.2f} s "
              f"(min {refit.min():.2f}, max {refit.max():.2f}), fold incl. amortised compile "
              f"{per_fold_compiled[m]:.2f} s; worst R-hat {d.loc[d['model'] == m, 'rhat_max'].max():.3f}, "
              f"min ESS {d.loc[d['model'] == m, 'ess_bulk_min'].min():.0f}")
    print(f"  overall preferred: {res.overall['preferred'].iat[0]} "
          f"(weights {dict(zip(res.overall['model'], res.overall['weight'].round(3), strict=True))})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = naive_fold_seconds(df, "sigmoid", cfg, a.naive_folds)
    print(f"naive recompile-per-fold (sigmoid, {a.naive_folds} folds): {naive:.2f} s per fold; "
          f"projected full naive LOSO {naive * n_folds * len(models):.0f} s")
    print(f"ratio naive / compiled per fold (sigmoid): {naive / per_fold_compiled['sigmoid']:.1f}x")
    print(f"ratio projected naive total / measured total: "
          f"{naive * n_folds * len(models) / total:.1f}x")
    print(f"load after: {subprocess.getoutput('uptime')}")


if __name__ == "__main__":
    main()
