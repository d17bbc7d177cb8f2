"""The command line: fit on a CSV the package has never seen, errors, help."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import emergence as em
from emergence.cli import app

runner = CliRunner()


def _unseen_csv(tmp_path):
    """A CSV in the shared/data schema with tasks and models the package has never seen.

    Built from the bundled Pythia/OPT/BLOOM columns but with new task and model names and
    simulated scores, so nothing about it is known in advance.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = em.datasets.load("pythia_opt_bloom", task="piqa", metric="acc", shots=0)
    cols = list(pd.read_csv(em.datasets.path("pythia_opt_bloom"), nrows=1).columns)
    base = ref.data.copy()
    rng = np.random.default_rng(0)
    rows = []
    for task, x0 in (("riddles_v2", 9.6), ("unit_conversion", 10.4)):
        d = base.copy()
        d["task"] = task
        d["model"] = "acme-" + d["model"]
        d["subtask"] = ""
        d["chance"] = 0.0
        mu = 0.9 / (1 + np.exp(-3 * (d["x"] - x0)))
        d["score"] = rng.binomial(500, mu) / 500
        d["n_items"] = 500
        d["shots"] = 0
        rows.append(d)
    out = pd.concat(rows)[cols]
    p = tmp_path / "unseen.csv"
    out.to_csv(p, index=False)
    return p


def test_fit_unseen_csv_writes_summary(tmp_path):
    p = _unseen_csv(tmp_path)
    summ = tmp_path / "out.csv"
    nc = tmp_path / "fit.nc"
    res = runner.invoke(app, ["fit", str(p), "--summary", str(summ), "--out", str(nc), "--seed",
                              "1", "--draws", "300", "--tune", "300", "--no-progress"])
    assert res.exit_code in (0, 1), res.output  # 1 = diagnostics failed at this small size
    df = pd.read_csv(summ)
    assert set(df["task"]) == {"riddles_v2", "unit_conversion"}
    assert {"threshold_median", "width_median", "p_sharp", "rhat_max"} <= set(df.columns)
    # one curve per (task, family): OPT, BLOOM, Pythia, Pythia-deduped ...
    assert df.groupby("task")["family"].nunique().min() >= 3
    back = em.load_fit(nc)
    assert back.config.seed == 1
    assert "riddles_v2" in res.output


def test_fit_cli_bad_input_message(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("task,model,params,score\nt,m1,1e9,0.5\nt,m2,1e10,55\n")
    res = runner.invoke(app, ["fit", str(p)])
    assert res.exit_code == 2
    assert "0-100 (percent) scale in row 1 (line 3 of bad.csv)" in res.output
    res = runner.invoke(app, ["fit", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["fit", str(p), "--sampler", "stan"])
    assert res.exit_code == 2 and "choose one of nutpie" in res.output


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "emergence", "--help"], capture_output=True,
                         text=True, check=True)
    assert "fit" in out.stdout and "demo" in out.stdout
