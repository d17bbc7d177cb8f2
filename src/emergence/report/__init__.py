"""HTML and PDF reports from one source (a jinja2 template; PDF rendered by WeasyPrint).

The report only *reads* results: tables come from ``Fit.summary()``, ``CheckResult.records``,
``Comparison.by_task`` and the diagnostics; figures come from the public functions of
:mod:`emergence.plots`. It computes no statistics itself. All text from user data (task, model,
family names) goes through jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .._io import atomic_write, atomic_write_text
from ..messages import DIAGNOSTIC_HELP

FORMATS = (".html", ".pdf")
DEFAULT_DIR = Path("reports")
VERDICT_CLASS = {"emergent": "v-emergent", "smooth": "v-smooth", "metric-induced": "v-metric",
                 "undetermined": "v-undetermined"}
LIBRARIES = ("emergence-bayes", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas",
             "xarray", "matplotlib", "jinja2", "weasyprint")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def _png(fig: Any, dpi: int = 72) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.{digits}g}"
    return str(v)


def _anchor(i: int) -> str:
    return f"series-{i}"


def _fit_of(result: Any) -> Any:
    from ..results import Fit

    if isinstance(result, Fit):
        return result
    return getattr(result, "fit", None)


def _series_sections(fit: Any, records: dict[str, dict[str, Any]] | None,
                     weights: dict[str, dict[str, float]] | None, max_figures: int) -> list[dict]:
    from ..plots import plot_curve, plot_width_posterior

    summ = fit.summary()
    out = []
    for i, r in summ.iterrows():
        label = fit.series["label"].iat[i]
        rec = (records or {}).get(label)
        sec = {
            "anchor": _anchor(i), "label": label, "task": r["task"], "metric": r["metric"],
            "family": r["family"],
            "numbers": [
                ("threshold (log10 scale)", f"{r['threshold_median']:.2f} "
                 f"[{r['threshold_lo']:.2f}, {r['threshold_hi']:.2f}]"),
                ("width (decades)", f"{r['width_median']:.2f} [{r['width_lo']:.2f}, "
                 f"{r['width_hi']:.2f}]"),
                ("P(sharp)", f"{r['p_sharp']:.2f}"),
                ("scales tested / in the rise", f"{int(r['n_scales'])} / "
                 f"{int(r['n_in_transition'])}"),
                ("R-hat max / bulk ESS min", f"{r['rhat_max']:.3f} / {r['ess_bulk_min']:.0f}"),
            ],
            "note": r.get("sampling_note", ""),
            "verdict": rec["verdict"] if rec else None,
            "vclass": VERDICT_CLASS.get(rec["verdict"], "") if rec else "",
            "messages": rec["messages"] if rec else [],
            "weights": [(m, f"{w:.2f}") for m, w in (weights or {}).get(label, {}).items()],
            "figures": [],
        }
        if i < max_figures:
            sec["figures"] = [_png(plot_curve(fit, i)), _png(plot_width_posterior(fit, i))]
        out.append(sec)
    return out


def _context(results: Sequence[Any], title: str, max_figures: int) -> dict[str, Any]:
    from ..check import CheckResult
    from ..compare import Comparison
    from ..design import DesignResult
    from ..results import Fit
    from ..sbc import SBCResult

    fit = None
    check = None
    comparison = None
    studies = []
    calibrations = []
    for r in results:
        if isinstance(r, DesignResult):
            studies.append(r)
        elif isinstance(r, SBCResult):
            calibrations.append(r)
        elif isinstance(r, CheckResult):
            check = r
            comparison = comparison or r.comparison
        elif isinstance(r, Comparison):
            comparison = r
        elif isinstance(r, Fit):
            fit = r
        else:
            raise TypeError(
                f"cannot report a {type(r).__name__}; pass a Fit, a Comparison, a CheckResult, "
                "a DesignResult, an SBCResult or a list of them."
            )
    fit = fit or (_fit_of(check) if check else None)
    if comparison is not None and fit is None:
        fit = (getattr(comparison, "fits", {}) or {}).get("sigmoid")
    records = {}
    verdict_rows = []
    if check is not None:
        for rec in check.records:
            lab = _label(rec)
            records[lab] = rec
            verdict_rows.append({
                "label": lab, "task": rec["task"], "metric": rec["metric"], "family": rec["family"],
                "verdict": rec["verdict"], "vclass": VERDICT_CLASS.get(rec["verdict"], ""),
                "p_sharp": _fmt(rec.get("p_sharp_avg") if rec.get("p_sharp_avg") is not None
                                else rec.get("p_sharp"), 2),
                "width": _fmt(rec.get("width_median"), 2),
                "threshold": _fmt(rec.get("threshold_median"), 3),
                "n_scales": rec.get("n_scales"), "reasons": ", ".join(rec["reasons"]),
            })
    weights = {}
    comparison_rows = []
    if comparison is not None:
        bt = comparison.by_task
        for lab, g in bt.groupby("label", sort=False):
            weights[lab] = {str(m): float(w) for m, w in zip(g["model"], g["weight"], strict=True)}
            comparison_rows.append({
                "label": lab, "preferred": str(g["preferred"].iat[0]),
                "cells": [f"{e:.1f} ± {s:.1f} (w {w:.2f})" for e, s, w in
                          zip(g["elpd"], g["se"], g["weight"], strict=True)],
                "models": [str(m) for m in g["model"]],
            })
    ctx: dict[str, Any] = {
        "title": title, "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "verdicts": verdict_rows, "comparison": comparison_rows,
        "comparison_models": list(comparison.models) if comparison is not None else [],
        "comparison_cv": getattr(comparison, "cv", ""),
        "comparison_notices": list(getattr(comparison, "notices", []) or []),
        "versions": _versions(), "series": [], "summary_rows": [], "diagnostics": None,
        "provenance": None, "config": None, "help": DIAGNOSTIC_HELP,
        "check_notes": list(check.notes) if check is not None else [],
        "designs": [_design_section(d) for d in studies],
        "sbc": [_sbc_section(c) for c in calibrations],
    }
    if fit is not None:
        ctx["series"] = _series_sections(fit, records, weights, max_figures)
        labels = {s["label"]: s["anchor"] for s in ctx["series"]}
        for row in verdict_rows:
            row["anchor"] = labels.get(row["label"])
        summ = fit.summary()
        for i, r in summ.iterrows():
            ctx["summary_rows"].append({
                "anchor": _anchor(i), "label": fit.series["label"].iat[i],
                "cells": [r["task"], r["metric"], r["family"],
                          f"{int(r['n_scales'])} / {int(r['n_in_transition'])}",
                          f"{r['threshold_median']:.2f} [{r['threshold_lo']:.2f}, "
                          f"{r['threshold_hi']:.2f}]",
                          f"{r['width_median']:.2f} [{r['width_lo']:.2f}, {r['width_hi']:.2f}]",
                          f"{r['p_sharp']:.2f}", f"{r['rhat_max']:.3f}",
                          f"{r['ess_bulk_min']:.0f}"],
            })
        d = fit.diagnostics
        ctx["diagnostics"] = {
            "rhat_max": f"{d['rhat_max']:.3f}", "ess_bulk_min": f"{d['ess_bulk_min']:.0f}",
            "ess_tail_min": f"{d['ess_tail_min']:.0f}", "divergences": d["divergences"],
            "chains": d["chains"], "draws": d["draws"], "failed": fit.failed,
            "timing": f"{fit.timing.compile:.1f} s compile, {fit.timing.sample:.1f} s sampling",
        }
        t = fit.table
        dropped = t.dropped
        reasons = dropped["reason"].value_counts().to_dict() if len(dropped) else {}
        ctx["provenance"] = {
            "source": t.source, "rows": len(t.data), "tasks": t.data["task"].nunique(),
            "models": t.data["model"].nunique(), "families": t.data["family"].nunique(),
            "scale": t.scale, "dropped": len(dropped),
            "dropped_reasons": [f"{n} row(s): {r}" for r, n in reasons.items()],
            "notes": list(t.notes), "selection": json.dumps(t.selection, default=str),
        }
        ctx["config"] = json.dumps(fit.config.as_dict(), indent=1, sort_keys=True)
        ctx["seed"] = fit.config.seed
        ctx["summary_cols"] = SUMMARY_COLS
    return ctx


def _design_section(study: Any) -> dict[str, Any]:
    from ..plots import plot_design

    s = study.summary()
    rows = [[f"{g[0]:.2f}..{g[-1]:.2f} ({len(g)} scales)", _fmt(r["n_in_rise_median"], 2),
             str(int(r["replicates"])), _fmt(r["width_interval_median"], 3),
             _fmt(r["p_sharp_mean"], 2), _fmt(r["correct_rate"], 2)]
            for g, (_, r) in zip(s["grid"], s.iterrows(), strict=True)]
    return {"truth": study.truth.label, "rows": rows, "figure": _png(plot_design(study), dpi=80),
            "seed": study.config.seed}


def _sbc_section(res: Any) -> dict[str, Any]:
    from ..plots import plot_sbc_ranks

    t = res.tests()
    rows = [[str(r["quantity"]), str(int(r["n"])), _fmt(float(r["chi2"]), 3),
             _fmt(float(r["p_value"]), 3), _fmt(float(r["ecdf_max_dev"]), 3),
             "yes" if r["passes"] else "no"] for _, r in t.iterrows()]
    sims = int(res.ranks["simulation"].nunique()) if len(res.ranks) else 0
    cfg = res.config
    return {"model": res.model, "rows": rows, "passed": res.passed, "simulations": sims,
            "divergent": res.divergent_simulations, "n_ranks": res.n_ranks, "bins": res.bins,
            "settings": f"{cfg.chains} chains x ({cfg.tune} tune + {cfg.draws} draws), "
                        f"{cfg.parametrization}, target_accept {cfg.target_accept}, "
                        f"seed {cfg.seed}",
            "figure": _png(plot_sbc_ranks(res), dpi=72)}


SUMMARY_COLS = ["task", "metric", "family", "scales / in rise", "threshold [90 %]",
                "width [90 %]", "P(sharp)", "R-hat", "bulk ESS"]


def _label(rec: dict[str, Any]) -> str:
    from ..data import series_label

    return series_label({**rec, "shots": "", "setting": ""})


def render_html(results: Any | Sequence[Any], *, title: str = "emergence report",
                max_figures: int = 150) -> str:
    """Render the report as a self-contained HTML string (figures inlined, no network)."""
    import jinja2

    res = list(results) if isinstance(results, list | tuple) else [results]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emergence", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
    )
    return env.get_template("report.html.j2").render(**_context(res, title, max_figures))


def report(results: Any | Sequence[Any], path: str | Path | None = None, *,
           title: str = "emergence report", max_figures: int = 150) -> Path:
    """Write an HTML or PDF report of a Fit, Comparison, CheckResult or a list of them.

    Parameters
    ----------
    results : result or list of results
        What to report (a check result brings its fit and comparison along).
    path : str or Path, optional
        Output file, ``.html`` or ``.pdf``; default ``reports/report.html``.
    title : str
        Title of the report.
    max_figures : int
        Series with figures (the others are listed in tables only), to keep the file small.

    Returns
    -------
    Path
        The written file (written atomically).
    """
    path = Path(path) if path is not None else DEFAULT_DIR / "report.html"
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"report path {str(path)!r} must end in .html or .pdf (got {suffix!r}).")
    page = render_html(results, title=title, max_figures=max_figures)
    if suffix == ".html":
        return atomic_write_text(path, page)
    try:
        import weasyprint
    except ImportError as exc:
        raise ImportError("PDF reports need WeasyPrint: pip install 'emergence-bayes[pdf]'.") from exc
    doc = weasyprint.HTML(string=page, base_url=str(path.parent))
    return atomic_write(path, lambda p: doc.write_pdf(str(p)))


__all__ = ["render_html", "report"]
_ = html  # html escaping is done by jinja2's autoescape
