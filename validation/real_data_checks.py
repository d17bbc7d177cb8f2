"""Verdicts of ``emergence.check`` on the bundled real data, at the package defaults.

    python validation/real_data_checks.py [--cases obsscaling_emergent,bbh,...] [--seed 1]
    python validation/real_data_checks.py --tables-only   # rebuild the markdown from the JSON

Every case is checked in its own run of ``em.check`` (default comparison: leave-one-scale-out
of sigmoid / power law / log-linear; noise-model, pooling and predictive checks on). Results go
to ``docs/results/check_<case>.json`` (records, config, notes, seconds, load average) and the
generated tables (verdict and reason counts per table, diagnostics-failure share, the GPT-Neo/J
and Pythia arithmetic curves) to ``docs/results/check_tables.md``; docs/check_results.md
quotes them and reads them.

Cases (see data/README.md for sources and caveats):

- ``obsscaling_emergent``: ObsScaling (Ruan et al. 2024) GPT-3 arithmetic (4 tasks),
  word_unscrambling, ipa_transliterate (exact match and BLEU), parsinlu_qa, the five families
  with >= 5 sizes;
- ``bbh``: ObsScaling BIG-Bench Hard subtasks (CoT, flexible extraction), 27 tasks x 9
  families; ``bbh_subset``: its OPT, Pythia and Qwen1.5 curves (the families with >= 7 sizes);
- ``lambada_acc_vs_ppl``: Pythia / Pythia-deduped / OPT / BLOOM LAMBADA (zero-shot), accuracy
  and perplexity;
- ``mmlu_negative_control``: the same families' MMLU accuracy (flat at chance);
- ``opt_lm_eval``: the eight OPT models' raw lm-eval files (``data/lm-eval-raw/opt``, read with
  ``em.read_lm_eval``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

import emergence as em

RESULTS = Path("docs/results")
CASES: dict[str, dict[str, Any]] = {
    "obsscaling_emergent": dict(dataset="obsscaling_emergent", select={}),
    "bbh": dict(dataset="bbh", select={}),
    # the full BBH check (243 curves) took > 12 min under load; the documented subset: the three
    # families with >= 7 sizes (81 curves)
    "bbh_subset": dict(dataset="bbh", select={"family": ["OPT", "Pythia", "Qwen1.5"]}),
    "lambada_acc_vs_ppl": dict(dataset="pythia_opt_bloom",
                               select={"task": "lambada_openai", "shots": 0}),
    "mmlu_negative_control": dict(dataset="pythia_opt_bloom",
                                  select={"task": "mmlu", "metric": "acc", "shots": 0}),
    "opt_lm_eval": dict(folder="data/lm-eval-raw/opt", select={}),
}
#: Reasons that mean "no fit could say anything" (excluded from the diagnostics-failure share).
UNINFORMATIVE = ("flat_at_chance", "too_sparse")


def load_case(case: dict[str, Any]) -> em.ScoreTable:
    """The ScoreTable of one case (bundled dataset or an lm-eval folder)."""
    if "folder" in case:
        return em.read_lm_eval(case["folder"], warn=False, **case["select"])
    return em.datasets.load(case["dataset"], **case["select"])


def run_case(name: str, seed: int) -> dict[str, Any]:
    """Check one case at the defaults; save and return its JSON document."""
    table = load_case(CASES[name])
    load0 = os.getloadavg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = em.check(table, seed=seed)
        secs = time.perf_counter() - t0
    d = table.data
    doc = {"case": name, "seed": seed, "seconds": round(secs, 1),
           "loadavg_start": [round(v, 2) for v in load0],
           "loadavg_end": [round(v, 2) for v in os.getloadavg()],
           "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
           "emergence_version": em.__version__,
           "table": {"rows": len(d), "tasks": int(d["task"].nunique()),
                     "models": int(d["model"].nunique())},
           "config": res.config.as_dict(), "notes": res.notes, "records": res.to_records()}
    path = RESULTS / f"check_{name}.json"
    em._io.atomic_write_json(path, doc)
    print(f"{name}: {len(res.records)} curves in {secs:.0f} s -> {path}", flush=True)
    return doc


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(str(v).replace("|", "/") for v in r) + " |"
            for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def counts_section(doc: dict[str, Any]) -> str:
    """Verdict and reason counts of one case, and its diagnostics-failure share."""
    recs = doc["records"]
    verdicts = Counter(r["verdict"] for r in recs)
    reasons = Counter(c for r in recs for c in r["reasons"])
    fitted = [r for r in recs if not set(r["reasons"]) & set(UNINFORMATIVE)]
    failed = sum("diagnostics_failed" in r["reasons"] for r in fitted)
    share = failed / len(fitted) if fitted else float("nan")
    t = doc["table"]
    out = [f"\n### {doc['case']}\n",
           f"{t['rows']} rows, {t['tasks']} tasks, {t['models']} models, {len(recs)} curves; "
           f"check took {doc['seconds']:.0f} s (load average {doc['loadavg_start'][0]:.1f} at "
           f"start, {doc['loadavg_end'][0]:.1f} at end; {doc['date_utc']} UTC).\n",
           f"`diagnostics_failed` on **{failed} of {len(fitted)}** fitted curves "
           f"({100 * share:.1f} %; flat-at-chance and too-sparse curves excluded).\n",
           "Verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()) + ".\n",
           "Reasons: " + ", ".join(f"`{k}` {v}" for k, v in reasons.most_common()) + ".\n"]
    if doc["notes"]:
        out.append("Notes: " + " ".join(doc["notes"]) + "\n")
    return "\n".join(out)


def fmt(v: Any) -> str:
    """Two decimals, blank for missing."""
    return "" if v is None or v != v else f"{v:.2f}"


def curves_table(recs: list[dict[str, Any]]) -> str:
    """The per-curve table of a list of records."""
    s = pd.DataFrame(recs)
    s["reasons"] = s["reasons"].map(", ".join)
    s["width [90 %]"] = [f"{fmt(a)} [{fmt(b)}, {fmt(c)}]" if a is not None else ""
                         for a, b, c in zip(s["width_median"], s["width_lo"], s["width_hi"],
                                            strict=True)]
    for c in ("p_sharp", "p_sharp_avg", "p_sharp_alt", "p_sharp_nopool"):
        s[c] = s[c].map(fmt)
    cols = ["task", "metric", "family", "verdict", "p_sharp", "p_sharp_avg", "p_sharp_alt",
            "p_sharp_nopool", "width [90 %]", "n_scales", "n_in_transition", "reasons"]
    return markdown_table(s[cols])


def arithmetic_section(doc: dict[str, Any]) -> str:
    """The 8 GPT-Neo/J and Pythia arithmetic curves of ObsScaling emergent."""
    recs = [r for r in doc["records"] if r["task"].startswith("arithmetic")
            and r["family"] in ("GPT-Neo/J", "Pythia")]
    n_smooth = sum(r["verdict"] == "smooth" for r in recs)
    return (f"\n### GPT-Neo/J and Pythia arithmetic (ObsScaling emergent)\n\n"
            f"{len(recs)} curves, {n_smooth} `smooth`. `p_sharp` is under the default noise "
            "model (logit-normal model-to-model variation), `p_sharp_alt` under the alternative "
            "(binomial item sampling only), `p_sharp_nopool` the curve alone (stage 1), "
            "`p_sharp_avg` averaged over curve shapes with the comparison's weights.\n\n"
            + curves_table(recs) + "\n")


def tables(names: list[str]) -> str:
    """The generated markdown of every case with saved results."""
    parts = ["# Generated tables (validation/real_data_checks.py)\n"]
    for name in names:
        path = RESULTS / f"check_{name}.json"
        if not path.exists():
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "records" not in doc or "case" not in doc:
            continue
        parts.append(counts_section(doc))
        if name == "obsscaling_emergent":
            parts.append(arithmetic_section(doc))
        fitted = [r for r in doc["records"] if "flat_at_chance" not in r["reasons"]]
        if fitted and len(fitted) <= 60:
            parts.append(f"\nCurves of {name} (flat-at-chance ones omitted):\n\n"
                         + curves_table(fitted) + "\n")
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--tables-only", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "check_tables.md")
    args = ap.parse_args()
    names = args.cases.split(",")
    if not args.tables_only:
        for name in names:
            run_case(name, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(tables(list(CASES)), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
