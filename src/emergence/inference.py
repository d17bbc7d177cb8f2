"""Inference: sample a built model with a chosen backend, and diagnose the draws.

The fast path compiles a model once (:class:`CompiledSampler`) and re-samples it with new data
(``nutpie``'s ``with_data``): leave-one-scale-out refits and design simulations swap data instead
of recompiling (about 0.2 s instead of 5-15 s per refit).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .config import Config
from .errors import ConvergenceWarning
from .messages import DIAGNOSTIC_HELP


def keep_generated_sources() -> None:
    """Write pytensor's generated numba/JAX source files under its compile directory instead of
    leaving them in ``$TMPDIR`` (8 files per fit otherwise; they are reused there)."""
    import pytensor

    if not pytensor.config.generated_src_dir:
        path = os.path.join(pytensor.config.compiledir, "generated_src")
        os.makedirs(path, exist_ok=True)
        pytensor.config.generated_src_dir = path


@dataclass
class Timing:
    """Wall times in seconds of the last compile and sampling."""

    compile: float = 0.0
    sample: float = 0.0


class CompiledSampler:
    """A model compiled once, sampled many times with swapped data.

    Parameters
    ----------
    model : pymc.Model
        The built model; its ``pm.Data`` containers can be replaced by :meth:`sample`.
    config : Config
        Sampler, draws, tune, chains, target_accept.
    """

    def __init__(self, model: Any, config: Config) -> None:
        self.model = model
        self.config = config
        self.timing = Timing()
        t0 = time.perf_counter()
        self._compiled = None
        keep_generated_sources()
        if config.sampler == "nutpie":
            import nutpie

            self._compiled = nutpie.compile_pymc_model(model)
        self.timing.compile = time.perf_counter() - t0

    def swappable(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Keep the data arrays the compiled graph uses (nutpie rejects unknown names)."""
        keys = getattr(self._compiled, "shared_var_keys", None)
        if keys is None:
            names = {v.name for v in getattr(self.model, "data_vars", [])}
            return {k: v for k, v in data.items() if not names or k in names}
        used = {getattr(v, "name", v) for v in keys}
        return {k: v for k, v in data.items() if k in used}

    def sample(self, data: dict[str, np.ndarray] | None = None, seed: int | None = None,
               progress: bool | None = None, cores: int | None = None) -> Any:
        """Draw from the posterior, optionally with new data; return an arviz DataTree.

        ``data`` may hold arrays the graph does not use (they are ignored); ``cores`` caps the
        threads of this one run (default: one per chain, at most the machine's cores).
        """
        cfg = self.config
        seed = cfg.seed if seed is None else seed
        progress = cfg.progress if progress is None else progress
        cores = min(cfg.chains, os.cpu_count() or 1) if cores is None else cores
        data = self.swappable(data) if data else data
        t0 = time.perf_counter()
        if cfg.sampler == "nutpie":
            import nutpie

            compiled = self._compiled.with_data(**data) if data else self._compiled
            tree = nutpie.sample(
                compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains, seed=int(seed),
                progress_bar=progress, target_accept=cfg.target_accept, save_warmup=False,
                cores=cores,
            )
            require_complete(tree, cfg.draws, cfg.chains)
        else:
            import pymc as pm

            with self.model:
                if data:
                    pm.set_data(data)
                if cfg.sampler == "numpyro":
                    os.environ.setdefault(
                        "XLA_FLAGS", f"--xla_force_host_platform_device_count={cfg.chains}"
                    )
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*run at least 4 chains.*")
                    warnings.filterwarnings("ignore", message=".*rhat statistic.*")
                    warnings.filterwarnings("ignore", message=".*effective sample size.*")
                    tree = pm.sample(
                        draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                        cores=cores, random_seed=int(seed),
                        progressbar=progress, nuts_sampler=cfg.sampler,
                        nuts={"target_accept": cfg.target_accept},
                        compute_convergence_checks=False, quiet=not progress,
                    )
        self.timing.sample = time.perf_counter() - t0
        return tree


def require_complete(tree: Any, draws: int, chains: int) -> None:
    """Raise :class:`~emergence.errors.Interrupted` unless ``tree`` holds every draw asked for.

    nutpie returns the draws made so far when sampling is stopped with Ctrl-C (shorter chains
    padded with NaN); such a partial posterior must never be taken for a result.

    Examples
    --------
    >>> import numpy as np, arviz as az
    >>> tree = az.from_dict({"posterior": {"mu": np.zeros((2, 10))}})
    >>> require_complete(tree, draws=10, chains=2)
    >>> from emergence.errors import Interrupted
    >>> try:
    ...     require_complete(tree, draws=100, chains=2)
    ... except Interrupted as exc:
    ...     print(exc)
    sampling stopped after 20 of 200 draws (2 chains); ...
    """
    from .errors import Interrupted

    wanted = int(draws) * int(chains)
    post = tree["posterior"] if "posterior" in getattr(tree, "children", {}) else None
    got = 0
    if post is not None and post.data_vars:
        names = [v for v in post.data_vars if post[v].dtype.kind == "f" and post[v].size] or list(
            post.data_vars)  # a float variable with values (an empty one is all-NaN vacuously)
        vals = np.asarray(post[names[0]].values)
        flat = vals.reshape(vals.shape[0], vals.shape[1], -1) if vals.ndim >= 2 else vals[None]
        got = int((~np.isnan(flat).all(axis=2)).sum()) if vals.dtype.kind == "f" else flat.shape[
            0] * flat.shape[1]
    if got < wanted:
        raise Interrupted(f"sampling stopped after {got:,} of {wanted:,} draws ({chains} "
                          "chains); the partial posterior was discarded and nothing was saved")


def diagnostics(tree: Any, var_names: list[str], dim: str = "series") -> tuple[pd.DataFrame, dict]:
    """R-hat, bulk/tail ESS per series (worst over ``var_names``) and overall.

    With the per-curve engine (a ``curve_diagnostics`` group) a series' R-hat and ESS are also
    the worst of its stage-1 values; after a population step ``ess_pool`` is the number of
    effective stage-1 draws its pooled posterior was drawn from
    (:func:`emergence.engine.pool_ess`), a bound on the precision of pooled estimates that the
    ESS of the pooled draws does not see (NaN without one).

    Returns
    -------
    per_series : pandas.DataFrame
        Indexed by position along ``dim``: ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``.
    overall : dict
        Worst values over every variable, number of divergences, draws and chains.
    """
    import arviz as az

    post = tree["posterior"]
    names = [v for v in var_names if v in post]
    rhat = _group(az.rhat(tree, var_names=names)) if names else None
    ess_b = _group(az.ess(tree, var_names=names, method="bulk")) if names else None
    ess_t = _group(az.ess(tree, var_names=names, method="tail")) if names else None
    n = post.sizes.get(dim, 0)
    per = pd.DataFrame({"rhat_max": np.full(n, np.nan), "ess_bulk_min": np.full(n, np.inf),
                        "ess_tail_min": np.full(n, np.inf), "ess_pool": np.full(n, np.nan)})
    overall = {"rhat_max": 1.0, "ess_bulk_min": np.inf, "ess_tail_min": np.inf}
    for v in names:
        r, eb, et = (np.asarray(d[v].values, dtype=float) for d in (rhat, ess_b, ess_t))
        overall["rhat_max"] = float(np.nanmax([overall["rhat_max"], np.nanmax(r)]))
        overall["ess_bulk_min"] = float(min(overall["ess_bulk_min"], np.nanmin(eb)))
        overall["ess_tail_min"] = float(min(overall["ess_tail_min"], np.nanmin(et)))
        dims = post[v].dims[2:]
        if dims == (dim,):
            per["rhat_max"] = np.fmax(per["rhat_max"].to_numpy(), r)
            per["ess_bulk_min"] = np.fmin(per["ess_bulk_min"].to_numpy(), eb)
            per["ess_tail_min"] = np.fmin(per["ess_tail_min"].to_numpy(), et)
    stats = tree["sample_stats"] if "sample_stats" in tree.children else None
    div = stats["diverging"] if stats is not None and "diverging" in stats else None
    overall["divergences"] = int(np.sum(div.values)) if div is not None else 0
    if div is not None and dim in div.dims:  # per-curve engine: divergences are per series
        per["divergences"] = div.sum([d for d in div.dims if d != dim]).values.astype(int)
    else:  # one joint run: every series shares the run's divergences
        per["divergences"] = overall["divergences"]
    if "curve_diagnostics" in tree.children:  # stage 1 of the per-curve engine
        cd = tree["curve_diagnostics"]
        if "ess_pool" in cd:
            per["ess_pool"] = cd["ess_pool"].values
        per["rhat_max"] = np.fmax(per["rhat_max"].to_numpy(), cd["rhat_max"].values)
        per["ess_bulk_min"] = np.fmin(per["ess_bulk_min"].to_numpy(), cd["ess_bulk_min"].values)
        per["ess_tail_min"] = np.fmin(per["ess_tail_min"].to_numpy(), cd["ess_tail_min"].values)
        # R-hat is NaN (not applicable) for curves with importance draws: fmax skips it, and
        # where every curve has them the posterior's own R-hat stands
        overall["rhat_max"] = float(np.fmax.reduce(cd["rhat_max"].values,
                                                   initial=overall["rhat_max"]))
        overall["ess_bulk_min"] = float(np.fmin.reduce(cd["ess_bulk_min"].values,
                                                       initial=overall["ess_bulk_min"]))
    overall["chains"] = int(post.sizes["chain"])
    overall["draws"] = int(post.sizes["draw"])
    return per, overall


def _group(result: Any, name: str = "posterior") -> Any:
    """arviz returns the group node itself when the tree has one group; normalise to it."""
    if hasattr(result, "children") and name in result.children:
        return result[name]
    return result


def diagnostic_failures(values: Any, config: Config) -> list[str]:
    """Failed checks, in words, of ``rhat_max``, ``ess_bulk_min`` and ``divergences`` (a dict or
    a row) against the config's thresholds; empty when all pass."""
    fails = []
    if values["rhat_max"] > config.rhat_max:
        fails.append(f"R-hat {values['rhat_max']:.3f} > {config.rhat_max}")
    if values["ess_bulk_min"] < config.ess_min:
        fails.append(f"bulk ESS {values['ess_bulk_min']:.0f} < {config.ess_min:.0f}")
    if values.get("divergences", 0) > 0:
        fails.append(f"{int(values['divergences'])} divergent transitions")
    return fails


def check_diagnostics(values: Any, config: Config, what: str = "fit") -> list[str]:
    """Failures in words (empty when all pass), with one warning if any.

    ``values`` is a dict of overall diagnostics, or a per-series DataFrame (with ``label``):
    then each failing curve is named, and the other curves are unaffected.
    """
    if isinstance(values, pd.DataFrame):
        fails = []
        for _, r in values.iterrows():
            f = diagnostic_failures(r, config)
            if f:
                fails.append(f"{r['label']}: {', '.join(f)}")
        if fails:
            shown = "; ".join(fails[:3]) + (f"; and {len(fails) - 3} more" if len(fails) > 3 else "")
            warnings.warn(
                f"MCMC diagnostics failed for {len(fails)} of {len(values)} curve(s) of the {what} "
                f"({shown}); those curves' numbers are not trustworthy, the other curves are "
                f"unaffected. {DIAGNOSTIC_HELP}", ConvergenceWarning, stacklevel=3)
        return fails
    fails = diagnostic_failures(values, config)
    if fails:
        warnings.warn(
            f"MCMC diagnostics of the {what} failed ({'; '.join(fails)}); its numbers are not "
            f"trustworthy. {DIAGNOSTIC_HELP}",
            ConvergenceWarning, stacklevel=3,
        )
    return fails
