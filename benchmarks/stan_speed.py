"""End-to-end min-ESS per second: emergence's default engine vs Stan (pystan 3), same model.

Model: the package's **default** hierarchical sigmoid (``make_config()``: logit-normal
model-to-model noise, Student-t(4) populations of x0 and logk, a normal population of log_tau,
unpooled lapse, known chance, ``families="separate"``), written out in Stan below (a joint NUTS
model) with the priors read from the built ``ModelData``, so both see the same numbers.

Samplers: ``emergence`` = ``em.fit`` with the default per-curve engine (stage 1 vectorised HMC in
JAX + population step); ``joint`` = nutpie on the joint PyMC model (``engine="joint"``);
``stan`` = NUTS in Stan on the joint model. Cases: synthetic T = 10, 100, 1000 tasks (8 scales
over 4 decades, 1000 items, chance 0.25, logit-normal model-to-model noise sd 0.35:
``benchmarks/synthetic.py``) and, where the Stan program covers them, the bundled
ObsScaling emergent table (``obsscaling``).

Every (case, sampler) runs in a fresh niced process. Reported per run: compile and sampling time
as the sampler reports them, the process time (import + build + compile + sampling: the
end-to-end time), the minimum bulk ESS over *every* parameter (x0, logk, lapse_logit, log_tau
per curve and the six population parameters) and where it occurred, ESS/s of sampling and ESS/s
end to end, divergences, peak RSS, load average, and the ratio of end-to-end ESS/s to Stan's.
After each case, the population quantiles of every sampler are printed side by side, and the
largest difference of per-curve posterior medians of x0 and logk against Stan's (the same
posterior check). httpstan caches the built Stan program across processes (its first build is
paid once: ``compile`` > 30 s in that run).

    python benchmarks/stan_speed.py [--cases T100,T1000] [--samplers emergence,stan,joint]
        [--draws 500 --tune 500 --chains 4] [--stan-draws 1000 --stan-tune 1000
        --stan-chains 2] [--timeout 1800] [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
from machine import machine

STAN_CODE = """
// The package's default hierarchical sigmoid (emergence >= the per-curve engine):
// x0, logk ~ StudentT(4, mu, sigma) populations; log_tau ~ Normal population; lapse_logit
// unpooled; logit-normal model-to-model noise: logit p_i = logit mu_i + tau e_i, e_i ~ N(0, 1)
// (one latent effect per row, non-centred), k_i ~ Binomial(n_i, p_i) on rows with counts --
// the model whose e_i the package integrates out by quadrature (since 2026-11-27); rows
// without counts: the normal density of their empirical logit z with variance tau^2 + v.
data {
  int<lower=1> N; int<lower=1> S;
  array[N] int<lower=1, upper=S> s;
  vector[N] x; vector[N] z; vector<lower=0>[N] v; vector<lower=0, upper=1>[N] chance;
  array[N] int<lower=0> k; array[N] int<lower=0> n; array[N] int<lower=0, upper=1> counts;
  real nu;
  real mu_x0_mu; real mu_x0_sd; real mu_logk_mu; real mu_logk_sd; real lapse_mu;
  real lapse_sd; real mu_log_tau_mu; real mu_log_tau_sd;
  array[2] real sigma_x0_ab; array[2] real sigma_logk_ab; array[2] real sigma_log_tau_ab;
}
transformed data {
  vector[N] log_c = log(chance);
  vector[N] log_1mc = log1m(chance);
}
parameters {
  real mu_x0; real<lower=0> sigma_x0; real mu_logk; real<lower=0> sigma_logk;
  real mu_log_tau; real<lower=0> sigma_log_tau;
  vector[S] x0; vector[S] logk; vector[S] lapse_logit; vector[S] log_tau;
  vector[N] e;
}
model {
  mu_x0 ~ normal(mu_x0_mu, mu_x0_sd); sigma_x0 ~ gamma(sigma_x0_ab[1], sigma_x0_ab[2]);
  mu_logk ~ normal(mu_logk_mu, mu_logk_sd); sigma_logk ~ gamma(sigma_logk_ab[1], sigma_logk_ab[2]);
  mu_log_tau ~ normal(mu_log_tau_mu, mu_log_tau_sd);
  sigma_log_tau ~ gamma(sigma_log_tau_ab[1], sigma_log_tau_ab[2]);
  x0 ~ student_t(nu, mu_x0, sigma_x0);
  logk ~ student_t(nu, mu_logk, sigma_logk);
  log_tau ~ normal(mu_log_tau, sigma_log_tau);
  lapse_logit ~ normal(lapse_mu, lapse_sd);
  e ~ std_normal();
  for (i in 1:N) {
    int j = s[i];
    real g = exp(logk[j]) * (x[i] - x0[j]);
    real l_keep = log_inv_logit(-lapse_logit[j]);
    real log_mu = log_sum_exp(log_c[i], log_1mc[i] + l_keep + log_inv_logit(g));
    real log_1mmu = log_1mc[i] + log_sum_exp(log_inv_logit(lapse_logit[j]),
                                              l_keep + log1m_inv_logit(g));
    real eta = log_mu - log_1mmu;
    if (counts[i] == 1) {
      k[i] ~ binomial_logit(n[i], eta + exp(log_tau[j]) * e[i]);
    } else {
      z[i] ~ normal(eta, sqrt(exp(2 * log_tau[j]) + v[i]));
    }
  }
}
"""


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def case_table(name: str):
    """The table of a case: ``obsscaling`` or synthetic ``T<n>`` (benchmarks/synthetic.py)."""
    import emergence as em

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "obsscaling":
            return em.datasets.load("obsscaling_emergent")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from synthetic import synthetic_table

        return synthetic_table(int(name.lstrip("T")))


def min_ess(post, names, pool=None) -> tuple[float, str]:
    """Minimum bulk ESS over every element of ``names`` in ``post``, and where it occurred.

    ``pool`` (per series): the per-curve engine's ``ess_pool``. A curve's pooled draws are
    picked from its stage-1 draws, and arviz's ESS of them misses the pool's Monte Carlo error
    (docs/engine.md); a per-series parameter's ESS is then ``1 / (1 / ess + 1 / pool)``
    (``engine.pooled_ess``; since 2026-11-28, earlier rows used arviz's ESS alone)."""
    import arviz as az

    from emergence.engine import pooled_ess

    ess = az.ess(post[[v for v in names if v in post]], method="bulk")
    ess = getattr(ess, "to_dataset", lambda: ess)()
    vals = {}
    for v in ess.data_vars:
        e = np.asarray(ess[v].values, dtype=float)
        if pool is not None and "series" in ess[v].dims:
            e = pooled_ess(e, pool)
        vals[v] = float(np.nanmin(e))
    worst = min(vals, key=vals.get)
    return vals[worst], worst


def quantiles(post) -> dict:
    """5/50/95 % quantiles of the population parameters and the medians over curves of the
    per-curve 50 % quantiles of x0 and logk (for the same-posterior check)."""
    out = {}
    for v in HYPER:
        if v in post:
            out[v] = [float(q) for q in np.quantile(np.asarray(post[v]).ravel(), [0.05, 0.5, 0.95])]
    for v in ("x0", "logk"):
        a = np.asarray(post[v])  # chain, draw, series
        out[f"{v}_median_by_curve"] = np.median(a.reshape(-1, a.shape[-1]), axis=0).tolist()
    return out


def stan_data(md) -> dict:
    """The Stan program's data: rows (counts, else empirical logits) and the priors of the
    built model."""
    from emergence.models.base import POPULATION_NU
    from emergence.models.sigmoid import SigmoidModel

    o, pr, ctx = md.obs, md.priors, md.context
    if (not md.pooled or o["chance"].isna().any() or len(md.families) > 1
            or o["ceiling"].notna().any() or md.likelihood.name != "logitnormal"):
        raise SystemExit("the Stan program covers pooled logit-normal fits with known chance, "
                         "no known ceilings and no family offsets")
    expected = {"mu_x0": "Normal", "mu_logk": "Normal", "mu_log_tau": "Normal",
                "sigma_x0": "Gamma", "sigma_logk": "Gamma", "sigma_log_tau": "Gamma",
                "lapse_logit": "Normal"}
    stale = {k: pr[k].dist for k, v in expected.items() if pr[k].dist != v}
    if stale:  # the package's priors changed: the Stan program must follow
        raise SystemExit(f"the Stan program assumes other prior families than {stale}")
    d = SigmoidModel.data_arrays(md)
    arg = lambda name, key: float(pr[name].resolved(ctx)[key])  # noqa: E731
    return {"N": len(o), "S": len(md.series), "s": (d["series_idx"] + 1).tolist(),
            "x": d["x"].tolist(), "z": d["z"].tolist(), "v": d["v"].tolist(),
            "k": d["k"].round().astype(int).tolist(), "n": d["n"].round().astype(int).tolist(),
            "counts": d["use_counts"].astype(int).tolist(),
            "chance": d["chance"].tolist(), "nu": POPULATION_NU,
            "mu_x0_mu": arg("mu_x0", "mu"), "mu_x0_sd": arg("mu_x0", "sigma"),
            "mu_logk_mu": arg("mu_logk", "mu"), "mu_logk_sd": arg("mu_logk", "sigma"),
            "lapse_mu": arg("lapse_logit", "mu"), "lapse_sd": arg("lapse_logit", "sigma"),
            "mu_log_tau_mu": arg("mu_log_tau", "mu"), "mu_log_tau_sd": arg("mu_log_tau", "sigma"),
            **{f"{h}_ab": [arg(h, "alpha"), arg(h, "beta")]
               for h in ("sigma_x0", "sigma_logk", "sigma_log_tau")}}


PER_CURVE = ["x0", "logk", "lapse_logit", "log_tau"]
HYPER = ["mu_x0", "sigma_x0", "mu_logk", "sigma_logk", "mu_log_tau", "sigma_log_tau"]
VARS = PER_CURVE + HYPER


def run_stan(table, cfg, draws: int, tune: int, seed: int, chains: int) -> dict:
    import stan
    import xarray as xr

    from emergence.models import get

    md = get("sigmoid").prepare(table, cfg)
    data = stan_data(md)
    t0 = time.perf_counter()
    post = stan.build(STAN_CODE, data=data, random_seed=seed)
    t1 = time.perf_counter()
    fit = post.sample(num_chains=chains, num_samples=draws, num_warmup=tune,
                      delta=cfg.target_accept)
    t2 = time.perf_counter()
    ds = {}
    for v in VARS:
        a = np.asarray(fit[v])  # (param dims..., draws * chains), chain-major blocks
        a = a.reshape(-1, chains, draws)
        a = np.moveaxis(a, 0, -1)  # chain, draw, param
        ds[v] = (xr.DataArray(a, dims=("chain", "draw", "series")) if v in PER_CURVE
                 else xr.DataArray(a[..., 0], dims=("chain", "draw")))
    ds = xr.Dataset(ds)
    ess, worst = min_ess(ds, VARS)
    return {"compile": t1 - t0, "sample": t2 - t1, "ess": ess, "worst": worst,
            "div": int(np.sum(fit["divergent__"])), "rows": len(md.obs),
            "series": len(md.series), "quantiles": quantiles(ds)}


def run_emergence(table, cfg, engine: str, draws: int, tune: int, seed: int,
                  chains: int) -> dict:
    import emergence as em

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = em.fit(table, config=cfg.replace(engine=engine, draws=draws, tune=tune,
                                               seed=seed, chains=chains, progress=False))
    wall = time.perf_counter() - t0
    post = fit.tree["posterior"].to_dataset()
    cd = fit.tree.children.get("curve_diagnostics")
    pool = cd["ess_pool"].values if cd is not None and "ess_pool" in cd else None
    ess, worst = min_ess(post, VARS, pool)
    div = fit.diagnostics.get("divergences", 0)
    kinds: dict[str, int] = {}  # per-curve diagnostic failures by kind (R-hat, ESS, divergences)
    for msg in fit.failed:
        for part in msg.split(": ", 1)[1].split(", "):
            kind = part.split(" ")[0] if not part[0].isdigit() else "divergences"
            kinds[kind] = kinds.get(kind, 0) + 1
    return {"compile": fit.timing.compile, "sample": fit.timing.sample, "fit_wall": wall,
            "failed_curves": len(fit.failed), "failed_kinds": kinds,
            "ess": ess, "worst": worst, "div": int(np.sum(div)),
            "rows": len(fit.table.data), "series": int(post.sizes["series"]),
            "quantiles": quantiles(post)}


def one(args) -> None:
    """Run one (case, sampler) in this process and print a JSON line."""
    t_start = time.perf_counter()
    from emergence.config import make_config

    t_import = time.perf_counter() - t_start
    table = case_table(args.case)
    cfg = make_config(pooling="partial", target_accept=args.target_accept)
    if args.sampler == "stan":
        r = run_stan(table, cfg, args.stan_draws, args.stan_tune, args.seed, args.stan_chains)
    else:  # "emergence" = the default engine; "joint" = nutpie on the joint model
        engine = "percurve" if args.sampler == "emergence" else "joint"
        r = run_emergence(table, cfg, engine, args.draws, args.tune, args.seed, args.chains)
    r.update(case=args.case, sampler=args.sampler, peak_mb=peak_mb(), import_s=t_import,
             process_s=time.perf_counter() - t_start)
    print("RESULT " + json.dumps(r), flush=True)


def run_one(case: str, sampler: str, passthrough: list[str], timeout: float) -> dict | None:
    """Run ``--one case sampler`` in a fresh process (niced); its RESULT line as a dict."""
    ld = os.getloadavg()[0]
    cmd = ["nice", sys.executable, __file__, "--one", case, sampler, *passthrough]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{case:10} {sampler:9} timed out after {timeout:.0f} s", flush=True)
        return None
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        print(f"{case:10} {sampler:9} failed:\n{out.stderr[-2000:]}", flush=True)
        return None
    r = json.loads(line[7:])
    r["load_start"], r["load_end"] = ld, os.getloadavg()[0]
    r["ess_s"] = r["ess"] / r["sample"]
    r["ess_tot"] = r["ess"] / r["process_s"]  # end to end: import, build, compile, sample
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="T100,T1000")
    ap.add_argument("--samplers", default="emergence,stan")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--stan-draws", type=int, default=1000)
    ap.add_argument("--stan-tune", type=int, default=1000)
    ap.add_argument("--stan-chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-accept", type=float, default=0.9)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per (case, sampler)")
    ap.add_argument("--json", default="", help="append the result rows to this JSON-lines file")
    ap.add_argument("--one", nargs=2, metavar=("CASE", "SAMPLER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        args.case, args.sampler = args.one
        one(args)
        return
    print(f"machine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M %Z')}; emergence "
          f"{args.chains} chains x ({args.tune} + {args.draws}), Stan {args.stan_chains} chains "
          f"x ({args.stan_tune} + {args.stan_draws})", flush=True)
    passthrough = ["--draws", str(args.draws), "--tune", str(args.tune), "--chains",
                   str(args.chains), "--stan-draws", str(args.stan_draws), "--stan-tune",
                   str(args.stan_tune), "--stan-chains", str(args.stan_chains), "--seed",
                   str(args.seed), "--target-accept", str(args.target_accept)]
    hdr = (f"{'case':6} {'sampler':9} {'rows':>5} {'series':>6} {'compile':>7} {'sample':>7} "
           f"{'process':>7} {'minESS':>7} {'(where)':>13} {'ESS/s':>7} {'ESS/s e2e':>9} "
           f"{'div':>5} {'peakMB':>6} {'load':>9} {'e2e÷stan':>8}")
    for case in args.cases.split(","):
        rows = {s: r for s in args.samplers.split(",")
                if (r := run_one(case, s, passthrough, args.timeout)) is not None}
        print(hdr, flush=True)
        for sampler, r in rows.items():
            ratio = r["ess_tot"] / rows["stan"]["ess_tot"] if "stan" in rows else float("nan")
            r["e2e_ratio_stan"] = ratio
            print(f"{case:6} {sampler:9} {r['rows']:5d} {r['series']:6d} {r['compile']:7.1f} "
                  f"{r['sample']:7.1f} {r['process_s']:7.1f} {r['ess']:7.0f} {r['worst']:>13} "
                  f"{r['ess_s']:7.2f} {r['ess_tot']:9.2f} {r['div']:5d} {r['peak_mb']:6.0f} "
                  f"{r['load_start']:4.1f}-{r['load_end']:<4.1f} {ratio:8.2f}", flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r) + "\n")
        if "stan" in rows and len(rows) > 1:
            print_agreement(rows)


def print_agreement(rows: dict) -> None:
    """Population quantiles (5/50/95 %) of every sampler side by side, and the largest
    difference of per-curve medians of x0 and logk against Stan's."""
    ref = rows["stan"]["quantiles"]
    for v in HYPER:
        cells = "  ".join(f"{s}: " + "/".join(f"{q:.3f}" for q in r["quantiles"].get(v, []))
                          for s, r in rows.items())
        print(f"  {v:14} {cells}", flush=True)
    for s, r in rows.items():
        if s == "stan":
            continue
        for v in ("x0", "logk"):
            d = np.abs(np.subtract(r["quantiles"][f"{v}_median_by_curve"],
                                   ref[f"{v}_median_by_curve"]))
            print(f"  {s} vs stan, per-curve median of {v}: max |diff| {d.max():.3f}, "
                  f"mean {d.mean():.3f}", flush=True)


if __name__ == "__main__":
    main()
