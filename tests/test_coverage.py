"""Unit tests of the sentences built from sampling diagnostics (no fitting: rows are given).

The end-to-end flag on a real fit (sharp truth seen only at 1e8, 10^8.5, 10^11.5, 1e12) is
tested in tests/test_check.py and tests/test_fit.py.
"""

from emergence.coverage import sampling_notes


def _row(**kw):
    base = {"n_in_transition": 3, "transition_lo": 9.5, "transition_hi": 10.5,
            "prior_driven_width": False, "width_contraction": 0.2,
            "p_threshold_above": 0.0, "p_threshold_below": 0.0}
    base.update(kw)
    return base


def test_no_scale_in_rise_says_shape_assumption():
    notes = sampling_notes(_row(n_in_transition=0), sharp_width=1.0)
    assert len(notes) == 1
    assert "rests on the curve's assumed shape" in notes[0]


def test_well_sampled_series_has_no_notes():
    assert sampling_notes(_row(), sharp_width=1.0) == []


def test_prior_driven_and_threshold_outside_range():
    notes = sampling_notes(_row(prior_driven_width=True, width_contraction=0.9,
                                p_threshold_above=0.8), sharp_width=1.0)
    assert any("prior-driven" in n for n in notes)
    assert any("above the largest tested scale" in n and "0.80" in n for n in notes)
    notes = sampling_notes(_row(p_threshold_below=0.7), sharp_width=1.0)
    assert any("below the smallest tested scale" in n for n in notes)
