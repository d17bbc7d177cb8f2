"""Model registry: one file per model; :func:`get` looks a model up by name."""

from __future__ import annotations

from .base import CurveModel, ModelData, Prior, SeriesParam
from .loglinear import LogLinearModel
from .powerlaw import PowerLawModel
from .sigmoid import SigmoidModel

MODELS: dict[str, type[CurveModel]] = {
    "sigmoid": SigmoidModel,
    "powerlaw": PowerLawModel,
    "loglinear": LogLinearModel,
}


def get(name: str) -> type[CurveModel]:
    """Return the model class registered as ``name`` (the error lists valid names)."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid models are {', '.join(sorted(MODELS))}."
        ) from None


__all__ = ["MODELS", "CurveModel", "LogLinearModel", "ModelData", "PowerLawModel", "Prior",
           "SeriesParam", "SigmoidModel", "get"]
