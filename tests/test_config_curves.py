"""Config validation and the numpy curve functions."""

from __future__ import annotations

import numpy as np
import pytest

from emergence import curves as C
from emergence.config import Config, make_config
from emergence.errors import ConfigError


def test_config_defaults_and_seed_drawn():
    c = Config()
    assert c.model == "sigmoid" and c.sharp_width == 1.0
    assert isinstance(c.seed, int) and c.seed >= 0  # drawn, then stored
    c2 = Config.from_dict(c.as_dict())
    assert c2 == c


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("model", "cubic", "'model' = 'cubic' is not valid; choose one of sigmoid"),
        ("sampler", "stan", "choose one of nutpie, pymc, numpyro"),
        ("sharp_width", -1.0, "'sharp_width' = -1.0 must be a positive number"),
        ("interval", 1.5, r"must lie in \(0, 1\)"),
        ("draws", 3, "'draws' = 3 must be an integer >= 10"),
        ("chains", 0, "'chains' = 0 must be an integer >= 1"),
        ("seed", -4, "non-negative integer"),
        ("families", "mixed", "choose one of separate, offset, pooled"),
        ("priors", {"mu_x0": {"mu": 1}}, "must be a dict with a 'dist' key"),
        ("target_accept", 0.2, r"must lie in \[0.5, 1\)"),
    ],
)
def test_config_rejects(field, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Config(**{field: value})


def test_config_unknown_key_lists_valid():
    with pytest.raises(ConfigError, match="unknown option.*'sharpness'.*valid options are"):
        make_config(None, sharpness=2)


def test_config_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[emergence]\nsharp_width = 0.5\nseed = 3\ndraws = 500\n')
    c = Config.from_toml(p)
    assert (c.sharp_width, c.seed, c.draws) == (0.5, 3, 500)


def test_sigmoid_width_and_inverse():
    # width = 2 ln 9 / k by definition (10 % to 90 % of a logistic)
    logk = np.log(4.0)
    assert np.isclose(C.width(C.SIGMOID, x0=10.0, logk=logk), 2 * np.log(9) / 4.0)
    x = C.threshold(C.SIGMOID, 0.25, x0=10.0, logk=logk)
    assert np.isclose(C.SIGMOID.rise(x, x0=10.0, logk=logk), 0.25)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        C.threshold(C.SIGMOID, 1.0, x0=10.0, logk=logk)


def test_log_mean_matches_direct_and_is_stable():
    x = np.linspace(5, 15, 41)
    p = {"x0": 10.0, "logk": np.log(3.0)}
    lg, l1g = C.SIGMOID.log_rise(x, **p)
    for chance in (0.0, 0.25):
        lmu, l1mu = C.log_mean(lg, l1g, chance, np.log(0.1 / 0.9))
        mu = C.mean(C.SIGMOID, x, chance, 0.1, **p)
        np.testing.assert_allclose(np.exp(lmu), mu, rtol=1e-12)
        np.testing.assert_allclose(np.exp(l1mu), 1 - mu, rtol=1e-9)
    # far tail: log mu keeps decreasing (no plateau from clipping), so PSIS never sees ties
    lg, l1g = C.SIGMOID.log_rise(np.array([0.0, -10.0, -100.0]), **p)
    lmu, _ = C.log_mean(lg, l1g, 0.0, -3.0)
    assert np.all(np.diff(lmu) < 0) and np.all(np.isfinite(lmu))
