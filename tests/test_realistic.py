"""Verdicts on realistic simulated families (issue 12, first "must show" point).

Real model families are not points on one smooth curve: models differ in data and recipe, not
only in size. Each simulated score is ``logit p = logit mu(x) + Normal(0, 0.35)`` and
``k ~ Binomial(2000, p)`` (:func:`emergence.simulate.simulate_families`), with ceilings
0.7-0.95, chance 0 or 0.25 and thresholds inside the tested range
(:func:`emergence.simulate.realistic_truths`).

Expected values are the issue's acceptance criteria, not measured outputs: on 16 sizes over 3
decades, sharp truths (10-90 % width 0.3-0.6 decades) are ``emergent`` in at least 5 of 6 and
never ``smooth`` (on either grid); smooth truths (width 2.5-4 decades) are ``smooth`` in at
least 5 of 6 and never ``emergent``. The 8-size grid (2.2 decades) is run for the sharp truths'
"never smooth" and reported (``-s`` prints every verdict with its reasons).

Slow (four ``check`` runs with the default comparison): ``pytest -m slow tests/test_realistic.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emergence as em
from emergence.simulate import realistic_truths, simulate_families

GRIDS = {16: np.linspace(8.0, 11.0, 16), 8: np.linspace(8.4, 10.6, 8)}


def _verdicts(kind: str, n_sizes: int) -> list[str]:
    x = GRIDS[n_sizes]
    truths = realistic_truths(kind, x, seed=1)
    table = em.load_scores(simulate_families(truths, x, seed=2), warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = em.check(table, seed=3)
    for rec in result.to_records():
        print(f"{kind:6s} {n_sizes:2d} sizes  {rec['task']:8s} {rec['verdict']:13s} "
              f"P(sharp) {rec['p_sharp']:.3f}  width {rec['width_median']:.2f} "
              f"[{rec['width_lo']:.2f}, {rec['width_hi']:.2f}]  {', '.join(rec['reasons'])}")
    return [rec["verdict"] for rec in result.to_records()]


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[str, int], list[str]]:
    return {(kind, n): _verdicts(kind, n) for kind in ("sharp", "smooth") for n in (16, 8)}


@pytest.mark.slow
def test_truths_are_as_specified() -> None:
    for kind, (lo, hi) in (("sharp", (0.3, 0.6)), ("smooth", (2.5, 4.0))):
        for x in GRIDS.values():
            t = realistic_truths(kind, x, seed=1)
            assert len(t) == 6 and t["width"].between(lo, hi).all()
            assert t["x0"].between(x.min(), x.max()).all()
            assert t["ceiling"].between(0.7, 0.95).all()
            assert set(t["chance"]) == {0.0, 0.25}


@pytest.mark.slow
def test_sharp_truths_emergent_and_never_smooth(verdicts: dict) -> None:
    assert verdicts[("sharp", 16)].count("emergent") >= 5, verdicts[("sharp", 16)]
    assert "smooth" not in verdicts[("sharp", 16)] + verdicts[("sharp", 8)]


@pytest.mark.slow
def test_smooth_truths_smooth_and_never_emergent(verdicts: dict) -> None:
    assert verdicts[("smooth", 16)].count("smooth") >= 5, verdicts[("smooth", 16)]
    assert "emergent" not in verdicts[("smooth", 16)], verdicts[("smooth", 16)]
