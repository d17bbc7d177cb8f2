"""Simulation-based calibration (Talts et al. 2018) of the curve models, compiled once.

For each simulation: draw every parameter from the model's declarative priors (population
means and sds, per-series curve parameters, lapse), simulate binomial scores on a fixed design
(``n_series`` curves x ``n_scales`` log-spaced scales, ``n_items`` items), refit the *same*
compiled model with the new data (``CompiledSampler.sample(data=...)``; simuk recompiles per
simulation, 12 s each), and record the rank of each true value among ``n_ranks - 1`` thinned
posterior draws. If the inference is calibrated, ranks are uniform on ``0..n_ranks-1``.

Checked quantities: per-series ``x0``, the steepness/exponent parameter, the derived ``width``,
and the hyperparameters ``mu_*`` / ``sigma_*``. Uniformity: a chi-square test on ``bins`` equal
bins per quantity (per-series quantities pool their ranks over series), and the largest
deviation of the rank ECDF from the uniform CDF.

The simulator uses a binomial likelihood and known chance 0, and the model is fitted with
``likelihood="binomial"`` so that simulator and model agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chisquare

from . import curves as C
from ._io import _jsonable, atomic_write_json
from .config import Config, make_config
from .coverage import _draw_prior
from .data import validate
from .inference import CompiledSampler
from .models import get


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
        """Per quantity: number of ranks, chi-square statistic and p-value, max ECDF deviation."""
        rows = []
        for q, g in self.ranks.groupby("quantity", sort=False):
            r = g["rank"].to_numpy()
            counts = np.histogram(r, bins=self.bins, range=(0, self.n_ranks))[0]
            chi = chisquare(counts)
            u = np.sort((r + 0.5) / self.n_ranks)
            ecdf_dev = float(np.max(np.abs(np.arange(1, len(u) + 1) / len(u) - u)))
            rows.append({"quantity": q, "n": len(r), "chi2": float(chi.statistic),
                         "p_value": float(chi.pvalue), "ecdf_max_dev": ecdf_dev,
                         "passes": bool(chi.pvalue > 0.01)})
        return pd.DataFrame(rows)

    @property
    def passed(self) -> bool:
        """All quantities pass the chi-square uniformity test at p > 0.01."""
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
    """One draw of every parameter from the model's declarative priors."""
    S = len(md.series)
    out: dict[str, Any] = {}
    for p in model.params:
        if p.pooled and md.pooled:
            mu = float(_draw_prior(md.priors[f"mu_{p.name}"], md.context, rng, 1)[0])
            sd = float(_draw_prior(md.priors[f"sigma_{p.name}"], md.context, rng, 1)[0])
            out[f"mu_{p.name}"], out[f"sigma_{p.name}"] = mu, sd
            out[p.name] = rng.normal(mu, sd, S)
        else:
            out[p.name] = _draw_prior(md.priors[f"mu_{p.name}"] if p.pooled else md.priors[p.name],
                                      md.context, rng, S)
    out["lapse_logit"] = _draw_prior(md.priors["lapse_logit"], md.context, rng, S)
    return out


def sbc(
    model: str = "sigmoid",
    *,
    simulations: int = 100,
    n_series: int = 5,
    n_scales: int = 8,
    n_items: int = 200,
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
        The simulated design.
    n_ranks : int
        Ranks take values ``0..n_ranks-1`` (posterior thinned to ``n_ranks - 1`` draws).
    bins : int
        Bins of the chi-square uniformity test.
    seed : int
        Seed of the whole study (prior draws, data, and each refit).

    Returns
    -------
    SBCResult
    """
    defaults = {"draws": 1000, "tune": 500, "likelihood": "binomial", "model": model,
                "seed": seed}
    base = config.as_dict() if isinstance(config, Config) else dict(config or {})
    cfg = make_config({**defaults, **base}, **options)
    M = get(cfg.model)
    table = _design_table(n_series, n_scales, n_items)
    pm_model, md = M.build(table, cfg)
    sampler = CompiledSampler(pm_model, cfg)
    rng = np.random.default_rng(seed)
    x = md.obs["x"].to_numpy()
    s_idx = md.obs["series_idx"].to_numpy()
    rows = []
    divergent = 0
    for sim in range(simulations):
        truth = draw_prior(M, md, rng)
        lapse = 1 / (1 + np.exp(-truth["lapse_logit"]))
        p = {k: truth[k][s_idx] for k in M.series_param_names()}
        mu = C.mean(M.curve, x, 0.0, lapse[s_idx], **p)
        k = rng.binomial(n_items, mu)
        obs = md.obs.assign(k=k.astype(float), y=k / n_items)
        tree = sampler.sample(data=M.data_arrays(md, obs), seed=int(rng.integers(2**31)),
                              progress=False)
        divergent += int(tree["sample_stats"]["diverging"].values.sum() > 0)
        post = tree["posterior"]
        n_total = post.sizes["chain"] * post.sizes["draw"]
        keep = np.linspace(0, n_total - 1, n_ranks - 1).astype(int)

        def rank(name: str, true: Any, values: np.ndarray, sim: int = sim,
                 n_total: int = n_total, keep: np.ndarray = keep) -> None:
            v = values.reshape(n_total, -1)[keep]
            t = np.atleast_1d(true)
            for j in range(v.shape[1]):
                rows.append({"simulation": sim, "quantity": name, "series": j,
                             "rank": int(np.sum(v[:, j] < t[j]))})

        for name in M.series_param_names():
            rank(name, truth[name], post[name].values)
        draws_p = {n: post[n].values.reshape(n_total, -1) for n in M.series_param_names()}
        rank("width", M.width(**{k: truth[k] for k in M.series_param_names()}),
             M.width(**draws_p))
        for name in (f"mu_{n}" for n in M.series_param_names()):
            if name in post:
                rank(name, truth[name], post[name].values)
        for name in (f"sigma_{n}" for n in M.series_param_names()):
            if name in post:
                rank(name, truth[name], post[name].values)
    return SBCResult(pd.DataFrame(rows), n_ranks, cfg.model, cfg, bins, divergent)
