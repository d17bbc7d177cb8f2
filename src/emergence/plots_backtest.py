"""Figures of a back-test: forecast panels per curve and calibration (they only read results).

* :func:`plot_backtest_curve` -- one curve: training points, held-out points, and the
  predictive fan (median, central 50 % and 90 % bands) of each method.
* :func:`plot_backtest_curves` -- a grid of such panels.
* :func:`plot_calibration` -- coverage of central intervals against their nominal level
  (:meth:`emergence.backtest.BacktestResult.calibration`) and a PIT histogram per method.
* :func:`backtest_section` -- the context of the report partial ``_backtest.html.j2``.

Nothing here fits or scores: every number comes from the :class:`BacktestResult`.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .backtest import BacktestResult
from .plots import _plt  # one headless-safe pyplot import for every figure

#: Colours of the methods (the package first).
COLORS = {"emergence": "#1f77b4", "logistic_lsq": "#ff7f0e", "linear": "#2ca02c",
          "persistence": "#9467bd"}


def _color(method: str, i: int) -> str:
    return COLORS.get(method, f"C{(i + 4) % 10}")


def plot_backtest_curve(result: BacktestResult, curve: int | str, *, ax: Any = None,
                        methods: Sequence[str] | None = None) -> Any:
    """Training points, held-out points and each method's predictive fan for one curve.

    Parameters
    ----------
    result : BacktestResult
        A back-test.
    curve : int or str
        Curve id (``result.curves["curve"]``) or label.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    methods : sequence of str, optional
        Methods to draw (default: all).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_backtest_curve(bt, 0)  # doctest: +SKIP
    """
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    cid = _curve_id(result, curve)
    label = result.curves.set_index("curve").loc[cid, "label"]
    for i, m in enumerate(methods or result.methods):
        fan = result.fans[(result.fans["method"] == m) & (result.fans["curve"] == cid)]
        if not len(fan):
            continue
        c = _color(m, i)
        ax.fill_between(fan["x"], fan["q05"], fan["q95"], color=c, alpha=0.12, lw=0)
        ax.fill_between(fan["x"], fan["q25"], fan["q75"], color=c, alpha=0.22, lw=0)
        ax.plot(fan["x"], fan["q50"], color=c, lw=1.3, label=m)
    tr = result.training[result.training["curve"] == cid]
    ax.plot(tr["x"], tr["y"], "o", color="black", ms=4, label="training", zorder=5)
    ho = result.records[(result.records["curve"] == cid)].drop_duplicates(["model", "x"])
    ax.plot(ho["x"], ho["observed"], "*", color="#d62728", ms=11, mec="black", mew=0.6,
            label="held out", zorder=6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("log10 scale")
    ax.set_ylabel("score")
    ax.set_title(str(label), fontsize=8)
    return ax.figure


def _curve_id(result: BacktestResult, curve: int | str) -> int:
    if isinstance(curve, int | np.integer):
        if int(curve) not in set(result.curves["curve"]):
            raise KeyError(f"no back-tested curve {curve}; ids run 0..{len(result.curves) - 1}.")
        return int(curve)
    hit = result.curves.loc[result.curves["label"] == curve, "curve"]
    if not len(hit):
        raise KeyError(f"no back-tested curve {curve!r}; labels: "
                       f"{result.curves['label'].head(5).tolist()}...")
    return int(hit.iat[0])


def plot_backtest_curves(result: BacktestResult, curves: Sequence[int | str] | None = None, *,
                         max_panels: int = 12, ncols: int = 4,
                         methods: Sequence[str] | None = None) -> Any:
    """A grid of :func:`plot_backtest_curve` panels (the first ``max_panels`` curves by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    ids = list(result.curves["curve"]) if curves is None else list(curves)
    ids = ids[:max_panels]
    ncols = max(1, min(ncols, len(ids)))
    nrows = max(1, math.ceil(len(ids) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, cid in zip(axes.flat, ids, strict=False):
        plot_backtest_curve(result, cid, ax=ax, methods=methods)
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_calibration(result: BacktestResult, *, bins: int = 10,
                     methods: Sequence[str] | None = None) -> Any:
    """Coverage vs nominal level of central intervals, and PIT histograms, per method.

    A calibrated method follows the diagonal and has a flat PIT histogram; a U-shaped
    histogram means intervals too narrow, a hump too wide, a slope a biased forecast.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    methods = list(methods or result.methods)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    cal = result.calibration()
    ax1.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for i, m in enumerate(methods):
        g = cal[cal["method"] == m]
        ax1.plot(g["nominal"], g["coverage"], "o-", ms=3, color=_color(m, i), label=m)
    ax1.set_xlabel("nominal level of the central interval")
    ax1.set_ylabel("share of held-out scores inside")
    ax1.set_xlim(0, 1)
    ax1.set_ylim(0, 1)
    ax1.legend(fontsize=8)
    edges = np.linspace(0, 1, bins + 1)
    for i, m in enumerate(methods):
        pit = result.records.loc[result.records["method"] == m, "pit"].dropna()
        ax2.hist(pit, bins=edges, histtype="step", lw=1.5, color=_color(m, i), label=m,
                 density=True)
    ax2.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax2.set_xlabel("PIT of the held-out score")
    ax2.set_ylabel("density")
    ax2.set_title("uniform = calibrated", fontsize=9)
    fig.tight_layout()
    return fig


def _png(fig: Any, dpi: int = 72) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "" if not np.isfinite(v) else f"{v:.3f}"
    return str(v)


def backtest_section(result: BacktestResult, *, max_figures: int = 40) -> dict[str, Any]:
    """Context of the report partial ``_backtest.html.j2`` (tables as text, figures as PNG).

    Parameters
    ----------
    result : BacktestResult
        A back-test.
    max_figures : int
        Curves drawn as panels (in groups of 12); the others are in the tables only.
    """
    summ = result.summary()
    cfg = result.config
    fit = cfg.get("fit", {})
    ids = list(result.curves["curve"])[:max_figures]
    panels = [_png(plot_backtest_curves(result, ids[i:i + 12]), dpi=70)
              for i in range(0, len(ids), 12)]
    return {
        "summary_cols": list(summ.columns),
        "summary_rows": [[_fmt(v) for v in r] for r in summ.itertuples(index=False)],
        "calibration_figure": _png(plot_calibration(result), dpi=80),
        "panels": panels, "n_curves": len(result.curves), "n_drawn": len(ids),
        "skipped": [f"{r['label']}: {r['reason']}" for r in result.skipped.to_dict("records")],
        "fits": [f"{f['model']}: R-hat max {f['rhat_max']:.3f}, bulk ESS min "
                 f"{f['ess_bulk_min']:.0f}, {f['divergences']} divergences"
                 + (f" (failed: {'; '.join(f['failed'])})" if f.get("failed") else "")
                 for f in result.fits],
        "settings": (f"holdout {cfg.get('holdout')} largest per family; models "
                     f"{', '.join(cfg.get('models', []))} ({cfg.get('mixture')} weights); "
                     f"{cfg.get('n_draws')} draws per forecast; seed {cfg.get('seed')}; "
                     f"{fit.get('chains')} chains x ({fit.get('tune')} tune + "
                     f"{fit.get('draws')} draws)"),
        "failures": {str(r["method"]): int(r["n_failed"]) for r in summ.to_dict("records")
                     if r["n_failed"]},
    }
