"""``emergence demo``: the whole question on a bundled real dataset — fit, comparison, verdicts.

The run's cost is set by the module constants below (explicit options of the command and of
:func:`run_demo`), so it can be tuned without touching the code that runs it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from .._io import atomic_write
from ._app import app, console, print_frame, show_warnings

DATASET = "obsscaling_emergent"
#: Task subset (globs); None runs every task of the bundled table.
DEMO_TASKS: list[str] | None = None
#: The package defaults (per-curve engine: 4 chains of 500 draws after 500 tuning steps).
DEMO_DRAWS = 500
DEMO_TUNE = 500
#: Cross-validation of the sigmoid against the smooth curves ("loso", "loo" or "none").
DEMO_CV = "loso"
#: Power-scaling prior sensitivity applies to the joint engine only; the per-curve engine's
#: prior check is pooling_sensitive (part of every check).
DEMO_PSENSE = False
DEMO_SEED = 20240101
TITLE = "emergence demo: is each ObsScaling emergent task's rise sharp? (Ruan et al. 2024)"
VERDICT_COLUMNS = ["task", "metric", "family", "verdict", "p_sharp_avg", "p_sharp",
                   "width_median", "n_scales", "reasons"]


def run_demo(out: Path, *, task: Sequence[str] | None = DEMO_TASKS, draws: int = DEMO_DRAWS,
             tune: int = DEMO_TUNE, cv: str = DEMO_CV, psense: bool = DEMO_PSENSE,
             seed: int = DEMO_SEED, progress: bool = False, pdf: bool = True) -> Any:
    """Check the bundled ObsScaling emergent tasks and write tables, figures and reports.

    Parameters
    ----------
    out : Path
        Folder for the outputs (``verdicts.json``, ``verdicts.csv``, ``summary.csv``,
        ``fit.nc``, ``curves_NN.png``, ``width.png``, ``report.html``, ``report.pdf``).
    task : sequence of str, optional
        Task subset (globs); all tasks by default.
    draws, tune : int
        Draws and tuning steps per chain.
    cv : {"loso", "loo", "none"}
        Comparison of the sigmoid with the smooth curves.
    psense : bool
        Run the prior-sensitivity check.
    seed : int
        Random seed.
    progress : bool
        Show sampling progress.
    pdf : bool
        Also write the PDF report.

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> from emergence.cli.demo import run_demo
    >>> res = run_demo(Path("reports/demo"), task=["arithmetic_2d*"], draws=300)  # doctest: +SKIP
    """
    from .. import caveats as CV
    from .. import datasets
    from ..check import check

    sel = {"task": list(task)} if task else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = datasets.load(DATASET, **sel)
        console.print(f"[bold]Dataset:[/] {datasets.DESCRIPTIONS[DATASET]}", highlight=False)
        console.print(f"{table!r}", highlight=False)
        cmp = ("no comparison with smooth curves (cv none)" if cv == "none" else
               f"comparison with power-law and log-linear curves (cv {cv})")
        console.print(f"check: sigmoid fit ({draws} draws + {tune} tuning steps per chain), "
                      f"{cmp}, prior sensitivity {'on' if psense else 'off'}; seed {seed}",
                      highlight=False)
        result = check(table, cv=cv, psense=psense, seed=seed, draws=draws, tune=tune,
                       progress=progress)
    show_warnings(caught)
    verdicts = CV.verdict_table(result.records, config=result.config)
    print_frame(verdicts, f"verdicts (seed {seed}; sharp = width < "
                f"{result.config.sharp_width:g} decade)", VERDICT_COLUMNS)
    for line in CV.conclusions(result.records)["headlines"]:
        console.print(f"- {line}", highlight=False)
    _write_outputs(result, out, pdf)
    return result


def _write_outputs(result: Any, out: Path, pdf: bool) -> None:
    from .. import caveats as CV
    from ..plots import plot_curve_pages, plot_width
    from ..report import report

    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "verdicts.json")
    vt = CV.verdict_table(result.records, config=result.config)
    atomic_write(out / "verdicts.csv", lambda p: vt.to_csv(p, index=False))
    written = ["verdicts.json", "verdicts.csv"]
    f = result.fit
    if f is not None:
        summ = f.summary()
        ann = CV.annotate(summ, result.records, config=f.config)
        atomic_write(out / "summary.csv", lambda p: ann.to_csv(p, index=False))
        f.save(out / "fit.nc")
        codes = CV.derive(summ, result.records, config=f.config)["caveats"].tolist()
        for k, fig in enumerate(plot_curve_pages(f, summary=summ, caveats=codes), start=1):
            atomic_write(out / f"curves_{k:02d}.png",
                         lambda p, fig=fig: fig.savefig(p, dpi=150, format="png"))
            written.append(f"curves_{k:02d}.png")
        fig = plot_width(f, summary=summ, caveats=codes, max_series=len(summ))
        atomic_write(out / "width.png", lambda p: fig.savefig(p, dpi=150, format="png"))
        written += ["summary.csv", "fit.nc", "width.png"]
    report(result, out / "report.html", title=TITLE)
    written.append("report.html")
    if pdf:
        try:
            report(result, out / "report.pdf", title=TITLE)
            written.append("report.pdf")
        except ImportError as exc:  # WeasyPrint is in the [pdf] extra (part of [all])
            console.print(f"[yellow]PDF report skipped:[/] {exc}")
    console.print(f"written to {out}/: {', '.join(written)}", highlight=False)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("reports/demo"),
    task: Annotated[list[str] | None, typer.Option(
        help="Task subset (globs); default: every task of the bundled table.")] = None,
    draws: Annotated[int, typer.Option(help="Draws per chain.")] = DEMO_DRAWS,
    tune: Annotated[int, typer.Option(help="Tuning steps per chain.")] = DEMO_TUNE,
    cv: Annotated[str, typer.Option(help="Comparison: loso | loo | none.")] = DEMO_CV,
    psense: Annotated[bool, typer.Option(help="Prior-sensitivity check.")] = DEMO_PSENSE,
    seed: Annotated[int, typer.Option(help="Random seed.")] = DEMO_SEED,
    pdf: Annotated[bool, typer.Option(help="Also write the PDF report.")] = True,
    progress: Annotated[bool, typer.Option(help="Show sampling progress.")] = True,
) -> None:
    """Answer the package's question on the bundled ObsScaling emergent tasks (Ruan et al. 2024).

    Runs `check` — sigmoid fit, comparison with smooth curves, verdicts with reasons — and writes
    the verdicts (JSON, CSV), the fit summary with caveats (CSV), the fit (NetCDF), curve and
    width figures and HTML/PDF reports that open with the verdicts, to OUT.
    """
    run_demo(out, task=task or DEMO_TASKS, draws=draws, tune=tune, cv=cv, psense=psense,
             seed=seed, progress=progress, pdf=pdf)
