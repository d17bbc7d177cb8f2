"""The population step with the stage-1 draw indices summed out (docs/engine.md, "A slowly
mixing population chain").

The population step (:func:`emergence.engine.run_stage_two`) targets the hyperparameters
``h`` and one index per curve into its pool of stage-1 draws,
``p(h, i) ∝ p(h) prod_s w_s[i_s](h)``, with ``w_s[j](h)`` the population density of draw
``j`` of curve ``s`` over its stage-1 term. Summing the indices out leaves

    p(h | pools) ∝ p(h) prod_s mean_j w_s[j](h),

a density of a few numbers (``mu`` and ``log sigma`` of each pooled parameter), and given
``h`` each index is a draw from its curve's weights. With many curves the Metropolis-within-
Gibbs chain moves ``h`` only as fast as all the indices move together (a population spread
that is small against the curves' own uncertainty is pinned by the current indices), so at
T = 1000 curves it needed 15 times its length and still reached a bulk ESS of 15-41 for the
noise population's spread. Here ``h`` is drawn by independence Metropolis from a Student-t
fitted to that chain's draws, each state with exact index draws: the chain mixes as well
as the proposal fits (checked by the Pareto k-hat of its weights), whatever the number of
curves. Each proposal costs one pass over every curve's pool (curves x draws x pooled
parameters population densities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Kept draws per proposed hyperparameter state at first: each state carries this many
#: independent draws of the indices given it. Halved, with as many proposals again, while the
#: smallest bulk ESS is below the target (down to 1: one proposal per kept draw).
REPEATS = 4
#: Index draws per proposed state: a state kept several times (repeats, or proposals
#: rejected after it) takes a fresh one each time, cycling through these.
INDEX_SETS = 8
#: Degrees of freedom of the Student-t proposal and its scale over the chain draws' covariance.
PROPOSAL_DF = 4.0
PROPOSAL_INFLATE = 1.2
#: Largest Pareto k-hat of the proposal's importance weights for the draws to be used.
KHAT_MAX = 0.7
#: Smallest Kish size of the weighted states for the proposal to be refitted to them.
REFIT_MIN = 50

#: compiled programs by the population densities' key
_PROGRAMS: dict[str, Any] = {}


@dataclass
class Collapsed:
    """Population draws in the layout of the Metropolis-within-Gibbs chain's kept states:
    ``ix`` (draws, chains, curves, padded) and ``hh`` (draws, J, chains, 2: ``mu``,
    ``log sigma``), the Pareto k-hat of the proposal's weights, the acceptance rate, the bulk ESS
    of each hyperparameter and the number of proposals evaluated."""

    ix: np.ndarray
    hh: np.ndarray
    khat: float
    accept: float
    ess: dict[str, float]
    proposals: int


def _programs(dens: Any) -> Any:
    """``step(hs, u, data)``: for each proposed state ``hs[b]`` (J, 2) its log density with
    the indices summed out and ``u.shape[1]`` index draws per curve given it (from the
    uniforms ``u[b]`` (:data:`INDEX_SETS`, curves)); compiled once per population
    (``dens.key``)."""
    from .engine import _jax, _persistent, invert_cdf, pool_weight

    if dens.key not in _PROGRAMS:
        jax = _jax()
        jnp = jax.numpy
        pop, hyp = dens.jax_population, dens.jax_hyper

        def one(h: Any, u: Any, data: tuple) -> tuple[Any, Any]:
            TL, mask, n, ctx = data[:4]
            J, (Sp, n_pad) = TL.shape[2] - 1, TL.shape[:2]
            theta = jnp.moveaxis(TL[..., :J], -1, 0)  # (J, Sp, n_pad)
            mu = jnp.broadcast_to(h[:, None, None, 0], (J, Sp, 1))
            log_sd = jnp.broadcast_to(h[:, None, None, 1], (J, Sp, 1))
            lw = pool_weight(pop, theta, mu, log_sd, TL[..., J])
            lw = jnp.where(jnp.arange(n_pad) < n, jnp.nan_to_num(lw, nan=-jnp.inf), -jnp.inf)
            top = jnp.max(lw, axis=1, keepdims=True)
            top = jnp.where(jnp.isfinite(top), top, 0.0)
            cdf = jnp.cumsum(jnp.exp(lw - top), axis=1)
            lz = jnp.where(mask > 0, jnp.log(cdf[:, -1]) + top[:, 0] - jnp.log(n), 0.0)
            lp = lz.sum() + hyp(h[:, :1], jnp.exp(h[:, 1:]), ctx).sum() + h[:, 1].sum()
            return jnp.nan_to_num(lp, nan=-jnp.inf), invert_cdf(cdf, u, n)

        def step(hs: Any, u: Any, data: tuple) -> tuple[Any, Any]:
            return jax.lax.map(lambda a: one(a[0], a[1], data), (hs, u))

        _PROGRAMS[dens.key] = _persistent(step, f"collapsed {dens.key}")
    return _PROGRAMS[dens.key]


def _proposal(flat: np.ndarray, w: np.ndarray | None = None) -> Any:
    """Student-t (:data:`PROPOSAL_DF`) over the flattened (mu, log sigma) of every pooled
    parameter: centred on the draws ``flat`` (n, 2J) (weighted by ``w`` when given), its
    scale their covariance times :data:`PROPOSAL_INFLATE`."""
    from scipy import stats

    mean = np.average(flat, axis=0, weights=w)
    cov = np.cov(flat, rowvar=False, aweights=w) * PROPOSAL_INFLATE
    cov += np.eye(len(cov)) * 1e-9 * max(np.trace(cov), 1e-12)
    return stats.multivariate_t(loc=mean, shape=cov, df=PROPOSAL_DF)


def _refit(q: Any, hs: np.ndarray, lw: np.ndarray) -> Any:
    """The proposal refitted to the states proposed so far, ``hs`` (n, 2J), weighted by
    their importance weights ``exp(lw)``; ``q`` itself when those weights rest on fewer than
    :data:`REFIT_MIN` effective draws."""
    w = np.exp(lw - lw.max())
    if not np.isfinite(w).all() or w.sum() ** 2 / np.sum(w ** 2) < REFIT_MIN:
        return q
    return _proposal(hs, w)


def _imh(lw: np.ndarray, log_u: np.ndarray, restart: dict[int, np.ndarray]
         ) -> tuple[np.ndarray, float]:
    """Independence Metropolis through each chain's proposals in order (``lw`` (C, M): log
    target over the proposal each was drawn from; ``log_u`` (C, >= M) the log uniforms of the
    decisions): the proposal each state holds, (C, M), and the acceptance rate. A chain
    starts at its first proposal. Where the proposal changes, at slot ``t`` in ``restart``,
    ``restart[t]`` (C, t) gives the log weights of the earlier proposals under the new one,
    which the current state's weight is then read from."""
    C, M = lw.shape
    state = np.zeros((C, M), int)
    taken = 0
    for c in range(C):
        cur, now = 0, lw[c, 0]
        for t in range(1, M):
            if t in restart:
                now = restart[t][c, cur]
            if log_u[c, t] < lw[c, t] - now:
                cur, now, taken = t, lw[c, t], taken + 1
            state[c, t] = cur
    return state, taken / max(C * (M - 1), 1)


def _occurrence(kept: np.ndarray) -> np.ndarray:
    """For each kept draw (C, D), how many earlier draws of its chain hold the same proposal
    (a chain holds a proposal for one run of consecutive draws).

    >>> _occurrence(np.array([[0, 0, 0, 3, 3, 5]]))
    array([[0, 1, 2, 0, 1, 0]])
    """
    new = np.ones(kept.shape, bool)
    new[:, 1:] = kept[:, 1:] != kept[:, :-1]
    pos = np.arange(kept.shape[1])[None].repeat(len(kept), 0)
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return pos - start


def _evaluate(dens: Any, data: tuple, hs: np.ndarray, u: np.ndarray,
              groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Log target (C, m) and index draws (C, m, sets, curves) of the proposed states ``hs``
    (C, m, J, 2), from the uniforms ``u`` (C, m, sets, curves); chain groups on threads."""
    from .engine import _thread_map

    step = _programs(dens)
    C, m, J = hs.shape[:3]

    def run(g: np.ndarray) -> list[np.ndarray]:
        out = step(hs[g].reshape(-1, J, 2), u[g].reshape(-1, *u.shape[2:]), data)
        return [np.asarray(a) for a in out]

    out = _thread_map(run, groups)
    return (np.concatenate([o[0] for o in out]).reshape(C, m),
            np.concatenate([o[1] for o in out]).reshape(u.shape))


def collapsed_draws(dens: Any, data: tuple, hh: np.ndarray, draws: int, seed: int,
                    groups: list[np.ndarray], names: list[str], ess_min: float
                    ) -> Collapsed | None:
    """Population draws by independence Metropolis on ``p(h | pools)`` (module docstring),
    ``draws`` per chain, from a Student-t fitted to the chain draws ``hh`` (n, J, C, 2).

    The chain first runs through ``draws / REPEATS`` proposals, each proposed state kept
    :data:`REPEATS` times, each time with its own exact index draws (:data:`INDEX_SETS`).
    While the smallest bulk ESS is below ``ess_min`` it continues through as many proposals
    again with half the repeats, down to one proposal per kept draw, each time from the
    Student-t refitted to the states proposed so far (importance-weighted; the refit uses
    every chain's proposals, so a chain's later kernel depends weakly on its own past).
    ``None`` when a proposal's Pareto k-hat is :data:`KHAT_MAX` or more (it does not cover
    the target: the caller keeps its chain). ``data`` is the chain's padded data
    (:func:`emergence.engine._stage_two_start`); the chains run in ``groups`` on threads (the
    draws do not depend on the grouping)."""
    from .engine import curve_seed, hyper_ess, pareto_khat

    J, C, Sp = hh.shape[1], hh.shape[2], data[0].shape[0]
    rng = np.random.default_rng(curve_seed(seed, "__collapsed__"))
    q = _proposal(np.moveaxis(hh, 2, 1).reshape(-1, 2 * J))
    hs = np.zeros((C, draws, J, 2))
    lp, lw = np.full((C, draws), -np.inf), np.full((C, draws), -np.inf)  # target, over proposal
    picks = np.zeros((C, draws, INDEX_SETS, Sp), np.int32)
    log_u, restart = np.log(rng.uniform(size=(C, draws))), {}
    reps, lo, rows = REPEATS, 0, np.arange(C)[:, None]
    while True:
        hi = -(-draws // reps)
        if lo:
            q = _refit(q, hs[:, :lo].reshape(-1, 2 * J), lw[:, :lo].ravel())
            restart[lo] = lp[:, :lo] - q.logpdf(hs[:, :lo].reshape(-1, 2 * J)).reshape(C, lo)
        hs[:, lo:hi] = np.asarray(q.rvs(size=C * (hi - lo), random_state=rng)).reshape(
            C, hi - lo, J, 2)
        lp[:, lo:hi], picks[:, lo:hi] = _evaluate(
            dens, data, hs[:, lo:hi], rng.uniform(size=(C, hi - lo, INDEX_SETS, Sp)), groups)
        lw[:, lo:hi] = lp[:, lo:hi] - q.logpdf(hs[:, lo:hi].reshape(-1, 2 * J)).reshape(C, -1)
        khat = pareto_khat(lw[:, lo:hi])
        if khat >= KHAT_MAX:
            return None
        state, accept = _imh(lw[:, :hi], log_u, restart)
        kept = np.repeat(state, reps, axis=1)[:, :draws]  # the proposal behind each draw
        ix = picks[rows, kept, _occurrence(kept) % INDEX_SETS]  # (C, draws, Sp)
        h = np.transpose(hs[rows, kept], (1, 2, 0, 3))
        ess = hyper_ess(h, names)  # h: (draws, J, C, 2)
        if min(ess.values()) >= ess_min or reps == 1:
            return Collapsed(np.moveaxis(ix, 0, 1), h, khat, accept, ess, hi * C)
        reps, lo = reps // 2, hi
