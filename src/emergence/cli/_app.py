"""The typer application and helpers shared by the commands."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from typer.core import TyperGroup

from .._version import __version__
from ..config import Config, make_config
from ..data import ScoreTable, load_scores
from ..errors import EmergenceError, EmergenceWarning, Interrupted, LargeTableWarning
from ..report.console import silence_third_party
from ._options import Options, merge_options

#: Exit statuses: 0 success, 1 failed MCMC diagnostics, 2 bad input (data, options, paths),
#: 3 an unexpected internal error (a bug: rerun with --debug and report the traceback),
#: 130 interrupted (Ctrl-C; nothing was saved).
EXIT_OK, EXIT_FAILED_CHECKS = 0, 1
EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130
INTERRUPTED_MESSAGE = "interrupted — nothing was saved."
_DEBUG_ENV = "EMERGENCE_DEBUG"


def debug_enabled() -> bool:
    """Whether tracebacks are shown (``--debug`` anywhere on the command line, or
    ``EMERGENCE_DEBUG=1``)."""
    return os.environ.get(_DEBUG_ENV, "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if len(text) <= 600 else text[:600] + " ..."


class CatchAllGroup(TyperGroup):
    """The command group: no Python traceback ever reaches the user.

    The package's own errors (bad data, options, paths) and ``OSError`` become a one-line
    ``error:`` and exit status 2; Ctrl-C (``KeyboardInterrupt`` or
    :class:`~emergence.errors.Interrupted`) says that nothing was saved and exits 130; any
    other exception is a one-line ``internal error`` naming its type, with a pointer to
    ``--debug`` for the traceback, and exit status 3.
    """

    def invoke(self, ctx: Any) -> Any:
        with _SigintFlag() as sigint:
            return self._invoke_guarded(ctx, sigint)

    def _invoke_guarded(self, ctx: Any, sigint: _SigintFlag) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort) as exc:
            if isinstance(exc, typer.Abort) and isinstance(exc.__context__, KeyboardInterrupt):
                _interrupted()
            raise
        except (KeyboardInterrupt, Interrupted) as exc:
            if debug_enabled():
                raise
            _interrupted(exc)
        except EmergenceError as exc:
            if debug_enabled():
                raise
            fail(_one_line(exc))
        except OSError as exc:  # unreadable input, unwritable output, full disk
            if debug_enabled():
                raise
            fail(_one_line(exc) + " Check the path and its permissions.")
        except Exception as exc:  # the boundary: nothing escapes as a traceback
            if debug_enabled() or _is_usage_error(exc):
                raise
            if sigint.hit:  # a library turned Ctrl-C into another error (nutpie during tuning)
                _interrupted()
            fail(f"internal error ({type(exc).__name__}: {_one_line(exc)}). This is a bug; "
                 "rerun the same command with --debug to see the traceback, and report it.",
                 code=EXIT_INTERNAL, label="internal error")


class _SigintFlag:
    """Record whether Ctrl-C was pressed while a command ran (the default handler still raises
    ``KeyboardInterrupt``); installed from the main thread only."""

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None
        self._old_hook: Any = None

    def __enter__(self) -> _SigintFlag:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum: int, frame: Any) -> None:
                self.hit = True
                if callable(self._old):
                    self._old(signum, frame)
                else:
                    raise KeyboardInterrupt

            signal.signal(signal.SIGINT, handler)
            self._old_hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, info: Any) -> None:
        """Ctrl-C landing in a C callback (numba's compiler) is swallowed by Python with a
        printed traceback; print nothing and raise the signal again, so that it stops the
        command in ordinary Python code."""
        import signal
        import threading

        if isinstance(info.exc_value, KeyboardInterrupt):
            # from another thread a moment later: raised inside this hook, it would be
            # swallowed (and printed) again
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
            return
        self._old_hook(info)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            sys.unraisablehook = self._old_hook


def _is_usage_error(exc: BaseException) -> bool:
    from typer._click.exceptions import ClickException

    return isinstance(exc, ClickException)


def _interrupted(exc: BaseException | None = None) -> None:
    """Say what an interrupt kept: nothing, unless the :class:`Interrupted` message says more."""
    text = str(exc).rstrip(".") if isinstance(exc, Interrupted) and str(exc) else ""
    from rich.markup import escape

    msg = f"interrupted — {text}." if text else INTERRUPTED_MESSAGE
    err_console.print(f"[bold red]{escape(msg)}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INTERRUPTED)


app = typer.Typer(
    name="emergence",
    help="Bayesian analysis of emergent abilities in scaling data. Exit status: 0 ok, 1 failed "
         "MCMC diagnostics, 2 bad input, 3 internal error, 130 interrupted. Add --debug to any "
         "command to see the traceback of an error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CatchAllGroup,
)
console = Console(stderr=False)
if not console.is_terminal:
    console = Console(stderr=False, width=200)
silence_third_party()
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


def fail(message: str, code: int = EXIT_BAD_INPUT, label: str = "error") -> None:
    """Print a one-line error and exit with ``code``."""
    from rich.markup import escape

    err_console.print(f"[bold red]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``emergence`` console script.

    ``--debug`` anywhere before a ``--`` turns tracebacks on (it sets ``EMERGENCE_DEBUG=1``);
    everything else goes to the typer app, whose :class:`CatchAllGroup` turns every exception
    into a one-line message and an exit status. Exits with that status (``SystemExit``).

    Examples
    --------
    >>> main(["--help"])  # doctest: +SKIP
    """
    args = list(sys.argv[1:] if argv is None else argv)
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:cut]:
        args = [a for i, a in enumerate(args) if a != "--debug" or i >= cut]
        os.environ[_DEBUG_ENV] = "1"
    if not isinstance(sys.stdout, _ClosedPipeSafe) and sys.stdout is not None:
        sys.stdout = _ClosedPipeSafe(sys.stdout)
    try:
        app(args=args, prog_name="emergence")
    except KeyboardInterrupt:  # raised outside a command (while importing, parsing)
        err_console.print(f"[bold red]{INTERRUPTED_MESSAGE}[/]", highlight=False)
        raise SystemExit(EXIT_INTERRUPTED) from None


class _ClosedPipeSafe:
    """``sys.stdout`` that drops the console output once its reader has gone.

    ``emergence check FOLDER --json out.json | head`` closes the pipe after ten lines; the
    next print raised ``BrokenPipeError``, which stopped the command before it wrote
    ``out.json`` (and printed a misleading "check the path" error). Now the rest of the
    output goes to ``os.devnull`` and the command runs to its end.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        """Point the stream's file descriptor at os.devnull (Python's own flush at exit then
        finds a reader) and drop whatever follows."""
        self._gone = True
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the package's warnings in a readable way (each distinct warning once)."""
    from ..report.console import unique_warnings

    for w in unique_warnings(caught):
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


def load_input(source: str | Path, scale: str, task: list[str] | None,
               metric: list[str] | None, family: list[str] | None,
               sizes: Path | None = None) -> ScoreTable:
    """Load FILE: a score table (CSV/TSV/parquet), lm-eval results (a folder or .json), or the
    name of a bundled dataset (``emergence.datasets.names()``); errors exit with status 2."""
    from .. import datasets

    path = Path(source)
    sel = {"task": task or None, "metric": metric or None, "family": family or None}
    if not path.exists() and str(source) in datasets.names():
        try:
            return datasets.load(str(source), scale=scale,
                                 **{k: v for k, v in sel.items() if v is not None})
        except EmergenceError as exc:
            fail(_one_line(exc))
    if not path.exists() and not path.suffix and path.parent == Path("."):
        fail(f"FILE {str(source)!r} is neither a file nor a bundled dataset; give a path, or "
             f"one of {', '.join(datasets.names())}.")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if path.is_dir() or path.suffix.lower() == ".json":
                from ..readers import read_lm_eval

                table = read_lm_eval(path, sizes=sizes, scale=scale, task=task or None,
                                     metric=metric or None, family=family or None)
            else:
                table = load_scores(path, scale=scale, task=task or None, metric=metric or None,
                                    family=family or None)
    except EmergenceError as exc:
        fail(_one_line(exc))
        raise  # unreachable
    for w in caught:  # a size warning is shown now, before a long fit; the rest as usual
        if issubclass(w.category, LargeTableWarning):
            err_console.print(f"[yellow]{w.category.__name__}:[/] {w.message}", highlight=False)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return table


def parse_models(models: str, first: str | None = None) -> list[str]:
    """The comma-separated ``--models`` list, validated before any work (unknown names, and
    ``first`` when the command needs that model first); errors exit with status 2."""
    from ..compare import _check_models
    from ..config import MODELS
    from ..errors import ConfigError

    names = [m.strip() for m in models.split(",") if m.strip()]
    if len(names) >= 2:
        names = _check_models(names)
    bad = [m for m in names if m not in MODELS]
    if bad or not names:
        raise ConfigError(f"--models {models!r}: unknown model(s) {', '.join(map(repr, bad))}; "
                          f"valid models are {', '.join(MODELS)}.")
    if first is not None and names[0] != first:
        raise ConfigError(f"--models {models!r}: the first model must be {first!r}, e.g. "
                          f"{first},powerlaw,loglinear.")
    return names


def load_data(file: str | Path, opts: Options, cfg: Config | dict[str, Any]) -> ScoreTable:
    """:func:`load_input` with the shared data-selection options; prints what was loaded."""
    scale = cfg.scale if isinstance(cfg, Config) else cfg.get("scale", "params")
    table = load_input(file, scale, opts.task, opts.metric, opts.family, opts.sizes)
    console.print(f"[bold]{table!r}[/]", highlight=False)
    return table


def build_config(config_file: Path | None, **options: Any) -> Config:
    """Config from an optional TOML file plus CLI flags (flags win)."""
    import tomllib

    try:
        return make_config(merge_options(config_file, None,
                                         {k: v for k, v in options.items() if v is not None}))
    except tomllib.TOMLDecodeError as exc:
        fail(f"config file {str(config_file)!r} is not valid TOML ({exc}); fix that line (e.g. "
             "draws = 2000, sampler = \"nutpie\") or leave out --config.")
        raise
    except FileNotFoundError:
        fail(f"config file {str(config_file)!r} does not exist; check the path.")
        raise
    except UnicodeDecodeError:
        fail(f"config file {str(config_file)!r} is not UTF-8 text; save it as UTF-8 TOML.")
        raise
    except (EmergenceError, OSError) as exc:
        where = f"config file {str(config_file)!r}: " if config_file and isinstance(
            exc, EmergenceError) else ""
        fail(where + _one_line(exc))
        raise


def check_outputs(opts: Options, *extra: tuple[str, Any, Any]) -> None:
    """Check every output path of a command before any work (``--json``, ``--report`` and the
    command's own ``extra`` ``(option, path, extensions)``); a bad one exits with status 2."""
    from .._io import JSON, REPORT, check_output_paths

    specs = [("--json", opts.values.get("json_out"), JSON),
             ("--report", opts.values.get("report_out"), REPORT), *extra]
    try:
        check_output_paths(*specs)
    except EmergenceError as exc:
        fail(_one_line(exc))


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
