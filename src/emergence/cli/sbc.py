"""``emergence sbc``: simulation-based calibration of a model."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import FIGURE, JSON, REPORT, check_output_paths
from ._app import app, console, print_frame


@app.command("sbc")
def sbc_command(
    model: Annotated[str, typer.Option(help="sigmoid | powerlaw | loglinear.")] = "sigmoid",
    simulations: Annotated[int, typer.Option(help="Number of simulations.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the study.")] = 0,
    draws: Annotated[int, typer.Option(help="Draws per chain per refit.")] = 1000,
    tune: Annotated[int, typer.Option(help="Tuning steps per chain per refit.")] = 500,
    parametrization: Annotated[str, typer.Option(help="centered | noncentered.")] = "noncentered",
    n_series: Annotated[int, typer.Option("--series", help="Simulated curves per dataset.")] = 5,
    n_scales: Annotated[int, typer.Option("--scales", help="Scales per curve (1e8-1e12).")] = 8,
    n_items: Annotated[int, typer.Option("--items", help="Items per evaluation.")] = 200,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write tests and ranks.")] = None,
    report_out: Annotated[Path | None, typer.Option(
        "--report", help="Write an HTML (.html) or PDF (.pdf) report of the calibration.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write rank histograms (png/pdf/svg).")] = None,
) -> None:
    """Simulation-based calibration: ranks of true values among posterior draws, tested for
    uniformity (chi-square, p > 0.01)."""
    from ..sbc import sbc

    check_output_paths(("--json", json_out, JSON), ("--report", report_out, REPORT), ("--plot", plot, FIGURE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sbc(model, simulations=simulations, seed=seed, draws=draws, tune=tune,
                  n_series=n_series, n_scales=n_scales, n_items=n_items,
                  parametrization=parametrization, target_accept=0.95)
    print_frame(res.tests(), f"SBC of {model}: {simulations} simulations, seed {seed} "
                f"({res.divergent_simulations} with divergences)")
    console.print("uniformity: " + ("[green]passes[/]" if res.passed else "[red]fails[/]"))
    if json_out:
        res.save(json_out)
        console.print(f"written {json_out}")
    if plot:
        from .._io import atomic_write
        from ..plots import plot_sbc_ranks

        fig = plot_sbc_ranks(res)
        fmt = plot.suffix.lstrip(".") or "png"
        atomic_write(plot, lambda p: fig.savefig(p, format=fmt, dpi=120))
        console.print(f"written {plot}")
    if report_out:
        from ..report import report

        report(res, report_out, title=f"SBC of the {model} model")
        console.print(f"written {report_out}")
