"""Traced JAX programs kept on disk between processes (:mod:`jax.export`).

JAX's persistent compilation cache keeps the *compiled* programs between processes, but each
process still traces every program from Python and lowers it to StableHLO before it can look
the executable up: in a cold ``emergence check`` of 130 curves that is 53 programs and about
15 CPU-seconds (docs/benchmarks.md). :func:`persistent_jit` keeps the *traced* program too: the
first process exports it (``jax.export``), writes it next to the compilation cache and runs
the program it wrote, read back; later processes read the file back and only wrap it, so
nothing is traced again, and they find the executable of that same module in the compilation
cache. (Until 2026-11-28 the first process ran the plain :func:`jax.jit` program, whose XLA
module differs from the exported one: the second process on a machine compiled every program
again, and a ``check`` of the OPT folder took 85 s there against 55 s warm.)

The file of a program is named by a hash of

- the caller's ``key``, which must describe everything the traced function depends on
  (model, likelihood, priors, shapes that are not arguments, ...);
- the shapes, dtypes and tree structure of the arguments;
- the versions of jax, jaxlib, pymc and pytensor, and a hash of this package's source files,
  so that any change of the code that is traced makes a new file.

The numbers are those of :func:`jax.jit` of the same function: the exported program is the
same StableHLO (``tests/test_programs.py``: identical draws). ``EMERGENCE_JAX_CACHE=""`` (no
cache) turns the files off as well, and so does ``EMERGENCE_KEEP_TRACED=0`` alone (the test
suite sets it: most of its programs are compiled once, where the slower compilation of the
exported modules would cost a cold run about a minute).
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write

__all__ = ["cache_root", "persistent_jit", "program_dir"]


def cache_root() -> str:
    """``$EMERGENCE_JAX_CACHE``, default ``~/.cache/emergence/jax``: the folder of the compiled
    programs (:func:`emergence.engine._jax`) and of the traced ones; empty means no cache."""
    return os.environ.get("EMERGENCE_JAX_CACHE",
                          os.path.join(os.path.expanduser("~"), ".cache", "emergence", "jax"))


def program_dir() -> Path | None:
    """Directory of the exported programs (``$EMERGENCE_JAX_CACHE/exported``; None when off:
    ``EMERGENCE_JAX_CACHE=""`` or ``EMERGENCE_KEEP_TRACED=0``)."""
    root = cache_root()
    off = os.environ.get("EMERGENCE_KEEP_TRACED", "1") == "0"
    return Path(root) / "exported" if root and not off else None


@cache
def _code_version() -> str:
    """Versions of the tracing libraries and a hash of this package's source files."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for dist in ("jax", "jaxlib", "pymc", "pytensor"):
        h.update(f"{dist}={version(dist)};".encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(str(p.relative_to(pkg)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _signature(args: tuple) -> tuple:
    import jax

    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((tuple(np.shape(x)), str(_dtype(x))) for x in leaves)


def _dtype(x: Any) -> np.dtype:
    """The dtype of an array argument (Python scalars as NumPy would convert them)."""
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


class _Persistent:
    """A jitted function whose traced program is read from / written to :func:`program_dir`
    once per argument signature."""

    def __init__(self, fn: Callable[..., Any], key: str) -> None:
        import jax

        self._key = key
        self._jit = jax.jit(fn)
        self._calls: dict[tuple, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        sig = _signature(args)
        call = self._calls.get(sig)
        if call is None:
            with self._lock:
                call = self._calls.get(sig) or self._load(args, sig)
                self._calls[sig] = call
        return call(*args)

    def _load(self, args: tuple, sig: tuple) -> Callable[..., Any]:
        import jax
        from jax import export

        folder = program_dir()
        if folder is None:
            return self._jit
        name = hashlib.sha256(repr((_code_version(), self._key, sig)).encode()).hexdigest()
        path = folder / f"{name}.jaxexp"
        exp = None
        if path.exists():
            try:
                exp = export.deserialize(bytearray(path.read_bytes()))
            except Exception:  # an unreadable file is rebuilt below
                exp = None
        if exp is not None:
            return jax.jit(exp.call)
        specs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), _dtype(x)), args)
        try:
            data = export.export(self._jit)(*specs).serialize()
        except Exception as err:  # the cache is an optimisation: say so, and trace
            _warn_once(err)
            return self._jit
        _keep(path, data)
        # this process runs the program it wrote, read back, not the plain jax.jit one: the
        # two are different XLA modules, so a later process that reads the file would find
        # no executable for it in the compilation cache and compile it again
        return jax.jit(export.deserialize(bytearray(data)).call)


def _warn_once(err: Exception) -> None:
    """Warn (once per process) that traced programs cannot be kept on disk."""
    if getattr(_warn_once, "done", False):
        return
    _warn_once.done = True  # type: ignore[attr-defined]
    warnings.warn(f"emergence cannot keep traced programs on disk ({type(err).__name__}: "
                  f"{err}); they are traced again in every process (slower, same numbers).",
                  RuntimeWarning, stacklevel=3)


def _keep(path: Path, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` atomically (:func:`emergence._io.atomic_write`: readers in
    other processes never see a partial file); a folder that cannot be written leaves the
    program in this process's memory only."""
    try:
        atomic_write(path, lambda p: p.write_bytes(bytes(data)))
    except OSError:
        pass


def persistent_jit(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
    """``jax.jit(fn)`` whose traced programs are kept on disk between processes.

    Parameters
    ----------
    fn : callable
        A function of arrays (pytrees of arrays) only, as for :func:`jax.jit`.
    key : str
        Everything ``fn``'s trace depends on besides its arguments' shapes and dtypes and this
        package's code (e.g. the engine's program key).

    Returns
    -------
    callable
        Same arguments and results as ``jax.jit(fn)``.

    Examples
    --------
    >>> import numpy as np
    >>> from emergence._programs import persistent_jit
    >>> from emergence.engine import _jax
    >>> jnp = _jax().numpy
    >>> f = persistent_jit(lambda x: jnp.sum(x ** 2), key="doc-example")
    >>> float(f(np.arange(3.0)))
    5.0
    """
    return _Persistent(fn, key)
