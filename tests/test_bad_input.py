"""The bad-input suite: every bad file, value or option fails at load/validation time with exit
status 2 and a one-line message naming the file, the row/line and column where they apply, and
the fix; no Python traceback ever reaches the user. Nothing here samples: each command fails
before any model is compiled.

A second set loads inputs that are *accepted*, and checks that whatever was changed or dropped
is said (``table.notes``, ``table.dropped``): no silent drop, no silent change.

Counts (printed by ``pytest -s tests/test_bad_input.py -k counts``) are in README's Reliability
section.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence.cli import main
from emergence.config import make_config
from emergence.data import load_scores
from emergence.design import Truth, parse_grid, study_fingerprint

TRACEBACK = "Traceback (most recent call last)"
#: Words of a fix: every message must say what to do.
FIX = re.compile(r"\b(fix|give|use|pass|save|re-save|rename|remove|choose|fill|divide|write|add|"
                 r"quote|select|check|delete|export|rerun|leave|set|keep|try|must be|valid (?:models|"
                 r"options|values|choices) are|available values)\b|\be\.g\.", re.IGNORECASE)

HEADER = "task,model,family,params,score,n_items,chance,metric"
ROWS = [f"arith,m{i},fam,{p:g},{s},100,0,acc" for i, (p, s) in
        enumerate([(1e8, 0.1), (1e9, 0.3), (1e10, 0.5), (1e11, 0.7)])]


def csv_text(header: str = HEADER, rows: list[str] | None = None) -> str:
    return "\n".join([header, *(ROWS if rows is None else rows)]) + "\n"


def with_cell(col: str, value: str, row: int = 2) -> str:
    """The base CSV with one cell replaced (a new column is added when needed)."""
    cols = HEADER.split(",")
    rows = [r.split(",") for r in ROWS]
    if col not in cols:
        cols.append(col)
        for r in rows:
            r.append("")
    j = cols.index(col)
    rows[row][j] = value
    return csv_text(",".join(cols), [",".join(r) for r in rows])


@dataclass
class Case:
    """One bad input: ``build(tmp)`` writes it and returns the command line; ``expect`` are
    substrings the message must contain (file, row/line, column, ...)."""

    id: str
    kind: str  # csv | parquet | lm-eval | option | output
    build: Callable[[Path], list[str]]
    expect: tuple[str, ...]


def fit_csv(text: str | bytes, *extra: str, name: str = "bad.csv") -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        p = tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["fit", str(p), *extra]
    return build


def good_csv(tmp: Path) -> Path:
    p = tmp / "good.csv"
    p.write_text(csv_text())
    return p


def cmd_on_good(*args: str) -> Callable[[Path], list[str]]:
    """``args`` with ``GOOD`` replaced by a valid CSV and ``TMP`` by the case's folder."""
    def build(tmp: Path) -> list[str]:
        good = str(good_csv(tmp))
        return [a.replace("GOOD", good).replace("TMP", str(tmp)) for a in args]
    return build


def cell(col: str, value: str, *expect: str, row: int = 2, extra: tuple[str, ...] = ()) -> Case:
    return Case(f"csv-{col}={value!r}-row{row}", "csv", fit_csv(with_cell(col, value, row), *extra),
                ("bad.csv", f"line {row + 2}", f"'{col}'", *expect))


def parquet_case(id_: str, frame_or_bytes: pd.DataFrame | bytes, *expect: str) -> Case:
    def build(tmp: Path) -> list[str]:
        p = tmp / "bad.parquet"
        if isinstance(frame_or_bytes, bytes):
            p.write_bytes(frame_or_bytes)
        else:
            frame_or_bytes.to_parquet(p)
        return ["fit", str(p)]
    return Case(f"parquet-{id_}", "parquet", build, ("bad.parquet", *expect))


def lm_doc(results: dict, model: str = "pythia-160m") -> dict:
    return {"results": results, "config": {"model_args": f"pretrained=EleutherAI/{model}",
                                           "num_fewshot": 0}}


def lm_case(id_: str, content: object, *expect: str, name: str = "results.json",
            extra: tuple[str, ...] = (), raw: bool = False) -> Case:
    def build(tmp: Path) -> list[str]:
        d = tmp / "lm"
        d.mkdir()
        p = d / name
        if raw:
            p.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        else:
            p.write_text(json.dumps(content))
        resolved = [e.replace("TMP", str(tmp)) for e in extra]
        return ["check", str(d), *resolved]
    return Case(f"lmeval-{id_}", "lm-eval", build, expect)


def _base_frame() -> pd.DataFrame:
    return pd.read_csv(pd.io.common.StringIO(csv_text()))


def _frame_with(col: str, value: object) -> pd.DataFrame:
    f = _base_frame()
    f[col] = f[col].astype(object) if col in f.columns else np.nan
    f.loc[2, col] = value
    return f


def _truncated_parquet() -> bytes:
    import io

    buf = io.BytesIO()
    _base_frame().to_parquet(buf)
    data = buf.getvalue()
    return data[: len(data) // 2]


def _sizes_case(id_: str, sizes_text: str | bytes, *expect: str) -> Case:
    def build(tmp: Path) -> list[str]:
        d = tmp / "lm"
        d.mkdir()
        for i, acc in enumerate((0.3, 0.5, 0.7)):
            (d / f"r{i}.json").write_text(json.dumps(lm_doc({"piqa": {"acc": acc}},
                                                            model=f"acme-x{i}")))
        s = tmp / "sizes.csv"
        s.write_bytes(sizes_text if isinstance(sizes_text, bytes) else sizes_text.encode())
        return ["fit", str(d), "--sizes", str(s)]
    return Case(f"sizes-{id_}", "lm-eval", build, ("sizes.csv", *expect))


def _study_case(id_: str, prepare: Callable[[Path], None], *expect: str) -> Case:
    def build(tmp: Path) -> list[str]:
        d = tmp / "study"
        (d / "replicates").mkdir(parents=True)
        prepare(d)
        return ["design", "--truth", "smooth:3", "--grid", "1e8..1e12:5", "--replicates", "2",
                "--study-dir", str(d), "--no-progress"]
    return Case(f"design-{id_}", "option", build, ("study", *expect))


def _other_study(d: Path) -> None:
    cfg = make_config({"draws": 1000, "tune": 500, "likelihood": "binomial", "seed": 0})
    fp = study_fingerprint(Truth.sharp(0.5), [parse_grid("1e8..1e12:5")], 0, cfg)
    (d / "study.json").write_text(json.dumps(fp))
    (d / "replicates" / "g0_r0.json").write_text("{}")


CASES: list[Case] = [
    # ---- files that cannot be read as a table -------------------------------------------------
    Case("csv-empty-file", "csv", fit_csv(""), ("bad.csv", "empty", "header")),
    Case("csv-header-only", "csv", fit_csv(HEADER + "\n"), ("bad.csv", "no data rows")),
    Case("csv-no-score-column", "csv", fit_csv(csv_text(HEADER.replace("score", "acc_value"))),
         ("bad.csv", "'score'", "Rename")),
    Case("csv-no-params-column", "csv", fit_csv(csv_text(HEADER.replace("params", "size"))),
         ("bad.csv", "'params'")),
    Case("csv-semicolon", "csv", fit_csv(csv_text().replace(",", ";")),
         ("bad.csv", "semicolon", "comma")),
    Case("csv-tab-in-csv", "csv", fit_csv(csv_text().replace(",", "\t")), ("bad.csv", "tab")),
    Case("csv-latin1", "csv", fit_csv(csv_text(rows=[*ROWS[:3], "arith,mod\xe8le,fam,1e11,0.7,"
                                                  "100,0,acc"]).encode("latin-1")),
         ("bad.csv", "UTF-8", "line 5")),
    Case("csv-ragged-row", "csv", fit_csv(csv_text(rows=[*ROWS[:2], ROWS[2] + ",extra",
                                                         ROWS[3]])),
         ("bad.csv", "line 4", "fields", "quoted")),
    Case("csv-binary", "csv", fit_csv(bytes(range(256)) * 4), ("bad.csv", "binary")),
    Case("csv-xlsx-renamed", "csv", fit_csv(b"PK\x03\x04" + b"\x00" * 100), ("bad.csv", "Excel")),
    Case("csv-parquet-renamed", "csv", fit_csv(b"PAR1" + b"\x01" * 100), ("bad.csv", "parquet")),
    Case("csv-repeated-column", "csv", fit_csv(csv_text(HEADER + ",score", [r + ",0.2" for r in
                                                                           ROWS])),
         ("bad.csv", "line 1", "'score'", "more than once")),
    Case("csv-unknown-extension", "csv", fit_csv(csv_text(), name="bad.xlsx"),
         ("bad.xlsx", ".csv")),
    Case("csv-missing-file", "csv", lambda tmp: ["fit", str(tmp / "nope.csv")],
         ("nope.csv", "does not exist")),
    Case("csv-folder-of-csvs", "csv",
         lambda tmp: (good_csv(tmp), ["fit", str(tmp)])[1], ("good.csv", "folder", "not its folder")),
    Case("csv-empty-folder", "csv", lambda tmp: ["fit", str(tmp)], ("folder", "results")),
    # ---- numbers: non-finite, text, out of range, fractional --------------------------------
    cell("params", "inf", "infinite"),
    cell("params", "1e400", "infinite"),
    cell("params", "-inf", "infinite"),
    cell("params", "0", "positive"),
    cell("params", "-5e9", "positive"),
    cell("params", "", "positive"),
    cell("params", "7B", "numeric"),
    Case("csv-decimal-comma", "csv", fit_csv(with_cell("params", "1,3e9")),  # ragged row
         ("bad.csv", "line 4", "fields")),
    cell("score", "inf", "infinite"),
    cell("score", "", "empty"),
    cell("score", "high", "numeric", "text"),
    cell("score", "-0.2", "negative"),
    cell("score", "1.5", "typo"),
    cell("score", "nan", "empty"),
    cell("n_items", "inf", "infinite"),
    cell("n_items", "0", ">= 1"),
    cell("n_items", "10.5", "whole number"),
    cell("n_items", "-5", "whole number"),
    cell("n_items", "many", "numeric"),
    cell("shots", "inf", "infinite"),
    cell("shots", "1.5", "whole number"),
    cell("shots", "-1", "whole number"),
    cell("k", "30.5", "whole number"),
    cell("k", "150", "exceeds"),
    cell("k", "-3", "whole number"),
    cell("k", "10", "disagree"),
    cell("k", "inf", "infinite"),
    cell("chance", "1", "[0, 1)"),
    cell("chance", "-0.1", "[0, 1)"),
    cell("chance", "inf", "infinite"),
    cell("chance", "quarter", "numeric"),
    cell("ceiling", "0", "(0, 1]"),
    cell("ceiling", "1.5", "(0, 1]"),
    cell("ceiling", "0", "(0, 1]", row=0),
    cell("seed", "1.5", "whole number"),
    cell("step", "last", "numeric"),
    cell("stderr", "n/a?", "numeric"),
    cell("tokens", "1e999", "infinite"),
    cell("higher_is_better", "maybe", "True or False"),
    cell("metric_kind", "fuzzy", "discrete"),
    cell("score_scale", "unbounded", "perplexity"),
    Case("csv-k-without-n", "csv", fit_csv(with_cell("k", "30").replace(",100,", ",,")),
         ("bad.csv", "line 4", "'k'", "n_items")),
    Case("csv-chance-above-ceiling", "csv",
         fit_csv(with_cell("ceiling", "0.2", 1).replace(",0,acc", ",0.25,acc")),
         ("bad.csv", "line 3", "'chance'", "ceiling")),
    Case("csv-perplexity-below-1", "csv",
         fit_csv(csv_text(rows=[r.replace(",acc", ",perplexity") for r in ROWS])),
         ("bad.csv", "line 2", "perplexity", ">= 1")),
    Case("csv-percent-task", "csv",
         fit_csv(csv_text(rows=[r.replace(",0.", ",").replace(",100,0", ",100,0") for r in ROWS])
                 .replace(",1,100", ",10,100").replace(",3,100", ",30,100")
                 .replace(",5,100", ",50,100").replace(",7,100", ",70,100")),
         ("bad.csv", "0-100", "Divide")),
    # ---- names ----------------------------------------------------------------------------------
    cell("task", "", "empty"),
    cell("model", "   ", "empty"),
    cell("family", "", "empty", "fill"),
    cell("metric", "", "empty", "fill"),
    Case("csv-conflicting-duplicate", "csv",
         fit_csv(csv_text(rows=[*ROWS, ROWS[1].replace(",0.3,", ",0.35,")])),
         ("bad.csv", "line 3", "line 6", "duplicate", "seed")),
    Case("csv-selection-matches-nothing", "csv", fit_csv(csv_text(), "--task", "nothing*"),
         ("bad.csv", "task", "matches no row", "'arith'")),
    Case("csv-metric-selection-nothing", "csv", fit_csv(csv_text(), "--metric", "bleu"),
         ("bad.csv", "metric", "matches no row")),
    Case("csv-bad-scale-option", "option", fit_csv(csv_text(), "--scale", "tokens"),
         ("scale", "params", "flops")),
    Case("csv-flops-missing", "csv", fit_csv(csv_text(), "--scale", "flops"),
         ("bad.csv", "'flops'")),
    # ---- parquet --------------------------------------------------------------------------------
    parquet_case("garbage", b"PAR1 this is not parquet at all", "parquet", "Export"),
    parquet_case("truncated", _truncated_parquet(), "parquet"),
    parquet_case("no-score", _base_frame().drop(columns="score"), "'score'"),
    parquet_case("inf-params", _frame_with("params", np.inf), "row 2", "'params'", "infinite"),
    parquet_case("text-params", _base_frame().astype({"params": str}).assign(
        params=["1e8", "1e9", "big", "1e11"]), "row 2", "'params'", "numeric"),
    parquet_case("empty", _base_frame().iloc[:0], "no data rows"),
    parquet_case("nan-score", _frame_with("score", np.nan), "row 2", "'score'", "empty"),
    parquet_case("fractional-shots", _frame_with("shots", 0.5), "row 2", "'shots'", "whole"),
    # ---- lm-evaluation-harness results ----------------------------------------------------------
    lm_case("json-list", [1, 2, 3], "results.json", "JSON list", "results"),
    lm_case("latin1", b'{"results": {"piqa": {"acc": 0.5}}, "note": "mod\xe8le"}',
            "results.json", "UTF-8", "line 1", raw=True),
    lm_case("truncated", b'{"results": {"piqa": {"acc": 0.5', "results.json", "not valid JSON",
            "line 1", raw=True),
    lm_case("no-results-key", {"scores": {}}, "results.json", "'results'"),
    lm_case("empty-results", {"results": {}}, "results.json", "no scores"),
    lm_case("all-text-metrics", lm_doc({"piqa": {"acc": "N/A"}}), "results.json", "'N/A'"),
    lm_case("percent-score", lm_doc({"piqa": {"acc": 85.1, "acc_stderr": 0.8}}),
            "results.json", "row 0", "0-100", "Divide"),
    lm_case("unknown-model-size", lm_doc({"piqa": {"acc": 0.6}}, model="mystery"),
            "mystery", "--sizes"),
    lm_case("nan-metric", b'{"results": {"piqa": {"acc": NaN}}, "config": {"model_args": '
            b'"pretrained=EleutherAI/pythia-160m"}}', "results.json", "not finite", raw=True),
    Case("lmeval-missing-path", "lm-eval", lambda tmp: ["check", str(tmp / "gone.json")],
         ("gone.json", "does not exist")),
    _sizes_case("text-size", "model,params\nacme-x0,seven\nacme-x1,1e9\nacme-x2,1e10\n",
                "line 2", "'params'", "'seven'", "7B"),
    _sizes_case("no-params-column", "model,size\nacme-x0,7B\n", "'params'"),
    _sizes_case("latin1", "model,params\nacme-x\xe9,7B\n".encode("latin-1"), "UTF-8"),
    _sizes_case("negative", "model,params\nacme-x0,-7B\nacme-x1,1e9\n", "line 2", "positive"),
    # ---- options and configuration --------------------------------------------------------------
    Case("option-malformed-toml", "option",
         lambda tmp: ((tmp / "c.toml").write_text("draws = = 3\n"),
                      ["fit", str(good_csv(tmp)), "--config", str(tmp / "c.toml")])[1],
         ("c.toml", "TOML", "line 1")),
    Case("option-toml-unknown-key", "option",
         lambda tmp: ((tmp / "c.toml").write_text("drawz = 3\n"),
                      ["fit", str(good_csv(tmp)), "--config", str(tmp / "c.toml")])[1],
         ("c.toml", "drawz")),
    Case("option-toml-missing", "option", cmd_on_good("fit", "GOOD", "--config", "TMP/none.toml"),
         ("none.toml",)),
    Case("option-draws-zero", "option", cmd_on_good("fit", "GOOD", "--draws", "0"), ("draws",)),
    Case("option-draws-text", "option", cmd_on_good("fit", "GOOD", "--draws", "many"),
         ("--draws", "integer")),
    Case("option-sampler", "option", cmd_on_good("fit", "GOOD", "--sampler", "stan"),
         ("sampler", "stan")),
    Case("option-model", "option", cmd_on_good("fit", "GOOD", "--model", "cubic"),
         ("model", "cubic")),
    Case("option-check-models-foo", "option",
         cmd_on_good("check", "GOOD", "--models", "sigmoid,foo", "--cv", "none"),
         ("'foo'", "valid models")),
    Case("option-check-models-order", "option",
         cmd_on_good("check", "GOOD", "--models", "powerlaw,sigmoid"), ("--models", "first")),
    Case("option-compare-models-foo", "option",
         cmd_on_good("compare", "GOOD", "--models", "sigmoid,foo"), ("'foo'", "valid models")),
    Case("option-compare-cv", "option", cmd_on_good("compare", "GOOD", "--cv", "kfold"),
         ("cv", "kfold", "loso")),
    Case("option-design-truth-zero", "option",
         lambda tmp: ["design", "--truth", "sharp:0", "--no-progress"], ("sharp:0", "width")),
    Case("option-design-truth-kind", "option",
         lambda tmp: ["design", "--truth", "steep:1", "--no-progress"], ("steep:1", "sharp:WIDTH")),
    Case("option-design-n-items", "option",
         lambda tmp: ["design", "--truth", "sharp:0.5", "--n-items", "-5", "--no-progress"],
         ("n_items", "-5")),
    Case("option-design-grid", "option",
         lambda tmp: ["design", "--truth", "sharp:0.5", "--grid", "lots", "--no-progress"],
         ("lots", "FROM..TO:COUNT")),
    Case("option-design-replicates", "option",
         lambda tmp: ["design", "--truth", "sharp:0.5", "--replicates", "0", "--no-progress"],
         ("replicates",)),
    _study_case("other-study", _other_study, "another study", "truth", "new folder"),
    _study_case("corrupt-study-file", lambda d: (d / "study.json").write_text("{trunc"),
                "unreadable", "new --study-dir"),
    _study_case("old-folder", lambda d: (d / "replicates" / "g0_r0.json").write_text("{}"),
                "study.json", "new --study-dir"),
    # ---- output paths: checked before any work ----------------------------------------------------
    Case("output-summary-is-folder", "output",
         cmd_on_good("fit", "GOOD", "--summary", "TMP", "--out", "TMP/f.nc"),
         ("--summary", "folder")),
    Case("output-out-extension", "output", cmd_on_good("fit", "GOOD", "--out", "TMP/fit.txt"),
         ("--out", "fit.txt", ".nc")),
    Case("output-report-extension", "output",
         cmd_on_good("fit", "GOOD", "--report", "TMP/r.docx"), ("--report", "r.docx", ".html")),
    Case("output-plot-extension", "output", cmd_on_good("fit", "GOOD", "--plot", "TMP/p.xyz"),
         ("--plot", "p.xyz", ".png")),
    Case("output-parent-is-file", "output",
         cmd_on_good("fit", "GOOD", "--out", "GOOD/sub/fit.nc"), ("--out", "good.csv", "folder")),
    Case("output-same-path-twice", "output",
         cmd_on_good("fit", "GOOD", "--plot", "TMP/c.pdf", "--report", "TMP/c.pdf"),
         ("--report", "c.pdf", "its own file")),
    Case("output-check-json-folder", "output", cmd_on_good("check", "GOOD", "--json", "TMP"),
         ("--json", "folder")),
    Case("output-design-plot-extension", "output",
         lambda tmp: ["design", "--truth", "sharp:0.5", "--plot", str(tmp / "d.txt")],
         ("--plot", "d.txt")),
    Case("output-sbc-report-extension", "output",
         lambda tmp: ["sbc", "--report", str(tmp / "s.txt")], ("--report", "s.txt")),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_cleanly(case: Case, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = case.build(tmp_path)
    code, text = run_cli(argv, capsys)
    assert TRACEBACK not in text, text
    assert code == 2, f"exit {code}: {text}"
    flat = " ".join(text.split())
    for want in case.expect:
        assert want.lower() in flat.lower(), f"{want!r} not in: {flat}"
    assert FIX.search(flat), f"no fix in: {flat}"
    assert "sampling" not in flat.lower() or "before" in flat.lower()


# ---- accepted inputs: every change and drop is reported -------------------------------------------
def _load(text: str, tmp: Path, **kw: object) -> object:
    p = tmp / "ok.csv"
    p.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_scores(p, **kw)


def _lm(tmp: Path, results: dict) -> object:
    from emergence.readers import read_lm_eval

    d = tmp / "lm"
    d.mkdir()
    for i, m in enumerate(("pythia-160m", "pythia-410m", "pythia-1b")):
        (d / f"r{i}.json").write_text(json.dumps(lm_doc(results, model=m)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_lm_eval(d)


REPORTED: list[tuple[str, Callable[[Path], object], Callable[[object], bool]]] = [
    ("trailing-space-family", lambda t: _load(csv_text(rows=[ROWS[0].replace(",fam,", ",fam ,"),
                                                             *ROWS[1:]]), t),
     lambda tb: tb.data["family"].nunique() == 1 and any("spaces" in n for n in tb.notes)),
    ("spaces-around-task", lambda t: _load(csv_text(rows=[" " + r for r in ROWS]), t),
     lambda tb: set(tb.data["task"]) == {"arith"} and any("task" in n for n in tb.notes)),
    ("family-column-all-empty", lambda t: _load(csv_text(rows=[r.replace(",fam,", ",,")
                                                                for r in ROWS]), t),
     lambda tb: set(tb.data["family"]) == {"default"} and any("family" in n for n in tb.notes)),
    ("exact-duplicate-listed", lambda t: _load(csv_text(rows=[*ROWS, ROWS[1]]), t),
     lambda tb: len(tb) == 4 and len(tb.dropped) == 1 and "duplicate" in tb.dropped["reason"][0]),
    ("second-family-same-names-kept", lambda t: _load(csv_text(rows=[
        *ROWS, *[r.replace(",fam,", ",fam2,") for r in ROWS]]), t),
     lambda tb: len(tb) == 8 and len(tb.dropped) == 0),
    ("same-name-other-params-kept", lambda t: _load(csv_text(rows=[
        *ROWS, ROWS[0].replace(",1e+08,", ",2e+08,")]), t),
     lambda tb: len(tb) == 5 and len(tb.dropped) == 0),
    ("intermediate-checkpoint-listed", lambda t: _load(csv_text(
        HEADER + ",step", [r + ",100" for r in ROWS] + [ROWS[0].replace(",0.1,", ",0.05,")
                                                        + ",50"]), t),
     lambda tb: len(tb) == 4 and "checkpoint" in tb.dropped["reason"][0]),
    ("task-only-at-earlier-step-kept", lambda t: _load(csv_text(
        HEADER + ",step", [r + ",100" for r in ROWS] + [r.replace("arith", "early") + ",50"
                                                        for r in ROWS]), t),
     lambda tb: len(tb) == 8 and len(tb.dropped) == 0),
    ("string-metric-parsed", lambda t: _lm(t, {"piqa": {"acc": "0.851"}}),
     lambda tb: np.allclose(tb.data["score"], 0.851) and len(tb.dropped) == 0),
    ("text-metric-listed-in-dropped", lambda t: _lm(t, {"piqa": {"acc": 0.6, "acc_norm": "N/A"}}),
     lambda tb: len(tb) == 3 and len(tb.dropped) == 3
     and all("'N/A'" in r for r in tb.dropped["reason"])),
    ("repeated-index-dataframe", lambda t: load_scores(pd.concat([_base_frame(), _base_frame()
                                                                  .assign(task="other")])),
     lambda tb: len(tb) == 8),
]


@pytest.mark.parametrize("build,ok", [(b, o) for _, b, o in REPORTED],
                         ids=[i for i, _, _ in REPORTED])
def test_accepted_input_reports_every_change(build, ok, tmp_path: Path) -> None:
    table = build(tmp_path)
    assert ok(table), (table.data, table.dropped, table.notes)


def test_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """The suite's size by kind (the numbers in README's Reliability section)."""
    kinds = pd.Series([c.kind for c in CASES]).value_counts().to_dict()
    assert len(CASES) >= 75 and len({c.id for c in CASES}) == len(CASES)
    with capsys.disabled():
        print(f"\nbad-input cases: {len(CASES)} {kinds}; accepted-and-reported cases: "
              f"{len(REPORTED)}")


# ---- the CLI boundary: unexpected errors, --debug, interrupts (defect 2) -----------------------
def _raise(exc: BaseException) -> Callable[..., object]:
    def f(*args: object, **kwargs: object) -> object:
        raise exc
    return f


def test_unexpected_error_is_one_line_with_debug_pointer(tmp_path, capsys, monkeypatch):
    import emergence.cli._app as cli_app

    monkeypatch.setattr(cli_app, "load_input", _raise(RuntimeError("boom\nsecond line")))
    monkeypatch.delenv("EMERGENCE_DEBUG", raising=False)
    code, text = run_cli(["fit", str(good_csv(tmp_path))], capsys)
    assert code == 3 and TRACEBACK not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and "RuntimeError: boom second line" in lines[0]
    assert "--debug" in lines[0]
    # --debug shows the traceback (anywhere on the command line)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            main(["fit", str(good_csv(tmp_path)), "--debug"])
    finally:
        os.environ.pop("EMERGENCE_DEBUG", None)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), None], ids=["ctrl-c", "interrupted"])
def test_interrupt_exits_130_and_saves_nothing(exc, tmp_path, capsys, monkeypatch):
    """Defect 2 at the CLI: Ctrl-C (or a run that returned fewer draws than asked) stops the
    command with status 130, says nothing was saved, and writes no output file."""
    import emergence.results as results
    from emergence.errors import Interrupted

    exc = exc or Interrupted("sampling stopped after 10 of 4,000 draws; nothing was saved")
    monkeypatch.setattr(results, "fit", _raise(exc))
    out = tmp_path / "fit.nc"
    code, text = run_cli(["fit", str(good_csv(tmp_path)), "--out", str(out), "--summary",
                          str(tmp_path / "s.csv")], capsys)
    assert code == 130, text
    assert "interrupted" in text and "nothing was saved" in text and TRACEBACK not in text
    assert not out.exists() and not (tmp_path / "s.csv").exists()


def test_require_complete_rejects_partial_posterior():
    """Defect 2 in inference: nutpie returns the draws made so far on Ctrl-C, shorter chains
    padded with NaN; ``require_complete`` turns that into Interrupted, never a result."""
    import arviz as az

    from emergence.errors import Interrupted
    from emergence.inference import require_complete

    full = np.random.default_rng(0).normal(size=(2, 50, 3))
    require_complete(az.from_dict({"posterior": {"x0": full}}), draws=50, chains=2)
    partial = full.copy()
    partial[1, 20:] = np.nan  # chain 2 stopped after 20 draws
    with pytest.raises(Interrupted, match="70 of 100 draws"):
        require_complete(az.from_dict({"posterior": {"x0": partial}}), draws=50, chains=2)
    with pytest.raises(Interrupted, match="50 of 100"):  # stopped during tuning of chain 2
        require_complete(az.from_dict({"posterior": {"x0": full[:1]}}), draws=50, chains=2)
    with pytest.raises(Interrupted):  # a shorter draw axis (every chain stopped early)
        require_complete(az.from_dict({"posterior": {"x0": full[:, :10]}}), draws=50, chains=2)
    assert issubclass(Interrupted, KeyboardInterrupt)  # `except Exception` never swallows it


# ---- defect 3: non-finite numbers are rejected with row and column ------------------------------
@pytest.mark.parametrize("col,value", [("params", np.inf), ("params", -np.inf),
                                       ("n_items", np.inf), ("shots", np.inf), ("k", np.inf),
                                       ("flops", np.inf), ("chance", np.inf), ("score", np.inf)])
def test_non_finite_values_rejected_with_row_and_column(col, value):
    from emergence.errors import EmergenceDataError

    f = _base_frame()
    f[col] = f.get(col, 30.0 if col in ("k",) else 1.0)
    f[col] = f[col].astype(float)
    f.loc[1, col] = value
    with pytest.raises(EmergenceDataError, match=rf"column '{col}' must hold finite.*row 1"):
        load_scores(f)


def test_huge_number_in_csv_rejected(tmp_path):
    from emergence.errors import EmergenceDataError

    p = tmp_path / "big.csv"
    p.write_text(with_cell("params", "1e400", 3))
    with pytest.raises(EmergenceDataError, match=r"'params'.*row 3 \(line 5 of big\.csv\)"):
        load_scores(p)


# ---- defect 7: duplicates on the whole key, checkpoints per (family, model, task) ---------------
def test_second_family_with_same_model_names_is_not_a_duplicate():
    base = _base_frame()
    other = base.assign(family="fam2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DroppedRowsWarning
        t = load_scores(pd.concat([base, other]))
    assert len(t) == 8 and len(t.dropped) == 0
    assert sorted(t.series()["family"]) == ["fam", "fam2"]


def test_same_model_name_other_params_is_not_a_duplicate():
    base = _base_frame()
    t = load_scores(pd.concat([base, base.iloc[[0]].assign(params=2e8, score=0.1)]))
    assert len(t) == 5 and len(t.dropped) == 0


def test_exact_duplicates_on_the_whole_key_are_listed():
    base = _base_frame()
    with pytest.warns(Warning, match="exact duplicate"):
        t = load_scores(pd.concat([base, base.iloc[[1, 2]]]))
    assert len(t) == 4 and len(t.dropped) == 2
    assert set(t.dropped["row"]) == {4, 5}


def test_checkpoints_selected_per_family_model_task():
    """A task evaluated only at an earlier step keeps its rows; within a task only the last
    checkpoint of each (family, model) is kept, the others are listed."""
    base = _base_frame()
    late = base.assign(step=1000)
    early_only = base.assign(task="early_task", step=500)
    older = base.assign(step=200, score=base["score"] / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = load_scores(pd.concat([late, early_only, older]))
    assert len(t) == 8
    assert set(t.data.loc[t.data["task"] == "early_task", "step"]) == {500}
    assert set(t.data.loc[t.data["task"] == "arith", "step"]) == {1000}
    assert len(t.dropped) == 4 and t.dropped["reason"].str.contains("checkpoint").all()


# ---- defect 9: output paths checked before any sampling -----------------------------------------
def test_bad_output_path_fails_before_loading_or_sampling(tmp_path, capsys, monkeypatch):
    """`--summary` pointing at a folder used to crash after the fit, losing --out and --report;
    now the command stops before the data are even loaded."""
    import emergence.cli._app as cli_app
    import emergence.results as results

    calls = []
    monkeypatch.setattr(results, "fit", lambda *a, **k: calls.append("fit"))
    monkeypatch.setattr(cli_app, "load_input", lambda *a, **k: calls.append("load"))
    code, text = run_cli(["fit", str(good_csv(tmp_path)), "--summary", str(tmp_path),
                          "--out", str(tmp_path / "f.nc")], capsys)
    assert code == 2 and "--summary" in text and "is a folder" in text
    assert calls == []


def test_check_output_paths_accepts_good_paths(tmp_path):
    from emergence._io import CSV, NETCDF, REPORT, check_output_paths

    check_output_paths(("--out", tmp_path / "new" / "deeper" / "f.nc", NETCDF),
                       ("--summary", tmp_path / "s.CSV", CSV), ("--report", None, REPORT))


# ---- saved-file hygiene ---------------------------------------------------------------------------
def test_atomic_write_cleans_its_temp_file_on_failure(tmp_path):
    from emergence._io import atomic_write

    target = tmp_path / "fit.nc"
    target.write_text("old")

    def crash(p: Path) -> None:
        p.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_temp_file_of_a_killed_writer_is_cleaned_next_time(tmp_path):
    import subprocess
    import sys

    from emergence._io import atomic_write_text

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = tmp_path / f".fit.nc.pid{dead}.abc123.tmp"  # what a SIGKILL mid-save leaves
    left.write_text("partial")
    alive = tmp_path / f".fit.nc.pid{os.getpid()}.zzz.tmp"  # a live writer's file is kept
    alive.write_text("in progress")
    atomic_write_text(tmp_path / "fit.nc", "new")
    assert not left.exists() and alive.exists()
    assert (tmp_path / "fit.nc").read_text() == "new"


def test_csv_output_neutralises_formulas(tmp_path):
    from emergence._io import write_csv

    df = pd.DataFrame({"task": ['=HYPERLINK("http://x","click")', "+1", "-a", "@SUM(A1)",
                                "plain", "\tTAB"], "p_sharp": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5]})
    p = write_csv(df, tmp_path / "s.csv")
    back = pd.read_csv(p)
    assert back["task"].tolist() == ["'=HYPERLINK(\"http://x\",\"click\")", "'+1", "'-a",
                                     "'@SUM(A1)", "plain", "'\tTAB"]
    assert back["p_sharp"].tolist() == df["p_sharp"].tolist()  # numbers untouched


def test_dollar_signs_in_names_do_not_break_figures():
    """`$...$` in a task name crashed --plot and --report through matplotlib's mathtext."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emergence.plots import _label

    name = "cost_$x_{ (usd) $5"
    fig, ax = plt.subplots()
    ax.set_title(name)
    with pytest.raises(ValueError):  # what the unescaped name does
        fig.savefig(io.BytesIO(), format="png")
    ax.set_title(_label(name))
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def test_large_table_warns_with_advice(monkeypatch):
    import emergence.data as data
    from emergence.errors import LargeTableWarning

    monkeypatch.setattr(data, "LARGE_TABLE_ROWS", 3)
    with pytest.warns(LargeTableWarning, match="4 rows in 1 curves.*Select"):
        load_scores(_base_frame())
