"""Console output shared by the commands: tables with caveat badges, deduplicated warnings.

The same caveats (:mod:`emergence.caveats`) as in CSV/JSON, HTML and PDF: a ``caveats`` column
with the badges, and numbers that must not be read printed dim. Column headers wrap between
words only (never mid-word), and long cells wrap instead of being cut.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from .. import caveats as CV

#: Loggers of third-party libraries whose generic banners the CLI silences (their findings are
#: reported per curve by emergence instead), e.g. ArviZ's "We detected potential issues...".
QUIET_LOGGERS = ("arviz_stats.psense", "arviz_stats", "arviz")
#: Columns whose cells are numbers the caveats may grey out.
_GREYABLE = set(CV.GREY_COLUMNS["all"])


def silence_third_party() -> None:
    """Silence third-party banners on stderr (ArviZ's psense banner and the like).

    Examples
    --------
    >>> silence_third_party()
    >>> logging.getLogger("arviz_stats.psense").level >= logging.ERROR
    True
    """
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def unique_warnings(caught: Iterable[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    """Warnings with repeats removed (same category and text), in first-seen order.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     for _ in range(3):
    ...         warnings.warn("same", UserWarning)
    >>> len(unique_warnings(w))
    1
    """
    seen: set[tuple[type, str]] = set()
    out = []
    for w in caught:
        key = (w.category, str(w.message))
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out


def header(name: str) -> str:
    """Readable header of a column: the shared label, or the name with spaces for ``_``.

    Examples
    --------
    >>> header("p_sharp_avg"), header("width_interval_median")
    ('P(sharp), model-averaged', 'width interval median')
    """
    return CV.LABELS.get(name, name.replace("_", " "))


def _cell(v: Any, column: str) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "-"
        if column.startswith("p_sharp"):
            return "<0.01" if v < 0.005 else ">0.99" if v > 0.995 else f"{v:.2f}"
        return f"{v:.3g}"
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return str(v)


def _columns(df: pd.DataFrame, columns: Sequence[str] | None) -> list[str]:
    """Requested columns, with task/metric/family merged into ``curve`` and median/lo/hi
    triplets into one interval column (fewer, readable columns)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    if {"task", "metric", "family"} <= set(cols):
        at = cols.index("task")
        cols = [c for c in cols if c not in ("task", "metric", "family")]
        cols.insert(at, "curve")
    for pre in ("threshold", "width"):
        trio = [f"{pre}_median", f"{pre}_lo", f"{pre}_hi"]
        if set(trio) <= set(cols):
            at = cols.index(trio[0])
            cols = [c for c in cols if c not in trio]
            cols.insert(at, f"{pre}_interval")
    return cols


def _value(r: Any, c: str) -> str:
    if c == "curve":
        return " | ".join(str(r[k]) for k in ("task", "metric", "family"))
    if c.endswith("_interval") and c != "width_interval_median":
        pre = c[: -len("_interval")]
        m, lo, hi = (r[f"{pre}_{k}"] for k in ("median", "lo", "hi"))
        return "-" if m != m else f"{m:.2f} [{lo:.2f}, {hi:.2f}]"
    if c == "reasons":
        return str(r[c]).replace("_", " ")
    return _cell(r[c], c)


_HEADERS = {"curve": "curve (task | metric | family)", "threshold_interval": "threshold [90 %]",
            "width_interval": "width, decades [90 %]"}
_GREY_OF = {"threshold_interval": "threshold_median", "width_interval": "width_median"}


def frame_table(df: pd.DataFrame, title: str, columns: Sequence[str] | None = None, *,
                max_rows: int = 60, records: Sequence[dict[str, Any]] | None = None,
                config: Any = None) -> Any:
    """A rich Table of a DataFrame; curve tables get a ``caveats`` column and dim numbers.

    A frame is a curve table when it has ``task``/``metric``/``family`` and ``n_scales``
    columns (a fit summary or verdict table); its caveats come from :func:`caveats.derive`
    (or the frame's own ``caveat_badges``/``grey`` columns). Task, metric and family are shown
    as one ``curve`` column and median/lo/hi as one interval, so the table stays narrow; headers
    and cells wrap between words only.

    Returns
    -------
    rich.table.Table

    Examples
    --------
    >>> t = frame_table(pd.DataFrame({"task": ["a"], "metric": ["m"], "family": ["F"],
    ...                               "n_scales": [2], "p_sharp": [0.6]}), "demo")
    >>> [c.header for c in t.columns]
    ['curve (task | metric | family)', 'scales', 'P(sharp), sigmoid', 'caveats']
    """
    from rich.table import Table

    cols = _columns(df, columns)
    badges, grey = _caveats_of(df, records, config)
    if badges is not None and "caveats" not in cols:
        cols = [*cols, "caveats"]
    head = df.head(max_rows).reset_index(drop=True)
    t = Table(title=title, header_style="bold", show_lines=False)
    for c in cols:
        h = _HEADERS.get(c, header(c))
        numeric = _GREY_OF.get(c, c) in _GREYABLE or c in ("rhat_max", "ess_bulk_min")
        values = [_value(r, c) for _, r in head.iterrows()] if c != "caveats" else list(
            badges or [])
        longest = max(len(w) for text in [h, *values] for w in str(text).split())
        if numeric:  # a number is never broken: its column is at least as wide as it
            longest = max([longest, *map(len, values)])
        t.add_column(h, overflow="fold", min_width=min(longest, 28), no_wrap=False,
                     justify="right" if numeric else "left")
    for i, r in head.iterrows():
        cells = []
        for c in cols:
            if c == "caveats" and badges is not None:
                cells.append(f"[yellow]{badges[i]}[/]" if badges[i] else "")
                continue
            text = _value(r, c).replace("[", r"\[")
            dim = grey is not None and grey[i] and _GREY_OF.get(c, c) in CV.GREY_COLUMNS[grey[i]]
            cells.append(f"[dim]{text}[/]" if dim else text)
        t.add_row(*cells)
    return t


def _caveats_of(df: pd.DataFrame, records: Any, config: Any) -> tuple[Any, Any]:
    if {"caveat_badges", "grey"} <= set(df.columns):
        return df["caveat_badges"].fillna("").tolist(), df["grey"].fillna("").tolist()
    if not ({"task", "n_scales"} <= set(df.columns)):
        return None, None
    if "verdict" in df.columns and "reasons" in df.columns:
        recs = df.to_dict("records")
        cav = CV.derive(records=recs, config=config)
    else:
        cav = CV.derive(df, records, config=config)
    cav = cav.iloc[:len(df)]
    return cav["caveat_badges"].tolist(), cav["grey"].tolist()
