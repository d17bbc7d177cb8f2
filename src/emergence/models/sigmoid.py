"""The sigmoid (emergent) model: a logistic rise in log scale per series.

``mu = c + (1 - c)(1 - lapse) logistic(k (x + delta_f - x0))`` with ``k = exp(logk)``.

Priors. Each curve parameter has a population ``StudentT(4, mu, sigma)`` across series (heavy
tails: a curve whose data say "sharp" stays sharp among smooth ones) and a wide stage-1 prior
(the prior of a curve analysed alone, and of the per-curve engine's first stage; a Student-t
with the population's 4 degrees of freedom, so that it covers the population's prior
predictive, tails included: :func:`~emergence.models.base.stage1_prior`):

* ``x0``: stage 1 ``StudentT(4, x_mid, 2.5)``; population ``mu_x0 ~ Normal(x_mid, 2)`` (thresholds
  centred on the middle of the tested log10 range), ``sigma_x0 ~ Gamma(2, 2/1.5)`` (mean 1.5;
  population scales avoid 0, see :class:`~emergence.models.base.SeriesParam`).
* ``logk``: stage 1 ``StudentT(4, log(2 ln 9), 1.5)`` (90 % of widths in 0.04-24 decades);
  population ``mu_logk ~ Normal(log(2 ln 9), 1)``: the median width ``2 ln 9 / k`` is centred on
  **1 decade**, the default sharpness cut, so the prior puts about half its mass on sharp and
  half on smooth transitions and P(sharp) is driven by the data; ``sigma_logk ~
  Gamma(2, 2)`` (mean 1).
"""

from __future__ import annotations

import numpy as np

from .. import curves as C
from .base import CurveModel, Prior, SeriesParam, stage1_prior


class SigmoidModel(CurveModel):
    """Hierarchical logistic-in-log-scale model (see module docstring for the priors)."""

    name = "sigmoid"
    curve = C.SIGMOID
    params = (
        SeriesParam("x0", stage1_prior("x_mid", 2.5),
                    Prior("Normal", {"mu": "x_mid", "sigma": 2.0}),
                    Prior("Gamma", {"alpha": 2.0, "beta": 2.0 / 1.5}),
                    doc="threshold: log10 scale at mid-rise"),
        SeriesParam("logk", stage1_prior(float(np.log(2 * C.LN9)), 1.5),
                    Prior("Normal", {"mu": float(np.log(2 * C.LN9)), "sigma": 1.0}),
                    Prior("Gamma", {"alpha": 2.0, "beta": 2.0}), doc="log steepness per decade"),
    )
