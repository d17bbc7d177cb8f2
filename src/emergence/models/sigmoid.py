"""The sigmoid (emergent) model: a logistic rise in log scale per series.

``mu = c + (1 - c)(1 - lapse) logistic(k (x + delta_f - x0))`` with ``k = exp(logk)``.

Priors (population level, partial pooling across series):

* ``mu_x0 ~ Normal(x_mid, 2)``: thresholds centred on the middle of the tested log10 range,
  +-2 decades; ``sigma_x0 ~ HalfNormal(1)``.
* ``mu_logk ~ Normal(log(2 ln 9), 1)``: the population median width ``2 ln 9 / k`` is centred
  on **1 decade**, the default sharpness cut, so the prior puts about half its mass on sharp
  and half on smooth transitions and P(sharp) is driven by the data; ``sigma_logk ~
  HalfNormal(0.75)``.
"""

from __future__ import annotations

import numpy as np

from .. import curves as C
from .base import CurveModel, Prior, SeriesParam


class SigmoidModel(CurveModel):
    """Hierarchical logistic-in-log-scale model (see module docstring for the priors)."""

    name = "sigmoid"
    curve = C.SIGMOID
    params = (
        SeriesParam("x0", Prior("Normal", {"mu": "x_mid", "sigma": 2.0}),
                    Prior("HalfNormal", {"sigma": 1.0}), "threshold: log10 scale at mid-rise"),
        SeriesParam("logk", Prior("Normal", {"mu": float(np.log(2 * C.LN9)), "sigma": 1.0}),
                    Prior("HalfNormal", {"sigma": 0.75}), "log steepness per decade"),
    )
