"""``emergence fit``: fit a curve model to a score table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import CSV, FIGURE, NETCDF, REPORT, atomic_write, check_output_paths, write_csv
from ..errors import EmergenceError
from ._app import app, build_config, console, fail, load_input, print_frame, show_warnings

SUMMARY_COLUMNS = ["task", "metric", "family", "n_scales", "threshold_median", "threshold_lo",
                   "threshold_hi", "width_median", "width_lo", "width_hi", "p_sharp", "rhat_max",
                   "ess_bulk_min"]


@app.command("fit")
def fit_command(
    file: Annotated[Path, typer.Argument(help="Score table (CSV/TSV/parquet) or lm-eval results folder.")],
    scale: Annotated[str, typer.Option(help="Scale axis: params or flops.")] = "params",
    task: Annotated[list[str] | None, typer.Option(help="Task(s) to keep; globs allowed.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric(s) to keep.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Family(ies) to keep.")] = None,
    model: Annotated[str, typer.Option(help="Curve model.")] = "sigmoid",
    families: Annotated[str, typer.Option(help="separate | offset | pooled.")] = "separate",
    likelihood: Annotated[str, typer.Option(help="auto | binomial | betabinomial | beta.")] = "auto",
    sharp_width: Annotated[float, typer.Option(help="Sharpness cut, decades.")] = 1.0,
    sampler: Annotated[str, typer.Option(help="nutpie | pymc | numpyro.")] = "nutpie",
    draws: Annotated[int | None, typer.Option(help="Draws per chain.")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain.")] = None,
    chains: Annotated[int | None, typer.Option(help="Chains.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (stored with the result).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of options.")] = None,
    sizes: Annotated[Path | None, typer.Option(help="CSV of model,params[,flops] (lm-eval).")] = None,
    out: Annotated[Path | None, typer.Option(help="Save the fit as NetCDF.")] = None,
    summary: Annotated[Path | None, typer.Option(help="Write the summary CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a figure of data and curves.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML or PDF report.")] = None,
    progress: Annotated[bool, typer.Option(help="Show sampling progress.")] = True,
) -> None:
    """Fit a hierarchical curve model and print one row per (task, metric, family)."""
    from ..results import fit as do_fit

    check_output_paths(("--out", out, NETCDF), ("--summary", summary, CSV), ("--plot", plot, FIGURE), ("--report", report, REPORT))  # noqa: E501
    cfg = build_config(config, model=model, scale=scale, families=families, likelihood=likelihood,
                       sharp_width=sharp_width, sampler=sampler, draws=draws, tune=tune,
                       chains=chains, seed=seed, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_input(file, cfg.scale, task, metric, family, sizes)
        console.print(f"[bold]{table!r}[/]", highlight=False)
        try:
            result = do_fit(table, config=cfg)
        except EmergenceError as exc:
            fail(str(exc))
            return
    show_warnings(caught)
    summ = result.summary()
    print_frame(summ, f"{cfg.model} fit (seed {cfg.seed}; {result.timing.compile:.1f} s compile, "
                f"{result.timing.sample:.1f} s sampling)", SUMMARY_COLUMNS)
    if summary:
        write_csv(summ, summary)
        console.print(f"summary written to {summary}")
    if out:
        result.save(out)
        console.print(f"fit saved to {out}")
    if plot:
        from ..plots import plot_curves

        fig = plot_curves(result)
        atomic_write(plot, lambda p: fig.savefig(p, dpi=110, format=plot.suffix.lstrip(".") or "png"))
        console.print(f"figure written to {plot}")
    if report:
        from ..report import report as make_report

        make_report(result, report, title=f"emergence fit of {file.name}")
        console.print(f"report written to {report}")
    if result.failed:
        console.print(f"[red]diagnostics failed: {'; '.join(result.failed)}[/]")
        raise typer.Exit(1)
