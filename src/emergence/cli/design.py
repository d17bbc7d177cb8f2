"""``emergence design``: which scales to measure, by simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._io import FIGURE
from ..design import REFIT_DEFAULTS
from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, PlotOut, shared

#: Refit options unless set (:data:`emergence.design.REFIT_DEFAULTS`); shown in --help.
DESIGN_DEFAULTS = {**REFIT_DEFAULTS, "seed": 0}
DEFAULT_GRIDS = ["1e8..1e12:5", "1e8..1e12:9", "1e8..1e12:17"]


@app.command("design")
@shared("data", "model", "sampling", "outputs", defaults=DESIGN_DEFAULTS)
def design_command(
    file: Annotated[str | None, typer.Argument(
        help=FILE_HELP + " Not needed with --truth.", metavar="[FILE]")] = None,
    grid: Annotated[list[str] | None, typer.Option(
        help="Candidate grid, e.g. '1e8..1e12:8' (repeat for several).",
        show_default="5, 9 and 17 scales over 1e8..1e12")] = None,
    truth: Annotated[str | None, typer.Option(help="Synthetic truth: sharp:0.5 or smooth:3.")] = None,
    replicates: Annotated[int, typer.Option(help="Replicates per grid.")] = 50,
    n_items: Annotated[int | None, typer.Option(help="Items per simulated evaluation.")] = None,
    study_dir: Annotated[Path | None, typer.Option(help="Folder for replicates (resumable).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    plot: PlotOut = None,
    *,
    opts: Options,
) -> None:
    """Simulate and refit candidate grids of scales: how well would each settle the width?"""
    from ..design import Truth, design

    if truth is None and file is None:
        ui.fail("give a score FILE (with --task) or a synthetic --truth such as sharp:0.5.")
    ui.check_outputs(opts, ("--plot", plot, FIGURE))
    options = ui.resolve_options(opts)
    seed = options.pop("seed", 0)
    with ui.guarded():
        if truth is not None:
            t = Truth.parse(truth)
        else:
            from ..results import fit

            table = ui.load_data(file, opts, options)
            if len(table.series()) != 1:
                ui.fail(f"the selection has {len(table.series())} curves; select one with "
                     "--task/--family/--metric.")
            t = fit(table, config={**options, "seed": seed})
        res = design(t, grid or DEFAULT_GRIDS, replicates=replicates, seed=seed, n_items=n_items,
                     study_dir=study_dir, scheduler=scheduler, progress=options["progress"],
                     config=options)
    summ = res.summary()
    summ["grid"] = summ["grid"].map(lambda g: f"{g[0]:.2f}..{g[-1]:.2f} ({len(g)})")
    ui.print_frame(summ, f"design study, truth {res.truth.label}, seed {seed}")
    if plot:
        from ..plots import plot_design

        ui.save_figure(plot_design(res), plot)
    ui.write_outputs(res, opts, f"emergence design study ({res.truth.label})")
