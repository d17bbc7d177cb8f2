"""Design analysis: which scales must be measured to tell a sharp transition from a smooth one?

``design(truth, grids)`` simulates scores from a known truth (explicit curves, or draws from a
fitted posterior) at each candidate grid of scales, refits the one-curve sigmoid model and reports
per grid the distribution of the width's 90 % interval length, of P(sharp) and how often the
sharp/smooth call is right. ``recommend_scales(fit, candidates)`` ranks candidate next scales by
the expected width interval after adding them. ``subsample(fit)`` refits with observed scales
removed.

Execution: replicates run in parallel in local processes (``concurrent.futures``), or on a Dask
cluster (``scheduler="tcp://..."`` or a ``distributed.Client``). Each worker compiles the
one-curve model once and swaps data (nutpie ``with_data``). Every finished replicate is written
atomically to ``study_dir/replicates/`` as JSON, and a rerun skips replicates already on disk, so
an interrupted study resumes. Each replicate's seed derives from (seed, grid, replicate) with
``numpy.random.SeedSequence``, never from completion order: the same seed gives the same numbers
whatever the executor.

A study folder is keyed by a fingerprint of everything that changes the numbers (truth, grids,
seed, items per evaluation, refit config, package version), written to ``study_dir/study.json``:
a rerun with other settings is an error that suggests a new folder, never a silent reuse of
replicates from another study. Only the replicates asked for (``replicates=``) are used; an
unreadable replicate file (a crash mid-write on a file system without atomic rename) is redone.
Local worker processes watch their parent and exit when it dies (even by SIGKILL).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import curves as C
from ._io import atomic_write_json
from .config import Config, make_config
from .errors import ConfigError, EmergenceWarning, Interrupted

#: P(sharp) above which a replicate is called sharp, below 1 - this smooth.
DECISIVE = 0.9
_GRID_RE = re.compile(r"^\s*([0-9.eE+-]+)\s*\.\.\s*([0-9.eE+-]+)\s*:\s*(\d+)\s*$")


# --------------------------------------------------------------------------------------------
# truths and grids
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Truth:
    """A known curve to simulate from: a sigmoid with threshold ``x0`` and ``width`` (decades).

    ``draws`` (optional) holds posterior draws ``{x0, logk, lapse_logit, chance}`` of a fitted
    series; each replicate then simulates from one draw (the fit's posterior as the truth).
    """

    x0: float = 10.0
    width: float = 0.5
    lapse: float = 0.05
    chance: float = 0.0
    n_items: int = 1000
    label: str = "sharp:0.5"
    draws: dict[str, np.ndarray] | None = field(default=None, compare=False)

    @classmethod
    def sharp(cls, width: float = 0.5, x0: float = 10.0, **kw: Any) -> Truth:
        """A sharp truth (default width 0.5 decade)."""
        return cls(x0=x0, width=width, label=f"sharp:{width:g}", **kw)

    @classmethod
    def smooth(cls, width: float = 3.0, x0: float = 10.0, **kw: Any) -> Truth:
        """A smooth truth (default width 3 decades)."""
        return cls(x0=x0, width=width, label=f"smooth:{width:g}", **kw)

    @classmethod
    def parse(cls, spec: str, x0: float = 10.0) -> Truth:
        """``"sharp:0.5"`` or ``"smooth:3"`` (width in decades), optionally ``"@x0"``."""
        m = re.match(r"^(sharp|smooth):([0-9.]+)(?:@([0-9.]+))?$", spec.strip())
        if not m:
            raise ConfigError(f"truth {spec!r} is not valid; use 'sharp:WIDTH' or 'smooth:WIDTH' "
                              "(decades), optionally '@X0' (log10 threshold), e.g. sharp:0.5@10.")
        kind, w, x = m.group(1), float(m.group(2)), m.group(3)
        if not (np.isfinite(w) and w > 0):
            raise ConfigError(f"truth {spec!r}: the width must be a positive number of decades, "
                              "e.g. sharp:0.5 or smooth:3.")
        return getattr(cls, kind)(width=w, x0=float(x) if x else x0)

    @classmethod
    def from_fit(cls, fit: Any, series: int | str = 0, n_items: int | None = None) -> Truth:
        """The posterior of one fitted sigmoid series as the truth."""
        if fit.config.model != "sigmoid":
            raise ConfigError("design from a fit needs a sigmoid fit (model='sigmoid').")
        i = fit._series_index(series)
        d = {"x0": fit.draws("x0")[:, i], "logk": fit.draws("logk")[:, i],
             "lapse_logit": fit.draws("lapse_logit")[:, i],
             "chance": fit.draws("chance_floor")[:, i]}
        obs = fit.model_data.obs
        n = n_items or int(np.nanmedian(obs.loc[obs["series_idx"] == i, "n_items"]) or 1000)
        return cls(x0=float(np.median(d["x0"])), width=float(np.median(fit.draws("width")[:, i])),
                   chance=float(np.median(d["chance"])), n_items=n,
                   label=f"posterior of {fit.series['label'].iat[i]}", draws=d)

    def params(self, rng: np.random.Generator) -> dict[str, float]:
        """Curve parameters for one replicate."""
        if self.draws is not None:
            j = int(rng.integers(len(self.draws["x0"])))
            lap = 1 / (1 + np.exp(-self.draws["lapse_logit"][j]))
            return {"x0": float(self.draws["x0"][j]), "logk": float(self.draws["logk"][j]),
                    "lapse": float(lap), "chance": float(self.draws["chance"][j])}
        return {"x0": self.x0, "logk": float(np.log(2 * C.LN9 / self.width)),
                "lapse": self.lapse, "chance": self.chance}

    def is_sharp(self, sharp_width: float) -> bool | None:
        """Whether the truth is sharp (None for a posterior truth straddling the cut)."""
        if self.draws is None:
            return self.width < sharp_width
        w = 2 * C.LN9 / np.exp(self.draws["logk"])
        p = float(np.mean(w < sharp_width))
        return True if p > DECISIVE else False if p < 1 - DECISIVE else None


def parse_grid(spec: str | Sequence[float] | np.ndarray) -> np.ndarray:
    """A grid of log10 scales from ``"1e8..1e12:8"`` (log-spaced) or a list of scales.

    A list whose values are all below 30 is taken as log10 scales already.
    """
    if isinstance(spec, str):
        m = _GRID_RE.match(spec)
        if m:
            lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
            if lo <= 0 or hi <= lo or n < 2:
                raise ConfigError(f"grid {spec!r}: need 0 < from < to and count >= 2.")
            return np.linspace(np.log10(lo), np.log10(hi), n)
        try:
            vals = [float(v) for v in spec.split(",")]
        except ValueError:
            raise ConfigError(f"grid {spec!r} is not valid; use 'FROM..TO:COUNT' (e.g. "
                              "'1e8..1e12:8') or a comma-separated list of scales.") from None
        spec = vals
    arr = np.asarray(spec, dtype=float)
    if arr.ndim != 1 or len(arr) < 2 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"grid {spec!r} needs at least 2 positive finite scales.")
    return np.sort(arr if np.all(arr < 30) else np.log10(arr))


# --------------------------------------------------------------------------------------------
# one replicate (runs in a worker; the compiled model is cached per process)
# --------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _sampler(cfg_dict: dict[str, Any], chance: float) -> tuple[Any, Any]:
    key = json.dumps(cfg_dict, sort_keys=True) + f"|{chance > 0}"
    if key not in _WORKER:
        from .data import validate
        from .inference import CompiledSampler
        from .models import get

        cfg = Config.from_dict(cfg_dict)
        x = np.linspace(8, 12, 8)
        frame = pd.DataFrame({"task": "design", "model": [f"m{i}" for i in range(8)],
                              "params": 10**x, "score": 0.5, "n_items": 100, "chance": chance})
        table = validate(frame, warn=False)
        model, md = get("sigmoid").build(table, cfg)
        _WORKER[key] = (CompiledSampler(model, cfg), md)
    return _WORKER[key]


def simulate_scores(params: dict[str, float], x: np.ndarray, n_items: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Binomial counts from a sigmoid truth at log10 scales ``x``."""
    mu = C.mean(C.SIGMOID, x, params["chance"], params["lapse"], x0=params["x0"],
                logk=params["logk"])
    return rng.binomial(n_items, mu)


def run_replicate(task: dict[str, Any]) -> dict[str, Any]:
    """Simulate one data set and refit; return the replicate's record (plain JSON types)."""
    from .models import get

    cfg_dict, truth, x, g, r = task["config"], task["truth"], np.asarray(task["grid"]), \
        task["g"], task["r"]
    ss = np.random.SeedSequence([task["seed"], g, r])
    sim_seed, fit_seed = ss.spawn(2)
    rng = np.random.default_rng(sim_seed)
    params = truth.params(rng)
    k = simulate_scores(params, x, truth.n_items, rng)
    sampler, md = _sampler(cfg_dict, params["chance"])
    obs = pd.DataFrame({"x": x, "series_idx": 0, "family_idx": 0, "use_counts": True,
                        "chance": params["chance"], "n_items": float(truth.n_items),
                        "k": k.astype(float), "y": k / truth.n_items})
    M = get("sigmoid")
    tree = sampler.sample(data=M.data_arrays(md, obs),
                          seed=int(fit_seed.generate_state(1)[0]), progress=False,
                          cores=task.get("cores", 1))
    post = tree["posterior"]
    x0 = post["x0"].values.reshape(-1)
    logk = post["logk"].values.reshape(-1)
    width = 2 * C.LN9 / np.exp(logk)
    sharp_w = cfg_dict["sharp_width"]
    lo, hi = np.quantile(width, [0.05, 0.95])
    p_sharp = float(np.mean(width < sharp_w))
    call = "sharp" if p_sharp > DECISIVE else "smooth" if p_sharp < 1 - DECISIVE else "undetermined"
    tx10 = params["x0"] + np.log(1 / 9) / np.exp(params["logk"])
    tx90 = params["x0"] + np.log(9) / np.exp(params["logk"])
    import arviz as az

    from .inference import _group

    rh = _group(az.rhat(tree, var_names=["x0", "logk"]))
    rhat = float(max(np.nanmax(rh["x0"].values), np.nanmax(rh["logk"].values)))
    true_w = 2 * C.LN9 / np.exp(params["logk"])
    truth_sharp = true_w < sharp_w
    t_lo, t_hi = np.quantile(x0, [0.05, 0.95])
    return {"grid_index": g, "replicate": r, "grid": [float(v) for v in x],
            "n_in_rise": int(np.sum((x >= tx10) & (x <= tx90))),
            "width_lo": float(lo), "width_hi": float(hi), "width_interval": float(hi - lo),
            "log_width_interval": float(np.log10(hi) - np.log10(lo)),
            "width_median": float(np.median(width)), "threshold_median": float(np.median(x0)),
            "p_sharp": p_sharp, "call": call, "truth_sharp": bool(truth_sharp),
            "correct": call == ("sharp" if truth_sharp else "smooth"),
            "width_covered": bool(lo <= true_w <= hi),
            "threshold_covered": bool(t_lo <= params["x0"] <= t_hi),
            "divergences": int(tree["sample_stats"]["diverging"].values.sum()), "rhat": rhat}


# --------------------------------------------------------------------------------------------
@dataclass
class DesignResult:
    """Replicate records of a design study and their per-grid summary."""

    records: pd.DataFrame
    truth: Truth
    grids: list[np.ndarray]
    config: Config
    study_dir: Path | None = None

    def summary(self) -> pd.DataFrame:
        """One row per grid: scales, scales in the rise, replicates, width interval (median,
        10 % and 90 % quantiles over replicates), mean P(sharp), rate of correct calls."""
        rows = []
        for g, grid in enumerate(self.grids):
            r = self.records[self.records["grid_index"] == g]
            rows.append({
                "grid": [round(float(v), 4) for v in grid], "n_scales": len(grid),
                "n_in_rise_median": float(r["n_in_rise"].median()) if len(r) else np.nan,
                "replicates": len(r),
                "width_interval_median": float(r["width_interval"].median()) if len(r) else np.nan,
                "width_interval_q10": float(r["width_interval"].quantile(0.1)) if len(r) else np.nan,
                "width_interval_q90": float(r["width_interval"].quantile(0.9)) if len(r) else np.nan,
                "log_width_interval_median": float(r["log_width_interval"].median())
                if len(r) else np.nan,
                "p_sharp_mean": float(r["p_sharp"].mean()) if len(r) else np.nan,
                "correct_rate": float(r["correct"].mean()) if len(r) else np.nan,
                "divergent_rate": float((r["divergences"] > 0).mean()) if len(r) else np.nan,
                "width_coverage": float(r["width_covered"].mean()) if len(r) else np.nan,
                "threshold_coverage": float(r["threshold_covered"].mean()) if len(r) else np.nan,
            })
        return pd.DataFrame(rows)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON records ``{grid, replicates, width_interval_median, p_sharp_mean,
        correct_rate, ...}``, one per grid."""
        from ._io import _jsonable

        return _jsonable(self.summary().to_dict("records"))

    def save(self, path: str | Path) -> Path:
        """Write the per-grid records, truth and config as JSON (atomically)."""
        return atomic_write_json(path, {"truth": self.truth.label, "config": self.config.as_dict(),
                                        "grids": self.to_records()})


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Worker initializer: exit this process as soon as ``parent_pid`` is no longer its parent.

    A SIGKILL of the main process leaves no chance to stop the pool; without this, each worker
    (holding a compiled model, some 500 MB) would run on as an orphan.
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=watch, name="emergence-parent-watch", daemon=True).start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``spawn`` process pool whose workers die with this process (see :func:`_watch_parent`)."""
    import multiprocessing as mp

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))


def _stop_pool(ex: ProcessPoolExecutor) -> None:
    """Cancel pending work and end the worker processes now (on Ctrl-C)."""
    procs = list(getattr(ex, "_processes", {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def _executor_map(tasks: list[dict[str, Any]], scheduler: Any, workers: int,
                  on_done: Callable[[dict[str, Any]], None], progress: bool) -> None:
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        tid = bar.add_task("replicates", total=len(tasks))
        if scheduler is not None:
            from distributed import Client
            from distributed import as_completed as dask_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            futs = client.map(run_replicate, tasks, pure=False)
            for fut in dask_completed(futs):
                on_done(fut.result())
                bar.advance(tid)
            if not isinstance(scheduler, Client):
                client.close()
        elif workers <= 1:
            for t in tasks:
                on_done(run_replicate(t))
                bar.advance(tid)
        else:
            ex = process_pool(workers)
            try:
                futs = [ex.submit(run_replicate, t) for t in tasks]
                for fut in as_completed(futs):
                    on_done(fut.result())
                    bar.advance(tid)
            except BaseException:
                _stop_pool(ex)
                raise
            ex.shutdown(wait=True)


STUDY_FILE = "study.json"


def study_fingerprint(truth: Truth, grids: Sequence[np.ndarray], seed: int,
                      config: Config) -> dict[str, Any]:
    """What a study folder's replicates depend on, and its SHA-256 ``fingerprint``.

    Truth (curve, items per evaluation, posterior draws), grids, seed, refit config and package
    version; not the number of replicates (a study can be extended).

    Examples
    --------
    >>> a = study_fingerprint(Truth.sharp(0.5), [parse_grid("1e8..1e12:5")], 0, make_config())
    >>> b = study_fingerprint(Truth.smooth(3), [parse_grid("1e8..1e12:5")], 0, make_config())
    >>> a["fingerprint"] == b["fingerprint"]
    False
    """
    from . import __version__

    draws = None
    if truth.draws is not None:
        h = hashlib.sha256()
        for k in sorted(truth.draws):
            h.update(k.encode() + np.ascontiguousarray(truth.draws[k], dtype=float).tobytes())
        draws = h.hexdigest()
    spec = {
        "truth": {"label": truth.label, "x0": truth.x0, "width": truth.width,
                  "lapse": truth.lapse, "chance": truth.chance, "draws_sha256": draws},
        "n_items": int(truth.n_items),
        "grids": [[round(float(v), 10) for v in g] for g in grids],
        "seed": int(seed),
        "config": config.as_dict(),
        "version": __version__,
    }
    text = json.dumps(spec, sort_keys=True, default=str)
    return {"fingerprint": hashlib.sha256(text.encode()).hexdigest(), "spec": spec}


def _open_study(study_dir: Path, fp: dict[str, Any]) -> None:
    """Write the fingerprint into a new study folder, or check it in an existing one."""
    meta = study_dir / STUDY_FILE
    reps = study_dir / "replicates"
    if meta.exists():
        try:
            old = json.loads(meta.read_text(encoding="utf-8"))
            old_fp, old_spec = old["fingerprint"], old["spec"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{str(meta)!r} is unreadable, so the replicates in {str(study_dir)!r} cannot be "
                "matched to a study; use a new --study-dir (or delete this folder)."
            ) from None
        if old_fp != fp["fingerprint"]:
            diff = [k for k in fp["spec"] if old_spec.get(k) != fp["spec"][k]]
            was = old_spec.get("truth", {}).get("label")
            raise ConfigError(
                f"study folder {str(study_dir)!r} holds replicates of another study (it differs "
                f"in: {', '.join(diff) or 'fingerprint'}; was truth {was!r}, "
                f"seed {old_spec.get('seed')}); its replicates are not reused. Use a new folder, "
                f"e.g. --study-dir {str(study_dir / ('study-' + fp['fingerprint'][:8]))!r}, or "
                "delete this one to start over."
            )
        return
    if reps.exists() and any(reps.glob("g*_r*.json")):
        raise ConfigError(
            f"study folder {str(study_dir)!r} has replicate files but no {STUDY_FILE} (made by an "
            "older version), so they cannot be matched to this study; use a new --study-dir."
        )
    atomic_write_json(meta, fp)


def _load_replicates(out_dir: Path, n_grids: int, replicates: int
                     ) -> dict[tuple[int, int], dict[str, Any]]:
    """Finished replicates wanted by this run; unreadable files are removed (and redone)."""
    done: dict[tuple[int, int], dict[str, Any]] = {}
    if not out_dir.exists():
        return done
    name_re = re.compile(r"^g(\d+)_r(\d+)\.json$")
    for f in sorted(out_dir.glob("g*_r*.json")):
        m = name_re.match(f.name)
        if not m:
            continue
        g, r = int(m.group(1)), int(m.group(2))
        if g >= n_grids or r >= replicates:
            continue  # kept on disk, not part of this run (fewer replicates asked for)
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
            ok = isinstance(rec, dict) and (rec.get("grid_index"), rec.get("replicate")) == (g, r)
        except (ValueError, OSError):
            ok = False
        if not ok:
            warnings.warn(f"replicate file {str(f)!r} is unreadable or does not match its name; "
                          "it is removed and redone.", EmergenceWarning, stacklevel=3)
            f.unlink(missing_ok=True)
            continue
        done[(g, r)] = rec
    return done


def _resolve_truth(truth: Truth | str | Any, series: int | str, n_items: int | None) -> Truth:
    """A :class:`Truth` from a spec, a Truth or a Fit, checked, with ``n_items`` applied."""
    from .results import Fit

    if isinstance(truth, str):
        truth = Truth.parse(truth)
    elif isinstance(truth, Fit):
        truth = Truth.from_fit(truth, series, n_items)
    if n_items is not None and (isinstance(n_items, bool) or int(n_items) != n_items
                                or n_items < 1):
        raise ConfigError(f"n_items={n_items!r} must be a whole number >= 1 (items per simulated "
                          "evaluation), e.g. 1000.")
    if not (np.isfinite(truth.width) and truth.width > 0 and np.isfinite(truth.x0)):
        raise ConfigError(f"truth {truth.label!r}: width must be a positive number of decades and "
                          "x0 a finite log10 scale.")
    if n_items is not None and truth.n_items != n_items:
        truth = Truth(**{**truth.__dict__, "n_items": n_items})
    return truth


def _study_interrupted(n_done: int, out_dir: Path | None) -> Interrupted:
    kept = (f"the {n_done} finished replicate(s) are kept in {str(out_dir)!r}; rerun the same "
            "command to resume" if out_dir is not None else
            "no --study-dir was given, so no replicate was kept")
    return Interrupted(f"design study stopped; {kept}")


def design(
    truth: Truth | str | Any,
    grids: Sequence[str | Sequence[float]],
    *,
    replicates: int = 50,
    seed: int = 0,
    series: int | str = 0,
    n_items: int | None = None,
    study_dir: str | Path | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    max_replicates: int | None = None,
    progress: bool = False,
    config: Config | dict[str, Any] | None = None,
    **options: Any,
) -> DesignResult:
    """Simulate-and-refit study of candidate scale grids.

    Parameters
    ----------
    truth : Truth, str or Fit
        ``Truth.sharp(0.5)``, ``"smooth:3"``, or a sigmoid Fit (its ``series`` posterior).
    grids : sequence
        Candidate grids: ``"1e8..1e12:8"`` strings or lists of scales (or log10 scales).
    replicates : int
        Simulated data sets per grid.
    seed : int
        Study seed; replicate seeds derive from (seed, grid index, replicate index).
    n_items : int, optional
        Items per simulated evaluation (default the truth's).
    study_dir : path, optional
        Folder where each finished replicate is written; a rerun resumes from it.
    scheduler : str or distributed.Client, optional
        Dask scheduler address or client; default local processes.
    workers : int, optional
        Local processes (default: the machine's cores).
    max_replicates : int, optional
        Stop after this many *new* replicates (the rest is done by a later rerun).
    progress : bool
        Show a progress bar.
    config : Config or dict, optional
        Refit options (default draws=1000, tune=500, likelihood='binomial').

    Returns
    -------
    DesignResult
    """
    truth, cfg, grid_arrays = _design_inputs(truth, series, n_items, grids, replicates, seed,
                                             config, options)
    out_dir = Path(study_dir) / "replicates" if study_dir else None
    if out_dir is not None:  # a study folder belongs to one study (its fingerprint)
        _open_study(Path(study_dir), study_fingerprint(truth, grid_arrays, seed, cfg))
    done = _load_replicates(out_dir, len(grid_arrays), replicates) if out_dir else {}
    cfg_dict = cfg.as_dict()
    tasks = [{"config": cfg_dict, "truth": truth, "grid": grid.tolist(), "g": g, "r": r,
              "seed": seed, "cores": 1}
             for g, grid in enumerate(grid_arrays) for r in range(replicates)
             if (g, r) not in done]
    if max_replicates is not None:
        tasks = tasks[:max_replicates]
    results = dict(done)

    def on_done(rec: dict[str, Any]) -> None:
        results[(rec["grid_index"], rec["replicate"])] = rec
        if out_dir is not None:
            atomic_write_json(out_dir / f"g{rec['grid_index']}_r{rec['replicate']}.json", rec)

    n_workers = workers or min(len(tasks), os.cpu_count() or 1) or 1
    if tasks:
        try:
            _executor_map(tasks, scheduler, n_workers, on_done, progress)
        except KeyboardInterrupt:
            raise _study_interrupted(len(results), out_dir) from None
    recs = pd.DataFrame([results[k] for k in sorted(results)])
    return DesignResult(records=recs, truth=truth, grids=grid_arrays, config=cfg,
                        study_dir=Path(study_dir) if study_dir else None)


#: Refit options of a design study unless the user sets them (the CLI shows them in --help).
REFIT_DEFAULTS: dict[str, Any] = {"draws": 1000, "tune": 500, "likelihood": "binomial"}


def _design_inputs(truth: Any, series: Any, n_items: Any, grids: Any, replicates: int,
                   seed: int, config: Any, options: dict[str, Any]) -> tuple[Any, Config, list]:
    """The resolved truth, the refit config (defaults below the user's) and the grids."""
    truth = _resolve_truth(truth, series, n_items)
    defaults = {**REFIT_DEFAULTS, "seed": seed}
    base = config.as_dict() if isinstance(config, Config) else dict(config or {})
    cfg = make_config({**defaults, **base}, **options)
    if replicates < 1:
        raise ConfigError(f"replicates={replicates} must be >= 1.")
    return truth, cfg, [parse_grid(g) for g in grids]


def recommend_scales(fit: Any, candidates: Sequence[float], *, series: int | str = 0, k: int = 1,
                     replicates: int = 20, seed: int = 0, **kwargs: Any) -> pd.DataFrame:
    """Rank candidate next scales by the expected width interval after measuring them.

    For each candidate, data are simulated from the fitted posterior of ``series`` at the
    observed scales plus the candidate, and refitted; the candidate with the shortest median
    90 % width interval comes first.

    Returns
    -------
    pandas.DataFrame
        ``scale, log10_scale, width_interval_median, p_sharp_mean, rank`` (the top ``k`` rows
        have ``recommended = True``).
    """
    i = fit._series_index(series)
    obs = fit.model_data.obs
    xs = np.unique(obs.loc[obs["series_idx"] == i, "x"].to_numpy())
    cands = parse_grid(list(candidates)) if len(candidates) > 1 else np.log10(
        np.asarray(candidates, float))
    grids = [np.sort(np.append(xs, c)) for c in cands]
    res = design(fit, [g.tolist() for g in grids], replicates=replicates, seed=seed,
                 series=i, **kwargs)
    s = res.summary()
    out = pd.DataFrame({"scale": 10**cands, "log10_scale": cands,
                        "width_interval_median": s["width_interval_median"],
                        "p_sharp_mean": s["p_sharp_mean"]})
    out["rank"] = out["width_interval_median"].rank(method="first").astype(int)
    out = out.sort_values("rank").reset_index(drop=True)
    out["recommended"] = out["rank"] <= k
    return out


def _variant_sampler(fit: Any) -> Any:
    """``draw(rows, seed) -> DataTree``: the fit's model re-sampled on a subset of its rows,
    compiled once (the per-curve engine's program, or the joint model with swapped data)."""
    import dataclasses

    from .engine import CurveSampler, sample_percurve
    from .inference import CompiledSampler

    if isinstance(fit.sampler, CurveSampler) or (
            fit.sampler is None and fit.config.resolved_engine() == "percurve"):
        cs = fit.sampler or CurveSampler(fit.model, fit.model_data, fit.config)

        def draw(sub: pd.DataFrame, seed: int) -> Any:
            md = dataclasses.replace(fit.model_data, obs=sub.reset_index(drop=True))
            return sample_percurve(fit.model, md, fit.config.replace(seed=seed), cs)[0]
        return draw
    sampler = fit.sampler or CompiledSampler(fit.pymc_model(), fit.config)
    return lambda sub, seed: sampler.sample(data=fit.model.data_arrays(fit.model_data, sub),
                                            seed=seed, progress=False)


def subsample(fit: Any, *, seed: int | None = None) -> pd.DataFrame:
    """Refit with observed scales removed: each scale dropped in turn, and every other scale kept.

    The model is compiled once (the fit's own sampler, or rebuilt for a loaded fit) and the
    data swapped. Returns one row per (variant, series): threshold and width medians, P(sharp)
    and their changes from the full fit.
    """
    md = fit.model_data
    draw = _variant_sampler(fit)
    obs = md.obs
    base = fit.summary()
    scales = np.unique(obs["x"].to_numpy())
    variants = [(f"drop 10^{x:.2f}", obs[obs["x"] != x]) for x in scales]
    keep = scales[::2]
    variants.append(("every other scale", obs[obs["x"].isin(keep)]))
    rows = []
    for name, sub in variants:
        if sub.groupby("series_idx").ngroups < len(fit.series):
            continue  # a curve has no scale left in this variant
        tree = draw(sub, int(fit.config.seed if seed is None else seed))
        p = {n: tree["posterior"][n].values.reshape(-1, len(fit.series))
             for n in fit.model.series_param_names()}
        w = fit.model.width(**p)
        thr = fit.model.threshold(0.5, **p)
        for i in range(len(fit.series)):
            ps = float(np.mean(w[:, i] < fit.config.sharp_width))
            rows.append({
                "variant": name, "series": fit.series["label"].iat[i],
                "n_scales": int(sub.loc[sub["series_idx"] == i, "x"].nunique()),
                "threshold_median": float(np.median(thr[:, i])),
                "width_median": float(np.median(w[:, i])), "p_sharp": ps,
                "d_threshold": float(np.median(thr[:, i]) - base["threshold_median"].iat[i]),
                "d_width": float(np.median(w[:, i]) - base["width_median"].iat[i]),
                "d_p_sharp": ps - float(base["p_sharp"].iat[i]),
            })
    return pd.DataFrame(rows)
