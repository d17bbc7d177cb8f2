"""Fitting and the :class:`Fit` result: summaries, derived estimands, save/load (NetCDF).

``fit()`` returns a :class:`Fit` holding the arviz DataTree, the validated config and the
score table. Derived estimands (width, threshold, ceiling, P(sharp)) are computed once from the
posterior draws with the model's numpy curve and stored in the DataTree's ``posterior`` group, so
any arviz function works on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from ._io import atomic_write, dataset_to_frame, frame_to_dataset
from .config import Config, make_config
from .coverage import sampling_diagnostics, sampling_notes
from .data import ScoreTable, as_table
from .inference import CompiledSampler, Timing, check_diagnostics, diagnostic_failures, diagnostics
from .models import CurveModel, ModelData, get

DERIVED = ("width", "threshold", "ceiling", "lapse", "chance_floor")


class Fit:
    """A fitted curve model.

    Attributes
    ----------
    tree : xarray.DataTree
        The arviz DataTree (``posterior`` with per-series parameters and derived ``width``,
        ``threshold``, ``ceiling``, ``lapse``; ``sample_stats``).
    config : Config
        The validated options (including the seed actually used).
    table : ScoreTable
        The data that was fitted.
    model : type[CurveModel]
        The model class.
    model_data : ModelData
        Series table, family order, likelihood and resolved priors.
    timing : Timing
        Compile and sampling wall time in seconds.
    """

    def __init__(self, tree: Any, config: Config, table: ScoreTable, model_data: ModelData,
                 timing: Timing | None = None, sampler: CompiledSampler | None = None) -> None:
        self.tree = tree
        self.config = config
        self.table = table
        self.model: type[CurveModel] = get(config.model)
        self.model_data = model_data
        self.timing = timing or Timing()
        self._sampler = sampler
        per, overall = diagnostics(tree, self._diag_vars())
        self._diag_per_series = per
        self._diag_overall = overall

    #: Options :meth:`resample` may change (they do not change the compiled model).
    SAMPLER_OPTIONS = ("draws", "tune", "chains", "target_accept", "seed")

    def resample(self, **changes: Any) -> Fit:
        """Sample the same compiled model again with other sampler options; return a new Fit.

        The usual remedy for divergences or low ESS (``target_accept=0.99``, more ``tune`` or
        ``draws``) without recompiling.

        Parameters
        ----------
        **changes
            Any of ``draws``, ``tune``, ``chains``, ``target_accept``, ``seed``.

        Returns
        -------
        Fit
            A new fit; this one is unchanged.

        Raises
        ------
        ConfigError
            For another option, or a fit loaded from disk (no compiled model).
        """
        import copy

        from .errors import ConfigError

        bad = sorted(set(changes) - set(self.SAMPLER_OPTIONS))
        if bad:
            raise ConfigError(f"resample() changes sampler options only ({', '.join(bad)} given);"
                              f" valid: {', '.join(self.SAMPLER_OPTIONS)}. Refit with "
                              "emergence.fit for other options.")
        if self._sampler is None:
            raise ConfigError("this fit has no compiled model (loaded from disk); refit it with "
                              "emergence.fit(fit.table, config=fit.config).")
        cfg = self.config.replace(**changes)
        sampler = copy.copy(self._sampler)
        sampler.config, sampler.timing = cfg, Timing(compile=0.0)
        tree = add_derived(sampler.sample(), self.model, self.model_data, cfg)
        return Fit(tree, cfg, self.table, self.model_data, sampler.timing, sampler)

    # ---- basic views ---------------------------------------------------------------------
    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group as an xarray Dataset."""
        return self.tree["posterior"].to_dataset()

    @property
    def series(self) -> pd.DataFrame:
        """One row per fitted curve (keys, number of scales, tested range, flags)."""
        return self.model_data.series

    def __repr__(self) -> str:
        o = self._diag_overall
        return (
            f"Fit(model={self.config.model!r}, {len(self.series)} series, "
            f"{o['chains']}x{o['draws']} draws, rhat_max={o['rhat_max']:.3f}, "
            f"ess_bulk_min={o['ess_bulk_min']:.0f}, divergences={o['divergences']})"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.summary().to_html(
            float_format=lambda v: f"{v:.3g}", max_rows=60)

    def _diag_vars(self) -> list[str]:
        names = [*self.model.series_param_names(), "lapse_logit", "log_phi", "floor"]
        post = self.tree["posterior"]
        names += [v for v in post.data_vars if v.startswith(("mu_", "sigma_"))]
        names += [v for v in ("delta_family",) if v in post]
        return [n for n in names if n in post]

    # ---- estimands -----------------------------------------------------------------------
    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a per-series quantity as an array (draws, series)."""
        da = self.tree["posterior"][name]
        return da.stack(sample=("chain", "draw")).transpose("sample", ...).values

    def _interval(self, values: np.ndarray, prefix: str) -> pd.DataFrame:
        a = (1 - self.config.interval) / 2
        q = np.quantile(values, [0.5, a, 1 - a], axis=0)
        return pd.DataFrame({f"{prefix}_median": q[0], f"{prefix}_lo": q[1], f"{prefix}_hi": q[2]})

    def _keys(self) -> pd.DataFrame:
        cols = ["task", "metric", "family", "shots", "setting"]
        return self.series[cols].reset_index(drop=True)

    def threshold(self, level: float = 0.5) -> pd.DataFrame:
        """log10 scale at which each curve reaches fraction ``level`` of its rise.

        Parameters
        ----------
        level : float
            Fraction of the rise (0 < level < 1); 0.5 is the midpoint ``x0``.

        Returns
        -------
        pandas.DataFrame
            Keys plus ``threshold_median``, ``threshold_lo``, ``threshold_hi`` (central
            ``config.interval`` interval).
        """
        p = {n: self.draws(n) for n in self.model.series_param_names()}
        vals = self.model.threshold(level, **p)
        return pd.concat([self._keys(), self._interval(vals, "threshold")], axis=1)

    def width(self) -> pd.DataFrame:
        """10 %-90 % width of each rise, in decades of scale (median and interval)."""
        return pd.concat([self._keys(), self._interval(self.draws("width"), "width")], axis=1)

    def p_sharp(self, sharp_width: float | None = None) -> pd.Series:
        """Posterior probability that the width is below ``sharp_width`` (default from config)."""
        w = self.config.sharp_width if sharp_width is None else sharp_width
        return pd.Series((self.draws("width") < w).mean(axis=0), index=self.series["label"],
                         name="p_sharp")

    def curve(self, x: np.ndarray, series: int | str, *, family: str | None = None,
              n_draws: int | None = None, seed: int = 0) -> np.ndarray:
        """Posterior draws of the expected score ``mu(x)`` of one curve.

        Parameters
        ----------
        x : array
            log10 scales at which to evaluate.
        series : int or str
            Position in :attr:`series` or its label.
        family : str, optional
            With ``families="offset"``, evaluate at that family's effective scale.
        n_draws : int, optional
            Thin to this many draws (chosen with ``seed``).

        Returns
        -------
        numpy.ndarray
            Shape (draws, len(x)).
        """
        i = self._series_index(series)
        x = np.asarray(x, dtype=float)
        p = {n: self.draws(n)[:, i] for n in self.model.series_param_names()}
        chance = self.draws("chance_floor")[:, i]
        lapse_frac = 1.0 / (1.0 + np.exp(-self.draws("lapse_logit")[:, i]))
        shift = np.zeros_like(chance)
        if family is not None and "delta_family" in self.tree["posterior"]:
            fams = self.model_data.families
            if family not in fams:
                raise ValueError(f"family {family!r} not fitted; fitted families: {fams}.")
            j = fams.index(family)
            if j > 0:
                shift = self.draws("delta_family")[:, j - 1]
        idx = np.arange(len(chance))
        if n_draws is not None and n_draws < len(idx):
            idx = np.sort(np.random.default_rng(seed).choice(len(idx), n_draws, replace=False))
        from . import curves as C

        xx = x[None, :] + shift[idx, None]
        pp = {k: v[idx, None] for k, v in p.items()}
        return C.mean(self.model.curve, xx, chance[idx, None], lapse_frac[idx, None], **pp)

    def _series_index(self, series: int | str) -> int:
        if isinstance(series, int | np.integer):
            return int(series)
        labels = self.series["label"].tolist()
        if series in labels:
            return labels.index(series)
        raise KeyError(f"no series {series!r}; fitted series: {labels[:10]}...")

    def pymc_model(self) -> Any:
        """The PyMC model behind the fit (rebuilt from data and config for a loaded fit)."""
        if self._sampler is not None:
            return self._sampler.model
        return self.model.build_from(self.model_data, self.config)

    # ---- diagnostics ---------------------------------------------------------------------
    @property
    def diagnostics(self) -> dict[str, Any]:
        """Overall diagnostics: worst R-hat, bulk/tail ESS, divergences, chains, draws."""
        return dict(self._diag_overall)

    def diagnostics_by_series(self) -> pd.DataFrame:
        """Per-series worst R-hat and ESS over that series' parameters."""
        return pd.concat([self._keys(), self._diag_per_series.reset_index(drop=True)], axis=1)

    @property
    def failed(self) -> list[str]:
        """Diagnostic failures (empty when R-hat, ESS and divergences all pass)."""
        return diagnostic_failures(self._diag_overall, self.config)

    # ---- summary -------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per (task, metric[, family]) curve.

        Columns: ``task, metric, family, shots, setting, n_scales, x_min, x_max,
        threshold_median/lo/hi`` (log10 scale, central ``config.interval`` interval),
        ``width_median/lo/hi`` (decades from 10 % to 90 % of the rise), ``p_sharp``
        (P(width < sharp_width)), ``lapse_median`` (distance of the ceiling from 1),
        ``rhat_max``, ``ess_bulk_min``, ``divergences`` (whole fit), ``too_sparse``, and the
        sampling diagnostics of :mod:`emergence.sampling`: ``n_in_transition``,
        ``p_no_scale_in_rise``, ``width_contraction``, ``prior_driven_width``,
        ``p_threshold_above``, ``p_threshold_below``, ``shape_dependent``, ``sampling_note``.
        """
        s = self.series.reset_index(drop=True)
        thr = self._interval(self.draws("threshold"), "threshold")
        wid = self._interval(self.draws("width"), "width")
        out = pd.concat([self._keys(), s[["n_scales", "x_min", "x_max"]], thr, wid], axis=1)
        out["p_sharp"] = self.p_sharp().to_numpy()
        out["lapse_median"] = np.median(self.draws("lapse"), axis=0)
        d = self._diag_per_series.reset_index(drop=True)
        out["rhat_max"] = d["rhat_max"].to_numpy()
        out["ess_bulk_min"] = d["ess_bulk_min"].to_numpy()
        out["divergences"] = self._diag_overall["divergences"]
        out["too_sparse"] = s["too_sparse"].to_numpy()
        samp = sampling_diagnostics(self)
        out = pd.concat([out, samp.drop(columns=["transition_lo", "transition_hi"])], axis=1)
        out["sampling_note"] = ["; ".join(sampling_notes(r, self.config.sharp_width))
                                for r in samp.to_dict("records")]
        return out

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to NetCDF (posterior, config, data and dropped rows; no pickle), atomically."""
        tree = self.tree.copy()
        # derived draws are recomputed from the parameters on load: store only the parameters
        post = tree["posterior"].to_dataset()
        tree["posterior"] = xr.DataTree(post.drop_vars([v for v in DERIVED if v in post]))
        ss = tree["sample_stats"].to_dataset()
        keep = [v for v in ss.data_vars if ss[v].dtype.kind in "biuf"]
        tree["sample_stats"] = xr.DataTree(ss[keep])
        tree["score_table"] = xr.DataTree(frame_to_dataset(self.table.data))
        dropped = self.table.dropped
        tree["dropped_rows"] = xr.DataTree(frame_to_dataset(dropped.astype(object) if len(
            dropped) == 0 else dropped))
        tree.attrs.update({
            "emergence_version": __version__,
            "config": self.config.to_json(),
            "scale": self.table.scale,
            "source": self.table.source,
            "notes": json.dumps(list(self.table.notes)),
            "selection": json.dumps(self.table.selection, default=str),
            "timing": json.dumps({"compile": self.timing.compile, "sample": self.timing.sample}),
        })
        return atomic_write(path, lambda p: tree.to_netcdf(p, engine="h5netcdf"))


def load_fit(path: str | Path) -> Fit:
    """Load a :class:`Fit` saved with :meth:`Fit.save`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved fit at {str(path)!r}; write one with fit.save(path).")
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs = dict(tree.attrs)
    if "config" not in attrs:
        raise ValueError(f"{str(path)!r} is not a fit saved by emergence (no 'config' attribute).")
    config = Config.from_dict(json.loads(attrs["config"]))
    data = dataset_to_frame(tree["score_table"].to_dataset())
    dropped = dataset_to_frame(tree["dropped_rows"].to_dataset())
    table = ScoreTable(data=data, scale=attrs["scale"], dropped=dropped, source=attrs["source"],
                       notes=tuple(json.loads(attrs.get("notes", "[]"))),
                       selection=json.loads(attrs.get("selection", "{}")))
    md = get(config.model).prepare(table, config)
    core = tree.copy()
    for g in ("score_table", "dropped_rows"):
        del core[g]
    core = add_derived(core, get(config.model), md, config)
    t = json.loads(attrs.get("timing", "{}"))
    return Fit(core, config, table, md, Timing(t.get("compile", 0.0), t.get("sample", 0.0)))


def add_derived(tree: Any, model: type[CurveModel], md: ModelData, config: Config) -> Any:
    """Store derived per-series draws (width, threshold, ceiling, lapse, sharp) in the posterior."""
    post = tree["posterior"].to_dataset()
    for name, da in model.derived(post, md, config.sharp_width).items():
        post[name] = da
    tree["posterior"] = xr.DataTree(post)
    return tree


def fit(
    data: ScoreTable | pd.DataFrame | str | Path,
    model: str = "sigmoid",
    *,
    config: Config | dict[str, Any] | None = None,
    **options: Any,
) -> Fit:
    """Fit a hierarchical curve model to a score table.

    Parameters
    ----------
    data : ScoreTable, DataFrame or path
        Scores (validated with :func:`emergence.load_scores` when not already a ScoreTable).
    model : str
        ``"sigmoid"`` (emergent) or a smooth alternative registered in :mod:`emergence.models`.
    config : Config or dict, optional
        Base options; keyword ``options`` override them (see :class:`emergence.Config`:
        ``sharp_width``, ``seed``, ``sampler``, ``draws``, ``tune``, ``chains``,
        ``likelihood``, ``families``, ``priors``, ...).

    Returns
    -------
    Fit
        The fitted model; ``fit.summary()`` gives one row per curve.

    Examples
    --------
    >>> import emergence as em
    >>> f = em.fit(em.datasets.load("obsscaling_emergent"), seed=1)  # doctest: +SKIP
    >>> f.summary()[["task", "family", "width_median", "p_sharp"]]  # doctest: +SKIP
    """
    cfg = make_config(config, model=model, **options)
    table = as_table(data, scale=cfg.scale)
    if table.scale != cfg.scale:
        cfg = cfg.replace(scale=table.scale)
    M = get(cfg.model)
    pm_model, md = M.build(table, cfg)
    sampler = CompiledSampler(pm_model, cfg)
    tree = sampler.sample()
    tree = add_derived(tree, M, md, cfg)
    result = Fit(tree, cfg, table, md, sampler.timing, sampler)
    check_diagnostics(result.diagnostics, cfg, what=f"{cfg.model} fit")
    return result
