"""Back-test: hold out the largest models, predict them from the smaller ones, score the forecasts.

:func:`backtest` takes a score table and, for every curve (task, metric, family, shots, setting)
with at least ``holdout + 3`` distinct scales, holds out the ``holdout`` largest scales of each
family in it. The remaining rows of all those curves are fitted **once** per curve model
(:func:`emergence.fit`; the held-out rows are never seen), and the held-out scores are predicted
with :meth:`emergence.Fit.predict` (``kind="score"``: the fitted noise model and the held-out
row's ``n_items``). With several ``models`` the package's forecast is an **equal-weight mixture**
of the models' predictive draws (each model contributes the same number of draws): stacking
weights would have to come from the training rows alone, and on 5-8 points per curve they are
too noisy to beat equal weights. The point-fit baselines of :mod:`emergence.baselines` are fitted
per curve on the same training rows.

Scoring -- identical for every method
    Each method gives ``n_draws`` predictive draws of the held-out score on the 0..1 scale
    (the package's posterior predictive draws are thinned at random to that number, so all
    methods are scored from equally many draws). From the draws:

    * central 50/80/90 % intervals (draw quantiles), their coverage of the observed score and
      the width of the 90 % interval;
    * PIT, the predictive probability of a score below the observed one (ties count half);
    * CRPS in its energy form, ``E|X - y| - E|X - X'| / 2`` over the draws (lower is better);
    * log predictive density: draws and observation are squeezed into
      ``[eps, 1 - eps]`` with ``eps = 0.5 / n_items`` (``0.5 / 1000`` without ``n_items``, as
      the beta likelihood does), mapped to the logit scale, where a Gaussian kernel density
      estimate (Silverman's robust bandwidth, at least :data:`MIN_BANDWIDTH`) is evaluated at
      the observation in log space (never ``-inf``), and the Jacobian of the logit brings it back
      to the score scale: ``log p(y) = log p_logit(logit y) - log(y (1 - y))``. Higher is better.

A baseline that cannot be fitted to a curve (e.g. the least-squares logistic does not converge)
gives NaN scores for that curve's held-out points: they are counted in ``n_failed`` of
:meth:`BacktestResult.summary` and kept in :attr:`BacktestResult.records` with the reason in
``status``; the ``*_common`` columns of the summary compare the methods on the points every
method scored.

Execution and seeds
    Every random stream derives from ``(seed, curve key, method)`` with
    :class:`numpy.random.SeedSequence`, never from order of execution; the fit of model ``m``
    uses a seed derived from ``(seed, m)``. With ``scheduler=`` (a ``distributed.Client`` or a
    scheduler address) the per-model fits (one task per model) and the per-curve baselines (one
    task per curve) run on the Dask cluster and give the same numbers as locally.

Examples
--------
>>> import emergence as em
>>> bt = em.backtest(em.datasets.load("obsscaling_emergent"), holdout=1, seed=1)  # doctest: +SKIP
>>> bt.summary()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from ._concurrent import recorded
from ._io import atomic_write_json
from .baselines import BASELINES, N_BOOT, BaselineError, fit_baseline
from .config import MODELS as VALID_MODELS
from .config import Config, make_config
from .data import ScoreTable, as_table, key_strings
from .errors import ConfigError, ConvergenceWarning, EmergenceDataError

METHODS = ("emergence", *BASELINES)
#: Central interval levels that are scored.
LEVELS = (0.5, 0.8, 0.9)
#: Smallest excess of a held-out score over the forecast's upper bound (on the 0-1 score scale)
#: called an unpredicted *jump*: a jump is a difference a reader sees (5 accuracy points), not a
#: score at the ceiling just above a forecast that ends just below it (ObsScaling Qwen1.5
#: arithmetic_3da: 1.000 over [0.980, 0.998]).
JUMP_MIN = 0.05
#: Quantiles stored for the predictive fans of the plots.
FAN_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
#: Points of the scale grid of each fan.
FAN_POINTS = 24
#: Smallest kernel bandwidth (logit units) of the log-score density estimate.
MIN_BANDWIDTH = 0.01
#: Items assumed for the squeeze of scores without ``n_items`` (as the beta likelihood does).
SQUEEZE_N = 1000
KEYS = ["task", "metric", "family", "shots", "setting"]
SUMMARY_COLUMNS = ["method", "n", "coverage_50", "coverage_80", "coverage_90", "mean_width_90",
                   "mean_log_score", "crps", "n_failed", "median_log_score",
                   "mean_log_score_common", "crps_common"]


def _h(text: str) -> int:
    """A stable 32-bit hash of a string (seeds must not depend on Python's hash salt)."""
    return zlib.crc32(text.encode("utf-8"))


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(e) for e in entropy]))


# --------------------------------------------------------------------------------------------
# scoring (the same code for every method)
# --------------------------------------------------------------------------------------------
def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def log_density(draws: np.ndarray, y: float, n_items: float | None = None) -> float:
    """Log predictive density of score ``y`` from draws (logit-scale KDE, see module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> d = np.random.default_rng(0).beta(20, 20, 4000)
    >>> round(log_density(d, 0.5), 1)  # Beta(20, 20) has log density 1.6 at 0.5
    1.6
    """
    from scipy.special import logsumexp

    n = float(n_items) if n_items is not None and np.isfinite(n_items) and n_items > 0 \
        else SQUEEZE_N
    eps = 0.5 / n
    z = _logit(np.clip(np.asarray(draws, float), eps, 1 - eps))
    yy = float(np.clip(y, eps, 1 - eps))
    z0 = float(_logit(np.array(yy)))
    sd = float(np.std(z))
    iqr = float(np.subtract(*np.quantile(z, [0.75, 0.25])))
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    h = max(0.9 * spread * len(z) ** -0.2, MIN_BANDWIDTH)
    lp = (logsumexp(-0.5 * ((z0 - z) / h) ** 2) - np.log(len(z)) - np.log(h)
          - 0.5 * np.log(2 * np.pi))
    return float(lp - np.log(yy * (1 - yy)))


def crps(draws: np.ndarray, y: float) -> float:
    """CRPS of draws at ``y`` in its energy form, ``E|X - y| - E|X - X'| / 2``.

    Examples
    --------
    >>> crps(np.array([0.5, 0.5]), 0.7)
    0.2
    """
    d = np.sort(np.asarray(draws, float))
    m = len(d)
    e1 = float(np.mean(np.abs(d - y)))
    # sum_{i,j} |d_i - d_j| = 2 sum_i (2i - m - 1) d_(i) for sorted d (i = 1..m)
    e2 = float(2.0 * np.sum((2 * np.arange(1, m + 1) - m - 1) * d) / m**2)
    return round(e1 - 0.5 * e2, 15)


def score_draws(draws: np.ndarray, y: float, n_items: float | None = None) -> dict[str, float]:
    """Every score of one forecast: median, interval ends, PIT, log score and CRPS."""
    draws = np.asarray(draws, float)
    out: dict[str, float] = {"median": float(np.median(draws))}
    for lv in LEVELS:
        lo, hi = np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2])
        tag = round(lv * 100)
        out[f"lo_{tag}"], out[f"hi_{tag}"] = float(lo), float(hi)
    out["pit"] = float((np.sum(draws < y) + 0.5 * np.sum(draws == y)) / len(draws))
    out["log_score"] = log_density(draws, y, n_items)
    out["crps"] = crps(draws, y)
    return out


def _nan_scores() -> dict[str, float]:
    keys = ["median", *[f"{e}_{round(lv * 100)}" for lv in LEVELS for e in ("lo", "hi")],
            "pit", "log_score", "crps"]
    return dict.fromkeys(keys, float("nan"))


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass
class BacktestResult:
    """Scored forecasts of held-out scores, one record per held-out point and method.

    Attributes
    ----------
    records : pandas.DataFrame
        One row per held-out point and method: curve keys, ``label``, ``curve`` (id),
        ``model`` (the held-out model), ``x`` (log10 scale), ``extrapolation`` (decades beyond
        the largest training scale), ``n_items``, ``observed``, ``method``, ``median``,
        ``lo_50``/``hi_50``, ``lo_80``/``hi_80``, ``lo_90``/``hi_90``, ``pit``, ``log_score``,
        ``crps`` and ``status`` (``"ok"`` or why the method failed).
    curves : pandas.DataFrame
        One row per back-tested curve: ``curve``, keys, ``label``, ``n_train``, ``n_holdout``.
    skipped : pandas.DataFrame
        Curves not back-tested, with ``reason``.
    training : pandas.DataFrame
        Training rows of the back-tested curves (``curve``, ``model``, ``family``, ``x``, ``y``).
    fans : pandas.DataFrame
        Predictive quantiles per curve, method and grid scale (``q05`` ... ``q95``; plots).
    fits : list of dict
        Per curve model: diagnostics, timing and warnings of its training fit.
    config : dict
        Options of the back-test (holdout, models, methods, seed, draws, the fit config).
    """

    records: pd.DataFrame
    curves: pd.DataFrame
    skipped: pd.DataFrame
    training: pd.DataFrame
    fans: pd.DataFrame
    fits: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        """Methods in the order they were requested."""
        return list(self.config.get("methods", list(dict.fromkeys(self.records["method"]))))

    def __repr__(self) -> str:
        return (f"BacktestResult({len(self.curves)} curves, "
                f"{self.records['curve'].astype(str).add('|').add(self.records['x'].astype(str)).nunique()} "
                f"held-out points, methods={self.methods}, seed={self.config.get('seed')})")

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.summary().to_html(
            float_format=lambda v: f"{v:.3g}")

    def summary(self) -> pd.DataFrame:
        """One row per method: coverage, width, mean log score and CRPS of its forecasts.

        Columns: ``method`` (the package's row is ``"emergence"``), ``n`` (scored points),
        ``coverage_50``, ``coverage_80``, ``coverage_90`` (share of observed scores inside the
        central interval), ``mean_width_90``, ``mean_log_score`` (higher is better), ``crps``
        (mean, lower is better), ``n_failed`` (points the method could not forecast),
        ``median_log_score`` (one confidently wrong forecast can dominate the mean), and
        ``mean_log_score_common`` / ``crps_common`` over the points every method scored.
        """
        r = self.records
        ok_all = r.groupby(["curve", "x", "model"])["log_score"].transform(
            lambda s: bool(s.notna().all()))
        rows = []
        for m in self.methods:
            g = r[r["method"] == m]
            ok = g[g["log_score"].notna()]
            common = g[ok_all[g.index].astype(bool) & g["log_score"].notna()]
            row: dict[str, Any] = {"method": m, "n": len(ok)}
            for lv in LEVELS:
                t = round(lv * 100)
                inside = (ok[f"lo_{t}"] <= ok["observed"]) & (ok["observed"] <= ok[f"hi_{t}"])
                row[f"coverage_{t}"] = float(inside.mean()) if len(ok) else float("nan")
            row["mean_width_90"] = float((ok["hi_90"] - ok["lo_90"]).mean())
            row["mean_log_score"] = float(ok["log_score"].mean())
            row["crps"] = float(ok["crps"].mean())
            row["n_failed"] = int(len(g) - len(ok))
            row["median_log_score"] = float(ok["log_score"].median())
            row["mean_log_score_common"] = float(common["log_score"].mean())
            row["crps_common"] = float(common["crps"].mean())
            rows.append(row)
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def calibration(self, levels: Sequence[float] | None = None) -> pd.DataFrame:
        """Coverage of central intervals at many nominal levels, from the PIT values.

        A central interval of level ``p`` covers the observation when ``|PIT - 1/2| <= p/2``.
        Returns columns ``method``, ``nominal``, ``coverage``, ``n``.
        """
        lv = np.asarray(levels if levels is not None else np.round(np.arange(0.05, 1.0, 0.05), 2))
        rows = []
        for m in self.methods:
            pit = self.records.loc[self.records["method"] == m, "pit"].dropna().to_numpy()
            for p in lv:
                cov = float(np.mean(np.abs(pit - 0.5) <= p / 2)) if len(pit) else float("nan")
                rows.append({"method": m, "nominal": float(p), "coverage": cov, "n": len(pit)})
        return pd.DataFrame(rows)

    def predictability(self, method: str = "emergence", level: float = 0.9) -> pd.DataFrame:
        """Per curve: did the held-out scores land inside the forecast from the smaller models?

        The ingredient of the "not predictable by extrapolation" half of the emergence
        definition. ``call`` is ``"unpredicted_jump"`` when a held-out score lies above the
        central ``level`` interval of ``method``'s forecast by at least :data:`JUMP_MIN`,
        ``"above_forecast"`` when one lies above it by less (a saturated curve at 1.000 over a
        forecast ending at 0.998 is not a jump), ``"below_forecast"`` when one lies below it
        (and none above), ``"predictable_from_smaller"`` when all lie inside, and
        ``"no_forecast"`` when the method could not forecast the curve.

        Returns
        -------
        pandas.DataFrame
            ``curve``, keys, ``label``, ``n_points``, ``n_above``, ``n_below``, ``max_pit``,
            ``call``.
        """
        tag = round(level * 100)
        if f"lo_{tag}" not in self.records:
            raise ValueError(f"level {level!r} was not scored; use one of {LEVELS}.")
        r = self.records[self.records["method"] == method]
        rows = []
        for cid, g in r.groupby("curve", sort=True):
            ok = g[g["log_score"].notna()]
            excess = ok["observed"] - ok[f"hi_{tag}"]
            above = int((excess > 0).sum())
            below = int((ok["observed"] < ok[f"lo_{tag}"]).sum())
            jump = bool((excess >= JUMP_MIN).any())
            call = ("no_forecast" if ok.empty else "unpredicted_jump" if jump else
                    "above_forecast" if above else "below_forecast" if below
                    else "predictable_from_smaller")
            rows.append({"curve": int(cid), **{k: g[k].iat[0] for k in KEYS},
                         "label": g["label"].iat[0], "n_points": len(g), "n_above": above,
                         "n_below": below, "max_pit": float(ok["pit"].max()), "call": call})
        return pd.DataFrame(rows)

    # ---- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``kind``, ``config``, ``summary``, ``records`` and the rest)."""
        return {
            "kind": "backtest", "emergence_version": __version__, "config": self.config,
            "summary": self.summary().to_dict("records"),
            "records": self.records.to_dict("records"),
            "curves": self.curves.to_dict("records"),
            "skipped": self.skipped.to_dict("records"),
            "fits": self.fits,
            "training": self.training.to_dict("list"),
            "fans": self.fans.to_dict("list"),
        }

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON, atomically (NaN written as null)."""
        return atomic_write_json(path, self.to_dict())


def load_backtest(path: str | Path) -> BacktestResult:
    """Load a :class:`BacktestResult` written by :meth:`BacktestResult.save`.

    Raises
    ------
    FileNotFoundError, ValueError
        When the file is missing or is not a saved back-test.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved back-test at {str(path)!r}; write one with "
                                "result.save(path) or `emergence backtest FILE --json PATH`.")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc}).") from None
    if not isinstance(d, dict) or d.get("kind") != "backtest":
        raise ValueError(f"{str(path)!r} is not a back-test saved by emergence (no "
                         "'kind': 'backtest').")

    text_cols = (*KEYS, "label", "model", "method", "status", "family", "reason")

    def frame(v: Any) -> pd.DataFrame:
        df = pd.DataFrame(v)
        for c in df.columns:
            if c not in text_cols:
                df[c] = pd.to_numeric(df[c], errors="coerce")
        return df

    records = frame(d["records"])
    return BacktestResult(records=records, curves=pd.DataFrame(d["curves"]),
                          skipped=pd.DataFrame(d["skipped"]), training=frame(d["training"]),
                          fans=frame(d["fans"]), fits=d.get("fits", []), config=d["config"])


# --------------------------------------------------------------------------------------------
# splitting
# --------------------------------------------------------------------------------------------
def _split(table: ScoreTable, families: str, holdout: int) -> tuple[pd.DataFrame, ...]:
    """Training rows, held-out rows, curves and skipped curves (see :func:`backtest`)."""
    keys = table.series_keys(families)
    data = table.data.copy()
    data["_key"] = key_strings(data, keys)
    series = table.series(families)
    series["_key"] = key_strings(series, keys)
    train_parts, hold_parts, curves, skipped = [], [], [], []
    for rec in series.to_dict("records"):
        rows = data[data["_key"] == rec["_key"]]
        info = {k: rec[k] for k in KEYS} | {"label": rec["label"]}
        if rows["x"].nunique() < holdout + 3:
            skipped.append(info | {"reason": f"{rows['x'].nunique()} distinct scales; needs "
                                             f"holdout + 3 = {holdout + 3}"})
            continue
        held = []
        for _, g in rows.groupby("family", sort=False):
            top = np.sort(g["x"].unique())[-holdout:]
            held.append(g[g["x"].isin(top)])
        hold = pd.concat(held)
        train = rows.drop(index=hold.index)
        if train["x"].nunique() < 3:
            skipped.append(info | {"reason": "fewer than 3 training scales after holding out "
                                             f"{holdout} per family"})
            continue
        cid = len(curves)
        curves.append({"curve": cid} | info | {"_key": rec["_key"],
                                               "n_train": int(train["x"].nunique()),
                                               "n_holdout": int(hold["x"].nunique())})
        train_parts.append(train.assign(_curve=cid))
        hold_parts.append(hold.assign(_curve=cid))
    skipped_df = pd.DataFrame(skipped, columns=[*KEYS, "label", "reason"])
    if not curves:
        raise EmergenceDataError(
            f"no curve has at least holdout + 3 = {holdout + 3} distinct scales, so nothing can "
            "be back-tested; use a smaller holdout or a table with more model sizes per curve.")
    return (pd.concat(train_parts), pd.concat(hold_parts), pd.DataFrame(curves), skipped_df)


def _grid(train: pd.DataFrame, hold: pd.DataFrame) -> np.ndarray:
    lo = float(train["x"].min())
    hi = float(hold["x"].max())
    return np.linspace(lo, hi + 0.1 * max(hi - lo, 0.5), FAN_POINTS)


def _n_items(row: dict[str, Any]) -> float | None:
    n = row.get("n_items")
    has_counts = row.get("k") is not None and not pd.isna(row.get("k"))
    return float(n) if has_counts and n is not None and np.isfinite(n) else None


def _queries(train: pd.DataFrame, hold: pd.DataFrame, curves: pd.DataFrame) -> list[dict]:
    """What every method must forecast, per curve (plain arrays: cheap to ship to workers)."""
    out = []
    for c in curves.to_dict("records"):
        tr = train[train["_curve"] == c["curve"]]
        ho = hold[hold["_curve"] == c["curve"]].sort_values("x", kind="stable")
        tr_rows = tr.to_dict("records")
        out.append({
            "curve": c["curve"], "key": c["_key"], "hash": _h(c["_key"]),
            "x": tr["x"].to_numpy(float), "y": tr["y"].to_numpy(float),
            "chance": float(tr["chance"].iloc[0]) if tr["chance"].notna().any() else None,
            "n_items_train": next((_n_items(r) for r in tr_rows if _n_items(r)), None),
            "x_new": ho["x"].to_numpy(float),
            "n_items_new": [_n_items(r) for r in ho.to_dict("records")],
            "grid": _grid(tr, ho),
        })
    return out


# --------------------------------------------------------------------------------------------
# tasks (module-level functions: they run on Dask workers too)
# --------------------------------------------------------------------------------------------
def _fan(draws: np.ndarray) -> np.ndarray:
    return np.quantile(draws, FAN_QUANTILES, axis=0)


def emergence_task(task: dict[str, Any]) -> dict[str, Any]:
    """Fit one curve model to the training table and forecast every query (a worker task)."""
    from .results import fit

    cfg = Config.from_dict(task["config"])
    with recorded() as caught:
        f = fit(task["train"], config=cfg, reference=task.get("reference"))
    index = {k: i for i, k in enumerate(key_strings(f.series, task["keys"]))}
    draws, fans = {}, {}
    for q in task["queries"]:
        i = index[q["key"]]
        rng = _rng(task["seed"], q["hash"], _h(cfg.model))
        cols = []
        for j, (x, n) in enumerate(zip(q["x_new"], q["n_items_new"], strict=True)):
            p = f.predict([x], i, kind="score", n_items=None if n is None else int(n),
                          seed=int(_rng(task["seed"], q["hash"], _h(cfg.model), j + 1
                                        ).integers(2**31)))
            cols.append(p.values[:, 0, 0])
        d = np.column_stack(cols)
        idx = rng.choice(d.shape[0], task["n_draws"], replace=d.shape[0] < task["n_draws"])
        draws[q["curve"]] = d[idx]
        g = f.predict(q["grid"], i, kind="score", seed=int(rng.integers(2**31))).values[:, 0, :]
        fans[q["curve"]] = _fan(g)
    diag = f.diagnostics
    return {"model": cfg.model, "draws": draws, "fans": fans,
            "fit": {"model": cfg.model, "seed": int(cfg.seed), "failed": f.failed,
                    "rhat_max": diag["rhat_max"], "ess_bulk_min": diag["ess_bulk_min"],
                    "divergences": diag["divergences"], "compile_s": f.timing.compile,
                    "sample_s": f.timing.sample, "n_series": len(f.series),
                    "warnings": sorted({str(w.message) for w in caught})}}


def baseline_task(task: dict[str, Any]) -> dict[str, Any]:
    """Fit every baseline to one curve's training rows and forecast its queries (a worker task)."""
    q = task["query"]
    x_all = np.concatenate([q["x_new"], q["grid"]])
    k = len(q["x_new"])
    out: dict[str, Any] = {"curve": q["curve"], "draws": {}, "fans": {}, "errors": {}}
    for m in task["methods"]:
        rng = _rng(task["seed"], q["hash"], _h(m))
        try:
            d = fit_baseline(m, q["x"], q["y"], x_all, rng=rng, n_draws=task["n_draws"],
                             chance=q["chance"], n_items=q["n_items_train"], n_boot=task["n_boot"])
        except BaselineError as exc:
            out["errors"][m] = str(exc)
            continue
        out["draws"][m] = d[:, :k]
        fan = _fan(d[:, k:])
        if m == "persistence":  # a forecast from the last point: no fan over the training range
            fan[:, q["grid"] < q["x"].max()] = np.nan
        out["fans"][m] = fan
    return out


def _run(fn: Callable[[dict[str, Any]], dict[str, Any]], tasks: list[dict[str, Any]],
         scheduler: Any) -> list[dict[str, Any]]:
    """Run tasks locally, or on Dask (results in task order either way)."""
    if scheduler is None or not tasks:
        return [fn(t) for t in tasks]
    from distributed import Client

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        return client.gather(client.map(fn, tasks, pure=False))
    finally:
        if not isinstance(scheduler, Client):
            client.close()


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------
def _check_args(holdout: int, models: Sequence[str], methods: Sequence[str],
                n_draws: int) -> tuple[list[str], list[str]]:
    if isinstance(holdout, bool) or not isinstance(holdout, int | np.integer) or holdout < 1:
        raise ConfigError(f"holdout = {holdout!r} must be a positive integer (the number of "
                          "largest models held out per family), e.g. 1.")
    models = [models] if isinstance(models, str) else list(models)
    methods = [methods] if isinstance(methods, str) else list(methods)
    bad = [m for m in models if m not in VALID_MODELS]
    if bad or not models:
        raise ConfigError(f"models {bad or models!r} not valid; choose from "
                          f"{', '.join(VALID_MODELS)}.")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods or len(set(methods)) != len(methods):
        raise ConfigError(f"methods {methods!r} not valid; choose distinct names from "
                          f"{', '.join(METHODS)}.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 50:
        raise ConfigError(f"n_draws = {n_draws!r} must be an integer >= 50, e.g. 1000.")
    return models, methods


def _mixture(results: list[dict[str, Any]], curve: int, n_draws: int) -> np.ndarray:
    """Equal-weight mixture: draw j comes from model j mod K (each model's draws are shuffled)."""
    parts = [r["draws"][curve] for r in results]
    K = len(parts)
    return np.stack([parts[j % K][j] for j in range(n_draws)])


def _records(hold: pd.DataFrame, curves: pd.DataFrame, methods: list[str],
             forecasts: dict[tuple[str, int], np.ndarray | str],
             max_train: dict[int, float]) -> pd.DataFrame:
    rows = []
    cur = curves.set_index("curve")
    for cid, ho in hold.groupby("_curve", sort=True):
        ho = ho.sort_values("x", kind="stable")
        c = cur.loc[cid]
        for j, r in enumerate(ho.to_dict("records")):
            n = _n_items(r)
            base = {k: r[k] for k in KEYS} | {
                "label": c["label"], "curve": int(cid), "model": r["model"], "x": float(r["x"]),
                "extrapolation": float(r["x"] - max_train[cid]), "n_items": n,
                "observed": float(r["y"])}
            for m in methods:
                fc = forecasts[(m, int(cid))]
                if isinstance(fc, str):
                    rows.append(base | {"method": m} | _nan_scores() | {"status": fc})
                else:
                    rows.append(base | {"method": m} | score_draws(fc[:, j], r["y"], n)
                                | {"status": "ok"})
    return pd.DataFrame(rows)


def _assemble(queries: list[dict[str, Any]], fit_out: list[dict[str, Any]],
              base_out: list[dict[str, Any]], base_methods: list[str], n_draws: int
              ) -> tuple[dict[tuple[str, int], Any], list[tuple[str, int, np.ndarray, np.ndarray]]]:
    """Forecast draws (or the failure message) per (method, curve), and the fans of the plots.

    The fan of a mixture is the average of its models' quantiles (for display only).
    """
    forecasts: dict[tuple[str, int], Any] = {}
    fan_rows = []
    for q in queries:
        cid = q["curve"]
        if fit_out:
            forecasts[("emergence", cid)] = _mixture(fit_out, cid, n_draws)
            fan = np.mean([r["fans"][cid] for r in fit_out], axis=0)
            fan_rows.append(("emergence", cid, q["grid"], fan))
    for b in base_out:
        for m in base_methods:
            if m in b["errors"]:
                forecasts[(m, b["curve"])] = f"failed: {b['errors'][m]}"
            else:
                forecasts[(m, b["curve"])] = b["draws"][m]
                fan_rows.append((m, b["curve"], queries[b["curve"]]["grid"], b["fans"][m]))
    return forecasts, fan_rows


def _checked_fits(fit_out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training fits' records; warn once when any failed its diagnostics."""
    fits = [r["fit"] for r in fit_out]
    bad = [f"{f['model']} ({'; '.join(f['failed'])})" for f in fits if f["failed"]]
    if bad:
        warnings.warn(f"MCMC diagnostics of the training fit(s) failed: {', '.join(bad)}; their "
                      "forecasts are scored anyway, read them with care.", ConvergenceWarning,
                      stacklevel=3)
    return fits


def _fit_config(cfg: Config, model: str, seed: int) -> dict[str, Any]:
    return cfg.replace(model=model, seed=int(_rng(seed, _h(model)).integers(2**31))).as_dict()


def backtest(
    table: ScoreTable | pd.DataFrame | str | Path,
    holdout: int = 1,
    models: Sequence[str] | str = ("sigmoid",),
    methods: Sequence[str] | str = METHODS,
    *,
    seed: int | None = None,
    scheduler: Any = None,
    config: Config | dict[str, Any] | None = None,
    n_draws: int = 1000,
    n_boot: int = N_BOOT,
    reference: Any = None,
    **options: Any,
) -> BacktestResult:
    """Hold out each curve's largest models, forecast them from the smaller ones, score them.

    Parameters
    ----------
    table : ScoreTable, DataFrame or path
        Scores (validated with :func:`emergence.load_scores` when not already a ScoreTable).
    holdout : int
        Largest distinct scales held out per family of each curve; a curve needs at least
        ``holdout + 3`` distinct scales (the others are listed in ``result.skipped``).
    models : sequence of str
        Curve models of the package's forecast; several give an equal-weight mixture.
    methods : sequence of str
        ``"emergence"`` (the package) and baselines of :mod:`emergence.baselines`.
    seed : int, optional
        Master seed (default: the config's seed, drawn when unset); stored in the result.
    scheduler : distributed.Client or str, optional
        Dask client or scheduler address; fits and baselines run there with the same numbers.
    config : Config or dict, optional
        Fit options; keyword ``options`` override them (``draws``, ``tune``, ``likelihood``,
        ...). ``families="offset"`` is not supported (forecasts are per family).
    n_draws : int
        Predictive draws per forecast and method (all methods are scored from this many).
    n_boot : int
        Bootstrap refits of the least-squares logistic baseline.
    reference : Fit, optional
        A per-curve-engine fit of the whole table by one of ``models`` (``check`` passes its
        sigmoid fit): that model's training fit starts each curve from importance draws
        fitted to the reference's draws of the same curve (``reference=`` of
        :func:`emergence.fit`). Same posterior, other Monte Carlo draws; faster.

    Returns
    -------
    BacktestResult
        ``.summary()`` per method, ``.records`` per held-out point and method.

    Examples
    --------
    >>> import emergence as em
    >>> bt = em.backtest(em.datasets.load("obsscaling_emergent"), seed=1, draws=500)  # doctest: +SKIP
    >>> bt.summary()[["method", "coverage_90", "mean_log_score"]]  # doctest: +SKIP
    """
    models, methods = _check_args(holdout, models, methods, n_draws)
    cfg, data, seed = _backtest_inputs(table, config, seed, options)
    train, hold, curves, skipped = _split(data, cfg.families, int(holdout))
    queries = _queries(train, hold, curves)
    train_table = dataclasses.replace(
        data, data=train.drop(columns=["_key", "_curve"]).reset_index(drop=True))
    keys = data.series_keys(cfg.families)

    ref = _reference(reference)
    fit_tasks = [{"config": _fit_config(cfg, m, seed), "train": train_table, "keys": keys,
                  "queries": queries, "n_draws": n_draws, "seed": seed,
                  "reference": ref[1] if ref and ref[0] == m else None}
                 for m in models if "emergence" in methods]
    base_methods = [m for m in methods if m != "emergence"]
    base_tasks = [{"query": q, "methods": base_methods, "seed": seed, "n_draws": n_draws,
                   "n_boot": n_boot} for q in queries] if base_methods else []
    fit_out = _run(emergence_task, fit_tasks, scheduler)
    base_out = _run(baseline_task, base_tasks, scheduler)
    forecasts, fan_rows = _assemble(queries, fit_out, base_out, base_methods, n_draws)
    records = _records(hold, curves, methods, forecasts,
                       train.groupby("_curve")["x"].max().to_dict())
    fits = _checked_fits(fit_out)
    return BacktestResult(
        records=records, curves=curves.drop(columns=["_key"]), skipped=skipped,
        training=train[["_curve", "model", "family", "x", "y"]].rename(
            columns={"_curve": "curve"}).reset_index(drop=True),
        fans=_fan_frame(fan_rows), fits=fits,
        config={"holdout": int(holdout), "models": models, "methods": methods, "seed": seed,
                "n_draws": n_draws, "n_boot": n_boot, "mixture": "equal",
                "fit": cfg.as_dict(), "source": data.source, "scale": data.scale,
                "selection": json.loads(json.dumps(data.selection, default=str))},
    )


def _reference(reference: Any) -> tuple[str, dict[str, Any]] | None:
    """``(model name, stage-1 draws by curve label)`` of a reference fit (plain arrays, so a
    Dask task can carry them), or None."""
    if reference is None:
        return None
    from .results import Fit, _reference_draws

    if not isinstance(reference, Fit):
        raise ConfigError(f"reference must be a Fit of the whole table (got "
                          f"{type(reference).__name__}); pass reference=None to fit from "
                          "scratch.")
    draws = _reference_draws(reference, reference.model, reference.model_data)
    return reference.config.model, draws  # type: ignore[return-value]


def _backtest_inputs(table: Any, config: Any, seed: int | None,
                     options: dict[str, Any]) -> tuple[Config, ScoreTable, int]:
    """The validated config (with the seed actually used), the table and the seed."""
    cfg = make_config(config, **options)
    if cfg.families == "offset":
        raise ConfigError("backtest forecasts each family's own curve; families='offset' is not "
                          "supported, use 'separate' (default) or 'pooled'.")
    seed = int(cfg.seed if seed is None else seed)
    data = as_table(table, scale=cfg.scale)
    return cfg.replace(scale=data.scale, seed=seed), data, seed


def _fan_frame(rows: list[tuple[str, int, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    cols = [f"q{round(q * 100):02d}" for q in FAN_QUANTILES]
    parts = []
    for m, cid, grid, fan in rows:
        df = pd.DataFrame(fan.T, columns=cols)
        df.insert(0, "x", grid)
        df.insert(0, "curve", cid)
        df.insert(0, "method", m)
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["method", "curve", "x", *cols])
