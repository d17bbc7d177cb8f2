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
ceiling            no        best attainable score (default 1); chance must lie below it
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DroppedRowsWarning, EmergenceDataError, SparseDataWarning

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
DEFAULT_FAMILY = "default"
SELECTORS = ("task", "metric", "family", "shots", "setting", "model")


def _line_hint(source_is_file: bool, row: int) -> str:
    return f"row {row} (line {row + 2} of the file)" if source_is_file else f"row {row}"


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
    """Read CSV/TSV/parquet (or take a DataFrame); return ``(frame, source_name, is_file)``."""
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
    try:
        if suffix in (".parquet", ".pq"):
            try:
                frame = pd.read_parquet(path)
            except ImportError as exc:
                raise EmergenceDataError(
                    f"reading {path.name} needs pyarrow: pip install 'emergence-bayes[parquet]'."
                ) from exc
        elif suffix in (".csv", ".tsv", ".txt", ""):
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep, keep_default_na=True, na_values=[""],
                                dtype={"setting": str, "subtask": str, "model": str, "task": str,
                                       "family": str, "metric": str})
        else:
            raise EmergenceDataError(
                f"cannot read {path.name!r}: unknown extension {suffix!r}; use .csv, .tsv or "
                ".parquet."
            )
    except pd.errors.EmptyDataError:
        raise EmergenceDataError(
            f"score file {str(path)!r} is empty; it needs a header row with at least the columns "
            f"{', '.join(REQUIRED)} and one of {', '.join(SCALE_COLUMNS)}, then data rows."
        ) from None
    return frame, str(path), suffix != ".parquet"


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
) -> ScoreTable:
    """Validate a raw tidy frame into a :class:`ScoreTable` (see :func:`load_scores`)."""
    where = (lambda r: _line_hint(is_file, r))  # noqa: E731
    if raw.shape[0] == 0:
        raise EmergenceDataError(
            f"score table {source!r} is empty (no data rows); it needs at least the columns "
            f"{', '.join(REQUIRED)} and {scale!r}, and one row per observation."
        )
    df = raw.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in (*REQUIRED, scale) if c not in df.columns]
    if missing:
        raise EmergenceDataError(
            f"score table {source!r} lacks required column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, df.columns))}. Required: {', '.join(REQUIRED)} and the "
            f"scale column ({'/'.join(SCALE_COLUMNS)}; pick it with scale=). Rename your columns "
            "to these names."
        )
    df["row"] = np.arange(len(df))
    notes: list[str] = []

    # numeric columns: strings that are not numbers are an error, never NaN
    for col in NUMERIC:
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
        if bad.any():
            rows = df.loc[bad, "row"].tolist()
            vals = df.loc[bad, col].astype(str).tolist()
            raise EmergenceDataError(
                f"column {col!r} must be numeric, but {_list_rows(rows, vals, where)} "
                f"hold{'s' if len(rows) == 1 else ''} text. Fix those cells (use a plain number, "
                "or leave the cell empty where the value is unknown)."
            )
        df[col] = num

    # text columns and defaults
    for col, default in (("family", DEFAULT_FAMILY), ("metric", "score"), ("setting", "")):
        if col not in df.columns:
            df[col] = default
        df[col] = df[col].fillna(default).astype(str)
    for col in ("task", "model"):
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            rows = df.loc[blank, "row"].tolist()
            raise EmergenceDataError(
                f"column {col!r} is empty in {_list_rows(rows, None, where)}; every observation "
                f"needs a {col} name."
            )
        df[col] = df[col].astype(str).str.strip()
    if "subtask" in df.columns:
        sub = df["subtask"].fillna("").astype(str).str.strip()
        has = sub != ""
        df.loc[has, "task"] = df.loc[has, "task"] + "/" + sub[has]
    if "shots" not in df.columns:
        df["shots"] = np.nan
    for col in ("n_items", "chance", "k", "step", "seed"):
        if col not in df.columns:
            df[col] = np.nan
    if "ceiling" not in df.columns:  # empty = unknown: the models estimate the lapse
        df["ceiling"] = np.nan
    if "higher_is_better" not in df.columns:
        df["higher_is_better"] = True
    df["higher_is_better"] = _parse_bool(df, "higher_is_better", where)
    if "score_scale" not in df.columns:
        df["score_scale"] = "0-1"
    df["score_scale"] = df["score_scale"].fillna("0-1").astype(str)

    dropped: list[pd.DataFrame] = []

    # checkpoints: keep final ones unless asked otherwise
    if checkpoints == "final" and df["step"].notna().any():
        last = df.groupby(["family", "model"])["step"].transform("max")
        inter = df["step"].notna() & (df["step"] < last)
        if inter.any():
            d = df.loc[inter].copy()
            d["reason"] = "intermediate training checkpoint (pass checkpoints='all' to keep it)"
            dropped.append(d)
            df = df.loc[~inter]

    # selection (by the user: not counted as dropped)
    if selection:
        df = _apply_selection(df, selection)

    # --- per-row validation -------------------------------------------------------------
    sc = df[scale]
    bad = sc.isna() | ~(sc > 0)
    if bad.any() and bad_scale == "drop":
        d = df.loc[bad].copy()
        d["reason"] = f"missing or non-positive {scale} (bad_scale='drop')"
        dropped.append(d)
        df = df.loc[~bad]
    elif bad.any():
        rows = df.loc[bad, "row"].tolist()
        vals = df.loc[bad, scale].tolist()
        raise EmergenceDataError(
            f"column {scale!r} (the scale axis) must be a positive number, but "
            f"{_list_rows(rows, vals, where)} are missing or not positive. Give the model's "
            f"{'parameter count' if scale == 'params' else 'training FLOPs'}, remove those rows, "
            f"choose the other scale with scale={'flops' if scale == 'params' else 'params'!r}, or pass "
            "bad_scale='drop' to drop and report them"
            + (" (step-0 checkpoints have 0 FLOPs)." if scale == "flops" else ".")
        )
    nan_score = df["score"].isna()
    if nan_score.any():
        rows = df.loc[nan_score, "row"].tolist()
        raise EmergenceDataError(
            f"column 'score' is empty (NaN) in {_list_rows(rows, None, where)}. Fill in the score "
            "or remove those rows; missing scores are never dropped silently."
        )
    ch = df["chance"]
    bad = ch.notna() & ((ch < 0) | (ch >= 1))
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'chance' must lie in [0, 1), but {_list_rows(rows, ch[bad].tolist(), where)} "
            "do not. Give the random-guess score as a proportion (e.g. 0.25 for 4 choices), or "
            "leave it empty to have it estimated."
        )
    bad = df["ceiling"].notna() & ((df["ceiling"] <= 0) | (df["ceiling"] > 1))
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'ceiling' must lie in (0, 1], but {_list_rows(rows, None, where)} do not."
        )
    bad = ch.notna() & (ch >= df["ceiling"].fillna(1.0))
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'chance' must lie below 'ceiling', but {_list_rows(rows, ch[bad].tolist(), where)}"
            " have chance >= ceiling: there is no room for a rise. Check the chance level."
        )
    n = df["n_items"]
    bad = n.notna() & ((n < 1) | (n != np.round(n)))
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'n_items' must be a whole number >= 1, but {_list_rows(rows, n[bad].tolist(), where)}"
            " are not. Give the number of evaluated items, or leave it empty if unknown."
        )
    k = df["k"]
    bad = k.notna() & (k < 0)
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'k' (number correct) must be >= 0, but {_list_rows(rows, None, where)} are not."
        )
    bad = k.notna() & n.notna() & (k > n)
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        vals = [f"k={a:g} > n_items={b:g}" for a, b in zip(k[bad], n[bad], strict=True)]
        raise EmergenceDataError(
            f"column 'k' exceeds 'n_items' in {_list_rows(rows, vals, where)}: more items correct "
            "than evaluated. Fix k or n_items."
        )
    bad = k.notna() & n.isna()
    if bad.any():
        rows = df.loc[bad, "row"].tolist()
        raise EmergenceDataError(
            f"column 'k' is given without 'n_items' in {_list_rows(rows, None, where)}; give the "
            "number of evaluated items too."
        )

    # scores: transform unbounded / lower-is-better, then check bounds
    df["y"] = df["score"].astype(float)
    is_ppl = df["metric"].str.lower().isin(PERPLEXITY_NAMES)
    unbounded = df["score_scale"].str.lower().str.startswith("unbounded") | is_ppl
    other_unb = unbounded & ~is_ppl
    if other_unb.any():
        rows = df.loc[other_unb, "row"].tolist()
        raise EmergenceDataError(
            f"{_list_rows(rows, df.loc[other_unb, 'metric'].tolist(), where)} hold an unbounded "
            "metric that is not a perplexity; transform it to a [0, 1] higher-is-better score "
            "first (e.g. 1 - normalised edit distance) and set score_scale to '0-1'."
        )
    if is_ppl.any():
        bad = is_ppl & (df["score"] < 1)
        if bad.any():
            rows = df.loc[bad, "row"].tolist()
            raise EmergenceDataError(
                f"perplexity must be >= 1, but {_list_rows(rows, df.loc[bad, 'score'].tolist(), where)}"
                " are not. Check the column holds perplexity, not log-perplexity."
            )
        df.loc[is_ppl, "y"] = 1.0 / df.loc[is_ppl, "score"]
        df.loc[is_ppl, "chance"] = 0.0
        df.loc[is_ppl, "higher_is_better"] = True
        notes.append(
            "perplexity rows were turned into the per-token probability 1/ppl (higher is better, "
            "floor 0) and fitted with a beta likelihood on scores."
        )
    bounded = ~unbounded
    pct = bounded & (df["y"] > 1)
    if pct.any():
        grp = df.loc[bounded].groupby(["task", "metric"])["y"]
        mx = grp.transform("max")
        mn = grp.transform("min")
        rows = df.loc[pct, "row"].tolist()
        vals = df.loc[pct, "y"].tolist()
        if bool(((mx.loc[pct] <= 100) & (mn.loc[pct] >= 0)).all()):
            raise EmergenceDataError(
                f"column 'score' looks like a 0-100 (percent) scale in {_list_rows(rows, vals, where)}"
                "; bounded metrics must be on 0-1. Divide those scores (and their chance level) "
                "by 100, for the whole task so it does not mix 0-100 and 0-1."
            )
        raise EmergenceDataError(
            f"column 'score' must lie in [0, 1] for bounded metrics, but "
            f"{_list_rows(rows, vals, where)} do not. Fix the score, or set score_scale to "
            "'unbounded' for a perplexity."
        )
    neg = bounded & (df["y"] < 0)
    if neg.any():
        rows = df.loc[neg, "row"].tolist()
        raise EmergenceDataError(
            f"column 'score' must lie in [0, 1] for bounded metrics, but "
            f"{_list_rows(rows, df.loc[neg, 'y'].tolist(), where)} are negative."
        )
    low = bounded & ~df["higher_is_better"]
    if low.any():
        df.loc[low, "y"] = 1.0 - df.loc[low, "y"]
        df.loc[low, "chance"] = 1.0 - df.loc[low, "chance"]
        df.loc[low, "k"] = df.loc[low, "n_items"] - df.loc[low, "k"]
        notes.append("lower-is-better bounded scores were flipped to 1 - score (and chance too).")

    # duplicates: identical ones are dropped (reported), conflicting ones are an error
    key = ["task", "model", "metric", "shots", "setting", "seed"]
    if checkpoints == "all":
        key.append("step")
    kstr = key_strings(df, key)
    dup = kstr.duplicated(keep=False)
    if dup.any():
        groups = df.loc[dup].assign(_k=kstr[dup]).groupby("_k", sort=False)
        conflict = [g for _, g in groups if g["score"].nunique() > 1]
        if conflict:
            g = conflict[0]
            desc = ", ".join(f"{where(r)} score={s:g}" for r, s in zip(g["row"], g["score"], strict=True))
            raise EmergenceDataError(
                f"{len(conflict)} duplicate key(s) (task, model, metric, shots, setting) with "
                f"different scores, e.g. task={g['task'].iat[0]!r} model={g['model'].iat[0]!r} "
                f"metric={g['metric'].iat[0]!r}: {desc}. Keep one row per key, or tell them apart "
                "with a 'setting' or 'seed' column."
            )
        extra = kstr.duplicated(keep="first")
        d = df.loc[extra].copy()
        d["reason"] = "exact duplicate of an earlier row (same key and score)"
        dropped.append(d)
        df = df.loc[~extra]

    # metric kind (discrete proportion of items, or continuous) drives the metric-choice check.
    # Scores averaged over n_items items are fitted on (pseudo-)counts round(score * n) with a
    # beta-binomial for both kinds: for a continuous metric (BLEU) the overdispersion absorbs
    # the difference, and scores at 0 stay well-behaved (a beta likelihood on squeezed zeros made
    # the sampler diverge on ObsScaling's ipa_transliterate BLEU). Without n_items: beta on scores.
    df["metric_kind"] = infer_metric_kinds(df, where)

    # derived arrays
    df["scale_value"] = df[scale].astype(float)
    df["x"] = np.log10(df["scale_value"])
    has_n = df["n_items"].notna() & ~df["metric"].str.lower().isin(PERPLEXITY_NAMES)  # never counts
    df.loc[has_n & df["k"].isna(), "k"] = np.round(df.loc[has_n, "y"] * df.loc[has_n, "n_items"])
    df["shots"] = df["shots"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    df = df.reset_index(drop=True)

    dropped_df = (
        pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=[*df.columns, "reason"])
    )
    table = ScoreTable(
        data=df, scale=scale, dropped=dropped_df, source=source, notes=tuple(notes),
        selection={k: v for k, v in (selection or {}).items() if v is not None},
    )
    if warn:
        if len(dropped_df):
            reasons = dropped_df["reason"].value_counts()
            msg = "; ".join(f"{n} row(s): {r}" for r, n in reasons.items())
            warnings.warn(
                f"{len(dropped_df)} row(s) of {source!r} were dropped ({msg}); they are listed in "
                "ScoreTable.dropped.", DroppedRowsWarning, stacklevel=3,
            )
        s = table.series()
        sparse = s[s["too_sparse"]]
        if len(sparse):
            names = ", ".join(sparse["label"].head(5)) + (" ..." if len(sparse) > 5 else "")
            warnings.warn(
                f"{len(sparse)} series have fewer than {MIN_SCALES} distinct scales ({names}); "
                "they are kept, and every result for them says 'too sparse'.",
                SparseDataWarning, stacklevel=3,
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
            f"{_list_rows(rows, given[bad].tolist(), where)} are not."
        )
    out = given.copy()
    overrides = {k.lower(): v for k, v in (overrides or {}).items()}
    for k, v in overrides.items():
        if v not in METRIC_KINDS:
            raise EmergenceDataError(
                f"metric kind {v!r} for metric {k!r} is not valid; use 'discrete' or 'continuous'."
            )
    for (_task, metric), g in df.groupby(["task", "metric"], sort=False):
        idx = g.index[out.loc[g.index] == ""]
        if not len(idx):
            continue
        m = str(metric).lower()
        if m in overrides:
            kind = overrides[m]
        elif m in DISCRETE_METRICS:
            kind = "discrete"
        elif m in CONTINUOUS_METRICS or m.startswith(CONTINUOUS_METRICS):
            kind = "continuous"
        elif g["n_items"].notna().all():
            n = g["n_items"].to_numpy(float)
            frac = np.abs(g["y"].to_numpy(float) * n - np.round(g["y"].to_numpy(float) * n))
            kind = "discrete" if np.mean(frac < 1e-3 * np.maximum(n, 1) + 1e-6) >= 0.9 else "continuous"
        else:
            kind = "continuous"
        out.loc[idx] = kind
    return out


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
                f"column {col!r} must be True or False, but {where(int(r))} holds {v!r}."
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
