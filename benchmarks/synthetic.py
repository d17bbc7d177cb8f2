"""Synthetic benchmark tables shared by the benchmark scripts.

``synthetic_table(T)``: T sigmoid tasks observed at 8 scales over 4 decades (1e8-1e12), 1000
items, chance 0.25, lapse 0.05, thresholds uniform in 1e9-1e11, log steepness Normal(1.5, 0.5),
and model-to-model variation on the logit scale with sd ``tau`` (0.35, as measured between real
models of one family; ``tau=0`` gives item sampling only) -- the package's default noise model.
"""

from __future__ import annotations

import numpy as np


def synthetic_table(T: int, seed: int = 0, tau: float = 0.35):
    """A validated ScoreTable of T simulated tasks (see module docstring)."""
    import pandas as pd

    from emergence.data import validate

    rng = np.random.default_rng(seed)
    x = np.linspace(8, 12, 8)
    x0 = rng.uniform(9, 11, T)[:, None]
    k = np.exp(rng.normal(1.5, 0.5, T))[:, None]
    mu = 0.25 + 0.75 * 0.95 / (1 + np.exp(-k * (x[None, :] - x0)))
    eta = np.log(mu) - np.log1p(-mu) + tau * rng.standard_normal(mu.shape)
    kk = rng.binomial(1000, 1 / (1 + np.exp(-eta)))
    df = pd.DataFrame({
        "task": np.repeat([f"t{i}" for i in range(T)], len(x)),
        "model": [f"m{j}" for _ in range(T) for j in range(len(x))],
        "family": "sim", "params": np.tile(10.0 ** x, T), "metric": "acc",
        "score": kk.ravel() / 1000, "n_items": 1000, "chance": 0.25})
    return validate(df, warn=False)
