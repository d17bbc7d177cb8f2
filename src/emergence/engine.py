"""Per-curve inference: every curve sampled at once, then the population step.

The joint posterior of a score table is many small per-curve posteriors (3-6 parameters each)
tied by a few population parameters. This engine exploits that structure in two stages
(Lunn, Barrett, Sweeting & Thompson 2013, *Stat Med* 32:4, "Fully Bayesian hierarchical
modelling in two stages"):

1. **Stage 1 -- every curve alone, vectorised.** Each curve's posterior under wide, proper
   stage-1 priors (:meth:`emergence.models.CurveModel.build_curve`) is sampled with NUTS
   (blackjax) under ``jax.vmap`` over curves and chains: one JAX compile of the PyMC log
   density for every curve, each chain with its own step size and mass matrix (window
   adaptation). A sampling problem in one curve stays in that curve: its diagnostics are its
   own, and it alone is re-sampled (higher target acceptance) when they fail.
2. **Stage 2 -- the population.** A Metropolis-within-Gibbs chain over the population
   parameters and, per curve, an index into its stage-1 draws: a curve's draw ``j`` is proposed
   uniformly and accepted with the ratio of ``population(theta_j) / stage1_prior(theta_j)``;
   the hyperparameters get random-walk updates given the current curve parameters. Its
   stationary distribution is the joint hierarchical posterior (with the stage-1 draws standing
   in for each curve's likelihood), so partial pooling is kept while the cost is linear in the
   number of curves.

Seeds are derived per curve from its label, so a curve's draws do not depend on which other
curves are in the batch, on the batch size or on the scheduler.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ._concurrent import PYTENSOR_LOCK, built_when_called, busy
from ._programs import cache_root, persistent_jit
from .collapsed import collapsed_draws

#: Lanes (curve x chain) per vectorised batch. The cost of a batch grows linearly with its width
#: (compute-bound: about 1 us per lane and gradient for 8 rows; measured 2026-11-27 on
#: ObsScaling emergent, 156 lanes: 2.5 s at widths 8, 16 and 32 alike), so lanes run in narrow
#: fixed-width chunks, one thread per core: one compile, little padding (re-runs of 4 curves
#: took 1.45 s at width 8 and 5.35 s at width 32).
WIDTH = 8
#: Width of the chunks of the per-curve remedies (re-runs, extensions, the light fallback),
#: which run few curves: one curve's 4 chains at 64 steps took 2.42 s padded into one chunk of
#: 8 and 1.16 s in one chunk of 4 (OPT, 2026-11-27), and two curves fill both cores. A fixed
#: width per kind of run keeps a curve's draws bit-for-bit independent of the other curves
#: (XLA's results differ in the last bits between widths).
RERUN_WIDTH = 4
#: Burn-in iterations of the population chain, rounded up to whole blocks of
#: STAGE2_BLOCK x STAGE2_THIN (its draws are ``config.draws`` per chain,
#: every STAGE2_THIN-th iteration kept; each iteration proposes INDEX_PROPOSALS new stage-1
#: draws per curve).
STAGE2_BURN = 500
STAGE2_THIN = 16
#: Kept states per compiled block of the population chain (burn-in runs whole blocks).
STAGE2_BLOCK = 50
INDEX_PROPOSALS = 5
#: Extensions of a slowly mixing population chain (2, 4, 8 times the draws; see run_stage_two).
STAGE2_EXTEND = 3
#: Random-walk updates of the hyperparameters per iteration.
HYPER_STEPS = 3
#: Leapfrog steps per HMC transition. Under ``vmap`` a NUTS batch waits for its longest
#: trajectory every iteration (measured: mean 24, max 63 steps on ObsScaling emergent, 3.2x the
#: wall time of HMC with 16 steps for a lower ESS); a fixed count keeps every lane busy. The step
#: size is adapted per lane and jittered by +-20 % per transition against periodic orbits.
HMC_STEPS = 24
STEP_JITTER = 0.2
#: Half-width of the uniform jitter (unconstrained units) of the chains that start where a
#: curve's data rise (:meth:`CurveSampler._data_starts`); the others get +-1 about the prior's
#: centre. A jitter of 1 would move a threshold out of the gap between two tested scales.
DATA_JITTER = 0.2
#: Leapfrog steps of the re-runs of curves that diverged or mixed slowly (longer trajectories
#: cross the long ridges of curves whose ceiling or threshold the data leave open).
RETRY_STEPS = 64
#: Transitions per compiled block: warm-up and sampling run as repeated calls of two programs
#: of BLOCK transitions, so neither ``tune`` nor ``draws`` is compiled in.
BLOCK = 50
#: Target acceptance of the automatic per-curve retry.
RETRY_TARGET_ACCEPT = 0.99
#: Importance path of stage 1 (:meth:`CurveSampler.importance`): stage-1 prior draws per curve
#: (IS_FACTOR x its chains x draws, at least IS_MIN_DRAWS), and the Pareto k-hat below which
#: their likelihood weights are trusted. (4 x, 8192 draws at the defaults, made a check of the
#: OPT folder 10 % faster, but its SBC at 500 draws put 135 of 1000 x0 ranks in the top bin,
#: p 0.0007: not adopted, docs/validation.md, 2026-11-28.)
IS_FACTOR = 16
IS_MIN_DRAWS = 8192
IS_KHAT_MAX = 0.7
#: Second importance proposal (:meth:`CurveSampler.importance` with ``hmc`` draws): a
#: multivariate Student-t with IS_T_DF degrees of freedom at the mean and covariance of a
#: curve's own first-run HMC draws, for curves whose chains mixed slowly. Where k-hat is good
#: but the weights' ESS falls short of ``config.ess_min``, up to IS_TOPUP times the draws
#: are added.
IS_T_DF = 4.0
IS_TOPUP = 8
#: Share of the stage-1 prior in that proposal (a defensive mixture): it bounds the weights.
IS_DEFENSIVE = 0.1
#: Share of the covariance of all of a curve's draws added to each chain's own in the
#: Student-t proposal (:meth:`CurveSampler._t_proposal`).
IS_COV_FLOOR = 0.05
#: Proposal draws per curve when the proposal is fitted to draws of a nearby posterior (a
#: reference fit of the same curve, or the full data of a leave-one-scale-out fold): such a
#: proposal is close, and 8192 draws give the weights' effective sample size the bar of
#: ``ess_min`` with room (the Pareto k-hat and ESS checks still decide; short ESS adds draws).
NEAR_IS_DRAWS = 8192
#: Positions per call of the vectorised importance-sampling programs (:func:`_in_chunks`).
IS_CHUNK = 8192


_JAX_SETUP = threading.Lock()


def _jax() -> Any:
    """Import jax with 64-bit floats and the persistent compilation cache switched on.

    Compiled programs are kept in ``$EMERGENCE_JAX_CACHE`` (default
    ``~/.cache/emergence/jax``; an empty value turns the cache off), so a program is compiled
    once per machine, not once per process.
    """
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    import jax

    from .models._ops import register_jax_fixes

    register_jax_fixes()

    jax.config.update("jax_enable_x64", True)
    cache = cache_root()
    if cache and not getattr(_jax, "_cache_set", False):
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _jax._cache_set = True  # type: ignore[attr-defined]
    with _JAX_SETUP:
        if not getattr(_jax, "_trees_set", False):
            # the HMC state is an argument of the exported sampling programs (._programs)
            from blackjax.mcmc.hmc import HMCState

            jax.export.register_namedtuple_serialization(
                HMCState, serialized_name="blackjax.mcmc.hmc.HMCState")
            _jax._trees_set = True  # type: ignore[attr-defined]
    return jax


def _persistent(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    """:func:`._programs.persistent_jit` of ``fn``, keyed by ``what`` (the program and what it
    is compiled for) and the engine's module constants as they are now: a constant read while
    tracing, e.g. :data:`STAGE2_THIN`, changed at run time makes a new program rather than
    reusing one traced with the old value."""
    constants = sorted((k, v) for k, v in globals().items()
                       if k.isupper() and isinstance(v, (bool, int, float, str)))
    return persistent_jit(fn, key=f"{what} {constants!r}")


def _on_device(tree: Any) -> Any:
    """Host arrays of a program's carry as committed device arrays, like the carry the program
    returns: :func:`jax.jit` compiles an uncommitted (NumPy) argument separately from a
    committed one, so a loop whose first call passes NumPy and later calls pass the previous
    result compiled (or loaded from the cache) every program twice (measured: 8 of a
    ``check``'s 9 s of executable loading were such second copies of the HMC and population
    programs)."""
    jax = _jax()
    return jax.device_put(tree, jax.devices()[0])


def _thread_map(fn: Callable, items: list[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on up to ``os.cpu_count()`` threads (results in order)."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def curve_seed(seed: int, label: str, salt: int = 0) -> int:
    """A 31-bit seed for one curve from the run's seed and the curve's label (order-free)."""
    h = hashlib.sha256(f"{int(seed)}|{label}|{salt}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


@dataclass
class CurveProgram:
    """One curve model compiled to JAX: log density and constrained values of a position.

    Attributes
    ----------
    logp : callable
        ``logp(position, data) -> scalar``; ``position`` is a list of arrays (the PyMC value
        variables, unconstrained), ``data`` a list of per-row arrays in :attr:`data_names` order.
    prior_logp : callable
        The same for the stage-1 prior alone (``logp`` with every row's weight 0).
    constrain : callable
        ``constrain(position) -> list`` of constrained values in :attr:`var_names` order.
    init_for : callable
        ``init_for(context) -> list`` of unconstrained start values (PyMC's initial point,
        which depends on the context values, e.g. the prior's centre at the table's mid scale).
    prior_draw : callable
        ``prior_draw(n, rng, context) -> list`` of ``n`` unconstrained positions drawn from
        the stage-1 prior (each array (n, 1), in :attr:`value_names` order).
    unconstrain : callable
        ``unconstrain(values, context) -> list``: the unconstrained positions (each (n, 1)) of
        constrained values (each (n,), in :attr:`var_names` order), the inverse of
        :attr:`constrain`.
    """

    logp: Callable[..., Any]
    prior_logp: Callable[..., Any]
    constrain: Callable[..., Any]
    value_names: list[str]
    var_names: list[str]
    data_names: list[str]
    init_for: Callable[[dict[str, float]], list[np.ndarray]]
    n_rows: int
    prior_draw: Callable[..., list[np.ndarray]]
    unconstrain: Callable[..., list[np.ndarray]]


def compile_curve(model_cls: Any, md: Any, n_rows: int) -> CurveProgram:
    """Compile ``model_cls.build_curve(md, n_rows)`` to JAX with its data as inputs."""
    _jax()
    from pymc.sampling.jax import get_jaxified_graph
    from pytensor.graph.replace import graph_replace

    from .inference import keep_generated_sources

    keep_generated_sources()
    model = model_cls.build_curve(md, n_rows)
    shared = list(model.data_vars)
    inputs = [v.type(name=f"{v.name}_in") for v in shared]
    free = list(model.free_RVs)
    # the full density, and the stage-1 prior alone (no likelihood rows): the density of the
    # importance paths' prior proposals, at a fraction of the cost of the full density with
    # zero row weights
    logp, prior = graph_replace([model.logp(), model.logp(vars=free)],
                                dict(zip(shared, inputs, strict=True)), strict=False)
    # translated to JAX when first called: only tracing needs them (._programs)
    logp_fn = built_when_called(lambda: get_jaxified_graph(
        inputs=[*model.value_vars, *inputs], outputs=[logp]))
    prior_fn = built_when_called(lambda: get_jaxified_graph(
        inputs=[*model.value_vars, *inputs], outputs=[prior]))
    con_fn = built_when_called(lambda: get_jaxified_graph(
        inputs=model.value_vars, outputs=model.replace_rvs_by_values(free)))
    init_for, to_value, prior_draw = _context_functions(model, md)
    return CurveProgram(
        logp=lambda pos, data: logp_fn(*pos, *data)[0],
        prior_logp=lambda pos, data: prior_fn(*pos, *data)[0],
        constrain=lambda pos: con_fn(*pos),
        value_names=[v.name for v in model.value_vars],
        var_names=[v.name for v in free],
        data_names=[v.name for v in shared],
        init_for=init_for,
        n_rows=n_rows,
        prior_draw=prior_draw,
        unconstrain=to_value,
    )


def _context_functions(model: Any, md: Any) -> tuple[Callable[..., Any], ...]:
    """The host-side functions of a curve program that read the model's context values:
    initial point, constrained -> unconstrained values, stage-1 prior draws.

    The context values are shared variables of the one model: they are set and read in one
    step under :data:`PYTENSOR_LOCK` (check runs jobs of the same model on several threads).
    """
    import pytensor.tensor as pt
    from pymc.initial_point import make_initial_point_fn

    free = list(model.free_RVs)
    ip_fn = make_initial_point_fn(model=model, return_transformed=True)
    ctx_vars = {v.name: v for v in model.data_vars if v.name.startswith("ctx_")}

    def init_for(context: dict[str, float]) -> list[np.ndarray]:
        with PYTENSOR_LOCK:
            for k, v in context.items():
                ctx_vars[f"ctx_{k}"].set_value(np.float64(v))
            ip = ip_fn(0)
        return [np.asarray(ip[v.name], float) for v in model.value_vars]

    def to_value(values: list[np.ndarray], context: dict[str, float]) -> list[np.ndarray]:
        out = []
        with PYTENSOR_LOCK:
            for k, v in context.items():
                ctx_vars[f"ctx_{k}"].set_value(np.float64(v))
            for rv, d in zip(free, values, strict=True):
                d = np.asarray(d, float).reshape(-1, 1)
                tr = model.rvs_to_transforms.get(rv)
                if tr is not None:
                    d = np.asarray(tr.forward(pt.as_tensor(d), *rv.owner.inputs).eval(), float)
                out.append(d)
        return out

    def prior_draw(n: int, rng: np.random.Generator, context: dict[str, float]
                   ) -> list[np.ndarray]:
        return to_value([md.priors[rv.name].draw(n, context, seed=rng) for rv in free], context)

    return init_for, to_value, prior_draw


def _schedule(tune: int) -> tuple[np.ndarray, np.ndarray]:
    """Stan's warm-up windows: which tuning steps feed the mass matrix, and where windows end.

    An initial buffer (15 %) adapts the step size only, slow windows doubling from 25 steps
    estimate the (dense) mass matrix, a final buffer (10 %) re-adapts the step size.
    """
    init, term = max(int(0.15 * tune), 10), max(int(0.1 * tune), 10)
    in_win = np.zeros(tune, bool)
    ends = np.zeros(tune, bool)
    start, size = init, 25
    while start < tune - term:
        stop = start + size
        if stop + 2 * size > tune - term:
            stop = tune - term
        in_win[start:stop] = True
        ends[stop - 1] = True
        start, size = stop, 2 * size
    return in_win, ends


def psis_weights(lw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto-smoothed normalised importance weights of each row of log weights ``lw``
    (curves, draws), their k-hat and effective sample size ``1 / sum(w^2)`` (PSIS by
    arviz-stats).

    PSIS fits no tail to weights that are all equal there (counts far from any rise have
    likelihood 1): such weights are bounded, the best case of importance sampling; they are
    used as they are and get k-hat -inf.

    Examples
    --------
    >>> import numpy as np
    >>> lw = np.log(np.r_[np.ones(500), np.full(500, 1e-9)])[None]  # bounded: half the draws
    >>> w, k, ess = psis_weights(lw)
    >>> float(k[0]), round(float(ess[0]))
    (-inf, 500)
    """
    from arviz_stats.base.array import array_stats  # the numpy layer: 30x faster per row

    lw = np.nan_to_num(np.asarray(lw, float), nan=-1e30, neginf=-1e30)
    top = np.sort(lw, axis=1)[:, -int(np.ceil(3 * np.sqrt(lw.shape[1]))):]
    bounded = np.ptp(top, axis=1) < 1e-3
    slw, khat = lw.copy(), np.full(len(lw), -np.inf)
    for i in np.flatnonzero(~bounded):
        # arviz-stats' psislw takes a log-likelihood and smooths its negation (the LOO
        # convention, log weight = -log lik): pass -lw to smooth the weights lw themselves
        try:
            s_i, k_i = array_stats.psislw(-lw[i], axis=-1)
        except ValueError:  # no tail to fit
            khat[i] = np.inf
            continue
        slw[i], khat[i] = np.asarray(s_i, float), np.nan_to_num(float(k_i), nan=np.inf)
    w = np.exp(slw - slw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return w, khat, 1.0 / np.sum(w**2, axis=1)


def _weigh(propose: Callable, logp: Callable, n: int, need: float
           ) -> tuple[list[np.ndarray], np.ndarray, float, float]:
    """``n`` draws of ``propose(n) -> (positions, log q)``, their PSIS weights under ``logp``,
    k-hat and ESS; where k-hat is good but the ESS falls short of ``need`` (by at most
    IS_TOPUP times), more draws are added and the weights recomputed on all of them."""
    pos, lq = propose(n)
    lw = np.asarray(logp(pos), float) - lq
    w, k, e = psis_weights(lw[None])
    if k[0] < IS_KHAT_MAX and need / IS_TOPUP <= e[0] < need:
        more, lq2 = propose(n * int(np.ceil(need / e[0])))
        pos = [np.concatenate(a) for a in zip(pos, more, strict=True)]
        lw = np.concatenate([lw, np.asarray(logp(more), float) - lq2])
        w, k, e = psis_weights(lw[None])
    return pos, w[0], float(k[0]), float(e[0])


def _in_chunks(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(positions, *rest)``, vectorised over the leading axis of ``positions`` (a list of
    arrays), evaluated on chunks of :data:`IS_CHUNK` positions, the last one padded by
    repeating its final position: one compiled program serves every number of draws (the
    importance steps ask for 2000 to 96000; compiled for each, they were 36 of a ``check``'s
    49 programs). Results are host arrays, in order, without the padding."""
    def call(pos: list[np.ndarray], *rest: Any) -> Any:
        pos = [np.asarray(p) for p in pos]
        n, outs = pos[0].shape[0], []
        for a in range(0, n, IS_CHUNK):
            part = [p[a:a + IS_CHUNK] for p in pos]
            m = part[0].shape[0]
            if m < IS_CHUNK:
                part = [np.concatenate([p, np.repeat(p[-1:], IS_CHUNK - m, axis=0)]) for p in part]
            out = fn(part, *rest)
            outs.append([np.asarray(o)[:m] for o in out] if isinstance(out, list | tuple)
                        else np.asarray(out)[:m])
        if isinstance(outs[0], list):
            return [np.concatenate(cols) for cols in zip(*outs, strict=True)]
        return np.concatenate(outs)

    return call


def _logdensity(program: CurveProgram, data: Any) -> Callable[[Any], Any]:
    def logdensity(p: Any) -> Any:
        return program.logp(p, data)

    return logdensity


def _da_init(eps: Any) -> tuple[Any, ...]:
    """Dual-averaging state (log eps, log eps-bar, H-bar, t, mu) restarted at step size eps."""
    import jax.numpy as jnp

    zero = jnp.zeros((), jnp.float64)  # not weakly typed: the warm-up program compiles once
    return jnp.log(eps), jnp.log(eps), zero, zero, jnp.log(10.0 * eps)


def _initial_carry(pos0: list[np.ndarray]) -> tuple:
    """Warm-up carry of a chunk of lanes (host arrays, leading axis = lanes): HMC state at the
    start positions (log density and gradient are recomputed by the block program), identity
    mass matrix, dual averaging at step size 0.1, empty Welford sums."""
    from blackjax.mcmc.hmc import HMCState

    lanes = pos0[0].shape[0]
    dim = sum(int(np.prod(p.shape[1:])) for p in pos0)
    z = np.zeros(lanes)
    state = HMCState([np.asarray(p, float) for p in pos0], z.copy(),
                     [np.zeros_like(p, dtype=float) for p in pos0])
    eps = np.log(0.1)
    da = (z + eps, z + eps, z.copy(), z.copy(), z + np.log(1.0))
    return (state, np.broadcast_to(np.eye(dim), (lanes, dim, dim)).copy(), da,
            (z.copy(), np.zeros((lanes, dim)), np.zeros((lanes, dim, dim))))


def _masked(active: Any, new: Any, old: Any) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)


def _block_lane(program: CurveProgram, carry: Any, key: Any, block: Any, win: Any, end: Any,
                active: Any, sampling: Any, data: Any, target_accept: Any, n_steps: Any
                ) -> tuple[Any, Any, Any]:
    """BLOCK transitions of one lane (vmapped), warm-up or sampling in one compiled program.

    Warm-up (``sampling`` = 0): dual averaging of the step size and a dense mass matrix from the
    windows' draws (Stan's schedule, :func:`_schedule`). Sampling (``sampling`` = 1): the
    adapted step size jittered by +-STEP_JITTER, adaptation frozen. The state's log density
    and gradient are recomputed from its position at the start of the block (so the first
    block needs only a position). Returns the carry and every transition's constrained values
    and divergence flag.
    """
    import blackjax
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    logdensity = _logdensity(program, data)
    kernel = blackjax.hmc.build_kernel()
    dim = carry[1].shape[0]
    carry = (blackjax.hmc.init(carry[0].position, logdensity), *carry[1:])
    draw = sampling > 0

    def one(c: Any, xs: Any) -> tuple[Any, Any]:
        st0, imm, (log_e, log_bar, hbar, t, mu), (n, mean, m2) = c
        k, w, e, on = xs
        k_jit, k_step = jax.random.split(k)
        jitter = 1.0 + STEP_JITTER * jax.random.uniform(k_jit, minval=-1.0, maxval=1.0)
        eps = jnp.where(draw, jnp.exp(log_bar) * jitter, jnp.exp(log_e))
        st, info = kernel(jnp.where(draw, k_step, k), st0, logdensity, eps, imm, n_steps)
        t = t + 1.0
        acc = jnp.nan_to_num(info.acceptance_rate)
        hbar = (1 - 1 / (t + 10)) * hbar + (target_accept - acc) / (t + 10)
        log_e = mu - jnp.sqrt(t) / 0.05 * hbar
        eta = t ** -0.75
        log_bar = eta * log_e + (1 - eta) * log_bar
        x, _ = ravel_pytree(st.position)
        n1 = n + w
        delta = x - mean
        mean = jnp.where(w > 0, mean + delta / jnp.maximum(n1, 1.0), mean)
        m2 = jnp.where(w > 0, m2 + jnp.outer(delta, x - mean), m2)
        cov = m2 / jnp.maximum(n1 - 1, 1.0)
        reg = (n1 / (n1 + 5.0)) * cov + 1e-3 * (5.0 / (n1 + 5.0)) * jnp.eye(dim)
        imm2 = jnp.where(e, reg, imm)
        da = _masked(e, _da_init(jnp.exp(log_e)), (log_e, log_bar, hbar, t, mu))
        wel = _masked(e, (jnp.zeros((), jnp.float64), jnp.zeros(dim), jnp.zeros((dim, dim))),
                      (n1, mean, m2))
        warm = _masked(on, (st, imm2, da, wel), c)
        new = _masked(draw, (st, *c[1:]), warm)
        return new, (program.constrain(st.position), info.is_divergent)

    keys = jax.random.split(jax.random.fold_in(key, block + 1_000_003 * sampling), BLOCK)
    carry, (vals, div) = jax.lax.scan(one, carry, (keys, win, end, active))
    return carry, vals, div


_WORKER_SAMPLERS: dict[int, Any] = {}


def _remote_chunk(key: int, spec: tuple[Any, ...], args: Any) -> Any:
    """One chunk on a Dask worker (the worker's compiled sampler is cached by ``key``)."""
    from .config import Config

    if key not in _WORKER_SAMPLERS:
        model_cls, md, cfg, n_rows = spec
        _WORKER_SAMPLERS[key] = CurveSampler(model_cls, md, Config.from_dict(cfg), n_rows)
    jax = _jax()
    return jax.tree.map(np.asarray, _WORKER_SAMPLERS[key]._run_chunk(*args))


@dataclass
class StageOne:
    """Stage-1 draws: ``values[name]`` has shape (curves, chains, draws)."""

    values: dict[str, np.ndarray]
    divergent: np.ndarray  # (curves, chains, draws) bool
    step_size: np.ndarray  # (curves, chains)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


#: Compiled programs of this process, by :func:`_program_key`: a second fit of the same model
#: with the same priors (refits, folds, checks) reuses the traced and compiled programs.
_PROGRAMS: dict[str, tuple[Any, ...]] = {}
#: the importance paths' vmapped programs, by the same key (:meth:`CurveSampler._is_programs`)
_IS_FNS: dict[str, tuple[Any, Any, Any]] = {}
#: compiled population chains by compiled population (``PopulationDensities.key``)
_STAGE_TWO: dict[str, dict[str, Any]] = {}


def _program_key(model_cls: Any, md: Any, n_rows: int) -> str:
    """Everything the compiled curve program depends on: the model class, likelihood, priors,
    whether a chance floor is estimated, the names of the context inputs and the data arrays'
    names and types (the data values and context values are inputs, not constants)."""
    import json

    arrays = model_cls.data_arrays(md, md.obs.iloc[:1])
    return json.dumps([model_cls.__module__, model_cls.__qualname__, repr(md.likelihood),
                       n_rows, md.unknown_chance, sorted(md.context),
                       sorted((k, p.as_dict()) for k, p in md.priors.items()),
                       sorted((k, str(v.dtype)) for k, v in arrays.items())], default=str)


class CurveSampler:
    """Compile a curve model once; sample any number of curves, vectorised.

    Parameters
    ----------
    model_cls : CurveModel subclass
    md : ModelData
        Prepared data of the whole table (priors, likelihood, context).
    config : Config
        ``draws``, ``tune``, ``chains``, ``target_accept``, ``seed``.
    n_rows : int, optional
        Rows per curve the program is compiled for (curves with fewer rows are padded).
    """

    def __init__(self, model_cls: Any, md: Any, config: Any, n_rows: int | None = None,
                 scheduler: Any = None) -> None:
        jax = _jax()
        self.model_cls, self.md, self.config = model_cls, md, config
        self.scheduler = scheduler
        need = int(md.obs.groupby("series_idx").size().max()) if n_rows is None else n_rows
        self.n_rows = max(8, 1 << int(np.ceil(np.log2(max(need, 1)))))
        t0 = time.perf_counter()
        key = _program_key(model_cls, md, self.n_rows)
        with PYTENSOR_LOCK:
            if key not in _PROGRAMS:
                program = compile_curve(model_cls, md, self.n_rows)
                _PROGRAMS[key] = (
                    program,
                    _persistent(jax.vmap(partial(_block_lane, program),
                                         in_axes=(0, 0, None, None, None, None, None, 0, 0, 0)),
                                f"block_lane {key}"))
        self.program, self._block = _PROGRAMS[key]
        self._key = key
        self._start = self.program.init_for(md.context)  # this table's initial point
        self.compile_seconds = time.perf_counter() - t0

    def _run_chunk(self, keys: Any, pos0: Any, data: Any, target_accept: Any,
                   n_steps: Any, draws: int | None = None) -> tuple[Any, Any, Any]:
        """Warm-up and sampling of one chunk of lanes, in blocks of BLOCK transitions: the
        compiled programs do not depend on ``tune`` or ``draws``."""
        tune, draws = int(self.config.tune), int(draws or self.config.draws)
        in_win, ends = _schedule(tune)
        nb = -(-tune // BLOCK)
        pad = nb * BLOCK - tune
        win = np.concatenate([in_win, np.zeros(pad, bool)]).astype(float).reshape(nb, BLOCK)
        end = np.concatenate([ends, np.zeros(pad, bool)]).reshape(nb, BLOCK)
        act = np.concatenate([np.ones(tune, bool), np.zeros(pad, bool)]).reshape(nb, BLOCK)
        carry = _on_device(_initial_carry(pos0))
        for b in range(nb):
            carry, _, _ = self._block(carry, keys, np.int32(b), win[b], end[b], act[b],
                                      np.int32(0), data, target_accept, n_steps)
        step = np.exp(np.asarray(carry[2][1]))
        off = np.zeros(BLOCK)
        vals, div = [], []
        for b in range(-(-draws // BLOCK)):
            carry, v, d = self._block(carry, keys, np.int32(b), off, off.astype(bool),
                                      off.astype(bool), np.int32(1), data, target_accept,
                                      n_steps)
            vals.append(v)
            div.append(d)
        # host-side concatenation: eager JAX ops would compile one program per shape
        vals = [np.concatenate([np.asarray(v[j]) for v in vals], axis=1)[:, :draws]
                for j in range(len(vals[0]))]
        return vals, np.concatenate([np.asarray(d) for d in div], axis=1)[:, :draws], step

    def _run_dask(self, chunks: list[Any]) -> list[Any]:
        """Run chunks on a Dask scheduler (a ``distributed.Client`` or its address). Each worker
        compiles the program once (or loads it from the shared compilation cache); the chunks
        and seeds are the local ones, so the numbers are the same."""
        from distributed import Client

        client = self.scheduler if isinstance(self.scheduler, Client) else Client(self.scheduler)
        spec = (self.model_cls, self.md, self.config.as_dict(), self.n_rows)
        key = curve_seed(int(self.config.seed), repr((self.model_cls.name, self.n_rows,
                                                      self.config.to_json())))
        futs = client.map(_remote_chunk, [key] * len(chunks), [spec] * len(chunks), chunks,
                          pure=False)
        out = client.gather(futs)
        if not isinstance(self.scheduler, Client):
            client.close()
        return out

    def importance(self, data: list[np.ndarray], labels: list[str], curves: np.ndarray,
                   seed: int, hmc: dict[str, np.ndarray] | None = None, n: int | None = None
                   ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Stage-1 draws of ``curves`` by importance sampling.

        Two proposals:

        - ``hmc`` None: the curve's **stage-1 prior**. A curve whose data say little (flat at
          chance, a threshold past the tested scales) has a posterior that is its prior cut by
          a wall: all scores at 0 forbid a rise inside the range, and the wall's steepness grows
          with the steepness parameter. HMC adapts its step to the wall and then crawls through
          the rest (measured in SBC: step sizes 0.0003-0.06, R-hat 1.3-2.9 on curves flat at
          0). There the prior is a good proposal; the log weight is the log density minus the
          stage-1 prior density (a program compiled without the likelihood rows).
        - ``hmc`` given (constrained draws, each (curves, chains, draws), as returned by
          :meth:`run`): a mixture of multivariate **Student-t** (:data:`IS_T_DF` degrees of
          freedom), one at the mean and covariance of each of the curve's HMC chains, in the
          unconstrained space. It serves curves whose chains mixed slowly along a curved ridge
          (real curves whose threshold or ceiling the data leave open) and curves whose chains
          settled in different modes: the chains cover the ridge or the modes between them,
          the heavy tails cover the ends, and the weights correct the rest, including each
          mode's share. The stage-1 prior is mixed in as a defensive component
          (:meth:`_t_proposal`).

        Each curve gets ``n`` proposal draws (default ``IS_FACTOR x chains x draws``, at least
        :data:`IS_MIN_DRAWS`; :data:`NEAR_IS_DRAWS` where the proposal is fitted to draws of a
        nearby posterior, :func:`first_draws`), Pareto-smoothed (PSIS, arviz-stats), and
        ``chains x draws`` of them are taken by systematic resampling.

        Returns the draws (each (len(curves), chains, draws); NaN for a curve whose weights are
        not reliable), whether each curve's weights are reliable (k-hat < :data:`IS_KHAT_MAX`
        and the weights' effective sample size at least ``config.ess_min``, the bulk ESS that
        HMC draws must reach; where k-hat is good and the ESS falls short, up to
        :data:`IS_TOPUP` times the draws are added), the k-hats and the effective sample
        sizes.
        """
        C, D = int(self.config.chains), int(self.config.draws)
        n = n or max(IS_MIN_DRAWS, IS_FACTOR * C * D)
        need = min(float(self.config.ess_min), C * D)  # the bar HMC draws must clear
        logp_fn, constrain_fn, _ = self._is_programs()
        out = {nm: np.full((len(curves), C, D), np.nan) for nm in self.program.var_names}
        khat, ess = np.full(len(curves), np.inf), np.zeros(len(curves))
        ok = np.zeros(len(curves), bool)
        for i, s in enumerate(curves):
            d = [np.asarray(a[s]) for a in data]
            propose = (self._prior_proposal(d, labels[s], seed) if hmc is None else
                       self._t_proposal({k: v[i] for k, v in hmc.items()}, d, labels[s], seed))
            pos, w, khat[i], ess[i] = _weigh(propose, lambda p, d=d: logp_fn(p, d), n, need)
            ok[i] = (khat[i] < IS_KHAT_MAX) & (ess[i] >= need)
            if not ok[i]:
                continue
            rng = np.random.default_rng(curve_seed(seed, labels[s], 9001))
            u = (rng.random() + np.arange(C * D)) / (C * D)  # systematic resampling
            idx = rng.permutation(np.minimum(np.searchsorted(np.cumsum(w), u), len(w) - 1))
            vals = constrain_fn([a[idx] for a in pos])
            for nm, v in zip(self.program.var_names, vals, strict=True):
                out[nm][i] = np.asarray(v)[:, 0].reshape(C, D)
        return out, ok, khat, ess

    def _is_programs(self) -> tuple[Any, Any, Any]:
        """The log density, the constraining map and the stage-1 prior's log density, vmapped
        over positions (compiled on first use, once per program: every sampler of the same
        model reuses them, and with them the executables already compiled for each number of
        draws)."""
        if self._key not in _IS_FNS:
            jax = _jax()
            key, p = self._key, self.program
            _IS_FNS[key] = tuple(_in_chunks(_persistent(fn, f"{what} {key}")) for fn, what in (
                (jax.vmap(p.logp, in_axes=(0, None)), "is_logp"),
                (jax.vmap(p.constrain), "is_constrain"),
                (jax.vmap(p.prior_logp, in_axes=(0, None)), "is_prior")))
        return _IS_FNS[self._key]

    def _prior_draws(self, label: str, seed: int) -> Callable[[int], list[np.ndarray]]:
        """``draw(n)``: unconstrained stage-1 prior draws of one curve, from its own seed."""
        rng = np.random.default_rng(curve_seed(seed, label, 9000))
        return lambda n: self.program.prior_draw(n, rng, self.md.context)

    def _prior_proposal(self, d: list[np.ndarray], label: str, seed: int) -> Callable:
        """``propose(n) -> (positions, log q)`` from the stage-1 prior of one curve (log q: its
        stage-1 prior density, compiled without the likelihood rows)."""
        prior_fn, draw = self._is_programs()[2], self._prior_draws(label, seed)

        def propose(n: int) -> tuple[list[np.ndarray], np.ndarray]:
            p = draw(n)
            return p, np.asarray(prior_fn(p, d), float)

        return propose

    def _t_proposal(self, draws: dict[str, np.ndarray], d: list[np.ndarray], label: str,
                    seed: int) -> Callable:
        """``propose(n) -> (positions, log q)`` from a defensive mixture (Hesterberg 1995) of
        multivariate Student-t components, one per chain, at the mean and covariance of that
        chain's HMC ``draws`` (each (chains, draws), constrained; in the unconstrained space),
        with total weight 1 - :data:`IS_DEFENSIVE`, and the curve's stage-1 prior with weight
        :data:`IS_DEFENSIVE`.

        One component per chain: chains that settled in different modes (a sharp rise with
        little noise against a gentle one with much; :meth:`emergence.models.CurveModel.
        data_start`) each give their mode a component, and the weights then give each mode its
        posterior mass, which the chains cannot. Each chain's covariance is widened by
        :data:`IS_COV_FLOOR` times the covariance of all draws, so a chain that barely moved
        still proposes a usable spread. The prior component bounds every weight by the
        likelihood over IS_DEFENSIVE times the evidence, so posterior mass that the chains never
        reached cannot be missed without a trace in the weights."""
        from scipy import stats
        from scipy.special import logsumexp

        vals = [draws[nm].reshape(-1) for nm in self.program.var_names]
        x = np.concatenate(self.program.unconstrain(vals, self.md.context), axis=1)
        chains = x.reshape((*draws[self.program.var_names[0]].shape, x.shape[1]))
        floor = IS_COV_FLOOR * np.atleast_2d(np.cov(x.T)) + 1e-9 * np.eye(x.shape[1])
        rng = np.random.default_rng(curve_seed(seed, label, 9002))
        qs = [stats.multivariate_t(loc=c.mean(axis=0), shape=np.atleast_2d(np.cov(c.T)) + floor,
                                   df=IS_T_DF, seed=rng) for c in chains]
        prior_fn, draw_prior = self._is_programs()[2], self._prior_draws(label, seed)

        def propose(n: int) -> tuple[list[np.ndarray], np.ndarray]:
            m = round(IS_DEFENSIVE * n)
            counts = np.diff(np.linspace(0, n - m, len(qs) + 1).round().astype(int))
            z = np.concatenate([np.asarray(q.rvs(k), float).reshape(k, -1)
                                for q, k in zip(qs, counts, strict=True) if k])
            pos = [np.concatenate(a) for a in zip([z[:, [j]] for j in range(z.shape[1])],
                                                  draw_prior(m), strict=True)]
            flat = np.concatenate(pos, axis=1)
            lt = logsumexp([q.logpdf(flat) for q in qs], axis=0) - np.log(len(qs))
            lq = logsumexp([np.log1p(-IS_DEFENSIVE) + lt,
                            np.log(IS_DEFENSIVE) + np.asarray(prior_fn(pos, d), float)], axis=0)
            return pos, lq

        return propose

    def _data_starts(self, data: list[np.ndarray], curves: np.ndarray
                     ) -> dict[int, list[np.ndarray] | None]:
        """Unconstrained start of each curve in ``curves`` where its data rise
        (:meth:`emergence.models.CurveModel.data_start`; the prior's centre for the
        parameters it does not set), or None for a curve without a step. The starts of all
        curves are unconstrained in one call."""
        starts = {}
        for s in np.unique(curves):
            d = dict(zip(self.program.data_names, (np.asarray(a[s]) for a in data), strict=True))
            used = d["w"] > 0
            starts[int(s)] = self.model_cls.data_start(d["x"][used], d["y"][used],
                                                       d["chance"][used])
        rising = [s for s, v in starts.items() if v is not None]
        if rising:
            centre = [np.asarray(v).reshape(-1)[0] for v in self.program.constrain(self._start)]
            vals = [np.array([starts[s].get(nm, c) for s in rising], float)
                    for nm, c in zip(self.program.var_names, centre, strict=True)]
            pos = self.program.unconstrain(vals, self.md.context)  # each (len(rising), 1)
            for i, s in enumerate(rising):
                starts[s] = [np.asarray(p[i], float).reshape(np.shape(v))
                             for p, v in zip(pos, self._start, strict=True)]
        return starts

    def curve_data(self, obs: Any, by: str = "series_idx") -> list[np.ndarray]:
        """Padded per-curve data, each array (curves, n_rows), for ``obs`` grouped by ``by``
        (the series, or e.g. a fold column: any group of rows of one series is a "curve")."""
        groups = [g for _, g in obs.groupby(by, sort=True)]
        arrays = self.model_cls.data_arrays(self.md, obs)
        out = {n: np.zeros((len(groups), self.n_rows), dtype=arrays[n].dtype)
               for n in self.program.data_names if not n.startswith("ctx_")}
        where = obs[by].to_numpy()
        for i, g in enumerate(groups):
            rows = np.flatnonzero(where == g[by].iat[0])
            if len(rows) > self.n_rows:
                raise ValueError(f"curve has {len(rows)} rows; compiled for {self.n_rows}")
            pad = np.concatenate([rows, np.full(self.n_rows - len(rows), rows[0])])
            for n in out:
                out[n][i] = arrays[n][pad]
            out["series_idx"][i] = 0
            out["w"][i, len(rows):] = 0.0
        for k, v in self.md.context.items():
            out[f"ctx_{k}"] = np.full(len(groups), float(v))
        return [out[n] for n in self.program.data_names]

    def run(self, data: list[np.ndarray], labels: list[str], curves: np.ndarray, seed: int,
            target_accept: float, salt: int = 0, n_steps: int = 0, draws: int | None = None,
            width: int = WIDTH) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Adapt and sample ``config.chains`` chains of each curve index in ``curves``, in chunks
        of ``width`` lanes.

        Returns ``values`` (each (len(curves), chains, draws)), divergences of the same shape and
        step sizes (len(curves), chains). All lanes run in one vectorised batch, padded to a
        power of two so that tables of similar size reuse one compiled program.
        """
        C = int(self.config.chains)
        lane_curve = np.repeat(curves, C)
        lane_chain = np.tile(np.arange(C), len(curves))
        jax = _jax()
        keys = np.stack([np.asarray(jax.random.PRNGKey(curve_seed(seed, labels[s], 17 * c + salt)))
                         for s, c in zip(lane_curve, lane_chain, strict=True)])
        starts = self._data_starts(data, curves)
        inits = []
        for s, c in zip(lane_curve, lane_chain, strict=True):
            r = np.random.default_rng(curve_seed(seed, labels[s], 1000 + 17 * c + salt))
            if c % 2 and starts[s] is not None:  # odd chains where the data rise
                inits.append([v + r.uniform(-DATA_JITTER, DATA_JITTER, v.shape)
                              for v in starts[s]])
            else:
                inits.append([v + r.uniform(-1, 1, v.shape) for v in self._start])
        pos0 = [np.stack([p[j] for p in inits]) for j in range(len(self._start))]
        d = [a[lane_curve] for a in data]
        ta = np.full(len(lane_curve), target_accept)
        steps = np.full(len(lane_curve), int(n_steps or HMC_STEPS))
        n = len(lane_curve)
        chunks = []
        for start in range(0, n, width):
            idx = np.arange(start, min(start + width, n))
            full = np.concatenate([idx, np.full(width - len(idx), idx[-1])])
            chunks.append((len(idx), (*jax.tree.map(lambda v, full=full: np.asarray(v)[full],
                                                    (keys, pos0, d, ta, steps)), draws)))
        if self.scheduler is not None:
            outs = self._run_dask([a for _, a in chunks])
        else:  # one thread per core: XLA runs each chunk on one core and releases the GIL
            outs = _thread_map(lambda a: self._run_chunk(*a), [a for _, a in chunks])
        parts = [jax.tree.map(lambda v, k=k: np.asarray(v)[:k], out)
                 for (k, _), out in zip(chunks, outs, strict=True)]
        vals, div, step = jax.tree.map(lambda *v: np.concatenate(v), *parts)
        S = len(curves)
        values = {nm: np.asarray(v)[..., 0].reshape(S, C, -1)
                  for nm, v in zip(self.program.var_names, vals, strict=True)}
        return values, np.asarray(div).reshape(S, C, -1), np.asarray(step).reshape(S, C)


# --------------------------------------------------------------------------------------------
# stage 1 with per-curve diagnostics, retry and extension
# --------------------------------------------------------------------------------------------
def curve_diagnostics(values: dict[str, np.ndarray], divergent: np.ndarray,
                      names: list[str]) -> Any:
    """Per-curve worst R-hat and bulk/tail ESS over ``names`` and divergences.

    ``values[name]`` has shape (curves, chains, draws); returns a DataFrame with one row per
    curve: ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``.
    """
    import pandas as pd
    from arviz_stats.base.array import array_stats  # the numpy layer, no xarray per call
    from arviz_stats.validate import validate_ci_prob

    prob = validate_ci_prob(None)  # the tail ESS's quantiles, as arviz.ess(method="tail")
    arrays = [np.asarray(values[n], float) for n in names if n in values]

    def worst(fn: Any, pick: Any, **kw: Any) -> np.ndarray:
        return pick(np.stack([fn(a, chain_axis=1, draw_axis=2, **kw) for a in arrays]), axis=0)

    return pd.DataFrame({
        "rhat_max": worst(array_stats.rhat, np.nanmax),
        "ess_bulk_min": worst(array_stats.ess, np.nanmin, method="bulk"),
        "ess_tail_min": worst(array_stats.ess, np.nanmin, method="tail", prob=prob),
        "divergences": divergent.sum(axis=(1, 2)).astype(int)})


def _update_rows(diag: Any, curves: np.ndarray, values: dict[str, np.ndarray],
                 divergent: np.ndarray, names: list[str]) -> None:
    """Recompute, in place, the :func:`curve_diagnostics` rows of ``curves`` (positions)."""
    curves = np.asarray(curves, int)
    if not len(curves):
        return
    sub = curve_diagnostics({k: v[curves] for k, v in values.items()}, divergent[curves], names)
    for j, col in enumerate(diag.columns):
        diag.iloc[curves, j] = sub[col].to_numpy()


def _failing(diag: Any, config: Any) -> tuple[np.ndarray, np.ndarray]:
    div = diag["divergences"].to_numpy() > 0
    slow = ((diag["rhat_max"] > config.rhat_max) | (diag["ess_bulk_min"] < config.ess_min)
            ).to_numpy() & ~div
    return np.flatnonzero(div), np.flatnonzero(slow)


def _importance_step(sampler: CurveSampler, data: list[np.ndarray], labels: list[str],
                     tried: np.ndarray, values: dict[str, np.ndarray], divergent: np.ndarray,
                     seed: int, notes: list[str], hmc: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curves ``tried`` (failing their first run) take importance draws where those are reliable
    (:meth:`CurveSampler.importance`: from their stage-1 prior, or with ``hmc`` from a Student-t
    fitted to their draws in ``values``), in ``values`` and ``divergent`` in place. Returns the
    mask of curves that took them, each curve's k-hat and the weights' effective sample size
    (NaN where not tried)."""
    S = divergent.shape[0]
    is_khat, is_ess, took = np.full(S, np.nan), np.full(S, np.nan), np.zeros(S, bool)
    tried = np.asarray(tried, int)
    if not len(tried):
        return took, is_khat, is_ess
    draws = {k: v[tried] for k, v in values.items()} if hmc else None
    v, ok, khat, ess = sampler.importance(data, labels, tried, seed, hmc=draws)
    is_khat[tried] = khat
    is_ess[tried] = ess
    take = tried[ok]
    took[take] = True
    for k in values:
        values[k][take] = v[k][ok]
    divergent[take] = False
    what = ("a Student-t fitted to their own draws (slowly mixing chains)" if hmc else
            "their stage-1 prior (data that say little)")
    if len(take):
        notes.append(f"{len(take)} of {len(tried)} failing curve(s) took importance draws from "
                     f"{what}; Pareto k-hat < {IS_KHAT_MAX:g}.")
    return took, is_khat, is_ess


def _with_is_ess(diag: Any, is_ess: np.ndarray) -> Any:
    """Curves with importance draws (``is_ess`` not NaN) report the weights' effective sample
    size as their ESS: the resampled draws repeat some draws, which ESS estimators on them do
    not see. Their R-hat is NaN (not applicable): the resampled draws are split into "chains"
    at random, so R-hat only measures that split's noise, which the repeated draws inflate
    (measured: 1.013 on a curve with k-hat 0.17 and 697 effective draws, which then went through
    three extensions for nothing). k-hat and the ESS are their diagnostics."""
    took = np.isfinite(is_ess)
    for col in ("ess_bulk_min", "ess_tail_min"):
        diag.loc[took, col] = np.minimum(diag.loc[took, col].to_numpy(), is_ess[took])
    diag.loc[took, "rhat_max"] = np.nan
    return diag


def _rerun_failing(sampler: CurveSampler, data: list[np.ndarray], labels: list[str], seed: int,
                   state: tuple[dict[str, np.ndarray], np.ndarray, np.ndarray], notes: list[str],
                   diagnose: Callable[[np.ndarray], Any], extend: int,
                   first: np.ndarray) -> Any:
    """Re-run divergent curves at :data:`RETRY_TARGET_ACCEPT` and extend slowly mixing ones
    (up to ``extend`` times), updating ``state`` = (values, divergent, step sizes) in place;
    returns the final diagnostics. ``diagnose(changed)`` gives the diagnostics after the draws
    of curves ``changed`` changed (``first``: those changed before this step)."""
    cfg = sampler.config
    values, divergent, step = state
    diag = diagnose(first)
    bad_div, slow = _failing(diag, cfg)
    if len(bad_div):
        v, d, st = sampler.run(data, labels, bad_div, seed, RETRY_TARGET_ACCEPT, salt=1,
                               n_steps=RETRY_STEPS, width=RERUN_WIDTH)
        for k in values:
            values[k][bad_div] = v[k]
        divergent[bad_div], step[bad_div] = d, st
        notes.append(f"{len(bad_div)} curve(s) with divergent transitions were re-sampled alone "
                     f"with target_accept {RETRY_TARGET_ACCEPT}.")
        diag = diagnose(bad_div)
        _, slow = _failing(diag, cfg)
    for r in range(extend):
        if not len(slow):
            break
        # always the retry's target acceptance: taking it from the batch (as until 2026-11-27)
        # made a curve's draws depend on whether another slow curve had diverged
        D = divergent.shape[2]
        more = D * 2 ** (r + 1)
        v, d, _ = sampler.run(data, labels, slow, seed, RETRY_TARGET_ACCEPT, salt=2 + r,
                              n_steps=RETRY_STEPS, draws=more, width=RERUN_WIDTH)
        keep = np.linspace(0, D + more - 1, D).round().astype(int)  # thin to D per chain
        for k in values:
            values[k][slow] = np.concatenate([values[k][slow], v[k]], axis=2)[:, :, keep]
        divergent[slow] = np.concatenate([divergent[slow], d], axis=2)[:, :, keep]
        notes.append(f"{len(slow)} slowly mixing curve(s): {more} more draws per chain "
                     f"(64-step trajectories), thinned to {D}.")
        diag = diagnose(slow)
        _, slow = _failing(diag, cfg)
    return diag


def first_draws(sampler: CurveSampler, data: list[np.ndarray], labels: list[str], seed: int,
                reference: dict[int, dict[str, np.ndarray]] | None,
                notes: list[str] | None = None, width: int = WIDTH
                ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                           np.ndarray, np.ndarray]:
    """Every curve's first draws: importance draws from its ``reference`` draws (curve index
    -> constrained draws, each (chains, draws), of a nearby posterior) where those are reliable
    (:meth:`CurveSampler.importance` with the Student-t proposal and :data:`NEAR_IS_DRAWS`),
    the first HMC run for the others (with the seeds they would have without a reference).
    Used by :func:`run_stage_one` and for leave-one-scale-out folds
    (:func:`emergence.crossval.fold_draws`).

    Returns values, divergences, step sizes (NaN for importance draws), and per curve whether
    it took reference draws, their k-hat and the weights' effective sample size (NaN where
    not tried).
    """
    S = len(labels)
    C, D = int(sampler.config.chains), int(sampler.config.draws)
    values = {k: np.full((S, C, D), np.nan) for k in sampler.program.var_names}
    divergent, step = np.zeros((S, C, D), bool), np.full((S, C), np.nan)
    took, khat, ess = np.zeros(S, bool), np.full(S, np.nan), np.full(S, np.nan)
    # a reference without every sampled parameter (e.g. no estimated floor) proposes nothing
    tried = np.array(sorted(s for s, r in (reference or {}).items()
                            if all(k in r for k in sampler.program.var_names)), int)
    if len(tried):
        ref = {k: np.stack([reference[int(s)][k] for s in tried])  # type: ignore[index]
               for k in sampler.program.var_names}
        v, ok, khat[tried], ess[tried] = sampler.importance(data, labels, tried, seed, hmc=ref,
                                                            n=NEAR_IS_DRAWS)
        took[tried[ok]] = True
        for k in values:
            values[k][tried[ok]] = v[k][ok]
        if notes is not None:
            notes.append(f"{ok.sum()} of {len(tried)} curve(s) took importance draws from a "
                         f"Student-t fitted to a reference fit's draws; Pareto k-hat < "
                         f"{IS_KHAT_MAX:g}.")
    rest = np.flatnonzero(~took)
    if len(rest):
        vh, divergent[rest], step[rest] = sampler.run(data, labels, rest, seed,
                                                      float(sampler.config.target_accept),
                                                      width=width)
        for k in values:
            values[k][rest] = vh[k]
    return values, divergent, step, took, khat, np.where(took, ess, np.nan)


def run_stage_one(sampler: CurveSampler, data: list[np.ndarray], labels: list[str],
                  diag_names: list[str], seed: int, extend: int = 3, width: int = WIDTH,
                  reference: dict[int, dict[str, np.ndarray]] | None = None
                  ) -> tuple[StageOne, Any]:
    """Sample every curve; re-run divergent curves at a higher target acceptance and give slowly
    mixing ones more draws at that target acceptance (up to ``extend`` times), each curve on its
    own.

    More draws come from an independent run of the curve's chains (2, 4, 8 times ``draws``, with
    64-step trajectories), appended to each chain and thinned back to ``draws``, so every
    curve keeps the same (chains, draws) shape. The first run goes in chunks of ``width``
    lanes, the re-runs in chunks of :data:`RERUN_WIDTH`. ``reference`` (curve index -> its
    constrained draws, each (chains, draws), from a fit of the same model to related data)
    lets those curves start with importance draws instead (:func:`first_draws`). Returns the
    stage-1 draws and the per-curve diagnostics.
    """
    cfg = sampler.config
    t0 = time.perf_counter()
    notes: list[str] = []
    values, divergent, step, ref_is, ref_khat, ref_ess = first_draws(
        sampler, data, labels, seed, reference, notes, width)
    diag = _with_is_ess(curve_diagnostics(values, divergent, diag_names), ref_ess)
    failing = np.union1d(*_failing(diag, cfg))
    prior_is, is_khat, ess1 = _importance_step(sampler, data, labels, failing, values,
                                               divergent, seed, notes)
    t_is, t_khat, ess2 = _importance_step(sampler, data, labels, failing[~prior_is[failing]],
                                          values, divergent, seed, notes, hmc=True)
    is_ess = np.where(prior_is, ess1, np.where(t_is, ess2, ref_ess))
    base = diag  # the first run's rows; importance draws and re-runs replace some

    def diagnose(changed: np.ndarray) -> Any:
        # only the rows of curves whose draws changed are recomputed: R-hat and ESS are per
        # curve, and arviz-stats' ESS costs about 50 ms a curve (its autocorrelation sums run
        # lag by lag in Python), most of a check's diagnostics time when every call redid
        # every curve
        _update_rows(base, changed, values, divergent, diag_names)
        return _with_is_ess(base.copy(), is_ess)

    diag = _rerun_failing(sampler, data, labels, seed, (values, divergent, step), notes,
                          diagnose, extend, first=np.flatnonzero(prior_is | t_is))
    diag["prior_is"] = prior_is
    diag["prior_is_khat"] = is_khat
    diag["hmc_t_is"] = t_is | ref_is
    diag["hmc_t_is_khat"] = np.where(ref_is, ref_khat, t_khat)
    return StageOne(values, divergent, step, time.perf_counter() - t0, notes), diag


# --------------------------------------------------------------------------------------------
# stage 2: the population (Lunn et al. 2013)
# --------------------------------------------------------------------------------------------
@dataclass
class StageTwo:
    """Population draws: ``index`` (chains, draws, curves) into each curve's stage-1 draws and
    ``hyper[name]`` (chains, draws) for ``mu_<p>`` / ``sigma_<p>`` of each pooled ``p``."""

    index: np.ndarray
    hyper: dict[str, np.ndarray]
    accept_index: np.ndarray  # (curves,) acceptance rate of the index updates
    seconds: float = 0.0
    thin: int = 1  # 1 + extra kept states per kept draw (1: no extension was needed)
    ess: dict[str, float] = field(default_factory=dict)  # bulk ESS of each hyper, final draws
    #: Pareto k-hat of the proposal when the draws come from the collapsed step
    #: (:func:`emergence.collapsed.collapsed_draws`); NaN for the chain's own draws
    collapsed_khat: float = np.nan


def run_stage_two(dens: Any, stage1: dict[str, np.ndarray], chains: int, draws: int,
                  seed: int, burn: int = STAGE2_BURN, ess_min: float = 0.0,
                  extend: int = STAGE2_EXTEND, lp1: np.ndarray | None = None,
                  lq: np.ndarray | None = None) -> StageTwo:
    """Metropolis-within-Gibbs over population parameters and per-curve stage-1 draw indices.

    The chain runs as repeated calls of one compiled JAX program (a block of
    :data:`STAGE2_BLOCK` kept states, one every :data:`STAGE2_THIN` iterations; burn-in is
    ``burn`` rounded up to whole blocks, with step-size adaptation), so neither ``draws`` nor
    ``burn`` is compiled in; curves are padded to a power of two and the stage-1
    draws per curve to a power of two (padding carries zero weight and is never proposed), so
    tables of similar size share the programs. The chains run in groups on threads, one per
    core (:func:`_chain_groups`), with the same draws whatever the grouping.

    Parameters
    ----------
    dens : PopulationDensities
        Compiled population, hyperprior and stage-1 prior densities.
    stage1 : dict
        Pooled parameters' stage-1 draws, each (curves, n) (chains flattened).
    chains, draws : int
        Population chains and kept draws per chain (after ``burn`` adaptive burn-in steps,
        every :data:`STAGE2_THIN`-th step kept).
    ess_min : float
        When the bulk ESS of a population parameter (``mu_*``, ``log sigma_*``) is below it
        (a population spread small against the curves' own uncertainty couples the indices
        and the hyperparameters and mixes slowly) and ``extend`` > 0, the draws come from the
        collapsed step instead (:func:`emergence.collapsed.collapsed_draws`: the
        hyperparameters with the indices summed out, from a Student-t fitted to the chain's
        draws) if its proposal covers the target and its ESS is larger; otherwise the chain
        continues for 2, 4, ... (up to ``2**extend``) times ``draws`` more kept states and the
        whole is thinned back to ``draws``.
    lp1 : array (curves, n), optional
        Log stage-1 prior density of each draw (default: ``dens``'s stage-1 priors). Curves may
        have different stage-1 priors (proposals): the weights divide by each curve's own.
    lq : array (curves, n), optional
        Log probability of proposing each draw in the index updates (each row normalised;
        default: uniform). Any proposal that gives every draw a positive probability leaves the
        chain exact; one close to a curve's pooled posterior (:func:`index_proposal`) makes
        every index update nearly a draw from it.
    """
    jax = _jax()
    t0 = time.perf_counter()
    names = dens.pooled
    T = np.stack([stage1[k] for k in names])  # (J, S, n)
    S = T.shape[1]
    if lp1 is None:
        lp1 = sum(dens.stage1(k, stage1[k]) for k in names)  # (S, n)
    if lq is None:
        lq = np.full(lp1.shape, -np.log(lp1.shape[1]))
    data, idx, h = _stage_two_start(T, lp1, lq, dens.ctx, chains, seed)
    init, block = _stage_two_programs(dens, chains)
    key = jax.random.PRNGKey(curve_seed(seed, "__population__", 1))
    groups = _chain_groups(chains)
    carries = [_on_device(init(key, idx[g], h[:, g], data)) for g in groups]
    per_block = STAGE2_BLOCK * STAGE2_THIN

    def burn_in(gc: tuple) -> tuple:  # whole blocks, step sizes adapted
        g, carry = gc
        for b in range(-(-burn // per_block)):
            carry, _ = block(carry, data, np.float64(b * per_block), np.float64(1.0),
                             np.int32(g[0]))
        return (*carry[:5], _on_device(np.zeros_like(carry[5])))  # acceptance: kept blocks

    carries = _thread_map(burn_in, list(zip(groups, carries, strict=True)))
    carries, ix, hh = _kept_groups(block, groups, carries, data, draws)
    ess = hyper_ess(hh, names)
    col = None
    if extend and min(ess.values()) < ess_min:  # the hyperparameters with indices summed out
        col = collapsed_draws(dens, data, hh, draws, seed, groups, names, ess_min)
        if col is not None and min(col.ess.values()) > min(ess.values()):
            ix, hh, ess = col.ix, col.hh, col.ess
        else:
            col = None
    its, blocks = draws, -(-draws // STAGE2_BLOCK)
    for r in range(0 if col is not None else extend):
        if min(ess.values()) >= ess_min:
            break
        more = draws * 2 ** (r + 1)
        carries, ix2, hh2 = _kept_groups(block, groups, carries, data, more)
        keep = np.linspace(0, draws + more - 1, draws).round().astype(int)  # thin to draws
        ix, hh = np.concatenate([ix, ix2])[keep], np.concatenate([hh, hh2])[keep]
        its, blocks = its + more, blocks + -(-more // STAGE2_BLOCK)
        ess = hyper_ess(hh, names)
    keep_h = np.moveaxis(hh, 0, 2)  # (J, C, draws, 2)
    hyper = {}
    for j, k in enumerate(names):
        hyper[f"mu_{k}"] = keep_h[j, ..., 0]
        hyper[f"sigma_{k}"] = np.exp(keep_h[j, ..., 1])
    taken = sum(np.asarray(c[5]) for c in carries)[:S]  # accepted index proposals
    acc = taken / (blocks * per_block * INDEX_PROPOSALS * chains)  # iterations actually run
    if col is not None:  # exact index draws
        acc = np.ones(S)
    return StageTwo(np.moveaxis(ix, 0, 1)[..., :S], hyper, acc, time.perf_counter() - t0,
                    its // draws, ess, np.nan if col is None else col.khat)


def _chain_groups(chains: int) -> list[np.ndarray]:
    """The population chains split into contiguous groups, one per core (at most one group
    per chain; one group while ``check`` or ``compare`` runs fits side by side, which keep
    every core busy). Each group runs as its own calls of the compiled block on its own
    thread; every random number is drawn for all chains and each group takes its own chains'
    share, so the draws do not depend on the split (``tests/test_engine.py``). Drawing for
    all chains costs about 15 % more CPU; the chain ran on one core before (2026-11-28,
    the chain alone, 2 cores: T = 100 synthetic curves 0.206 -> 0.127 ms per iteration with
    two groups, T = 1000 2.03 -> 1.68 ms; a T = 1000 fit 571 -> 448 s, docs/benchmarks.md)."""
    n = 1 if busy() else min(chains, os.cpu_count() or 1)
    return np.array_split(np.arange(chains), n)


def _kept_groups(block: Callable, groups: list[np.ndarray], carries: list[tuple],
                 data: tuple, n: int) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """:func:`_kept_states` of every chain group at once; the kept states joined along the
    chain axis."""
    out = _thread_map(lambda gc: _kept_states(block, gc[1], data, n, np.int32(gc[0][0])),
                      list(zip(groups, carries, strict=True)))
    return ([o[0] for o in out], np.concatenate([o[1] for o in out], axis=1),
            np.concatenate([o[2] for o in out], axis=2))


def _stage_two_start(T: np.ndarray, lp1: np.ndarray, lq: np.ndarray, ctx: np.ndarray,
                     chains: int, seed: int) -> tuple[tuple, np.ndarray, np.ndarray]:
    """The population chain's padded data (with the index proposal ``lq``, as log
    probabilities and as cumulative probabilities, and the context values ``ctx`` of the
    hyperpriors), initial indices and initial hyperparameters.

    Curves are padded to a power of two and the stage-1 draws per curve to a power of two
    (at least 2048: 4 x 500 default draws, one shape); padding carries zero weight and is never
    proposed. The chains start at uniformly drawn indices and, per parameter, at the mean of
    the draws and the log spread of the curves' medians (+ 0.1)."""
    J, S, n = T.shape
    Sp = max(4, 1 << int(np.ceil(np.log2(S))))
    n_pad = max(2048, 1 << int(np.ceil(np.log2(n))))
    rows = np.concatenate([np.arange(S), np.zeros(Sp - S, int)])
    cols = np.concatenate([np.arange(n), np.zeros(n_pad - n, int)])
    mask = (np.arange(Sp) < S).astype(float)
    idx = np.random.default_rng(curve_seed(seed, "__population__")).integers(n, size=(chains, Sp))
    h = np.stack([np.stack([np.full(chains, T[j].mean()),
                            np.full(chains, np.log(np.std(np.median(T[j], 1)) + 0.1))], 1)
                  for j in range(J)])  # (J, chains, 2): mu, log sigma
    TL = np.concatenate([np.moveaxis(T, 0, -1), lp1[..., None]], axis=-1)  # (S, n, J + 1)
    lq = np.where(np.arange(n_pad) < n, lq[rows][:, cols], -np.inf)  # padding: never proposed
    cdf = np.cumsum(np.exp(lq), axis=1)
    cdf = np.where(np.arange(n_pad) >= n - 1, 1.0, cdf / cdf[:, n - 1:n])
    return (TL[rows][:, cols], mask, np.int64(n), np.asarray(ctx, float), lq, cdf), idx, h


def _kept_states(block: Callable, carry: tuple, data: tuple, n: int, first: Any) -> tuple:
    """Run whole blocks of the population chain (the group of chains from ``first`` on) until
    ``n`` states are kept; returns the carry and the first ``n`` kept indices (n, C, S) and
    hyperparameters (n, J, C, 2)."""
    ix_all, h_all = [], []
    for _ in range(-(-n // STAGE2_BLOCK)):
        carry, (ix, hh) = block(carry, data, np.float64(0.0), np.float64(0.0), first)
        ix_all.append(np.asarray(ix))
        h_all.append(np.asarray(hh))
    return carry, np.concatenate(ix_all)[:n], np.concatenate(h_all)[:n]


def hyper_ess(hh: np.ndarray, names: list[str]) -> dict[str, float]:
    """Bulk ESS of ``mu_<p>`` and ``sigma_<p>`` (on its log scale, as the chain moves it) for
    each pooled ``p`` in ``names``, from the kept states ``hh`` (n, J, C, 2).

    Examples
    --------
    >>> import numpy as np
    >>> hh = np.random.default_rng(0).normal(size=(500, 1, 4, 2))  # independent draws
    >>> {k: v > 1000 for k, v in hyper_ess(hh, ["x0"]).items()}
    {'mu_x0': True, 'sigma_x0': True}
    """
    import arviz as az
    import xarray as xr

    return {f"{h}_{p}": float(az.ess(xr.DataArray(hh[:, j, :, i].T, dims=("chain", "draw"))))
            for j, p in enumerate(names) for i, h in enumerate(("mu", "sigma"))}


def pool_ess(index: np.ndarray, n: int, ess1: np.ndarray) -> np.ndarray:
    """Effective number of independent stage-1 draws behind each curve's pooled posterior.

    The population step picks each curve's draws from a finite pool, its ``n`` stage-1 draws
    (effective sample size ``ess1``), with weights ``w`` set by the population: an estimate
    from the pooled draws carries the pool's Monte Carlo error as well as the population
    chain's, and arviz's ESS of the pooled draws sees only the second (it treats the pool as
    the posterior). On six simulated curves (docs/validation.md) it overstated the precision of
    curve quantiles by a median factor 1.53 (up to 2.57) against the spread over 20 seeds
    (``validation/pool_mcse.py``).

    Returns ``ess1 * kish / n`` per curve, with ``kish = 1 / sum(w**2)`` the Kish effective
    size of the weights, estimated without bias from the picks of independent chains
    (``sum_i c_a[i] c_b[i] / (N_a N_b)`` over chain pairs a != b, picks ``c`` of each pool
    draw; the two halves of a single chain stand in for a pair). Capped at ``ess1``.

    Parameters
    ----------
    index : array (chains, draws, curves)
        Pool indices picked by the population chain (:attr:`StageTwo.index`).
    n : int
        Pool size (stage-1 draws per curve, chains flattened).
    ess1 : array (curves,)
        The pool's effective sample size per curve (stage-1 ``ess_bulk_min``; ``n`` for a pool
        of independent draws near the pooled posterior, :func:`_near_pools`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> w = np.r_[np.full(100, 0.008), np.full(900, 0.2 / 900)]  # Kish size 1 / sum(w**2)
    >>> picks = rng.choice(1000, size=(4, 5000, 1), p=w)
    >>> kish = 1 / np.sum(w ** 2)
    >>> round(kish)
    155
    >>> est = pool_ess(picks, 1000, np.array([1000.0]))[0]  # an iid pool: ess1 = n
    >>> bool(abs(est - kish) < 0.05 * kish)
    True
    """
    index = np.asarray(index)
    if index.shape[0] < 2:  # one chain: its two halves
        half = index.shape[1] // 2
        index = np.stack([index[0, :half], index[0, half:2 * half]])
    C, D, S = index.shape
    out = np.empty(S)
    for s in range(S):
        share = np.stack([np.bincount(index[c, :, s], minlength=n) / D for c in range(C)])
        tot = share.sum(0)
        cross = (tot @ tot - np.einsum("cn,cn->", share, share)) / (C * (C - 1))
        out[s] = 1.0 / max(cross, 1.0 / n)
    return np.minimum(np.asarray(ess1, float) * out / n, ess1)


def pooled_ess(ess: Any, pool: Any) -> Any:
    """ESS of an estimate from a curve's pooled draws: ``1 / (1 / ess + 1 / pool)``, the
    population chain's ``ess`` combined with the pool's (:func:`pool_ess`), whose Monte Carlo
    errors add; ``ess`` itself where ``pool`` is NaN (no population step).

    >>> float(pooled_ess(900.0, 100.0)), float(pooled_ess(900.0, float("nan")))
    (90.0, 900.0)
    """
    ess, pool = np.asarray(ess, float), np.asarray(pool, float)
    return np.where(np.isnan(pool), ess, 1.0 / (1.0 / ess + 1.0 / pool))


def _stage_two_programs(dens: Any, chains: int) -> tuple[Callable, Callable]:
    """The jitted start state and block of the population chain for ``dens`` and ``chains``
    chains in all (cached per compiled population, ``dens.key``: the context values are data,
    so every table, fold and refit with the same priors shares them):
    ``block(carry, data, start, adapt, first)`` runs STAGE2_BLOCK x STAGE2_THIN iterations of
    the carry's group of chains (``first`` its first chain) and returns every STAGE2_THIN-th
    state; ``adapt`` = 1 adapts the step sizes (burn-in)."""
    cache = _STAGE_TWO.setdefault(dens.key, {})
    if chains not in cache:
        jax = _jax()
        jnp = jax.numpy
        it = partial(_stage_two_iteration, dens.jax_population, dens.jax_hyper, chains)

        def block(carry: tuple, data: tuple, start: Any, adapt: Any, first: Any) -> tuple:
            def one(c: tuple, s: Any) -> tuple:
                c = jax.lax.fori_loop(
                    0, STAGE2_THIN, lambda i, cc: it(cc, data, start + s * STAGE2_THIN + i,
                                                     adapt, first), c)
                return c, (c[1], c[2])
            return jax.lax.scan(one, carry, jnp.arange(STAGE2_BLOCK))

        def init(key: Any, idx: Any, h: Any, data: tuple) -> tuple:
            hp = dens.jax_hyper(h[..., 0], jnp.exp(h[..., 1]), data[3])
            # strongly typed, as the block returns them (a weak type would compile twice)
            return (key, idx, h, hp, jnp.full(hp.shape, 0.3, jnp.float64),
                    jnp.zeros(data[1].shape[0], jnp.float64))

        cache[chains] = (_persistent(init, f"stage2_init {chains} {dens.key}"),
                         _persistent(block, f"stage2_block {chains} {dens.key}"))
    return cache[chains]


def pool_weight(pop: Callable, theta: Any, mu: Any, log_sd: Any, lp1: Any) -> Any:
    """Log weight of pool draws ``theta`` (J, ...) in the population step: their population
    density (``mu``, ``exp(log_sd)``, broadcast against ``theta``) summed over the J pooled
    parameters, over their stage-1 term ``lp1``. The Metropolis-within-Gibbs chain and the
    collapsed step (:mod:`emergence.collapsed`) weigh draws with it."""
    return pop(theta, mu, _jax().numpy.exp(log_sd)).sum(0) - lp1


def invert_cdf(cdf: Any, u: Any, n: Any) -> Any:
    """Indices (k, S) drawn by inverting each curve's cumulative weights ``cdf`` (S, n_pad;
    normalised or not: the uniforms ``u`` (k, S) are scaled by its last column), never past
    the ``n`` real draws. The index updates and the collapsed step's index draws use it."""
    jax = _jax()
    jnp = jax.numpy
    at = u.T * cdf[:, -1:]
    return jnp.minimum(jax.vmap(partial(jnp.searchsorted, side="right"))(cdf, at).T, n - 1)


def _stage_two_iteration(pop: Callable, hyp: Callable, chains: int, carry: tuple, data: tuple,
                         it: Any, adapt: Any, first: Any) -> tuple:
    """One iteration of a group of chains (``first`` the first of them, of ``chains``):
    HYPER_STEPS random-walk updates of every parameter's (mu, log sigma), then
    INDEX_PROPOSALS independent proposals (from ``LQ``) of each curve's stage-1 draw index.
    Random numbers are drawn for all ``chains`` and the group takes its own rows, so a
    chain's draws do not depend on how the chains are grouped.

    ``data`` = (``TL`` (S, n, J + 1): the stage-1 draws of the J pooled parameters and, last,
    their stage-1 prior log density; ``mask`` (S,) 1 for real curves; ``n`` the number of real
    draws per curve; ``ctx`` the context values of the hyperpriors; ``LQ`` and ``CDF`` (S, n):
    the index proposal's log probabilities and cumulative probabilities); ``carry`` =
    (key, indices (C, S), hyper (J, C, 2), hyperprior density (J, C), step (J, C), accepted
    index proposals (S,), summed over the group's chains).
    """
    jax = _jax()
    jnp, lax = jax.numpy, jax.lax
    TL, mask, n, ctx, LQ, CDF = data
    J, Sp = TL.shape[2] - 1, TL.shape[0]
    cols = jnp.arange(Sp)[None, :]
    C = carry[1].shape[0]

    def mine(draw: Callable, key: Any, shape: tuple, axis: int) -> Any:
        return lax.dynamic_slice_in_dim(draw(key, shape), first, C, axis)

    def gather(ix: Any) -> tuple[Any, Any]:  # the draws (J, C, S) and their lp1 (C, S)
        g = TL[cols, ix]  # (C, S, J + 1): one draw's values are adjacent in memory
        return jnp.moveaxis(g[..., :J], -1, 0), g[..., J]

    def weight(theta: Any, lp: Any, hh: Any) -> Any:  # (C, S) population minus stage-1 prior
        return pool_weight(pop, theta, hh[:, :, :1], hh[:, :, 1:], lp)

    # the current indices' draws, gathered once: the hyperparameter steps do not move them
    theta, lp_cur = gather(carry[1])

    def hyper_step(_: Any, c: tuple) -> tuple:
        k, ix, hh, hp, step, acc = c
        k, k1, k2 = jax.random.split(k, 3)
        prop = hh + step[..., None] * mine(jax.random.normal, k1, (J, chains, 2), 1)
        both = jnp.concatenate([hh, prop], axis=1)
        lp = (pop(jnp.concatenate([theta, theta], 1), both[:, :, :1], jnp.exp(both[:, :, 1:]))
              * mask).sum(2)
        prior_new = hyp(prop[..., 0], jnp.exp(prop[..., 1]), ctx)
        diff = (lp[:, C:] + prior_new + prop[..., 1]) - (lp[:, :C] + hp + hh[..., 1])
        ok = (jnp.log(mine(jax.random.uniform, k2, (J, chains), 1))
              < jnp.nan_to_num(diff, nan=-jnp.inf))
        step = step * jnp.exp(adapt * 0.1 * (ok - 0.3) / jnp.sqrt(1.0 + it / 50.0))
        return (k, ix, jnp.where(ok[..., None], prop, hh), jnp.where(ok, prior_new, hp), step,
                acc)

    def index_step(_: Any, c: tuple) -> tuple:  # independent proposals from LQ
        (k, ix, hh, hp, step, acc), r_old = c  # r: weight over proposal probability
        k, k1, k2 = jax.random.split(k, 3)
        u = mine(jax.random.uniform, k1, (chains, Sp), 0)
        new = invert_cdf(CDF, u, n)
        r_new = weight(*gather(new), hh) - LQ[cols, new]
        take = (jnp.log(mine(jax.random.uniform, k2, (chains, Sp), 0))
                < jnp.nan_to_num(r_new - r_old, nan=-jnp.inf))
        ix, r_old = jnp.where(take, new, ix), jnp.where(take, r_new, r_old)
        return (k, ix, hh, hp, step, acc + take.sum(0)), r_old

    carry = lax.fori_loop(0, HYPER_STEPS, hyper_step, carry)
    carry, _ = lax.fori_loop(0, INDEX_PROPOSALS, index_step,
                             (carry, weight(theta, lp_cur, carry[2]) - LQ[cols, carry[1]]))
    return carry


# --------------------------------------------------------------------------------------------
# both stages -> an arviz DataTree
# --------------------------------------------------------------------------------------------
def _series_ds(values: dict[str, np.ndarray], labels: list[str]) -> Any:
    """(curves, chains, draws) arrays -> Dataset with dims (chain, draw, series)."""
    import xarray as xr

    first = next(iter(values.values()))
    coords = {"chain": np.arange(first.shape[1]), "draw": np.arange(first.shape[2]),
              "series": labels}
    return xr.Dataset({k: (("chain", "draw", "series"), np.moveaxis(v, 0, -1))
                       for k, v in values.items()}, coords=coords)


def sample_percurve(model_cls: Any, md: Any, config: Any,
                    sampler: CurveSampler | None = None, scheduler: Any = None,
                    reference: dict[str, dict[str, np.ndarray]] | None = None
                    ) -> tuple[Any, dict[str, float], list[str], CurveSampler]:
    """Fit every curve of ``md`` with the two-stage engine.

    Returns the DataTree, timing (seconds), notes and the compiled sampler (reusable for
    refits of the same model and options).

    The tree has ``posterior`` (the hierarchical posterior: per-series parameters and the
    population's ``mu_*``/``sigma_*``), ``stage1`` (each curve alone under its stage-1
    prior: the no-pooling posterior), ``sample_stats`` (stage-1 divergences per series) and
    ``curve_diagnostics`` (per-series R-hat, ESS and divergences of stage 1, acceptance of the
    population step, ``ess_pool``: the effective draws of the pool the population step drew
    from, :func:`pool_ess`: the stage-1 draws, or draws near the pooled posterior where those
    were few, :func:`_near_pools`; ``light_proposal``: whether the curve's stage-1 draws come from
    the fallback proposal, see :func:`light_fallback`).

    ``reference`` maps curve labels to constrained stage-1 draws (each (chains, draws)) of the
    same curve under the same model, fitted to related data (:func:`reference_draws`): those
    curves are first importance-sampled from a Student-t fitted to them
    (:func:`run_stage_one`).
    """
    import xarray as xr

    sampler = sampler or CurveSampler(model_cls, md, config, scheduler=scheduler)
    labels = md.series["label"].tolist()
    names = [p.name for p in model_cls.all_params(md.likelihood)]
    data = sampler.curve_data(md.obs)
    ref = {i: reference[lab] for i, lab in enumerate(labels) if lab in (reference or {})}
    s1, diag = run_stage_one(sampler, data, labels, names, int(config.seed), reference=ref)
    S = s1.divergent.shape[0]
    timing = {"compile": sampler.compile_seconds, "stage1": s1.seconds, "stage2": 0.0}
    light = np.zeros(S, bool)
    s2 = None
    if md.pooled and S >= 2:
        fb = light_fallback(model_cls, md, sampler, data, labels, names, s1, diag)
        probe, light = _population(model_cls, md, config, s1, fb)
        diag = fb.diag if light.any() else diag
        pools, extra, ess1, last = _near_pools(model_cls, md, config, sampler, (data, labels),
                                               s1, diag, fb, light, probe)
        s2 = _stage_two_on(model_cls, md, config, pools, s1, fb, light, extra, hint=last)
        timing["stage1"] = s1.seconds  # with the near pools' rounds
        timing["stage2"] = s2.seconds + probe.seconds
    stage1 = _series_ds(s1.values, labels)
    diag_ds = xr.Dataset({k: ("series", diag[k].to_numpy()) for k in diag.columns},
                         coords={"series": labels})
    diag_ds["light_proposal"] = ("series", light)
    post = stage1
    if s2 is not None:
        # pools[k][s, index[c, d, s]] for every chain c, draw d and curve s
        post = xr.Dataset({k: (("chain", "draw", "series"), v.T[s2.index, np.arange(S)])
                           for k, v in pools.items()}, coords=stage1.coords)
        for k, v in s2.hyper.items():
            post[k] = (("chain", "draw"), v)
        diag_ds["accept_population"] = ("series", s2.accept_index)
        diag_ds["ess_pool"] = ("series", pool_ess(s2.index, pools[names[0]].shape[1], ess1))
    stats = xr.Dataset({"diverging": (("chain", "draw", "series"),
                                      np.moveaxis(s1.divergent, 0, -1))},
                       coords=stage1.coords)
    tree = xr.DataTree.from_dict({"posterior": post, "stage1": stage1, "sample_stats": stats,
                                  "curve_diagnostics": diag_ds})
    return tree, timing, s1.notes, sampler


def reference_draws(tree: Any, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """``{curve label: {name: (chains, draws)}}``: the stage-1 draws of a per-curve-engine
    fit's DataTree, as :func:`sample_percurve` takes them for ``reference`` (plain arrays:
    they travel to Dask workers)."""
    s1 = tree["stage1"]
    out: dict[str, dict[str, np.ndarray]] = {}
    for i, lab in enumerate(s1["series"].values.tolist()):
        out[str(lab)] = {k: np.asarray(s1[k].values[..., i], float) for k in names}
    return out


@dataclass
class Fallback:
    """Curves re-sampled under the light proposal (:func:`light_fallback`): their indices,
    the light ``ModelData``, the heavy-prior draws they replaced (to restore them if the
    fitted population is not covered) and the diagnostics with the light runs in."""

    curves: np.ndarray
    md_light: Any = None
    heavy: dict[str, np.ndarray] = field(default_factory=dict)
    heavy_divergent: np.ndarray | None = None
    diag: Any = None
    heavy_diag: Any = None


def light_fallback(model_cls: Any, md: Any, sampler: CurveSampler, data: list[np.ndarray],
                   labels: list[str], names: list[str], s1: StageOne, diag: Any) -> Fallback:
    """Re-sample the curves that still fail their diagnostics under a light proposal.

    The stage-1 prior of a pooled parameter is a *proposal* of the population step: any proper
    prior works as long as the step divides by it and it covers the population. Curves that
    failed (after :func:`run_stage_one`'s retries) are run again with the Student-t stage-1
    prior of each parameter declared ``light`` (the steepness, not the threshold) replaced by
    the normal of the same location and scale
    (:func:`emergence.models.base.light_proposal`); a curve takes the new draws (in ``s1``,
    in place) only if they pass. :func:`_population` then checks coverage per curve
    (:func:`light_khat`) and may undo it.
    """
    from dataclasses import replace

    from .models.base import light_proposal

    div, slow = _failing(diag, sampler.config)
    bad = np.union1d(div, slow).astype(int)
    light = {p.name: light_proposal(md.priors[p.name])
             for p in model_cls.all_params(md.likelihood) if p.pooled and p.light}
    light = {k: v for k, v in light.items() if v is not None}
    if not len(bad) or not light:
        return Fallback(np.array([], int))
    md_light = replace(md, priors={**md.priors, **light})
    ls = CurveSampler(model_cls, md_light, sampler.config, n_rows=sampler.n_rows,
                      scheduler=sampler.scheduler)
    sub = [a[bad] for a in data]
    sl, dl = run_stage_one(ls, sub, [labels[i] for i in bad], names, int(sampler.config.seed),
                           width=RERUN_WIDTH)
    dv, sw = _failing(dl, sampler.config)
    ok = np.setdiff1d(np.arange(len(bad)), np.union1d(dv, sw))
    take = bad[ok]
    fb = Fallback(take, md_light, {k: v[take].copy() for k, v in s1.values.items()},
                  s1.divergent[take].copy(), diag.copy(), diag)  # diag itself is not changed
    for k in s1.values:
        s1.values[k][take] = sl.values[k][ok]
    s1.divergent[take] = sl.divergent[ok]
    fb.diag.iloc[take] = dl.iloc[ok].to_numpy()
    s1.seconds += sl.seconds + ls.compile_seconds
    s1.notes.append(f"{len(bad)} curve(s) still failing were re-sampled under normal stage-1 "
                    f"priors (the light proposal); {len(take)} passed.")
    return fb


#: Largest Pareto k-hat (Vehtari et al. 2024) of a light curve's importance weights (fitted
#: population predictive / light proposal, over its own stage-1 draws): above it the weights
#: are too heavy-tailed for the population step to trust, and the curve's heavy-prior draws
#: come back.
LIGHT_KHAT_MAX = 0.7


def _population(model_cls: Any, md: Any, config: Any, s1: StageOne, fb: Fallback
                ) -> tuple[StageTwo, np.ndarray]:
    """A probe of the population step (its chain not extended, :func:`_stage_two_on`), each
    curve's draws weighted by its own proposal. A light curve whose importance weights under
    the fitted population are heavy-tailed (:func:`light_khat` >= :data:`LIGHT_KHAT_MAX`) gets
    its heavy-prior draws back, and the probe is re-run. Returns the probe and the mask of
    curves whose draws are light."""
    S = s1.divergent.shape[0]
    light = np.isin(np.arange(S), fb.curves)

    def step() -> StageTwo:
        flat = {k: v.reshape(S, -1) for k, v in s1.values.items()}
        return _stage_two_on(model_cls, md, config, flat, s1, fb, light, probe=True)

    s2 = step()
    if light.any():
        khat = light_khat(model_cls, md, fb.md_light, s2.hyper, s1, np.flatnonzero(light),
                          int(config.seed))
        back = np.flatnonzero(light)[khat >= LIGHT_KHAT_MAX]
        if len(back):
            rows = np.flatnonzero(np.isin(fb.curves, back))
            for k in s1.values:
                s1.values[k][back] = fb.heavy[k][rows]
            s1.divergent[back] = fb.heavy_divergent[rows]
            fb.diag.iloc[back] = fb.heavy_diag.iloc[back].to_numpy()
            light[back] = False
            s1.notes.append(f"{len(back)} of them: the light proposal does not cover the "
                            f"fitted population for this curve (Pareto k-hat of its weights >= "
                            f"{LIGHT_KHAT_MAX:g}); they keep their Student-t stage-1 draws and "
                            "diagnostics.")
            seconds = s2.seconds
            s2 = step()
            s2.seconds += seconds
    return s2, light


def _stage_two_on(model_cls: Any, md: Any, config: Any, pools: dict[str, np.ndarray],
                  s1: StageOne, fb: Fallback, light: np.ndarray,
                  extra: np.ndarray | None = None, probe: bool = False,
                  hint: StageTwo | None = None) -> StageTwo:
    """The population step over the draws ``pools`` (each (curves, n)), every curve's weights
    divided by its own proposal (the light one for ``light`` curves; ``extra`` added to the
    log stage-1 term, for draws from another proposal). A ``probe`` runs the chain once,
    never extended (:func:`run_stage_two`), and adds no note: its draws only decide which
    proposals the final step uses. With a ``hint`` (an earlier probe), the index updates
    propose from each curve's pooled posterior under the hint's population
    (:func:`index_proposal`); without one, uniformly."""
    from .models.base import population_densities

    _, C, D = s1.divergent.shape
    dens = population_densities(model_cls, md)
    target = min(float(config.ess_min), 0.5 * C * D)  # reachable with C x D draws
    lp1 = sum(dens.stage1(k, pools[k]) for k in dens.pooled)
    if light.any():
        dl = population_densities(model_cls, fb.md_light)
        lp1[light] = sum(dl.stage1(k, pools[k][light]) for k in dens.pooled)
    if extra is not None:
        lp1 = lp1 + extra
    lq = None if hint is None else index_proposal(dens, pools, lp1, hint.hyper, int(config.seed))
    s2 = run_stage_two(dens, pools, C, D, int(config.seed), ess_min=target, lp1=lp1,
                       extend=0 if probe else STAGE2_EXTEND, lq=lq)
    if not probe:
        s1.notes += stage_two_notes(s2.ess, s2.thin, D, target, s2.collapsed_khat)
    return s2


#: Hyperparameter draws the index proposal (:func:`index_proposal`) mixes the population
#: over, and the share of its probability spread uniformly over the pool (defensive).
INDEX_HINT_DRAWS = 32
INDEX_DEFENSIVE = 0.1

#: Curves per call of the population density when the index proposal is built.
_HINT_CHUNK = 64


def index_proposal(dens: Any, pools: dict[str, np.ndarray], lp1: np.ndarray,
                   hyper: dict[str, np.ndarray], seed: int, k: int = INDEX_HINT_DRAWS,
                   defensive: float = INDEX_DEFENSIVE) -> np.ndarray:
    """Log probabilities (curves, n) with which the population chain's index updates propose
    each pool draw: the curve's pooled posterior under ``hyper`` (an earlier run's population
    draws), i.e. the population predictive (mixed over ``k`` of them) over the stage-1 term
    ``lp1``, normalised over the pool; a share ``defensive`` spread uniformly.

    Uniform proposals from the pool are accepted at about the pool's Kish share under the
    population: with many curves the hyperparameters are pinned by the current indices and
    move only as fast as the indices do, so a chain at T = 1000 curves needed 15 times its
    length (docs/engine.md). Proposals from this distribution are accepted nearly always.

    Examples
    --------
    A pool of 4 draws of one parameter, a population at 0 with spread 1: the draws near 0 are
    proposed most, none never.

    >>> import numpy as np
    >>> class Dens:  # a normal population, for the example
    ...     pooled = ["a"]
    ...     def population(self, th, mu, sd):
    ...         return -0.5 * ((th - mu) / sd) ** 2 - np.log(sd)
    >>> hyper = {"mu_a": np.zeros((1, 5)), "sigma_a": np.ones((1, 5))}
    >>> lq = index_proposal(Dens(), {"a": np.array([[-3.0, -0.5, 0.0, 2.0]])},
    ...                     np.zeros((1, 4)), hyper, seed=0)
    >>> np.round(np.exp(lq), 3)
    array([[0.03 , 0.416, 0.469, 0.085]])
    """
    S, n = lp1.shape
    rng = np.random.default_rng(curve_seed(seed, "__index_proposal__"))
    n_hyper = hyper[f"mu_{dens.pooled[0]}"].size
    pick = rng.choice(n_hyper, size=min(k, n_hyper), replace=False)
    out = np.empty((S, n))
    for lo in range(0, S, _HINT_CHUNK):
        rows = slice(lo, min(lo + _HINT_CHUNK, S))
        theta = np.stack([pools[p][rows].ravel() for p in dens.pooled])  # (J, curves x n)
        out[rows] = _predictive_logp(dens, hyper, theta, pick).reshape(-1, n) - lp1[rows]
    out = np.nan_to_num(out, nan=-np.inf, posinf=-np.inf)
    out -= np.logaddexp.reduce(out, axis=1, keepdims=True)
    return np.logaddexp(np.log1p(-defensive) + out, np.log(defensive / n))


#: Largest Pareto k-hat of a near pool's weights (fitted population predictive x likelihood
#: over the near proposal) for the curve to keep it.
NEAR_POOL_KHAT_MAX = 0.7


#: Rounds of near pools: each round's draws are fitted to the pooled draws of a probe of the
#: population step over the previous round's pools.
NEAR_POOL_ROUNDS = 2


def _near_pools(model_cls: Any, md: Any, config: Any, sampler: CurveSampler,
                curves: tuple[list[np.ndarray], list[str]], s1: StageOne, diag: Any,
                fb: Fallback, light: np.ndarray, probe: StageTwo
                ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray, StageTwo]:
    """Each curve's pool of draws for the population step, the log weight terms of the draws
    not from stage 1 (``None`` if none), each pool's ESS and the last probe.

    A curve whose pooled posterior, in the ``probe`` of the population step, rests on fewer
    than ``config.ess_min`` effective stage-1 draws (:func:`pool_ess`) gets a pool of C x D
    independent draws from a Student-t mixture fitted to its probe draws
    (:meth:`CurveSampler._t_proposal`, the stage-1 prior as defensive component), kept when
    the Pareto k-hat of their weights under the probe's population is below
    :data:`NEAR_POOL_KHAT_MAX` and their Kish size beats the old pool's. Up to
    :data:`NEAR_POOL_ROUNDS` rounds, each after a new probe over the new pools. Curves on the
    light proposal or failing their diagnostics keep their stage-1 draws. The ``stage1`` group
    of the fit stays the stage-1 (no-pooling) posterior."""
    S, C, D = s1.divergent.shape
    pools = {k: v.reshape(S, -1).copy() for k, v in s1.values.items()}
    extra = np.zeros((S, C * D))
    ess1 = diag["ess_bulk_min"].to_numpy(float).copy()
    plain = ~light
    plain[np.union1d(*_failing(diag, config)).astype(int)] = False
    t0, counts = time.perf_counter(), []
    for r in range(NEAR_POOL_ROUNDS):
        if r:
            probe = _stage_two_on(model_cls, md, config, pools, s1, fb, light, extra,
                                  probe=True, hint=probe)
        pool = pool_ess(probe.index, C * D, ess1)
        low = np.flatnonzero(plain & (pool < float(config.ess_min)))
        if not len(low):
            break
        took = [s for s in low
                if _near_round(model_cls, md, sampler, curves, s, probe, pools, extra, ess1,
                               pool[s], curve_seed(int(config.seed), "__near__", r))]
        counts.append((len(took), len(low), float(pool[low].min())))
        if not took:
            break
    s1.seconds += time.perf_counter() - t0
    if counts:
        s1.notes.append(
            f"{counts[0][0]} of {counts[0][1]} curve(s) whose pooled posterior rested on fewer "
            f"than {config.ess_min:.0f} effective stage-1 draws (smallest {counts[0][2]:.0f}) "
            f"took {C * D} draws near their pooled posterior for the population step (Pareto "
            f"k-hat of their weights < {NEAR_POOL_KHAT_MAX:g})"
            + "".join(f"; round {i + 2}: {t} of {n} (smallest {m:.0f})"
                      for i, (t, n, m) in enumerate(counts[1:])) + ".")
    return pools, extra if extra.any() else None, ess1, probe


def _near_round(model_cls: Any, md: Any, sampler: CurveSampler,
                curves: tuple[list[np.ndarray], list[str]], s: int, probe: StageTwo,
                pools: dict[str, np.ndarray], extra: np.ndarray, ess1: np.ndarray,
                pool: float, seed: int) -> bool:
    """Draw curve ``s``'s near pool from a Student-t mixture fitted to its pooled draws in
    ``probe``; where it is kept (:func:`_near_pools`), write it into ``pools``, its log weight
    term into ``extra`` and its ESS into ``ess1`` (in place). Returns whether it was kept."""
    data, labels = curves
    n = extra.shape[1]
    logp_fn, constrain_fn, _ = sampler._is_programs()
    d = [np.asarray(a[s]) for a in data]
    picked = {k: pools[k][s][probe.index[:, :, s]] for k in sampler.program.var_names}
    pos, lq = sampler._t_proposal(picked, d, labels[s], seed)(n)
    lf = np.asarray(logp_fn(pos, d), float)
    vals = dict(zip(sampler.program.var_names, constrain_fn(pos), strict=True))
    vals = {k: np.asarray(v)[:, 0] for k, v in vals.items()}
    k, kish = _near_khat(model_cls, md, probe.hyper, vals, lf - lq)
    if k >= NEAR_POOL_KHAT_MAX or kish <= pool:
        return False
    for name in pools:
        pools[name][s] = vals[name]
    extra[s] = lq - lf
    ess1[s] = n
    return True


def _near_khat(model_cls: Any, md: Any, hyper: dict[str, np.ndarray],
               vals: dict[str, np.ndarray], lw_stage1: np.ndarray, n_dens: int = 100
               ) -> tuple[float, float]:
    """Pareto k-hat and Kish size of a near pool's weights under the fitted population: the
    population predictive of the pooled parameters (mixed over ``n_dens`` hyperparameter
    draws; these weights only decide whether a curve keeps the pool) over their stage-1
    prior, times the draws' stage-1 weights ``lw_stage1`` (full density over proposal)."""
    from .models.base import population_densities

    dens = population_densities(model_cls, md)
    rng = np.random.default_rng(11)
    pick = rng.integers(hyper[f"mu_{dens.pooled[0]}"].size, size=n_dens)
    theta = np.stack([vals[k] for k in dens.pooled])
    lw = np.asarray(lw_stage1, float) + _predictive_logp(dens, hyper, theta, pick)
    lw -= sum(dens.stage1(k, vals[k][None])[0] for k in dens.pooled)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    return pareto_khat(lw), float(1.0 / np.sum(w ** 2))


def _predictive_logp(dens: Any, hyper: dict[str, np.ndarray], theta: np.ndarray,
                     pick: np.ndarray) -> np.ndarray:
    """Log population predictive of ``theta`` (pooled parameters, B points: (J, B)), joint
    over the pooled parameters and mixed over the hyperparameter draws ``pick`` (indices into
    the flattened draws of ``hyper``): (B,)."""
    mu = np.stack([hyper[f"mu_{k}"].ravel()[pick] for k in dens.pooled])[:, :, None]
    sd = np.stack([hyper[f"sigma_{k}"].ravel()[pick] for k in dens.pooled])[:, :, None]
    lp = dens.population(np.broadcast_to(theta[:, None, :], (len(theta), len(pick),
                                                               theta.shape[1])), mu, sd)
    return np.logaddexp.reduce(lp.sum(axis=0), axis=0) - np.log(len(pick))


def pareto_khat(lw: np.ndarray) -> float:
    """Pareto k-hat of the importance weights ``exp(lw)`` (any shape, one sample; arviz-stats'
    numpy layer, no xarray per call); inf when undefined.

    >>> import numpy as np
    >>> bool(pareto_khat(np.random.default_rng(0).normal(size=2000) * 0.1) < 0.5)
    True
    """
    from arviz_stats.base.array import array_stats

    k = array_stats.pareto_khat(np.ravel(lw)[None], log_weights=True, tail="right")
    return float(np.nan_to_num(np.asarray(k, float), nan=np.inf))


def stage_two_notes(ess: dict[str, float], thin: int, draws: int, target: float,
                    khat: float = np.nan) -> list[str]:
    """The fit's notes on its population chain: how much longer it ran (``thin`` > 1, thinned
    back to ``draws`` per chain) or that its draws came from the collapsed step (``khat``, the
    proposal's Pareto k-hat, not NaN), and, when the smallest bulk ESS of the population
    parameters (``ess``, :attr:`StageTwo.ess`) is still below ``target``, that ESS and where:
    the population's numbers are then less certain than the curves', whose own diagnostics are
    separate.

    Examples
    --------
    >>> stage_two_notes({"mu_x0": 1900.0, "sigma_x0": 1700.0}, 1, 500, 400.0)
    []
    >>> notes = stage_two_notes({"mu_x0": 1900.0, "sigma_x0": 5.0}, 8, 500, 400.0)
    >>> len(notes), "still below 400: 5 for sigma_x0" in notes[1]
    (2, True)
    >>> stage_two_notes({"mu_x0": 1900.0, "sigma_x0": 900.0}, 1, 500, 400.0, khat=0.21)[0][:60]
    'The population chain mixed slowly (bulk ESS below 400): its '
    """
    notes: list[str] = []
    if not np.isnan(khat):
        notes.append(f"The population chain mixed slowly (bulk ESS below {target:.0f}): its "
                     "hyperparameters were drawn with the curves' draw indices summed out "
                     "(independence Metropolis from a Student-t fitted to the chain, Pareto "
                     f"k-hat {khat:.2f}), each with exact index draws.")
    if thin > 1:
        notes.append(f"The population chain mixed slowly (bulk ESS below {target:.0f}): "
                     f"it ran {thin} times as long, thinned to {draws} draws per chain.")
    worst = min(ess, key=ess.get) if ess else None  # none: nothing pooled
    if worst is not None and ess[worst] < target:
        notes.append(f"The population chain's smallest bulk ESS is still below {target:.0f}: "
                     f"{ess[worst]:.0f} for {worst}. The population's "
                     "numbers (mu_*, sigma_*) are less certain than that target; each curve's "
                     "own diagnostics are separate.")
    return notes


def light_khat(model_cls: Any, md: Any, md_light: Any, hyper: dict[str, np.ndarray],
               s1: StageOne, curves: np.ndarray, seed: int, n_dens: int = 500) -> np.ndarray:
    """Pareto k-hat of each light curve's importance weights: fitted population predictive
    (the population mixed over ``n_dens`` posterior hyperparameter draws) over light proposal,
    at the curve's own stage-1 draws, for the parameters whose proposal is light.

    Large weights in the draws' tail (k-hat >= 0.7) mean the population puts mass where the
    light proposal thinned the draws out: the curve's likelihood leaves that direction open and
    the population's tails reach further than the proposal's (PSIS, via arviz-stats)."""
    import xarray as xr

    from .models.base import population_densities, population_predictive_logp

    light_dens = population_densities(model_cls, md_light)
    rng = np.random.default_rng(curve_seed(seed, "__light__"))
    logw = 0.0
    for p in model_cls.all_params(md.likelihood):
        if not p.pooled or md_light.priors[p.name] == md.priors[p.name]:
            continue
        mu, sd = hyper[f"mu_{p.name}"].ravel(), hyper[f"sigma_{p.name}"].ravel()
        pick = rng.integers(len(mu), size=n_dens)
        theta = s1.values[p.name][curves]  # (L, chains, draws)
        proposal = light_dens.stage1(p.name, theta.reshape(len(curves), -1)).reshape(theta.shape)
        logw = logw + population_predictive_logp(p, mu[pick], sd[pick], theta) - proposal
    da = xr.DataArray(np.asarray(logw), dims=("curve", "chain", "draw"))
    k = da.azstats.pareto_khat(sample_dims=("chain", "draw"), log_weights=True, tail="right")
    return np.nan_to_num(np.asarray(k.values, float), nan=np.inf)
