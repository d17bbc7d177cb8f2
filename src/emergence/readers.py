"""Read scores where they live: lm-evaluation-harness results files and leaderboard tables.

Both build a tidy frame in the schema of :mod:`emergence.data` and pass it through
:func:`emergence.data.validate`, so every check happens in one place.

``read_lm_eval`` reads the harness's 2023 layout (``results`` ``{task: {metric,
metric_stderr}}``, ``config.model_args``, ``config.num_fewshot``) and the 0.4.x layout
(``"metric,filter"`` keys, ``n-samples``, ``n-shot``, ``higher_is_better``, ``model_name``,
``groups`` / ``group_subtasks``). Each row records where its scale came from
(``scale_source``: ``user``, ``registry:<family>`` or ``name``) and its item count
(``n_items_source``: ``n-samples`` or ``inverted stderr``, n = p(1 - p)/stderr^2 + 1, the median
over the files read for each task).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._io import decode_utf8
from .data import ScoreTable, validate
from .errors import EmergenceDataError
from .registry import PYTHIA_TOKENS_PER_STEP, lookup, size_from_name

#: Chance levels of known multiple-choice tasks (1 / number of options); 0 for generation.
CHANCE = {"arc_challenge": 0.25, "arc_easy": 0.25, "piqa": 0.5, "winogrande": 0.5, "wsc": 0.5,
          "wsc273": 0.5, "sciq": 0.25, "logiqa": 0.25, "mmlu": 0.25, "hendrycksTest": 0.25,
          "hellaswag": 0.25, "openbookqa": 0.25, "boolq": 0.5, "copa": 0.5,
          "lambada_openai": 0.0, "lambada_standard": 0.0, "gsm8k": 0.0, "triviaqa": 0.0}
#: Tasks skipped by default (bias probes, not capabilities).
SKIP_PREFIXES = ("crows_pairs",)
PPL_METRICS = ("ppl", "perplexity", "word_perplexity", "byte_perplexity")
SETTING_2023 = "lm-eval-harness(2023)"


def _files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for p in map(Path, items):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.json") if q.is_file())
            if not found:
                raise EmergenceDataError(_no_json_message(p))
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise EmergenceDataError(f"lm-eval results path {str(p)!r} does not exist; check "
                                     "the path.")
    if not out:
        raise EmergenceDataError("no lm-eval results path given; pass a results .json file or a "
                                 "folder of them.")
    return out


def _no_json_message(folder: Path) -> str:
    tables = sorted(q.name for ext in ("*.csv", "*.tsv", "*.parquet") for q in folder.glob(ext))
    if tables:
        return (f"folder {str(folder)!r} holds no lm-eval results files (.json) but "
                f"{len(tables)} score table(s) ({', '.join(tables[:5])}"
                f"{' ...' if len(tables) > 5 else ''}); pass one table file itself, e.g. "
                f"{str(folder / tables[0])!r}, not its folder.")
    return (f"folder {str(folder)!r} holds no lm-eval results files (.json, searched in every "
            "sub-folder); pass the folder the harness wrote its results_*.json files to.")


def _load_json(f: Path) -> dict[str, Any]:
    """One results file as a mapping; a clear error for anything else."""
    data = f.read_bytes()
    text = decode_utf8(data, f, "(probably Latin-1). lm-eval writes UTF-8; re-save the file "
                       "as UTF-8.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmergenceDataError(
            f"{str(f)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
            "The file may be truncated; rerun the evaluation or restore the file."
        ) from None
    if not isinstance(doc, dict):
        raise EmergenceDataError(
            f"{str(f)!r} holds a JSON {type(doc).__name__}, not an lm-eval results object (a "
            "mapping with a 'results' key, as written by lm-evaluation-harness); pass the "
            "harness's results_*.json files."
        )
    return doc


def _model_args(cfg: dict[str, Any]) -> dict[str, str]:
    ma = cfg.get("model_args", "")
    if isinstance(ma, dict):
        return {str(k): str(v) for k, v in ma.items()}
    out = {}
    for part in str(ma).split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _model_name(doc: dict[str, Any], path: Path) -> tuple[str, float | None]:
    args = _model_args(doc.get("config", {}))
    name = args.get("pretrained") or doc.get("model_name") or path.stem
    step = None
    rev = args.get("revision", "")
    m = re.search(r"step(\d+)", rev or "") or re.search(r"_step(\d+)$", path.stem)
    if m:
        step = float(m.group(1))
    base = str(name).rstrip("/").split("/")[-1]
    base = re.sub(r"-v\d+(?:\.\d+)?(?=-)", "", base)  # pythia-v1.1-1b -> pythia-1b
    return base, step


def _split_task(task: str, groups: dict[str, list[str]]) -> tuple[str, str]:
    """(task, subtask): MMLU subjects and 0.4.x group members become subtasks of their group."""
    if task.startswith("hendrycksTest-"):
        return "mmlu", task.split("-", 1)[1]
    for g, members in groups.items():
        if task in members:
            sub = task[len(g) + 1:] if task.startswith(g + "_") else task
            return g, sub
    return task, ""


def _chance(task: str) -> float:
    for k, v in CHANCE.items():
        if task == k or task.startswith(k):
            return v
    return np.nan


def _rows_from_doc(doc: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    results = doc.get("results")
    if not isinstance(results, dict):
        raise EmergenceDataError(
            f"{str(path)!r} has no 'results' mapping (keys: {', '.join(map(repr, list(doc)[:8]))}); "
            "is it an lm-eval results file? Pass the harness's results_*.json files.")
    model, step = _model_name(doc, path)
    cfg = doc.get("config", {}) or {}
    nshot = doc.get("n-shot", {}) or {}
    nsamples = doc.get("n-samples", {}) or {}
    hib_all = doc.get("higher_is_better", {}) or {}
    groups = {str(g): list(m) for g, m in (doc.get("group_subtasks", {}) or {}).items() if m}
    new_layout = any("," in k for r in results.values() if isinstance(r, dict) for k in r)
    rows = []
    for task, metrics in results.items():
        if task.startswith(SKIP_PREFIXES):
            continue
        if not isinstance(metrics, dict):  # listed in dropped, not skipped silently
            rows.append({"task": str(task), "subtask": "", "model": model, "step": step,
                         "metric": "", "score": np.nan, "file": path.name,
                         "reason": f"results entry of type {type(metrics).__name__}, not a "
                                   "mapping of metrics"})
            continue
        tname, sub = _split_task(task, groups)
        shots = nshot.get(task, cfg.get("num_fewshot"))
        ns = nsamples.get(task, {})
        n_known = ns.get("effective", ns.get("original")) if isinstance(ns, dict) else None
        for key, raw_value in metrics.items():
            if key == "alias" or "stderr" in key:
                continue
            value, problem = _metric_value(raw_value)
            metric, _, filt = key.partition(",")
            se_key = f"{metric}_stderr,{filt}" if new_layout else f"{metric}_stderr"
            se = metrics.get(se_key)
            is_ppl = metric in PPL_METRICS
            hib = hib_all.get(task, {}).get(metric, not is_ppl)
            rows.append({
                "task": tname, "subtask": sub, "model": model, "step": step, "shots": shots,
                "metric": metric,
                "setting": (f"filter={filt}" if filt and filt != "none" else
                            (SETTING_2023 if not new_layout else "")),
                "score": value, "stderr": float(se) if isinstance(se, int | float) else np.nan,
                "score_scale": "unbounded" if is_ppl else "0-1", "higher_is_better": bool(hib),
                "n_items": float(n_known) if n_known else np.nan,
                "n_items_source": "n-samples" if n_known else "",
                "chance": _chance(tname) if not is_ppl else np.nan, "file": path.name,
                "reason": problem,
            })
    return rows


def _metric_value(value: Any) -> tuple[float, str]:
    """A metric's number and, when it is not one, why (the row is then listed in ``dropped``).

    Numbers written as text (``"0.851"``) are read as numbers.
    """
    if isinstance(value, bool) or value is None:
        return np.nan, f"metric value {value!r} is not a number"
    if isinstance(value, int | float):
        v = float(value)
        return (v, "") if np.isfinite(v) else (np.nan, f"metric value {value!r} is not finite")
    if isinstance(value, str):
        try:
            v = float(value.strip().rstrip("%")) / (100.0 if value.strip().endswith("%") else 1.0)
        except ValueError:
            return np.nan, f"metric value {value!r} is text, not a number"
        if np.isfinite(v):
            return v, ""
        return np.nan, f"metric value {value!r} is not finite"
    return np.nan, f"metric value of type {type(value).__name__} is not a number"


def _fill_n_items(df: pd.DataFrame) -> pd.DataFrame:
    """Invert stderr where n-samples is missing: n = p(1-p)/se^2 + 1, median per task."""
    need = df["n_items"].isna() & ~df["metric"].isin(PPL_METRICS)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = df["score"] * (1 - df["score"]) / df["stderr"] ** 2 + 1
    inv = inv.where(np.isfinite(inv) & (df["stderr"] > 0) & ~df["metric"].isin(PPL_METRICS)
                    & (df["score"] >= 0) & (df["score"] <= 1))  # a percent score is flagged later
    key = df["task"] + "/" + df["subtask"].fillna("")
    med = inv.groupby(key).transform("median").round()
    df.loc[need, "n_items"] = med[need]
    df.loc[need & med.notna(), "n_items_source"] = "inverted stderr"
    # perplexity rows: same items as the task's accuracy (kept for the record; not fitted as counts)
    ppl = df["metric"].isin(PPL_METRICS)
    df.loc[ppl, "n_items"] = df.loc[ppl].index.map(
        lambda i: df.loc[(key == key[i]) & ~ppl, "n_items"].median())
    df.loc[ppl, "n_items_source"] = "as the task's other metrics"
    return df


def _aggregate_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Item-weighted mean of a group's subtasks (e.g. the 57 MMLU subjects), as a group row."""
    subs = df[(df["subtask"] != "") & df["n_items"].notna() & ~df["metric"].isin(PPL_METRICS)]
    have = set(map(tuple, df.loc[df["subtask"] == "", ["task", "model", "metric", "shots"]]
                   .astype(str).values))
    rows = []
    for (task, model, metric, shots, _step), g in subs.groupby(
            ["task", "model", "metric", "shots", "step"], dropna=False):
        if (str(task), str(model), str(metric), str(shots)) in have:
            continue
        n = g["n_items"].sum()
        score = float((g["score"] * g["n_items"]).sum() / n)
        rows.append({**g.iloc[0].to_dict(), "subtask": "", "score": score,
                     "stderr": np.nan, "n_items": float(n),
                     "setting": f"{SETTING_2023};micro_avg_{len(g)}_subjects"
                     if g["setting"].iat[0] == SETTING_2023 else "micro_avg",
                     "n_items_source": "sum over subtasks"})
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True) if rows else df


_SIZE_TEXT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBtT]?)\s*$")
_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_size(value: Any) -> float | None:
    """A parameter count from a number or a text such as ``7B``, ``1.3b``, ``350M``, ``6.7e9``.

    Returns None when ``value`` is not a size (the caller says where).

    Examples
    --------
    >>> parse_size("7B"), parse_size("1.3b"), parse_size("350M"), parse_size(6.7e9)
    (7000000000.0, 1300000000.0, 350000000.0, 6700000000.0)
    >>> parse_size("seven") is None
    True
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
    else:
        m = _SIZE_TEXT.match(str(value).replace(",", "").replace("_", ""))
        if not m:
            return None
        v = float(m.group(1)) * _UNITS[m.group(2).lower()]
    return v if np.isfinite(v) and v > 0 else None


def _read_sizes(sizes: dict[str, Any] | str | Path | pd.DataFrame | None) -> dict[str, dict]:
    if sizes is None:
        return {}
    if isinstance(sizes, dict):
        frame = pd.DataFrame([{"model": k, **(v if isinstance(v, dict) else {"params": v})}
                              for k, v in sizes.items()])
        name, where = "sizes", (lambda i: f"model {frame['model'].iat[i]!r}")
    else:
        from .data import read_table

        frame, name, is_file = read_table(sizes)
        name = "sizes" if name == "DataFrame" else repr(name)
        where = ((lambda i: f"row {i} (line {i + 2})") if is_file else (lambda i: f"row {i}"))
    frame.columns = [str(c).strip() for c in frame.columns]
    if "model" not in frame.columns or "params" not in frame.columns:
        raise EmergenceDataError(f"the sizes table {name} needs columns 'model' and 'params' (and "
                                 "optionally 'flops', 'tokens', 'family'); found "
                                 f"{', '.join(map(repr, frame.columns))}. Rename its columns.")
    out: dict[str, dict] = {}
    for i, r in enumerate(frame.to_dict("records")):
        rec: dict[str, Any] = {}
        for col in ("params", "flops", "tokens"):
            cell = r.get(col)
            if cell is None or (not isinstance(cell, str) and pd.isna(cell)):
                continue
            v = parse_size(r[col])
            if v is None:
                raise EmergenceDataError(
                    f"sizes {name}: {where(i)}, column {col!r} holds {r[col]!r}, not a positive "
                    "size. Write a number (7e9) or a number with a unit k/M/B/T (7B, 1.3b, 350M)."
                )
            rec[col] = v
        if "params" not in rec:
            raise EmergenceDataError(f"sizes {name}: {where(i)} has no 'params'; give the "
                                     "model's parameter count (7e9 or 7B).")
        if isinstance(r.get("family"), str) and r["family"].strip():
            rec["family"] = r["family"].strip()
        out[str(r["model"]).strip()] = rec
    return out


def _resolve_sizes(df: pd.DataFrame, user: dict[str, dict]) -> pd.DataFrame:
    """Params, tokens, FLOPs and family of each row: the user's sizes, then the registry, then
    the size written in the model name; a model with none is an error listing them all."""
    params, tokens, flops, fams, src = [], [], [], [], []
    missing = []
    for model, step in zip(df["model"], df["step"], strict=True):
        u = user.get(model)
        hit = lookup(model)
        if u is not None:
            p = float(u["params"])
            t = float(u["tokens"]) if "tokens" in u else np.nan
            fl = float(u["flops"]) if "flops" in u else (6 * p * t if t == t else np.nan)
            fam = u.get("family") or (hit[0].name if hit else "default")
            s = "user"
        elif hit is not None:
            fam_obj, tag = hit
            p = fam_obj.sizes[tag]
            t = fam_obj.tokens_for(tag)
            if fam_obj.name.startswith("Pythia") and step == step and step is not None:
                t = step * PYTHIA_TOKENS_PER_STEP
            t = float(t) if t is not None else np.nan
            fl = 6 * p * t if t == t else np.nan
            fam, s = fam_obj.name, f"registry:{fam_obj.name}"
        else:
            p = size_from_name(model)
            t = fl = np.nan
            fam, s = "default", "name"
            if p is None:
                missing.append(model)
                p = np.nan
        params.append(p)
        tokens.append(t)
        flops.append(fl)
        fams.append(fam)
        src.append(s)
    if missing:
        names = sorted(set(missing))
        raise EmergenceDataError(
            f"no size known for {len(names)} model(s): {', '.join(names[:10])}"
            f"{' ...' if len(names) > 10 else ''}. Pass sizes={{'model': params, ...}} or a CSV "
            "with columns model,params[,flops] (CLI: --sizes sizes.csv)."
        )
    df["params"], df["tokens"], df["flops"] = params, tokens, flops
    df["family"], df["scale_source"] = fams, src
    return df


def read_lm_eval(
    paths: str | Path | Sequence[str | Path],
    sizes: dict[str, Any] | str | Path | pd.DataFrame | None = None,
    *,
    scale: str = "params",
    aggregate_groups: bool = True,
    warn: bool = True,
    **select: Any,
) -> ScoreTable:
    """Read lm-evaluation-harness results files (2023 and 0.4.x layouts) into a ScoreTable.

    Parameters
    ----------
    paths : path, folder, or list of them
        Results ``.json`` files, or folders searched recursively.
    sizes : dict, CSV path or DataFrame, optional
        Model sizes given by the user: ``{model: params}`` or ``{model: {"params": ..., "flops":
        ..., "tokens": ..., "family": ...}}``, or a table with columns ``model, params[, flops,
        tokens, family]``. Used first; then the built-in registry
        (:mod:`emergence.registry`), then the size written in the model name.
    scale : {"params", "flops"}
        Scale axis of the returned table.
    aggregate_groups : bool
        Add an item-weighted group row (e.g. MMLU over its subjects) when the file has none.
    **select
        Selection passed to :func:`emergence.data.validate` (task, metric, family, ...).

    Returns
    -------
    ScoreTable
        With extra columns ``scale_source`` and ``n_items_source``.

    Raises
    ------
    EmergenceDataError
        When a model has no known size (the message lists them and how to supply sizes).
    """
    files = _files(paths)
    rows: list[dict[str, Any]] = []
    for f in files:
        rows += _rows_from_doc(_load_json(f), f)
    all_rows = pd.DataFrame(rows)
    bad = all_rows["reason"] != "" if len(all_rows) else pd.Series(dtype=bool)
    dropped = all_rows.loc[bad].reset_index(drop=True) if len(all_rows) else None
    df = all_rows.loc[~bad].drop(columns="reason").reset_index(drop=True) if len(
        all_rows) else all_rows
    if not len(df):
        why = ("; ".join(sorted(set(dropped["reason"])))[:300] if dropped is not None and len(
            dropped) else "no task has a metric")
        raise EmergenceDataError(
            f"no scores found in {len(files)} lm-eval file(s) ({', '.join(f.name for f in files[:5])}"
            f"): {why}. Check that they are lm-evaluation-harness results files.")
    df = _fill_n_items(df)
    df = _resolve_sizes(df, _read_sizes(sizes))
    if aggregate_groups:
        df = _aggregate_groups(df)
    source = ", ".join(str(Path(p)) for p in ([paths] if isinstance(paths, str | Path) else paths))
    return validate(df, scale=scale, source=source, warn=warn, selection=select or None,
                    dropped=dropped)


def _split_blank_cells(long: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leaderboards have holes: an empty cell is not an observation. It is listed in the
    table's ``dropped`` (with a DroppedRowsWarning), never removed silently."""
    blank = long["score"].isna()
    d = long.loc[blank].copy()
    d["reason"] = "empty leaderboard cell (no score for this model and benchmark)"
    return long.loc[~blank], d.reset_index(drop=True)


def from_wide(
    frame: pd.DataFrame,
    *,
    model: str = "model",
    benchmarks: Iterable[str] | None = None,
    params: str = "params",
    flops: str | None = None,
    family: str | None = None,
    metric: str = "score",
    scale: str = "params",
    percent: bool = False,
    chance: dict[str, float] | None = None,
    n_items: dict[str, int] | None = None,
    warn: bool = True,
) -> ScoreTable:
    """Turn a leaderboard table (one row per model, one column per benchmark) into a ScoreTable.

    Parameters
    ----------
    frame : DataFrame
        Wide table.
    model, params, flops, family : str
        Column names of the model name, parameter count, FLOPs (optional) and family (optional).
    benchmarks : iterable of str, optional
        Benchmark columns; default: every numeric column that is not a size column.
    metric : str
        Metric name recorded for every score.
    percent : bool
        Scores are on 0-100: divide by 100.
    chance, n_items : dict, optional
        Per-benchmark chance level and item count.
    """
    for col in [model, params] + ([flops] if flops else []) + ([family] if family else []):
        if col not in frame.columns:
            raise EmergenceDataError(
                f"column {col!r} not in the wide table; columns are {list(frame.columns)}. "
                "Name the right one with model=, params=, flops=, family=."
            )
    size_cols = {model, params, flops, family} - {None}
    if benchmarks is None:
        benchmarks = [c for c in frame.columns if c not in size_cols
                      and pd.api.types.is_numeric_dtype(frame[c])]
    benchmarks = list(benchmarks)
    missing = [b for b in benchmarks if b not in frame.columns]
    if missing:
        raise EmergenceDataError(f"benchmark column(s) {missing} not in the table; available: "
                                 f"{list(frame.columns)}.")
    keep = [model, params] + ([flops] if flops else []) + ([family] if family else [])
    long = frame[keep + benchmarks].melt(id_vars=keep, var_name="task", value_name="score")
    long = long.rename(columns={model: "model", params: "params"})
    if flops:
        long = long.rename(columns={flops: "flops"})
    if family:
        long = long.rename(columns={family: "family"})
    if percent:
        long["score"] = long["score"] / 100.0
    long["metric"] = metric
    if chance:
        long["chance"] = long["task"].map(chance)
    if n_items:
        long["n_items"] = long["task"].map(n_items)
    long, blank = _split_blank_cells(long)
    return validate(long.reset_index(drop=True), scale=scale, source="wide table", warn=warn,
                    dropped=blank)
