"""Jobs on threads (check's comparison, noise-model refit and back-test at the same time):
results in job order, errors raised, warnings kept with the job that raised them, and the
same numbers as one job after the other."""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import emergence as em
from emergence import _concurrent as cc
from emergence import check as check_module
from emergence import compare as compare_module
from emergence import curves as C


def _overlapping(first, second):
    """Two jobs that are both running while each does its work (a barrier on both sides)."""
    gate = threading.Barrier(2, timeout=30)

    def wrap(fn):
        def job():
            gate.wait()
            out = fn()
            gate.wait()
            return out
        return job

    return [wrap(first), wrap(second)]


def test_results_in_job_order_and_filters_restored() -> None:
    filters, show = list(warnings.filters), warnings.showwarning
    assert cc.run_jobs(_overlapping(lambda: "a", lambda: 2)) == ["a", 2]
    assert warnings.filters == filters and warnings.showwarning is show


def test_one_jobs_suppression_does_not_silence_the_other() -> None:
    def quiet():
        with cc.suppressed(UserWarning):
            warnings.warn("from the quiet job", UserWarning, stacklevel=1)

    def loud():
        warnings.warn("from the loud job", UserWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cc.run_jobs(_overlapping(quiet, loud))
    assert [str(w.message) for w in caught] == ["from the loud job"]


def test_recorded_takes_only_its_own_jobs_warnings() -> None:
    def recording():
        with cc.recorded() as log:
            warnings.warn("mine", UserWarning, stacklevel=1)
        return [str(w.message) for w in log]

    def other():
        warnings.warn("theirs", RuntimeWarning, stacklevel=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mine, _ = cc.run_jobs(_overlapping(recording, other))
    assert mine == ["mine"]
    assert [(str(w.message), w.category) for w in caught] == [("theirs", RuntimeWarning)]


def test_nested_jobs_inherit_the_suppression_of_their_job() -> None:
    def parent():
        with cc.suppressed(UserWarning):
            cc.run_jobs([lambda: warnings.warn("hidden", UserWarning, stacklevel=1),
                         lambda: warnings.warn("shown", RuntimeWarning, stacklevel=1)])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cc.run_jobs([parent, lambda: None])
    assert [str(w.message) for w in caught] == ["shown"]


def test_first_error_in_job_order_is_raised_after_every_job_ran() -> None:
    ran = []

    def fails():
        raise ValueError("first")

    def also_fails():
        ran.append("second")
        raise KeyError("second")

    with pytest.raises(ValueError, match="first"):
        cc.run_jobs(_overlapping(fails, also_fails))
    assert ran == ["second"] and not cc._ACTIVE


def _table() -> em.ScoreTable:
    """Three curves (a sharp rise, a gentle one, one mostly at chance), 8 sizes, 1000 items."""
    rng = np.random.default_rng(4)
    x = np.linspace(8.0, 11.0, 8)
    rows = []
    for t, (x0, width) in enumerate([(9.5, 0.5), (10.0, 3.0), (11.5, 0.8)]):
        mu = C.mean(C.SIGMOID, x, 0.25, 0.1, x0=x0, logk=np.log(2 * C.LN9 / width))
        k = rng.binomial(1000, mu)
        rows += [{"task": f"t{t}", "model": f"m{i}", "params": 10 ** xi, "score": ki / 1000,
                  "n_items": 1000, "chance": 0.25} for i, (xi, ki) in enumerate(zip(x, k,
                                                                                   strict=True))]
    return em.load_scores(pd.DataFrame(rows))


def test_check_gives_the_same_numbers_on_threads_and_one_after_the_other(monkeypatch) -> None:
    """The comparison (three models, also on threads), the noise-model refit and the back-test
    run at the same time by default; every record and every elpd is bit-for-bit the same
    when they run one after the other."""
    fast = {"draws": 200, "tune": 200, "chains": 4, "seed": 5}
    table = _table()
    threaded = em.check(table, **fast)
    monkeypatch.setattr(check_module, "CHECK_WORKERS", 1)
    monkeypatch.setattr(compare_module, "run_jobs", lambda jobs, workers=2: [fn() for fn in jobs])
    serial = em.check(table, **fast)
    recs = threaded.to_records()
    assert json.dumps(recs, sort_keys=True) == json.dumps(serial.to_records(), sort_keys=True)
    pd.testing.assert_frame_equal(threaded.comparison.summary(), serial.comparison.summary())
    # all three jobs ran: the noise-model refit, the back-test and the comparison
    assert any(r["p_sharp_alt"] is not None for r in recs)
    assert any({"predictable_from_smaller", "unpredicted_jump"} & set(r["reasons"]) for r in recs)
    # each predictability call comes with its PIT, on the side of the 90 % interval it says
    # (PIT from the draws, interval ends from their quantiles: 0.01 apart at most)
    for r in recs:
        pit = r["forecast_pit"]
        if "predictable_from_smaller" in r["reasons"]:
            assert 0.04 <= pit <= 0.96 and f"{pit:.3f}" in " ".join(r["messages"])
        if "unpredicted_jump" in r["reasons"]:
            assert pit >= 0.94
    assert any(r["weights"] for r in recs)


def test_sigmoid_is_fitted_once_when_the_fits_run_one_after_the_other(monkeypatch) -> None:
    """With a Dask scheduler (or the joint engine) the sigmoid fit is made first and the other
    fits wait for it; without a comparison it was made a second time as the first job."""
    calls = []

    def fake_sigmoid_fit(table, cfg, retry, scheduler, notes):
        calls.append(scheduler)
        return "the fit", cfg

    monkeypatch.setattr(check_module, "_sigmoid_fit", fake_sigmoid_fit)
    f, _, comparison, alt, pred = check_module._fits(
        _table(), check_module.make_config(None, seed=1), [], "none", True, False, False,
        "tcp://not-used:8786", [])
    assert (f, comparison, alt, pred) == ("the fit", None, None, {})
    assert calls == ["tcp://not-used:8786"]


@pytest.mark.parametrize("broken, models, cv, message", [
    # the comparison job fails before making the fit the back-test waits for
    ("compare", ["sigmoid", "powerlaw"], "loso", "comparison failed before fitting"),
    # the sigmoid fit itself fails: its own error, not the waiting back-test's
    ("sigmoid", ["sigmoid"], "none", "the sigmoid fit failed"),
])
def test_the_backtest_waiting_for_the_sigmoid_fit_never_hangs(monkeypatch, broken, models, cv,
                                                              message) -> None:
    """The back-test waits for the sigmoid fit (its reference). If the job that makes it fails
    (in the comparison before fitting, or in the fit itself), the check raises that job's own
    error instead of waiting forever."""

    def fail(*args, **kwargs):
        raise ValueError(f"{message} (test)")

    if broken == "compare":
        monkeypatch.setattr(compare_module, "compare", fail)
    else:
        monkeypatch.setattr(check_module, "_sigmoid_fit", fail)
    monkeypatch.setattr(check_module, "_forecast_calls",
                        lambda table, cfg, scheduler, reference: {"ref": reference})
    cfg = check_module.make_config(None, seed=1)
    with pytest.raises(ValueError, match=message):
        check_module._fits(_table(), cfg, models, cv, True, False, True, None, [])
