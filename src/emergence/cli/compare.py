"""``emergence compare``: sigmoid vs smooth curves by cross-validated predictive density."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import JSON, REPORT, check_output_paths
from ..errors import EmergenceError
from ._app import app, build_config, console, fail, load_input, print_frame, show_warnings


@app.command("compare")
def compare_command(
    file: Annotated[Path, typer.Argument(help="Score table (CSV/TSV/parquet) in the tidy schema.")],
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = (
        "sigmoid,powerlaw,loglinear"),
    cv: Annotated[str, typer.Option(help="loso (leave-one-scale-out refits) | loo (PSIS-LOO).")
                  ] = "loso",
    reloo: Annotated[int, typer.Option(
        help="With --cv loo: refit exactly up to this many rows with Pareto k > 0.7 per model "
             "(0: off).")] = 40,
    scale: Annotated[str, typer.Option(help="Scale axis: params or flops.")] = "params",
    sizes: Annotated[Path | None, typer.Option(help="CSV of model,params[,flops] (lm-eval).")] = None,
    task: Annotated[list[str] | None, typer.Option(help="Task(s) to keep; globs allowed.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric(s) to keep.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Family(ies) to keep.")] = None,
    families: Annotated[str, typer.Option(help="separate | offset | pooled.")] = "separate",
    likelihood: Annotated[str, typer.Option(help="auto | binomial | betabinomial | beta.")] = "auto",
    sampler: Annotated[str, typer.Option(help="nutpie | pymc | numpyro.")] = "nutpie",
    draws: Annotated[int | None, typer.Option(help="Draws per chain.")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain.")] = None,
    chains: Annotated[int | None, typer.Option(help="Chains.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (stored with the result).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file of options.")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the per-series records as a JSON list.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write the full result (records, overall, diagnostics, config) as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML or PDF report.")] = None,
    progress: Annotated[bool, typer.Option(help="Show sampling progress.")] = False,
) -> None:
    """Compare curve models per (task, metric, family) and overall.

    Prints elpd and stacking weight per model and the preferred model (named only when it beats
    every other by more than 2 SE, else "indistinguishable").
    """
    from ..compare import compare

    check_output_paths(("--json", json_out, JSON), ("--out", out, JSON), ("--report", report, REPORT))
    cfg = build_config(config, scale=scale, families=families, likelihood=likelihood,
                       sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed,
                       progress=progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_input(file, cfg.scale, task, metric, family, sizes)
        console.print(f"[bold]{table!r}[/]", highlight=False)
        try:
            result = compare(table, models=models, cv=cv, config=cfg, reloo=reloo)
        except EmergenceError as exc:
            fail(str(exc))
            return
    show_warnings(caught)
    summ = result.summary()
    cols = ["task", "metric", "family", "n_scales",
            *[f"{p}_{m}" for m in result.models for p in ("elpd", "weight")], "preferred",
            "too_few_scales"]
    if "pareto_k_max" in summ:
        cols.append("pareto_k_max")
    secs = sum(v["compile"] + v["sample"] for v in result.timing.values())
    print_frame(summ, f"{result.cv} comparison (seed {cfg.seed}; {secs:.1f} s)", cols)
    print_frame(result.overall, "overall", ["model", "elpd", "se", "elpd_diff", "dse", "weight",
                                            "preferred", "n_points"])
    for n in result.notices:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    if json_out:
        result.save(json_out, records_only=True)
        console.print(f"records written to {json_out}")
    if out:
        result.save(out)
        console.print(f"result written to {out}")
    if report:
        from ..report import report as make_report

        make_report(result, report, title=f"emergence model comparison of {file.name}")
        console.print(f"report written to {report}")
