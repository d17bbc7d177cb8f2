"""The typer application and helpers shared by the commands."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console

from ..config import Config, make_config
from ..data import ScoreTable, load_scores
from ..errors import EmergenceError, EmergenceWarning
from ..report.console import silence_third_party

app = typer.Typer(
    name="emergence",
    help="Bayesian analysis of emergent abilities in scaling data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
if not console.is_terminal:
    console = Console(stderr=False, width=200)
silence_third_party()
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 200)


def fail(message: str, code: int = 2) -> None:
    """Print an error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the package's warnings in a readable way (each distinct warning once)."""
    from ..report.console import unique_warnings

    for w in unique_warnings(caught):
        if issubclass(w.category, EmergenceWarning):
            err_console.print(f"[yellow]{w.category.__name__}:[/] {w.message}", highlight=False)


def load_input(path: Path, scale: str, task: list[str] | None, metric: list[str] | None,
               family: list[str] | None, sizes: Path | None = None) -> ScoreTable:
    """Load FILE (a score table, or lm-eval results: a folder or .json) with the CLI's
    selections; errors exit with a clear message."""
    try:
        if path.is_dir() or path.suffix.lower() == ".json":
            from ..readers import read_lm_eval

            return read_lm_eval(path, sizes=sizes, scale=scale, task=task or None,
                                metric=metric or None, family=family or None)
        return load_scores(path, scale=scale, task=task or None, metric=metric or None,
                           family=family or None)
    except EmergenceError as exc:
        fail(str(exc))
        raise  # unreachable


def build_config(config_file: Path | None, **options: Any) -> Config:
    """Config from an optional TOML file plus CLI flags (flags win)."""
    try:
        base = Config.from_toml(config_file) if config_file else None
        return make_config(base, **options)
    except (EmergenceError, OSError) as exc:
        fail(str(exc))
        raise


def print_frame(df: pd.DataFrame, title: str, columns: list[str] | None = None,
                max_rows: int = 60) -> None:
    """Print a DataFrame as a rich table (numbers to 3 significant digits; curve tables carry
    their caveat badges, see :mod:`emergence.caveats`)."""
    from ..report.console import frame_table

    console.print(frame_table(df, title, columns, max_rows=max_rows))
    if len(df) > max_rows:
        console.print(f"... {len(df) - max_rows} more rows (write them all with --summary)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
