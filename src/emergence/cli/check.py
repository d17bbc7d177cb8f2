"""``emergence check``: robustness verdicts per task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, shared
from .compare import Models


@app.command("check")
@shared("data", "model", "sampling", "outputs")
def check_command(
    file: Annotated[str, typer.Argument(help=FILE_HELP, metavar="FILE")],
    models: Models = "sigmoid,powerlaw,loglinear",
    cv: Annotated[str, typer.Option(help="loso | loo | none.")] = "loso",
    psense: Annotated[bool, typer.Option(help="Run the prior-sensitivity check.")] = True,
    *,
    opts: Options,
) -> None:
    """Verdict per (task, metric, family) curve: emergent, smooth, metric-induced, undetermined.

    Each verdict comes with its reasons (sharpness, comparison with smooth curves, metric
    choice, prior sensitivity, sampling density).
    """
    from ..check import check

    ui.check_outputs(opts)
    with ui.guarded():
        ui.parse_models(models, first="sigmoid")
    cfg = ui.resolve_config(opts)
    with ui.guarded():
        table = ui.load_data(file, opts, cfg)
        result = check(table, models=ui.split_list(models), cv=cv, psense=psense, config=cfg,
                       sharp_width=cfg.sharp_width)
    ui.print_frame(result.summary(),
                f"verdicts (seed {cfg.seed}, sharp = width < {cfg.sharp_width:g} decades)",
                ["task", "metric", "family", "verdict", "reasons", "p_sharp", "width_median",
                 "n_scales"])
    for r in result.records:
        ui.console.print(f"[bold]{r['task']} | {r['metric']} | {r['family']}[/]: {r['verdict']}",
                      highlight=False)
        for m in r["messages"]:
            ui.console.print(f"  - {m}", highlight=False)
    ui.write_outputs(result, opts, f"emergence check of {Path(file).name}")
    ui.exit_if_failed(list(result.fit.failed) if result.fit is not None else [], "diagnostics")
