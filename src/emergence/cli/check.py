"""``emergence check``: robustness verdicts per task."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import JSON, REPORT, check_output_paths
from ..errors import EmergenceError
from ._app import app, build_config, console, fail, load_input, parse_models, print_frame, show_warnings


@app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(help="Score table (CSV/TSV/parquet) or lm-eval results folder.")],
    scale: Annotated[str, typer.Option(help="Scale axis: params or flops.")] = "params",
    task: Annotated[list[str] | None, typer.Option(help="Task(s) to keep; globs allowed.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric(s) to keep.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Family(ies) to keep.")] = None,
    sharp_width: Annotated[float, typer.Option(help="Sharpness cut, decades.")] = 1.0,
    models: Annotated[str, typer.Option(help="Comparison models, comma-separated.")] =
        "sigmoid,powerlaw,loglinear",
    cv: Annotated[str, typer.Option(help="loso | loo | none.")] = "loso",
    psense: Annotated[bool, typer.Option(help="Run the prior-sensitivity check.")] = True,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    draws: Annotated[int | None, typer.Option(help="Draws per chain.")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of options.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the verdicts as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML or PDF report.")] = None,
    sizes: Annotated[Path | None, typer.Option(help="CSV of model,params[,flops] (lm-eval).")] = None,
    progress: Annotated[bool, typer.Option(help="Show sampling progress.")] = False,
) -> None:
    """Give each (task, metric, family) curve a verdict — emergent, smooth, metric-induced or
    undetermined — with its reasons."""
    from ..check import check

    check_output_paths(("--json", json_out, JSON), ("--report", report, REPORT))
    parse_models(models, first="sigmoid")
    cfg = build_config(config, scale=scale, sharp_width=sharp_width, seed=seed, draws=draws,
                       tune=tune, progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_input(file, cfg.scale, task, metric, family, sizes)
        console.print(f"[bold]{table!r}[/]", highlight=False)
        try:
            result = check(table, models=[m.strip() for m in models.split(",") if m.strip()],
                           cv=cv, psense=psense, config=cfg)
        except (EmergenceError, ValueError) as exc:
            fail(str(exc))
            return
    show_warnings(caught)
    summ = result.summary()
    print_frame(summ, f"verdicts (seed {cfg.seed}, sharp = width < {cfg.sharp_width:g} decades)",
                ["task", "metric", "family", "verdict", "reasons", "p_sharp", "width_median",
                 "n_scales"])
    for r in result.records:
        console.print(f"[bold]{r['task']} | {r['metric']} | {r['family']}[/]: {r['verdict']}",
                      highlight=False)
        for m in r["messages"]:
            console.print(f"  - {m}", highlight=False)
    if json_out:
        result.save(json_out)
        console.print(f"verdicts written to {json_out}")
    if report:
        try:
            from ..report import report as make_report
        except ImportError as exc:  # pragma: no cover - the report extra is part of [all]
            fail(f"reports need the report module: {exc}")
            return
        make_report(result, report)
        console.print(f"report written to {report}")
