"""Report sections: plain dicts of formatted cells for the template (no statistics here).

Numbers come from the results (``Fit.summary()``, check and comparison records, design and
SBC tables), caveats from :mod:`emergence.caveats`, figures from :mod:`emergence.plots`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .. import caveats as CV
from ._figures import figure_uri

VERDICT_CLASS = {"emergent": "v-emergent", "smooth": "v-smooth", "metric-induced": "v-metric",
                 "undetermined": "v-undetermined"}
#: Curves per width forest plot (one page).
WIDTH_PER_PAGE = 40


def fmt(v: Any, digits: int = 3) -> str:
    """A number for a table cell (``digits`` significant digits; empty for missing)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.{digits}g}"
    return str(v)


def fmt_p(v: Any) -> str:
    """A posterior probability for a table cell: two decimals, ``< 0.01`` / ``> 0.99`` at the
    ends (a probability estimated from draws is never exactly 0 or 1), ``—`` when missing."""
    try:
        p = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(p):
        return "—"
    return "< 0.01" if p < 0.005 else "> 0.99" if p > 0.995 else f"{p:.2f}"


def _interval(m: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    vals = [float(v) if v is not None else math.nan for v in (m, lo, hi)]
    if not math.isfinite(vals[0]):
        return ""
    return f"{vals[0]:.{digits}f} [{vals[1]:.{digits}f}, {vals[2]:.{digits}f}]"


def anchor(label: str) -> str:
    """An HTML id for a curve (stable, safe characters only)."""
    import hashlib

    return "curve-" + hashlib.sha1(label.encode("utf-8")).hexdigest()[:10]


def curve_label(rec: dict[str, Any]) -> str:
    """``task | metric | family`` (with shots and setting when set)."""
    shots = rec.get("shots")
    shots = None if shots in (None, "", "nan") else f"{shots}-shot"
    parts = [rec.get("task"), rec.get("metric"), rec.get("family"), shots, rec.get("setting")]
    return " | ".join(str(p) for p in parts if p not in (None, "", "nan"))


def _grey(scope: str, column: str) -> bool:
    return bool(scope) and column in CV.GREY_COLUMNS[scope]


# --------------------------------------------------------------------------------------------
def check_context(check: Any) -> dict[str, Any]:
    """Verdict table, conclusions, notes and per-curve reasons of a check (object or saved)."""
    records = list(check.records)
    table = CV.verdict_table(records)
    rows, details = [], []
    for rec, t in zip(records, table.to_dict("records"), strict=True):
        codes = [c for c in t["caveats"].split(";") if c]
        scope = t["grey"]
        label = curve_label(rec)
        rows.append({
            "label": label, "anchor": anchor(label), "task": rec.get("task"),
            "sub": " | ".join(str(rec.get(k)) for k in ("metric", "family") if rec.get(k)),
            "verdict": rec.get("verdict"), "vclass": VERDICT_CLASS.get(rec.get("verdict"), ""),
            "cells": [
                ("p_sharp_avg", fmt_p(t["p_sharp_avg"]), _grey(scope, "p_sharp_avg")),
                ("p_sharp", fmt_p(t["p_sharp"]), _grey(scope, "p_sharp")),
                ("width", _interval(t["width_median"], t["width_lo"], t["width_hi"]),
                 _grey(scope, "width")),
                ("n_scales", fmt(t["n_scales"]), False),
            ],
            "caveats": codes, "badges": [(CV.CAVEATS[c].badge, CV.CAVEATS[c].grey) for c in codes],
            "reasons": [str(r).replace("_", " ") for r in (rec.get("reasons") or [])],
            "grey": scope,
        })
        details.append({"label": label, "anchor": anchor(label), "verdict": rec.get("verdict"),
                        "vclass": VERDICT_CLASS.get(rec.get("verdict"), ""),
                        "badges": [(CV.CAVEATS[c].badge, CV.CAVEATS[c].grey) for c in codes],
                        "messages": list(rec.get("messages") or []), "grey": scope,
                        "numbers": _detail_numbers(t, rec)})
    return {"records": records, "verdicts": rows, "details": details,
            "conclusions": CV.conclusions(records), "check_notes": list(check.notes or [])}


def _detail_numbers(t: dict[str, Any], rec: dict[str, Any]) -> list[tuple[str, str, bool]]:
    scope = t["grey"]
    out = [
        (CV.LABELS["p_sharp_avg"], "no comparison ran" if fmt_p(t["p_sharp_avg"]) == "—"
         else fmt_p(t["p_sharp_avg"]),
         _grey(scope, "p_sharp_avg")),
        (CV.LABELS["p_sharp"], fmt_p(t["p_sharp"]), _grey(scope, "p_sharp")),
        ("width (decades) [90 %]", _interval(t["width_median"], t["width_lo"], t["width_hi"]),
         _grey(scope, "width")),
        ("threshold (log10 scale) [90 %]",
         _interval(t["threshold_median"], t["threshold_lo"], t["threshold_hi"]),
         _grey(scope, "threshold")),
        ("scales tested / in the rise", f"{fmt(rec.get('n_scales'))} / "
         f"{fmt(rec.get('n_in_transition')) or '-'}", False),
    ]
    w = rec.get("weights")
    if isinstance(w, dict) and w:
        out.append(("stacking weights", ", ".join(f"{m} {fmt(v, 2)}" for m, v in w.items()),
                    False))
    return [(k, v, g) for k, v, g in out if v]


# --------------------------------------------------------------------------------------------
def comparison_context(comparison: Any) -> dict[str, Any]:
    """Per-series elpd table of a comparison (object or saved records)."""
    if hasattr(comparison, "to_records"):
        records, notices = comparison.to_records(), list(comparison.notices or [])
    else:
        records, notices = comparison.records, list(comparison.notices or [])
    models = list(getattr(comparison, "models", []) or (records[0]["models"] if records else []))
    rows = []
    for rec in records:
        cells = []
        for m in models:
            d = (rec.get("models") or {}).get(m) or {}
            e, s, w = d.get("elpd"), d.get("se"), d.get("weight")
            cells.append("" if e is None else f"{e:.1f} ± {fmt(s, 2)} (w {fmt(w, 2)})")
        label = rec.get("series") or curve_label(rec)
        rows.append({"label": label, "cells": cells, "preferred": rec.get("preferred", ""),
                     "few": bool(rec.get("too_few_scales"))})
    return {"rows": rows, "models": models, "cv": getattr(comparison, "cv", ""),
            "notices": list(dict.fromkeys(notices))}


# --------------------------------------------------------------------------------------------
def fit_context(fit: Any, records: Sequence[dict[str, Any]], max_figures: int,
                fig_fmt: str) -> dict[str, Any]:
    """Fit summary table with caveats, paginated curve and width figures, diagnostics."""
    from ..plots import plot_curve_pages, plot_width

    summ = fit.summary()
    cav = CV.derive(summ, records, config=fit.config).iloc[:len(summ)]
    codes = cav["caveats"].tolist()
    rows = []
    for i, r in enumerate(summ.to_dict("records")):
        label = curve_label(r)
        scope = CV.grey_scope(codes[i])
        rows.append({
            "label": label, "anchor": anchor(label), "task": r["task"],
            "sub": f"{r['metric']} | {r['family']}",
            "cells": [
                (f"{int(r['n_scales'])} / {int(r['n_in_transition'])}", False),
                (_interval(r["threshold_median"], r["threshold_lo"], r["threshold_hi"]),
                 _grey(scope, "threshold")),
                (_interval(r["width_median"], r["width_lo"], r["width_hi"]),
                 _grey(scope, "width")),
                (fmt_p(r["p_sharp"]), _grey(scope, "p_sharp")),
                (_ess_cell(r), False),
            ],
            "caveats": codes[i], "badges": [(CV.CAVEATS[c].badge, CV.CAVEATS[c].grey) for c in codes[i]],
            "grey": scope,
        })
    n_fig = min(len(summ), max_figures)
    curve_figs = [figure_uri(f, fig_fmt) for f in
                  plot_curve_pages(fit, list(range(n_fig)), summary=summ, caveats=codes)]
    width_figs = [figure_uri(plot_width(fit, series=list(range(s, min(s + WIDTH_PER_PAGE,
                                                                      len(summ)))),
                                        summary=summ, caveats=codes), fig_fmt)
                  for s in range(0, len(summ), WIDTH_PER_PAGE)]
    counts = {CV.CAVEATS[c].badge: sum(c in cs for cs in codes) for c in CV.ORDER}
    return {"summary_rows": rows, "curve_figures": curve_figs, "width_figures": width_figs,
            "n_curves": len(summ), "n_figures": n_fig,
            "caveat_counts": [(b, n) for b, n in counts.items() if n],
            "sharp_width": fit.config.sharp_width, "scale": fit.table.scale,
            "diagnostics": _diagnostics(fit), "provenance": _provenance(fit),
            "config": json.dumps(fit.config.as_dict(), indent=1, sort_keys=True),
            "seed": fit.config.seed}


def _ess_cell(r: dict[str, Any]) -> str:
    """R-hat / bulk ESS, and after a population step the effective stage-1 draws its pooled
    draws were picked from (``ess_pool``)."""
    cell = f"{r['rhat_max']:.3f} / {r['ess_bulk_min']:.0f}"
    pool = r.get("ess_pool", float("nan"))
    return cell + (f" / {pool:.0f}" if pool == pool and pool is not None else "")


def _diagnostics(fit: Any) -> dict[str, Any]:
    from ..inference import DIAGNOSTIC_HELP

    d = fit.diagnostics
    return {"rhat_max": f"{d['rhat_max']:.3f}", "ess_bulk_min": f"{d['ess_bulk_min']:.0f}",
            "ess_tail_min": f"{d['ess_tail_min']:.0f}", "divergences": d["divergences"],
            "chains": d["chains"], "draws": d["draws"], "failed": fit.failed,
            "timing": f"{fit.timing.compile:.1f} s compile, {fit.timing.sample:.1f} s sampling",
            "help": DIAGNOSTIC_HELP}


def _provenance(fit: Any) -> dict[str, Any]:
    t = fit.table
    dropped = t.dropped
    reasons = dropped["reason"].value_counts().to_dict() if len(dropped) else {}
    return {"source": t.source, "rows": len(t.data), "tasks": t.data["task"].nunique(),
            "models": t.data["model"].nunique(), "families": t.data["family"].nunique(),
            "scale": t.scale, "dropped": len(dropped),
            "dropped_reasons": [f"{n} row(s): {r}" for r, n in reasons.items()],
            "notes": list(dict.fromkeys(t.notes)),
            "selection": json.dumps(t.selection, default=str)}


# --------------------------------------------------------------------------------------------
def design_section(study: Any, fig_fmt: str) -> dict[str, Any]:
    """Per-grid table (and figure, for a study object) of a design analysis."""
    from .saved import SavedDesign

    if isinstance(study, SavedDesign):
        recs, truth, seed, figure = study.rows, study.truth, study.seed, None
    else:
        from ..plots import plot_design

        recs = study.summary().to_dict("records")
        truth, seed = study.truth.label, study.config.seed
        figure = figure_uri(plot_design(study), fig_fmt)
    rows = []
    for r in recs:
        g = r["grid"]
        rows.append([f"{g[0]:.2f}..{g[-1]:.2f} ({len(g)} scales)",
                     fmt(r.get("n_in_rise_median"), 2), fmt(r.get("replicates")),
                     fmt(r.get("width_interval_median"), 3), fmt(r.get("p_sharp_mean"), 2),
                     fmt(r.get("correct_rate"), 2)])
    return {"truth": truth, "rows": rows, "figure": figure, "seed": seed}


def sbc_section(res: Any, fig_fmt: str) -> dict[str, Any]:
    """Uniformity tests (p-values to two significant digits) and rank histograms."""
    from ..plots import format_p, plot_sbc_ranks

    t = res.tests()
    rows = [[str(r["quantity"]), str(int(r["n"])), fmt(float(r["chi2"]), 3),
             format_p(float(r["p_value"])), fmt(float(r["design_effect"]), 3),
             format_p(float(r["p_clustered"])), fmt(float(r["ecdf_max_dev"]), 3),
             "yes" if r["passes"] else "no"] for _, r in t.iterrows()]
    sims = int(res.ranks["simulation"].nunique()) if len(res.ranks) else 0
    cfg = res.config
    return {"model": res.model, "rows": rows, "passed": res.passed, "simulations": sims,
            "divergent": res.divergent_simulations, "n_ranks": res.n_ranks, "bins": res.bins,
            "settings": f"{cfg.chains} chains x ({cfg.tune} tune + {cfg.draws} draws), "
                        f"{cfg.parametrization}, target_accept {cfg.target_accept}, "
                        f"seed {cfg.seed}",
            "figure": figure_uri(plot_sbc_ranks(res), fig_fmt)}


def backtest_section(doc: dict[str, Any]) -> dict[str, Any]:
    """A backtest document's ``summary`` rows as a table, its scalar fields as a list."""
    rows = list(doc.get("summary") or [])
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    meta = [(k, fmt(v)) for k, v in doc.items()
            if k not in ("kind", "summary", "config") and isinstance(v, str | int | float | bool)]
    return {"title": str(doc.get("title") or "Backtest"), "columns": cols, "meta": meta,
            "rows": [[fmt(r.get(c)) for c in cols] for r in rows],
            "notes": [str(n) for n in (doc.get("notes") or [])]}
