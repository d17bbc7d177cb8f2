"""``emergence backtest``: hold out the largest models of each curve, predict them, score it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, shared
from .compare import Models


@app.command("backtest")
@shared("data", "model", "sampling", "outputs")
def backtest_command(
    file: Annotated[str, typer.Argument(help=FILE_HELP, metavar="FILE")],
    holdout: Annotated[int, typer.Option(
        help="Largest models held out per curve (and family).")] = 1,
    models: Models = "sigmoid",
    *,
    opts: Options,
) -> None:
    """Predict each curve's largest models from its smaller ones, and score the predictions.

    Scores: interval coverage, width, log score and CRPS, against simple baselines.
    """
    try:
        from ..backtest import backtest
    except ModuleNotFoundError as exc:
        ui.fail(f"this installation has no back-testing module ({exc}); reinstall emergence-bayes.")
        return
    ui.check_outputs(opts)
    cfg = ui.resolve_config(opts)
    with ui.guarded():
        table = ui.load_data(file, opts, cfg)
        result = backtest(table, holdout=holdout, models=ui.split_list(models), config=cfg)
    ui.print_frame(result.summary(), f"back-test, {holdout} held out per curve (seed {cfg.seed})")
    ui.write_outputs(result, opts, f"emergence back-test of {Path(file).name}")
