"""Pool saved SBC runs of one model and test the pooled ranks (docs/validation.md).

    python validation/pool_sbc.py docs/results/sbc_sigmoid_seed1[2-6]_d500_fitdefaults_*.json

Prints each run's clustered p-value per quantity, then, for the ranks of all runs together,
the package's own tests (:meth:`emergence.sbc.SBCResult.tests`: chi-square over the bins,
with the clustering correction for per-curve quantities; each run's simulations stay apart)
and each quantity's bin counts. The runs must share the model and the number of rank values.
"""

from __future__ import annotations

import argparse

import pandas as pd

from emergence.sbc import SBCResult, load_sbc


def pooled(runs: list[SBCResult]) -> SBCResult:
    """One SBCResult holding the ranks of every run, simulations numbered apart per run."""
    if len({(r.model, r.n_ranks, r.bins) for r in runs}) != 1:
        raise SystemExit("the runs differ in model, rank values or bins: they cannot be pooled")
    parts, offset = [], 0
    for r in runs:
        d = r.ranks.copy()
        d["simulation"] = d["simulation"] + offset
        offset = int(d["simulation"].max()) + 1
        parts.append(d)
    first = runs[0]
    return SBCResult(pd.concat(parts, ignore_index=True), first.n_ranks, first.model,
                     first.config, first.bins)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    runs = [load_sbc(f) for f in args.files]
    for f, r in zip(args.files, runs, strict=True):
        t = r.tests().set_index("quantity")["p_clustered"]
        print(f, " ".join(f"{q} {p:.3f}" for q, p in t.items()))
    pool = pooled(runs)
    print(f"\npooled: {len(runs)} runs, {pool.ranks['simulation'].nunique()} simulations")
    for _, row in pool.tests().iterrows():
        counts = pool.bin_counts(row["quantity"])
        print(f"{row['quantity']:14s} n {row['n']:5d}  p {row['p_value']:.3f}  "
              f"p_clustered {row['p_clustered']:.3f}  bins {counts.tolist()}")


if __name__ == "__main__":
    main()
