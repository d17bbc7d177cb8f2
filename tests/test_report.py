"""Reports: HTML rendered in headless Chromium, PDF checked with poppler, user strings escaped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import emergence as em
from emergence.report import render_html, report
from emergence.simulate import simulate_table
from system_tools import needs, tool

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def check_result():
    """Two simulated curves, one named like an XSS payload; small draws (only the code path)."""
    x = np.linspace(8, 12, 9)
    ln9 = np.log(9)
    truths = [{"task": EVIL, "x0": 9.5, "logk": np.log(2 * ln9 / 0.5), "lapse": 0.05},
              {"task": "smooth & co", "x0": 10.0, "logk": np.log(2 * ln9 / 3), "lapse": 0.05}]
    frame = simulate_table("sigmoid", truths, x, n_items=1000, seed=3)
    frame.loc[frame["task"] == EVIL, "family"] = "<b>fam</b>"
    return em.check(frame, cv="none", psense=False, seed=1, draws=300, tune=300)


def test_html_escapes_user_strings(check_result):
    page = render_html(check_result)
    assert EVIL not in page and "<b>fam</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the report's own sorting script
    assert "data:image/svg+xml;base64," in page  # figures inlined (vector): works offline


@needs("chromium")
def test_html_renders_in_chromium_without_console_errors(check_result, tmp_path):
    chromium = tool("chromium")
    html = report(check_result, tmp_path / "r.html")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    out = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,1600",
                          html.as_uri()], capture_output=True, text=True, timeout=120)
    console = [ln for ln in out.stderr.splitlines() if "CONSOLE" in ln]
    assert not [ln for ln in console if "rror" in ln or "Uncaught" in ln], console
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert "verdict-table" in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


@needs("pdfinfo", "pdftotext")
def test_pdf_pages_and_text(check_result, tmp_path):
    pdfinfo, pdftotext = tool("pdfinfo"), tool("pdftotext")
    pdf = report(check_result, tmp_path / "r.pdf", title="Check report")
    info = subprocess.run([pdfinfo, str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    assert pages >= 2
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Verdicts" in text and "Contents" in text and "smooth & co" in text
    assert EVIL in text  # shown as text in the PDF
    for r in check_result.records:
        assert r["verdict"] in text


def test_report_of_fit_and_bad_suffix(check_result, tmp_path):
    p = report(check_result.fit, tmp_path / "fit.html")
    assert "Fit summary" in p.read_text() and "Verdicts" not in p.read_text().split("<nav")[0]
    with pytest.raises(ValueError, match=r"must end in \.html or \.pdf"):
        report(check_result, tmp_path / "x.docx")
    with pytest.raises(TypeError, match="cannot report a int"):
        report(42, tmp_path / "x.html")
    with pytest.raises(FileNotFoundError, match="no saved result"):
        report(tmp_path / "missing.json", tmp_path / "x.html")


def test_design_study_report(tmp_path):
    from emergence.design import Truth, design

    study = design(Truth.smooth(3), ["1e8..1e12:5"], replicates=2, seed=1, workers=1)
    p = report(study, tmp_path / "d.html")
    text = p.read_text()
    assert "Design analysis" in text and "smooth:3" in text and "data:image/svg" in text
    saved = tmp_path / "d.json"
    study.save(saved)
    text = report(saved, tmp_path / "d2.html").read_text()
    assert "Design analysis" in text and "smooth:3" in text


def test_notebook_reprs_escape_user_strings(check_result):
    html = check_result._repr_html_()
    assert "<table" in html and EVIL not in html and "&lt;script&gt;" in html
    fit_html = check_result.fit._repr_html_()
    assert "<table" in fit_html and EVIL not in fit_html
    table_html = check_result.fit.table._repr_html_()
    assert "<table" in table_html and EVIL not in table_html


def test_saved_check_and_compare_json_render_alike(check_result, tmp_path):
    """`report` reads the JSON of `check --json` and `compare --json` / `--out`."""
    import json

    from emergence.report import load_saved

    saved = check_result.save(tmp_path / "verdicts.json")
    page = report(saved, tmp_path / "c.html").read_text()
    assert "What the package concluded" in page and "verdict-table" in page
    for r in check_result.records:
        assert f'<span class="verdict">{r["verdict"]}</span>' in page
    recs = [{"task": "t", "metric": "m", "family": "F", "series": "t | m | F", "n_scales": 5,
             "too_few_scales": False, "cv": "loso", "preferred": "indistinguishable",
             "models": {"sigmoid": {"elpd": -10.0, "se": 1.0, "elpd_diff": 0.0, "dse": 0.0,
                                    "weight": 0.6},
                        "powerlaw": {"elpd": -10.5, "se": 1.1, "elpd_diff": -0.5, "dse": 0.4,
                                     "weight": 0.4}}}]
    (tmp_path / "cmp.json").write_text(json.dumps(recs))
    assert load_saved(tmp_path / "cmp.json").kind == "compare"
    page = report(tmp_path / "cmp.json", tmp_path / "cmp.html").read_text()
    assert "comparison-table" in page and "-10.0 ± 1 (w 0.6)" in page
    (tmp_path / "cmp_full.json").write_text(json.dumps({"cv": "loso", "models": ["sigmoid",
                                                        "powerlaw"], "records": recs,
                                                        "notices": ["n", "n"], "overall": []}))
    page = report(tmp_path / "cmp_full.json", tmp_path / "cmp2.html").read_text()
    assert page.count('<p class="note">n</p>') == 1  # notices shown once


def test_backtest_document_by_kind(tmp_path):
    import json

    doc = {"kind": "backtest", "title": "Hold out the largest models", "coverage_90": 0.83,
           "summary": [{"family": "OPT", "coverage": 0.8, "log_score": -1.23456},
                       {"family": "<i>x</i>", "coverage": 0.9, "log_score": -0.5}]}
    (tmp_path / "bt.json").write_text(json.dumps(doc))
    page = report(tmp_path / "bt.json", tmp_path / "bt.html").read_text()
    assert "Hold out the largest models" in page and "-1.23" in page and "0.83" in page
    assert "<i>x</i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "nonsense"}))
    with pytest.raises(ValueError, match="unknown kind 'nonsense'"):
        report(tmp_path / "bad.json", tmp_path / "x.html")
    (tmp_path / "other.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a result saved by emergence"):
        report(tmp_path / "other.json", tmp_path / "x.html")


def test_sbc_p_values_printed_honestly():
    from emergence.plots import format_p

    assert format_p(0.0077) == "0.0077" and format_p(0.012) == "0.012"
    assert format_p(0.5) == "0.5" and format_p(1e-9) == "< 0.0001"


def test_caveats_decided_once_from_summary_and_records():
    import pandas as pd

    from emergence import caveats as CV

    summ = pd.DataFrame({
        "task": ["a", "b", "c"], "metric": "acc", "family": "F", "shots": "", "setting": "",
        "n_scales": [3, 8, 8], "rhat_max": [1.0, 1.05, 1.0], "ess_bulk_min": [900.0, 900, 900],
        "divergences": 0, "n_in_transition": [0, 2, 3], "width_contraction": [0.95, 0.6, 0.1],
        "width_informed": [False, True, True],
        "p_threshold_above": [0.9, 0.0, 0.1], "p_threshold_below": 0.0,
        "ppc_misfit": [False, False, True]})
    flat = {"task": "d", "metric": "acc", "family": "F", "shots": "", "setting": "",
            "verdict": "undetermined", "reasons": ["flat_at_chance"], "n_scales": 8}
    cav = CV.derive(summ, [flat])
    assert cav["caveats"].tolist() == [
        ["too_sparse", "uninformed_width", "no_scale_in_rise", "extrapolated"],
        ["diagnostics_failed", "prior_driven_width"], ["ppc_misfit"], ["flat_at_chance"]]
    assert cav["grey"].tolist() == ["all", "all", "", "all"]
    ann = CV.annotate(summ, [flat])
    assert len(ann) == 3 and ann["caveat_badges"].iat[2] == "misfit"
    # a check reason ppc_misfit (the lead's check) is a caveat too
    assert CV.from_record({"reasons": ["ppc_misfit", "smooth_width"], "n_scales": 9}) == [
        "ppc_misfit"]


def test_verdict_table_labels_the_two_p_sharp_apart():
    from emergence import caveats as CV

    base = {"task": "t", "metric": "m", "family": "F", "verdict": "smooth", "n_scales": 8,
            "reasons": ["smooth_width"], "p_sharp": 0.55, "p_sharp_avg": 0.022}
    with_cmp = CV.verdict_table([{**base, "weights": {"sigmoid": 0.1, "powerlaw": 0.9}}])
    without = CV.verdict_table([{**base, "p_sharp_avg": 0.55, "weights": None}])
    assert with_cmp["p_sharp"].iat[0] == 0.55 and with_cmp["p_sharp_avg"].iat[0] == 0.022
    assert without["p_sharp_avg"].isna().all()  # no comparison ran: not model-averaged
    assert CV.LABELS["p_sharp"] != CV.LABELS["p_sharp_avg"]
    c = CV.conclusions([{**base, "verdict": "emergent"}, {**base, "verdict": "undetermined",
                                                          "reasons": ["too_sparse"]}])
    assert c["counts"]["emergent"] == 1 and c["undetermined_why"] == {"too sparse": 1}


def test_console_table_shows_badges_and_never_breaks_headers_mid_word():
    import pandas as pd
    from rich.console import Console

    from emergence.report.console import frame_table, unique_warnings

    df = pd.DataFrame({"task": ["arithmetic_3ds"], "metric": ["acc"], "family": ["Qwen2"],
                       "n_scales": [1], "width_median": [1.7], "width_lo": [0.8],
                       "width_hi": [2.9], "p_sharp": [0.08]})
    con = Console(width=100, record=True)
    con.print(frame_table(df, "fit"))
    out = con.export_text()
    assert "too sparse" in out and "1.70 [0.80, 2.90]" in out
    assert "interva" not in out.replace("interval", "")  # no header cut mid-word
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(5):
            warnings.warn("same thing", UserWarning, stacklevel=2)
    assert len(unique_warnings(w)) == 1


def test_diagnostics_cell_shows_the_pool_after_a_population_step():
    """The curve table's diagnostics cell adds ``ess_pool`` (effective stage-1 draws behind a
    pooled posterior) when there is one; a joint or unpooled fit has none (NaN)."""
    from emergence.report._sections import _ess_cell

    assert _ess_cell({"rhat_max": 1.0021, "ess_bulk_min": 812.4, "ess_pool": 36.4}) == \
        "1.002 / 812 / 36"
    assert _ess_cell({"rhat_max": 1.0021, "ess_bulk_min": 812.4, "ess_pool": np.nan}) == \
        "1.002 / 812"
