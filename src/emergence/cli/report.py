"""``emergence report``: HTML or PDF report of saved results (any kind, alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console, fail


@app.command("report")
def report_command(
    results: Annotated[list[Path], typer.Argument(
        help="Saved results: a fit (.nc, from `emergence fit --out`) and/or JSON written by "
             "`emergence check --json`, `compare --json`/`--out`, `design --json`, "
             "`sbc --json` or a backtest.")],
    out: Annotated[Path, typer.Option(help="Output .html or .pdf.")] = Path("reports/report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "emergence report",
) -> None:
    """Write an HTML or PDF report of saved results (a JSON's "kind" decides how it is read)."""
    from ..report import load_saved, report

    try:
        saved = [load_saved(p) for p in results]
        path = report(saved, out, title=title)
    except (OSError, ValueError, TypeError) as exc:
        fail(str(exc))
        return
    console.print(f"report written to {path}")
