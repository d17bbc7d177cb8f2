"""``emergence fit``: fit a curve model to a score table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .._io import CSV, FIGURE, NETCDF, atomic_write_json, write_csv
from .._version import __version__
from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, shared

SUMMARY_COLUMNS = ["task", "metric", "family", "n_scales", "threshold_median", "threshold_lo",
                   "threshold_hi", "width_median", "width_lo", "width_hi", "p_sharp", "rhat_max",
                   "ess_bulk_min"]


class FitDocument:
    """The JSON document of a fit (``--json``): config, diagnostics and the summary rows."""

    def __init__(self, fit: Any) -> None:
        self.fit = fit

    def save(self, path: Path) -> Path:
        f = self.fit
        return atomic_write_json(path, {
            "emergence_version": __version__, "kind": "fit", "config": f.config.as_dict(),
            "diagnostics": f.diagnostics, "failed": list(f.failed),
            "records": f.summary().to_dict("records")})


@app.command("fit")
@shared("data", "model", "sampling", "outputs")
def fit_command(
    file: Annotated[str, typer.Argument(help=FILE_HELP, metavar="FILE")],
    model: Annotated[str | None, typer.Option(
        help="Curve model: sigmoid | powerlaw | loglinear.", show_default="sigmoid")] = None,
    out: Annotated[Path | None, typer.Option(help="Save the fit as NetCDF.")] = None,
    summary: Annotated[Path | None, typer.Option(help="Write the summary CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a figure of data and curves.")] = None,
    *,
    opts: Options,
) -> None:
    """Fit a hierarchical curve model and print one row per (task, metric, family)."""
    from ..results import fit as do_fit

    ui.check_outputs(opts, ("--out", out, NETCDF), ("--summary", summary, CSV),
                     ("--plot", plot, FIGURE))
    cfg = ui.resolve_config(opts, model=model)
    with ui.guarded():
        table = ui.load_data(file, opts, cfg)
        result = do_fit(table, config=cfg)
    summ = result.summary()
    ui.print_frame(summ, f"{cfg.model} fit (seed {cfg.seed}; {result.timing.compile:.1f} s compile, "
                f"{result.timing.sample:.1f} s sampling)", SUMMARY_COLUMNS)
    if summary:
        write_csv(summ, summary)
        ui.console.print(f"summary written to {summary}")
    if out:
        result.save(out)
        ui.console.print(f"fit saved to {out}")
    if plot:
        from ..plots import plot_curves

        ui.save_figure(plot_curves(result), plot)
    ui.write_outputs(result, opts, f"emergence fit of {Path(file).name}", FitDocument(result))
    ui.exit_if_failed(result.failed, "diagnostics")
