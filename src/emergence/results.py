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

from ._io import atomic_write, dataset_to_frame, frame_to_dataset
from ._version import __version__
from .config import Config, make_config
from .coverage import flat_at_chance, prior_series_draws, sampling_diagnostics, sampling_notes
from .data import ScoreTable, as_table
from .inference import CompiledSampler, Timing, check_diagnostics, diagnostic_failures, diagnostics
from .models import CurveModel, ModelData, get
from .models.base import OPTIONAL_SERIES_VARS
from .models.likelihoods import get_likelihood

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
                 timing: Timing | None = None, sampler: CompiledSampler | None = None,
                 notes: list[str] | None = None) -> None:
        self.tree = tree
        self.notes = list(notes or [])
        self.config = config
        self.table = table
        self.model: type[CurveModel] = get(config.model)
        self.model_data = model_data
        self.timing = timing or Timing()
        self._sampler = sampler
        per, overall = diagnostics(tree, self._diag_vars())
        self._diag_per_series = per
        self._diag_overall = overall

    @classmethod
    def from_tree(cls, tree: Any, config: Config, table: ScoreTable, model_data: ModelData,
                  timing: Timing | None = None, sampler: Any = None,
                  notes: list[str] | None = None) -> Fit:
        """A Fit from sampled draws: the derived draws (width, threshold, ceiling, ...) are
        added here, so no caller has to remember to."""
        tree = add_derived(tree, get(config.model), model_data, config)
        return cls(tree, config, table, model_data, timing, sampler, notes)

    @property
    def sampler(self) -> Any:
        """The compiled sampler behind the fit (read-only; None for a fit loaded from disk)."""
        return self._sampler

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
        if cfg.resolved_engine() == "percurve":  # same compiled curve program when it can
            from .engine import CurveSampler, sample_percurve

            if isinstance(self._sampler, CurveSampler):
                # draws and tune are not compiled in: the same program, in a copy that takes
                # the new options (this fit's sampler keeps its own, which its folds read)
                cs = copy.copy(self._sampler)
                cs.config = cfg
            else:
                cs = CurveSampler(self.model, self.model_data, cfg)
            tree, t, notes, cs = sample_percurve(self.model, self.model_data, cfg, cs)
            return Fit.from_tree(tree, cfg, self.table, self.model_data,
                                 Timing(0.0, t["stage1"] + t["stage2"]), cs, notes)
        sampler = copy.copy(self._sampler)
        sampler.config, sampler.timing = cfg, Timing(compile=0.0)
        return Fit.from_tree(sampler.sample(), cfg, self.table, self.model_data, sampler.timing,
                             sampler)

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
        """Variables whose R-hat and ESS gate each curve. With the per-curve engine the noise
        scale (``log_tau`` / ``log_phi``, a nuisance the population step mixes slowly when the
        data say little about it) is gated in stage 1 (``curve_diagnostics``) but not in the
        pooled posterior; the curve's estimands (threshold, steepness, lapse) are gated in both."""
        noise = [] if "curve_diagnostics" in self.tree.children else ["log_tau", "log_phi"]
        names = [*self.model.series_param_names(), "lapse_logit", *noise, *OPTIONAL_SERIES_VARS]
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

    def predict(self, scales: Any, series: Any = None, *, kind: str = "score",
                n_items: Any = None, log10: bool = True, seed: int | None = None) -> xr.DataArray:
        """Posterior predictive draws at new scales.

        Parameters
        ----------
        scales : array-like
            log10 scales (``log10=True``) or raw scales.
        series : int, str or list, optional
            Curves (positions or labels); all by default.
        kind : {"score", "mean"}
            ``"mean"``: the mean curve ``mu`` (floor and ceiling included); ``"score"``: an
            observed score, with the likelihood's noise (model-to-model variation) and item
            sampling with ``n_items``.
        n_items : float or array, optional
            Items behind a new score (scalar, or one per series); default the curve's own
            ``n_items`` (no item noise where unknown).
        seed : int, optional
            Seed of the noise draws (default: the fit's seed).

        Returns
        -------
        xarray.DataArray
            Dims ``("sample", "series", "scale")``; ``scale`` holds log10 scales.

        Examples
        --------
        >>> f.predict([10.5, 11.0], series=0, kind="mean").shape  # doctest: +SKIP
        (2000, 1, 2)
        """
        if kind not in ("score", "mean"):
            raise ValueError(f"kind={kind!r}: choose 'score' or 'mean'.")
        x = np.atleast_1d(np.asarray(scales, float))
        if not log10 and np.any(~(x > 0)):
            raise ValueError("raw scales must be positive; pass log10 scales with log10=True.")
        x = x if log10 else np.log10(x)
        if series is None:
            idx = list(range(len(self.series)))
        else:
            idx = [self._series_index(s) for s in np.atleast_1d(np.asarray(series, object))]
        out = self._predictive_draws(_prediction_rows(self.model_data, idx, x, n_items), kind,
                                     seed)
        labels = self.series["label"].to_numpy()[idx]
        return xr.DataArray(out.reshape(-1, len(idx), len(x)), dims=("sample", "series", "scale"),
                            coords={"series": labels, "scale": x}, name=kind)

    def _predictive_draws(self, rows: pd.DataFrame, kind: str, seed: int | None) -> np.ndarray:
        """Draws (samples, rows) of the mean curve or of an observed score at ``rows``
        (``x``, ``series_idx``, ``family_idx``, ``chance``, ``ceiling``, ``n_items``): each row
        at its own family's shift and with its own number of items."""
        from .crossval import _delta, param_draws

        values = param_draws(self)
        D = next(iter(values.values())).shape[0]
        d = self.model.data_arrays(self.model_data, rows)
        s = d["series_idx"]
        theta = {n: values[n][:, s] for n in self.model.series_param_names()}
        floor = values["floor"][:, s] if "floor" in values else None
        lmu, _ = self.model.log_mean(np, d, theta, values["lapse_logit"][:, s], floor,
                                     _delta(self, rows, D))
        out = np.exp(lmu)
        if kind == "score":
            like = self.model_data.likelihood
            noise = values[like.noise][:, s] if like.noise else None
            rng = np.random.default_rng(self.config.seed if seed is None else seed)
            out = like.draw(rng, out, noise, rows["n_items"].to_numpy(float)[None, :])
        return out

    def predictive_check(self, series: Any = None, mass: float = 0.99) -> pd.DataFrame:
        """Each observed score against the central ``mass`` interval of its posterior
        predictive distribution (as :meth:`predict` with ``kind="score"``: the mean curve, the
        noise model and item sampling; at the row's own scale, family and number of items;
        seeded by the fit's seed).

        Parameters
        ----------
        series : int, str or list, optional
            Curves (positions or labels); all by default.
        mass : float
            Central probability of the interval, in (0, 1).

        Returns
        -------
        pandas.DataFrame
            One row per observed row of those curves, in :attr:`model_data` order: ``row``
            (index into ``model_data.obs``), ``series_idx``, ``x`` (log10 scale), ``y``,
            ``lo``, ``hi`` and ``outside`` (the score lies outside ``[lo, hi]``).

        Examples
        --------
        >>> f.predictive_check(0)["outside"].sum()  # doctest: +SKIP
        0
        """
        if not 0 < float(mass) < 1:
            raise ValueError(f"mass={mass!r}: give a probability between 0 and 1, e.g. 0.99.")
        obs = self.model_data.obs
        idx = (range(len(self.series)) if series is None else
               [self._series_index(s) for s in np.atleast_1d(np.asarray(series, object))])
        a = (1 - float(mass)) / 2
        parts = []
        for s in idx:
            g = obs[obs["series_idx"] == s]
            lo, hi = np.quantile(self._predictive_draws(g, "score", None), [a, 1 - a], axis=0)
            y = g["y"].to_numpy(float)
            parts.append(pd.DataFrame({"row": g.index.to_numpy(), "series_idx": s,
                                       "x": g["x"].to_numpy(float), "y": y, "lo": lo, "hi": hi,
                                       "outside": (y < lo) | (y > hi)}))
        cols = ["row", "series_idx", "x", "y", "lo", "hi", "outside"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)

    def _series_index(self, series: int | str) -> int:
        if isinstance(series, int | np.integer):
            return int(series)
        labels = self.series["label"].tolist()
        if series in labels:
            return labels.index(series)
        raise KeyError(f"no series {series!r}; fitted series: {labels[:10]}...")

    def pymc_model(self) -> Any:
        """The PyMC model behind the fit (rebuilt from data and config for a loaded fit)."""
        if self._sampler is not None and hasattr(self._sampler, "model"):
            return self._sampler.model
        return self.model.build_from(self.model_data, self.config)

    # ---- diagnostics ---------------------------------------------------------------------
    @property
    def diagnostics(self) -> dict[str, Any]:
        """Overall diagnostics: worst R-hat, bulk/tail ESS, divergences, chains, draws."""
        return dict(self._diag_overall)

    def diagnostics_by_series(self) -> pd.DataFrame:
        """Per-series worst R-hat and ESS over that series' parameters, and divergences (the
        curve's own with the per-curve engine, the whole run's with the joint engine)."""
        return pd.concat([self._keys(), self.series[["label"]].reset_index(drop=True),
                          self._diag_per_series.reset_index(drop=True)], axis=1)

    @property
    def failed(self) -> list[str]:
        """Diagnostic failures per failing curve (empty when every curve passes)."""
        out = []
        for _, r in self.diagnostics_by_series().iterrows():
            f = diagnostic_failures(r, self.config)
            if f:
                out.append(f"{r['label']}: {', '.join(f)}")
        return out

    # ---- summary -------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per (task, metric[, family]) curve.

        Columns: ``task, metric, family, shots, setting, n_scales, x_min, x_max,
        threshold_median/lo/hi`` (log10 scale, central ``config.interval`` interval),
        ``width_median/lo/hi`` (decades from 10 % to 90 % of the rise), ``p_sharp``
        (P(width < sharp_width)), ``lapse_median`` (distance of the ceiling from 1),
        ``rhat_max``, ``ess_bulk_min``, ``ess_pool`` (effective stage-1 draws behind a pooled
        posterior, :func:`emergence.engine.pool_ess`; NaN with the joint engine or without
        pooling), ``divergences`` (whole fit), ``stage1_draws`` (where
        the curve's stage-1 draws come from: ``hmc``, ``prior_is``, ``t_is``, ``light`` or
        ``joint``; docs/engine.md), ``too_sparse``, and the
        sampling diagnostics of :mod:`emergence.coverage`: ``n_in_transition``,
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
        out["ess_pool"] = d["ess_pool"].to_numpy()
        out["divergences"] = d["divergences"].to_numpy()
        out["stage1_draws"] = self._stage1_draws()
        out["too_sparse"] = s["too_sparse"].to_numpy()
        samp = sampling_diagnostics(self)
        out = pd.concat([out, samp.drop(columns=["transition_lo", "transition_hi"])], axis=1)
        out["sampling_note"] = ["; ".join(sampling_notes(r, self.config.sharp_width))
                                for r in samp.to_dict("records")]
        return self._uninformed_widths(out)

    def _stage1_draws(self) -> np.ndarray:
        """Where each curve's stage-1 draws come from (docs/engine.md): ``hmc``, ``prior_is`` /
        ``t_is`` (importance draws from the stage-1 prior / a Student-t fitted to its HMC
        draws: R-hat is then that of the resampled draws, ESS the weights'), ``light`` (the light
        fallback proposal), or ``joint`` (the joint engine)."""
        n = len(self.series)
        if "curve_diagnostics" not in self.tree.children:
            return np.full(n, "joint", dtype=object)
        cd = self.tree["curve_diagnostics"].to_dataset()
        out = np.full(n, "hmc", dtype=object)
        for col, name in (("prior_is", "prior_is"), ("hmc_t_is", "t_is"),
                          ("light_proposal", "light")):
            if col in cd:
                out[np.asarray(cd[col].values, bool)] = name
        return out

    def _uninformed_widths(self, out: pd.DataFrame) -> pd.DataFrame:
        """Curves that carry no information on their width -- flat at chance, or at most one
        tested scale inside the rise and the scales around it farther apart than
        ``sharp_width`` -- report the curve-alone (stage-1) posterior, its interval widened to
        at least the stage-1 prior's: pooling must not lend them the crowd's width. Column
        ``width_informed`` marks them (False).

        A rise bracketed by tested scales closer than ``sharp_width`` (``bracket``) is informed
        even with one scale inside: scores below the rise on one side and above it on the other
        bound its width by the bracket (a dense grid on which a sharp rise holds one scale)."""
        flat = flat_at_chance(self.model_data.obs).reindex(range(len(out))).fillna(False)
        out["flat_at_chance"] = flat.to_numpy(bool)
        open_rise = (out["n_in_transition"] <= 1) & ~(out["bracket"] < self.config.sharp_width)
        out["width_informed"] = ~(out["flat_at_chance"] | open_rise)
        if out["width_informed"].all() or "stage1" not in self.tree.children:
            return out
        w1 = self.tree["stage1"]["width"].stack(sample=("chain", "draw")).transpose(
            "sample", ...).values
        prior = prior_series_draws(self, seed=int(self.config.seed) % (2**32), stage1=True)
        with np.errstate(all="ignore"):
            pw = self.model.width(**prior)
        a = (1 - self.config.interval) / 2
        p_lo, p_hi = np.quantile(pw[np.isfinite(pw)], [a, 1 - a])
        iv = self._interval(w1, "width")
        un = ~out["width_informed"].to_numpy()
        out.loc[un, "width_median"] = iv.loc[un, "width_median"]
        out.loc[un, "width_lo"] = np.minimum(iv.loc[un, "width_lo"], p_lo)
        out.loc[un, "width_hi"] = np.maximum(iv.loc[un, "width_hi"], p_hi)
        out.loc[un, "p_sharp"] = (w1[:, un] < self.config.sharp_width).mean(axis=0)
        return out

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save to NetCDF (posterior, config, data and dropped rows; no pickle), atomically."""
        tree = self.tree.copy()
        # derived draws are recomputed from the parameters on load: store only the parameters
        for group in ("posterior", "stage1"):
            if group in tree.children:
                post = tree[group].to_dataset()
                tree[group] = xr.DataTree(post.drop_vars([v for v in DERIVED if v in post]))
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
            # what "auto" resolved to when fitted (its meaning has changed between versions)
            "likelihood": self.model_data.likelihood.name,
        })
        return atomic_write(path, lambda p: tree.to_netcdf(p, engine="h5netcdf"))


def _prediction_rows(md: ModelData, idx: list[int], x: np.ndarray, n_items: Any) -> pd.DataFrame:
    """Rows (series x scale) at which to predict, with each series' chance, ceiling and items."""
    first = md.obs.groupby("series_idx").agg(chance=("chance", "first"),
                                              ceiling=("ceiling", "first"),
                                              n_items=("n_items", "median"))
    rows = []
    n_given = None if n_items is None else np.broadcast_to(np.asarray(n_items, float), (len(idx),))
    for j, s in enumerate(idx):
        f = first.loc[s]
        n = f["n_items"] if n_given is None else n_given[j]
        rows.append(pd.DataFrame({"x": x, "series_idx": s, "family_idx": 0,
                                  "chance": f["chance"], "ceiling": f["ceiling"],
                                  "n_items": n, "y": 0.5}))
    return pd.concat(rows, ignore_index=True)


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
    fitted = _fitted_likelihood(tree, config)
    if fitted != get_likelihood(config.likelihood).name:
        config = config.replace(likelihood=fitted)
    data = dataset_to_frame(tree["score_table"].to_dataset())
    dropped = dataset_to_frame(tree["dropped_rows"].to_dataset())
    table = ScoreTable(data=data, scale=attrs["scale"], dropped=dropped, source=attrs["source"],
                       notes=tuple(json.loads(attrs.get("notes", "[]"))),
                       selection=json.loads(attrs.get("selection", "{}")))
    md = get(config.model).prepare(table, config)
    core = tree.copy()
    for g in ("score_table", "dropped_rows"):
        del core[g]
    t = json.loads(attrs.get("timing", "{}"))
    return Fit.from_tree(core, config, table, md,
                         Timing(t.get("compile", 0.0), t.get("sample", 0.0)))


def _fitted_likelihood(tree: Any, config: Config) -> str:
    """The likelihood a saved posterior was fitted with.

    Files saved since 2026-11-28 record it (``likelihood`` attribute). For an older file whose
    config says ``"auto"`` it is read off the posterior's noise parameter: ``"auto"`` meant
    ``betabinomial`` (``log_phi``) before it meant ``logitnormal`` (``log_tau``), and loading
    such a file under today's meaning paired its draws with the wrong likelihood (its
    predictions failed: no ``log_tau`` in the posterior).
    """
    if "likelihood" in tree.attrs:
        return str(tree.attrs["likelihood"])
    if config.likelihood != "auto":
        return config.likelihood
    post = tree["posterior"]
    for name in ("logitnormal", "betabinomial"):
        if get_likelihood(name).noise in post:
            return name
    return "binomial"


def add_derived(tree: Any, model: type[CurveModel], md: ModelData, config: Config) -> Any:
    """Store derived per-series draws (width, threshold, ceiling, lapse, chance floor) in the
    posterior (and in the per-curve engine's ``stage1`` group)."""
    for group in ("posterior", "stage1"):
        if group not in tree.children:
            continue
        post = tree[group].to_dataset()
        for name, da in model.derived(post, md, config.sharp_width).items():
            post[name] = da
        tree[group] = xr.DataTree(post)
    return tree


def _reference_draws(reference: Fit | dict[str, Any] | None, model: type[CurveModel],
                     md: ModelData) -> dict[str, dict[str, np.ndarray]] | None:
    """The stage-1 draws of ``reference`` (a Fit, or its draws by curve label as
    :func:`emergence.engine.reference_draws` gives them) by curve label (None without one); a
    reference of another model, likelihood or engine is refused."""
    from .engine import reference_draws
    from .errors import ConfigError

    if reference is None:
        return None
    names = [p.name for p in model.all_params(md.likelihood)]
    if isinstance(reference, dict):  # already by label (a back-test task on a Dask worker)
        have = set.intersection(*(set(v) for v in reference.values())) if reference else set()
        s1 = reference
    else:
        s1 = reference.tree.children.get("stage1") if hasattr(reference, "tree") else None
        have = set() if s1 is None else set(s1.data_vars)
    missing = [n for n in names if n not in have]
    # an estimated chance floor is a stage-1 parameter too (the engine samples it): keep it
    names += [n for n in OPTIONAL_SERIES_VARS if n in have]
    if s1 is None or missing:
        raise ConfigError(
            f"reference must be a per-curve-engine fit of the {model.name!r} model with the "
            f"{md.likelihood.name!r} likelihood (its stage-1 draws of {', '.join(names)}); "
            + ("it has no stage-1 draws." if s1 is None else f"it lacks {', '.join(missing)}.")
            + " Fit it with em.fit(..., model=..., engine='percurve'), or pass no reference.")
    if isinstance(reference, dict):
        return {str(lab): {n: np.asarray(d[n], float) for n in names}
                for lab, d in reference.items()}
    return reference_draws(reference.tree, names)


def fit(
    data: ScoreTable | pd.DataFrame | str | Path,
    model: str = "sigmoid",
    *,
    config: Config | dict[str, Any] | None = None,
    scheduler: Any = None,
    reference: Fit | dict[str, Any] | None = None,
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
    scheduler : distributed.Client or str, optional
        Run the per-curve engine's batches on a Dask cluster (same numbers as locally).
    reference : Fit or dict, optional
        A per-curve-engine fit of the same model to related data (or its stage-1 draws by
        curve label, :func:`emergence.engine.reference_draws`), e.g. the whole table of
        which ``data`` is a training part (``check`` passes its sigmoid fit to the back-test
        of each curve's largest model). Each curve it shares (same label) first takes
        importance draws from a Student-t fitted to the reference's stage-1 draws of that
        curve; HMC samples only the curves whose weights are not reliable (Pareto k-hat >=
        0.7 or too small an effective sample size), with the seeds they have without a
        reference. The posterior is the same; the draws are not (Monte Carlo error).

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
    md = M.prepare(table, cfg)
    if reference is not None and cfg.resolved_engine() != "percurve":
        from .errors import ConfigError

        raise ConfigError("reference= needs the per-curve engine (engine='percurve' or "
                          f"'auto'); this fit resolves to {cfg.resolved_engine()!r}.")
    if cfg.resolved_engine() == "percurve":
        from .engine import sample_percurve

        tree, t, notes, curve_sampler = sample_percurve(
            M, md, cfg, scheduler=scheduler, reference=_reference_draws(reference, M, md))
        result = Fit.from_tree(tree, cfg, table, md,
                               Timing(t["compile"], t["stage1"] + t["stage2"]), curve_sampler,
                               notes)
    else:
        sampler = CompiledSampler(M.build_from(md, cfg), cfg)
        result = Fit.from_tree(sampler.sample(), cfg, table, md, sampler.timing, sampler)
    check_diagnostics(result.diagnostics_by_series(), cfg, what=f"{cfg.model} fit")
    return result
