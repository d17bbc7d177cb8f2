"""Back-test tables of docs/backtest.md on the bundled real data (one command reruns them).

    python validation/backtest_tables.py [--holdout 1] [--seed 1] [--draws 500] [--tune 500]
        [--datasets obsscaling_emergent,bbh,pythia_opt_bloom] [--doc docs/backtest.md]
        [--from-results]   # only rewrite the docs table from docs/results/backtest_*.json

For each bundled dataset, holds out the largest model of each family of every curve with at
least 4 sizes, forecasts it from the smaller ones with the package (``emergence``) and each
baseline, and writes:

- ``docs/results/backtest_<dataset>.json``: the summary per method, the configuration, the
  training fits' diagnostics and timing (the per-point records are in the full result, written
  with ``--full DIR``);
- the markdown table between the ``backtest-table`` markers of ``docs/backtest.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import warnings
from pathlib import Path

import pandas as pd

import emergence as em
from emergence._io import atomic_write_json, atomic_write_text

DATASETS = ("obsscaling_emergent", "bbh", "pythia_opt_bloom")
START, END = "<!-- backtest-table:start -->", "<!-- backtest-table:end -->"
COLS = ["method", "n", "coverage_50", "coverage_80", "coverage_90", "mean_width_90",
        "mean_log_score", "crps", "n_failed"]


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (numbers to 3 decimals)."""
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def _in_repo(source: str | None) -> str | None:
    """The data file relative to the working directory (the repository root) when inside it:
    the committed results carry no path of the machine that made them."""
    if not source:
        return source
    path = Path(source)
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else source


def run(name: str, args: argparse.Namespace) -> dict:
    """Back-test one dataset; return what the docs need."""
    table = em.datasets.load(name)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt = em.backtest(table, holdout=args.holdout, seed=args.seed, draws=args.draws,
                         tune=args.tune, chains=args.chains)
    seconds = time.perf_counter() - t0
    if args.full:
        bt.save(Path(args.full) / f"backtest_{name}.json")
    out = {"dataset": name, "date": dt.date.today().isoformat(), "seconds": round(seconds, 1),
           "curves": len(bt.curves), "skipped": len(bt.skipped),
           "points": int(bt.records.groupby("method").size().max()),
           "summary": bt.summary().to_dict("records"), "fits": bt.fits,
           "config": {**bt.config, "source": _in_repo(bt.config.get("source"))},
           "warnings": sorted({str(w.message)[:300] for w in caught})}
    atomic_write_json(Path("docs/results") / f"backtest_{name}.json", out)
    print(f"{name}: {out['curves']} curves, {seconds:.0f} s")
    print(bt.summary()[COLS].round(3).to_string(index=False))
    return out


def _columns(df: pd.DataFrame) -> pd.DataFrame:
    return df[[c for c in (*COLS, "median_log_score") if c in df]]


def block(results: list[dict], args: argparse.Namespace) -> str:
    """The markdown written between the markers of the docs page."""
    c = results[0]["config"]
    cmd = (f"python validation/backtest_tables.py --holdout {c['holdout']} --seed {c['seed']} "
           f"--draws {c['fit']['draws']} --tune {c['fit']['tune']} --chains {c['fit']['chains']}"
           + (f" --datasets {args.datasets}" if args.datasets != ",".join(DATASETS) else ""))
    parts = [f"Made by `{cmd}` on {results[0]['date']} (2 cores shared with other jobs: "
             "the times are inflated).", ""]
    for r in results:
        f = r["fits"][0] if r["fits"] else {}
        diag = (f"fit: R-hat max {f.get('rhat_max', float('nan')):.3f}, bulk ESS min "
                f"{f.get('ess_bulk_min', float('nan')):.0f}, {f.get('divergences', 0)} "
                "divergences" if f else "")
        parts += [f"**{r['dataset']}** -- {r['curves']} curves back-tested ({r['skipped']} with "
                  f"too few sizes), {r['points']} held-out points, {r['seconds']:.0f} s; {diag}.",
                  "", markdown_table(_columns(pd.DataFrame(r["summary"]))), ""]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdout", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--doc", default="docs/backtest.md")
    ap.add_argument("--full", default=None, help="folder for the full results (JSON)")
    ap.add_argument("--from-results", action="store_true",
                    help="rebuild the docs table from docs/results/backtest_*.json, no rerun")
    args = ap.parse_args()
    names = args.datasets.split(",")
    if args.from_results:
        results = [json.loads((Path("docs/results") / f"backtest_{n}.json").read_text())
                   for n in names]
    else:
        results = [run(n, args) for n in names]
    doc = Path(args.doc)
    if set(names) != set(DATASETS):
        # the block holds every dataset's table under one header (command and date): a subset
        # would replace the others' tables (it did, 2026-11-27); edit the page by hand instead
        print(f"{doc} not rewritten: --datasets is a subset of {','.join(DATASETS)}; the "
              "results are in docs/results/backtest_<dataset>.json")
        return
    text = doc.read_text(encoding="utf-8") if doc.exists() else f"{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        atomic_write_text(doc, f"{head}{START}\n{block(results, args)}\n{END}{tail}")
        print(f"updated {doc}")
    else:
        print(f"{doc} has no {START} / {END} markers; table not written")


if __name__ == "__main__":
    main()
