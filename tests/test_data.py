"""Validation of score tables: every bad input gets an error naming row, column and fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emergence as em
from emergence.data import load_scores
from emergence.errors import DroppedRowsWarning, EmergenceDataError, SparseDataWarning

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_valid_table_roundtrip(tiny_frame):
    t = load_scores(tiny_frame)
    assert len(t) == 8
    assert t.scale == "params"
    np.testing.assert_allclose(t.data["x"].unique(), [8, 9, 10, 11])
    # counts derived from score * n_items
    assert t.data["k"].tolist()[:4] == [10, 30, 50, 70]
    s = t.series()
    assert list(s["label"]) == ["a | acc | default", "b | acc | default"]
    assert not s["too_sparse"].any()


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(EmergenceDataError, match="is empty. Write a header row"):
        load_scores(p)
    p.write_text("task,model,params,score\n")
    with pytest.raises(EmergenceDataError, match="no data rows"):
        load_scores(p)


def test_missing_required_columns(tiny_frame):
    with pytest.raises(EmergenceDataError, match=r"lacks required column\(s\) 'score'.*Rename"):
        load_scores(tiny_frame.drop(columns="score"))
    with pytest.raises(EmergenceDataError, match="lacks required column.*'flops'"):
        load_scores(tiny_frame, scale="flops")


def test_score_outside_unit_interval(tiny_frame):
    tiny_frame.loc[3, "score"] = 1.7
    tiny_frame.loc[2, "score"] = 250.0
    with pytest.raises(EmergenceDataError, match=r"must lie in \[0, 1\].*row 2.*row 3"):
        load_scores(tiny_frame)


def test_percent_scale_detected(tiny_frame):
    tiny_frame["score"] = tiny_frame["score"] * 100
    with pytest.raises(EmergenceDataError, match="0-100 .percent. scale.*Divide"):
        load_scores(tiny_frame)


def test_mixed_percent_and_proportion(tiny_frame):
    tiny_frame.loc[tiny_frame["task"] == "a", "score"] *= 100
    with pytest.raises(EmergenceDataError, match="does not mix 0-100 and 0-1"):
        load_scores(tiny_frame)


def test_nan_score(tiny_frame):
    tiny_frame.loc[5, "score"] = np.nan
    with pytest.raises(EmergenceDataError, match=r"'score' is empty \(NaN\) in row 5"):
        load_scores(tiny_frame)


def test_nonpositive_or_missing_scale(tiny_frame):
    tiny_frame.loc[1, "params"] = 0
    tiny_frame.loc[6, "params"] = np.nan
    with pytest.raises(EmergenceDataError, match="must be a positive number.*row 1.*row 6"):
        load_scores(tiny_frame)


def test_k_greater_than_n(tiny_frame):
    tiny_frame["k"] = (tiny_frame["score"] * 100).round()
    tiny_frame.loc[4, "k"] = 101
    with pytest.raises(EmergenceDataError, match=r"'k' exceeds 'n_items' in row 4.*k=101 > n_items=100"):
        load_scores(tiny_frame)


def test_chance_out_of_range(tiny_frame):
    tiny_frame.loc[0, "chance"] = 1.0
    with pytest.raises(EmergenceDataError, match=r"'chance' must lie in \[0, 1\).*row 0"):
        load_scores(tiny_frame)


def test_chance_above_ceiling(tiny_frame):
    tiny_frame["ceiling"] = 0.9
    tiny_frame.loc[2, "chance"] = 0.95
    with pytest.raises(EmergenceDataError, match="must lie below .ceiling.*row 2.*chance >= ceiling"):
        load_scores(tiny_frame)


def test_conflicting_duplicates(tiny_frame):
    dup = tiny_frame.iloc[[1]].assign(score=0.99)
    with pytest.raises(EmergenceDataError, match="duplicate key.*different scores.*row 1.*row 8"):
        load_scores(pd.concat([tiny_frame, dup], ignore_index=True))


def test_identical_duplicates_are_dropped_and_reported(tiny_frame):
    frame = pd.concat([tiny_frame, tiny_frame.iloc[[1]]], ignore_index=True)
    with pytest.warns(DroppedRowsWarning, match="1 row"):
        t = load_scores(frame)
    assert len(t) == 8
    assert t.dropped["row"].tolist() == [8]
    assert "exact duplicate" in t.dropped["reason"].iat[0]


def test_selection_matching_nothing(tiny_frame):
    with pytest.raises(EmergenceDataError, match=r"task='zzz' matches no row; available.*'a', 'b'"):
        load_scores(tiny_frame, task="zzz")
    t = load_scores(tiny_frame, task="a*")
    assert set(t.data["task"]) == {"a"}


def test_sparse_series_kept_with_warning(tiny_frame):
    frame = tiny_frame[~((tiny_frame["task"] == "b") & (tiny_frame["params"] > 1e9))]
    with pytest.warns(SparseDataWarning, match="fewer than 3 distinct scales.*b \\| acc"):
        t = load_scores(frame)
    s = t.series()
    assert s.set_index("task").loc["b", "too_sparse"]
    assert not s.set_index("task").loc["a", "too_sparse"]
    assert len(t) == 6  # kept


def test_non_numeric_strings(tiny_frame):
    tiny_frame["n_items"] = tiny_frame["n_items"].astype(object)
    tiny_frame.loc[3, "n_items"] = "lots"
    with pytest.raises(EmergenceDataError, match=r"'n_items' must be numeric.*row 3 \(value 'lots'\)"):
        load_scores(tiny_frame)


def test_csv_errors_give_file_lines(tmp_path, tiny_frame):
    tiny_frame.loc[2, "score"] = -0.5
    p = tmp_path / "s.csv"
    tiny_frame.to_csv(p, index=False)
    with pytest.raises(EmergenceDataError, match=r"row 2 \(line 4 of s\.csv\)"):
        load_scores(p)


def test_bad_n_items_and_unknown_selector(tiny_frame):
    tiny_frame.loc[1, "n_items"] = 0
    with pytest.raises(EmergenceDataError, match="'n_items' must be a whole number >= 1.*row 1"):
        load_scores(tiny_frame)
    with pytest.raises(EmergenceDataError, match="cannot select on 'color'"):
        load_scores(tiny_frame.assign(n_items=10)).select(color="red")


def test_perplexity_and_lower_is_better(tiny_frame):
    ppl = tiny_frame[tiny_frame["task"] == "a"].assign(metric="ppl", score=[40.0, 20.0, 8.0, 4.0],
                                                       score_scale="unbounded",
                                                       higher_is_better=False)
    err = tiny_frame[tiny_frame["task"] == "b"].assign(metric="error_rate", higher_is_better=False)
    t = load_scores(pd.concat([ppl, err], ignore_index=True))
    a = t.data[t.data["metric"] == "ppl"]
    np.testing.assert_allclose(a["y"], [1 / 40, 1 / 20, 1 / 8, 1 / 4])
    assert a["k"].isna().all()  # fitted as scores, not counts
    b = t.data[t.data["metric"] == "error_rate"]
    np.testing.assert_allclose(b["y"], 1 - b["score"])
    assert any("1/ppl" in n for n in t.notes)
    bad = ppl.assign(score=[0.5, 20.0, 8.0, 4.0])
    with pytest.raises(EmergenceDataError, match="perplexity must be >= 1.*row 0"):
        load_scores(bad)


def test_checkpoints_final_reports_dropped():
    frame = pd.DataFrame({
        "task": "t", "model": ["p1", "p1", "p2", "p2", "p3"], "params": [1e8, 1e8, 1e9, 1e9, 1e10],
        "step": [1000, 2000, 1000, 2000, np.nan], "score": [0.1, 0.2, 0.3, 0.4, 0.5],
    })
    with pytest.warns(DroppedRowsWarning, match="intermediate training checkpoint"):
        t = load_scores(frame)
    assert sorted(t.data["row"]) == [1, 3, 4]
    assert sorted(t.dropped["row"]) == [0, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_scores(frame, checkpoints="all")) == 5


def test_bundled_datasets_load():
    t = em.datasets.load("obsscaling_emergent")
    assert {"arithmetic_3ds", "word_unscrambling", "ipa_transliterate"} <= set(t.data["task"])
    assert {"exact_match", "bleu"} <= set(t.data.loc[t.data["task"] == "ipa_transliterate", "metric"])
    bbh = em.datasets.load("bbh")
    assert bbh.data["task"].str.startswith("bbh/").all()
    with pytest.warns(DroppedRowsWarning):
        p = em.datasets.load("pythia_opt_bloom", task="lambada_openai")
    assert set(p.data["metric"]) == {"acc", "ppl"}
    with pytest.raises(EmergenceDataError, match="unknown dataset 'nope'; available"):
        em.datasets.load("nope")


@pytest.mark.skipif(not SHARED.exists(), reason="shared/data is not beside the project")
def test_shared_tables_validate():
    # The reference tables of shared/data must load without error in both scales.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = load_scores(SHARED / "obsscaling_ruan2024.csv")
        assert len(t) > 10000
        with pytest.raises(EmergenceDataError, match="step-0 checkpoints have 0 FLOPs"):
            load_scores(SHARED / "pythia_opt_bloom_lmeval.csv", scale="flops", checkpoints="all")
        f = load_scores(SHARED / "pythia_opt_bloom_lmeval.csv", scale="flops", checkpoints="all",
                        task="lambada_openai", bad_scale="drop")
    assert len(f) > 0
    assert (f.dropped["flops"] == 0).all() and len(f.dropped) > 0


def test_metric_kind_inference_and_override(tiny_frame):
    bleu = tiny_frame.assign(metric="bleu", score=tiny_frame["score"] + 0.0123)
    frame = pd.concat([tiny_frame, bleu], ignore_index=True)
    t = load_scores(frame)
    kinds = t.data.groupby("metric")["metric_kind"].first()
    assert kinds["acc"] == "discrete" and kinds["bleu"] == "continuous"
    # fitted on pseudo-counts round(score * n) all the same (beta-binomial absorbs the difference)
    assert t.data.loc[t.data["metric"] == "bleu", "k"].notna().all()
    # unknown name: decided by whether scores are multiples of 1/n_items
    odd = tiny_frame.assign(metric="my_metric")
    assert set(load_scores(odd).data["metric_kind"]) == {"discrete"}
    odd2 = odd.assign(score=odd["score"] + 0.0037)
    assert set(load_scores(odd2).data["metric_kind"]) == {"continuous"}
    # explicit column wins; bad values are named
    forced = odd2.assign(metric_kind="discrete")
    assert set(load_scores(forced).data["metric_kind"]) == {"discrete"}
    with pytest.raises(EmergenceDataError, match="'metric_kind' must be 'discrete', 'continuous'.*row 0"):
        load_scores(odd.assign(metric_kind="fuzzy"))


def test_single_score_above_one_is_a_typo_not_a_percent_scale(tiny_frame):
    tiny_frame.loc[2, "score"] = 1.5
    with pytest.raises(EmergenceDataError, match=r"row 2 \(value 1.5\).*looks like a typo") as e:
        load_scores(tiny_frame)
    assert "0-100" not in str(e.value)


def test_validation_is_a_list_of_named_checks():
    from emergence.data import CHECKS

    names = [n for n, _ in CHECKS]
    assert len(names) == len(set(names)) >= 15
    assert names.index("numeric_columns") < names.index("scale") < names.index("duplicates")
    assert all(callable(f) for _, f in CHECKS)


def test_k_and_score_are_cross_checked(tiny_frame):
    tiny_frame["k"] = (tiny_frame["score"] * 100).round()
    assert load_scores(tiny_frame).data["k"].tolist()[:4] == [10, 30, 50, 70]
    tiny_frame.loc[3, "k"] = 20  # score 0.7 but 20 of 100 correct
    with pytest.raises(EmergenceDataError, match=r"'k' and 'score' disagree in row 3"):
        load_scores(tiny_frame)


@pytest.mark.parametrize("col,value", [("shots", 1.5), ("k", 30.5), ("n_items", 99.5),
                                       ("seed", 0.5)])
def test_fractional_counts_are_rejected_not_truncated(tiny_frame, col, value):
    tiny_frame[col] = 30.0 if col == "k" else 1.0 if col != "n_items" else 100.0
    tiny_frame.loc[5, col] = value
    with pytest.raises(EmergenceDataError, match=rf"'{col}'.*whole number.*row 5"):
        load_scores(tiny_frame)


def test_names_are_stripped_with_a_note_and_empty_families_rejected(tiny_frame):
    tiny_frame["family"] = ["opt ", "opt"] * 4
    t = load_scores(tiny_frame)
    assert set(t.data["family"]) == {"opt"}
    assert any("family (4 cells)" in n for n in t.notes)
    tiny_frame.loc[1, "family"] = None
    with pytest.raises(EmergenceDataError, match=r"'family' is empty in row 1 while other rows"):
        load_scores(tiny_frame)


def test_repeated_index_does_not_matter(tiny_frame):
    doubled = pd.concat([tiny_frame.assign(family="f1"), tiny_frame.assign(family="f2")])
    t = load_scores(doubled)
    assert len(t) == 16 and len(t.dropped) == 0 and len(t.series()) == 4
