"""Saved results read back for reporting: a fit (NetCDF) or a JSON document of any kind.

A JSON document's ``"kind"`` (``check``, ``compare``, ``design``, ``sbc``, ``backtest``) decides
how it is read; documents without it (written by earlier versions, or the plain list of
``emergence compare --json``) are recognised by their keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("fit", "check", "compare", "design", "sbc", "backtest")
_ALIASES = {"comparison": "compare", "verdicts": "check", "design_study": "design"}


@dataclass
class SavedCheck:
    """Records of a saved check (no fit or comparison objects)."""

    records: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    fit: Any = None
    comparison: Any = None


@dataclass
class SavedComparison:
    """Per-series records of a saved comparison (:meth:`Comparison.to_records` format)."""

    records: list[dict[str, Any]]
    cv: str = ""
    models: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    overall: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SavedDesign:
    """Per-grid rows of a saved design study."""

    truth: str
    rows: list[dict[str, Any]]
    seed: Any = None


@dataclass
class SavedResult:
    """A saved result: its kind and the object the report reads."""

    kind: str
    value: Any

    @classmethod
    def from_document(cls, doc: Any, source: str = "the document") -> SavedResult:
        """Read a loaded JSON document (dispatching on ``doc["kind"]`` when present)."""
        kind = detect_kind(doc, source)
        try:
            return cls(kind, _READERS[kind](doc))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{source}: a {kind} result with a missing or malformed field "
                             f"({exc!r}); write it again with the emergence version that "
                             "reads it.") from None


def detect_kind(doc: Any, source: str = "the document") -> str:
    """The kind of a saved JSON document.

    Examples
    --------
    >>> detect_kind({"kind": "backtest", "summary": []})
    'backtest'
    >>> detect_kind([{"task": "t", "models": {}, "preferred": "sigmoid"}])
    'compare'
    >>> detect_kind({"config": {}, "notes": [], "records": [{"verdict": "smooth"}]})
    'check'
    """
    if isinstance(doc, dict) and "kind" in doc:
        kind = _ALIASES.get(str(doc["kind"]), str(doc["kind"]))
        if kind in KINDS and kind != "fit":
            return kind
        raise ValueError(f"{source}: unknown kind {doc['kind']!r}; a report reads the kinds "
                         "check, compare, design, sbc and backtest (and fits saved as .nc).")
    recs = doc if isinstance(doc, list) else doc.get("records") if isinstance(doc, dict) else None
    if isinstance(recs, list) and recs and isinstance(recs[0], dict):
        if "verdict" in recs[0]:
            return "check"
        if "models" in recs[0] and "preferred" in recs[0]:
            return "compare"
    if isinstance(doc, dict):
        if "ranks" in doc and "n_ranks" in doc:
            return "sbc"
        if "grids" in doc and "truth" in doc:
            return "design"
        if "records" in doc and ("cv" in doc or "overall" in doc):
            return "compare"
        if "records" in doc and "config" in doc:
            return "check"
    raise ValueError(f"{source}: not a result saved by emergence (no 'kind' field and not a "
                     "check, compare, design or SBC document); give the JSON written by "
                     "`emergence check --json`, `compare --json`/`--out`, `design --json` or "
                     "`sbc --json`, or a fit saved as .nc.")


def _check(doc: Any) -> SavedCheck:
    if isinstance(doc, list):
        return SavedCheck(records=list(doc))
    return SavedCheck(records=list(doc["records"]), notes=list(doc.get("notes") or []),
                      config=dict(doc.get("config") or {}))


def _compare(doc: Any) -> SavedComparison:
    if isinstance(doc, list):
        recs = list(doc)
        cv = str(recs[0].get("cv", "")) if recs else ""
        return SavedComparison(records=recs, cv=cv,
                               models=list(recs[0]["models"]) if recs else [])
    recs = list(doc["records"])
    models = list(doc.get("models") or (recs[0]["models"] if recs else []))
    return SavedComparison(records=recs, cv=str(doc.get("cv", "")), models=models,
                           notices=list(doc.get("notices") or []),
                           overall=list(doc.get("overall") or []))


def _design(doc: dict[str, Any]) -> SavedDesign:
    return SavedDesign(truth=str(doc["truth"]), rows=list(doc["grids"]),
                       seed=(doc.get("config") or {}).get("seed"))


def _sbc(doc: dict[str, Any]) -> Any:
    import pandas as pd

    from ..config import make_config
    from ..sbc import SBCResult

    return SBCResult(ranks=pd.DataFrame(doc["ranks"]), n_ranks=int(doc["n_ranks"]),
                     model=str(doc["model"]), config=make_config(doc["config"]),
                     bins=int(doc.get("bins", 10)),
                     divergent_simulations=int(doc.get("divergent_simulations", 0)))


def _backtest(doc: dict[str, Any]) -> dict[str, Any]:
    rows = doc["summary"]
    if not isinstance(rows, list):
        raise TypeError("'summary' must be a list of rows")
    return dict(doc)


_READERS = {"check": _check, "compare": _compare, "design": _design, "sbc": _sbc,
            "backtest": _backtest}


def load_saved(path: str | Path) -> SavedResult:
    """Read a saved result for reporting: a fit (``.nc``) or a JSON document of any kind.

    Parameters
    ----------
    path : str or Path
        ``.nc`` (from ``Fit.save`` / ``emergence fit --out``) or ``.json``.

    Returns
    -------
    SavedResult
        ``kind`` and ``value`` (a Fit, SBCResult, or a plain record container).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or one that is not a saved emergence result (the message names it).

    Examples
    --------
    >>> load_saved("verdicts.json").kind  # doctest: +SKIP
    'check'
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved result at {str(path)!r}.")
    if path.suffix.lower() in (".nc", ".netcdf", ".h5"):
        from ..results import load_fit

        return SavedResult("fit", load_fit(path))
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON file ({exc}); give a saved result (.json or "
                         ".nc).") from None
    return SavedResult.from_document(doc, source=str(path))
