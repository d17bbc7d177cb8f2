"""The CLI's shared options, defined once, and how they become one validated :class:`Config`.

Every option that maps to a :class:`~emergence.config.Config` field defaults to ``None``
("not given"), so that the one merge, :func:`merge_options`, can apply

    Config defaults  <  command defaults  <  TOML file (``--config``)  <  command line

and a TOML file's ``sharp_width = 0.5`` is never overridden by a default the user did not type.

Commands declare which groups of shared options they take with the :func:`shared` decorator;
the options are added to the command's signature (so typer shows them in ``--help``) and are
handed to the command as one :class:`Options` object.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import (
    FAMILY_MODES,
    LIKELIHOODS,
    PARAMETRIZATIONS,
    POOLING,
    SAMPLERS,
    SCALES,
    Config,
    make_config,
)
from ..errors import ConfigError

FILE_HELP = ("Score table (CSV/TSV/parquet), lm-eval results (a folder or .json), or a bundled "
             "dataset name (obsscaling, obsscaling_emergent, bbh, pythia_opt_bloom).")
# ---- data selection -----------------------------------------------------------------------
Scale = Annotated[str | None, typer.Option(help=f"Scale axis: {' or '.join(SCALES)}.")]
Task = Annotated[list[str] | None, typer.Option(help="Task(s) to keep; globs allowed.")]
Metric = Annotated[list[str] | None, typer.Option(help="Metric(s) to keep.")]
Family = Annotated[list[str] | None, typer.Option(help="Family(ies) to keep.")]
Sizes = Annotated[Path | None, typer.Option(help="CSV of model,params[,flops] (lm-eval results).")]
# ---- model --------------------------------------------------------------------------------
Families = Annotated[str | None, typer.Option(
    help=f"{' | '.join(FAMILY_MODES)}: one curve per family, one per task with a scale shift "
         "per family, or families ignored.")]
Likelihood = Annotated[str | None, typer.Option(help=f"{' | '.join(LIKELIHOODS)}.")]
SharpWidth = Annotated[float | None, typer.Option(
    help="Sharp = 10 %-90 % width below this many decades of scale.")]
Parametrization = Annotated[str | None, typer.Option(
    help=f"{' | '.join(PARAMETRIZATIONS)} hierarchy.")]
Pooling = Annotated[str | None, typer.Option(help=f"{' | '.join(POOLING)}.")]
# ---- sampling -----------------------------------------------------------------------------
Sampler = Annotated[str | None, typer.Option(help=f"{' | '.join(SAMPLERS)}.")]
Chains = Annotated[int | None, typer.Option(help="Chains.")]
Draws = Annotated[int | None, typer.Option(help="Draws per chain.")]
Tune = Annotated[int | None, typer.Option(help="Tuning steps per chain.")]
TargetAccept = Annotated[float | None, typer.Option(help="NUTS target acceptance.")]
Seed = Annotated[int | None, typer.Option(
    help="Random seed (stored with the result).", show_default="drawn, then stored")]
Progress = Annotated[bool | None, typer.Option(
    "--progress/--no-progress",
    help="Show progress bars.", show_default="on when stderr is a terminal")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="TOML file of options (top-level keys, or in a table named emergence); options "
                     "given on the command line win.")]
# ---- outputs ------------------------------------------------------------------------------
JsonOut = Annotated[Path | None, typer.Option(
    "--json", help="Write the full result (records, config, diagnostics) as JSON.")]
ReportOut = Annotated[Path | None, typer.Option(
    "--report", help="Write an HTML (.html) or PDF (.pdf) report.")]
PlotOut = Annotated[Path | None, typer.Option("--plot", help="Write a figure (png/pdf/svg).")]

#: Option groups: name -> {parameter name: annotated type}.
GROUPS: dict[str, dict[str, Any]] = {
    "data": {"scale": Scale, "task": Task, "metric": Metric, "family": Family, "sizes": Sizes},
    "model": {"families": Families, "likelihood": Likelihood, "sharp_width": SharpWidth,
              "parametrization": Parametrization, "pooling": Pooling},
    "sampling": {"sampler": Sampler, "chains": Chains, "draws": Draws, "tune": Tune,
                 "target_accept": TargetAccept, "seed": Seed, "progress": Progress,
                 "config_file": ConfigFile},
    "outputs": {"json_out": JsonOut, "report_out": ReportOut},
}
_CONFIG_FIELDS = frozenset(Config.__dataclass_fields__)


@dataclass
class Options:
    """The shared options one command was given (``None`` = not given)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def given(self, **command_options: Any) -> dict[str, Any]:
        """Config options given on the command line (shared ones and ``command_options``)."""
        out = {k: v for k, v in {**self.values, **command_options}.items()
               if k in _CONFIG_FIELDS and v is not None}
        return out

    def merged(self, defaults: dict[str, Any] | None = None, **command_options: Any) -> dict:
        """Options as a dict: ``defaults`` < ``--config`` file < command line (see module doc).

        ``progress`` is always set: given, or from the file, or on when stderr is a terminal.
        """
        return merge_options(self.values.get("config_file"), defaults,
                             self.given(**command_options))

    def config(self, defaults: dict[str, Any] | None = None, **command_options: Any) -> Config:
        """The validated :class:`Config` of :meth:`merged`."""
        return make_config(self.merged(defaults, **command_options))


def merge_options(config_file: Path | None, defaults: dict[str, Any] | None,
                  given: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` < TOML file < ``given``, validated (a bad value is a ConfigError)."""
    merged = dict(defaults or {})
    if config_file is not None:
        try:
            from_file = Config.from_toml(config_file)
        except FileNotFoundError:
            raise ConfigError(f"--config {config_file}: the file does not exist; check the path "
                              "or leave out --config.") from None
        except OSError as exc:
            raise ConfigError(f"--config {config_file}: cannot read it ({exc.strerror}).") from None
        except ConfigError as exc:
            raise ConfigError(f"--config {config_file}: {exc}") from None
        except ValueError as exc:  # tomllib.TOMLDecodeError
            raise ConfigError(f"--config {config_file} is not valid TOML: {exc}; fix that line "
                              "(e.g. draws = 2000, sampler = \"nutpie\") or leave out --config."
                              ) from None
        merged.update(_file_keys(config_file, from_file))
    merged.update(given)
    merged.setdefault("progress", sys.stderr.isatty())
    make_config(merged)  # validate now: the error names the option
    return merged


def _file_keys(path: Path, cfg: Config) -> dict[str, Any]:
    """The options the file sets (not the defaults :meth:`Config.from_toml` filled in)."""
    import tomllib

    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    keys = set(raw.get("emergence", raw))
    return {k: v for k, v in cfg.as_dict().items() if k in keys}


def _with_default(annotated: Any, default: Any) -> Any:
    """The option ``annotated`` with ``default`` shown as its default in ``--help``."""
    if default is None:
        return annotated
    base, info = typing.get_args(annotated)
    info = copy.copy(info)
    info.show_default = str(default)
    return Annotated[base, info]


def _shown_default(name: str, defaults: dict[str, Any] | None) -> Any:
    """The default ``--help`` shows for option ``name``: the command's own, else the
    :class:`Config` field's (read from Config, so help and behaviour cannot drift apart; until
    2026-11-28 the help said draws 2000, tune 1000, chains 2 where Config used 500, 500, 4).
    ``seed`` and ``progress`` keep their descriptions (drawn when not given; on at a
    terminal)."""
    if (defaults or {}).get(name) is not None:
        return defaults[name]  # type: ignore[index]
    if name in _CONFIG_FIELDS and name not in ("seed", "progress"):
        return Config.__dataclass_fields__[name].default
    return None


def shared(*groups: str, defaults: dict[str, Any] | None = None
           ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the options of ``groups`` (keys of :data:`GROUPS`) to a command.

    The command function takes a keyword ``opts: Options``; typer sees the command's own
    parameters followed by the shared ones. ``defaults`` are the command's own defaults of
    some options, shown in ``--help`` (the command applies them, e.g. with
    :func:`~emergence.cli._app.resolve_options`).
    """
    names = {n: _with_default(t, _shown_default(n, defaults)) for g in groups
             for n, t in GROUPS[g].items()}

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "opts"]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=t)
                 for n, t in names.items()]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            opts = Options({n: kwargs.pop(n, None) for n in names})
            return func(*args, opts=opts, **kwargs)

        command.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        command.__annotations__ = {**{p.name: p.annotation for p in own}, **names}
        del command.__wrapped__  # typer must read the signature above, not func's
        return command

    return deco
