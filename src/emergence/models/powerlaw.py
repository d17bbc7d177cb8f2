"""The power-law (metric-induced, "mirage") model: a Gumbel rise in log scale per series.

``mu = c + (1 - c)(1 - lapse) exp(-L ln2 10^(-alpha (x + delta_f - x0)))`` with
``alpha = exp(log_alpha)`` (see :class:`emergence.curves.PowerLaw`).

Schaeffer et al. (2023): if the per-item loss falls as a power law in scale,
``loss = (N / N_c)^(-alpha)``, a metric that needs all ``L`` tokens of an answer right scores
``exp(-L loss)``: a curve that looks like a sudden jump on a linear axis although nothing sharp
happens to the model. ``x0`` is the log10 scale where the rise is half done (for the reference
answer length); ``log10 N_c = x0 + log10(ln 2) / alpha``.

Answer length
    When the table has an ``answer_tokens`` column, ``L`` is the answer length relative to the
    geometric mean length of the series (rows without a length get the reference length), so
    ``x0`` stays the midpoint of the series' rise and ``alpha`` becomes the *per-token* error
    exponent, comparable across tasks with different answer lengths and with a continuous
    per-token metric fitted directly. Without the column, ``L`` folds into ``N_c``.

Priors (population level, partial pooling across series):

* ``x0``: as the sigmoid's threshold (stage 1 ``StudentT(4, x_mid, 2.5)``, population StudentT(4)).
* ``mu_log_alpha ~ Normal(log 0.5, 1)``, ``sigma_log_alpha ~ Gamma(2, 2)``; stage 1
  ``log_alpha ~ StudentT(4, log 0.5, 1.5)``. Published
  scaling-law exponents of loss in parameters span about 0.07-0.5: Kaplan et al. (2020)
  alpha_N = 0.076, Hoffmann et al. (2022) 0.34 (Besiroglu et al. 2024 replication 0.35),
  Henighan et al. (2020) 0.07-0.4 across modalities, Caballero et al. (2022) similar for
  downstream tasks. The per-item loss of a task (``-log P(correct)``) has no irreducible part and
  can fall faster than the total loss, so the prior is centred a little higher (median 0.5,
  a 10 %-90 % width of 2.7 decades) and its 95 % range 0.07-3.6 covers Kaplan's exponent as well
  as curves sharper than 1 decade (alpha > 1.34, prior probability 0.16). The model therefore
  *prefers* smooth rises, as the hypothesis it stands for, but is not forbidden to be sharp.

Sharpness: the 10 %-90 % width is ``1.339 / alpha`` decades (independent of ``L``), reported by
``Fit.summary()`` like the sigmoid's, so P(sharp) is comparable across families.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import curves as C
from .base import CurveModel, ModelData, Prior, SeriesParam, stage1_prior, threshold_param


class PowerLawModel(CurveModel):
    """Hierarchical Gumbel-in-log-scale (power-law loss) model; see the module docstring."""

    name = "powerlaw"
    curve = C.POWERLAW
    curve_data = ("L",)
    params = (
        threshold_param("log10 scale at mid-rise (reference answer length)"),
        SeriesParam("log_alpha", stage1_prior(float(np.log(0.5)), 1.5),
                    Prior("Normal", {"mu": float(np.log(0.5)), "sigma": 1.0}),
                    Prior("Gamma", {"alpha": 2.0, "beta": 2.0}),
                    doc="log of the power-law exponent of the per-item (per-token) loss"),
    )

    @classmethod
    def data_arrays(cls, md: ModelData, obs: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
        """Base arrays plus ``L`` (relative answer length) when the table has it."""
        out = super().data_arrays(md, obs)
        rel = relative_answer_tokens(md.obs)
        if rel is None:
            return out
        obs = md.obs if obs is None else obs
        out["L"] = rel.reindex(obs.index).fillna(1.0).to_numpy(float)
        return out


def relative_answer_tokens(obs: pd.DataFrame) -> pd.Series | None:
    """Answer length relative to its series' geometric mean (1 where missing); None if absent.

    Parameters
    ----------
    obs : pandas.DataFrame
        The model's rows (``ModelData.obs``) with ``series_idx`` and optionally ``answer_tokens``.
    """
    if "answer_tokens" not in obs or not obs["answer_tokens"].notna().any():
        return None
    tok = obs["answer_tokens"].astype(float)
    if (tok <= 0).any():
        from ..errors import EmergenceDataError

        bad = obs.loc[tok <= 0, "row"].head(5).tolist()
        raise EmergenceDataError(
            f"column 'answer_tokens' must be positive (tokens in the answer); rows {bad} are not. "
            "Fix or remove those values (missing values mean 'use the series' typical length')."
        )
    logt = np.log(tok)
    ref = logt.groupby(obs["series_idx"]).transform("mean")
    out: Any = np.exp((logt - ref).fillna(0.0))
    return pd.Series(out, index=obs.index, name="L")
