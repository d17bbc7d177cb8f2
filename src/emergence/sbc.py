"""Simulation-based calibration (Talts et al. 2018) of the curve models, compiled once.

For each simulation: draw every parameter from the model's hierarchical prior (population
location and scale from their hyperpriors, per-series curve parameters from the Student-t(4)
population, the noise parameter ``log_tau`` / ``log_phi`` from its normal population, lapse from
its own prior; :func:`draw_prior`), simulate scores on a fixed design (``n_series`` curves x
``n_scales`` log-spaced scales, ``n_items`` items, chance 0) with the likelihood's own
``draw`` (the default ``logitnormal``: model-to-model logit noise, then binomial items), refit
with the same compiled program (the per-curve engine by default: one JAX curve program and one
compiled population density for the whole study; the joint engine: one compiled NUTS model),
and record the rank of each true value among ``n_ranks - 1`` thinned posterior draws. If the
inference is calibrated, ranks are uniform on ``0..n_ranks-1``.

Checked quantities: per-series curve parameters, ``lapse_logit``, the noise parameter, the
derived ``width``, and the population's ``mu_*`` / ``sigma_*``. Uniformity: a chi-square test
on ``bins`` equal bins per quantity (per-series quantities pool their ranks over series), and
the largest deviation of the rank ECDF from the uniform CDF.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist
from scipy.stats import chisquare

from ._io import _jsonable, atomic_write_json
from .config import Config, make_config
from .coverage import _draw_prior
from .data import validate
from .inference import CompiledSampler
from .models import get
from .models.base import POPULATION_NU


@dataclass
class SBCResult:
    """Ranks of true values and uniformity tests per quantity."""

    ranks: pd.DataFrame  # columns: simulation, quantity, series, rank
    n_ranks: int
    model: str
    config: Config
    bins: int = 10
    divergent_simulations: int = 0

    def tests(self) -> pd.DataFrame:
        """Per quantity: ranks, chi-square statistic, its p-value with and without the
        correction for ranks clustered within a simulation, and the max ECDF deviation.

        Per-series quantities pool the ranks of all series of a simulation, and those ranks
        are not independent: the series share one population posterior, so an unlucky
        population draw moves all of them together. The plain chi-square test assumes
        independent ranks and rejects calibrated inference too often then. ``p_value`` is
        the plain test; ``p_clustered`` divides the statistic by the design effect
        (:func:`design_effect`, the first-order Rao-Scott correction), and ``passes`` is
        ``p_clustered > 0.01``. Quantities with one rank per simulation have design effect 1.
        """
        rows = []
        for q, g in self.ranks.groupby("quantity", sort=False):
            r = g["rank"].to_numpy()
            chi = chisquare(self.bin_counts(q))
            deff = design_effect(g["simulation"].to_numpy(), r, self.bins, self.n_ranks)
            p_cl = float(chi2_dist.sf(chi.statistic / deff, self.bins - 1))
            u = np.sort((r + 0.5) / self.n_ranks)
            ecdf_dev = float(np.max(np.abs(np.arange(1, len(u) + 1) / len(u) - u)))
            rows.append({"quantity": q, "n": len(r), "chi2": float(chi.statistic),
                         "p_value": float(chi.pvalue), "design_effect": deff,
                         "p_clustered": p_cl, "ecdf_max_dev": ecdf_dev,
                         "passes": bool(p_cl > 0.01)})
        return pd.DataFrame(rows)

    def bin_counts(self, quantity: str) -> np.ndarray:
        """Ranks of ``quantity`` per bin (``bins`` equal bins over the ``n_ranks`` values): the
        counts the uniformity test and the rank histograms use.

        Examples
        --------
        >>> import pandas as pd
        >>> from emergence.config import make_config
        >>> ranks = pd.DataFrame({"simulation": [0, 1, 2], "quantity": "x0", "series": 0,
        ...                       "rank": [0, 9, 99]})
        >>> SBCResult(ranks, 100, "sigmoid", make_config()).bin_counts("x0").tolist()
        [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        """
        r = self.ranks.loc[self.ranks["quantity"] == quantity, "rank"].to_numpy()
        return np.histogram(r, bins=self.bins, range=(0, self.n_ranks))[0]

    @property
    def passed(self) -> bool:
        """All quantities pass the chi-square uniformity test (clustered) at p > 0.01."""
        return bool(self.tests()["passes"].all())

    def to_records(self) -> list[dict[str, Any]]:
        """JSON records of the tests."""
        return _jsonable(self.tests().to_dict("records"))

    def save(self, path: str | Path) -> Path:
        """Write tests, ranks and config as JSON (atomically)."""
        return atomic_write_json(path, {
            "model": self.model, "n_ranks": self.n_ranks, "bins": self.bins,
            "config": self.config.as_dict(), "divergent_simulations": self.divergent_simulations,
            "tests": self.to_records(), "ranks": _jsonable(self.ranks.to_dict("list")),
        })


def design_effect(simulation: np.ndarray, rank: np.ndarray, bins: int, n_ranks: int) -> float:
    """Design effect of ranks clustered by simulation, for the chi-square test of uniformity.

    The variance of each bin's count, estimated from the spread of per-simulation counts
    (``S * var_s(c_sb)``), over its multinomial variance under independence
    (``n p (1 - p)``, ``p = 1 / bins``), averaged over bins and floored at 1 (Rao & Scott
    1981, first-order correction: the statistic divided by it is again chi-square with
    ``bins - 1`` degrees of freedom). 1 when every simulation gives one rank.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sim = np.repeat(np.arange(400), 5)
    >>> round(design_effect(sim, rng.integers(0, 100, 2000), 10, 100), 1)  # independent
    1.0
    >>> shift = rng.integers(0, 100, 400)  # all five ranks of a simulation move together
    >>> r = (shift[sim] + rng.integers(0, 20, 2000)) % 100
    >>> design_effect(sim, r, 10, 100) > 2
    True
    """
    b = np.minimum((np.asarray(rank) * bins) // n_ranks, bins - 1)
    sims, idx = np.unique(simulation, return_inverse=True)
    if len(sims) == len(b) or len(sims) < 2:
        return 1.0
    c = np.zeros((len(sims), bins))
    np.add.at(c, (idx, b), 1.0)
    p = 1.0 / bins
    deff = len(sims) * c.var(axis=0, ddof=1) / (len(b) * p * (1 - p))
    return float(max(1.0, deff.mean()))


def load_sbc(path: str | Path) -> SBCResult:
    """Read an SBC result saved with :meth:`SBCResult.save` (JSON) back into an SBCResult."""
    import json

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return SBCResult(ranks=pd.DataFrame(d["ranks"]), n_ranks=int(d["n_ranks"]),
                         model=str(d["model"]), config=make_config(d["config"]),
                         bins=int(d.get("bins", 10)),
                         divergent_simulations=int(d.get("divergent_simulations", 0)))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not an SBC result written by SBCResult.save "
                         f"(`emergence sbc --json`): {exc}") from None


def _design_table(n_series: int, n_scales: int, n_items: int) -> Any:
    x = np.linspace(8, 12, n_scales)
    rows = [{"task": f"s{s}", "model": f"m{i}", "params": 10 ** x[i], "score": 0.5,
             "n_items": n_items, "chance": 0.0} for s in range(n_series) for i in range(n_scales)]
    return validate(pd.DataFrame(rows), warn=False)


def draw_prior(model: Any, md: Any, rng: np.random.Generator) -> dict[str, Any]:
    """One draw of every parameter from the model's hierarchical prior.

    Pooled parameters (when ``md.pooled``): ``mu_<p>`` and ``sigma_<p>`` from their hyperpriors,
    then one value per series from the population (``StudentT(4, mu, sigma)`` for curve
    parameters, ``Normal`` for the noise parameter). Unpooled parameters (``lapse_logit``, or
    every parameter without pooling) come from their stage-1 prior. The likelihood's noise
    parameter (``log_tau`` / ``log_phi``) is included.

    Examples
    --------
    >>> import numpy as np
    >>> from emergence.config import make_config
    >>> from emergence.models import get
    >>> M = get("sigmoid")
    >>> md = M.prepare(_design_table(5, 8, 100), make_config(seed=0))
    >>> t = draw_prior(M, md, np.random.default_rng(0))
    >>> sorted(k for k in t if not k.startswith(("mu_", "sigma_")))
    ['lapse_logit', 'log_tau', 'logk', 'x0']
    """
    S = len(md.series)
    out: dict[str, Any] = {}
    for p in model.all_params(md.likelihood):
        if p.pooled and md.pooled:
            mu = float(_draw_prior(md.priors[f"mu_{p.name}"], md.context, rng, 1)[0])
            sd = float(_draw_prior(md.priors[f"sigma_{p.name}"], md.context, rng, 1)[0])
            z = (rng.standard_t(POPULATION_NU, S) if p.population == "StudentT"
                 else rng.standard_normal(S))
            out[f"mu_{p.name}"], out[f"sigma_{p.name}"] = mu, sd
            out[p.name] = mu + sd * z
        else:
            out[p.name] = _draw_prior(md.priors[p.name], md.context, rng, S)
    return out


def simulate_obs(model: Any, md: Any, truth: dict[str, Any], n_items: int,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Rows of ``md.obs`` with scores drawn from ``truth`` by the model's own likelihood
    (:meth:`~emergence.models.likelihoods.Likelihood.draw`)."""
    d = model.data_arrays(md)
    s = d["series_idx"]
    theta = {k: np.asarray(truth[k])[s] for k in model.series_param_names()}
    lmu, _ = model.log_mean(np, d, theta, np.asarray(truth["lapse_logit"])[s])
    like = md.likelihood
    noise = np.asarray(truth[like.noise])[s] if like.noise else None
    y = like.draw(rng, np.exp(lmu), noise, np.full(len(s), float(n_items)))
    k = np.rint(y * n_items)
    return md.obs.assign(k=k, y=k / n_items)


def sbc(
    model: str = "sigmoid",
    *,
    simulations: int = 100,
    n_series: int = 5,
    n_scales: int = 8,
    n_items: int = 1000,
    n_ranks: int = 100,
    bins: int = 10,
    seed: int = 0,
    config: Config | dict[str, Any] | None = None,
    **options: Any,
) -> SBCResult:
    """Run simulation-based calibration of a curve model (see the module docstring).

    Parameters
    ----------
    model : str
        ``"sigmoid"``, ``"powerlaw"`` or ``"loglinear"``.
    simulations : int
        Number of prior draws / refits.
    n_series, n_scales, n_items : int
        The simulated design (at least 5 series to rank the population's parameters).
    n_ranks : int
        Ranks take values ``0..n_ranks-1`` (posterior thinned to ``n_ranks - 1`` draws).
    bins : int
        Bins of the chi-square uniformity test.
    seed : int
        Seed of the whole study (prior draws, data, and each refit).
    config : Config or dict, optional
        Fit options (likelihood, engine, draws, ...); keyword ``options`` override them.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> res = sbc("sigmoid", simulations=2, n_series=3, n_scales=6, draws=100, tune=100,
    ...           n_ranks=20)  # doctest: +SKIP
    >>> res.tests()  # doctest: +SKIP
    """
    defaults = {"model": model, "seed": seed}  # draws, tune, ...: the fit's own (Config)
    base = config.as_dict() if isinstance(config, Config) else dict(config or {})
    cfg = make_config({**defaults, **base}, **options)
    M = get(cfg.model)
    rng = np.random.default_rng(seed)
    fit_once = (_PercurveRefit if cfg.resolved_engine() == "percurve" else _JointRefit)(M, cfg)
    md = fit_once.md_for(_design_table(n_series, n_scales, n_items))
    names = [*M.series_param_names(), "lapse_logit"]
    if md.likelihood.noise:
        names.append(md.likelihood.noise)
    rows: list[dict[str, Any]] = []
    divergent = 0
    for sim in range(simulations):
        truth = draw_prior(M, md, rng)
        obs = simulate_obs(M, md, truth, n_items, rng)
        post, n_div = fit_once(md, obs, int(rng.integers(2**31)))
        divergent += int(n_div > 0)
        truth["width"] = M.width(**{k: truth[k] for k in M.series_param_names()})
        post["width"] = M.width(**{k: post[k] for k in M.series_param_names()})
        hyper = [f"{h}_{n}" for n in names for h in ("mu", "sigma") if f"{h}_{n}" in post]
        for name in [*names, "width", *hyper]:
            rows += _ranks(sim, name, truth[name], post[name], n_ranks)
    return SBCResult(pd.DataFrame(rows), n_ranks, cfg.model, cfg, bins, divergent)


def _ranks(sim: int, name: str, true: Any, draws: np.ndarray, n_ranks: int) -> list[dict[str, Any]]:
    """Rank of each true value among ``n_ranks - 1`` evenly thinned draws (draws, [series])."""
    v = draws.reshape(draws.shape[0], -1)
    v = v[np.linspace(0, len(v) - 1, n_ranks - 1).astype(int)]
    t = np.atleast_1d(true)
    return [{"simulation": sim, "quantity": name, "series": j, "rank": int(np.sum(v[:, j] < t[j]))}
            for j in range(v.shape[1])]


class _PercurveRefit:
    """Refits of one design with the per-curve engine: one compiled curve program, one
    compiled population density; returns flattened posterior draws and divergences."""

    def __init__(self, model: Any, cfg: Config) -> None:
        self.model, self.cfg, self.sampler = model, cfg, None

    def md_for(self, table: Any) -> Any:
        from .engine import CurveSampler
        from .models.base import population_densities

        self.md = self.model.prepare(table, self.cfg)
        if self.md.pooled:
            population_densities(self.model, self.md)  # compiled once, cached on md
        self.sampler = CurveSampler(self.model, self.md, self.cfg)
        return self.md

    def __call__(self, md: Any, obs: pd.DataFrame, seed: int) -> tuple[dict[str, np.ndarray], int]:
        from .engine import sample_percurve

        sim = dataclasses.replace(md, obs=obs)
        sim.__dict__["_population_cache"] = md.__dict__.get("_population_cache", {})
        tree, _, _, _ = sample_percurve(self.model, sim, self.cfg.replace(seed=seed),
                                        self.sampler)
        return _flat(tree["posterior"]), int(tree["sample_stats"]["diverging"].values.sum())


class _JointRefit(_PercurveRefit):
    """Refits with the joint NUTS model, compiled once (``CompiledSampler``)."""

    def md_for(self, table: Any) -> Any:
        pm_model, self.md = self.model.build(table, self.cfg)
        self.sampler = CompiledSampler(pm_model, self.cfg)
        return self.md

    def __call__(self, md: Any, obs: pd.DataFrame, seed: int) -> tuple[dict[str, np.ndarray], int]:
        tree = self.sampler.sample(data=self.model.data_arrays(md, obs), seed=seed,
                                   progress=False)
        return _flat(tree["posterior"]), int(tree["sample_stats"]["diverging"].values.sum())


def _flat(post: Any) -> dict[str, np.ndarray]:
    """Posterior variables as (chains * draws, ...) arrays."""
    return {k: np.asarray(v.values).reshape(-1, *v.shape[2:]) for k, v in post.data_vars.items()}
