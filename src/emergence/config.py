"""One validated configuration object, saved with every result.

:class:`Config` follows psignifit's pattern: a dataclass whose every field has a
``check_<field>`` method run at construction (and on :meth:`Config.replace`), plus
:meth:`Config.from_dict` / :meth:`Config.as_dict` for TOML/JSON round trips. Invalid values raise
:class:`~emergence.errors.ConfigError` naming the option, the valid choices and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

MODELS = ("sigmoid", "powerlaw", "loglinear")
SCALES = ("params", "flops")
LIKELIHOODS = ("auto", "logitnormal", "binomial", "betabinomial", "beta")
FAMILY_MODES = ("separate", "offset", "pooled")
PARAMETRIZATIONS = ("centered", "noncentered")
SAMPLERS = ("nutpie", "pymc", "numpyro")
POOLING = ("auto", "partial", "none")
ENGINES = ("auto", "percurve", "joint")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"option {name!r} = {value!r} is not valid; choose one of {', '.join(choices)}."
        )


@dataclass(frozen=True)
class Config:
    """Options of a fit (and of the analyses built on fits).

    Parameters
    ----------
    model : str
        Curve family: ``"sigmoid"`` (emergent), ``"powerlaw"`` or ``"loglinear"`` (smooth).
    scale : str
        Scale axis, ``"params"`` or ``"flops"``; the curve uses ``x = log10(scale)``.
    likelihood : str
        ``"auto"`` = ``"logitnormal"`` (model-to-model variation on the logit scale, pooled
        across curves, plus item sampling), ``"binomial"`` (item sampling only),
        ``"betabinomial"`` or ``"beta"`` (overdispersion pooled across curves); see
        :mod:`emergence.models.likelihoods`.
    engine : str
        ``"percurve"``: every curve sampled on its own (vectorised HMC in JAX), then the
        population step (two-stage, :mod:`emergence.engine`); ``"joint"``: one NUTS run of the
        joint hierarchical model (nutpie); ``"auto"`` = ``"percurve"`` unless
        ``families="offset"`` (family offsets are shared across curves: joint).
    families : str
        ``"separate"``: one curve per (task, metric, family); ``"offset"``: one curve per
        (task, metric) with a shift of effective scale per family (reference family 0);
        ``"pooled"``: family ignored.
    parametrization : str
        ``"centered"`` (default; mixes best with many items per cell) or ``"noncentered"``.
    pooling : str
        ``"partial"`` pools thresholds and steepness across series; ``"none"`` gives each
        series independent priors; ``"auto"`` pools when there are at least 5 series (with
        fewer, the population sd is not identified and a centered hierarchy makes a funnel).
    sharp_width : float
        A transition is *sharp* when its 10 %-90 % width is below this many decades of scale.
    interval : float
        Probability mass of reported central intervals (default 0.9).
    sampler : str
        ``"nutpie"`` (default), ``"pymc"`` (PyMC's own NUTS) or ``"numpyro"``.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and number of chains (defaults 500, 500,
        4: per curve, four chains of 500 draws give bulk ESS >= 400 on most real curves; a curve
        that mixes slowly gets more draws on its own).
    target_accept : float
        NUTS target acceptance rate.
    seed : int or None
        Random seed. ``None`` draws one, which is then stored so the result can be reproduced.
    priors : dict
        Overrides of model priors, ``{name: {"dist": "Normal", "mu": 0, "sigma": 1}}``; the names
        each model accepts are listed by ``emergence.models.get(name).prior_names()``.
    rhat_max, ess_min : float
        Diagnostic thresholds; a fit failing them warns and gets no verdict.
    progress : bool
        Show a progress bar while sampling.
    """

    model: str = "sigmoid"
    scale: str = "params"
    likelihood: str = "auto"
    engine: str = "auto"
    families: str = "separate"
    parametrization: str = "centered"
    pooling: str = "auto"
    sharp_width: float = 1.0
    interval: float = 0.9
    sampler: str = "nutpie"
    draws: int = 500
    tune: int = 500
    chains: int = 4
    target_accept: float = 0.9
    seed: int | None = None
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    rhat_max: float = 1.01
    ess_min: float = 400.0
    progress: bool = False

    def __post_init__(self) -> None:
        if self.seed is None:
            object.__setattr__(self, "seed", int(np.random.SeedSequence().generate_state(1)[0]))
        for f in dataclasses.fields(self):
            getattr(self, f"check_{f.name}")()

    # ---- one check per field -------------------------------------------------------------
    def check_model(self) -> None:
        _choice("model", self.model, MODELS)

    def check_scale(self) -> None:
        _choice("scale", self.scale, SCALES)

    def check_likelihood(self) -> None:
        _choice("likelihood", self.likelihood, LIKELIHOODS)

    def check_engine(self) -> None:
        _choice("engine", self.engine, ENGINES)

    def resolved_engine(self) -> str:
        """``"percurve"`` or ``"joint"`` (``"auto"`` resolved)."""
        if self.engine != "auto":
            return self.engine
        return "joint" if self.families == "offset" else "percurve"

    def check_families(self) -> None:
        _choice("families", self.families, FAMILY_MODES)

    def check_parametrization(self) -> None:
        _choice("parametrization", self.parametrization, PARAMETRIZATIONS)

    def check_pooling(self) -> None:
        _choice("pooling", self.pooling, POOLING)

    def check_sharp_width(self) -> None:
        _positive("sharp_width", self.sharp_width, "decades of scale, e.g. 1.0")

    def check_interval(self) -> None:
        if not isinstance(self.interval, int | float) or not 0 < self.interval < 1:
            raise ConfigError(f"option 'interval' = {self.interval!r} must lie in (0, 1), e.g. 0.9.")

    def check_sampler(self) -> None:
        _choice("sampler", self.sampler, SAMPLERS)

    def check_draws(self) -> None:
        _count("draws", self.draws, 10)

    def check_tune(self) -> None:
        _count("tune", self.tune, 10)

    def check_chains(self) -> None:
        _count("chains", self.chains, 1)

    def check_target_accept(self) -> None:
        if not isinstance(self.target_accept, int | float) or not 0.5 <= self.target_accept < 1:
            raise ConfigError(
                f"option 'target_accept' = {self.target_accept!r} must lie in [0.5, 1), e.g. 0.9."
            )

    def check_seed(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ConfigError(f"option 'seed' = {self.seed!r} must be a non-negative integer.")
        if self.seed < 0:
            raise ConfigError(f"option 'seed' = {self.seed!r} must be a non-negative integer.")

    def check_priors(self) -> None:
        if not isinstance(self.priors, dict):
            raise ConfigError("option 'priors' must be a dict {name: {'dist': ..., params...}}.")
        if self.priors:  # each one a valid PyMC distribution with its own parameter names
            from .priors import priors_from_specs

            priors_from_specs({k: v.as_dict() if hasattr(v, "as_dict") else v
                               for k, v in self.priors.items()})

    def check_rhat_max(self) -> None:
        if not isinstance(self.rhat_max, int | float) or self.rhat_max < 1:
            raise ConfigError(f"option 'rhat_max' = {self.rhat_max!r} must be >= 1, e.g. 1.01.")

    def check_ess_min(self) -> None:
        _positive("ess_min", self.ess_min, "e.g. 400")

    def check_progress(self) -> None:
        if not isinstance(self.progress, bool):
            raise ConfigError(f"option 'progress' = {self.progress!r} must be True or False.")

    # ---- conversions ---------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Return the options as a plain JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["seed"] = int(self.seed)  # type: ignore[arg-type]
        return d

    def to_json(self) -> str:
        """Return the options as a JSON string."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Build a validated config from a dict; unknown keys are an error listing valid keys."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; valid options are "
                f"{', '.join(sorted(valid))}."
            )
        return cls(**d)

    @classmethod
    def from_toml(cls, path: str | Path) -> Config:
        """Read options from a TOML file (top-level keys, or an ``[emergence]`` table)."""
        with open(path, "rb") as fh:
            d = tomllib.load(fh)
        return cls.from_dict(d.get("emergence", d))

    def replace(self, **changes: Any) -> Config:
        """Return a copy with ``changes`` applied (validated again)."""
        return self.from_dict({**self.as_dict(), **changes})


def _positive(name: str, value: Any, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"option {name!r} = {value!r} must be a positive number ({hint}).")


def _count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"option {name!r} = {value!r} must be an integer >= {minimum}.")


def make_config(config: Config | dict[str, Any] | None = None, **overrides: Any) -> Config:
    """Combine a config (object, dict or None) with keyword overrides into a validated Config."""
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, Config):
        base = config.as_dict()
    elif isinstance(config, dict):
        base = dict(config)
    else:
        raise ConfigError(f"config must be a Config, a dict or None, not {type(config).__name__}.")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_dict(base)
