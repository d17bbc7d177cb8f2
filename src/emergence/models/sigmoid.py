"""The sigmoid (emergent) model: a logistic rise in log scale per series.

``mu = c + (1 - c)(1 - lapse) logistic(k (x + delta_f - x0))`` with ``k = exp(logk)``.

Priors. Each curve parameter has a population across series and a wide stage-1 prior (the
prior of a curve analysed alone, and of the per-curve engine's first stage), which covers the
population's prior predictive, tails included (``tests/test_stage1_priors.py``).
Both populations are ``StudentT(4, mu, sigma)`` (heavy tails: a curve whose data say "sharp"
stays sharp among smooth ones); both stage-1 priors are Student-t with the same 4 degrees of
freedom (:func:`~emergence.models.base.stage1_prior`).

* ``x0``: population ``mu_x0 ~ Normal(x_mid, 2)`` (thresholds centred on the middle of the
  tested log10 range), ``sigma_x0 ~ Gamma(2, 2/1.5)`` (mean 1.5; population scales avoid 0,
  see :class:`~emergence.models.base.SeriesParam`); stage 1 ``StudentT(4, x_mid, 2.5)``
  (:func:`~emergence.models.base.threshold_param`).
* ``logk``: stage 1 ``StudentT(4, log(2 ln 9), 1.5)`` (90 % of widths in 0.04-24 decades);
  population ``mu_logk ~ Normal(log(2 ln 9), 1)``: the median width ``2 ln 9 / k`` is centred on
  **1 decade**, the default sharpness cut, so the prior puts about half its mass on sharp and
  half on smooth transitions and P(sharp) is driven by the data; ``sigma_logk ~
  Gamma(2, 2)`` (mean 1).
"""

from __future__ import annotations

import numpy as np

from .. import curves as C
from .base import CurveModel, Prior, SeriesParam, stage1_prior, threshold_param


class SigmoidModel(CurveModel):
    """Hierarchical logistic-in-log-scale model (see module docstring for the priors)."""

    name = "sigmoid"
    curve = C.SIGMOID
    params = (
        threshold_param("threshold: log10 scale at mid-rise"),
        SeriesParam("logk", stage1_prior(float(np.log(2 * C.LN9)), 1.5),
                    Prior("Normal", {"mu": float(np.log(2 * C.LN9)), "sigma": 1.0}),
                    Prior("Gamma", {"alpha": 2.0, "beta": 2.0}), doc="log steepness per decade"),
    )
