"""Design analysis: more scales in the rise narrow the width; resume; Dask = local; CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from emergence.cli import app
from emergence.design import Truth, design, parse_grid
from emergence.errors import ConfigError

GRIDS = ["1e8..1e12:5", "1e8..1e12:9", "1e8..1e12:17"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    return design(Truth.sharp(0.5), GRIDS, replicates=6, seed=1, study_dir=d, workers=2), d


def test_more_scales_in_rise_shorter_width_interval(study):
    """Sharp truth (width 0.5 decade at 1e10): grids with 5, 9, 17 scales over 1e8-1e12 put
    about 1, 1 and 3 scales in the rise; the median 90 % width interval must shrink
    monotonically. Monte Carlo error: the quantile spread over replicates (q10-q90) of adjacent
    grids must not overlap the next grid's median."""
    res, _ = study
    s = res.summary()
    med = s["width_interval_median"].to_numpy()
    assert np.all(np.diff(med) < 0), s
    assert s["n_in_rise_median"].is_monotonic_increasing
    assert (s["width_interval_q10"].to_numpy()[:-1] > med[1:]).all(), s
    assert set(s["replicates"]) == {6}
    recs = res.to_records()
    assert {"grid", "replicates", "width_interval_median", "p_sharp_mean",
            "correct_rate"} <= set(recs[0])


def test_resume_does_not_repeat_replicates(tmp_path):
    d = tmp_path / "s"
    part = design(Truth.smooth(3), GRIDS[:2], replicates=3, seed=2, study_dir=d, workers=1,
                  max_replicates=4)  # "killed" after 4 of 6 replicates
    files = sorted((d / "replicates").glob("*.json"))
    assert len(files) == 4 and len(part.records) == 4
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    full = design(Truth.smooth(3), GRIDS[:2], replicates=3, seed=2, study_dir=d, workers=1)
    assert len(full.records) == 6
    for f in files:  # finished replicates were not redone
        assert f.stat().st_mtime_ns == stamps[f.name]
    # and the numbers equal an uninterrupted run with the same seed
    fresh = design(Truth.smooth(3), GRIDS[:2], replicates=3, seed=2, workers=1)
    np.testing.assert_allclose(full.records["width_interval"], fresh.records["width_interval"])


def test_dask_local_cluster_gives_same_numbers(study):
    distributed = pytest.importorskip("distributed")  # part of the [dask] extra
    res, _ = study
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cl, \
            distributed.Client(cl) as client:
        dres = design(Truth.sharp(0.5), GRIDS, replicates=6, seed=1, scheduler=client)
    np.testing.assert_allclose(dres.records["width_interval"], res.records["width_interval"])
    np.testing.assert_allclose(dres.records["p_sharp"], res.records["p_sharp"])


def test_grid_parsing_and_errors():
    np.testing.assert_allclose(parse_grid("1e8..1e12:5"), [8, 9, 10, 11, 12])
    np.testing.assert_allclose(parse_grid([1e9, 1e8]), [8, 9])
    np.testing.assert_allclose(parse_grid("1e9,1e10"), [9, 10])
    with pytest.raises(ConfigError, match="FROM..TO:COUNT"):
        parse_grid("lots")
    with pytest.raises(ConfigError, match="sharp:WIDTH"):
        Truth.parse("steep:1")


@pytest.mark.slow  # heavy: moved out of the default suite (5-minute budget)
def test_cli_design_synthetic_truth(tmp_path):
    out = tmp_path / "d.json"
    res = CliRunner().invoke(app, ["design", "--truth", "smooth:3", "--grid", "1e8..1e12:6",
                                   "--replicates", "2", "--json", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    recs = json.loads(out.read_text())["grids"]
    assert recs[0]["replicates"] == 2 and len(recs[0]["grid"]) == 6


def test_recommend_and_subsample():
    import warnings

    import emergence as em
    from emergence.design import recommend_scales, subsample
    from emergence.simulate import simulate_table

    ln9 = np.log(9)
    x = np.array([8.0, 8.5, 9.0, 11.0, 11.5, 12.0])  # a gap around the threshold at 10
    frame = simulate_table("sigmoid", [{"task": "t", "x0": 10.0, "logk": np.log(2 * ln9 / 1.0),
                                        "lapse": 0.05}], x, n_items=500, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = em.fit(frame, seed=3, draws=500, tune=500, likelihood="binomial")
    rec = recommend_scales(fit, [1e8 * 3, 1e10, 1e12 * 0.9], replicates=3, seed=1, workers=1)
    # a scale at the threshold settles the width best (the gap is where the rise is)
    assert rec.iloc[0]["log10_scale"] == pytest.approx(10.0) and rec.iloc[0]["recommended"]
    sub = subsample(fit)
    assert set(sub["variant"]) >= {"drop 10^8.00", "every other scale"}
    assert len(sub) == len(x) + 1
    assert (sub.loc[sub["variant"] == "every other scale", "n_scales"] == 3).all()


# ---- study folders are keyed by a fingerprint (defect 1 of issue 16) ----------------------------
def test_study_dir_fingerprint_replicates_and_corrupt_files(tmp_path):
    """A study folder is reused only by the same study: another truth, seed or n_items is an
    error suggesting a new folder (it used to reuse the sharp replicates under a smooth label);
    `replicates` is respected (10 asked of a 30-replicate folder gives 10); a truncated
    replicate file is redone (it used to block every resume with a JSONDecodeError)."""
    import warnings

    from emergence.errors import EmergenceWarning

    d = tmp_path / "s"
    grid = ["1e8..1e12:5"]
    first = design(Truth.sharp(0.5), grid, replicates=3, seed=1, study_dir=d, workers=1)
    meta = json.loads((d / "study.json").read_text())
    assert meta["spec"]["truth"]["label"] == "sharp:0.5" and len(meta["fingerprint"]) == 64
    for kwargs, what in (({"truth": Truth.smooth(3)}, "truth"), ({"seed": 2}, "seed"),
                         ({"n_items": 50}, "n_items"), ({"grid": ["1e8..1e12:6"]}, "grids"),
                         ({"draws": 400}, "config")):
        args = {"truth": Truth.sharp(0.5), "grid": grid, "seed": 1, **kwargs}
        with pytest.raises(ConfigError, match=rf"another study .*differs in: {what}.*new folder"):
            design(args.pop("truth"), args.pop("grid"), replicates=3, study_dir=d, workers=1,
                   **args)
    stamps = {f.name: f.stat().st_mtime_ns for f in (d / "replicates").glob("*.json")}
    fewer = design(Truth.sharp(0.5), grid, replicates=2, seed=1, study_dir=d, workers=1)
    assert len(fewer.records) == 2 and fewer.summary()["replicates"].iat[0] == 2
    np.testing.assert_allclose(fewer.records["width_interval"],
                               first.records["width_interval"][:2])
    # a truncated replicate file is removed and redone, with the same numbers
    bad = d / "replicates" / "g0_r1.json"
    bad.write_text(bad.read_text()[:40])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = design(Truth.sharp(0.5), grid, replicates=3, seed=1, study_dir=d, workers=1)
    assert any(issubclass(w.category, EmergenceWarning) and "redone" in str(w.message)
               for w in caught)
    np.testing.assert_allclose(again.records["width_interval"], first.records["width_interval"])
    assert {f.name: f.stat().st_mtime_ns for f in (d / "replicates").glob("*.json")
            if f.name != bad.name} == {k: v for k, v in stamps.items() if k != bad.name}


def test_workers_die_with_their_parent(tmp_path):
    """A SIGKILL of the main process leaves no orphan worker (each held ~470 MB)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from emergence.design import process_pool\n"
        "if __name__ == '__main__':\n"
        "    ex = process_pool(2)\n"
        "    futs = [ex.submit(time.sleep, 120) for _ in range(2)]\n"
        "    while len(ex._processes) < 2: time.sleep(0.1)\n"
        "    print(' '.join(str(p) for p in ex._processes), flush=True)\n"
        "    time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env=env)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(2)  # workers are up and sleeping
        assert all(psutil.pid_exists(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.time() + 15
        while time.time() < deadline and any(
                psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                for p in pids):
            time.sleep(0.2)
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"orphan workers still running: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()
