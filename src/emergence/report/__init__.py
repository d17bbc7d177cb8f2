"""HTML and PDF reports from one source (a jinja2 template; PDF rendered by WeasyPrint).

The report only *reads* results: tables come from ``Fit.summary()``, check records, the
comparison's records and the diagnostics; caveats (badges, greyed numbers) from
:mod:`emergence.caveats`; figures from :mod:`emergence.plots`. It computes no statistics itself.
All text from user data (task, model, family names) goes through jinja2's autoescaping.

Saved results are accepted alike (:func:`load_saved`): a fit (``.nc``), and JSON written by
``emergence check --json``, ``emergence compare --json`` / ``--out``, ``emergence design
--json``, ``emergence sbc --json`` or a backtest. A JSON document's ``"kind"`` field decides how
it is read; documents written before that field existed are recognised by their keys.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .._io import atomic_write, atomic_write_text
from ._figures import figure_uri
from ._sections import (
    backtest_section,
    check_context,
    comparison_context,
    design_section,
    fit_context,
    sbc_section,
)
from .saved import SavedResult, load_saved

FORMATS = (".html", ".pdf")
DEFAULT_DIR = Path("reports")
LIBRARIES = ("emergence-bayes", "pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas",
             "xarray", "matplotlib", "jinja2", "weasyprint")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def _sort(results: Sequence[Any]) -> dict[str, list[Any]]:
    """Group results by kind (objects and saved documents alike)."""
    from ..check import CheckResult
    from ..compare import Comparison
    from ..design import DesignResult
    from ..results import Fit
    from ..sbc import SBCResult

    kinds: dict[str, list[Any]] = {k: [] for k in ("fit", "check", "compare", "design", "sbc",
                                                   "backtest")}
    types = ((Fit, "fit"), (CheckResult, "check"), (Comparison, "compare"),
             (DesignResult, "design"), (SBCResult, "sbc"))
    for r in results:
        if isinstance(r, str | Path):
            r = load_saved(r)
        if isinstance(r, dict):
            r = SavedResult.from_document(r)
        if isinstance(r, SavedResult):
            kinds[r.kind].append(r.value)
            continue
        kind = next((k for t, k in types if isinstance(r, t)), None)
        if kind is None:
            raise TypeError(
                f"cannot report a {type(r).__name__}; pass a Fit, a Comparison, a CheckResult, "
                "a DesignResult, an SBCResult, a saved result's path or a list of them."
            )
        kinds[kind].append(r)
    return kinds


def _context(results: Sequence[Any], title: str, max_figures: int, fmt: str) -> dict[str, Any]:
    kinds = _sort(results)
    check = kinds["check"][0] if kinds["check"] else None
    ctx: dict[str, Any] = {
        "title": title, "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": _versions(), "verdicts": [], "conclusions": None, "check_notes": [],
        "comparison": None, "fit": None, "caveat_glossary": [], "details": [],
        "designs": [design_section(d, fmt) for d in kinds["design"]],
        "sbc": [sbc_section(c, fmt) for c in kinds["sbc"]],
        "backtests": [backtest_section(b) for b in kinds["backtest"]],
    }
    comparison = kinds["compare"][0] if kinds["compare"] else None
    fit = kinds["fit"][0] if kinds["fit"] else None
    if check is not None:
        ctx.update(check_context(check))
        comparison = comparison or getattr(check, "comparison", None)
        fit = fit or getattr(check, "fit", None)
    if comparison is not None:
        ctx["comparison"] = comparison_context(comparison)
        if fit is None:
            fit = (getattr(comparison, "fits", {}) or {}).get("sigmoid")
    if fit is not None:
        ctx["fit"] = fit_context(fit, ctx.get("records") or [], max_figures, fmt)
    _glossary(ctx)
    return ctx


def _glossary(ctx: dict[str, Any]) -> None:
    """The caveats that occur in this report, with their sentences (a legend of the badges)."""
    from ..caveats import CAVEATS, ORDER

    used: set[str] = set()
    for row in ctx["verdicts"]:
        used.update(row["caveats"])
    if ctx["fit"]:
        for row in ctx["fit"]["summary_rows"]:
            used.update(row["caveats"])
    ctx["caveat_glossary"] = [CAVEATS[c] for c in ORDER if c in used]


def _wrap_underscores(text: Any) -> Any:
    """Escape ``text`` and allow line breaks after underscores (long task names)."""
    from markupsafe import Markup, escape

    return Markup(str(escape(str(text))).replace("_", "_<wbr>"))


def render_html(results: Any | Sequence[Any], *, title: str = "emergence report",
                max_figures: int = 150, figure_format: str = "svg") -> str:
    """Render the report as a self-contained HTML string (figures inlined, no network).

    Parameters
    ----------
    results : result, saved result's path, or list of them
        What to report (see :func:`report`).
    title : str
        Title of the report.
    max_figures : int
        Curves drawn in figures (the others appear in the tables only).
    figure_format : {"svg", "png"}
        Inline figures as SVG (vector, default) or PNG at 150 dpi.

    Returns
    -------
    str
        The HTML page.

    Examples
    --------
    >>> page = render_html(em.load_fit("fit.nc"))  # doctest: +SKIP
    """
    import jinja2

    res = list(results) if isinstance(results, list | tuple) else [results]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emergence", "report/templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
    )
    env.filters["wrap_"] = _wrap_underscores
    return env.get_template("report.html.j2").render(
        **_context(res, title, max_figures, figure_format))


def report(results: Any | Sequence[Any], path: str | Path | None = None, *,
           title: str = "emergence report", max_figures: int = 150) -> Path:
    """Write an HTML or PDF report of results, or of saved results, alike.

    Parameters
    ----------
    results : result, path, or list of them
        A ``Fit``, ``Comparison``, ``CheckResult`` (brings its fit and comparison along),
        ``DesignResult``, ``SBCResult``; or the path of a saved one (``.nc`` fit, ``.json``
        check / compare / design / sbc / backtest — dispatched on the JSON's ``"kind"``) or its
        loaded JSON document.
    path : str or Path, optional
        Output file, ``.html`` or ``.pdf``; default ``reports/report.html``.
    title : str
        Title of the report.
    max_figures : int
        Curves drawn in figures, to keep the file small (all curves are in the tables).

    Returns
    -------
    Path
        The written file (written atomically).

    Examples
    --------
    >>> import emergence as em
    >>> em.report("verdicts.json", "reports/check.pdf")  # doctest: +SKIP
    """
    path = Path(path) if path is not None else DEFAULT_DIR / "report.html"
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"report path {str(path)!r} must end in .html or .pdf (got {suffix!r}).")
    page = render_html(results, title=title, max_figures=max_figures)
    if suffix == ".html":
        return atomic_write_text(path, page)
    try:
        import weasyprint
    except ImportError as exc:
        raise ImportError("PDF reports need WeasyPrint: pip install 'emergence-bayes[pdf]'.") from exc
    doc = weasyprint.HTML(string=page, base_url=str(path.parent))
    return atomic_write(path, lambda p: doc.write_pdf(str(p)))


__all__ = ["figure_uri", "load_saved", "render_html", "report"]
