"""The stage-1 prior of every pooled parameter is a valid proposal for the population step.

The two-stage engine reweights each curve's stage-1 draws by population / stage-1 prior. Where
the population's prior predictive (hyperpriors -> population -> parameter) puts mass that the
stage-1 prior does not, no stage-1 draw exists to reweight: a curve whose data say little about
the parameter keeps a posterior cut off at the stage-1 prior's tails. That is what made SBC fail
with normal stage-1 priors (docs/validation.md: log k truths more than 2 stage-1 sds from the
centre had ranks in the extreme bins 52-100 % of the time instead of 20 %).
"""

from __future__ import annotations

import numpy as np
import pytest

from emergence.models import get
from emergence.models.base import NOISE_PARAMS, predictive_log_ratio
from emergence.priors import Prior

CONTEXT = {"x_mid": 10.0}
#: Largest allowed ratio of prior-predictive to stage-1 density over the prior predictive's
#: central 99.8 %. Measured 2026-11-27: the declared priors reach 1.14 (x0) and 1.18 (log k,
#: log alpha, log w; Student-t populations and stage-1 priors), 1.73 (log tau) and 1.45 (log
#: phi; normal populations and stage-1 priors); normal stage-1 priors under the Student-t
#: populations reach e^20 (x0) and e^26 (log k; the test below).
MAX_RATIO = 2.0


def _pooled_params() -> list:
    out = {}
    for name in ("sigmoid", "powerlaw", "loglinear"):
        for p in get(name).params:
            out[f"{name}.{p.name}"] = p
    for k, p in NOISE_PARAMS.items():
        out[k] = p
    return [pytest.param(p, id=k) for k, p in out.items() if p.pooled]


def _log_ratio(p, stage1: Prior, n_theta: int = 2000, n_hyper: int = 1000) -> np.ndarray:
    """log(prior predictive density / stage-1 density) at prior-predictive draws (the
    predictive density is averaged over independent hyperprior draws)."""
    mu = p.mu.draw(n_theta + n_hyper, CONTEXT, seed=1)
    sd = p.sigma.draw(n_theta + n_hyper, CONTEXT, seed=2)
    return predictive_log_ratio(p, stage1, mu, sd, CONTEXT, n_theta)[1]


@pytest.mark.parametrize("param", _pooled_params())
def test_stage1_prior_covers_the_population_prior_predictive(param) -> None:
    ratio = _log_ratio(param, param.prior)
    assert ratio.max() < np.log(MAX_RATIO), (param.name, float(np.exp(ratio.max())))


def test_a_normal_stage1_prior_of_the_same_scale_would_not() -> None:
    """The check can fail: log k's former stage-1 prior Normal(log(2 ln 9), 1.5)."""
    p = next(q for q in get("sigmoid").params if q.name == "logk")
    normal = Prior("Normal", {"mu": p.prior.params["mu"], "sigma": p.prior.params["sigma"]})
    assert _log_ratio(p, normal).max() > np.log(50)
