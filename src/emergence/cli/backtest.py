"""``emergence backtest``: hold out the largest models of each curve, predict them, score it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _app as ui
from ._app import app
from ._options import FILE_HELP, Options, shared
from .compare import Models

_SHELL = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 13px;
        max-width: 1150px; margin: 0 auto; padding: 0 18px 40px; color: #222; }
 h2 { font-size: 19px; border-bottom: 2px solid #ddd; } h3 { font-size: 15px; }
 table { border-collapse: collapse; width: 100%; font-size: 12px; }
 th, td { border-bottom: 1px solid #e2e2e2; padding: 3px 6px; text-align: left; }
 th { background: #f3f3f3; } td.num { text-align: right; }
 .meta { color: #555; font-size: 12px; } .note { color: #7a4d00; }
</style></head><body><h1>{{ title }}</h1>
<p class="meta">Generated {{ generated }} by emergence {{ version }}; data: {{ source }}.</p>
{% include "_backtest.html.j2" %}
</body></html>"""


def write_report(result: Any, path: Path, title: str) -> Path:
    """Write the back-test section as a standalone HTML or PDF page (atomically)."""
    import datetime as dt

    import jinja2

    from .. import __version__
    from .._io import atomic_write, atomic_write_text
    from ..plots_backtest import backtest_section

    suffix = path.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise ValueError(f"report path {str(path)!r} must end in .html or .pdf.")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emergence", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True,
                                            default_for_string=True))
    page = env.from_string(_SHELL).render(
        title=title, backtest=backtest_section(result), version=__version__,
        source=result.config.get("source", ""),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if suffix == ".html":
        return atomic_write_text(path, page)
    try:
        import weasyprint
    except ImportError as exc:
        raise ImportError("PDF reports need WeasyPrint: pip install 'emergence-bayes[pdf]'.") \
            from exc
    doc = weasyprint.HTML(string=page, base_url=str(path.parent))
    return atomic_write(path, lambda p: doc.write_pdf(str(p)))


@app.command("backtest")
@shared("data", "model", "sampling", "outputs")
def backtest_command(
    file: Annotated[str, typer.Argument(help=FILE_HELP, metavar="FILE")],
    holdout: Annotated[int, typer.Option(
        help="Largest models held out per curve (and family).")] = 1,
    models: Models = "sigmoid",
    methods: Annotated[str, typer.Option(help="Comma-separated methods to score.")] = (
        "emergence,logistic_lsq,linear,persistence"),
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
        result = backtest(table, holdout=holdout, models=ui.split_list(models),
                          methods=ui.split_list(methods), config=cfg)
    ui.print_frame(result.summary(), f"back-test, {holdout} held out per curve (seed {cfg.seed})")
    if len(result.skipped):
        ui.console.print(f"{len(result.skipped)} curve(s) not back-tested (fewer than "
                         f"{holdout + 3} sizes); listed in the JSON under 'skipped'.")
    if opts.json_out:
        result.save(opts.json_out)
        ui.console.print(f"result written to {opts.json_out}")
    if opts.report_out:
        write_report(result, Path(opts.report_out), f"emergence back-test of {Path(file).name}")
        ui.console.print(f"report written to {opts.report_out}")
