"""Reports: HTML rendered in headless Chromium, PDF checked with poppler, user strings escaped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import emergence as em
from emergence.report import render_html, report
from emergence.simulate import simulate_table

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL = "<script>alert(1)</script>"


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is needed for this test: apt-get install {package}")
    return path


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
    assert "data:image/png;base64," in page  # figures inlined: works offline


def test_html_renders_in_chromium_without_console_errors(check_result, tmp_path):
    chromium = _need("chromium", "chromium")
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


def test_pdf_pages_and_text(check_result, tmp_path):
    pdfinfo = _need("pdfinfo", "poppler-utils")
    pdftotext = _need("pdftotext", "poppler-utils")
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
    with pytest.raises(TypeError, match="cannot report a str"):
        report("nope", tmp_path / "x.html")


def test_design_study_report(tmp_path):
    from emergence.design import Truth, design

    study = design(Truth.smooth(3), ["1e8..1e12:5"], replicates=2, seed=1, workers=1)
    p = report(study, tmp_path / "d.html")
    text = p.read_text()
    assert "Design analysis" in text and "smooth:3" in text and "data:image/png" in text


def test_notebook_reprs_escape_user_strings(check_result):
    html = check_result._repr_html_()
    assert "<table" in html and EVIL not in html and "&lt;script&gt;" in html
    fit_html = check_result.fit._repr_html_()
    assert "<table" in fit_html and EVIL not in fit_html
    table_html = check_result.fit.table._repr_html_()
    assert "<table" in table_html and EVIL not in table_html
