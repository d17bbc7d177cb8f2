"""The model base class: hierarchy, floor, ceiling, family offsets and likelihoods.

A concrete model (one file each, lifelines-style) only *declares* its curve and the priors of
its per-series curve parameters; :class:`CurveModel` builds the PyMC model around them:

* per-series curve parameters ``theta[s] ~ Normal(mu_theta, sigma_theta)`` (partial pooling;
  centered by default, non-centered on request), or independent priors without pooling;
* lapse (unreached fraction of the head-room above chance) pooled on the logit scale;
* chance floor from the data, or estimated per series (``floor ~ Beta``) where it is missing;
* optional family offsets ``delta_f`` in effective log-scale (reference family fixed at 0);
* likelihood: Binomial / BetaBinomial on counts, Beta on scores, all parameterised from
  ``log mu`` and ``log(1 - mu)`` (no clipping).

Priors are declarative data (:class:`Prior`, bambi-style): a dict ``name -> Prior`` that
:class:`~emergence.config.Config` ``priors`` can override by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .. import curves as C
from ..config import Config
from ..data import ScoreTable, key_strings
from ..errors import ConfigError
from ..priors import Prior  # re-exported: the one definition of a prior

#: Items assumed for squeezing scores of exactly 0 or 1 when no ``n_items`` is known
#: (Smithson & Verkuilen 2006): y -> clip(y, 0.5/N, 1 - 0.5/N).
SQUEEZE_N = 1000


@dataclass(frozen=True)
class SeriesParam:
    """A per-series curve parameter, pooled across series unless ``pooled=False``.

    ``mu`` is the prior of the population mean, ``sigma`` that of the population sd (prior names
    ``mu_<name>``, ``sigma_<name>``). Without pooling (``pooling="none"``, or fewer than 5
    series with ``"auto"``) each series gets ``Normal(mu.mu, mu.sigma)`` directly. A parameter
    declared ``pooled=False`` always has the independent prior ``mu`` per series, named
    ``<name>``.
    """

    name: str
    mu: Prior
    sigma: Prior
    doc: str = ""
    pooled: bool = True


#: Parameters every model shares (the lapse ceiling and the overdispersion of the likelihood).
COMMON_PARAMS = (
    SeriesParam(
        "lapse_logit", Prior("Normal", {"mu": -2.0, "sigma": 1.5}), Prior("HalfNormal", {"sigma": 1.0}),
        "logit of the unreached fraction of head-room; prior mean 0.12. Not pooled: pooling it "
        "made a funnel (R-hat 1.3-1.5) on the ObsScaling emergent tasks",
        False,
    ),
)
DISPERSION_PARAM = SeriesParam(
    "log_phi", Prior("Normal", {"mu": 5.0, "sigma": 2.0}), Prior("HalfNormal", {"sigma": 1.0}),
    "log concentration of the beta(-binomial) likelihood; large = close to binomial. Not "
    "pooled: with binomial-like data phi is unbounded above and a pooled sd made a funnel "
    "(R-hat 1.05, 21 divergences on simulated binomial data)",
    False,
)
OTHER_PRIORS = {
    "floor": Prior("Beta", {"alpha": 1.0, "beta": 3.0}),
    "sigma_family": Prior("HalfNormal", {"sigma": 1.0}),
}


@dataclass
class ModelData:
    """Arrays and coordinates a built model needs (and the analyses after it)."""

    series: pd.DataFrame  # one row per series (see ScoreTable.series)
    obs: pd.DataFrame  # rows of the table used, with integer indices
    families: list[str]  # reference family first
    likelihood: str  # "binomial" | "betabinomial" | "beta" | "mixed"
    context: dict[str, float]
    priors: dict[str, Prior]
    pooled: bool


class CurveModel:
    """Base class of all curve models. Subclasses set :attr:`curve` and :attr:`params`."""

    name: ClassVar[str] = ""
    curve: ClassVar[C.Rise]
    params: ClassVar[tuple[SeriesParam, ...]] = ()
    #: Names of extra per-row data arrays passed to ``curve.log_rise`` as keyword arguments;
    #: a subclass listing ``"L"`` adds ``L_c``/``L_s`` in :meth:`data_arrays` (used when present).
    curve_data: ClassVar[tuple[str, ...]] = ()

    # ---- declarations --------------------------------------------------------------------
    @classmethod
    def default_priors(cls) -> dict[str, Prior]:
        """All priors of the model by name (hyperpriors ``mu_*`` / ``sigma_*`` and others)."""
        out: dict[str, Prior] = {}
        for p in (*cls.params, *COMMON_PARAMS, DISPERSION_PARAM):
            if p.pooled:
                out[f"mu_{p.name}"] = p.mu
                out[f"sigma_{p.name}"] = p.sigma
            else:  # an independent prior per series, named after the parameter
                out[p.name] = p.mu
        out.update(OTHER_PRIORS)
        return out

    @classmethod
    def prior_names(cls) -> list[str]:
        """Names accepted in ``Config.priors``."""
        return sorted(cls.default_priors())

    @classmethod
    def series_param_names(cls) -> list[str]:
        """Names of the per-series curve parameters (e.g. ``x0``, ``logk``)."""
        return [p.name for p in cls.params]

    # ---- derived quantities (numpy, from posterior arrays) -------------------------------
    @classmethod
    def width(cls, **p: Any) -> np.ndarray:
        """10 %-90 % width in decades."""
        return C.width(cls.curve, **p)

    @classmethod
    def threshold(cls, level: float = 0.5, **p: Any) -> np.ndarray:
        """log10 scale where the rise reaches ``level``."""
        return C.threshold(cls.curve, level, **p)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def prepare(cls, table: ScoreTable, config: Config) -> ModelData:
        """Index the table's rows for the model and resolve priors and likelihood."""
        series = table.series(config.families).reset_index(drop=True)
        keys = table.series_keys(config.families)
        obs = table.data.copy()
        lookup = {k: i for i, k in enumerate(key_strings(series, keys))}
        obs["series_idx"] = key_strings(obs, keys).map(lookup).astype(int)
        if config.families == "offset":
            counts = obs.groupby("family")["x"].size().sort_values(ascending=False, kind="stable")
            families = list(counts.index)
        else:
            families = [series["family"].iat[0]] if len(series) else []
        fam_lookup = {f: i for i, f in enumerate(families)}
        obs["family_idx"] = obs["family"].map(fam_lookup).fillna(0).astype(int)

        has_counts = obs["k"].notna()  # discrete metrics with n_items (see data.infer_metric_kinds)
        like = config.likelihood
        if like == "auto":
            like = "betabinomial" if has_counts.all() else ("beta" if not has_counts.any() else "mixed")
        elif like in ("binomial", "betabinomial") and not has_counts.all():
            bad = obs.loc[~has_counts, "row"].head(5).tolist()
            raise ConfigError(
                f"likelihood={like!r} needs counts (a discrete metric with n_items) on every row, "
                f"but rows {bad} have none; use likelihood='beta' or 'auto' (beta on scores for "
                "rows without counts)."
            )
        obs["use_counts"] = has_counts & (like != "beta")
        if like == "mixed":
            like_counts = "betabinomial"
        else:
            like_counts = like

        x = obs["x"].to_numpy()
        context = {"x_mid": float((x.min() + x.max()) / 2), "x_min": float(x.min()),
                   "x_max": float(x.max())}
        priors = cls.default_priors()
        unknown = sorted(set(config.priors) - set(priors))
        if unknown:
            raise ConfigError(
                f"unknown prior name(s) {', '.join(map(repr, unknown))} for model {cls.name!r}; "
                f"valid names: {', '.join(sorted(priors))}."
            )
        for k, v in config.priors.items():
            priors[k] = Prior.from_spec(v)
        pooled = config.pooling == "partial" or (config.pooling == "auto" and len(series) >= 5)
        return ModelData(series=series, obs=obs, families=families,
                         likelihood=like if like != "mixed" else f"mixed:{like_counts}",
                         context=context, priors=priors, pooled=pooled)

    @classmethod
    def data_arrays(cls, md: ModelData, obs: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """The swappable data of the model (names of its ``pm.Data`` containers)."""
        obs = md.obs if obs is None else obs
        cnt = obs[obs["use_counts"]]
        sco = obs[~obs["use_counts"]]
        out: dict[str, np.ndarray] = {}
        for tag, part in (("c", cnt), ("s", sco)):
            out[f"x_{tag}"] = part["x"].to_numpy(float)
            out[f"series_{tag}"] = part["series_idx"].to_numpy(np.int64)
            out[f"family_{tag}"] = part["family_idx"].to_numpy(np.int64)
            out[f"chance_{tag}"] = part["chance"].fillna(0.0).to_numpy(float)
            out[f"chance_known_{tag}"] = part["chance"].notna().to_numpy(float)
        out["n_c"] = cnt["n_items"].to_numpy(np.int64)
        out["k_c"] = cnt["k"].to_numpy(np.int64)
        y = sco["y"].to_numpy(float)
        nn = sco["n_items"].fillna(SQUEEZE_N).to_numpy(float)
        out["y_s"] = np.clip(y, 0.5 / nn, 1 - 0.5 / nn)
        return out

    @classmethod
    def build(cls, table: ScoreTable, config: Config) -> tuple[Any, ModelData]:
        """Build the PyMC model; return ``(pm.Model, ModelData)``."""
        md = cls.prepare(table, config)
        return cls.build_from(md, config), md

    @classmethod
    def build_from(cls, md: ModelData, config: Config) -> Any:
        """Build the PyMC model from prepared :class:`ModelData`."""
        import pymc as pm
        import pytensor.tensor as pt

        coords = {"series": md.series["label"].tolist()}
        if len(md.families) > 1:
            coords["family_offset"] = md.families[1:]
        arrays = cls.data_arrays(md)
        ctx = md.context
        pr = md.priors
        with pm.Model(coords=coords) as model:
            data = {k: pm.Data(k, v) for k, v in arrays.items()}

            def series_rv(p: SeriesParam) -> Any:
                if not p.pooled:
                    return pr[p.name].rv(p.name, ctx, dims="series")
                if not md.pooled:
                    args = pr[f"mu_{p.name}"].resolved(ctx)
                    return pm.Normal(p.name, mu=args["mu"], sigma=args["sigma"], dims="series")
                mu = pr[f"mu_{p.name}"].rv(f"mu_{p.name}", ctx)
                sd = pr[f"sigma_{p.name}"].rv(f"sigma_{p.name}", ctx)
                if config.parametrization == "centered":
                    return pm.Normal(p.name, mu=mu, sigma=sd, dims="series")
                z = pm.Normal(f"{p.name}_z", 0.0, 1.0, dims="series")
                return pm.Deterministic(p.name, mu + sd * z, dims="series")

            theta = {p.name: series_rv(p) for p in cls.params}
            lapse_logit = series_rv(COMMON_PARAMS[0])
            needs_phi = md.likelihood in ("betabinomial", "beta") or md.likelihood.startswith("mixed")
            log_phi = series_rv(DISPERSION_PARAM) if needs_phi else None
            unknown_chance = bool((md.obs["chance"].isna()).any())
            floor = (pr["floor"].rv("floor", ctx, dims="series") if unknown_chance else None)
            if len(md.families) > 1:
                sf = pr["sigma_family"].rv("sigma_family", ctx)
                delta = pm.Normal("delta_family", 0.0, sf, dims="family_offset")
                delta_all = pt.concatenate([pt.zeros(1), delta])
            else:
                delta_all = None

            def mean_parts(tag: str) -> tuple[Any, Any, Any]:
                s = data[f"series_{tag}"]
                x = data[f"x_{tag}"]
                if delta_all is not None:
                    x = x + delta_all[data[f"family_{tag}"]]
                extra = {k: data[f"{k}_{tag}"] for k in cls.curve_data if f"{k}_{tag}" in data}
                lg, l1g = cls.curve.log_rise(x, pt, **{k: v[s] for k, v in theta.items()}, **extra)
                chance = data[f"chance_{tag}"]
                if floor is not None:
                    # switch on logs: a known floor of 0 (log = -inf) never meets the gradient
                    known = data[f"chance_known_{tag}"] > 0.5
                    log_c = pt.switch(known, pt.log(chance), pt.log(floor[s]))
                    log_1mc = pt.switch(known, pt.log1p(-chance), pt.log1p(-floor[s]))
                    lmu, l1mu = C.log_mean(lg, l1g, None, lapse_logit[s], xp=pt,
                                           log_chance=(log_c, log_1mc))
                else:
                    lmu, l1mu = C.log_mean(lg, l1g, chance, lapse_logit[s], xp=pt)
                return lmu, l1mu, s

            if len(arrays["x_c"]):
                lmu, l1mu, s = mean_parts("c")
                if md.likelihood.endswith("binomial") and "beta" not in md.likelihood:
                    pm.Binomial("y_count", n=data["n_c"], logit_p=lmu - l1mu, observed=data["k_c"])
                else:
                    pm.BetaBinomial("y_count", n=data["n_c"], alpha=pt.exp(lmu + log_phi[s]),
                                    beta=pt.exp(l1mu + log_phi[s]), observed=data["k_c"])
            if len(arrays["x_s"]):
                lmu, l1mu, s = mean_parts("s")
                pm.Beta("y_score", alpha=pt.exp(lmu + log_phi[s]), beta=pt.exp(l1mu + log_phi[s]),
                        observed=data["y_s"])
        return model

    # ---- derived quantities on a posterior ----------------------------------------------
    @classmethod
    def derived(cls, posterior: Any, md: ModelData, sharp_width: float) -> dict[str, Any]:
        """Per-series derived draws: width, threshold (level 0.5), lapse, ceiling, chance floor."""
        import xarray as xr

        p = {n: posterior[n] for n in cls.series_param_names()}
        width = xr.apply_ufunc(lambda *a: cls.width(**dict(zip(p, a, strict=True))), *p.values())
        thr = xr.apply_ufunc(lambda *a: cls.threshold(0.5, **dict(zip(p, a, strict=True))),
                             *p.values())
        lapse_frac = 1.0 / (1.0 + np.exp(-posterior["lapse_logit"]))
        chance = _series_chance(posterior, md)
        ceiling = chance + (1 - chance) * (1 - lapse_frac)
        return {"width": width, "threshold": thr, "ceiling": ceiling, "lapse": 1 - ceiling,
                "chance_floor": chance + 0 * lapse_frac}


def _series_chance(posterior: Any, md: ModelData) -> Any:
    import xarray as xr

    known = md.series["chance"].to_numpy(float)
    known_da = xr.DataArray(np.nan_to_num(known, nan=0.0), dims="series",
                            coords={"series": posterior["series"].values})
    if "floor" in posterior:
        mask = xr.DataArray(np.isnan(known), dims="series", coords=known_da.coords)
        return xr.where(mask, posterior["floor"], known_da)
    return known_da
