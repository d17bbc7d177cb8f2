"""Simulated score tables with known truths (for tests, validation and examples).

Uses the numpy curves of :mod:`emergence.curves`; no PyMC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import curves as C


def simulate_table(
    curve: str,
    truths: Sequence[dict[str, Any]],
    x: Sequence[float] | np.ndarray,
    *,
    n_items: int = 1000,
    chance: float = 0.0,
    overdispersion: float | None = None,
    seed: int | np.random.Generator = 0,
    family: str = "sim",
    metric: str = "acc",
) -> pd.DataFrame:
    """Simulate binomial (or beta-binomial) scores of several tasks from known curves.

    Parameters
    ----------
    curve : str
        Curve name in :data:`emergence.curves.CURVES` (e.g. ``"sigmoid"``).
    truths : sequence of dict
        One dict per task: ``task`` (name), the curve's parameters (e.g. ``x0``, ``logk``) and
        ``lapse`` (unreached fraction of the head-room, default 0).
    x : array
        log10 scales at which every task is observed.
    n_items : int
        Items per evaluation.
    chance : float
        Chance floor.
    overdispersion : float, optional
        Beta-binomial concentration phi; ``None`` gives plain binomial noise.
    seed : int or numpy Generator
        Random seed.

    Returns
    -------
    pandas.DataFrame
        A tidy table (task, model, family, params, metric, score, n_items, chance).
    """
    rng = np.random.default_rng(seed)
    rise = C.get_curve(curve)
    x = np.asarray(x, dtype=float)
    rows = []
    for t in truths:
        p = {k: t[k] for k in rise.params}
        mu = C.mean(rise, x, chance, t.get("lapse", 0.0), **p)
        if overdispersion is not None:
            mu = rng.beta(mu * overdispersion, (1 - mu) * overdispersion)
        k = rng.binomial(n_items, mu)
        for xi, ki in zip(x, k, strict=True):
            rows.append({"task": t["task"], "model": f"{family}-{10**xi:.3g}", "family": family,
                         "params": 10**xi, "metric": metric, "score": ki / n_items,
                         "n_items": n_items, "chance": chance})
    return pd.DataFrame(rows)


def sigmoid_population(
    n_tasks: int,
    *,
    seed: int = 0,
    x0_mean: float = 10.0,
    x0_sd: float = 0.5,
    logk_mean: float = 1.2,
    logk_sd: float = 0.35,
    lapse_range: tuple[float, float] = (0.02, 0.15),
) -> pd.DataFrame:
    """Draw per-task sigmoid truths from a normal population (the model's own assumption).

    Returns a DataFrame with ``task, x0, logk, lapse`` and the implied ``width``.
    """
    rng = np.random.default_rng(seed)
    x0 = rng.normal(x0_mean, x0_sd, n_tasks)
    logk = rng.normal(logk_mean, logk_sd, n_tasks)
    lapse = rng.uniform(*lapse_range, n_tasks)
    return pd.DataFrame({
        "task": [f"task_{i:02d}" for i in range(n_tasks)], "x0": x0, "logk": logk,
        "lapse": lapse, "width": 2 * C.LN9 / np.exp(logk),
    })
