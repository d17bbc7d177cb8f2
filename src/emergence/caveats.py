"""One notion of each caveat, decided once and shown identically everywhere.

A *caveat* is something a reader must know before reading a curve's numbers: the curve was
measured at too few scales, its sampler failed, its width is the prior's rather than the data's,
... Each caveat has a code, a short badge label, a sentence, and a *grey* scope: which of the
curve's numbers must not be read (``"all"``, ``"width"`` — the width and P(sharp) — or
``""``). :func:`derive` finds the caveats of every curve from a :meth:`Fit.summary()
<emergence.results.Fit.summary>` table and/or the records of a check
(:class:`emergence.check.CheckResult` or its saved JSON); console tables, CSV/JSON, HTML and PDF
all call it, so a badge can never appear in one output and vanish in another.

This module sits at the results layer: it reads tables and records, it never fits and it imports
no plotting, report or CLI code.

Examples
--------
>>> import pandas as pd
>>> from emergence.caveats import derive
>>> summ = pd.DataFrame({"task": ["a", "b"], "metric": ["acc", "acc"], "family": ["F", "F"],
...                      "n_scales": [2, 8], "n_in_transition": [0, 3],
...                      "width_contraction": [0.95, 0.2], "width_informed": [False, True],
...                      "rhat_max": [1.0, 1.0],
...                      "ess_bulk_min": [900.0, 900.0], "divergences": [0, 0]})
>>> cav = derive(summ)
>>> cav["caveats"].tolist()
[['too_sparse', 'uninformed_width', 'no_scale_in_rise'], []]
>>> cav["grey"].tolist()
['all', '']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Fewest distinct tested scales for a curve's numbers to be read (and for a verdict).
MIN_SCALES = 4
#: Posterior/prior interval ratio of log(width) above which the width is prior-driven
#: (the same cut as :data:`emergence.coverage.PRIOR_DRIVEN`).
PRIOR_DRIVEN = 0.5
#: Probability that the threshold lies outside the tested scales above which the curve's rise
#: is extrapolated.
P_EXTRAPOLATED = 0.5
#: Default diagnostic thresholds (those of :class:`emergence.Config`).
RHAT_MAX = 1.01
ESS_MIN = 400.0


@dataclass(frozen=True)
class Caveat:
    """A caveat: code, badge label, sentence and which numbers it greys out.

    Attributes
    ----------
    code : str
        Stable identifier (also a reason code of :func:`emergence.check`, where one exists).
    badge : str
        Short label shown next to the curve (console, CSV, HTML, PDF, figures).
    sentence : str
        What it means for the reader, in one sentence.
    grey : str
        ``"all"`` (no number of the curve may be read), ``"width"`` (the width and P(sharp)
        must not be read) or ``""`` (numbers readable, with the caveat in mind).
    """

    code: str
    badge: str
    sentence: str
    grey: str = ""


CAVEATS: dict[str, Caveat] = {c.code: c for c in (
    Caveat("too_sparse", "too sparse",
           f"fewer than {MIN_SCALES} distinct scales were tested: threshold, width and P(sharp) "
           "come from the prior and the other curves, not from this curve's data", "all"),
    Caveat("diagnostics_failed", "diagnostics failed",
           "the MCMC diagnostics failed (R-hat, effective sample size or divergences): the "
           "numbers are not trustworthy", "all"),
    Caveat("flat_at_chance", "flat at chance",
           "no tested scale is distinguishable from chance: the ability is absent over the "
           "tested range and nothing can be said about the shape of a rise", "all"),
    Caveat("uninformed_width", "uninformed width",
           "the data carry no information on the width (flat at chance, or at most one tested "
           "scale in the rise with the scales around it a sharp width or more apart; "
           "Fit.summary column width_informed): the width and P(sharp) shown are the curve "
           "alone's, widened to at least the prior's", "width"),
    Caveat("prior_driven_width", "prior-driven width",
           f"the width's posterior interval is more than {PRIOR_DRIVEN:.0%} of the prior's: "
           "the width is driven by the prior as much as by the data"),
    Caveat("no_scale_in_rise", "no scale in rise",
           "no tested scale lies inside the 10 %-90 % rise: the width rests on the curve's "
           "assumed shape, not on observed points"),
    Caveat("ppc_misfit", "misfit",
           "the fitted curve misses observed scores beyond their posterior predictive "
           "intervals: the curve's numbers describe a shape the data do not follow"),
    Caveat("extrapolated", "extrapolated",
           "the threshold probably lies outside the tested scales: the rise is drawn beyond "
           "the tested range (dashed), extrapolated from the curve's shape"),
)}
#: Display order (most severe first).
ORDER = tuple(CAVEATS)
#: Reason codes of :func:`emergence.check` that are caveats under another name.
REASON_ALIASES = {"threshold_beyond_range": "extrapolated"}
KEYS = ("task", "metric", "family", "shots", "setting")

#: Column labels shared by every output. The sigmoid's P(sharp) and the model-averaged one are
#: different numbers and never share a label.
LABELS: dict[str, str] = {
    "p_sharp": "P(sharp), sigmoid",
    "p_sharp_avg": "P(sharp), model-averaged",
    "width_median": "width (decades)",
    "threshold_median": "threshold (log10 scale)",
    "n_scales": "scales",
    "n_in_transition": "scales in rise",
    "caveats": "caveats",
}
#: Columns greyed out by each scope.
GREY_COLUMNS = {
    "width": ("width_median", "width_lo", "width_hi", "p_sharp", "p_sharp_avg", "width"),
    "all": ("threshold_median", "threshold_lo", "threshold_hi", "width_median", "width_lo",
            "width_hi", "p_sharp", "p_sharp_avg", "lapse_median", "threshold", "width"),
}


def _num(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    try:
        return float(v) if v is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _truthy(v: Any) -> bool:
    if v is None or (isinstance(v, float) and v != v):
        return False
    return bool(v)


def from_summary_row(row: Mapping[str, Any], *, rhat_max: float = RHAT_MAX,
                     ess_min: float = ESS_MIN) -> list[str]:
    """Caveat codes of one row of :meth:`Fit.summary` (missing columns are skipped).

    Parameters
    ----------
    row : mapping
        A summary row (``n_scales``, ``too_sparse``, ``rhat_max``, ``ess_bulk_min``,
        ``divergences``, ``n_in_transition``, ``width_informed``, ``width_contraction``,
        ``p_threshold_above``,
        ``p_threshold_below``, ``ppc_misfit``).
    rhat_max, ess_min : float
        Diagnostic thresholds (those of the fit's config).

    Returns
    -------
    list of str
        Codes in :data:`ORDER`.

    Examples
    --------
    >>> from_summary_row({"n_scales": 3, "rhat_max": 1.05})
    ['too_sparse', 'diagnostics_failed']
    """
    found = set()
    n = _num(row, "n_scales")
    if (np.isfinite(n) and n < MIN_SCALES) or _truthy(row.get("too_sparse")):
        found.add("too_sparse")
    if (_num(row, "rhat_max") > rhat_max or _num(row, "ess_bulk_min") < ess_min
            or _num(row, "divergences") > 0):
        found.add("diagnostics_failed")
    contraction = _num(row, "width_contraction")
    if "width_informed" in row and not _truthy(row.get("width_informed")):
        found.add("uninformed_width")  # one definition: Fit.summary's width_informed
    elif contraction > PRIOR_DRIVEN or _truthy(row.get("prior_driven_width")):
        found.add("prior_driven_width")
    if _num(row, "n_in_transition") == 0:
        found.add("no_scale_in_rise")
    if _truthy(row.get("ppc_misfit")):
        found.add("ppc_misfit")
    if max(np.nan_to_num(_num(row, "p_threshold_above")),
           np.nan_to_num(_num(row, "p_threshold_below"))) > P_EXTRAPOLATED:
        found.add("extrapolated")
    return [c for c in ORDER if c in found]


def from_record(rec: Mapping[str, Any]) -> list[str]:
    """Caveat codes of one check record (its reason codes and numbers).

    Examples
    --------
    >>> from_record({"reasons": ["flat_at_chance", "too_sparse"], "n_scales": 2})
    ['too_sparse', 'flat_at_chance']
    >>> from_record({"reasons": ["threshold_beyond_range", "sharp"], "n_scales": 9})
    ['extrapolated']
    """
    reasons = rec.get("reasons") or []
    if isinstance(reasons, str):
        reasons = [r.strip() for r in reasons.split(",") if r.strip()]
    found = {REASON_ALIASES.get(r, r) for r in reasons} & set(CAVEATS)
    n = _num(rec, "n_scales")
    if np.isfinite(n) and n < MIN_SCALES:
        found.add("too_sparse")
    if _num(rec, "n_in_transition") == 0:
        found.add("no_scale_in_rise")
    return [c for c in ORDER if c in found]


def grey_scope(codes: Iterable[str]) -> str:
    """The widest grey scope of a list of caveat codes (``"all"``, ``"width"`` or ``""``)."""
    scopes = {CAVEATS[c].grey for c in codes if c in CAVEATS}
    return "all" if "all" in scopes else "width" if "width" in scopes else ""


def badges(codes: Iterable[str]) -> str:
    """Badge labels joined for a table cell, e.g. ``"too sparse; no scale in rise"``."""
    return "; ".join(CAVEATS[c].badge for c in codes if c in CAVEATS)


def _key(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    out = []
    for k in keys:
        v = row.get(k)
        out.append("" if v is None or (isinstance(v, float) and v != v) else str(v))
    return tuple(out)


def derive(summary: pd.DataFrame | None = None,
           records: Sequence[Mapping[str, Any]] | None = None, *,
           config: Any = None) -> pd.DataFrame:
    """Caveats of every curve, from a fit summary and/or check records.

    Parameters
    ----------
    summary : DataFrame, optional
        :meth:`Fit.summary` (one row per fitted curve).
    records : sequence of dict, optional
        Check records (``CheckResult.records`` or the ``records`` of its JSON). Curves in the
        records but not in the summary (flat at chance: never fitted) get their own rows.
    config : Config, optional
        Gives the diagnostic thresholds (``rhat_max``, ``ess_min``); defaults otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per curve: the key columns present, ``caveats`` (list of codes),
        ``caveat_badges`` (text) and ``grey`` (scope). Summary rows come first, in order.

    Examples
    --------
    >>> derive(records=[{"task": "t", "metric": "m", "family": "F", "n_scales": 9,
    ...                  "reasons": ["diagnostics_failed"]}])["caveat_badges"].tolist()
    ['diagnostics failed']
    """
    rhat = float(getattr(config, "rhat_max", RHAT_MAX))
    ess = float(getattr(config, "ess_min", ESS_MIN))
    rows: list[dict[str, Any]] = []
    index: dict[tuple[str, ...], int] = {}
    cols = summary.columns if summary is not None else (records[0] if records else {})
    keys = [k for k in KEYS if k in cols] or ["task", "metric", "family"]
    if summary is not None:
        for r in summary.to_dict("records"):
            index[_key(r, keys)] = len(rows)
            rows.append({**{k: r.get(k) for k in keys},
                         "caveats": from_summary_row(r, rhat_max=rhat, ess_min=ess)})
    for rec in records or []:
        codes = from_record(rec)
        j = index.get(_key(rec, keys))
        if j is None:
            index[_key(rec, keys)] = len(rows)
            rows.append({**{k: rec.get(k) for k in keys}, "caveats": codes})
        else:
            merged = set(rows[j]["caveats"]) | set(codes)
            rows[j]["caveats"] = [c for c in ORDER if c in merged]
    out = pd.DataFrame(rows, columns=[*keys, "caveats"])
    out["caveat_badges"] = out["caveats"].map(badges)
    out["grey"] = out["caveats"].map(grey_scope)
    return out


def annotate(frame: pd.DataFrame, records: Sequence[Mapping[str, Any]] | None = None, *,
             config: Any = None) -> pd.DataFrame:
    """A copy of a fit summary with the columns ``caveats`` (codes joined by ``;``),
    ``caveat_badges`` and ``grey`` — the form written to CSV.

    Examples
    --------
    >>> import pandas as pd
    >>> annotate(pd.DataFrame({"task": ["t"], "metric": ["m"], "family": ["F"],
    ...                        "n_scales": [2]}))["caveats"].tolist()
    ['too_sparse']
    """
    cav = derive(frame, records, config=config).iloc[:len(frame)]
    out = frame.copy()
    out["caveats"] = [";".join(c) for c in cav["caveats"]]
    out["caveat_badges"] = cav["caveat_badges"].to_numpy()
    out["grey"] = cav["grey"].to_numpy()
    return out


def verdict_table(records: Sequence[Mapping[str, Any]], *, config: Any = None) -> pd.DataFrame:
    """The verdict table of check records with their caveats, one row per curve.

    ``p_sharp`` is the sigmoid's P(sharp); ``p_sharp_avg`` the model-averaged one, left empty
    when no model comparison ran (a check record then repeats the sigmoid's value there).

    Examples
    --------
    >>> t = verdict_table([{"task": "t", "metric": "m", "family": "F", "verdict": "smooth",
    ...                     "reasons": ["smooth_width"], "p_sharp": 0.04, "p_sharp_avg": 0.04,
    ...                     "weights": None, "n_scales": 8}])
    >>> t[["verdict", "p_sharp", "p_sharp_avg", "caveats"]].to_dict("records")
    [{'verdict': 'smooth', 'p_sharp': 0.04, 'p_sharp_avg': nan, 'caveats': ''}]
    """
    rows = []
    for rec in records:
        codes = from_record(rec)
        reasons = rec.get("reasons") or []
        compared = bool(rec.get("weights")) or bool(rec.get("preferred"))
        rows.append({
            **{k: rec.get(k) for k in ("task", "metric", "family", "shots", "setting")},
            "verdict": rec.get("verdict"),
            "reasons": ", ".join(reasons) if not isinstance(reasons, str) else reasons,
            "p_sharp": _num(rec, "p_sharp"),
            "p_sharp_avg": _num(rec, "p_sharp_avg") if compared else np.nan,
            **{k: _num(rec, k) for k in ("width_median", "width_lo", "width_hi",
                                         "threshold_median", "threshold_lo", "threshold_hi")},
            "n_scales": rec.get("n_scales"),
            "caveats": ";".join(codes), "caveat_badges": badges(codes),
            "grey": grey_scope(codes),
        })
    return pd.DataFrame(rows)


def conclusions(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a check concluded, for a report's first page: counts and headline sentences.

    Returns
    -------
    dict
        ``counts`` ({verdict: n}, in the order emergent, metric-induced, smooth, undetermined),
        ``n`` (curves), ``headlines`` (sentences), ``undetermined_why`` ({caveat badge or reason
        code: n} among undetermined curves).

    Examples
    --------
    >>> c = conclusions([{"task": "a", "metric": "m", "family": "F", "verdict": "emergent",
    ...                   "reasons": ["sharp"]},
    ...                  {"task": "b", "metric": "m", "family": "F", "verdict": "undetermined",
    ...                   "reasons": ["too_sparse"], "n_scales": 2}])
    >>> c["counts"]
    {'emergent': 1, 'metric-induced': 0, 'smooth': 0, 'undetermined': 1}
    >>> c["headlines"][0]
    '1 of 2 curves switch on sharply with support from every check (emergent): a | m | F.'
    """
    order = ("emergent", "metric-induced", "smooth", "undetermined")
    counts = {v: 0 for v in order}
    why: dict[str, int] = {}
    named: dict[str, list[str]] = {v: [] for v in order}
    for rec in records:
        v = str(rec.get("verdict"))
        counts[v] = counts.get(v, 0) + 1
        named.setdefault(v, []).append(f"{rec.get('task')} | {rec.get('metric')} | "
                                       f"{rec.get('family')}")
        if v == "undetermined":
            codes = from_record(rec)
            main = CAVEATS[codes[0]].badge if codes else _undetermined_reason(rec)
            why[main] = why.get(main, 0) + 1
    n = sum(counts.values())
    lines = [f"{counts['emergent']} of {n} curves switch on sharply with support from every "
             "check (emergent)" + (f": {_few(named['emergent'])}." if counts["emergent"] else ".")]
    if counts["metric-induced"]:
        lines.append(f"{counts['metric-induced']} look sharp only in a discrete metric while a "
                     f"continuous metric of the same task rises smoothly (metric-induced): "
                     f"{_few(named['metric-induced'])}.")
    lines.append(f"{counts['smooth']} rise smoothly (smooth).")
    if counts["undetermined"]:
        parts = ", ".join(f"{k}: {m}" for k, m in sorted(why.items(), key=lambda t: -t[1]))
        lines.append(f"{counts['undetermined']} cannot be decided from these data "
                     f"(undetermined; main caveat or reason — {parts}).")
    return {"counts": counts, "n": n, "headlines": lines, "undetermined_why": why}


def _undetermined_reason(rec: Mapping[str, Any]) -> str:
    """The code that kept an undetermined curve from a call, for the headline (a curve without
    a caveat): codes that block both calls first, then the uncertain width and the codes that
    block ``emergent``; codes that block nothing (predictability, the comparison) come last.

    >>> _undetermined_reason({"reasons": ["predictable_from_smaller", "smooth_width",
    ...                                   "mc_uncertain"]})
    'mc uncertain'
    """
    from .check import BLOCK_CALL, BLOCK_EMERGENT

    reasons = list(rec.get("reasons") or [])
    # check's own lists, so a new blocking code needs no second entry here; prior_sensitive
    # ahead of the other codes that block emergent, as before
    order = dict.fromkeys((*BLOCK_CALL, "sharp_vs_smooth_model", "width_uncertain",
                           "prior_sensitive", *BLOCK_EMERGENT))
    for r in order:
        if r in reasons:
            return r.replace("_", " ")
    return reasons[0].replace("_", " ") if reasons else "no reason recorded"


def _few(names: list[str], k: int = 4) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


__all__ = ["CAVEATS", "LABELS", "MIN_SCALES", "Caveat", "annotate", "badges", "conclusions",
           "derive", "from_record", "from_summary_row", "grey_scope", "verdict_table"]
