"""Independent jobs on threads, with warnings that stay with the job that raised them.

``check`` runs its comparison, its noise-model refit and its predictability back-test at the
same time (:func:`run_jobs`): they are independent given the sigmoid fit, and each leaves a
core idle for part of its run (importance sampling curve by curve, the population chain, the
compilation of a new model's programs). Their numbers do not depend on the order or the
overlap: every curve's draws come from its own seed and fixed-width lanes.

Python's warning filters are process-wide, and :class:`warnings.catch_warnings` is not
thread-safe (before Python 3.14's context-aware warnings): a job that silenced a category
would silence it for every thread, and one that recorded warnings would take the other jobs'
too. So the package's own code silences and records warnings with :func:`suppressed` and
:func:`recorded`. Outside :func:`run_jobs` they are ``catch_warnings`` as before. Inside,
they act on a per-thread stack, and one router, installed for the run, sends every warning to
the innermost ``recorded`` list of its thread, drops it if a ``suppressed`` of its thread
covers it, and otherwise keeps it; the kept warnings are re-issued in the calling thread when
the jobs are done (in job order), through the caller's own filters.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

_TLS = threading.local()
#: the warnings kept during :func:`run_jobs`, with the index of the job that raised them
_KEPT: list[tuple[int, warnings.WarningMessage]] = []
_STATE = threading.Lock()
_ACTIVE = False
#: Held while compiling a model's programs and while calling compiled PyTensor functions
#: (their inputs and shared variables live in the function object): the JAX programs
#: themselves run concurrently.
PYTENSOR_LOCK = threading.RLock()


def built_when_called(make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """A function that builds the real one with ``make()`` the first time it is called (under
    :data:`PYTENSOR_LOCK`, outside any JAX trace: ``jax.ensure_compile_time_eval``).

    For PyTensor's JAX translation of a graph (``get_jaxified_graph``): it is needed only to
    trace a program, which a process that reads its traced programs from disk
    (:mod:`emergence._programs`) never does; building every translation up front cost a
    ``check`` about 2 CPU-seconds of graph rewriting."""
    box: list[Callable[..., Any]] = []

    def call(*args: Any) -> Any:
        if not box:
            import jax

            with PYTENSOR_LOCK, jax.ensure_compile_time_eval():
                if not box:
                    box.append(make())
        return box[0](*args)

    return call


def _stack() -> list[Any]:
    if not hasattr(_TLS, "stack"):
        _TLS.stack = []
    return _TLS.stack


def _route(message: Any, category: type[Warning], filename: str, lineno: int,
           file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` during :func:`run_jobs`: record, drop or keep (see module)."""
    msg = warnings.WarningMessage(message, category, filename, lineno, file, line)
    for entry in reversed(_stack()):
        if isinstance(entry, list):
            entry.append(msg)
            return
        if issubclass(category, entry):
            return
    with _STATE:
        _KEPT.append((getattr(_TLS, "job", -1), msg))


@contextmanager
def suppressed(*categories: type[Warning]) -> Iterator[None]:
    """Ignore warnings of ``categories`` (default: all) in this block, in this thread only
    when jobs run concurrently.

    Examples
    --------
    >>> import warnings
    >>> with suppressed(UserWarning):
    ...     warnings.warn("not shown")
    """
    cats = tuple(categories) or (Warning,)
    if not _ACTIVE:
        with warnings.catch_warnings():
            for c in cats:
                warnings.simplefilter("ignore", c)
            yield
        return
    stack = _stack()
    stack.extend(cats)
    try:
        yield
    finally:
        del stack[len(stack) - len(cats):]


@contextmanager
def recorded() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning of this block in a list (``catch_warnings(record=True)`` with
    ``simplefilter("always")``), in this thread only when jobs run concurrently.

    Examples
    --------
    >>> import warnings
    >>> with recorded() as caught:
    ...     warnings.warn("kept")
    >>> [str(w.message) for w in caught]
    ['kept']
    """
    if not _ACTIVE:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
        return
    log: list[warnings.WarningMessage] = []
    stack = _stack()
    stack.append(log)
    try:
        yield log
    finally:
        stack.remove(log)


def busy() -> bool:
    """Whether :func:`run_jobs` is running jobs side by side (then they already share the
    cores, and a job need not split its own work across threads).

    Examples
    --------
    >>> busy()
    False
    """
    return _ACTIVE


def _job(i: int, fn: Callable[[], Any], stack: list[Any]) -> Callable[[], Any]:
    def run() -> Any:
        _TLS.job, _TLS.stack = i, list(stack)
        try:
            return fn()
        finally:
            del _TLS.job
    return run


def _in_pool(jobs: list[Callable[[], Any]], workers: int, job: int | None
             ) -> list[Any]:
    """Every job on the pool (each thread starts with the caller's warning stack), then the
    first failure in job order is raised."""
    stack = list(_stack())
    with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
        futures = [pool.submit(_job(i if job is None else job, fn, stack))
                   for i, fn in enumerate(jobs)]
    for f in futures:
        if f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def _import_lazy_modules() -> None:
    """Import, in this thread, the modules that libraries import lazily on first use.

    xarray imports ``dask.array`` the first time it builds a variable, and SciPy's array-API
    helpers look it up in ``sys.modules`` and read ``dask.array.Array``: on two threads at once
    the second saw the module half imported (``AttributeError: partially initialized module
    'dask.array' has no attribute 'Array'``, in a test of ``compare`` on threads)."""
    import importlib.util

    if importlib.util.find_spec("dask") is not None:
        import dask.array  # noqa: F401


def run_jobs(jobs: list[Callable[[], Any]], workers: int = 2) -> list[Any]:
    """Run zero-argument ``jobs`` on up to ``workers`` threads; their results in job order.

    The first failing job's exception (in job order) is raised after every job has finished.
    Warnings go through :func:`suppressed` / :func:`recorded` as described in the module; the
    kept ones are re-issued here, job by job. A call from inside a job runs its jobs on a pool
    of their own (they inherit the job's warning stack); the outermost call re-issues the
    warnings. With ``workers`` 1 the jobs run one after the other in this thread.

    Examples
    --------
    >>> run_jobs([lambda: 1 + 1, lambda: "b"])
    [2, 'b']
    """
    global _ACTIVE
    if workers <= 1 or len(jobs) <= 1:
        return [fn() for fn in jobs]
    _import_lazy_modules()
    with _STATE:
        nested, _ACTIVE = _ACTIVE, True
    if nested:
        return _in_pool(jobs, workers, getattr(_TLS, "job", -1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _route
            try:
                return _in_pool(jobs, workers, None)
            finally:
                kept = sorted(_KEPT, key=lambda t: t[0])
                _KEPT.clear()
                with _STATE:
                    _ACTIVE = False
    finally:  # through the caller's own filters, after catch_warnings restored them
        for _, w in kept:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


__all__ = ["PYTENSOR_LOCK", "busy", "recorded", "run_jobs", "suppressed"]
