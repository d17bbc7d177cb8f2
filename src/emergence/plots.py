"""Plots: matplotlib functions that only read results (``ax=`` in, figure out).

Nothing here fits or changes a result: posterior curves come from :meth:`emergence.Fit.curve`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .results import Fit


def _label(text: object) -> str:
    """User text for a figure: ``$`` escaped so matplotlib never parses it as mathtext."""
    return str(text).replace("$", r"\$")

def _plt() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            import matplotlib.pyplot as plt
        except Exception:  # pragma: no cover - headless fallbacks
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def binomial_interval(k: np.ndarray, n: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval for a binomial proportion (``k`` successes of ``n``)."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = np.where(k > 0, beta.ppf(a, k + 0.5, n - k + 0.5), 0.0)
    hi = np.where(k < n, beta.ppf(1 - a, k + 0.5, n - k + 0.5), 1.0)
    return lo, hi


def plot_curve(fit: Fit, series: int | str, *, ax: Any = None, n_grid: int = 120,
               bands: Sequence[float] = (0.5, 0.9), show_sharp: bool = True) -> Any:
    """Data and posterior curve of one series: median and central bands (50 % and 90 %).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    series : int or str
        Position in ``fit.series`` or its label.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    n_grid : int
        Points on the scale grid.
    bands : sequence of float
        Central posterior bands to shade.
    show_sharp : bool
        Write the width median and P(sharp) in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    standalone = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 3.2))
    fig = ax.figure
    i = fit._series_index(series)
    s = fit.series.iloc[i]
    obs = fit.model_data.obs
    rows = obs[obs["series_idx"] == i]
    lo_x = min(float(s["x_min"]) - 0.5, float(np.median(fit.draws("threshold")[:, i])) - 0.5)
    hi_x = max(float(s["x_max"]) + 0.5, float(np.median(fit.draws("threshold")[:, i])) + 0.5)
    lo_x = max(lo_x, float(s["x_min"]) - 2.0)
    hi_x = min(hi_x, float(s["x_max"]) + 2.0)
    grid = np.linspace(lo_x, hi_x, n_grid)
    fams = rows["family"].unique() if "delta_family" in fit.tree["posterior"] else [None]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, fam in enumerate(fams):
        color = colors[j % len(colors)]
        mu = fit.curve(grid, i, family=fam, n_draws=400)
        for b, alpha in zip(sorted(bands, reverse=True), (0.18, 0.32), strict=False):
            q = np.quantile(mu, [(1 - b) / 2, (1 + b) / 2], axis=0)
            ax.fill_between(10**grid, q[0], q[1], color=color, alpha=alpha, lw=0)
        ax.plot(10**grid, np.median(mu, axis=0), color=color, lw=1.6,
                label=_label(fam) if fam is not None else "posterior median")
        pts = rows if fam is None else rows[rows["family"] == fam]
        y = pts["y"].to_numpy()
        if pts["n_items"].notna().all() and len(pts):
            lo, hi = binomial_interval(pts["k"].to_numpy(), pts["n_items"].to_numpy())
            ax.errorbar(pts["scale_value"], y, yerr=[y - lo, hi - y], fmt="o", ms=4,
                        color=color, mec="black", mew=0.5, elinewidth=0.8, capsize=1.5)
        else:
            ax.plot(pts["scale_value"], y, "o", ms=4, color=color, mec="black", mew=0.5)
    if s["chance"] == s["chance"] and s["chance"] > 0:
        ax.axhline(float(s["chance"]), color="grey", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(fit.table.scale)
    ax.set_ylabel(_label(s["metric"]))
    title = _label(f"{s['task']} ({s['family']})" if s["family"] != "(all)" else s["task"])
    if show_sharp:
        w = np.median(fit.draws("width")[:, i])
        ps = float((fit.draws("width")[:, i] < fit.config.sharp_width).mean())
        title += f"\nwidth {w:.2f} dec, P(sharp) {ps:.2f}"
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=8)
    if len(fams) > 1:
        ax.legend(fontsize=6, frameon=False)
    if standalone:
        fig.tight_layout()
    return fig


def plot_curves(fit: Fit, series: Sequence[int | str] | None = None, *, ncols: int = 4,
                panel_size: tuple[float, float] = (3.4, 2.8)) -> Any:
    """A grid of :func:`plot_curve` panels, one per series (all series by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    idx = list(range(len(fit.series))) if series is None else [fit._series_index(s) for s in series]
    ncols = max(1, min(ncols, len(idx)))
    nrows = math.ceil(len(idx) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False)
    for ax, i in zip(axes.flat, idx, strict=False):
        plot_curve(fit, i, ax=ax)
    for ax in list(axes.flat)[len(idx):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_width_posterior(fit: Fit, series: int | str, *, ax: Any = None) -> Any:
    """Histogram of one series' width posterior (decades, log axis) against the sharpness cut.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 2.4))
    fig = ax.figure
    i = fit._series_index(series)
    w = fit.draws("width")[:, i]
    lo = min(float(w.min()), fit.config.sharp_width) / 1.2
    hi = max(float(w.max()), fit.config.sharp_width) * 1.2
    ax.hist(w, bins=np.logspace(np.log10(lo), np.log10(hi), 40), color="C0", alpha=0.8)
    ax.axvline(fit.config.sharp_width, color="C3", ls="--", lw=1.2)
    p = float((w < fit.config.sharp_width).mean())
    ax.set_title(f"width posterior; P(sharp) = {p:.2f}", fontsize=9)
    ax.set_xscale("log")
    from matplotlib.ticker import NullLocator

    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo <= t <= hi]
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.tick_params(labelsize=8)
    ax.set_xlabel("width (decades, log axis)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_width(fit: Fit, *, ax: Any = None, max_series: int = 60) -> Any:
    """Forest plot of the width posterior per series against the sharpness cut.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    summ = fit.summary().head(max_series)
    labels = fit.series["label"].head(max_series)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.22 * len(summ) + 1))
    fig = ax.figure
    yy = np.arange(len(summ))[::-1]
    ax.hlines(yy, summ["width_lo"], summ["width_hi"], color="C0")
    ax.plot(summ["width_median"], yy, "o", color="C0", ms=3)
    ax.axvline(fit.config.sharp_width, color="C3", ls="--", lw=1, label="sharpness cut")
    ax.set_yticks(yy, [_label(t) for t in labels], fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("width (decades, 10 %-90 % of the rise)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_design(result: Any, *, ax: Any = None) -> Any:
    """Design study: 90 % width-interval length against the number of scales in the rise.

    One point per replicate (jittered), the per-grid median as a line. Reads a
    :class:`emergence.design.DesignResult` only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    fig = ax.figure
    rec = result.records
    rng = np.random.default_rng(0)
    ax.scatter(rec["n_in_rise"] + rng.uniform(-0.15, 0.15, len(rec)), rec["width_interval"],
               s=10, alpha=0.5, color="C0")
    med = rec.groupby("n_in_rise")["width_interval"].median()
    ax.plot(med.index, med.values, "-o", color="C3", ms=4, label="median")
    ax.set_yscale("log")
    ax.set_xlabel("tested scales inside the true 10 %-90 % rise")
    ax.set_ylabel("90 % interval length of the width (decades)")
    ax.set_title(f"design study, truth {result.truth.label}", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_sbc_ranks(result: Any, *, ncols: int = 4) -> Any:
    """Rank histograms of a simulation-based calibration, one panel per quantity.

    The grey band is the central 99 % range of a bin count under uniform ranks (binomial);
    the dashed line the expected count. Reads an :class:`emergence.sbc.SBCResult` only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.stats import binom

    plt = _plt()
    tests = result.tests().set_index("quantity")
    quantities = list(tests.index)
    ncols = max(1, min(ncols, len(quantities)))
    nrows = math.ceil(len(quantities) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2.4 * nrows), squeeze=False)
    for ax, q in zip(axes.flat, quantities, strict=False):
        r = result.ranks.loc[result.ranks["quantity"] == q, "rank"].to_numpy()
        edges = np.linspace(0, result.n_ranks, result.bins + 1)
        counts = np.histogram(r, bins=edges)[0]
        n, p = len(r), 1 / result.bins
        lo, hi = binom.ppf(0.005, n, p), binom.ppf(0.995, n, p)
        ax.axhspan(lo, hi, color="0.88", zorder=0)
        ax.axhline(n * p, color="0.4", ls="--", lw=0.8)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="C0",
               edgecolor="white")
        ax.set_title(f"{q}  (p = {tests.loc[q, 'p_value']:.2f})", fontsize=9)
        ax.set_xlabel("rank", fontsize=8)
    for ax in list(axes.flat)[len(quantities):]:
        ax.set_visible(False)
    fig.suptitle(f"SBC rank histograms, {result.model}", fontsize=10)
    fig.tight_layout()
    return fig
