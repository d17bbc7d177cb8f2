"""The command line: fit on a CSV the package has never seen, errors, help."""

from __future__ import annotations

import json
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


# ---- one set of options, one merge: defaults < --config file < command line ---------------
def _flat_csv(tmp_path):
    """Two curves at chance at every scale: check gives them a verdict without fitting."""
    rows = [{"task": t, "model": f"m{i}", "params": p, "score": 0.0, "n_items": 100,
             "chance": 0.0} for t in ("a", "b") for i, p in enumerate([1e8, 1e9, 1e10, 1e11])]
    p = tmp_path / "flat.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def test_toml_values_are_saved_and_command_line_wins(tmp_path, tiny_frame):
    csv = tmp_path / "two_tasks.csv"
    tiny_frame.to_csv(csv, index=False)
    toml = tmp_path / "opts.toml"
    toml.write_text('[emergence]\nsharp_width = 0.5\ndraws = 300\nchains = 1\n'
                    'likelihood = "betabinomial"\ness_min = 100000.0\n')
    nc, js = tmp_path / "fit.nc", tmp_path / "fit.json"
    res = runner.invoke(app, ["fit", str(csv), "--config", str(toml), "--out", str(nc),
                              "--json", str(js), "--likelihood", "beta", "--tune", "100",
                              "--seed", "3"])
    # ess_min = 100000 from the file cannot be met: diagnostics fail -> exit status 1
    assert res.exit_code == 1, res.output
    assert "diagnostics failed" in res.output
    cfg = em.load_fit(nc).config
    assert (cfg.sharp_width, cfg.draws, cfg.chains, cfg.ess_min) == (0.5, 300, 1, 100000.0)
    assert (cfg.likelihood, cfg.tune, cfg.seed) == ("beta", 100, 3)  # command line wins
    doc = json.loads(js.read_text())
    assert doc["kind"] == "fit" and doc["config"]["sharp_width"] == 0.5
    assert {r["task"] for r in doc["records"]} == {"a", "b"} and doc["failed"]


def test_check_cli_uses_toml_sharp_width_and_writes_full_json(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("sharp_width = 0.5\nseed = 7\n")
    js = tmp_path / "v.json"
    res = runner.invoke(app, ["check", str(_flat_csv(tmp_path)), "--config", str(toml),
                              "--json", str(js)])
    assert res.exit_code == 0, res.output
    doc = json.loads(js.read_text())
    assert doc["config"]["sharp_width"] == 0.5 and doc["config"]["seed"] == 7
    assert [r["verdict"] for r in doc["records"]] == ["undetermined", "undetermined"]
    assert "sharp = width < 0.5 decades" in res.output


def test_check_api_keeps_config_sharp_width(tmp_path):
    res = em.check(_flat_csv(tmp_path), config=em.Config(sharp_width=0.5, seed=1))
    assert res.config.sharp_width == 0.5


def test_misnamed_prior_in_toml_is_one_line_exit_2(tmp_path, tiny_frame):
    csv = tmp_path / "t.csv"
    tiny_frame.to_csv(csv, index=False)
    toml = tmp_path / "p.toml"
    toml.write_text('[emergence.priors.mu_x0]\ndist = "Normal"\nmean = 10.0\nsigma = 1.0\n')
    for cmd in ("fit", "check", "compare"):
        res = runner.invoke(app, [cmd, str(csv), "--config", str(toml)])
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1, res.output
        assert "Normal takes mu, sigma, tau; got mean" in lines[0]
        assert str(toml) in lines[0] and "priors.mu_x0" in lines[0]
        assert "Traceback" not in res.output


def test_bad_toml_and_bad_values_exit_2(tmp_path, tiny_frame):
    csv = tmp_path / "t.csv"
    tiny_frame.to_csv(csv, index=False)
    cases = {"x = [": "is not valid TOML", "sharpness = 2": "unknown option(s) 'sharpness'",
             'sampler = "stan"': "choose one of nutpie"}
    for text, msg in cases.items():
        toml = tmp_path / "bad.toml"
        toml.write_text(text + "\n")
        res = runner.invoke(app, ["fit", str(csv), "--config", str(toml)])
        assert res.exit_code == 2 and msg in res.output, res.output
    res = runner.invoke(app, ["fit", str(csv), "--config", str(tmp_path / "none.toml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_merge_order_and_progress_default(tmp_path, monkeypatch):
    from emergence.cli._options import merge_options

    toml = tmp_path / "m.toml"
    toml.write_text("draws = 500\ntune = 200\nprogress = false\n")
    got = merge_options(toml, {"draws": 1000, "chains": 4}, {"tune": 50})
    assert (got["draws"], got["tune"], got["chains"], got["progress"]) == (500, 50, 4, False)
    assert "sharp_width" not in got  # not given anywhere: the analysis' own default applies
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert merge_options(None, None, {})["progress"] is True
    assert merge_options(None, None, {"progress": False})["progress"] is False


def test_same_shared_options_on_every_analysis_command():
    import click
    import typer.main

    group = typer.main.get_command(app)
    shared = {"--sampler", "--chains", "--draws", "--tune", "--seed", "--progress", "--config",
              "--json", "--report"}
    data_model = {"--families", "--likelihood", "--scale", "--sharp-width", "--task", "--family"}
    ctx = click.Context(group)
    for name in ("fit", "compare", "check", "design", "sbc", "backtest"):
        cmd = group.get_command(ctx, name)
        opts = {o for p in cmd.params for o in p.opts}
        assert shared <= opts, (name, shared - opts)
        if name != "sbc":  # sbc simulates its own data
            assert data_model <= opts, (name, data_model - opts)
        prog = next(p for p in cmd.params if p.name == "progress")
        assert prog.default is None and "--no-progress" in prog.secondary_opts


def test_bundled_dataset_name_accepted_as_file(tmp_path):
    from emergence.cli._app import load_input

    table = load_input("obsscaling_emergent", "params", ["arithmetic_2da"], None, ["OPT"])
    assert set(table.data["task"]) == {"arithmetic_2da"} and set(table.data["family"]) == {"OPT"}
    # through the command line: the name is taken as the dataset (the selection error names it)
    res = runner.invoke(app, ["check", "obsscaling_emergent", "--task", "no_such_task"])
    assert res.exit_code == 2
    assert "no_such_task" in res.output and "does not exist" not in res.output
    res = runner.invoke(app, ["check", "obsscaling_emergant"])  # misspelt
    assert res.exit_code == 2 and "neither a file nor a bundled dataset" in res.output
    assert "obsscaling_emergent" in res.output


def test_version_option():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"emergence {em.__version__}"


def test_cli_sbc_checks_the_sampler_settings_fit_uses():
    """`emergence sbc` refits with the fit's own defaults (the calibration a user relies on),
    as `emergence.sbc` does; until 2026-11-28 it used 1000 draws and target acceptance 0.95."""
    import inspect

    from emergence.cli._app import resolve_options
    from emergence.cli._options import Options
    from emergence.cli.sbc import sbc_command
    from emergence.config import make_config
    from emergence.sbc import sbc

    fit_defaults = make_config()
    given = resolve_options(Options({}))  # what the command passes on with no options
    cli = make_config({k: v for k, v in given.items() if k != "progress"})
    for name in ("draws", "tune", "target_accept", "parametrization", "chains", "sampler"):
        assert getattr(cli, name) == getattr(fit_defaults, name), name
        if name in ("draws", "tune", "chains"):
            assert _shown_default("sbc", name) == str(getattr(fit_defaults, name)), name
    items = inspect.signature(sbc).parameters["n_items"].default
    assert inspect.signature(sbc_command).parameters["n_items"].default == items


def test_closed_stdout_pipe_still_writes_the_result(tmp_path):
    """``emergence check ... --json out.json | head``: the reader goes away before the verdicts
    are printed; the command still finishes, writes its JSON and prints no error. (The read
    end is closed before the child writes, so its first print meets a closed pipe.)"""
    out = tmp_path / "out.json"
    proc = subprocess.Popen([sys.executable, "-m", "emergence", "check", str(_flat_csv(tmp_path)),
                             "--json", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "error" not in err.lower() and "Broken pipe" not in err
    assert len(json.loads(out.read_text(encoding="utf-8"))["records"]) == 2


def test_help_shows_the_defaults_that_are_used():
    """``--help`` reads each option's default from Config (or the command's own defaults): it
    said draws 2000, tune 1000 and chains 2 while Config used 500, 500 and 4."""
    from emergence.config import Config
    from emergence.design import REFIT_DEFAULTS

    for option in ("draws", "tune", "chains", "target-accept", "likelihood", "pooling"):
        assert _shown_default("check", option) == str(getattr(Config(), option.replace("-", "_")))
    assert _shown_default("design", "draws") == str(REFIT_DEFAULTS["draws"])
    assert _shown_default("design", "likelihood") == REFIT_DEFAULTS["likelihood"]


def _shown_default(command: str, option: str) -> str:
    """The default ``emergence COMMAND --help`` shows for ``--OPTION``."""
    import re

    text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "250"}).output
    line = next(ln for ln in text.splitlines() if f"--{option} " in ln)
    return re.search(r"\[default: \(?([^)\]]+)\)?\]", line).group(1)
