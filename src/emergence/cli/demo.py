"""``emergence demo``: the whole pipeline on a bundled real dataset."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._io import atomic_write, write_csv
from ._app import app, console, print_frame, show_warnings
from .fit import SUMMARY_COLUMNS


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("reports/demo"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20240101,
    progress: Annotated[bool, typer.Option(help="Show sampling progress.")] = True,
) -> None:
    """Fit the bundled ObsScaling emergent tasks (Ruan et al. 2024) end to end.

    Writes the summary (CSV), the fit (NetCDF), figures of data with posterior curves and
    50/90 % bands and of the width posteriors, and HTML and PDF reports, to OUT.
    """
    from .. import datasets
    from ..plots import plot_curves, plot_width
    from ..results import fit as do_fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = datasets.load("obsscaling_emergent")
        console.print(f"[bold]Dataset:[/] {datasets.DESCRIPTIONS['obsscaling_emergent']}")
        console.print(f"{table!r}", highlight=False)
        result = do_fit(table, seed=seed, progress=progress)
    show_warnings(caught)
    summ = result.summary()
    print_frame(summ, f"sigmoid fit (seed {seed}; {result.timing.compile:.1f} s compile, "
                f"{result.timing.sample:.1f} s sampling)", SUMMARY_COLUMNS)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(summ, out / "summary.csv")
    result.save(out / "fit.nc")
    fig = plot_curves(result)
    atomic_write(out / "curves.png", lambda p: fig.savefig(p, dpi=80, format="png"))
    fig = plot_width(result)
    atomic_write(out / "width.png", lambda p: fig.savefig(p, dpi=110, format="png"))
    from ..report import report

    title = "emergence demo: ObsScaling emergent tasks (Ruan et al. 2024)"
    report(result, out / "report.html", title=title)
    try:
        report(result, out / "report.pdf", title=title)
    except ImportError as exc:  # WeasyPrint is in the [pdf] extra (part of [all])
        console.print(f"[yellow]PDF report skipped:[/] {exc}")
    d = result.diagnostics
    console.print(
        f"diagnostics: R-hat max {d['rhat_max']:.3f}, bulk ESS min {d['ess_bulk_min']:.0f}, "
        f"divergences {d['divergences']}"
        + ("" if not result.failed else f" [red](failed: {'; '.join(result.failed)})[/]")
    )
    console.print(f"written: {out}/summary.csv, fit.nc, curves.png, width.png, report.html, "
                  "report.pdf")
