"""The typer application and helpers shared by the commands.

Exit status of every command: **0** success; **1** the analysis ran but its own checks failed
(MCMC diagnostics of a fit: R-hat, bulk ESS or divergences; uniformity for ``sbc``); **2** bad
input (a file, an option or a value; the one-line message says which and how to fix it).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from .._version import __version__
from ..config import Config
from ..data import ScoreTable, load_scores
from ..errors import EmergenceError, EmergenceWarning
from ._options import Options, merge_options

#: Exit statuses (see the module docstring).
EXIT_OK, EXIT_FAILED_CHECKS, EXIT_BAD_INPUT = 0, 1, 2

app = typer.Typer(
    name="emergence",
    help="Bayesian analysis of emergent abilities in scaling data.\n\n"
         "Exit status: 0 ok, 1 diagnostics failed (R-hat, ESS, divergences; SBC uniformity), "
         "2 bad input.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
if not console.is_terminal:
    console = Console(stderr=False, width=200)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 200)


def _version(value: bool) -> None:
    if value:
        console.print(f"emergence {__version__}", highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Bayesian analysis of emergent abilities in scaling data."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print a one-line error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the package's warnings in a readable way."""
    for w in caught:
        if issubclass(w.category, EmergenceWarning):
            err_console.print(f"[yellow]{w.category.__name__}:[/] {w.message}", highlight=False)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Run a command's work: package warnings are collected and printed after it, and a
    package error (bad input) exits with status 2 and its one-line message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except EmergenceError as exc:
            show_warnings(caught)
            fail(str(exc))
    show_warnings(caught)


def load_input(source: str | Path, scale: str, task: list[str] | None, metric: list[str] | None,
               family: list[str] | None, sizes: Path | None = None) -> ScoreTable:
    """Load FILE: a score table (CSV/TSV/parquet), lm-eval results (a folder or .json), or the
    name of a bundled dataset (``emergence.datasets.names()``); errors exit with status 2."""
    from .. import datasets

    path = Path(source)
    sel = {"task": task or None, "metric": metric or None, "family": family or None}
    try:
        if not path.exists() and str(source) in datasets.names():
            return datasets.load(str(source), scale=scale,
                                 **{k: v for k, v in sel.items() if v is not None})
        if not path.exists() and not path.suffix and path.parent == Path("."):
            fail(f"FILE {str(source)!r} is neither a file nor a bundled dataset; give a path, or "
                 f"one of {', '.join(datasets.names())}.")
        if path.is_dir() or path.suffix.lower() == ".json":
            from ..readers import read_lm_eval

            return read_lm_eval(path, sizes=sizes, scale=scale, **sel)
        return load_scores(path, scale=scale, **sel)
    except EmergenceError as exc:
        fail(str(exc))
        raise  # unreachable


def load_data(file: str | Path, opts: Options, cfg: Config | dict[str, Any]) -> ScoreTable:
    """:func:`load_input` with the shared data-selection options; prints what was loaded."""
    scale = cfg.scale if isinstance(cfg, Config) else cfg.get("scale", "params")
    table = load_input(file, scale, opts.task, opts.metric, opts.family, opts.sizes)
    console.print(f"[bold]{table!r}[/]", highlight=False)
    return table


def build_config(config_file: Path | None, **options: Any) -> Config:
    """Config from an optional TOML file plus options given (``None`` = not given; given
    options win); errors exit with status 2."""
    from ..config import make_config

    try:
        return make_config(merge_options(config_file, None,
                                         {k: v for k, v in options.items() if v is not None}))
    except EmergenceError as exc:
        fail(str(exc))
        raise  # unreachable


def resolve_config(opts: Options, defaults: dict[str, Any] | None = None,
                   **command_options: Any) -> Config:
    """The command's validated :class:`Config` (defaults < ``--config`` file < command line);
    errors exit with status 2."""
    try:
        return opts.config(defaults, **command_options)
    except EmergenceError as exc:
        fail(str(exc))
        raise  # unreachable


def resolve_options(opts: Options, defaults: dict[str, Any] | None = None,
                    **command_options: Any) -> dict[str, Any]:
    """Like :func:`resolve_config`, as the dict of options set (for analyses that apply their
    own defaults below them, such as ``design`` and ``sbc``)."""
    try:
        return opts.merged(defaults, **command_options)
    except EmergenceError as exc:
        fail(str(exc))
        raise  # unreachable


def split_list(value: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``."""
    return [v.strip() for v in value.split(",") if v.strip()]


def write_outputs(result: Any, opts: Options, title: str, document: Any = None) -> None:
    """``--json`` (the full result document: ``(document or result).save``) and ``--report``."""
    if opts.json_out:
        (document or result).save(opts.json_out)
        console.print(f"result written to {opts.json_out}")
    if opts.report_out:
        from ..report import report as make_report

        try:
            make_report(result, opts.report_out, title=title)
        except (EmergenceError, ImportError, ValueError) as exc:
            fail(f"--report {opts.report_out}: {exc}")
        console.print(f"report written to {opts.report_out}")


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure atomically, in the format of the file's suffix."""
    from .._io import atomic_write

    atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format=path.suffix.lstrip(".") or "png"))
    console.print(f"figure written to {path}")


def exit_if_failed(failures: list[str], what: str) -> None:
    """Exit with status 1 when the analysis' own checks failed (printed first)."""
    if failures:
        console.print(f"[red]{what} failed: {'; '.join(failures)}[/]", highlight=False)
        raise typer.Exit(EXIT_FAILED_CHECKS)


def print_frame(df: pd.DataFrame, title: str, columns: list[str] | None = None,
                max_rows: int = 60) -> None:
    """Print a DataFrame as a rich table (numbers to 3 significant digits)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        t.add_column(str(c), overflow="fold")
    for _, r in df.head(max_rows).iterrows():
        t.add_row(*[_fmt(r[c]) for c in cols])
    console.print(t)
    if len(df) > max_rows:
        console.print(f"... {len(df) - max_rows} more rows (write them all with --json)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
