"""``emergence sbc``: simulation-based calibration of a model."""

from __future__ import annotations

from typing import Annotated

import typer

from .._io import FIGURE
from . import _app as ui
from ._app import app
from ._options import Options, PlotOut, shared

#: The refits take the fit's own defaults (:class:`~emergence.config.Config`) unless set here
#: or in --config, so that the calibration checked is that of what ``emergence fit`` and
#: ``check`` run. Until 2026-11-28 the command used 1000 draws and target acceptance 0.95
#: (docs/validation.md).


@app.command("sbc")
@shared("sampling", "outputs", defaults={"seed": 0})
def sbc_command(
    model: Annotated[str, typer.Option(help="sigmoid | powerlaw | loglinear.")] = "sigmoid",
    simulations: Annotated[int, typer.Option(help="Number of simulations.")] = 100,
    parametrization: Annotated[str | None, typer.Option(
        help="centered | noncentered (joint engine only).", show_default="centered")] = None,
    n_series: Annotated[int, typer.Option("--series", help="Simulated curves per dataset.")] = 5,
    n_scales: Annotated[int, typer.Option("--scales", help="Scales per curve (1e8-1e12).")] = 8,
    n_items: Annotated[int, typer.Option("--items", help="Items per evaluation.")] = 1000,
    plot: PlotOut = None,
    *,
    opts: Options,
) -> None:
    """Simulation-based calibration of a model (exit status 1 when ranks are not uniform).

    Ranks of true values among posterior draws, tested for uniformity (chi-square, p > 0.01).
    The refits use the fit's defaults unless --draws, --target-accept, ... say otherwise.
    """
    from ..sbc import sbc

    ui.check_outputs(opts, ("--plot", plot, FIGURE))
    options = ui.resolve_options(opts, parametrization=parametrization)
    seed = options.pop("seed", 0)
    options.pop("progress")
    with ui.guarded():
        res = sbc(model, simulations=simulations, seed=seed, n_series=n_series,
                  n_scales=n_scales, n_items=n_items, config=options)
    ui.print_frame(res.tests(), f"SBC of {model}: {simulations} simulations, seed {seed} "
                f"({res.divergent_simulations} with divergences)")
    ui.console.print("uniformity: " + ("[green]passes[/]" if res.passed else "[red]fails[/]"))
    if plot:
        from ..plots import plot_sbc_ranks

        ui.save_figure(plot_sbc_ranks(res), plot, dpi=120)
    ui.write_outputs(res, opts, f"SBC of the {model} model")
    ui.exit_if_failed([] if res.passed else ["rank uniformity (chi-square p <= 0.01)"], "calibration")
