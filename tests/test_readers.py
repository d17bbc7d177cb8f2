"""Readers: lm-evaluation-harness results (2023 and 0.4.x layouts) and leaderboard tables."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import emergence as em
from emergence.cli import app
from emergence.errors import EmergenceDataError
from emergence.readers import from_wide, read_lm_eval
from emergence.registry import lookup, size_from_name

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "lm-eval-raw"
FIXTURE = Path(__file__).parent / "fixtures" / "lm_eval_04x"


def test_raw_files_match_the_tidy_table():
    """The 21 raw files, read with the built-in registry alone, give the same scores, item counts
    and sizes as the rows of data/pythia_opt_bloom_lmeval.csv derived from them (data/README)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_lm_eval(RAW)
    d = t.data
    assert d["model"].nunique() == 21
    assert set(d["scale_source"]) == {"registry:OPT", "registry:Pythia-deduped", "registry:BLOOM"}
    ref = pd.read_csv(em.datasets.path("pythia_opt_bloom"))
    ref = ref[ref["model"].isin(d["model"].unique()) & (ref["shots"] == 0)
              & (ref["step"].isna() | (ref["step"] == 143000))].copy()
    ref["subtask"] = ref["subtask"].fillna("")
    d = d.assign(task0=d["task"].str.split("/").str[0],
                 sub=d["task"].map(lambda s: s.split("/", 1)[1] if "/" in s else ""))
    m = ref.merge(d, left_on=["model", "task", "subtask", "metric"],
                  right_on=["model", "task0", "sub", "metric"], how="left", suffixes=("_ref", ""))
    assert len(m) == len(ref) == len(d)  # every reference row found, nothing extra
    assert m["score"].notna().all()
    for col in ("score", "n_items", "params", "tokens", "flops"):
        np.testing.assert_allclose(m[col].astype(float), m[f"{col}_ref"].astype(float), rtol=1e-6,
                                   err_msg=col)
    assert (m["family"] == m["family_ref"]).all()
    assert (m["setting"] == m["setting_ref"]).all()


def test_04x_layout_fixture():
    t = read_lm_eval(FIXTURE)
    d = t.data.set_index(["task", "metric", "setting"])
    assert d.loc[("arc_easy", "acc", ""), "score"] == 0.6
    assert d.loc[("arc_easy", "acc", ""), "n_items"] == 2376
    assert d.loc[("arc_easy", "acc", ""), "n_items_source"] == "n-samples"
    strict = d.loc[("gsm8k", "exact_match", "filter=strict-match")]
    flex = d.loc[("gsm8k", "exact_match", "filter=flexible-extract")]
    assert (strict["score"], flex["score"]) == (0.12, 0.15)
    assert strict["shots"] == "5" and strict["n_items"] == 1319
    # groups and subtasks kept apart
    assert d.loc[("mmlu/anatomy", "acc", ""), "n_items"] == 135
    assert d.loc[("mmlu", "acc", ""), "n_items_source"] == "inverted stderr"
    assert set(t.data["model"]) == {"pythia-1.4b"}
    assert t.data["params"].iat[0] == 1.4e9 and t.data["family"].iat[0] == "Pythia"
    assert t.data["scale_source"].iat[0] == "registry:Pythia"


def test_unknown_model_size_is_a_clear_error(tmp_path):
    doc = (FIXTURE / "results_2025-01-01.json").read_text().replace("EleutherAI/pythia-1.4b",
                                                                     "acme/mystery-model")
    (tmp_path / "r.json").write_text(doc)
    with pytest.raises(EmergenceDataError, match="no size known for 1 model.*mystery-model.*--sizes"):
        read_lm_eval(tmp_path)
    t = read_lm_eval(tmp_path, sizes={"mystery-model": 3e9})
    assert (t.data["params"] == 3e9).all() and (t.data["scale_source"] == "user").all()
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("model,params,flops\nmystery-model,2e9,1e21\n")
    t = read_lm_eval(tmp_path, sizes=sizes, scale="flops")
    assert (t.data["flops"] == 1e21).all()


def test_size_from_name_and_registry():
    assert size_from_name("my-model-1.4b") == 1.4e9
    assert size_from_name("bloom-7b1") == pytest.approx(7.1e9)
    assert size_from_name("tiny-350m-chat") == 3.5e8
    assert size_from_name("no-size-here") is None
    fam, tag = lookup("EleutherAI/pythia-410m-deduped")
    assert fam.name == "Pythia-deduped" and tag == "410m"
    assert lookup("facebook/opt-66b")[0].tokens == 180e9


def test_from_wide():
    wide = pd.DataFrame({"model": ["a-1b", "a-7b", "a-70b"], "size": [1e9, 7e9, 7e10],
                         "mmlu": [25.0, 40.0, 68.0], "gsm8k": [2.0, np.nan, 55.0]})
    with pytest.warns(em.DroppedRowsWarning, match="1 row.*empty leaderboard cell"):
        t = from_wide(wide, params="size", percent=True, chance={"mmlu": 0.25})
    assert len(t) == 5
    assert t.dropped[["model", "task"]].values.tolist() == [["a-7b", "gsm8k"]]
    assert t.data.loc[t.data["task"] == "mmlu", "y"].tolist() == [0.25, 0.40, 0.68]
    with pytest.raises(EmergenceDataError, match="column 'params' not in the wide table"):
        from_wide(wide)


@pytest.mark.slow
def test_cli_fit_on_an_lm_eval_folder(tmp_path):
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["fit", str(RAW / "opt"), "--task", "lambada_openai",
                                   "--metric", "acc", "--summary", str(out), "--draws", "300",
                                   "--tune", "300", "--no-progress", "--seed", "1"])
    assert res.exit_code in (0, 1), res.output
    assert pd.read_csv(out)["family"].tolist() == ["OPT"]


@pytest.mark.slow
def test_cli_check_on_an_lm_eval_folder(tmp_path):
    out = tmp_path / "v.json"
    res = CliRunner().invoke(app, ["check", str(RAW / "opt"), "--task", "lambada_openai",
                                   "--task", "arc_easy", "--cv", "none", "--json", str(out),
                                   "--draws", "500", "--tune", "500", "--seed", "1"])
    assert res.exit_code == 0, res.output
    import json

    recs = json.loads(out.read_text())["records"]
    assert {r["task"] for r in recs} == {"lambada_openai", "arc_easy"}
    assert all(r["verdict"] in em.check.__globals__["VERDICTS"] for r in recs)


def test_score_table_repr_html_escapes_user_strings():
    # A task name with markup must come out escaped, inside an HTML table.
    wide = pd.DataFrame({"model": ["m-1b", "m-2b", "m-4b"], "size": [1e9, 2e9, 4e9],
                         "<b>x</b>": [0.1, 0.5, 0.9]})
    html = from_wide(wide, params="size")._repr_html_()
    assert "<table" in html
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_sizes_written_with_units(tmp_path):
    from emergence.readers import parse_size

    assert parse_size("7B") == 7e9 and parse_size("1.3b") == 1.3e9
    assert parse_size("350M") == 3.5e8 and parse_size(" 2.7e9 ") == 2.7e9
    assert parse_size("seven") is None and parse_size("-7B") is None
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"results": {"piqa": {"acc": 0.6}},
                             "config": {"model_args": "pretrained=acme/acme-x"}}))
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("model,params\nacme-x,7B\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_lm_eval(p, sizes=sizes)
    assert t.data["params"].tolist() == [7e9]
    sizes.write_text("model,params\nacme-x,big\n")
    with pytest.raises(EmergenceDataError, match=r"row 0 \(line 2\), column 'params'.*'big'"):
        read_lm_eval(p, sizes=sizes)


def test_metric_as_text_is_parsed_or_listed_in_dropped(tmp_path):
    for i, m in enumerate(("pythia-160m", "pythia-410m", "pythia-1b")):
        (tmp_path / f"r{i}.json").write_text(json.dumps({
            "results": {"piqa": {"acc": "0.851", "acc_norm": "N/A", "f1": None}},
            "config": {"model_args": f"pretrained=EleutherAI/{m}"}}))
    with pytest.warns(Warning, match="3 row"):
        t = read_lm_eval(tmp_path)
    assert t.data["score"].tolist() == [0.851] * 3 and set(t.data["metric"]) == {"acc"}
    assert len(t.dropped) == 6
    assert sorted(set(t.dropped["reason"])) == ["metric value 'N/A' is text, not a number",
                                                "metric value None is not a number"]


def test_lm_eval_errors_name_the_file(tmp_path):
    (tmp_path / "results_opt.json").write_text(json.dumps({
        "results": {"piqa": {"acc": 61.2}}, "config": {"model_args": "pretrained=facebook/opt-1.3b"}}))
    with pytest.raises(EmergenceDataError, match=r"row 0 \(from results_opt.json\).*0-100"):
        read_lm_eval(tmp_path)


def test_malformed_task_entry_is_listed_not_skipped(tmp_path):
    for i, m in enumerate(("pythia-160m", "pythia-410m", "pythia-1b")):
        (tmp_path / f"r{i}.json").write_text(json.dumps({
            "results": {"piqa": {"acc": 0.6 + i / 10}, "arc_easy": [0.5]},
            "config": {"model_args": f"pretrained=EleutherAI/{m}"}}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_lm_eval(tmp_path)
    assert len(t) == 3 and list(t.dropped["task"]) == ["arc_easy"] * 3
    assert t.dropped["reason"].str.contains("not a mapping").all()
