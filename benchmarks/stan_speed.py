"""emergence.fit (nutpie) vs Stan (pystan 3) vs PyMC's own NUTS on the identical model and data.

Model: the package's **default** hierarchical sigmoid (``make_config()``: beta-binomial
likelihood on counts, centred partial pooling of x0 and logk, per-series lapse and
overdispersion, known chance floors, ``families="separate"``), written out in Stan below with the
priors read from the built ``ModelData`` so both samplers see the same numbers.
``--likelihood binomial --parametrization noncentered`` switches both to that variant.

Cases: the bundled ObsScaling emergent tasks (39 series) and BBH (243 series), and synthetic
T = 10, 100, 1000 tasks (8 scales, 1000 items, chance 0.25). Every (case, sampler) runs in a
fresh process, so each pays its own start-up and compile (numba's on-disk cache of the
pytensor kernels is warm after the first run; httpstan caches the built Stan program across
processes: its first build is reported separately as ``stan first build``).

Reported per run: compile and sampling wall time, min bulk ESS over every parameter
(x0, logk, lapse_logit, log_phi and the hyperparameters), ESS per second of sampling and per
second of compile + sampling, divergences, the process's peak RSS, and the ratios against Stan
and PyMC NUTS of the same case.

    python benchmarks/stan_speed.py [--cases obsscaling,bbh,T10,T100,T1000]
        [--samplers nutpie,pymc,stan] [--draws 1000] [--tune 1000] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

STAN_CODE = """
data {
  int<lower=1> N; int<lower=1> S;
  array[N] int<lower=1, upper=S> s;
  vector[N] x; array[N] int<lower=0> n; array[N] int<lower=0> k; vector<lower=0, upper=1>[N] chance;
  int<lower=0, upper=1> noncentered; int<lower=0, upper=1> betabinomial;
  real mu_x0_mu; real mu_x0_sd; real sigma_x0_sd; real mu_logk_mu; real mu_logk_sd;
  real sigma_logk_sd; real lapse_mu; real lapse_sd; real log_phi_mu; real log_phi_sd;
}
transformed data {
  vector[N] log_c = log(chance);
  vector[N] log_1mc = log1m(chance);
}
parameters {
  real mu_x0; real<lower=0> sigma_x0; real mu_logk; real<lower=0> sigma_logk;
  vector[S] x0_raw; vector[S] logk_raw; vector[S] lapse_logit;
  vector[betabinomial ? S : 0] log_phi;
}
transformed parameters {
  vector[S] x0 = noncentered ? mu_x0 + sigma_x0 * x0_raw : x0_raw;
  vector[S] logk = noncentered ? mu_logk + sigma_logk * logk_raw : logk_raw;
}
model {
  vector[N] log_mu; vector[N] log_1mmu;
  mu_x0 ~ normal(mu_x0_mu, mu_x0_sd); sigma_x0 ~ normal(0, sigma_x0_sd);
  mu_logk ~ normal(mu_logk_mu, mu_logk_sd); sigma_logk ~ normal(0, sigma_logk_sd);
  if (noncentered) {
    x0_raw ~ std_normal(); logk_raw ~ std_normal();
  } else {
    x0_raw ~ normal(mu_x0, sigma_x0); logk_raw ~ normal(mu_logk, sigma_logk);
  }
  lapse_logit ~ normal(lapse_mu, lapse_sd);
  log_phi ~ normal(log_phi_mu, log_phi_sd);
  for (i in 1:N) {
    int j = s[i];
    real z = exp(logk[j]) * (x[i] - x0[j]);
    real l_keep = log_inv_logit(-lapse_logit[j]);
    log_mu[i] = log_sum_exp(log_c[i], log_1mc[i] + l_keep + log_inv_logit(z));
    log_1mmu[i] = log_1mc[i] + log_sum_exp(log_inv_logit(lapse_logit[j]),
                                           l_keep + log1m_inv_logit(z));
  }
  if (betabinomial) {
    k ~ beta_binomial(n, exp(log_mu + log_phi[s]), exp(log_1mmu + log_phi[s]));
  } else {
    k ~ binomial_logit(n, log_mu - log_1mmu);
  }
}
"""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}"


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def case_table(name: str):
    import emergence as em
    from emergence.data import validate
    from emergence.simulate import simulate_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "obsscaling":
            return em.datasets.load("obsscaling_emergent")
        if name == "bbh":
            return em.datasets.load("bbh")
        T = int(name.lstrip("T"))
        rng = np.random.default_rng(0)
        truths = [{"task": f"t{i}", "x0": rng.uniform(9, 11), "logk": rng.normal(1.5, 0.5),
                   "lapse": 0.05} for i in range(T)]
        return validate(simulate_table("sigmoid", truths, np.linspace(8, 12, 8), n_items=1000,
                                       chance=0.25, seed=0), warn=False)


def min_ess(post, names) -> float:
    import arviz as az

    ess = az.ess(post[[v for v in names if v in post]], method="bulk")
    ess = getattr(ess, "to_dataset", lambda: ess)()
    return float(min(np.nanmin(np.asarray(ess[v].values, dtype=float)) for v in ess.data_vars))


def stan_data(md, cfg) -> dict:
    o, pr, ctx = md.obs, md.priors, md.context
    if not md.pooled or md.obs["chance"].isna().any() or len(md.families) > 1:
        raise SystemExit("the Stan program covers pooled fits with known chance and no offsets")
    arg = lambda name, key: float(pr[name].resolved(ctx)[key])  # noqa: E731
    return {"N": len(o), "S": len(md.series), "s": (o["series_idx"].to_numpy() + 1).tolist(),
            "x": o["x"].to_numpy().tolist(), "n": o["n_items"].to_numpy(np.int64).tolist(),
            "k": o["k"].to_numpy(np.int64).tolist(), "chance": o["chance"].to_numpy().tolist(),
            "noncentered": int(cfg.parametrization == "noncentered"),
            "betabinomial": int(md.likelihood == "betabinomial"),
            "mu_x0_mu": arg("mu_x0", "mu"), "mu_x0_sd": arg("mu_x0", "sigma"),
            "sigma_x0_sd": arg("sigma_x0", "sigma"), "mu_logk_mu": arg("mu_logk", "mu"),
            "mu_logk_sd": arg("mu_logk", "sigma"), "sigma_logk_sd": arg("sigma_logk", "sigma"),
            "lapse_mu": arg("lapse_logit", "mu"), "lapse_sd": arg("lapse_logit", "sigma"),
            "log_phi_mu": arg("log_phi", "mu"), "log_phi_sd": arg("log_phi", "sigma")}


VARS = ["x0", "logk", "lapse_logit", "log_phi", "mu_x0", "sigma_x0", "mu_logk", "sigma_logk"]


def run_stan(table, cfg, draws: int, tune: int, seed: int, chains: int) -> dict:
    import stan
    import xarray as xr

    from emergence.models import get

    _, md = get("sigmoid").build(table, cfg)
    data = stan_data(md, cfg)
    t0 = time.perf_counter()
    post = stan.build(STAN_CODE, data=data, random_seed=seed)
    t1 = time.perf_counter()
    fit = post.sample(num_chains=chains, num_samples=draws, num_warmup=tune, delta=cfg.target_accept)
    t2 = time.perf_counter()
    ds = {}
    for v in VARS:
        if v not in fit.param_names:
            continue
        a = np.asarray(fit[v])  # (param dims..., draws * chains), chain-major blocks
        a = a.reshape(-1, chains, draws) if a.ndim == 2 else a.reshape(1, chains, draws)
        a = np.moveaxis(a, 0, -1)  # chain, draw, param
        ds[v] = xr.DataArray(a if v in ("x0", "logk", "lapse_logit", "log_phi") else a[..., 0],
                             dims=("chain", "draw", "series")[: 3 if a.shape[-1] > 1 or v in (
                                 "x0", "logk", "lapse_logit", "log_phi") else 2])
    div = int(np.sum(fit["divergent__"]))
    return {"compile": t1 - t0, "sample": t2 - t1, "ess": min_ess(xr.Dataset(ds), VARS),
            "div": div, "rows": len(md.obs), "series": len(md.series)}


def run_emergence(table, cfg, sampler: str, draws: int, tune: int, seed: int, chains: int) -> dict:
    import emergence as em

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = em.fit(table, config=cfg.replace(sampler=sampler, draws=draws, tune=tune,
                                               seed=seed, chains=chains, progress=False))
    post = fit.tree["posterior"].to_dataset()
    return {"compile": fit.timing.compile, "sample": fit.timing.sample,
            "ess": min_ess(post, VARS), "div": int(fit.diagnostics["divergences"]),
            "rows": len(fit.table.data), "series": int(post.sizes["series"])}


def one(args) -> None:
    """Run one (case, sampler) in this process and print a JSON line."""
    t_start = time.perf_counter()
    from emergence.config import make_config

    t_import = time.perf_counter() - t_start
    table = case_table(args.case)
    cfg = make_config(likelihood=args.likelihood, parametrization=args.parametrization,
                      pooling="partial", target_accept=args.target_accept)
    r = (run_stan(table, cfg, args.draws, args.tune, args.seed, args.chains) if args.sampler == "stan"
         else run_emergence(table, cfg, args.sampler, args.draws, args.tune, args.seed, args.chains))
    r.update(case=args.case, sampler=args.sampler, peak_mb=peak_mb(), import_s=t_import,
             process_s=time.perf_counter() - t_start)
    print("RESULT " + json.dumps(r), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="obsscaling,bbh,T10,T100,T1000")
    ap.add_argument("--samplers", default="nutpie,stan,pymc")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--likelihood", default="auto")
    ap.add_argument("--parametrization", default="centered")
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per (case, sampler)")
    ap.add_argument("--one", nargs=2, metavar=("CASE", "SAMPLER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        args.case, args.sampler = args.one
        one(args)
        return
    print(f"machine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"{args.chains} chains x ({args.tune} tune + {args.draws} draws), "
          f"likelihood={args.likelihood}, parametrization={args.parametrization}", flush=True)
    passthrough = ["--draws", str(args.draws), "--tune", str(args.tune), "--chains",
                   str(args.chains), "--seed", str(args.seed), "--likelihood", args.likelihood,
                   "--parametrization", args.parametrization, "--target-accept",
                   str(args.target_accept)]
    hdr = (f"{'case':10} {'sampler':7} {'rows':>6} {'series':>6} {'compile s':>9} {'sample s':>8} "
           f"{'process s':>9} {'minESS':>7} {'ESS/s':>7} {'ESS/s tot':>9} {'div':>5} "
           f"{'peak MB':>7} {'load':>5} {'÷stan':>6} {'÷pymc':>6} {'tot÷stan':>8}")
    for case in args.cases.split(","):
        rows = {}
        for sampler in args.samplers.split(","):
            ld = os.getloadavg()[0]
            cmd = [sys.executable, __file__, "--one", case, sampler, *passthrough]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"{case:10} {sampler:7} timed out after {args.timeout:.0f} s", flush=True)
                continue
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{case:10} {sampler:7} failed:\n{out.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(line[7:])
            r["load"] = ld
            r["ess_s"] = r["ess"] / r["sample"]
            r["ess_tot"] = r["ess"] / (r["compile"] + r["sample"])
            rows[sampler] = r
        print(hdr, flush=True)
        for sampler, r in rows.items():
            def ratio(ref: str, key: str, r: dict = r, rows: dict = rows) -> float:
                return r[key] / rows[ref][key] if ref in rows else float("nan")

            print(f"{case:10} {sampler:7} {r['rows']:6d} {r['series']:6d} {r['compile']:9.1f} "
                  f"{r['sample']:8.1f} {r['process_s']:9.1f} {r['ess']:7.0f} {r['ess_s']:7.1f} "
                  f"{r['ess_tot']:9.2f} {r['div']:5d} {r['peak_mb']:7.0f} {r['load']:5.2f} "
                  f"{ratio('stan', 'ess_s'):6.2f} {ratio('pymc', 'ess_s'):6.2f} "
                  f"{ratio('stan', 'ess_tot'):8.2f}", flush=True)


if __name__ == "__main__":
    main()
