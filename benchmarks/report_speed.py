"""Curve pages of a 130-curve check: the report's slowest figure, with its reference in one run.

Fits the OPT lm-eval folder (data/lm-eval-raw/opt, 130 curves; ``--fit`` reads a saved fit
instead), then builds and writes (PNG, 110 dpi) every curve page twice, alternately, each
way ``--repeat`` times:

- ``package``: :func:`emergence.plots.plot_curve_pages` as shipped (unlabelled minor ticks at
  2 and 5 x each power of ten on the log-scale axes);
- ``reference``: the same pages with matplotlib's default minor ticks (eight per decade), the
  package's choice until 2026-11-28.

Prints the seconds of each run and the ratio package / reference (medians).

    python benchmarks/report_speed.py [--fit saved_fit.nc] [--repeat 2]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from machine import machine
from matplotlib.ticker import LogLocator

import emergence as em
from emergence import plots

OPT = Path(__file__).resolve().parents[1] / "data" / "lm-eval-raw" / "opt"


#: the package's log axis, kept while the reference runs replace it
SHIPPED = plots.log_decade_axis


def _default_minor_ticks(ax: object, lo: float, hi: float, **kw: object) -> None:
    """The package's log axis, then matplotlib's default minor ticks (the reference)."""
    SHIPPED(ax, lo, hi, **kw)
    (ax.xaxis if kw.get("axis", "x") == "x" else ax.yaxis).set_minor_locator(
        LogLocator(subs="auto"))


def pages_seconds(fit: em.Fit, summary: object, default_minor: bool) -> float:
    """Build and write every curve page once (the reference's axes get matplotlib's default
    minor ticks as they are made, so layout and drawing both see them); seconds."""
    plots.log_decade_axis = _default_minor_ticks if default_minor else SHIPPED
    try:
        t0 = time.perf_counter()
        figs = plots.plot_curve_pages(fit, summary=summary)
        buf = io.BytesIO()
        for fig in figs:
            fig.savefig(buf, format="png", dpi=110)
            plt.close(fig)
        return time.perf_counter() - t0
    finally:
        plots.log_decade_axis = SHIPPED


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load {os.getloadavg()}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = (em.load_fit(args.fit) if args.fit else
               em.fit(em.read_lm_eval(OPT, warn=False), seed=1))
        summary = fit.summary()
        pages_seconds(fit, summary, False)  # warm-up: imports, fonts, predictive draws' code
        times: dict[str, list[float]] = {"package": [], "reference": []}
        for _ in range(args.repeat):
            for name in times:
                times[name].append(pages_seconds(fit, summary, name == "reference"))
    for name, t in times.items():
        print(f"{name:9s}: {', '.join(f'{v:.1f}' for v in t)} s for {len(fit.series)} panels",
              flush=True)
    ratio = statistics.median(times["package"]) / statistics.median(times["reference"])
    print(f"package / reference = {ratio:.2f}; load {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
