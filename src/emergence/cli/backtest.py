"""``emergence backtest``: forecast each curve's largest models from the smaller ones, scored."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import EmergenceError
from ._app import app, console, fail, load_input, print_frame, show_warnings

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
def backtest_command(
    file: Annotated[Path, typer.Argument(help="Score table (CSV/TSV/parquet) or lm-eval results.")],
    holdout: Annotated[int, typer.Option(help="Largest sizes held out per family of a curve.")] = 1,
    models: Annotated[str, typer.Option(
        help="Comma-separated curve models of the package's forecast (equal-weight mixture).")
    ] = "sigmoid",
    methods: Annotated[str, typer.Option(help="Comma-separated methods to score.")] = (
        "emergence,logistic_lsq,linear,persistence"),
    scale: Annotated[str, typer.Option(help="Scale axis: params or flops.")] = "params",
    task: Annotated[list[str] | None, typer.Option(help="Task(s) to keep; globs allowed.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric(s) to keep.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Family(ies) to keep.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (stored with the result).")] = None,
    draws: Annotated[int | None, typer.Option(help="Posterior draws per chain.")] = None,
    tune: Annotated[int | None, typer.Option(help="Tuning steps per chain.")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the full result (summary, records, config) as JSON.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML or PDF report.")] = None,
) -> None:
    """Hold out each curve's largest models, forecast them from the smaller ones and score the
    forecasts of the package and of point-fit baselines (coverage, width, log score, CRPS)."""
    from ..backtest import backtest

    if report is not None and report.suffix.lower() not in (".html", ".pdf"):
        fail(f"--report {str(report)!r} must end in .html or .pdf.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_input(file, scale, task, metric, family)
        console.print(f"[bold]{table!r}[/]", highlight=False)
        try:
            result = backtest(table, holdout=holdout, models=_split(models),
                              methods=_split(methods), seed=seed, scale=scale, draws=draws,
                              tune=tune)
        except (EmergenceError, ValueError) as exc:
            fail(str(exc))
            return
    show_warnings(caught)
    print_frame(result.summary(), f"back-test of {len(result.curves)} curves, holdout "
                f"{holdout} (seed {result.config['seed']})")
    if len(result.skipped):
        console.print(f"{len(result.skipped)} curve(s) not back-tested (fewer than "
                      f"{holdout + 3} sizes); listed in the JSON under 'skipped'.")
    try:
        if json_out:
            result.save(json_out)
            console.print(f"result written to {json_out}")
        if report:
            write_report(result, report, f"emergence back-test of {file.name}")
            console.print(f"report written to {report}")
    except (OSError, ValueError, ImportError) as exc:
        fail(str(exc))


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]
