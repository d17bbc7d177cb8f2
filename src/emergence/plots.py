"""Plots: matplotlib functions that only read results (``ax=`` in, figure out).

Nothing here fits or changes a result: posterior curves come from :meth:`emergence.Fit.curve`,
numbers and caveats from :meth:`emergence.Fit.summary` and :mod:`emergence.caveats`.

Conventions shared by every curve figure (and explained by its legend): points are the data
with 90 % Jeffreys intervals; the line is the posterior median with 50 % (dark) and 90 % (light)
bands; beyond the tested scales the curve is dashed and its bands lighter (extrapolated); the
dash-dotted lines bound the central 90 % of a new model's score (the noise between models and
item sampling included, :meth:`emergence.Fit.predict`), and a red ring marks an observed score
outside its 99 % posterior predictive interval (:meth:`emergence.Fit.predictive_check`, the
``ppc_misfit`` check); the dotted grey line is the chance level. Log axes are labelled 10^k
at whole decades only, so labels never overlap. A curve whose numbers must not be read (see
:mod:`emergence.caveats`) is drawn in grey, with its badge in the title.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import caveats as CV
from .results import Fit

#: Curve panels per figure (a 3 x 4 grid fills an A4 page).
PER_PAGE = 12
GREY = "0.55"
MISFIT = "#c0392b"
#: Scales at which the interval of a new model's score is drawn in a curve panel.
PREDICTIVE_POINTS = 25


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
    """Jeffreys interval for a binomial proportion (``k`` successes of ``n``).

    Examples
    --------
    >>> lo, hi = binomial_interval(np.array([5]), np.array([10]))
    >>> bool(lo[0] < 0.5 < hi[0])
    True
    """
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = np.where(k > 0, beta.ppf(a, k + 0.5, n - k + 0.5), 0.0)
    hi = np.where(k < n, beta.ppf(1 - a, k + 0.5, n - k + 0.5), 1.0)
    return lo, hi


def format_p(p: float) -> str:
    """A p-value as printed in figures and tables: two significant digits, never rounded up
    across a decision cut (``0.0077``, not ``0.01``).

    Examples
    --------
    >>> format_p(0.0077), format_p(0.4512), format_p(3e-7)
    ('0.0077', '0.45', '< 0.0001')
    """
    if not np.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return "< 0.0001"
    return f"{p:.2g}"


def log_decade_axis(ax: Any, lo: float, hi: float, *, axis: str = "x", max_labels: int = 6) -> None:
    """Log axis from 10**lo to 10**hi labelled ``10^k`` at whole decades only, with
    unlabelled minor ticks at 2 and 5 times each power of ten.

    The range is widened to whole decades when it spans fewer than two (so there are always
    two labels), and labels are thinned to at most ``max_labels``: they never overlap.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> log_decade_axis(ax, 9.2, 9.6)
    >>> [round(float(np.log10(v))) for v in ax.get_xlim()]
    [9, 10]
    """
    from matplotlib.ticker import FixedLocator, LogFormatterMathtext, LogLocator, NullFormatter

    if hi - lo < 2:
        lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    step = max(1, math.ceil(len(decades) / max_labels))
    ticks = [10.0**d for d in decades[::step]]
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    (ax.set_xlim if axis == "x" else ax.set_ylim)(10.0**lo, 10.0**hi)
    a.set_major_locator(FixedLocator(ticks))
    a.set_major_formatter(LogFormatterMathtext())
    # unlabelled minor ticks at 2 and 5 x each power of ten: matplotlib's default eight per
    # decade made building and drawing the tick objects a third of the curve pages' time
    # (130 OPT panels built and written: 26.6-28.7 -> 20.4-20.6 s, benchmarks/report_speed.py,
    # 2026-11-28)
    a.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    a.set_minor_formatter(NullFormatter())


def legend_handles(*, chance: bool = True, extrapolated: bool = True,
                   sharp_cut: float | None = None, predictive: bool = True) -> list[Any]:
    """Legend entries for the conventions of curve figures (bands, chance, extrapolation).

    Examples
    --------
    >>> [h.get_label() for h in legend_handles(sharp_cut=None)][:3]
    ['data (90 % interval)', 'posterior median', '50 % band']
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    h = [Line2D([], [], marker="o", ls="", color="C0", mec="black", mew=0.5, ms=4,
                label="data (90 % interval)"),
         Line2D([], [], color="C0", lw=1.6, label="posterior median"),
         Patch(color="C0", alpha=0.5, lw=0, label="50 % band"),
         Patch(color="C0", alpha=0.2, lw=0, label="90 % band")]
    if extrapolated:
        h.append(Line2D([], [], color="C0", lw=1.4, ls="--",
                        label="extrapolated (beyond tested scales)"))
    if predictive:
        h.append(Line2D([], [], color="C0", lw=0.9, ls="-.", label="new model's score (90 %)"))
        h.append(Line2D([], [], marker="o", ls="", ms=8, mfc="none", mec=MISFIT, mew=1.2,
                        label="outside 99 % predictive"))
    if chance:
        h.append(Line2D([], [], color="grey", ls=":", lw=1, label="chance"))
    if sharp_cut is not None:
        h.append(Line2D([], [], color="C3", ls="--", lw=1.2,
                        label=f"sharpness cut ({sharp_cut:g} decade)"))
    return h


def _row(fit: Fit, i: int, summary: Any) -> dict[str, Any]:
    summ = fit.summary() if summary is None else summary
    return dict(summ.iloc[i])


def _x_range(row: dict[str, Any], fit: Fit, i: int) -> tuple[float, float]:
    """Plotted log10 range: the tested scales +-0.5 decade, widened (by at most 1.5 decades)
    to show the threshold when it lies outside."""
    x_lo, x_hi = float(row["x_min"]), float(row["x_max"])
    thr = float(row.get("threshold_median", np.nan))
    if not np.isfinite(thr):
        thr = float(np.median(fit.draws("threshold")[:, i]))
    lo = max(min(x_lo - 0.5, thr - 0.5), x_lo - 1.5)
    hi = min(max(x_hi + 0.5, thr + 0.5), x_hi + 1.5)
    if hi - lo < 2:
        lo, hi = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    return lo, hi


def _draw_family(ax: Any, fit: Fit, i: int, fam: Any, grid: np.ndarray, inside: np.ndarray,
                 color: str, bands: Sequence[float], label: str) -> None:
    mu = fit.curve(grid, i, family=fam, n_draws=400)
    xs = 10**grid
    # the tested range's end points belong to both parts, so the parts meet without a seam
    edge = np.r_[inside[1:] != inside[:-1], False] | np.r_[False, inside[1:] != inside[:-1]]
    outside = ~inside | edge
    for b, alpha in zip(sorted(bands, reverse=True), (0.2, 0.5), strict=False):
        q = np.quantile(mu, [(1 - b) / 2, (1 + b) / 2], axis=0)
        ax.fill_between(xs, q[0], q[1], where=inside, color=color, alpha=alpha, lw=0)
        ax.fill_between(xs, q[0], q[1], where=outside, color=color, alpha=alpha * 0.35, lw=0)
    med = np.median(mu, axis=0)
    ax.plot(xs, np.where(inside, med, np.nan), color=color, lw=1.6, label=label)
    ax.plot(xs, np.where(outside, med, np.nan), color=color, lw=1.4, ls="--")


def _title(row: dict[str, Any], codes: Sequence[str], show_sharp: bool) -> str:
    """Panel title: the curve, its badges (wrapped) and, when readable, width and P(sharp)."""
    import textwrap

    fam = row.get("family", "(all)")
    tail = f" | {row['metric']}" + (f" | {fam}" if fam != "(all)" else "")
    task = str(row["task"])
    room = max(12, 42 - len(tail))  # shorten the task, never the metric or family
    lines = [(task if len(task) <= room else task[:room - 1] + "…") + tail]
    if codes:
        lines += textwrap.wrap("[" + CV.badges(codes) + "]", 40)
    if show_sharp and CV.grey_scope(codes) == "":
        p = float(row["p_sharp"])
        ps = "< 0.01" if p < 0.005 else "> 0.99" if p > 0.995 else f"{p:.2f}"
        lines.append(f"width {row['width_median']:.2f} dec, P(sharp) {ps}")
    return _label("\n".join(lines))


def plot_curve(fit: Fit, series: int | str, *, ax: Any = None, n_grid: int = 120,
               bands: Sequence[float] = (0.5, 0.9), show_sharp: bool = True,
               summary: Any = None, caveats: Sequence[str] | None = None,
               legend: bool | None = None, predictive: bool = True) -> Any:
    """Data and posterior curve of one series: median and central bands (50 % and 90 %).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    series : int or str
        Position in ``fit.series`` or its label.
    ax : matplotlib Axes, optional
        Where to draw; a new figure (with a legend) is made when omitted.
    n_grid : int
        Points on the scale grid.
    bands : sequence of float
        Central posterior bands to shade.
    show_sharp : bool
        Write the width median and the sigmoid's P(sharp) in the title (unless a caveat says
        these numbers must not be read).
    summary : DataFrame, optional
        ``fit.summary()``, to avoid recomputing it for many panels.
    caveats : sequence of str, optional
        Caveat codes of this curve (:mod:`emergence.caveats`); derived from the summary when
        omitted.
    legend : bool, optional
        Draw the legend of the conventions (default: only for a standalone figure).
    predictive : bool
        Draw the 90 % interval of a new model's score (one family per curve) and ring the
        observed scores outside their 99 % posterior predictive interval.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_curve(fit, 0)  # doctest: +SKIP
    """
    plt = _plt()
    standalone = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.6))
    fig = ax.figure
    i = fit._series_index(series)
    row = _row(fit, i, summary)
    codes = list(CV.from_summary_row(row, rhat_max=fit.config.rhat_max,
                                     ess_min=fit.config.ess_min)
                 if caveats is None else caveats)
    greyed = CV.grey_scope(codes) == "all"
    obs = fit.model_data.obs
    rows = obs[obs["series_idx"] == i]
    lo_x, hi_x = _x_range(row, fit, i)
    x_min, x_max = float(row["x_min"]), float(row["x_max"])
    grid = np.unique(np.r_[np.linspace(lo_x, hi_x, n_grid), x_min, x_max])
    inside = (grid >= x_min - 1e-9) & (grid <= x_max + 1e-9)
    fams = rows["family"].unique() if "delta_family" in fit.tree["posterior"] else [None]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, fam in enumerate(fams):
        color = GREY if greyed else colors[j % len(colors)]
        _draw_family(ax, fit, i, fam, grid, inside, color, bands,
                     _label(fam) if fam is not None else "posterior median")
        _draw_points(ax, rows if fam is None else rows[rows["family"] == fam], color)
        if predictive and fam is None:
            _draw_predictive(ax, fit, i, grid, color)
    if predictive:
        _ring_misfits(ax, fit, i)
    chance = float(row.get("chance", fit.series["chance"].iat[i]))
    if chance == chance and chance > 0:
        ax.axhline(chance, color="grey", ls=":", lw=1)
    log_decade_axis(ax, lo_x, hi_x)
    ax.set_xlabel(f"{fit.table.scale} (log scale)", fontsize=8)
    ax.set_ylabel(_label(row["metric"]), fontsize=8)
    ax.set_title(_title(row, codes, show_sharp), fontsize=7.5,
                 color="#8a1c1c" if greyed else "black")
    ax.tick_params(labelsize=7)
    if len(fams) > 1:
        ax.legend(fontsize=6, frameon=False)
    if legend or (legend is None and standalone):
        ax.legend(handles=legend_handles(chance=chance > 0, predictive=predictive), fontsize=6,
                  frameon=False, loc="upper left")
    if standalone:
        fig.tight_layout()
    return fig


def _draw_predictive(ax: Any, fit: Fit, i: int, grid: np.ndarray, color: str) -> None:
    """Dash-dotted bounds of the central 90 % of a new model's score along ``grid``'s span.

    The draws at each scale are independent, so their quantiles carry Monte Carlo noise from
    point to point: :data:`PREDICTIVE_POINTS` scales, joined by straight lines, keep the
    bounds readable."""
    xs = np.linspace(grid.min(), grid.max(), PREDICTIVE_POINTS)
    pred = fit.predict(xs, series=i, kind="score").values[:, 0, :]
    for q in np.quantile(pred, [0.05, 0.95], axis=0):
        ax.plot(10**xs, q, color=color, lw=0.9, ls="-.", alpha=0.8)


def _ring_misfits(ax: Any, fit: Fit, i: int) -> None:
    """Red rings around the observed scores outside their 99 % predictive interval."""
    from .check import PPC_MASS

    pc = fit.predictive_check(i, mass=PPC_MASS)
    out = pc[pc["outside"]]
    if len(out):
        ax.plot(10 ** out["x"], out["y"], "o", ms=9, mfc="none", mec=MISFIT, mew=1.2, zorder=4)


def _draw_points(ax: Any, pts: Any, color: str) -> None:
    y = pts["y"].to_numpy()
    if pts["n_items"].notna().all() and len(pts):
        lo, hi = binomial_interval(pts["k"].to_numpy(), pts["n_items"].to_numpy())
        ax.errorbar(pts["scale_value"], y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)],
                    fmt="o", ms=4, color=color, mec="black", mew=0.5, elinewidth=0.8,
                    capsize=1.5, zorder=3)
    else:
        ax.plot(pts["scale_value"], y, "o", ms=4, color=color, mec="black", mew=0.5, zorder=3)


def plot_curve_pages(fit: Fit, series: Sequence[int | str] | None = None, *,
                     per_page: int = PER_PAGE, ncols: int = 3,
                     panel_size: tuple[float, float] = (2.55, 2.25),
                     summary: Any = None, caveats: Sequence[Sequence[str]] | None = None
                     ) -> list[Any]:
    """:func:`plot_curve` panels in figures of ``per_page`` panels each (one per page).

    Each figure carries the legend of the conventions (bands, chance, extrapolation) once.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    series : sequence, optional
        Series to draw (positions or labels); all by default.
    per_page : int
        Panels per figure (12 fill an A4 page as a 3 x 4 grid).
    ncols : int
        Panels per row.
    panel_size : (float, float)
        Inches per panel.
    summary : DataFrame, optional
        ``fit.summary()`` (computed once when omitted).
    caveats : sequence of lists of str, optional
        Caveat codes per series of ``fit.series`` (default: derived from the summary).

    Returns
    -------
    list of matplotlib.figure.Figure

    Examples
    --------
    >>> figs = plot_curve_pages(fit)  # doctest: +SKIP
    """
    plt = _plt()
    summ = fit.summary() if summary is None else summary
    idx = list(range(len(fit.series))) if series is None else [fit._series_index(s) for s in series]
    figs = []
    for start in range(0, len(idx), per_page):
        page = idx[start:start + per_page]
        cols = max(1, min(ncols, len(page)))
        nrows = math.ceil(len(page) / cols)
        fig, axes = plt.subplots(nrows, cols, squeeze=False,
                                 figsize=(panel_size[0] * cols, panel_size[1] * nrows + 0.55))
        for ax, i in zip(axes.flat, page, strict=False):
            plot_curve(fit, i, ax=ax, summary=summ,
                       caveats=None if caveats is None else caveats[i], legend=False)
        for ax in list(axes.flat)[len(page):]:
            ax.set_visible(False)
        fig.legend(handles=legend_handles(), loc="upper center", ncol=3, fontsize=7,
                   frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (panel_size[1] * nrows + 0.55)), h_pad=0.6)
        figs.append(fig)
    return figs


def plot_curves(fit: Fit, series: Sequence[int | str] | None = None, *, ncols: int = 4,
                panel_size: tuple[float, float] = (3.0, 2.5)) -> Any:
    """A grid of :func:`plot_curve` panels in one figure (all series by default).

    For many series use :func:`plot_curve_pages` (one figure per page of panels).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_curves(fit, series=[0, 1])  # doctest: +SKIP
    """
    n = len(fit.series) if series is None else len(series)
    return plot_curve_pages(fit, series, per_page=max(n, 1), ncols=ncols,
                            panel_size=panel_size)[0]


def _width_axis(ax: Any, lo: float, hi: float) -> None:
    """Log axis of widths labelled with plain numbers (0.1, 0.2, 0.5, 1, 2, 5, ...)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    cands = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ticks = [t for t in cands if lo <= t <= hi]
    if len(ticks) > 7:
        ticks = [t for t in ticks if f"{t:g}".lstrip("0.").startswith("1")]
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_width_posterior(fit: Fit, series: int | str, *, ax: Any = None) -> Any:
    """Histogram of one series' width posterior (decades, log axis) against the sharpness cut.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_width_posterior(fit, 0)  # doctest: +SKIP
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.4, 2.5))
    fig = ax.figure
    i = fit._series_index(series)
    w = fit.draws("width")[:, i]
    cut = fit.config.sharp_width
    lo = min(float(np.quantile(w, 0.001)), cut) / 1.5
    hi = max(float(np.quantile(w, 0.999)), cut) * 1.5
    ax.hist(np.clip(w, lo, hi), bins=np.logspace(np.log10(lo), np.log10(hi), 40), color="C0",
            alpha=0.8)
    ax.axvline(cut, color="C3", ls="--", lw=1.2, label=f"sharpness cut ({cut:g} decade)")
    p = float(fit.p_sharp().iat[i])
    ax.set_title(f"width posterior; P(sharp), sigmoid = {p:.2f}", fontsize=9)
    _width_axis(ax, lo, hi)
    ax.set_yticks([])
    ax.tick_params(labelsize=8)
    ax.set_xlabel("width (decades, log axis)", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_width(fit: Fit, *, ax: Any = None, series: Sequence[int] | None = None,
               max_series: int = 60, summary: Any = None,
               caveats: Sequence[Sequence[str]] | None = None) -> Any:
    """Forest plot of the width posterior per series against the sharpness cut.

    Curves whose width must not be read (:mod:`emergence.caveats`) are drawn in grey with
    their badge.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    ax : matplotlib Axes, optional
        Where to draw.
    series : sequence of int, optional
        Positions to draw (default: the first ``max_series``).
    max_series : int
        Cap when ``series`` is omitted (use several figures for more).
    summary : DataFrame, optional
        ``fit.summary()``.
    caveats : sequence of lists of str, optional
        Caveat codes per series of ``fit.series``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_width(fit, series=range(10))  # doctest: +SKIP
    """
    plt = _plt()
    summ_all = fit.summary() if summary is None else summary
    idx = list(series) if series is not None else list(range(min(len(summ_all), max_series)))
    summ = summ_all.iloc[idx]
    if caveats is None:
        caveats = CV.derive(summ_all, config=fit.config)["caveats"].tolist()
    labels, colors = [], []
    for i in idx:
        codes = caveats[i]
        lab = str(fit.series["label"].iat[i])
        lab = lab if len(lab) <= 48 else lab[:46] + "…"
        labels.append(lab + (f"  [{CV.badges(codes)}]" if codes else ""))
        colors.append(GREY if CV.grey_scope(codes) else "C0")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.2, 0.2 * len(summ) + 1.3))
    fig = ax.figure
    yy = np.arange(len(summ))[::-1]
    ax.hlines(yy, summ["width_lo"], summ["width_hi"], colors=colors, lw=1.4)
    ax.scatter(summ["width_median"], yy, c=colors, s=12, zorder=3)
    cut = fit.config.sharp_width
    ax.axvline(cut, color="C3", ls="--", lw=1)
    ax.set_yticks(yy, [_label(t) for t in labels], fontsize=6)
    for t, c in zip(ax.get_yticklabels(), colors, strict=True):
        t.set_color("0.45" if c == GREY else "black")
    lo = min(float(summ["width_lo"].min()), cut) / 1.3
    hi = max(float(summ["width_hi"].max()), cut) * 1.3
    _width_axis(ax, lo, hi)
    ax.set_ylim(-0.7, len(summ) - 0.3)
    ax.set_xlabel("width (decades, 10 %-90 % of the rise): median and 90 % interval",
                  fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="C3", ls="--", lw=1,
                              label=f"sharpness cut ({cut:g} decade)"),
                       Line2D([], [], color=GREY, lw=1.4,
                              label="width not to be read (see badge)")],
              fontsize=6, frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncol=2)
    fig.tight_layout()
    return fig


def plot_design(result: Any, *, ax: Any = None) -> Any:
    """Design study: 90 % width-interval length against the number of scales in the rise.

    One point per replicate (jittered), the per-grid median as a line. Reads a
    :class:`emergence.design.DesignResult` only.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_design(study)  # doctest: +SKIP
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    fig = ax.figure
    rec = result.records
    rng = np.random.default_rng(0)
    ax.scatter(rec["n_in_rise"] + rng.uniform(-0.15, 0.15, len(rec)), rec["width_interval"],
               s=10, alpha=0.5, color="C0", label="replicate")
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
    the dashed line the expected count. Each title gives the chi-square p-value corrected for ranks
    clustered within a simulation (``p_clustered`` of :meth:`~emergence.sbc.SBCResult.tests`)
    to two significant digits (:func:`format_p`). Reads an :class:`emergence.sbc.SBCResult` only.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_sbc_ranks(sbc_result)  # doctest: +SKIP
    """
    from matplotlib.patches import Patch
    from scipy.stats import binom

    plt = _plt()
    tests = result.tests().set_index("quantity")
    quantities = list(tests.index)
    ncols = max(1, min(ncols, len(quantities)))
    nrows = math.ceil(len(quantities) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2.4 * nrows + 0.4), squeeze=False)
    for ax, q in zip(axes.flat, quantities, strict=False):
        edges = np.linspace(0, result.n_ranks, result.bins + 1)
        counts = result.bin_counts(q)
        n, p = int(counts.sum()), 1 / result.bins
        lo, hi = binom.ppf(0.005, n, p), binom.ppf(0.995, n, p)
        ax.axhspan(lo, hi, color="0.88", zorder=0)
        ax.axhline(n * p, color="0.4", ls="--", lw=0.8)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="C0",
               edgecolor="white")
        pv = float(tests.loc[q, "p_clustered"])
        ax.set_title(f"{q}  (p = {format_p(pv)})", fontsize=9,
                     color="black" if pv > 0.01 else "#a40000")
        ax.set_xlabel("rank", fontsize=8)
    for ax in list(axes.flat)[len(quantities):]:
        ax.set_visible(False)
    fig.suptitle(f"SBC rank histograms, {result.model}", fontsize=10)
    fig.legend(handles=[Patch(color="0.88", label="99 % range under uniform ranks"),
                        plt.Line2D([], [], color="0.4", ls="--", lw=0.8, label="expected count")],
               loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


__all__ = ["binomial_interval", "format_p", "legend_handles", "log_decade_axis", "plot_curve",
           "plot_curve_pages", "plot_curves", "plot_design", "plot_sbc_ranks", "plot_width",
           "plot_width_posterior"]
