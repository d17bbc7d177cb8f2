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


#: Model-to-model sd on the logit scale of the realistic families (issue 12: models of one
#: family differ in data and recipe, not only in size).
MODEL_LOGIT_SD = 0.35


def realistic_truths(
    kind: str,
    x: Sequence[float] | np.ndarray,
    *,
    n_tasks: int = 6,
    ceilings: tuple[float, float] = (0.7, 0.95),
    chances: Sequence[float] = (0.0, 0.25),
    edge: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Sigmoid truths of sharp or smooth tasks with thresholds inside the tested range.

    Widths are evenly spaced over 0.3-0.6 decades (``kind="sharp"``) or 2.5-4 decades
    (``kind="smooth"``); midpoints are evenly spaced over the tested range less ``edge`` decades
    at each end, in a shuffled order (so width and threshold are not aligned); chance levels
    cycle through ``chances``; ceilings are drawn uniformly from ``ceilings`` and expressed as
    ``lapse`` (the unreached share of the head-room above chance).

    Parameters
    ----------
    kind : {"sharp", "smooth"}
        Width range of the truths.
    x : array
        log10 scales of the grid (sets the midpoint range).
    n_tasks : int
        Number of tasks.
    ceilings : (float, float)
        Range of the highest attainable score.
    chances : sequence of float
        Chance levels, assigned to the tasks in turn.
    edge : float
        Margin in decades between the midpoints and the ends of the grid.
    seed : int
        Seed of the midpoint order and the ceilings.

    Returns
    -------
    pandas.DataFrame
        ``task, x0, logk, width, chance, ceiling, lapse`` (one row per task).

    Examples
    --------
    >>> t = realistic_truths("sharp", np.linspace(8, 11, 16), seed=1)
    >>> bool(t["width"].between(0.3, 0.6).all() and t["x0"].between(8, 11).all())
    True
    """
    widths = {"sharp": (0.3, 0.6), "smooth": (2.5, 4.0)}
    if kind not in widths:
        raise ValueError(f"kind={kind!r}: choose 'sharp' or 'smooth'.")
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    width = np.linspace(*widths[kind], n_tasks)
    x0 = rng.permutation(np.linspace(x.min() + edge, x.max() - edge, n_tasks))
    chance = np.resize(np.asarray(chances, dtype=float), n_tasks)
    ceiling = rng.uniform(*ceilings, n_tasks)
    return pd.DataFrame({
        "task": [f"{kind}_{i}" for i in range(n_tasks)], "x0": x0,
        "logk": np.log(2 * C.LN9 / width), "width": width, "chance": chance,
        "ceiling": ceiling, "lapse": 1 - (ceiling - chance) / (1 - chance),
    })


def simulate_families(
    truths: pd.DataFrame,
    x: Sequence[float] | np.ndarray,
    *,
    curve: str = "sigmoid",
    n_items: int = 2000,
    model_sd: float = MODEL_LOGIT_SD,
    family: str = "sim",
    metric: str = "acc",
    seed: int | np.random.Generator = 0,
) -> pd.DataFrame:
    """Scores of a model family whose models lie off the curve by logit-scale offsets.

    Each (task, model) score is drawn as ``logit p = logit mu(x) + e``, ``e ~ Normal(0,
    model_sd)``, then ``k ~ Binomial(n_items, p)`` -- the ``logitnormal`` likelihood's own
    :meth:`~emergence.models.likelihoods.Likelihood.draw` with ``tau = model_sd``; the mean
    curve ``mu`` comes from :mod:`emergence.curves`.

    Parameters
    ----------
    truths : pandas.DataFrame
        One row per task: ``task``, the curve's parameters, ``chance`` and ``lapse`` (e.g. from
        :func:`realistic_truths`).
    x : array
        log10 scales (one model of the family per scale).
    curve : str
        Curve name in :data:`emergence.curves.CURVES`.
    n_items : int
        Items per evaluation.
    model_sd : float
        Model-to-model sd on the logit scale (0 gives plain binomial scores).
    family, metric : str
        Labels of the table.
    seed : int or numpy Generator
        Random seed.

    Returns
    -------
    pandas.DataFrame
        A tidy table (task, model, family, params, metric, score, n_items, chance) that
        :func:`emergence.load_scores` reads.

    Examples
    --------
    >>> x = np.linspace(8, 11, 16)
    >>> df = simulate_families(realistic_truths("smooth", x), x, seed=0)
    >>> len(df), bool(df["score"].between(0, 1).all())
    (96, True)
    """
    from .models.likelihoods import get_likelihood

    rng = np.random.default_rng(seed)
    rise = C.get_curve(curve)
    x = np.asarray(x, dtype=float)
    lik = get_likelihood("logitnormal" if model_sd > 0 else "binomial")
    noise = np.log(model_sd) if model_sd > 0 else None
    frames = []
    for _, t in truths.iterrows():
        mu = C.mean(rise, x, t["chance"], t["lapse"], **{k: t[k] for k in rise.params})
        k = np.rint(lik.draw(rng, mu, noise, np.full(x.shape, float(n_items))) * n_items)
        frames.append(pd.DataFrame({
            "task": t["task"], "model": [f"{family}-{10**xi:.3g}" for xi in x],
            "family": family, "params": 10**x, "metric": metric, "score": k / n_items,
            "n_items": n_items, "chance": t["chance"]}))
    return pd.concat(frames, ignore_index=True)
