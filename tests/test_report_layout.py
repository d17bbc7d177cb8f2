"""Report layout, read as a reader would: HTML in headless Chromium, PDF with poppler.

Asserts that no element overflows the page width, no table row is split across pages, the
table of contents' page numbers do not overprint, no two words of the PDF overlap, and every
too-sparse / failed / flat curve carries its badge wherever its row appears. A synthetic check
document (70 curves with long reason lists, no sampling) stresses pagination; a small saved fit
and check (``tests/fixtures/make_report_fixture.py``, 300 draws) brings figures and the fit
summary. Each test declares the tools it needs (``needs``); it is skipped, saying which tool
is missing and how to install it, when one is absent.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from emergence import caveats as CV
from emergence.report import load_saved, render_html, report
from system_tools import needs, tool

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REASONS = ["diagnostics_failed", "too_sparse", "no_scale_in_rise", "prior_driven_width",
           "threshold_beyond_range", "above_chance_at_smallest", "comparison_indistinguishable",
           "width_uncertain"]


def synthetic_check(n: int = 70) -> dict:
    """A saved-check document: verdicts, long reason lists, every blocking caveat."""
    records = []
    for i in range(n):
        reasons = [*REASONS[:2 + i % 7], f"zz{i:03d}"]
        if i % 5 == 0:
            reasons = ["flat_at_chance", f"zz{i:03d}"]
        verdict = "undetermined" if {"diagnostics_failed", "too_sparse", "flat_at_chance"} & set(
            reasons) else ("smooth", "emergent", "metric-induced")[i % 3]
        records.append({
            "task": f"task_{i:03d}_with_a_rather_long_name", "metric": "exact_match",
            "family": f"Family-{i % 4}", "shots": "", "setting": "", "verdict": verdict,
            "reasons": reasons, "messages": [f"sentence {j} about curve {i}, long enough to wrap "
                                             "over more than one line of the page" for j in
                                             range(len(reasons))],
            "p_sharp": 0.5 + i / 1000, "p_sharp_avg": 0.2, "width_median": 1.2, "width_lo": 0.4,
            "width_hi": 3.3, "threshold_median": 10.1, "threshold_lo": 9.5, "threshold_hi": 10.6,
            "n_scales": 2 + i % 6, "n_in_transition": i % 3, "metric_kind": "discrete",
            "weights": {"sigmoid": 0.5, "powerlaw": 0.3, "loglinear": 0.2}, "preferred": "x"})
    return {"kind": "check", "config": {"seed": 1}, "notes": ["a note"], "records": records}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("synthetic")
    doc = synthetic_check()
    src = d / "check.json"
    src.write_text(json.dumps(doc))
    import weasyprint

    # the PDF exactly as report() writes it (same HTML, same renderer), keeping the layout tree
    layout = weasyprint.HTML(string=render_html(src)).render()
    layout.write_pdf(str(d / "r.pdf"))
    return {"doc": doc, "html": report(src, d / "r.html"), "pdf": d / "r.pdf", "dir": d,
            "layout": layout}


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory) -> dict:
    fit_nc, check_json = FIXTURES / "report_fit.nc", FIXTURES / "report_check.json"
    d = tmp_path_factory.mktemp("fit")
    return {"records": json.loads(check_json.read_text())["records"],
            "summary": load_saved(fit_nc).value.summary(),
            "html": report([fit_nc, check_json], d / "r.html"),
            "pdf": report([fit_nc, check_json], d / "r.pdf"), "dir": d}


# ---- poppler helpers ------------------------------------------------------------------------
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"(.*?)</word>")


def pdf_words(pdf: Path) -> list[dict]:
    """Pages of a PDF with their word boxes (``pdftotext -bbox``)."""
    exe = tool("pdftotext")
    out = subprocess.run([exe, "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    pages = []
    for m in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S):
        words = [(float(a), float(b), float(c), float(e), t) for a, b, c, e, t in
                 _WORD.findall(m.group(3))]
        pages.append({"width": float(m.group(1)), "height": float(m.group(2)), "words": words})
    return pages


def overlaps(words: list[tuple]) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap by more than 20 % of the smaller box."""
    bad = []
    for i, a in enumerate(words):
        for b in words[i + 1:]:
            w = min(a[2], b[2]) - max(a[0], b[0])
            h = min(a[3], b[3]) - max(a[1], b[1])
            if w > 0 and h > 0:
                small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                if w * h > 0.2 * small:
                    bad.append((a[4], b[4]))
    return bad


# ---- chromium helper ------------------------------------------------------------------------
PROBE = """<script>
window.addEventListener("load", function () {
  var W = document.documentElement.clientWidth, bad = [];
  document.querySelectorAll("body *").forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > W + 1 || r.left < -1)) {
      bad.push(e.tagName + "." + e.className + " " + Math.round(r.left) + ".." + Math.round(r.right));
    }
  });
  var pre = document.createElement("pre");
  pre.id = "overflow-probe";
  pre.textContent = JSON.stringify({width: W, scroll: document.documentElement.scrollWidth, bad: bad});
  document.body.appendChild(pre);
});
</script></body>"""


def chromium_overflow(html: Path, width: int, tmp: Path) -> dict:
    exe = tool("chromium")
    probe = tmp / f"probe_{width}.html"
    probe.write_text(html.read_text().replace("</body>", PROBE))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}", f"--window-size={width},1000",
             "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run([exe, *flags], capture_output=True, text=True, timeout=180).stdout
    m = re.search(r'<pre id="overflow-probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run in chromium"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


# ---- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [800, 1280])
@needs("chromium")
def test_html_no_element_overflows_the_page(synthetic, width, tmp_path):
    res = chromium_overflow(synthetic["html"], width, tmp_path)
    assert res["bad"] == [] and res["scroll"] <= res["width"], res


@pytest.mark.slow
@needs("chromium")
def test_html_of_fit_no_element_overflows(saved_fit, tmp_path):
    res = chromium_overflow(saved_fit["html"], 800, tmp_path)
    assert res["bad"] == [] and res["scroll"] <= res["width"], res


def _words_inside_and_apart(pdf: Path) -> None:
    pages = pdf_words(pdf)
    assert len(pages) >= 2
    for n, p in enumerate(pages, start=1):
        out = [w[4] for w in p["words"] if w[2] > p["width"] - 1 or w[0] < 1]
        assert not out, f"{pdf.name} page {n}: words beyond the page edge: {out[:5]}"
        bad = overlaps(p["words"])
        assert not bad, f"{pdf.name} page {n}: overprinted words {bad[:5]}"


@needs("pdftotext")
def test_pdf_words_inside_page_and_never_overlap(synthetic):
    _words_inside_and_apart(synthetic["pdf"])


@pytest.mark.slow
@needs("pdftotext")
def test_pdf_of_fit_words_inside_page_and_never_overlap(saved_fit):
    _words_inside_and_apart(saved_fit["pdf"])


@needs("pdftotext")
def test_toc_page_numbers_present_and_apart(synthetic):
    page = pdf_words(synthetic["pdf"])[0]
    words = page["words"]
    top = next(w for w in words if w[4] == "Contents")
    entries = {"reasons": "verdicts", "Reasons": "details", "versions": "provenance"}
    for last_word in entries:
        title = next(w for w in words if w[4] == last_word and w[1] > top[1])
        nums = [w for w in words if w[4].isdigit() and abs(w[1] - title[1]) < 2
                and w[0] > title[2]]
        assert nums, f"no page number right of TOC entry ending {last_word!r}"
        assert nums[0][0] - title[2] > 3  # a clear gap, no overprint
        assert int(nums[0][4]) >= 1


@needs("pdftotext")
def test_no_table_row_split_across_pages(synthetic):
    from weasyprint.formatting_structure import boxes

    doc = synthetic["layout"]
    pages_of: dict[int, set[int]] = {}
    for n, page in enumerate(doc.pages):
        for b in page._page_box.descendants():
            if isinstance(b, boxes.TableRowGroupBox) and not b.is_header:  # thead repeats
                for row in b.children:
                    pages_of.setdefault(id(row.element), set()).add(n)
    assert len(doc.pages) >= 4 and len(pages_of) > 70
    split = [p for p in pages_of.values() if len(p) > 1]
    assert not split, f"{len(split)} table rows split across pages"
    # the same seen by poppler: the task cell and the row's last reason on one page
    words = pdf_words(synthetic["pdf"])
    for i in range(70):
        task_pages = [n for n, p in enumerate(words)
                      if any(w[4].startswith(f"task_{i:03d}") for w in p["words"])]
        zz_pages = [n for n, p in enumerate(words) if any(w[4] == f"zz{i:03d}" for w in p["words"])]
        assert task_pages[0] == zz_pages[0], f"row {i} split: pages {task_pages} / {zz_pages}"


def _badge_rows(pdf: Path, keys: list[str]) -> dict[str, str]:
    """Text of the first table row of each key (words between its key and the next key)."""
    rows: dict[str, str] = {}
    for p in pdf_words(pdf):
        ws = sorted(p["words"], key=lambda w: (round(w[1]), w[0]))
        starts = [(w[1], k) for w in ws for k in keys if w[4] == k and k not in rows]
        starts.sort()
        for j, (y, k) in enumerate(starts):
            if k in rows:
                continue
            y_end = starts[j + 1][0] if j + 1 < len(starts) else p["height"]
            rows[k] = " ".join(w[4] for w in ws if y - 1 <= w[1] < y_end - 1)
    return rows


@needs("pdftotext")
def test_every_blocked_curve_carries_its_badge_in_html_and_pdf(synthetic):
    recs = synthetic["doc"]["records"]
    html = synthetic["html"].read_text()
    trs = re.findall(r'<tr class="[^"]*" data-caveats="([^"]*)">(.*?)</tr>', html, re.S)
    assert len(trs) == len(recs)
    need = {"too_sparse": "too sparse", "diagnostics_failed": "diagnostics failed",
            "flat_at_chance": "flat at chance"}
    for rec, (codes, body) in zip(recs, trs, strict=True):
        expected = {c for c in need if c in rec["reasons"]} | (
            {"too_sparse"} if rec["n_scales"] < CV.MIN_SCALES else set())
        assert expected <= set(codes.split()), (rec["task"], codes)
        for c in expected:
            assert f">{need[c]}</span>" in body
        if expected:  # numbers greyed
            assert 'class="num grey"' in body
    rows = _badge_rows(synthetic["pdf"], [f"task_{i:03d}_with_a_rather_long_name"
                                          for i in range(len(recs))])
    for i, rec in enumerate(recs):
        text = rows.get(f"task_{i:03d}_with_a_rather_long_name", "")
        if rec["n_scales"] < CV.MIN_SCALES or "too_sparse" in rec["reasons"]:
            assert "sparse" in text, (i, text)
        if "diagnostics_failed" in rec["reasons"]:
            assert "failed" in text.replace("diagnostics failed", "failed"), (i, text)


@pytest.mark.slow
@needs("pdftotext")
def test_fit_report_badges_match_summary(saved_fit):
    """The too-sparse curve of the saved fit and every curve failing R-hat / ESS carry badges."""
    summ = saved_fit["summary"]
    html = saved_fit["html"].read_text()
    table = html.split('id="summary-table"')[1].split("</table>")[0]
    trs = re.findall(r'<tr data-caveats="([^"]*)">', table)
    assert len(trs) == len(summ)
    sparse = summ["n_scales"] < 4
    failed = (summ["rhat_max"] > 1.01) | (summ["ess_bulk_min"] < 400) | (summ["divergences"] > 0)
    assert sparse.sum() == 1
    for codes, sp, fl in zip(trs, sparse, failed, strict=True):
        assert ("too_sparse" in codes.split()) == sp
        assert ("diagnostics_failed" in codes.split()) == fl
    text = subprocess.run([tool("pdftotext"), str(saved_fit["pdf"]), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert text.count("too sparse") >= 2  # verdict table and fit summary
    assert "What the package concluded" in text.split("\f")[0]
    assert "<script>alert(1)</script>" in text  # user strings shown as text


@pytest.mark.slow
def test_figures_are_vector_and_paginated(saved_fit):
    html = saved_fit["html"].read_text()
    assert "data:image/svg+xml;base64," in html and "data:image/png" not in html
    assert html.count('<figure class="page">') == 1  # 4 curves: one page of panels


@needs("pdftotext")
def test_detectors_catch_overprint_and_split_rows(tmp_path):
    """The checks above can fail: an overprinted TOC and a page-tall row are caught."""
    import weasyprint
    from weasyprint.formatting_structure import boxes

    html = ('<p style="position:absolute;top:0;left:0">Verdicts 12</p>'
            '<p style="position:absolute;top:0;left:8px">Summary 13</p>'
            '<table><tr><td>' + "<br>".join(f"line {i}" for i in range(120)) + "</td></tr></table>")
    pdf = tmp_path / "bad.pdf"
    doc = weasyprint.HTML(string=html).render()
    doc.write_pdf(str(pdf))
    assert overlaps(pdf_words(pdf)[0]["words"])
    pages_of: dict[int, set[int]] = {}
    for n, page in enumerate(doc.pages):
        for b in page._page_box.descendants():
            if isinstance(b, boxes.TableRowBox):
                pages_of.setdefault(id(b.element), set()).add(n)
    assert any(len(p) > 1 for p in pages_of.values())
