"""The log-linear ("gradual") model: a linear rise in log scale with rounded corners.

``mu = c + (1 - c)(1 - lapse) g(h)`` with ``h = (x + delta_f - x0) / w + 1/2``,
``w = exp(logw)`` decades, and ``g`` the linear ramp ``clip(h, 0, 1)`` smoothed by a logistic
of scale ``1/16`` in ``h`` (see :class:`emergence.curves.LogLinear`): performance linear in
log N between the floor and the ceiling, Wei et al.'s (2022) description of tasks that improve
"gradually" with scale. Unlike the sigmoid and the power law, its tails reach the floor and
ceiling quickly (within about ``w / 16`` decades of the ramp's ends), so it disagrees with them
about points far from the midpoint.

Priors (population level, partial pooling across series):

* ``x0``: as the sigmoid's threshold (stage 1 ``StudentT(4, x_mid, 2.5)``, population StudentT(4)).
* ``mu_logw ~ Normal(log 2.5, 1)``, ``sigma_logw ~ Gamma(2, 2)`` (stage 1
  ``StudentT(4, log 2.5, 1.5)``): ramp length median 2.5
  decades, i.e. a 10 %-90 % width of about 2.1 decades (width = 0.83 w), 95 % range of the
  width 0.3-15 decades. The model stands for the gradual hypothesis, so its prior leans smooth
  (prior P(width < 1 decade) is about 0.23; the power law's is 0.16) while still allowing
  sharp ramps when the data demand them.
"""

from __future__ import annotations

import numpy as np

from .. import curves as C
from .base import CurveModel, Prior, SeriesParam, stage1_prior, threshold_param


class LogLinearModel(CurveModel):
    """Hierarchical smoothly bounded linear-in-log-scale model; see the module docstring."""

    name = "loglinear"
    curve = C.LOGLINEAR
    params = (
        threshold_param("log10 scale at mid-rise"),
        SeriesParam("logw", stage1_prior(float(np.log(2.5)), 1.5),
                    Prior("Normal", {"mu": float(np.log(2.5)), "sigma": 1.0}),
                    Prior("Gamma", {"alpha": 2.0, "beta": 2.0}),
                    doc="log of the ramp length in decades (10-90 % width = 0.83 w)"),
    )
