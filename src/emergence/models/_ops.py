"""What the likelihoods need from PyTensor's JAX backend and it gets wrong.

The samplers compile PyMC's graphs to JAX and take gradients with ``jax.grad``; a JAX
implementation whose unused ``jnp.where`` branch overflows gives a NaN gradient where the value
is right. :func:`register_jax_fixes` replaces such implementations; the engine calls it before
every compilation to JAX.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def register_jax_fixes() -> None:
    """Compile PyTensor's ``softplus`` to ``jax.nn.softplus``.

    PyTensor (3.3) compiles it to nested ``jnp.where`` branches, one of which is
    ``x + exp(-x)``: for ``x`` below about -709 that branch is ``inf``, unused by the value but
    not by ``jax.grad``, where ``0 * inf`` makes the gradient NaN. PyTensor rewrites
    ``log1p(exp(x))`` into ``softplus``, so the count likelihood's gradient was NaN at every
    logit mean below -745 (measured 2026-11-27; tests/test_likelihoods.py).
    ``jax.nn.softplus`` (``logaddexp(x, 0)``) has the same values and a finite gradient.

    Examples
    --------
    >>> register_jax_fixes()
    """
    from pytensor.link.jax.dispatch import jax_funcify
    from pytensor.scalar.math import Softplus

    @jax_funcify.register(Softplus)
    def _softplus(op: Any, **kwargs: Any) -> Any:
        import jax

        return jax.nn.softplus
