"""The model base class: hierarchy, floor, ceiling, family offsets and likelihoods.

A concrete model (one file each, lifelines-style) only *declares* its curve and the priors of
its per-series curve parameters; :class:`CurveModel` builds the PyMC model around them:

* per-series curve parameters with a heavy-tailed population
  ``theta[s] ~ StudentT(4, mu_theta, sigma_theta)`` (partial pooling that does not drag a sharp
  curve into a smooth crowd), or independent priors without pooling;
* the noise scale of the likelihood (``log_tau`` or ``log_phi``) pooled across curves with a
  normal population, so one curve's jump cannot be absorbed as noise no other curve shows;
* lapse (unreached fraction of the head-room above chance) per series, or fixed by a known
  ``ceiling``; chance floor from the data, or estimated per series (``floor ~ Beta``);
* optional family offsets ``delta_f`` in effective log-scale (reference family fixed at 0);
* one likelihood object (:mod:`emergence.models.likelihoods`) from ``log mu`` and
  ``log(1 - mu)`` (no clipping).

Two builds of the same declarations: :meth:`CurveModel.build_from` gives the joint hierarchical
PyMC model (sampled by nutpie); :meth:`CurveModel.build_curve` gives the one-curve model under
each parameter's wide *stage-1* prior, which :mod:`emergence.engine` compiles to JAX and samples
for every curve at once before its population step restores the hierarchy.

Priors are declarative data (:class:`Prior`, bambi-style): a dict ``name -> Prior`` that
:class:`~emergence.config.Config` ``priors`` can override by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .. import curves as C
from .._concurrent import PYTENSOR_LOCK, built_when_called
from ..config import Config
from ..data import ScoreTable, key_strings
from ..errors import ConfigError
from ..priors import Prior  # re-exported: the one definition of a prior
from .likelihoods import Likelihood, get_likelihood, row_arrays

#: Degrees of freedom of the Student-t population of the curve parameters: heavy enough tails
#: that a curve whose data say "sharp" is not shrunk into a crowd of smooth ones.
POPULATION_NU = 4.0
#: Logit of a known lapse of 0 (ceiling 1): finite, so no inf reaches a gradient.
LAPSE_LOGIT_MIN = -30.0


def stage1_prior(mu: float | str, sigma: float) -> Prior:
    """The wide stage-1 prior of a pooled parameter: ``StudentT(POPULATION_NU, mu, sigma)``.

    It is the proposal of the population step (stage-1 draws are reweighted by population /
    stage-1 prior), so it must be at least as wide as the population's prior predictive, tails
    included: with the population's own tail index and a scale at least the population's
    typical spread, the weight population / stage-1 stays bounded wherever the population puts
    mass. A normal stage-1 prior failed that (SBC, docs/validation.md): truths in the
    population's tails (more than 2 stage-1 sds from the centre) could not be reached, and
    their ranks piled up in the extreme bins. ``tests/test_stage1_priors.py`` checks the bound for
    every pooled parameter of every model.

    Used for the curve parameters, whose populations are Student-t. The noise scales
    (``log_tau``, ``log_phi``) have normal populations and keep normal stage-1 priors, which
    cover them: their likelihood is flat towards "no model-to-model noise" (tau -> 0, phi ->
    infinity), where a heavy-tailed prior lets the chains wander off (measured: log tau chains at
    -42 +- 14 on a simulated curve without model noise, R-hat 1.46).

    >>> stage1_prior("x_mid", 2.5)
    Prior(dist='StudentT', params={'nu': 4.0, 'mu': 'x_mid', 'sigma': 2.5})
    """
    return Prior("StudentT", {"nu": POPULATION_NU, "mu": mu, "sigma": sigma})


def light_proposal(prior: Prior) -> Prior | None:
    """The fallback stage-1 prior of a curve that fails its diagnostics under ``prior``: the
    normal of the same location and scale when ``prior`` is a Student-t, else None.

    Lighter tails close the long ridges of curves whose likelihood is flat in some direction
    (measured on ObsScaling emergent: 3 of the 13 curves that fail under the Student-t priors
    pass under these). The engine keeps a curve's light draws only where the fitted population
    is covered for that curve (``emergence.engine.light_khat``: Pareto k-hat of its importance
    weights < 0.7), so the population step's weights stay bounded.

    >>> light_proposal(stage1_prior("x_mid", 2.5))
    Prior(dist='Normal', params={'mu': 'x_mid', 'sigma': 2.5})
    """
    if prior.dist != "StudentT":
        return None
    return Prior("Normal", {"mu": prior.params["mu"], "sigma": prior.params["sigma"]})


def predictive_log_ratio(p: SeriesParam, proposal: Prior, mu: np.ndarray, sigma: np.ndarray,
                         context: dict[str, float], n_theta: int, seed: int = 3
                         ) -> tuple[np.ndarray, np.ndarray]:
    """log(population predictive density / proposal density) over the predictive's central
    99.8 % (the coverage bound of ``tests/test_stage1_priors.py``).

    The predictive is ``p``'s population mixed over hyperparameter draws ``mu``, ``sigma``
    (prior draws: the prior predictive; posterior draws: the fitted population's): the first
    ``n_theta`` of them draw the points, the rest average the density (PyMC's own densities).
    Returns the sorted points and the log ratios at them.
    """
    import pymc as pm

    with PYTENSOR_LOCK:  # compiles PyTensor functions (check runs fits on threads)
        theta = pm.draw(p.population_dist(mu[:n_theta], sigma[:n_theta]), random_seed=seed)
        theta = np.sort(theta)[int(0.001 * n_theta):int(0.999 * n_theta)]
        log_ppd = population_predictive_logp(p, mu[n_theta:], sigma[n_theta:], theta)
        return theta, log_ppd - pm.logp(proposal.dist_rv(context), theta).eval()


def population_predictive_logp(p: SeriesParam, mu: np.ndarray, sigma: np.ndarray,
                               theta: np.ndarray) -> np.ndarray:
    """Log density at ``theta`` (any shape) of ``p``'s population mixed over hyperparameter
    draws ``mu``, ``sigma`` (vectors): the population predictive (PyMC's own density)."""
    import pymc as pm

    hyper = (-1,) + (1,) * np.ndim(theta)
    with PYTENSOR_LOCK:
        lp = pm.logp(p.population_dist(np.reshape(mu, hyper), np.reshape(sigma, hyper)),
                     np.asarray(theta)[None]).eval()
    return np.logaddexp.reduce(lp, axis=0) - np.log(len(mu))


@dataclass(frozen=True)
class SeriesParam:
    """A per-series parameter: its wide stage-1 prior and, when pooled, its population.

    ``prior`` (prior name ``<name>``) is the prior of one curve analysed alone: the stage-1
    prior of the two-stage engine and the prior without pooling. ``mu``/``sigma`` (names
    ``mu_<name>``, ``sigma_<name>``) are the hyperpriors of the population
    ``<population>(mu, sigma)`` (``StudentT`` with :data:`POPULATION_NU` degrees of freedom, or
    ``Normal``); ``mu=None`` declares an unpooled parameter. Population scales have
    boundary-avoiding Gamma priors (Chung et al. 2013): a population that collapses onto one
    value (its scale near 0, which a half-normal favours when the data say little) would leave
    the population step almost no stage-1 draw to accept.
    """

    name: str
    prior: Prior
    mu: Prior | None = None
    sigma: Prior | None = None
    population: str = "StudentT"
    doc: str = ""
    #: Whether a curve failing its diagnostics may be re-sampled under :func:`light_proposal`.
    light: bool = True

    @property
    def pooled(self) -> bool:
        """Whether the parameter has a population (partial pooling)."""
        return self.mu is not None

    def population_dist(self, mu: Any, sigma: Any) -> Any:
        """The population as a PyMC ``.dist`` with location ``mu`` and scale ``sigma``."""
        import pymc as pm

        if self.population == "StudentT":
            return pm.StudentT.dist(nu=POPULATION_NU, mu=mu, sigma=sigma)
        return getattr(pm, self.population).dist(mu=mu, sigma=sigma)


def threshold_param(doc: str) -> SeriesParam:
    """The threshold ``x0`` (log10 scale at mid-rise) every curve model declares: population
    ``StudentT(4, mu_x0, sigma_x0)`` with ``mu_x0 ~ Normal(x_mid, 2)``, ``sigma_x0 ~ Gamma(2,
    2/1.5)``, stage-1 prior ``StudentT(4, x_mid, 2.5)`` (:func:`stage1_prior`).

    A normal population with a ``Normal(x_mid, 3)`` stage-1 prior was tried (2026-11-27): the
    same 8 of 26 fitted OPT lm-eval curves failed their diagnostics, so the heavy tails stay.
    It has no light fallback proposal (``light=False``): fitted threshold populations span
    several decades (ObsScaling emergent: scale 1.3 around 10^11), and a normal proposal does
    not cover their tails (weight ratio 24, :func:`predictive_log_ratio`).
    """
    return SeriesParam("x0", stage1_prior("x_mid", 2.5),
                       Prior("Normal", {"mu": "x_mid", "sigma": 2.0}),
                       Prior("Gamma", {"alpha": 2.0, "beta": 2.0 / 1.5}), doc=doc, light=False)


#: Per-series variables sampled with a curve's own parameters when the model has them (the
#: estimated chance floor of ``ModelData.unknown_chance``): read by every layer that collects a
#: curve's parameter draws.
OPTIONAL_SERIES_VARS = ("floor",)

#: Lapse prior: median 0.03, 95 % in 0.0004-0.71. Real ceilings run from 1.0 (GPT-3
#: arithmetic: 2000 of 2000 for Qwen models from 14B) to about 0.7 of the head-room. Until
#: session 22 (2026-11-29) the prior was Normal(-2, 1.5) (median 0.12, 95 % above 0.007): a
#: curve at 2000/2000 needs a lapse below about 0.0005, which that prior put 3.7 sd out, so the
#: fit kept a lapse near 0.01 and explained the perfect scores as model-to-model noise (Qwen1.5
#: arithmetic_2da: tau 5.0; with this prior 1.0; docs/noise.md). The upper tail is unchanged.
LAPSE_PARAM = SeriesParam(
    "lapse_logit", Prior("Normal", {"mu": -3.5, "sigma": 2.25}),
    doc="logit of the unreached fraction of head-room (prior median 0.03, 95 % in "
        "0.0004-0.71); not pooled (ceilings differ by task); fixed where the table gives a "
        "ceiling",
)
#: Noise parameters by likelihood (normal stage-1 priors; see :func:`stage1_prior`).
#: tau: sd of model-to-model variation on the logit scale.
#: Prior median 0.3, 90 % range about 0.06-1.6 (docs/noise.md): models that differ only in data
#: deduplication (Pythia vs Pythia-deduped, 240 pairs) differ by no more than item sampling
#: (tau ~ 0-0.05), while curves across a family scatter by tau ~ 0.2-0.5 (posterior of the
#: population on ObsScaling emergent: median 0.36); the population learns it across curves.
NOISE_PARAMS = {
    "log_tau": SeriesParam(
        "log_tau", Prior("Normal", {"mu": float(np.log(0.3)), "sigma": 1.0}),
        Prior("Normal", {"mu": float(np.log(0.3)), "sigma": 0.75}),
        Prior("Gamma", {"alpha": 3.0, "beta": 6.0}), "Normal",
        "log sd of model-to-model variation on the logit scale; pooled across curves"),
    "log_phi": SeriesParam(
        "log_phi", Prior("Normal", {"mu": 4.0, "sigma": 2.5}),
        Prior("Normal", {"mu": 4.0, "sigma": 1.5}), Prior("Gamma", {"alpha": 2.0, "beta": 2.0}),
        "Normal", "log concentration of the beta(-binomial) likelihood; pooled across curves"),
}
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
    likelihood: Likelihood
    context: dict[str, float]
    priors: dict[str, Prior]
    pooled: bool

    @property
    def unknown_chance(self) -> bool:
        """Whether some row has no chance level (a floor is then estimated per series)."""
        return bool(self.obs["chance"].isna().any())


class CurveModel:
    """Base class of all curve models. Subclasses set :attr:`curve` and :attr:`params`."""

    name: ClassVar[str] = ""
    curve: ClassVar[C.Rise]
    params: ClassVar[tuple[SeriesParam, ...]] = ()
    #: Names of extra per-row data arrays passed to ``curve.log_rise`` as keyword arguments.
    curve_data: ClassVar[tuple[str, ...]] = ()

    # ---- declarations --------------------------------------------------------------------
    @classmethod
    def all_params(cls, likelihood: Likelihood | None = None) -> tuple[SeriesParam, ...]:
        """Curve parameters, lapse and (when the likelihood has one) the noise parameter."""
        noise = (NOISE_PARAMS[likelihood.noise],) if likelihood and likelihood.noise else ()
        return (*cls.params, LAPSE_PARAM, *noise)

    @classmethod
    def default_priors(cls) -> dict[str, Prior]:
        """All priors of the model by name (stage-1 priors, hyperpriors and others)."""
        out: dict[str, Prior] = {}
        for p in (*cls.params, LAPSE_PARAM, *NOISE_PARAMS.values()):
            out[p.name] = p.prior
            if p.pooled:
                out[f"mu_{p.name}"] = p.mu
                out[f"sigma_{p.name}"] = p.sigma
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

    @classmethod
    def data_start(cls, x: np.ndarray, y: np.ndarray, chance: np.ndarray
                   ) -> dict[str, float] | None:
        """Constrained start values that put one curve's rise where its data rise: the
        threshold at the middle of the largest step between consecutive tested scales, a
        width of a quarter of that step, and the ceiling at the highest score. None for a
        curve without a step (rises by less than 0.1 of the head-room).

        Half of each curve's chains start here and half at the prior's centre
        (:meth:`emergence.engine.CurveSampler.run`). A curve that jumps between two scales can
        have two modes: a sharp rise with little model-to-model noise, and a gentle rise whose
        noise (or lower ceiling) explains the jump. Chains from the prior's centre can find
        only the second (measured on a simulated curve under the faulty count likelihood of
        sessions 5-9: 16 of 16 chains, while the first held 91 % of the mass; with the
        corrected likelihood the first holds 65 % and chains from the centre reach it too);
        chains in different modes fail R-hat and the engine then weighs the modes by
        importance sampling.

        Parameters
        ----------
        x, y, chance : numpy.ndarray
            log10 scales, scores on the 0..1 scale and chance levels of the curve's rows.

        Examples
        --------
        >>> import numpy as np
        >>> from emergence.models import get
        >>> s = get("sigmoid").data_start(np.array([8.0, 9, 10, 11]),
        ...                               np.array([0.0, 0.01, 0.9, 0.92]), np.zeros(4))
        >>> round(s["x0"], 2), round(float(get("sigmoid").width(x0=s["x0"], logk=s["logk"])), 2)
        (9.5, 0.25)
        """
        xs, inv = np.unique(np.asarray(x, float), return_inverse=True)
        c = np.asarray(chance, float)
        rate = np.clip((np.asarray(y, float) - c) / np.maximum(1.0 - c, 1e-9), 0.0, 1.0)
        rate = np.bincount(inv, rate) / np.bincount(inv)  # mean per tested scale
        if len(xs) < 2 or np.max(np.diff(rate)) < 0.1:
            return None
        i = int(np.argmax(np.diff(rate)))
        shape = next(p.name for p in cls.params if p.name != "x0")
        grid = np.linspace(-6.0, 12.0, 721)
        widths = np.log(np.abs(cls.width(x0=0.0, **{shape: grid})))
        gap = np.log((xs[i + 1] - xs[i]) / 4)  # a step inside the gap
        lapse = float(np.clip(1.0 - rate.max(), 2e-3, 0.5))
        return {"x0": float((xs[i] + xs[i + 1]) / 2), shape: float(grid[np.argmin(
            np.abs(widths - gap))]), "lapse_logit": float(np.log(lapse / (1 - lapse)))}

    # ---- preparing data ------------------------------------------------------------------
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
        like = get_likelihood(config.likelihood)
        if like.needs_counts and not obs["k"].notna().all():
            bad = obs.loc[obs["k"].isna(), "row"].head(5).tolist()
            raise ConfigError(
                f"likelihood={like.name!r} needs counts (a discrete metric with n_items) on every "
                f"row, but rows {bad} have none; use likelihood='logitnormal' (the default) or "
                "'betabinomial' (beta on scores for rows without counts)."
            )
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
        return ModelData(series=series, obs=obs, families=families, likelihood=like,
                         context=context, priors=priors, pooled=pooled)

    @classmethod
    def data_arrays(cls, md: ModelData, obs: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """Per-row arrays of the model (names of its ``pm.Data`` containers).

        ``obs`` (default ``md.obs``) needs ``x``, ``series_idx``, ``y`` and may have
        ``family_idx``, ``chance``, ``ceiling``, ``n_items``, ``k``; ``w`` weights rows (0 for
        padding).
        """
        obs = md.obs if obs is None else obs
        n = len(obs)

        def col(name: str, fill: float = np.nan) -> np.ndarray:
            return obs[name].to_numpy(float) if name in obs else np.full(n, fill)

        out = row_arrays(col("k"), col("n_items"), col("y"))
        chance, ceiling = col("chance"), col("ceiling")
        out.update({
            "x": col("x"), "series_idx": obs["series_idx"].to_numpy(np.int64),
            "family_idx": (obs["family_idx"].to_numpy(np.int64) if "family_idx" in obs
                           else np.zeros(n, np.int64)),
            "chance": np.nan_to_num(chance, nan=0.0),
            "chance_known": np.isfinite(chance).astype(float),
            "ceiling_known": np.isfinite(ceiling).astype(float),
            "lapse_known": _known_lapse_logit(np.nan_to_num(chance), ceiling),
            "w": col("w", 1.0),
        })
        return out

    # ---- the mean curve and the likelihood: one definition for PyMC, JAX and numpy --------
    @classmethod
    def log_mean(cls, xp: Any, d: dict[str, Any], theta: dict[str, Any], lapse: Any,
                 floor: Any = None, delta: Any = None) -> tuple[Any, Any]:
        """``(log mu, log(1 - mu))`` per row from per-row parameter values.

        ``d`` holds the row arrays of :meth:`data_arrays`; ``theta`` the curve parameters,
        ``lapse`` the lapse logit, ``floor`` the estimated floors and ``delta`` the family shifts,
        each already indexed to rows (numpy arrays may carry leading draw dimensions).
        """
        x = d["x"] if delta is None else d["x"] + delta
        extra = {k: d[k] for k in cls.curve_data if k in d}
        lg, l1g = cls.curve.log_rise(x, xp, **theta, **extra)
        lapse = _where(xp, d["ceiling_known"] > 0.5, d["lapse_known"], lapse)
        if floor is None:
            return C.log_mean(lg, l1g, d["chance"], lapse, xp=xp)
        known = d["chance_known"] > 0.5
        with np.errstate(divide="ignore"):
            log_c = _where(xp, known, xp.log(d["chance"]), xp.log(floor))
            log_1mc = _where(xp, known, xp.log1p(-d["chance"]), xp.log1p(-floor))
        return C.log_mean(lg, l1g, None, lapse, xp=xp, log_chance=(log_c, log_1mc))

    @classmethod
    def log_likelihood(cls, xp: Any, likelihood: Likelihood, d: dict[str, Any],
                       values: dict[str, Any], delta: Any = None, one_curve: bool = False) -> Any:
        """Per-row log-likelihood (unweighted) from per-series parameter ``values``.

        ``values`` maps parameter names (curve parameters, ``lapse_logit``, the noise parameter,
        optionally ``floor``) to arrays whose last axis is the series; ``d["series"]`` indexes
        them to rows (``d["series_idx"]``). The PyMC models (``xp = pytensor.tensor``), the JAX
        engine compiled from
        them and every pointwise number in numpy call this one function.
        """
        s = d["series_idx"]

        def rows(v: Any) -> Any:
            if xp is np:
                return v[..., s]
            return v[0] if one_curve else v[s]  # a single curve broadcasts (no gather)

        theta = {n: rows(values[n]) for n in cls.series_param_names()}
        floor = rows(values["floor"]) if "floor" in values else None
        lmu, l1mu = cls.log_mean(xp, d, theta, rows(values["lapse_logit"]), floor, delta)
        noise = rows(values[likelihood.noise]) if likelihood.noise else None
        return likelihood.logp(xp, lmu, l1mu, d, noise)

    # ---- building PyMC models ------------------------------------------------------------
    @classmethod
    def build(cls, table: ScoreTable, config: Config) -> tuple[Any, ModelData]:
        """Build the joint hierarchical PyMC model; return ``(pm.Model, ModelData)``."""
        md = cls.prepare(table, config)
        return cls.build_from(md, config), md

    @classmethod
    def build_from(cls, md: ModelData, config: Config) -> Any:
        """The joint hierarchical PyMC model of every series (population, family offsets)."""
        import pymc as pm
        import pytensor.tensor as pt

        coords = {"series": md.series["label"].tolist()}
        if len(md.families) > 1:
            coords["family_offset"] = md.families[1:]
        with pm.Model(coords=coords) as model:
            data = {k: pm.Data(k, v) for k, v in cls.data_arrays(md).items()}
            values = {p.name: _series_rv(p, md, config) for p in cls.all_params(md.likelihood)}
            if md.unknown_chance:
                values["floor"] = md.priors["floor"].rv("floor", md.context, dims="series")
            delta = None
            if len(md.families) > 1:
                sf = md.priors["sigma_family"].rv("sigma_family", md.context)
                offsets = pm.Normal("delta_family", 0.0, sf, dims="family_offset")
                delta = pt.concatenate([pt.zeros(1), offsets])[data["family_idx"]]
            rows = cls.log_likelihood(pt, md.likelihood, data, values, delta)
            pm.Potential("loglik", (data["w"] * rows).sum())
        return model

    @classmethod
    def build_curve(cls, md: ModelData, n_rows: int) -> Any:
        """One curve under the stage-1 priors, with ``n_rows`` (padded) rows of swappable data.

        The per-curve engine compiles this model's log density to JAX once and evaluates it
        with every curve's rows (padding rows have weight ``w = 0``).
        """
        import pymc as pm
        import pytensor.tensor as pt

        one = md.obs.iloc[[0] * n_rows].assign(series_idx=0, family_idx=0, w=0.0)
        with pm.Model(coords={"series": ["curve"]}) as model:
            data = {k: pm.Data(k, v) for k, v in cls.data_arrays(md, one).items()}
            # data-dependent prior constants are inputs too: one compiled program for any table
            ctx = {k: pm.Data(f"ctx_{k}", np.float64(v)) for k, v in md.context.items()}
            values = {p.name: md.priors[p.name].rv(p.name, ctx, dims="series")
                      for p in cls.all_params(md.likelihood)}
            if md.unknown_chance:
                values["floor"] = md.priors["floor"].rv("floor", ctx, dims="series")
            rows = cls.log_likelihood(pt, md.likelihood, data, values, one_curve=True)
            pm.Potential("loglik", (data["w"] * rows).sum())
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
        chance = _series_chance(posterior, md)
        known = md.obs.groupby("series_idx")["ceiling"].first().reindex(range(len(md.series)))
        known_da = xr.DataArray(known.to_numpy(float), dims="series",
                                coords={"series": posterior["series"].values})
        lapse_frac = 1.0 / (1.0 + np.exp(-posterior["lapse_logit"]))
        ceiling = xr.where(np.isfinite(known_da), known_da,
                           chance + (1 - chance) * (1 - lapse_frac))
        return {"width": width, "threshold": thr, "ceiling": ceiling, "lapse": 1 - ceiling,
                "chance_floor": chance + 0 * lapse_frac}


def _where(xp: Any, cond: Any, a: Any, b: Any) -> Any:
    return np.where(cond, a, b) if xp is np else xp.switch(cond, a, b)


def _known_lapse_logit(chance: np.ndarray, ceiling: np.ndarray) -> np.ndarray:
    """logit of the lapse implied by a known ceiling (ceiling = c + (1 - c)(1 - lapse))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lapse = (1.0 - ceiling) / (1.0 - chance)
        out = np.log(lapse) - np.log1p(-lapse)
    return np.clip(np.nan_to_num(out, nan=LAPSE_LOGIT_MIN), LAPSE_LOGIT_MIN, -LAPSE_LOGIT_MIN)


def _series_rv(p: SeriesParam, md: ModelData, config: Config) -> Any:
    """The joint model's per-series variable: population when pooled, else the stage-1 prior."""
    import pymc as pm

    pr, ctx = md.priors, md.context
    if not (p.pooled and md.pooled):
        return pr[p.name].rv(p.name, ctx, dims="series")
    mu = pr[f"mu_{p.name}"].rv(f"mu_{p.name}", ctx)
    sd = pr[f"sigma_{p.name}"].rv(f"sigma_{p.name}", ctx)
    dist = getattr(pm, p.population)
    extra = {"nu": POPULATION_NU} if p.population == "StudentT" else {}
    if config.parametrization == "centered":
        return dist(p.name, mu=mu, sigma=sd, dims="series", **extra)
    z = dist(f"{p.name}_z", mu=0.0, sigma=1.0, dims="series", **extra)
    return pm.Deterministic(p.name, mu + sd * z, dims="series")


def _series_chance(posterior: Any, md: ModelData) -> Any:
    import xarray as xr

    known = md.series["chance"].to_numpy(float)
    known_da = xr.DataArray(np.nan_to_num(known, nan=0.0), dims="series",
                            coords={"series": posterior["series"].values})
    if "floor" in posterior:
        mask = xr.DataArray(np.isnan(known), dims="series", coords=known_da.coords)
        return xr.where(mask, posterior["floor"], known_da)
    return known_da


@dataclass
class PopulationDensities:
    """Compiled log densities of the population step (from the declared priors, via PyMC).

    ``pooled`` lists the pooled parameter names (order of the leading axis below).
    :meth:`population` evaluates every pooled parameter's population density in one call;
    :meth:`hyper` the hyperprior density of ``mu`` and ``sigma``; :meth:`stage1` the stage-1
    prior. The programs take the table's context values (``x_mid``, ...) as inputs, so tables,
    folds and likelihood refits with the same priors share one compilation (:attr:`key`);
    ``ctx`` holds this table's values.
    """

    pooled: list[str]
    _pop: Any
    _hyper: dict[str, Any]
    _stage1: dict[str, Any]
    #: The same population and (stacked) hyperprior densities as JAX functions, for the
    #: compiled population step: ``jax_population(theta, mu, sigma)`` as :meth:`population`;
    #: ``jax_hyper(mu, sigma, ctx)`` with ``mu``, ``sigma`` (J, A) -> (J, A).
    jax_population: Any = None
    jax_hyper: Any = None
    #: context values in the programs' input order, and the compilation's cache key
    ctx: np.ndarray = field(default_factory=lambda: np.zeros(0))
    key: str = ""

    def population(self, theta: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """``theta`` (J, A, B), ``mu`` and ``sigma`` (J, A, 1) -> log densities (J, A, B)."""
        with PYTENSOR_LOCK:
            return self._pop(_c(theta), _c(mu), _c(sigma))

    def hyper(self, name: str, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Hyperprior log density of ``mu`` and ``sigma`` (vectors) of parameter ``name``."""
        with PYTENSOR_LOCK:
            return self._hyper[name](_c(mu), _c(sigma), *self.ctx)

    def stage1(self, name: str, theta: np.ndarray) -> np.ndarray:
        """Stage-1 prior log density of ``theta`` (a matrix) of parameter ``name``."""
        with PYTENSOR_LOCK:
            return self._stage1[name](_c(theta), *self.ctx)


def _c(a: Any) -> np.ndarray:
    """C-contiguous float64 (one compiled specialisation of each density function)."""
    return np.ascontiguousarray(a, dtype=np.float64)


#: compiled population programs by :func:`_population_key` (per process)
_POPULATION_PROGRAMS: dict[str, tuple[Any, ...]] = {}


def _population_key(model_cls: type[CurveModel], md: ModelData) -> str:
    """What the compiled population programs depend on: the model, the pooled parameters and
    their priors (placeholders, not the context's values) and the context's names."""
    pooled = [p for p in model_cls.all_params(md.likelihood) if p.pooled]
    priors = {f"{q}{p.name}": md.priors[f"{q}{p.name}"].as_dict()
              for p in pooled for q in ("", "mu_", "sigma_")}
    return repr((model_cls.name, [p.name for p in pooled],
                 [repr(p) for p in pooled], sorted(priors.items()),
                 sorted(md.context)))


def population_densities(model_cls: type[CurveModel], md: ModelData) -> PopulationDensities:
    """Compile the population, hyperprior and stage-1 prior densities of ``model_cls``'s pooled
    parameters (PyMC's own ``logp`` of each declared distribution); compiled once per
    :func:`_population_key` and bound to ``md``'s context values (cached on ``md``)."""
    key = (model_cls.name, md.likelihood.name)
    cache = md.__dict__.setdefault("_population_cache", {})
    if key not in cache:
        pkey = _population_key(model_cls, md)
        with PYTENSOR_LOCK:
            if pkey not in _POPULATION_PROGRAMS:
                _POPULATION_PROGRAMS[pkey] = _compile_population(model_cls, md)
        pooled, pop, hyper, stage1, jpop, jhyp = _POPULATION_PROGRAMS[pkey]
        ctx = np.array([float(md.context[k]) for k in sorted(md.context)])
        cache[key] = PopulationDensities(pooled, pop, hyper, stage1, jpop, jhyp, ctx, pkey)
    return cache[key]


def _compile_population(model_cls: type[CurveModel], md: ModelData) -> tuple[Any, ...]:
    """The programs of :class:`PopulationDensities`, with the context values as trailing
    inputs (sorted by name)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from pymc.sampling.jax import get_jaxified_graph
    from pytensor.graph.replace import graph_replace

    from ._ops import register_jax_fixes

    register_jax_fixes()
    names = sorted(md.context)
    cvars = [pt.dscalar(f"ctx_{k}") for k in names]
    context = dict(zip(names, cvars, strict=True))

    def dist(prior: Prior) -> Any:
        return prior.dist_rv(context)

    def function(inputs: list[Any], output: Any) -> Any:
        return pytensor.function([*inputs, *cvars], output, on_unused_input="ignore")

    pooled = [p for p in model_cls.all_params(md.likelihood) if p.pooled]
    th = pt.tensor3("theta")
    mu = pt.tensor("mu", shape=(None, None, 1), dtype="float64")
    sd = pt.tensor("sigma", shape=(None, None, 1), dtype="float64")
    pop_graph = pt.stack(
        [pm.logp(p.population_dist(mu[j], sd[j]), th[j]) for j, p in enumerate(pooled)])
    pop = pytensor.function([th, mu, sd], pop_graph)
    hyper, stage1, stacked = {}, {}, []
    mm, ss = pt.dmatrix("mu_all"), pt.dmatrix("sigma_all")
    for j, p in enumerate(pooled):
        m, s = pt.dvector("m"), pt.dvector("s")
        h = pm.logp(dist(md.priors[f"mu_{p.name}"]), m) + pm.logp(
            dist(md.priors[f"sigma_{p.name}"]), s)
        hyper[p.name] = function([m, s], h)
        stacked.append(graph_replace(h, {m: mm[j], s: ss[j]}))
        v = pt.dmatrix("v")
        stage1[p.name] = function([v], pm.logp(dist(md.priors[p.name]), v))
    # translated to JAX when first called: only tracing the population chain needs them
    jpop = built_when_called(lambda: get_jaxified_graph(inputs=[th, mu, sd], outputs=[pop_graph]))
    # every context value is an input, used or not (jaxified graphs drop unused inputs)
    hyp_out = pt.stack(stacked) + 0.0 * sum(cvars, pt.constant(0.0))
    jhyp = built_when_called(lambda: get_jaxified_graph(inputs=[mm, ss, *cvars],
                                                        outputs=[hyp_out]))
    return ([p.name for p in pooled], pop, hyper, stage1,
            lambda t, m, s: jpop(t, m, s)[0], lambda m, s, c: jhyp(m, s, *c)[0])
