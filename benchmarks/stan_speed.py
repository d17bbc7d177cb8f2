"""emergence.fit (nutpie) vs Stan (pystan 3) vs PyMC's own NUTS on the identical model and data.

Model: hierarchical sigmoid, ``likelihood="binomial"``, ``parametrization="noncentered"``,
known chance floors, ``families="separate"`` (no family offsets), pooled x0/logk with
per-series lapse: exactly the PyMC graph of :class:`emergence.models.sigmoid.Sigmoid`, written
out in Stan below (priors read from the built ``ModelData``, so both see the same numbers).
Data: bundled ObsScaling emergent + BBH tasks and synthetic T = 10, 100, 1000 tasks (8 scales,
1000 items). For each sampler: compile and sampling wall time separately, min bulk ESS over
x0, logk, lapse_logit and the hyperparameters, ESS per second of sampling, peak RSS.

    python benchmarks/stan_speed.py [--cases obsscaling,bbh,T10,T100,T1000]
        [--samplers nutpie,pymc,stan] [--draws 1000] [--tune 1000]

httpstan caches compiled Stan programs across processes; the first build in a fresh cache is
the true compile time (reported as "compile"; later builds hit the cache).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np

import emergence as em
from emergence.config import make_config
from emergence.data import validate
from emergence.models import get
from emergence.simulate import simulate_table

STAN_CODE = """
data {
  int<lower=1> N; int<lower=1> S;
  array[N] int<lower=1, upper=S> s;
  vector[N] x; array[N] int<lower=0> n; array[N] int<lower=0> k; vector[N] chance;
  real x_mid;
  real mu_x0_sd; real sigma_x0_sd; real mu_logk_mu; real mu_logk_sd; real sigma_logk_sd;
  real lapse_mu; real lapse_sd;
}
parameters {
  real mu_x0; real<lower=0> sigma_x0; real mu_logk; real<lower=0> sigma_logk;
  vector[S] x0_z; vector[S] logk_z; vector[S] lapse_logit;
}
transformed parameters {
  vector[S] x0 = mu_x0 + sigma_x0 * x0_z;
  vector[S] logk = mu_logk + sigma_logk * logk_z;
}
model {
  mu_x0 ~ normal(x_mid, mu_x0_sd); sigma_x0 ~ normal(0, sigma_x0_sd);
  mu_logk ~ normal(mu_logk_mu, mu_logk_sd); sigma_logk ~ normal(0, sigma_logk_sd);
  x0_z ~ std_normal(); logk_z ~ std_normal(); lapse_logit ~ normal(lapse_mu, lapse_sd);
  {
    vector[N] p;
    for (i in 1:N) {
      real g = inv_logit(exp(logk[s[i]]) * (x[i] - x0[s[i]]));
      p[i] = chance[i] + (1 - chance[i]) * (1 - inv_logit(lapse_logit[s[i]])) * g;
    }
    k ~ binomial(n, p);
  }
}
"""

VARS = ["x0", "logk", "lapse_logit", "mu_x0", "sigma_x0", "mu_logk", "sigma_logk"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}"


def load() -> float:
    return os.getloadavg()[0]


def peak_mb() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_, kids) / 1024


def synthetic(T: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truths = [{"task": f"t{i}", "x0": rng.uniform(9, 11), "logk": rng.normal(1.5, 0.5),
               "lapse": 0.05} for i in range(T)]
    return validate(simulate_table("sigmoid", truths, np.linspace(8, 12, 8), n_items=1000,
                                   chance=0.25, seed=seed), warn=False)


def case_table(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "obsscaling":
            return em.datasets.load("obsscaling_emergent")
        if name == "bbh":
            return em.datasets.load("bbh")
        return synthetic(int(name.lstrip("T")))


def min_ess(post) -> float:
    import arviz as az

    names = [v for v in VARS if v in post]
    ess = az.ess(post[names], method="bulk")
    ess = getattr(ess, "to_dataset", lambda: ess)()
    return float(min(np.nanmin(np.asarray(ess[v].values, dtype=float)) for v in names))


def stan_data(md) -> dict:
    o, pr, ctx = md.obs, md.priors, md.context
    arg = lambda name, key: float(pr[name].params[key] if not isinstance(pr[name].params[key], str)  # noqa: E731
                                  else ctx[pr[name].params[key]])
    n = o["n_items"].to_numpy().round().astype(int)
    k = np.clip(o["k"].to_numpy().round().astype(int), 0, n)
    return {"N": len(o), "S": len(md.series), "s": (o["series_idx"].to_numpy() + 1).tolist(),
            "x": o["x"].to_numpy().tolist(), "n": n.tolist(), "k": k.tolist(),
            "chance": o["chance"].fillna(0.0).to_numpy().tolist(), "x_mid": float(ctx["x_mid"]),
            "mu_x0_sd": arg("mu_x0", "sigma"), "sigma_x0_sd": arg("sigma_x0", "sigma"),
            "mu_logk_mu": arg("mu_logk", "mu"), "mu_logk_sd": arg("mu_logk", "sigma"),
            "sigma_logk_sd": arg("sigma_logk", "sigma"),
            "lapse_mu": arg("lapse_logit", "mu"), "lapse_sd": arg("lapse_logit", "sigma")}


def run_stan(md, draws: int, tune: int, seed: int) -> dict:
    import stan
    import xarray as xr

    data = stan_data(md)
    t0 = time.perf_counter()
    post = stan.build(STAN_CODE, data=data, random_seed=seed)
    t1 = time.perf_counter()
    fit = post.sample(num_chains=2, num_samples=draws, num_warmup=tune)
    t2 = time.perf_counter()
    ds = {}
    for v in VARS:
        a = np.asarray(fit[v])  # (dims..., draws*chains), chains interleaved by pystan
        a = a.reshape(-1, draws, 2) if a.ndim == 2 else a.reshape(1, draws, 2)
        a = np.moveaxis(a, 0, -1).transpose(1, 0, 2)  # chain, draw, param
        a = a if a.shape[-1] > 1 or v in ("x0", "logk", "lapse_logit") else a[..., 0]
        dims = ("chain", "draw", "series")[: a.ndim]
        ds[v] = xr.DataArray(a, dims=dims)
    div = int(np.sum(fit["divergent__"])) if "divergent__" in fit.sample_and_sampler_param_names \
        else -1
    return {"compile": t1 - t0, "sample": t2 - t1, "ess": min_ess(xr.Dataset(ds)), "div": div}


def run_emergence(table, sampler: str, draws: int, tune: int, seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = em.fit(table, sampler=sampler, likelihood="binomial", parametrization="noncentered",
                     pooling="partial", draws=draws, tune=tune, seed=seed)
    return {"compile": fit.timing.compile, "sample": fit.timing.sample,
            "ess": min_ess(fit.tree["posterior"].to_dataset()),
            "div": int(fit.diagnostics["divergences"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="obsscaling,bbh,T10,T100")
    ap.add_argument("--samplers", default="nutpie,pymc,stan")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M')}; load {load():.2f}")
    print(f"{'case':11} {'sampler':7} {'rows':>6} {'series':>6} {'compile s':>9} "
          f"{'sample s':>8} {'minESS':>7} {'ESS/s':>8} {'div':>4} {'peakMB':>7} {'load':>5} "
          f"{'ESS/s÷stan':>10} {'ESS/s÷pymc':>10}", flush=True)
    for case in args.cases.split(","):
        table = case_table(case)
        cfg = make_config(likelihood="binomial", parametrization="noncentered", pooling="partial")
        _, md = get("sigmoid").build(table, cfg)
        rows = {}
        for sampler in args.samplers.split(","):
            ld = load()
            try:
                r = (run_stan(md, args.draws, args.tune, args.seed) if sampler == "stan"
                     else run_emergence(table, sampler, args.draws, args.tune, args.seed))
            except Exception as exc:
                print(f"{case:11} {sampler:7} failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            r["ess_s"] = r["ess"] / max(r["sample"], 1e-9)
            r["load"], r["peak"] = ld, peak_mb()
            rows[sampler] = r
        for sampler, r in rows.items():
            vs = {ref: (r["ess_s"] / rows[ref]["ess_s"] if ref in rows else float("nan"))
                  for ref in ("stan", "pymc")}
            print(f"{case:11} {sampler:7} {len(md.obs):6d} {len(md.series):6d} "
                  f"{r['compile']:9.1f} {r['sample']:8.1f} {r['ess']:7.0f} {r['ess_s']:8.1f} "
                  f"{r['div']:4d} {r['peak']:7.0f} {r['load']:5.2f} {vs['stan']:10.2f} "
                  f"{vs['pymc']:10.2f}", flush=True)


if __name__ == "__main__":
    main()
