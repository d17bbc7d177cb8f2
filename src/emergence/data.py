"""Score tables: load, validate once at the edge, and hand tidy arrays to the models.

The tidy schema (one row per task x model x metric [x shots x setting] observation) is the one
of ``shared/data/*.csv`` and of DESIGN.md section 2:

=================  ========  ===============================================================
column             required  meaning
=================  ========  ===============================================================
task               yes       capability / benchmark name
model              yes       model name
score              yes       the value; bounded metrics on [0, 1]
params / flops     one of    the scale axis, chosen with ``scale=``
family             no        model family (same recipe, several sizes); default ``"default"``
metric             no        metric name; default ``"score"``
subtask            no        joined to the task as ``task/subtask`` when not empty
shots, setting     no        prompt variants; part of a curve's identity
n_items            no        items evaluated; with it, counts ``k = round(score * n)`` are fitted
k                  no        number correct (checked against ``n_items``)
chance             no        random-guess level on the score's scale; empty = estimated
ceiling            no        best attainable score (empty: estimated); chance must lie below it
higher_is_better   no        ``False`` for error rates (scores become ``1 - score``)
score_scale        no        ``0-1``, ``0-1 (BLEU/100)`` or ``unbounded``; perplexities become
                             the per-token probability ``1 / ppl``
step               no        training step of a checkpoint; only final checkpoints are kept by
                             default (``checkpoints="final"``), the others are reported dropped
seed               no        replicate runs of one model are kept as separate observations
=================  ========  ===============================================================

Errors name the row (0-based, with the file line for CSV input), the column and the fix. Nothing
is dropped silently: every removed row is listed in :attr:`ScoreTable.dropped` with its reason and
announced with a :class:`~emergence.errors.DroppedRowsWarning`.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._io import decode_utf8
from .errors import DroppedRowsWarning, EmergenceDataError, LargeTableWarning, SparseDataWarning

REQUIRED = ("task", "model", "score")
SCALE_COLUMNS = ("params", "flops")
OPTIONAL = (
    "family", "metric", "subtask", "shots", "setting", "n_items", "k", "chance", "ceiling",
    "higher_is_better", "score_scale", "step", "seed", "stderr", "tokens", "source",
    "answer_tokens", "metric_kind",
)
NUMERIC = ("params", "flops", "score", "n_items", "k", "chance", "ceiling", "shots", "step",
           "seed", "stderr", "tokens", "answer_tokens")
#: Columns that identify one curve (a *series*); ``family`` is dropped when families are pooled.
SERIES_KEYS = ("task", "metric", "shots", "setting", "family")
#: Metric names known to be discrete proportions of items (fitted on counts when n_items is known).
DISCRETE_METRICS = ("acc", "acc_norm", "accuracy", "exact_match", "exact_match_acc", "em", "pass@1",
                    "pass@k", "mc1", "f1_binary", "inst_level_acc", "prompt_level_acc",
                    "inst_level_strict_acc", "prompt_level_strict_acc", "multiple_choice_grade")
#: Metric names (or prefixes) known to be continuous: fitted with a beta likelihood on scores.
CONTINUOUS_METRICS = ("bleu", "rouge", "chrf", "bertscore", "ter", "token_acc", "token_accuracy",
                      "char_acc", "loglik", "log_likelihood", "brier", "mc2", "edit_similarity",
                      "1-edit_distance", "ppl", "perplexity", "word_perplexity", "byte_perplexity",
                      "token_perplexity", "f1", "bits_per_byte")
METRIC_KINDS = ("discrete", "continuous")
PERPLEXITY_NAMES = ("ppl", "perplexity", "word_perplexity", "byte_perplexity", "token_perplexity")
MIN_SCALES = 3
#: Columns whose equality makes two rows duplicates (with the scale columns, and ``step`` when
#: every checkpoint is kept).
DUPLICATE_KEY = ("task", "metric", "family", "model", "shots", "setting", "seed")
#: Allowed gap between k / n_items and the score, beyond half an item (scores printed rounded).
K_SCORE_TOLERANCE = 0.005
#: Above this many rows a table is loaded with a LargeTableWarning (select before fitting).
LARGE_TABLE_ROWS = 200_000
#: A lone score above this (and <= 100) in a task of proportions is taken for a percent.
PERCENT_SINGLE = 5.0
DEFAULT_FAMILY = "default"
SELECTORS = ("task", "metric", "family", "shots", "setting", "model")


@dataclass(frozen=True)
class ScoreTable:
    """A validated score table.

    Attributes
    ----------
    data : pandas.DataFrame
        Validated rows. Besides the input columns it has ``row`` (position in the input),
        ``scale_value``, ``x`` (log10 scale), ``y`` (score on the analysis scale: in [0, 1],
        higher is better), ``k`` (counts, when ``n_items`` is known) and ``series`` (curve label).
    scale : str
        ``"params"`` or ``"flops"``.
    dropped : pandas.DataFrame
        Every removed row with its input position and ``reason``.
    source : str
        Where the table came from (path or ``"DataFrame"``).
    notes : list of str
        Transformations applied (perplexity -> 1/ppl, lower-is-better flipped, ...).
    """

    data: pd.DataFrame
    scale: str
    dropped: pd.DataFrame
    source: str = "DataFrame"
    notes: tuple[str, ...] = ()
    selection: dict[str, Any] = field(default_factory=dict)

    # ---- views -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        d = self.data
        return (
            f"ScoreTable({len(d)} rows, {d['task'].nunique()} tasks, {d['model'].nunique()} models, "
            f"{d['family'].nunique()} families, scale={self.scale!r}, dropped={len(self.dropped)}, "
            f"source={self.source!r})"
        )

    def _repr_html_(self) -> str:
        return f"<p>{_html_escape(repr(self))}</p>" + self.series().to_html(max_rows=30)

    @property
    def tasks(self) -> list[str]:
        """Task names in order of first appearance."""
        return list(dict.fromkeys(self.data["task"]))

    def series_keys(self, families: str = "separate") -> list[str]:
        """Columns identifying one curve under a family mode (see :class:`emergence.Config`)."""
        keys = list(SERIES_KEYS)
        if families != "separate":
            keys.remove("family")
        return keys

    def series(self, families: str = "separate") -> pd.DataFrame:
        """One row per curve: keys, number of distinct scales and rows, tested range, flags."""
        keys = self.series_keys(families)
        g = self.data.groupby(keys, sort=False, dropna=False)
        out = g.agg(
            n_scales=("x", "nunique"),
            n_obs=("y", "size"),
            x_min=("x", "min"),
            x_max=("x", "max"),
            chance=("chance", "first"),
            has_counts=("k", lambda s: bool(s.notna().all())),
            metric_kind=("metric_kind", "first"),
        ).reset_index()
        if families != "separate":
            out.insert(out.columns.get_loc("metric") + 1, "family", "(all)")
        out["too_sparse"] = out["n_scales"] < MIN_SCALES
        out["label"] = unique_labels(out)
        return out

    def select(self, **criteria: Any) -> ScoreTable:
        """Keep rows matching every criterion (values or lists; ``*`` globs allowed for text).

        Valid criteria: task, metric, family, shots, setting, model. A criterion matching nothing
        raises an error that lists the available values.
        """
        data = _apply_selection(self.data, criteria)
        sel = {**self.selection, **{k: v for k, v in criteria.items() if v is not None}}
        return replace(self, data=data.reset_index(drop=True), selection=sel)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the validated rows."""
        return self.data.copy()

    def with_metric_kinds(self, overrides: dict[str, str]) -> ScoreTable:
        """A copy whose metric kinds are re-inferred with ``overrides`` (metric name -> kind).

        The kind drives the metric-choice check of :func:`emergence.check`; the likelihood does
        not depend on it (counts when ``n_items`` is known).
        """
        d = self.data.copy()
        d["metric_kind"] = infer_metric_kinds(d.assign(metric_kind=np.nan), overrides=overrides)
        return replace(self, data=d)


def series_label(rec: dict[str, Any]) -> str:
    """Human label of a curve: ``task | metric | family`` plus shots/setting when set."""
    parts = [str(rec["task"]), str(rec["metric"])]
    fam = rec.get("family", "(all)")
    parts.append(str(fam))
    extra = []
    if rec.get("shots", "") not in ("", None) and not _isnan(rec.get("shots")):
        extra.append(f"{rec['shots']}-shot")
    if rec.get("setting"):
        extra.append(str(rec["setting"]))
    label = " | ".join(parts)
    return label + (f" [{', '.join(extra)}]" if extra else "")


def unique_labels(series: pd.DataFrame) -> list[str]:
    """Short labels ``task | metric | family``; shots/setting added only where needed."""
    short = [series_label({**r, "shots": "", "setting": ""}) for r in series.to_dict("records")]
    dup = pd.Series(short).duplicated(keep=False).to_numpy()
    full = [series_label(r) for r in series.to_dict("records")]
    return [f if d else s for s, f, d in zip(short, full, dup, strict=True)]


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and np.isnan(v)


def _html_escape(s: str) -> str:
    import html

    return html.escape(s, quote=True)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def read_table(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str, bool]:
    """Read CSV/TSV/parquet (or take a DataFrame); return ``(frame, source_name, is_file)``.

    Unreadable files (not UTF-8, binary, ragged rows, a repeated column name, a corrupt
    parquet file) raise an :class:`~emergence.errors.EmergenceDataError` naming the file, the
    line and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> read_table(pd.DataFrame({"task": ["t"]}))[1:]
    ('DataFrame', False)
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(), "DataFrame", False
    path = Path(source)
    if not path.exists():
        raise EmergenceDataError(f"score file {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise EmergenceDataError(
            f"{str(path)!r} is a folder; pass a CSV/parquet file (a folder of lm-eval results "
            "files is read with emergence.read_lm_eval)."
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path), str(path), False
    if suffix not in (".csv", ".tsv", ".txt", ""):
        raise EmergenceDataError(
            f"cannot read {path.name!r}: unknown extension {suffix!r}; use .csv, .tsv or "
            ".parquet (from a spreadsheet: save as CSV UTF-8)."
        )
    _check_text_file(path)
    sep = "\t" if suffix == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep, keep_default_na=True, na_values=[""],
                            encoding="utf-8",
                            dtype={"setting": str, "subtask": str, "model": str, "task": str,
                                   "family": str, "metric": str})
    except pd.errors.EmptyDataError:
        raise EmergenceDataError(
            f"score file {str(path)!r} is empty. Write a header row with at least the columns "
            f"{', '.join(REQUIRED)} and one of {', '.join(SCALE_COLUMNS)}, then one data row per "
            "observation."
        ) from None
    except pd.errors.ParserError as exc:
        raise EmergenceDataError(_parser_message(path, exc, sep)) from None
    return frame, str(path), True


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise EmergenceDataError(
            f"reading {path.name} needs pyarrow: pip install 'emergence-bayes[parquet]'."
        ) from exc
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on a damaged file
        raise EmergenceDataError(
            f"{str(path)!r} is not a readable parquet file ({' '.join(str(exc).split())[:200]}); "
            "it may be truncated or not parquet at all. Export it again, or save the table as "
            "CSV."
        ) from None


def _check_text_file(path: Path) -> None:
    """A CSV must be UTF-8 text with a header of distinct names; say where it is not."""
    data = path.read_bytes()
    head = data[:8192]
    if b"\x00" in head or head.startswith((b"PK\x03\x04", b"PAR1", b"\x89HDF")):
        kind = ("a zip/Excel file" if head.startswith(b"PK") else "a parquet file"
                if head.startswith(b"PAR1") else "a binary file")
        raise EmergenceDataError(
            f"{str(path)!r} is {kind}, not CSV text. Save the table as CSV (UTF-8, comma-"
            "separated), or give a parquet file a .parquet extension."
        )
    text = decode_utf8(data, path, "(the file is probably Latin-1 / Windows-1252). Save it as "
                       "UTF-8 (in a spreadsheet: CSV UTF-8), e.g. iconv -f latin1 -t utf-8.")
    import csv

    first = text.lstrip("\ufeff").splitlines()[:1]
    if first:
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        names = [c.strip() for c in next(csv.reader(first, delimiter=sep))]
        dup = sorted({c for c in names if names.count(c) > 1 and c})
        if dup:
            raise EmergenceDataError(
                f"{str(path)!r}: the header (line 1) names column(s) {', '.join(map(repr, dup))} "
                "more than once; rename or remove the repeated column so no value is ignored."
            )


def _parser_message(path: Path, exc: Exception, sep: str) -> str:
    import re

    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if m:
        want, line, got = m.groups()
        return (f"{str(path)!r}: line {line} has {got} fields but the header has {want}. "
                f"A name containing {sep!r} must be quoted (\"a, b\"); otherwise fix or remove "
                "the extra cells on that line.")
    return (f"{str(path)!r} cannot be parsed as CSV ({' '.join(str(exc).split())[:200]}). Check "
            "its quoting and separators (comma-separated, names with commas in double quotes).")


def load_scores(
    source: str | Path | pd.DataFrame,
    scale: str = "params",
    *,
    task: str | Sequence[str] | None = None,
    metric: str | Sequence[str] | None = None,
    family: str | Sequence[str] | None = None,
    shots: int | Sequence[int] | None = None,
    setting: str | Sequence[str] | None = None,
    model: str | Sequence[str] | None = None,
    checkpoints: str = "final",
    bad_scale: str = "error",
    warn: bool = True,
) -> ScoreTable:
    """Load and validate a tidy score table.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        A CSV/TSV/parquet file in the tidy schema (see module docstring) or a DataFrame.
    scale : {"params", "flops"}
        Which column is the scale axis.
    task, metric, family, shots, setting, model : str or list, optional
        Keep only matching rows; text criteria accept ``*`` globs (``task="bbh/*"``).
    checkpoints : {"final", "all"}
        With a ``step`` column, ``"final"`` keeps each model's last checkpoint and reports the
        others as dropped; ``"all"`` keeps every checkpoint as its own observation (use
        ``scale="flops"`` then, since parameters do not change during training).
    bad_scale : {"error", "drop"}
        Rows whose scale is missing or not positive (e.g. step-0 checkpoints with 0 FLOPs):
        an error by default; ``"drop"`` removes them and reports them in ``dropped``.
    warn : bool
        Emit warnings for dropped rows and sparse series.

    Returns
    -------
    ScoreTable
        The validated table.

    Raises
    ------
    EmergenceDataError
        On any invalid input; the message names row, column and fix.

    Examples
    --------
    >>> import emergence as em
    >>> table = em.load_scores("scores.csv", scale="params", task="arithmetic_*")  # doctest: +SKIP
    """
    if scale not in SCALE_COLUMNS:
        raise EmergenceDataError(
            f"scale={scale!r} is not valid; choose 'params' or 'flops' (the column holding the "
            "scale axis)."
        )
    if checkpoints not in ("final", "all"):
        raise EmergenceDataError(f"checkpoints={checkpoints!r} is not valid; choose 'final' or 'all'.")
    if bad_scale not in ("error", "drop"):
        raise EmergenceDataError(f"bad_scale={bad_scale!r} is not valid; choose 'error' or 'drop'.")
    raw, name, is_file = read_table(source)
    return validate(
        raw, scale=scale, source=name, is_file=is_file, checkpoints=checkpoints, warn=warn,
        bad_scale=bad_scale,
        selection=dict(task=task, metric=metric, family=family, shots=shots, setting=setting,
                       model=model),
    )


def validate(
    raw: pd.DataFrame,
    *,
    scale: str = "params",
    source: str = "DataFrame",
    is_file: bool = False,
    checkpoints: str = "final",
    warn: bool = True,
    selection: dict[str, Any] | None = None,
    bad_scale: str = "error",
    dropped: pd.DataFrame | None = None,
) -> ScoreTable:
    """Validate a raw tidy frame into a :class:`ScoreTable` (see :func:`load_scores`).

    The frame goes through the named checks of :data:`CHECKS`, in order; each one either fixes
    nothing and passes, records what it changed in ``notes`` / ``dropped``, or raises an
    :class:`~emergence.errors.EmergenceDataError` naming the rows (and file lines), the column
    and the fix. The frame's index does not matter (it is reset first).

    Parameters
    ----------
    raw : pandas.DataFrame
        Rows in the tidy schema (module docstring).
    scale, checkpoints, bad_scale, selection
        As in :func:`load_scores`.
    source : str
        Where the rows came from, named in every error.
    is_file : bool
        The rows are a CSV file's lines (errors then give the file line of each row).
    dropped : pandas.DataFrame, optional
        Rows a reader already removed, with a ``reason`` column (kept in ``table.dropped``).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"task": "t", "model": ["a", "b", "c"], "params": [1e8, 1e9, 1e10],
    ...                       "score": [0.1, 0.5, 0.9]})
    >>> len(validate(frame))
    3
    """
    ctx = _Validation(df=raw.reset_index(drop=True), scale=scale, source=source,
                      where=_where_function(raw, source, is_file), checkpoints=checkpoints,
                      bad_scale=bad_scale, selection=selection or {})
    if dropped is not None and len(dropped):
        ctx.dropped.append(dropped)
    for _name, check in CHECKS:
        try:
            check(ctx)
        except EmergenceDataError as exc:
            msg = str(exc)
            if source not in msg and Path(source).name not in msg:
                raise EmergenceDataError(f"{_source_label(source)}: {msg}") from None
            raise
    return _finish(ctx, warn)


@dataclass
class _Validation:
    """State handed from one validation check to the next."""

    df: pd.DataFrame
    scale: str
    source: str
    where: Callable[[int], str]
    checkpoints: str
    bad_scale: str
    selection: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    dropped: list[pd.DataFrame] = field(default_factory=list)

    def rows(self, mask: pd.Series, values: Any = None) -> str:
        """``row 3 (line 5 of scores.csv) (value 1.5), ...`` for the rows under ``mask``."""
        vals = None if values is None else list(values[mask] if isinstance(values, pd.Series)
                                                 else values)
        return _list_rows(self.df.loc[mask, "row"].tolist(), vals, self.where)


def _source_label(source: str) -> str:
    return "the DataFrame" if source == "DataFrame" else repr(source)


def _where_function(raw: pd.DataFrame, source: str, is_file: bool) -> Callable[[int], str]:
    """How a row is named: file line for CSV input, the results file for lm-eval rows."""
    if "file" in raw.columns:  # rows built by a reader from several files
        files = raw["file"].astype(str).tolist()
        return lambda r: f"row {r} (from {files[r]})" if 0 <= r < len(files) else f"row {r}"
    name = Path(source).name
    if is_file:
        return lambda r: f"row {r} (line {r + 2} of {name})"
    return lambda r: f"row {r}"


def _check_not_empty(v: _Validation) -> None:
    if v.df.shape[0] == 0:
        raise EmergenceDataError(
            f"score table {_source_label(v.source)} is empty (no data rows). Add one row per "
            f"observation, with at least the columns {', '.join(REQUIRED)} and {v.scale!r}."
        )


def _check_required_columns(v: _Validation) -> None:
    v.df.columns = [str(c).strip() for c in v.df.columns]
    missing = [c for c in (*REQUIRED, v.scale) if c not in v.df.columns]
    if not missing:
        v.df["row"] = np.arange(len(v.df))
        return
    cols = list(v.df.columns)
    hint = ""
    for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if any(sep in c for c in cols):
            hint = (f" The header looks {name}-separated ({sep!r}): save the file as comma-"
                    "separated CSV (in a spreadsheet: CSV UTF-8, comma), or use a .tsv file for "
                    "tabs.")
            break
    raise EmergenceDataError(
        f"score table {_source_label(v.source)} lacks required column(s) "
        f"{', '.join(map(repr, missing))}; found {', '.join(map(repr, cols[:20]))}. Required: "
        f"{', '.join(REQUIRED)} and the scale column ({'/'.join(SCALE_COLUMNS)}; pick it with "
        f"scale=). Rename your columns to these names.{hint}"
    )


def _check_numeric_columns(v: _Validation) -> None:
    """Text in a numeric column is an error (never NaN), and so is a non-finite number."""
    df = v.df
    for col in NUMERIC:
        if col not in df.columns:
            continue
        if pd.api.types.is_bool_dtype(df[col]):
            df[col] = df[col].astype(float)
        num = pd.to_numeric(df[col], errors="coerce")
        text = df[col].astype(str).str.strip()
        bad = num.isna() & df[col].notna() & (text != "") & ~text.str.lower().isin(("nan", "na"))
        if bad.any():
            raise EmergenceDataError(
                f"column {col!r} must be numeric, but {v.rows(bad, text)} "
                f"hold{'s' if bad.sum() == 1 else ''} text. Fix those cells (use a plain number "
                "such as 7e9, or leave the cell empty where the value is unknown)."
            )
        inf = np.isinf(num.to_numpy(dtype=float))
        if inf.any():
            mask = pd.Series(inf, index=df.index)
            raise EmergenceDataError(
                f"column {col!r} must hold finite numbers, but {v.rows(mask, text)} "
                f"{'is' if mask.sum() == 1 else 'are'} infinite (or too large for a float, "
                "beyond 1.8e308). Give the real value, or leave the cell empty if unknown."
            )
        df[col] = num.astype(float)


def _check_whole_numbers(v: _Validation) -> None:
    """Counts and shots must be whole numbers: they are never truncated silently."""
    df = v.df
    for col, what in (("shots", "number of in-context examples"), ("k", "number correct"),
                      ("n_items", "number of evaluated items"), ("seed", "seed")):
        if col not in df.columns:
            continue
        x = df[col]
        bad = x.notna() & ((x != np.round(x)) | (x < 0))
        if bad.any():
            raise EmergenceDataError(
                f"column {col!r} ({what}) must be a whole number >= 0, but {v.rows(bad, x)} "
                f"{'is' if bad.sum() == 1 else 'are'} not. Fix those cells; a fractional value "
                "is never rounded silently."
            )


def _normalise_text(v: _Validation) -> None:
    """Strip spaces around names (noted), reject empty task/model and part-empty family/metric."""
    df = v.df
    changed = []
    for col in ("task", "model", "family", "metric", "setting", "subtask"):
        if col not in df.columns:
            continue
        s = df[col].astype(object)
        s = s.where(s.isna(), s.astype(str))
        stripped = s.str.strip()
        n = int(((s != stripped) & s.notna()).sum())
        if n:
            changed.append(f"{col} ({n} cell{'s' if n > 1 else ''})")
        df[col] = stripped.where(stripped != "", np.nan)
    if changed:
        v.notes.append("spaces around names were removed in column(s) " + ", ".join(changed)
                       + " (so 'gpt ' and 'gpt' are one name).")
    for col in ("task", "model"):
        blank = df[col].isna()
        if blank.any():
            raise EmergenceDataError(
                f"column {col!r} is empty in {v.rows(blank)}; every observation needs a {col} "
                "name. Fill it in, or remove the row."
            )
    for col, default in (("family", DEFAULT_FAMILY), ("metric", "score")):
        if col not in df.columns or df[col].isna().all():
            if col in df.columns:
                v.notes.append(f"column {col!r} is empty in every row: all rows are in {col} "
                               f"{default!r}.")
            df[col] = default
            continue
        blank = df[col].isna()
        if blank.any():
            raise EmergenceDataError(
                f"column {col!r} is empty in {v.rows(blank)} while other rows name a {col}; "
                f"fill those cells in (write {default!r} if they belong to no particular {col}), "
                "so no row is put in a curve silently."
            )
        df[col] = df[col].astype(str)
    df["setting"] = df["setting"].fillna("").astype(str) if "setting" in df.columns else ""
    if "subtask" in df.columns:
        sub = df["subtask"].fillna("").astype(str)
        has = sub != ""
        df.loc[has, "task"] = df.loc[has, "task"] + "/" + sub[has]


def _fill_defaults(v: _Validation) -> None:
    df = v.df
    for col in ("shots", "n_items", "chance", "k", "step", "seed"):
        if col not in df.columns:
            df[col] = np.nan
    if "ceiling" not in df.columns:  # empty = unknown: the models estimate the lapse
        df["ceiling"] = np.nan
    if "higher_is_better" not in df.columns:
        df["higher_is_better"] = True
    df["higher_is_better"] = _parse_bool(df, "higher_is_better", v.where)
    if "score_scale" not in df.columns:
        df["score_scale"] = "0-1"
    df["score_scale"] = df["score_scale"].fillna("0-1").astype(str)


def _select_checkpoints(v: _Validation) -> None:
    """Keep the final checkpoint of each (family, model, task) unless ``checkpoints="all"``."""
    df = v.df
    if v.checkpoints != "final" or not df["step"].notna().any():
        return
    last = df.groupby(["family", "model", "task"], sort=False)["step"].transform("max")
    inter = df["step"].notna() & (df["step"] < last)
    if inter.any():
        d = df.loc[inter].copy()
        d["reason"] = ("intermediate training checkpoint of its (family, model, task) (pass "
                       "checkpoints='all' to keep it)")
        v.dropped.append(d)
        v.df = df.loc[~inter]


def _apply_user_selection(v: _Validation) -> None:
    sel = {k: val for k, val in v.selection.items() if val is not None}
    if sel:  # chosen by the user: not counted as dropped
        v.df = _apply_selection(v.df, sel)


def _check_scale(v: _Validation) -> None:
    df, scale = v.df, v.scale
    sc = df[scale]
    bad = sc.isna() | ~(sc > 0)
    if not bad.any():
        return
    if v.bad_scale == "drop":
        d = df.loc[bad].copy()
        d["reason"] = f"missing or non-positive {scale} (bad_scale='drop')"
        v.dropped.append(d)
        v.df = df.loc[~bad]
        return
    other = "flops" if scale == "params" else "params"
    raise EmergenceDataError(
        f"column {scale!r} (the scale axis) must be a positive number, but {v.rows(bad, sc)} are "
        f"missing or not positive. Give the model's "
        f"{'parameter count' if scale == 'params' else 'training FLOPs'}, remove those rows, "
        f"choose the other scale with scale={other!r}, or pass bad_scale='drop' to drop and "
        "report them" + (" (step-0 checkpoints have 0 FLOPs)." if scale == "flops" else ".")
    )


def _check_scores_present(v: _Validation) -> None:
    nan_score = v.df["score"].isna()
    if nan_score.any():
        raise EmergenceDataError(
            f"column 'score' is empty (NaN) in {v.rows(nan_score)}. Fill in the score or remove "
            "those rows; missing scores are never dropped silently."
        )


def _check_chance_and_ceiling(v: _Validation) -> None:
    df = v.df
    ch = df["chance"]
    bad = ch.notna() & ((ch < 0) | (ch >= 1))
    if bad.any():
        raise EmergenceDataError(
            f"column 'chance' must lie in [0, 1), but {v.rows(bad, ch)} do not. Give the "
            "random-guess score as a proportion (e.g. 0.25 for 4 choices), or leave it empty to "
            "have it estimated."
        )
    bad = df["ceiling"].notna() & ((df["ceiling"] <= 0) | (df["ceiling"] > 1))
    if bad.any():
        raise EmergenceDataError(
            f"column 'ceiling' must lie in (0, 1], but {v.rows(bad, df['ceiling'])} do not. "
            "Give the best attainable score as a proportion, or leave it empty (estimated)."
        )
    bad = ch.notna() & (ch >= df["ceiling"].fillna(1.0))
    if bad.any():
        raise EmergenceDataError(
            f"column 'chance' must lie below 'ceiling', but {v.rows(bad, ch)} have chance >= "
            "ceiling: there is no room for a rise. Check the chance level."
        )


def _check_counts(v: _Validation) -> None:
    """``n_items >= 1``, ``0 <= k <= n_items``, ``k`` only with ``n_items``, and k/n = score."""
    df = v.df
    n, k = df["n_items"], df["k"]
    bad = n.notna() & (n < 1)
    if bad.any():
        raise EmergenceDataError(
            f"column 'n_items' must be a whole number >= 1, but {v.rows(bad, n)} are not. Give "
            "the number of evaluated items, or leave it empty if unknown."
        )
    bad = k.notna() & n.notna() & (k > n)
    if bad.any():
        vals = [f"k={a:g} > n_items={b:g}" for a, b in zip(k[bad], n[bad], strict=True)]
        raise EmergenceDataError(
            f"column 'k' exceeds 'n_items' in {v.rows(bad, vals)}: more items correct than "
            "evaluated. Fix k or n_items."
        )
    bad = k.notna() & n.isna()
    if bad.any():
        raise EmergenceDataError(
            f"column 'k' is given without 'n_items' in {v.rows(bad)}; give the number of "
            "evaluated items too."
        )
    ppl = df["metric"].str.lower().isin(PERPLEXITY_NAMES)
    has = k.notna() & n.notna() & ~ppl
    if has.any():
        ratio = k / n
        tol = 0.5 / n + K_SCORE_TOLERANCE
        bad = has & ((ratio - df["score"]).abs() > tol)
        if bad.any():
            vals = [f"k/n_items={a:.4g}, score={b:.4g}"
                    for a, b in zip(ratio[bad], df.loc[bad, "score"], strict=True)]
            raise EmergenceDataError(
                f"columns 'k' and 'score' disagree in {v.rows(bad, vals)}: k / n_items must "
                f"equal the score (within {K_SCORE_TOLERANCE:g} plus rounding). Fix k, n_items or "
                "the score, or drop the k column to have k = round(score * n_items)."
            )


def _transform_unbounded(v: _Validation) -> None:
    """Perplexities become 1/ppl; other unbounded metrics are an error."""
    df = v.df
    df["y"] = df["score"].astype(float)
    is_ppl = df["metric"].str.lower().isin(PERPLEXITY_NAMES)
    unbounded = df["score_scale"].str.lower().str.startswith("unbounded") | is_ppl
    other = unbounded & ~is_ppl
    if other.any():
        raise EmergenceDataError(
            f"column 'score_scale' is 'unbounded' in {v.rows(other, df['metric'])}, a metric "
            "that is not a perplexity; "
            "transform it to a [0, 1] higher-is-better score first (e.g. 1 - normalised edit "
            "distance) and set score_scale to '0-1'."
        )
    df["_bounded"] = ~unbounded
    if not is_ppl.any():
        return
    bad = is_ppl & (df["score"] < 1)
    if bad.any():
        raise EmergenceDataError(
            f"perplexity must be >= 1, but {v.rows(bad, df['score'])} are not. Check the column "
            "holds perplexity, not log-perplexity."
        )
    df.loc[is_ppl, "y"] = 1.0 / df.loc[is_ppl, "score"]
    df.loc[is_ppl, "chance"] = 0.0
    df.loc[is_ppl, "higher_is_better"] = True
    v.notes.append("perplexity rows were turned into the per-token probability 1/ppl (higher is "
                   "better, floor 0) and fitted with a beta likelihood on scores.")


def _check_score_bounds(v: _Validation) -> None:
    """Bounded scores in [0, 1]; a task on 0-100 gets its own message (several scores > 1)."""
    df = v.df
    bounded = df["_bounded"]
    over = bounded & (df["y"] > 1)
    if over.any():
        grp = df.loc[bounded].groupby(["task", "metric"], sort=False)["y"]
        n_over = grp.transform(lambda s: int((s > 1).sum()))
        size = grp.transform("size")
        mx = grp.transform("max")
        # several scores above 1, or one far above it, look like percent; a lone 1.5 among
        # proportions looks like a typo
        pct = ((n_over >= 2) | (n_over == size) | (mx > PERCENT_SINGLE)) & (mx <= 100) & (
            grp.transform("min") >= 0)
        if bool(pct.reindex(df.index[over]).all()):
            raise EmergenceDataError(
                f"column 'score' looks like a 0-100 (percent) scale in {v.rows(over, df['y'])}; "
                "bounded metrics must be on 0-1. Divide those scores (and their chance level) by "
                "100, for the whole task so it does not mix 0-100 and 0-1."
            )
        raise EmergenceDataError(
            f"column 'score' must lie in [0, 1] for bounded metrics, but {v.rows(over, df['y'])} "
            "do not (the other scores of the task are on 0-1, so this looks like a typo). Fix the "
            "score, or set score_scale to 'unbounded' for a perplexity."
        )
    neg = bounded & (df["y"] < 0)
    if neg.any():
        raise EmergenceDataError(
            f"column 'score' must lie in [0, 1] for bounded metrics, but {v.rows(neg, df['y'])} "
            "are negative. Fix those scores."
        )


def _flip_lower_is_better(v: _Validation) -> None:
    df = v.df
    low = df["_bounded"] & ~df["higher_is_better"]
    if low.any():
        df.loc[low, "y"] = 1.0 - df.loc[low, "y"]
        df.loc[low, "chance"] = 1.0 - df.loc[low, "chance"]
        df.loc[low, "k"] = df.loc[low, "n_items"] - df.loc[low, "k"]
        v.notes.append("lower-is-better bounded scores were flipped to 1 - score (and chance "
                       "too).")
    v.df = df.drop(columns="_bounded")


def _check_duplicates(v: _Validation) -> None:
    """Rows equal on the whole key: identical ones are dropped (reported), others an error."""
    df = v.df
    key = [c for c in DUPLICATE_KEY if c in df.columns]
    key += [c for c in SCALE_COLUMNS if c in df.columns]
    if v.checkpoints == "all":
        key.append("step")
    kf = df[key].astype(object).where(df[key].notna(), "")
    dup = kf.duplicated(keep=False)
    if not dup.any():
        return
    nscores = df.loc[dup].assign(_s=df["score"]).groupby(
        [kf.loc[dup, c] for c in key], sort=False)["_s"].transform("nunique")
    conflict = dup.copy()
    conflict[dup] = nscores > 1
    if conflict.any():
        first = df.loc[conflict].iloc[0]
        same = conflict & (kf == kf.loc[first.name]).all(axis=1)
        desc = ", ".join(f"{v.where(int(r))} score={s:g}"
                         for r, s in zip(df.loc[same, "row"], df.loc[same, "score"], strict=True))
        n_keys = kf.loc[conflict].drop_duplicates().shape[0]
        raise EmergenceDataError(
            f"{n_keys} duplicate key(s) ({', '.join(key)}) with different scores, e.g. "
            f"task={first['task']!r} model={first['model']!r} metric={first['metric']!r} "
            f"family={first['family']!r}: {desc}. Keep one row per key, or tell them apart with "
            "a 'setting' or 'seed' column."
        )
    extra = kf.duplicated(keep="first")
    d = df.loc[extra].copy()
    d["reason"] = "exact duplicate of an earlier row (same key and score)"
    v.dropped.append(d)
    v.df = df.loc[~extra]


def _derive_arrays(v: _Validation) -> None:
    """Metric kinds, scale, log10 scale, counts; shots as text."""
    df = v.df
    # the metric kind (discrete proportion of items, or continuous) drives the metric-choice
    # check; with n_items, scores are fitted on (pseudo-)counts round(score * n) with a
    # beta-binomial for both kinds (overdispersion absorbs the difference for BLEU, and scores
    # at 0 stay well-behaved); without n_items: beta on scores.
    df["metric_kind"] = infer_metric_kinds(df, v.where)
    df["scale_value"] = df[v.scale].astype(float)
    df["x"] = np.log10(df["scale_value"])
    has_n = df["n_items"].notna() & ~df["metric"].str.lower().isin(PERPLEXITY_NAMES)
    df.loc[has_n & df["k"].isna(), "k"] = np.round(df.loc[has_n, "y"] * df.loc[has_n, "n_items"])
    df["shots"] = df["shots"].map(lambda s: "" if pd.isna(s) else str(int(s)))
    v.df = df.reset_index(drop=True)


def _check_size(v: _Validation) -> None:
    """A very large table is kept, with a warning and advice (a fit of it is slow)."""
    n = len(v.df)
    if n > LARGE_TABLE_ROWS:
        n_curves = v.df.groupby(list(SERIES_KEYS), sort=False, dropna=False).ngroups
        warnings.warn(
            f"{_source_label(v.source)} has {n:,} rows in {n_curves:,} curves (more than "
            f"{LARGE_TABLE_ROWS:,}): one fit of all of them takes a long time and much memory. "
            "Select what you need (task=/metric=/family=, CLI --task/--metric/--family) and fit "
            "subsets; the sampler's progress bar shows how far a fit is.",
            LargeTableWarning, stacklevel=4,
        )


#: The checks of :func:`validate`, in order: ``(name, function)``.
CHECKS: tuple[tuple[str, Callable[[_Validation], None]], ...] = (
    ("not_empty", _check_not_empty),
    ("required_columns", _check_required_columns),
    ("numeric_columns", _check_numeric_columns),
    ("whole_numbers", _check_whole_numbers),
    ("text_columns", _normalise_text),
    ("defaults", _fill_defaults),
    ("checkpoints", _select_checkpoints),
    ("selection", _apply_user_selection),
    ("scale", _check_scale),
    ("scores_present", _check_scores_present),
    ("chance_and_ceiling", _check_chance_and_ceiling),
    ("counts", _check_counts),
    ("unbounded_metrics", _transform_unbounded),
    ("score_bounds", _check_score_bounds),
    ("lower_is_better", _flip_lower_is_better),
    ("duplicates", _check_duplicates),
    ("derived_arrays", _derive_arrays),
    ("size", _check_size),
)


def _finish(v: _Validation, warn: bool) -> ScoreTable:
    df = v.df
    dropped_df = (pd.concat(v.dropped, ignore_index=True) if v.dropped
                  else pd.DataFrame(columns=[*df.columns, "reason"]))
    table = ScoreTable(
        data=df, scale=v.scale, dropped=dropped_df, source=v.source, notes=tuple(v.notes),
        selection={k: val for k, val in v.selection.items() if val is not None},
    )
    if warn:
        if len(dropped_df):
            reasons = dropped_df["reason"].value_counts()
            msg = "; ".join(f"{n} row(s): {r}" for r, n in reasons.items())
            warnings.warn(
                f"{len(dropped_df)} row(s) of {v.source!r} were dropped ({msg}); they are listed "
                "in ScoreTable.dropped.", DroppedRowsWarning, stacklevel=4,
            )
        s = table.series()
        sparse = s[s["too_sparse"]]
        if len(sparse):
            names = ", ".join(sparse["label"].head(5)) + (" ..." if len(sparse) > 5 else "")
            warnings.warn(
                f"{len(sparse)} series have fewer than {MIN_SCALES} distinct scales ({names}); "
                "they are kept, and every result for them says 'too sparse'.",
                SparseDataWarning, stacklevel=4,
            )
    return table


def infer_metric_kinds(df: pd.DataFrame, where: Any = None,
                       overrides: dict[str, str] | None = None) -> pd.Series:
    """``discrete`` or ``continuous`` per row.

    Order: ``overrides`` (metric name -> kind), a ``metric_kind`` column, known names
    (:data:`DISCRETE_METRICS`, :data:`CONTINUOUS_METRICS`), then the scores themselves: a
    (task, metric) whose scores are (>= 90 %) multiples of 1/n_items is discrete; without
    ``n_items`` it is continuous.
    """
    where = where or (lambda r: f"row {r}")
    given = df["metric_kind"] if "metric_kind" in df.columns else pd.Series(np.nan, index=df.index)
    given = given.map(lambda v: "" if pd.isna(v) else str(v).strip().lower())
    bad = ~given.isin(("", *METRIC_KINDS))
    if bad.any():
        rows = df.loc[bad, "row"].tolist() if "row" in df.columns else list(df.index[bad])
        raise EmergenceDataError(
            f"column 'metric_kind' must be 'discrete', 'continuous' or empty, but "
            f"{_list_rows(rows, given[bad].tolist(), where)} are not. Write one of those, or leave "
            "the cell empty to have the kind inferred."
        )
    out = given.copy()
    overrides = {k.lower(): v for k, v in (overrides or {}).items()}
    for k, v in overrides.items():
        if v not in METRIC_KINDS:
            raise EmergenceDataError(
                f"metric kind {v!r} for metric {k!r} is not valid; use 'discrete' or 'continuous'."
            )
    need = out == ""
    if not need.any():
        return out
    pair = df["task"].astype(str) + "\x1f" + df["metric"].astype(str)
    kinds: dict[str, str] = {}
    unknown = []
    for key in pair[need].unique():
        kind = _metric_kind(key.split("\x1f", 1)[1].lower(), None, overrides)
        if kind:
            kinds[key] = kind
        else:
            unknown.append(key)
    if unknown:  # judged from the scores of every row of the (task, metric)
        sub = df.loc[pair.isin(unknown)]
        for key, g in sub.groupby(pair[sub.index], sort=False):
            kinds[key] = _metric_kind(key.split("\x1f", 1)[1].lower(), g, overrides)
    return out.where(~need, pair.map(kinds))


def _metric_kind(m: str, g: pd.DataFrame | None, overrides: dict[str, str]) -> str:
    """Kind of one (task, metric): override, known name, else from the scores' granularity
    (``""`` when that is needed and ``g`` is None)."""
    if m in overrides:
        return overrides[m]
    if m in DISCRETE_METRICS:
        return "discrete"
    if m in CONTINUOUS_METRICS or m.startswith(CONTINUOUS_METRICS):
        return "continuous"
    if g is None:
        return ""
    if g["n_items"].notna().all():
        n = g["n_items"].to_numpy(float)
        y = g["y"].to_numpy(float)
        frac = np.abs(y * n - np.round(y * n))
        return "discrete" if np.mean(frac < 1e-3 * np.maximum(n, 1) + 1e-6) >= 0.9 else "continuous"
    return "continuous"


def key_strings(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """One string per row joining ``cols`` (missing values as empty strings)."""
    parts = [df[c].map(lambda v: "" if pd.isna(v) else str(v)) for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def _list_rows(rows: list[int], values: list[Any] | None, where: Any, limit: int = 5) -> str:
    items = []
    for i, r in enumerate(rows[:limit]):
        s = where(int(r))
        if values is not None:
            v = values[i]
            s += f" (value {v!r})" if isinstance(v, str) else f" (value {v:g})" if isinstance(
                v, int | float | np.floating) else f" ({v})"
        items.append(s)
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(items) + more


def _parse_bool(df: pd.DataFrame, col: str, where: Any) -> pd.Series:
    truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    out = []
    for r, v in zip(df["row"], df[col], strict=True):
        if isinstance(v, bool | np.bool_):
            out.append(bool(v))
        elif v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(True)
        elif str(v).strip().lower() in truth:
            out.append(truth[str(v).strip().lower()])
        else:
            raise EmergenceDataError(
                f"column {col!r} must be True or False, but {where(int(r))} holds {v!r}. Write "
                "True or False (or leave the cell empty for True)."
            )
    return pd.Series(out, index=df.index, dtype=bool)


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, str | int | float | np.integer | np.floating):
        return [v]
    return list(v)


def _apply_selection(df: pd.DataFrame, criteria: dict[str, Any]) -> pd.DataFrame:
    for col, want in criteria.items():
        if want is None:
            continue
        if col not in SELECTORS:
            raise EmergenceDataError(
                f"cannot select on {col!r}; valid selectors are {', '.join(SELECTORS)}."
            )
        wanted = _as_list(want)
        if col == "shots":
            vals = df[col].map(_shots_str)
            wanted_s = [_shots_str(w) for w in wanted]
            mask = vals.isin(wanted_s)
        else:
            vals = df[col].astype(str)
            mask = pd.Series(False, index=df.index)
            for w in wanted:
                mask |= vals.map(lambda s, w=str(w): fnmatch.fnmatchcase(s, w))
        if not mask.any():
            avail = sorted(set(vals.astype(str)))
            shown = ", ".join(map(repr, avail[:30])) + (" ..." if len(avail) > 30 else "")
            raise EmergenceDataError(
                f"selection {col}={want!r} matches no row; available values of {col!r}: {shown}."
            )
        df = df.loc[mask]
    return df


def _shots_str(v: Any) -> str:
    if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(int(float(v)))


def as_table(data: ScoreTable | pd.DataFrame | str | Path, scale: str = "params") -> ScoreTable:
    """Return ``data`` as a :class:`ScoreTable`, loading/validating it when needed."""
    if isinstance(data, ScoreTable):
        return data
    return load_scores(data, scale=scale)


def concat_frames(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate raw frames (used by readers that build one table from many files)."""
    return pd.concat(list(frames), ignore_index=True)
