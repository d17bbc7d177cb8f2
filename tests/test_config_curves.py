"""Config validation and the numpy curve functions."""

from __future__ import annotations

import numpy as np
import pytest

from emergence import curves as C
from emergence.config import Config, make_config
from emergence.errors import ConfigError
from emergence.priors import Prior


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


# ---- priors: one definition, validated against PyMC, drawn by PyMC -------------------------
def test_prior_misnamed_parameter_names_the_valid_ones():
    with pytest.raises(ConfigError, match="Normal takes mu, sigma, tau; got mean"):
        Prior("Normal", {"mean": 0.0, "sigma": 1.0})
    with pytest.raises(ConfigError, match="not a PyMC distribution; did you mean HalfNormal"):
        Prior("HalfNormall", {"sigma": 1.0})
    with pytest.raises(ConfigError, match="Incompatible parameterization"):
        Prior("Beta", {"alpha": 1.0})  # one of alpha/beta missing
    with pytest.raises(ConfigError, match=r"priors\.mu_x0: .*HalfStudentT takes nu, sigma, lam"):
        Config(priors={"mu_x0": {"dist": "HalfStudentT", "df": 3}})


def test_toml_prior_error_names_the_file_option(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[priors.sigma_logk]\ndist = "Gamma"\nshape = 2.0\n')
    with pytest.raises(ConfigError, match="Gamma takes alpha, beta, mu, sigma; got shape"):
        Config.from_toml(p)


def test_halfstudentt_prior_draw_and_rv():
    """Any PyMC distribution works everywhere: PyMC's draws and the model's variable agree."""
    import pymc as pm
    from scipy import stats

    prior = Prior.from_spec({"dist": "HalfStudentT", "nu": 3, "sigma": "s"})
    ctx = {"s": 0.5}
    x = prior.draw(20_000, ctx, seed=1)
    np.testing.assert_array_equal(x, prior.draw(20_000, ctx, seed=1))  # seeded: reproducible
    assert (x > 0).all()
    # median of |t_3| * 0.5 is 0.5 * t_3.ppf(0.75) = 0.3824; MC sd of the median ~ 0.004
    assert abs(np.median(x) - 0.5 * stats.t.ppf(0.75, 3)) < 0.015
    with pm.Model() as m:
        rv = prior.rv("sigma_logk", ctx)
    assert m["sigma_logk"] is rv
    assert type(rv.owner.op).__name__.lower().startswith("halfstudentt")
    lp = pm.logp(rv, 0.3).eval()
    assert np.isclose(lp, np.log(2 * stats.t.pdf(0.3 / 0.5, 3) / 0.5))
    with pytest.raises(ConfigError, match="neither a number nor a known placeholder"):
        prior.draw(3, {"x_mid": 1.0})


def test_coverage_prior_draws_use_any_pymc_prior():
    """The width-contraction prior draws (behind Fit.summary) take a HalfStudentT prior."""
    from types import SimpleNamespace

    from emergence.coverage import prior_series_draws
    from emergence.models import get

    M = get("sigmoid")
    priors = M.default_priors()
    priors["sigma_logk"] = Prior("HalfStudentT", {"nu": 3, "sigma": 0.5})
    fake = SimpleNamespace(model=M, model_data=SimpleNamespace(
        pooled=True, priors=priors, context={"x_mid": 10.0, "x_min": 8.0, "x_max": 12.0}))
    d = prior_series_draws(fake, n=2000, seed=3)
    assert set(d) == set(M.series_param_names())
    assert all(np.isfinite(v).all() and v.shape == (2000,) for v in d.values())
    assert abs(np.median(d["x0"]) - 10.0) < 0.3  # centred on x_mid


def test_cached_prior_draws_are_pymc_draws_and_do_not_share_state():
    """``Prior.draw`` compiles its draw function once and reseeds it per call: the draws must
    equal a fresh ``pymc.draw`` with the same seed (integer or generator), whatever was drawn
    before, and two calls with equal seeds must give equal draws."""
    import pymc as pm

    from emergence.priors import DRAW_MODE

    p = Prior("StudentT", {"nu": 4.0, "mu": "x_mid", "sigma": 2.5})
    ctx = {"x_mid": 10.0}
    first = p.draw(500, ctx, seed=3)
    p.draw(500, ctx, seed=4)  # a call in between must not leak into the next
    again = p.draw(500, ctx, seed=3)
    ref = pm.draw(p.dist_rv(ctx, size=500), random_seed=3, mode=DRAW_MODE)
    assert np.array_equal(first, again) and np.array_equal(first, ref)
    g = p.draw(500, ctx, seed=np.random.default_rng(7))
    ref_g = pm.draw(p.dist_rv(ctx, size=500), random_seed=np.random.default_rng(7),
                    mode=DRAW_MODE)
    assert np.array_equal(g, ref_g) and not np.array_equal(g, first)
