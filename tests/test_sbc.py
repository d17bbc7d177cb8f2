"""Simulation-based calibration machinery (the full-size study is in docs/validation.md)."""

from __future__ import annotations

import numpy as np

from emergence.sbc import sbc


def test_sbc_ranks_and_tests():
    res = sbc("sigmoid", simulations=6, n_series=5, n_scales=8, seed=3, draws=200, tune=200,
              parametrization="noncentered", n_ranks=50)
    r = res.ranks
    assert set(r["quantity"]) >= {"x0", "logk", "width", "mu_x0", "sigma_x0", "mu_logk",
                                  "sigma_logk"}
    assert r["rank"].between(0, 49).all()
    # per-series quantities: one rank per series and simulation
    assert (r[r["quantity"] == "x0"].groupby("simulation").size() == 5).all()
    t = res.tests()
    assert np.isfinite(t["p_value"]).all() and (t["n"] > 0).all()
    # the width is a monotone (decreasing) function of logk: identical ranks, reversed
    lk = r[r["quantity"] == "logk"]["rank"].to_numpy()
    w = r[r["quantity"] == "width"]["rank"].to_numpy()
    assert np.all(np.abs((49 - lk) - w) <= 1)
