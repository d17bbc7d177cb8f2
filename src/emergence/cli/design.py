"""``emergence design``: which scales to measure, by simulation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import FIGURE, JSON, REPORT, check_output_paths
from ..errors import EmergenceError
from ._app import app, console, fail, load_input, print_frame, show_warnings


@app.command("design")
def design_command(
    file: Annotated[Path | None, typer.Argument(help="Score table (not needed with --truth).")] = None,
    task: Annotated[list[str] | None, typer.Option(help="Task whose fit is the truth.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Family of that task.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric of that task.")] = None,
    scale: Annotated[str, typer.Option(help="Scale axis: params or flops.")] = "params",
    sizes: Annotated[Path | None, typer.Option(help="CSV of model,params[,flops] (lm-eval).")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="Candidate grid, e.g. '1e8..1e12:8'.")] = None,
    truth: Annotated[str | None, typer.Option(help="Synthetic truth: sharp:0.5 or smooth:3.")] = None,
    replicates: Annotated[int, typer.Option(help="Replicates per grid.")] = 50,
    seed: Annotated[int, typer.Option(help="Study seed.")] = 0,
    n_items: Annotated[int | None, typer.Option(help="Items per simulated evaluation.")] = None,
    study_dir: Annotated[Path | None, typer.Option(help="Folder for replicates (resumable).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write per-grid records.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Figure: width interval vs scales in rise.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML or PDF report.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Simulate and refit candidate grids of scales: how well would each settle the width?"""
    from ..design import Truth, design

    check_output_paths(("--json", json_out, JSON), ("--plot", plot, FIGURE), ("--report", report, REPORT))
    if truth is None and file is None:
        fail("give a score FILE (with --task) or a synthetic --truth such as sharp:0.5.")
    grids = grid or ["1e8..1e12:5", "1e8..1e12:9", "1e8..1e12:17"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if truth is not None:
                t = Truth.parse(truth)
            else:
                from ..results import fit

                table = load_input(file, scale, task, metric, family, sizes)
                if len(table.series()) != 1:
                    fail(f"the selection has {len(table.series())} curves; select one with "
                         "--task/--family/--metric.")
                t = fit(table, seed=seed)
            res = design(t, grids, replicates=replicates, seed=seed, n_items=n_items,
                         study_dir=study_dir, scheduler=scheduler, progress=progress)
        except EmergenceError as exc:
            fail(str(exc))
            return
    show_warnings(caught)
    summ = res.summary()
    summ["grid"] = summ["grid"].map(lambda g: f"{g[0]:.2f}..{g[-1]:.2f} ({len(g)})")
    print_frame(summ, f"design study, truth {res.truth.label}, seed {seed}")
    if json_out:
        res.save(json_out)
        console.print(f"records written to {json_out}")
    if plot:
        from .._io import atomic_write
        from ..plots import plot_design

        fig = plot_design(res)
        atomic_write(plot, lambda p: fig.savefig(p, dpi=110, format=plot.suffix.lstrip(".") or "png"))
    if report:
        from ..report import report as make_report

        make_report(res, report, title=f"emergence design study ({res.truth.label})")
        console.print(f"report written to {report}")
