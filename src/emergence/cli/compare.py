"""``emergence compare``: sigmoid vs smooth curves by cross-validated predictive density."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, shared

Models = Annotated[str, typer.Option(help="Comma-separated models to compare.")]


@app.command("compare")
@shared("data", "model", "sampling", "outputs")
def compare_command(
    file: Annotated[str, typer.Argument(help=FILE_HELP, metavar="FILE")],
    models: Models = "sigmoid,powerlaw,loglinear",
    cv: Annotated[str, typer.Option(help="loso (leave-one-scale-out refits) | loo (PSIS-LOO).")
                  ] = "loso",
    reloo: Annotated[int, typer.Option(
        help="With --cv loo: refit exactly up to this many rows with Pareto k > 0.7 per model "
             "(0: off).")] = 40,
    *,
    opts: Options,
) -> None:
    """Compare curve models per (task, metric, family) and overall.

    Prints elpd and stacking weight per model and the preferred model (named only when it beats
    every other by more than 2 SE, else "indistinguishable").
    """
    from ..compare import compare

    ui.check_outputs(opts)
    cfg = ui.resolve_config(opts)
    with ui.guarded():
        table = ui.load_data(file, opts, cfg)
        result = compare(table, models=ui.split_list(models), cv=cv, config=cfg, reloo=reloo)
    summ = result.summary()
    cols = ["task", "metric", "family", "n_scales",
            *[f"{p}_{m}" for m in result.models for p in ("elpd", "weight")], "preferred",
            "too_few_scales", "pareto_k_max"]
    secs = sum(v["compile"] + v["sample"] for v in result.timing.values())
    ui.print_frame(summ, f"{result.cv} comparison (seed {cfg.seed}; {secs:.1f} s)", cols)
    ui.print_frame(result.overall, "overall", ["model", "elpd", "se", "elpd_diff", "dse", "weight",
                                            "preferred", "n_points"])
    for n in result.notices:
        ui.console.print(f"[yellow]note:[/] {n}", highlight=False)
    ui.write_outputs(result, opts, f"emergence model comparison of {Path(file).name}")
    ui.exit_if_failed(comparison_failures(result), "diagnostics")


def comparison_failures(result: Any) -> list[str]:
    """Per model, how many of its fits failed their MCMC diagnostics (empty when none)."""
    from ..inference import diagnostic_failures

    diag = result.diagnostics
    out = []
    for model, rows in diag.groupby("model", sort=False):
        bad = sum(bool(diagnostic_failures(r, result.config)) for r in rows.to_dict("records"))
        if bad:
            out.append(f"{bad} of {len(rows)} fits of {model}")
    return out
