"""``emergence report``: HTML or PDF report of saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console, fail


@app.command("report")
def report_command(
    result: Annotated[Path, typer.Argument(help="A saved fit (.nc, from `emergence fit --out`).")],
    out: Annotated[Path, typer.Option(help="Output .html or .pdf.")] = Path("reports/report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "emergence report",
) -> None:
    """Write an HTML or PDF report of a saved fit."""
    from ..report import report
    from ..results import load_fit

    try:
        fit = load_fit(result)
        path = report(fit, out, title=title)
    except (OSError, ValueError) as exc:
        fail(str(exc))
        return
    console.print(f"report written to {path}")
