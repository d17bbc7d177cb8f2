"""Speed at the scale users work (issue 14): one run, every ratio measured in it.

1. ``emergence check data/lm-eval-raw/opt`` (the 130-curve OPT lm-eval folder, default
   leave-one-scale-out comparison included) and one ``emergence fit`` of the same folder, each
   as a fresh CLI process (wall time includes start-up and any compilation); the ratio
   check / fit (goals: check <= 60 s, <= 2x fit).
2. ``em.fit`` of T = 100 and T = 1000 synthetic sigmoid curves (``benchmarks/synthetic.py``:
   8 scales over 4 decades, 1000 items, chance 0.25, logit-normal model noise sd 0.35), each
   in a fresh process: fit time, ratio (goal <= 10x), peak RSS of the process (goal <= 4 GB).
3. First-run compile cost: the T = 100 fit in a fresh process with an empty
   ``EMERGENCE_JAX_CACHE`` directory, then again in a second fresh process with that cache.
4. ``cold``: ``emergence check`` of the OPT folder three times, each a fresh CLI process, on
   one new empty ``EMERGENCE_JAX_CACHE``: what a user sees on a fresh machine (the first
   process traces and compiles every program; the second should find them all).
5. ``readme``: on a new empty cache, ``emergence demo`` (the README's first command, a
   ``check`` of the bundled ObsScaling table), then ``emergence check`` of the OPT folder:
   what a user who set up as the README says sees on the first check of their own data (the
   demo compiled the programs both tables share; the OPT folder adds only its own).

Every job runs under ``nice`` one at a time; the load average is printed with each timing.

    python benchmarks/check_speed.py [--parts cli,scaling,compile,cold,readme] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
OPT = ROOT / "data" / "lm-eval-raw" / "opt"

#: Child script for one synthetic fit: prints a JSON line with the fit time and peak RSS.
FIT_CHILD = r"""
import json, resource, sys, time, warnings
t0 = time.perf_counter()
import emergence as em
from synthetic import synthetic_table
T = int(sys.argv[1])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    table = synthetic_table(T)
    t1 = time.perf_counter()
    f = em.fit(table, seed=1)
t2 = time.perf_counter()
print("RESULT " + json.dumps({
    "T": T, "rows": len(table.data), "import_build_s": t1 - t0, "fit_s": t2 - t1,
    "process_s": t2 - t0, "compile_s": f.timing.compile, "sample_s": f.timing.sample,
    "failed_curves": len(f.failed),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``nice cmd``; wall seconds, load average before/after, exit code, output tail."""
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(["nice", *cmd], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    res = {"wall_s": round(wall, 1), "load_start": round(load0, 2),
           "load_end": round(os.getloadavg()[0], 2), "returncode": out.returncode}
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line:
        res.update(json.loads(line[7:]))
    if out.returncode:
        res["stderr_tail"] = out.stderr[-1500:]
    return res


def cli(args: list[str], env: dict[str, str] | None = None) -> dict:
    """``python -m emergence <args>`` with this source tree first on the path."""
    path = str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    return timed([sys.executable, "-m", "emergence", *args], {"PYTHONPATH": path, **(env or {})})


def part_cli(tmp: Path) -> dict:
    """check vs fit of the OPT lm-eval folder, each a fresh CLI process."""
    fit = cli(["fit", str(OPT), "--seed", "1", "--summary", str(tmp / "fit.csv")])
    print(f"fit   OPT folder: {fit['wall_s']:7.1f} s (load {fit['load_start']}-"
          f"{fit['load_end']}, rc {fit['returncode']})", flush=True)
    chk = cli(["check", str(OPT), "--seed", "1", "--json", str(tmp / "check.json")])
    print(f"check OPT folder: {chk['wall_s']:7.1f} s (load {chk['load_start']}-"
          f"{chk['load_end']}, rc {chk['returncode']})", flush=True)
    ratio = chk["wall_s"] / fit["wall_s"]
    print(f"check / fit = {ratio:.2f} (goal <= 2); check <= 60 s: {chk['wall_s'] <= 60}",
          flush=True)
    n = None
    if (tmp / "check.json").exists():
        doc = json.loads((tmp / "check.json").read_text(encoding="utf-8"))
        n = len(doc.get("records", doc) if isinstance(doc, dict) else doc)
    return {"fit": fit, "check": chk, "check_over_fit": round(ratio, 2), "check_curves": n}


def synthetic_fit(T: int, env: dict[str, str] | None = None) -> dict:
    """One synthetic T-curve fit in a fresh process."""
    r = timed([sys.executable, "-c", FIT_CHILD, str(T)],
              {"PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'benchmarks'}", **(env or {})})
    if "fit_s" in r:
        print(f"fit T = {T:5d}: fit {r['fit_s']:7.1f} s (compile {r['compile_s']:.1f}, sample "
              f"{r['sample_s']:.1f}), process {r['process_s']:.1f} s, peak RSS "
              f"{r['peak_rss_mb']:.0f} MB, failed curves {r['failed_curves']} (load "
              f"{r['load_start']}-{r['load_end']})", flush=True)
    else:
        print(f"fit T = {T}: failed\n{r.get('stderr_tail', '')}", flush=True)
    return r


def part_scaling() -> dict:
    """T = 100 vs T = 1000 (warm compile cache: a T = 100 fit runs first to fill it)."""
    synthetic_fit(100)  # fills the JAX cache for this program; not counted
    small, big = synthetic_fit(100), synthetic_fit(1000)
    ratio = big["fit_s"] / small["fit_s"]
    print(f"T = 1000 / T = 100 fit time = {ratio:.1f}x (goal <= 10x); peak RSS "
          f"{big['peak_rss_mb']:.0f} MB (goal <= 4096)", flush=True)
    return {"T100": small, "T1000": big, "ratio": round(ratio, 2)}


def part_compile() -> dict:
    """A T = 100 fit with an empty JAX cache, then with the cache it left."""
    with tempfile.TemporaryDirectory(prefix="emergence-jax-") as d:
        env = {"EMERGENCE_JAX_CACHE": d}
        cold = synthetic_fit(100, env)
        warm = synthetic_fit(100, env)
    print(f"first run (empty cache) {cold['process_s']:.1f} s vs cached {warm['process_s']:.1f}"
          f" s: compile cost about {cold['process_s'] - warm['process_s']:.1f} s", flush=True)
    return {"cold": cold, "warm": warm}


def part_cold(tmp: Path) -> dict:
    """Three OPT checks in a row, fresh processes, one empty JAX cache."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="emergence-jax-") as d:
        for i in range(3):
            r = cli(["check", str(OPT), "--seed", "1", "--json", str(tmp / f"cold{i}.json")],
                    {"EMERGENCE_JAX_CACHE": d})
            print(f"check OPT folder, empty cache, process {i + 1}: {r['wall_s']:7.1f} s (load "
                  f"{r['load_start']}-{r['load_end']}, rc {r['returncode']})", flush=True)
            runs.append(r)
    print(f"first / third process = {runs[0]['wall_s'] / runs[2]['wall_s']:.2f}, second / third"
          f" = {runs[1]['wall_s'] / runs[2]['wall_s']:.2f}", flush=True)
    return {"runs": runs}


def part_readme(tmp: Path) -> dict:
    """The README's set-up on an empty JAX cache (``emergence demo``), then a check of OPT."""
    with tempfile.TemporaryDirectory(prefix="emergence-jax-") as d:
        env = {"EMERGENCE_JAX_CACHE": d}
        demo = cli(["demo", "--out", str(tmp / "demo"), "--no-progress"], env)
        print(f"emergence demo, empty cache: {demo['wall_s']:7.1f} s (load {demo['load_start']}-"
              f"{demo['load_end']}, rc {demo['returncode']})", flush=True)
        chk = cli(["check", str(OPT), "--seed", "1", "--json", str(tmp / "readme.json")], env)
        print(f"check OPT folder after the demo: {chk['wall_s']:7.1f} s (load "
              f"{chk['load_start']}-{chk['load_end']}, rc {chk['returncode']}); <= 60 s: "
              f"{chk['wall_s'] <= 60}", flush=True)
    return {"demo": demo, "check_after_demo": chk}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="cli,scaling,compile")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load {os.getloadavg()}", flush=True)
    out: dict = {"machine": machine(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="check-speed-") as tmp:
        for part in args.parts.split(","):
            out[part] = {"cli": lambda: part_cli(Path(tmp)), "scaling": part_scaling,
                         "compile": part_compile, "cold": lambda: part_cold(Path(tmp)),
                         "readme": lambda: part_readme(Path(tmp))}[part]()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
