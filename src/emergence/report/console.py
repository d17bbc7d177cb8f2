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


def frame_table(df: pd.DataFrame, title: str, columns: Sequence[str] | None = None, *,
                max_rows: int = 60, records: Sequence[dict[str, Any]] | None = None,
                config: Any = None) -> Any:
    """A rich Table of a DataFrame; curve tables get a ``caveats`` column and dim numbers.

    A frame is a curve table when it has ``task``/``metric``/``family`` and ``n_scales``
    columns (a fit summary or verdict table); its caveats come from :func:`caveats.derive`
    (or the frame's own ``caveat_badges``/``grey`` columns).

    Returns
    -------
    rich.table.Table

    Examples
    --------
    >>> t = frame_table(pd.DataFrame({"task": ["a"], "metric": ["m"], "family": ["F"],
    ...                               "n_scales": [2], "p_sharp": [0.6]}), "demo")
    >>> [c.header for c in t.columns][-1]
    'caveats'
    """
    from rich.table import Table

    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    badges, grey = _caveats_of(df, records, config)
    if badges is not None and "caveats" not in cols:
        cols = [*cols, "caveats"]
    t = Table(title=title, header_style="bold", show_lines=False)
    for c in cols:
        h = header(c)
        t.add_column(h, overflow="fold", min_width=max(len(w) for w in h.split()),
                     no_wrap=False, justify="right" if c in _GREYABLE else "left")
    head = df.head(max_rows).reset_index(drop=True)
    for i, r in head.iterrows():
        cells = []
        for c in cols:
            if c == "caveats" and badges is not None:
                cells.append(f"[yellow]{badges[i]}[/]" if badges[i] else "")
                continue
            text = _cell(r[c], c).replace("[", r"\[")
            dim = grey is not None and grey[i] and c in CV.GREY_COLUMNS[grey[i]]
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
