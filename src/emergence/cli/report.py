"""``emergence report``: HTML or PDF report of saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, console, fail


@app.command("report")
def report_command(
    result: Annotated[Path, typer.Argument(
        help="A saved fit (.nc, from `emergence fit --out`) or SBC result (.json, from "
             "`emergence sbc --json`).")],
    out: Annotated[Path, typer.Option(help="Output .html or .pdf.")] = Path("reports/report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "emergence report",
) -> None:
    """Write an HTML or PDF report of a saved fit or SBC result."""
    from ..report import report
    from ..results import load_fit
    from ..sbc import load_sbc

    try:
        res = load_sbc(result) if result.suffix.lower() == ".json" else load_fit(result)
        path = report(res, out, title=title)
    except (OSError, ValueError) as exc:
        fail(str(exc))
        return
    console.print(f"report written to {path}")
