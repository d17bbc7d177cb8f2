"""Priors as data: a PyMC distribution name and its parameters, checked when created.

A :class:`Prior` is the one definition of a prior used everywhere: the PyMC model takes its
random variable (:meth:`Prior.rv`), and every Monte Carlo use of the prior (the width
contraction of :mod:`emergence.coverage`, simulation-based calibration) takes PyMC's own draws
(:meth:`Prior.draw`). So any PyMC distribution (``HalfStudentT``, ``Gamma``, ``LogNormal``, ...)
works in a fit and in everything after it, and a misnamed parameter is a
:class:`~emergence.errors.ConfigError` naming the valid ones, raised when the prior is created
(for example when a TOML file is read), not a ``KeyError`` deep inside a fit.

A parameter given as a string (``"x_mid"``) is a placeholder resolved from a context dict when
the model is built (the midpoint of the observed log10-scale range, used to centre threshold
priors on the data).

>>> from emergence.priors import Prior
>>> p = Prior("HalfStudentT", {"nu": 3, "sigma": 1.0})
>>> p.draw(4, seed=1).shape
(4,)
>>> Prior("Normal", {"mean": 0.0})
Traceback (most recent call last):
...
emergence.errors.ConfigError: prior Normal(mean=0.0): Normal takes mu, sigma, tau; got mean.
"""

from __future__ import annotations

import difflib
import inspect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import numpy as np

from .errors import ConfigError

#: Arguments of ``Distribution.dist`` that are not parameters of the distribution.
_NOT_PARAMS = frozenset({"size", "shape", "dims", "rng", "initval", "observed", "transform",
                         "default_transform", "class_name"})
#: Compilation mode of the one-off draw functions (compiles in milliseconds; the default mode
#: spends seconds compiling a function that runs once).
DRAW_MODE = "FAST_COMPILE"
#: Serialises the cached draw functions of :func:`draw_priors` (threads, e.g. a threaded Dask
#: worker, must not reseed a function another thread is drawing from).
_DRAW_LOCK = threading.Lock()


@cache
def _distribution(name: str) -> Any:
    """The PyMC distribution class called ``name`` (a ConfigError suggests close names)."""
    import pymc as pm

    dist = getattr(pm, name, None) if isinstance(name, str) else None
    if not (inspect.isclass(dist) and issubclass(dist, pm.Distribution)):
        known = [n for n in dir(pm) if inspect.isclass(getattr(pm, n))
                 and issubclass(getattr(pm, n), pm.Distribution)]
        near = difflib.get_close_matches(str(name), known, n=3)
        hint = f"did you mean {', '.join(near)}?" if near else "e.g. Normal, HalfNormal, Beta, StudentT."
        raise ConfigError(f"prior distribution {name!r} is not a PyMC distribution; {hint}")
    return dist


@cache
def parameter_names(name: str) -> tuple[str, ...]:
    """Names of the parameters PyMC's distribution ``name`` accepts (from its signature).

    >>> parameter_names("Normal")
    ('mu', 'sigma', 'tau')
    """
    sig = inspect.signature(_distribution(name).dist)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in sig.parameters.values()
                 if p.kind in kinds and p.name not in _NOT_PARAMS)


@dataclass(frozen=True)
class Prior:
    """A prior as data: a PyMC distribution name and its parameters.

    Parameters
    ----------
    dist : str
        Name of a PyMC distribution (``"Normal"``, ``"HalfStudentT"``, ``"Gamma"``, ...).
    params : dict
        Its parameters by name. A string value is a placeholder resolved from the context
        given to :meth:`resolved` (``"x_mid"``: the midpoint of the observed log10 scales).

    Raises
    ------
    ConfigError
        When ``dist`` is not a PyMC distribution, a parameter name is not one of its
        parameters, or the numbers given do not define the distribution.

    Examples
    --------
    >>> Prior("Gamma", {"alpha": 2.0, "beta": 1.0}).as_dict()
    {'dist': 'Gamma', 'alpha': 2.0, 'beta': 1.0}
    """

    dist: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"prior {self.dist!r}: parameters must be a mapping, not "
                              f"{type(self.params).__name__}.")
        object.__setattr__(self, "params", dict(self.params))
        valid = parameter_names(self.dist)
        bad = [k for k in self.params if k not in valid]
        if bad:
            raise ConfigError(f"prior {self}: {self.dist} takes {', '.join(valid)}; got "
                              f"{', '.join(bad)}.")
        # the numbers must define the distribution (placeholders stand in as 1.0 here)
        trial = {k: 1.0 if isinstance(v, str) else v for k, v in self.params.items()}
        self._make(trial)

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | Prior) -> Prior:
        """Build from ``{"dist": "Normal", "mu": 0, "sigma": 1}`` (or return a Prior as is).

        >>> Prior.from_spec({"dist": "Normal", "mu": 0.0, "sigma": 1.0}).params
        {'mu': 0.0, 'sigma': 1.0}
        """
        if isinstance(spec, Prior):
            return spec
        if not isinstance(spec, Mapping) or "dist" not in spec:
            raise ConfigError(f"a prior must be a dict with a 'dist' key (a TOML table), e.g. "
                              f"{{dist = 'Normal', mu = 0.0, sigma = 1.0}}; got {spec!r}.")
        rest = dict(spec)
        return cls(rest.pop("dist"), rest)

    def resolved(self, context: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Parameters with placeholders replaced by numbers from ``context``.

        >>> Prior("Normal", {"mu": "x_mid", "sigma": 2.0}).resolved({"x_mid": 10.0})
        {'mu': 10.0, 'sigma': 2.0}
        """
        context = context or {}
        out = {}
        for k, v in self.params.items():
            if isinstance(v, str):
                if v not in context:
                    raise ConfigError(
                        f"prior {self}: parameter {k} = {v!r} is neither a number nor a known "
                        f"placeholder ({', '.join(sorted(context)) or 'none here'}).")
                v = context[v]
            out[k] = v
        return out

    def as_dict(self) -> dict[str, Any]:
        """``{"dist": ..., **params}`` (the form ``Config.priors`` and TOML files use)."""
        return {"dist": self.dist, **self.params}

    def _make(self, params: Mapping[str, Any], **kwargs: Any) -> Any:
        try:
            return _distribution(self.dist).dist(**params, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"prior {self}: {exc}".rstrip(".") + ".") from None

    def dist_rv(self, context: Mapping[str, float] | None = None, **kwargs: Any) -> Any:
        """The unnamed PyMC variable (``Dist.dist(...)``), e.g. for :func:`pymc.draw`."""
        return self._make(self.resolved(context), **kwargs)

    def rv(self, name: str, context: Mapping[str, float] | None = None, **kwargs: Any) -> Any:
        """Create the named PyMC random variable (inside a model context)."""
        dist = _distribution(self.dist)
        return dist(name, **self.resolved(context), **kwargs)

    def draw(self, n: int, context: Mapping[str, float] | None = None,
             seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` draws from the prior, by PyMC (the same distribution the model uses).

        >>> x = Prior("HalfStudentT", {"nu": 3, "sigma": 1.0}).draw(1000, seed=0)
        >>> bool((x > 0).all())
        True
        """
        return draw_priors({"x": self}, n, context, seed)["x"]


def draw_priors(priors: Mapping[str, Prior], n: int, context: Mapping[str, float] | None = None,
                seed: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """``n`` draws of each prior, compiled and drawn in one :func:`pymc.draw` call.

    Parameters
    ----------
    priors : mapping
        ``{name: Prior}``.
    n : int
        Draws per prior.
    context : mapping, optional
        Values of placeholders such as ``"x_mid"``.
    seed : int or numpy.random.Generator, optional
        Random seed (reproducible draws).

    Returns
    -------
    dict
        ``{name: array of shape (n,)}``.

    Examples
    --------
    >>> d = draw_priors({"a": Prior("Normal", {"mu": 0, "sigma": 1}),
    ...                  "b": Prior("Gamma", {"alpha": 2.0, "beta": 1.0})}, 10, seed=1)
    >>> sorted(d), d["b"].shape
    (['a', 'b'], (10,))
    """
    from pymc.pytensorf import reseed_rngs
    from pymc.util import _get_seeds_per_chain

    names = list(priors)
    if not names:
        return {}
    resolved = tuple(tuple(sorted(priors[k].resolved(context).items())) for k in names)
    dists = tuple(priors[k].dist for k in names)
    try:
        fn, rngs = _draw_function(dists, resolved, int(n))
    except TypeError:  # a parameter that cannot be a cache key (an array): compile this once
        fn, rngs = _draw_function.__wrapped__(dists, resolved, int(n))
    if seed is not None:
        (seed,) = _get_seeds_per_chain(seed, 1)
    with _DRAW_LOCK:  # one cached function, shared generators: reseed and draw as one step
        reseed_rngs(rngs, seed)  # as pymc.draw seeds its freshly compiled function
        out = [np.array(v) for v in fn()]
    return dict(zip(names, out, strict=True))


@lru_cache(maxsize=128)
def _draw_function(dists: tuple[str, ...], params: tuple[tuple[tuple[str, Any], ...], ...],
                   n: int) -> tuple[Any, list[Any]]:
    """The compiled draw function of :func:`draw_priors` and its random generators, compiled
    once per (distributions, resolved parameters, size) and reseeded by the caller exactly as
    :func:`pymc.draw` seeds the function it compiles on every call (same draws, without the
    compilation: 0.1 s per call, which the per-curve importance sampling paid per curve)."""
    from pymc.pytensorf import collect_default_updates, compile

    rvs = [Prior(d, dict(p))._make(dict(p), size=n) for d, p in zip(dists, params, strict=True)]
    fn = compile(inputs=[], outputs=rvs, random_seed=False, mode=DRAW_MODE)
    return fn, list(collect_default_updates(inputs=[], outputs=rvs))


def priors_from_specs(specs: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Prior]:
    """``{name: Prior}`` from ``{name: {"dist": ..., **params}}`` (errors name the prior)."""
    items = specs.items() if isinstance(specs, Mapping) else specs
    out = {}
    for name, spec in items:
        try:
            out[name] = Prior.from_spec(spec)
        except ConfigError as exc:
            raise ConfigError(f"priors.{name}: {exc}") from None
    return out


__all__ = ["DRAW_MODE", "Prior", "draw_priors", "parameter_names", "priors_from_specs"]
