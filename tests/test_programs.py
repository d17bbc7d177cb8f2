"""Traced programs kept on disk between processes (emergence._programs)."""
from __future__ import annotations

import numpy as np
import pytest

from emergence._programs import persistent_jit, program_dir
from emergence.engine import _jax


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENCE_JAX_CACHE", str(tmp_path))
    monkeypatch.setenv("EMERGENCE_KEEP_TRACED", "1")  # the suite's conftest turns it off
    return tmp_path / "exported"


def counting(traces: list[int]):
    """A function that records each time Python runs it (that is, each trace)."""
    jnp = _jax().numpy

    def f(x, pair):
        traces.append(1)
        return {"s": jnp.sum(x * pair[0]), "t": pair[1] @ x}

    return f


def args(n: int):
    return np.arange(float(n)), (np.float64(2.0), np.ones((2, n)))


def test_a_new_wrapper_reads_the_program_without_tracing(folder):
    traces: list[int] = []
    first = persistent_jit(counting(traces), key="test-a")
    out1 = first(*args(3))
    assert len(traces) == 1  # traced once, to export it
    assert len(list(folder.glob("*.jaxexp"))) == 1
    # a fresh wrapper stands for a new process: same file, no trace, same numbers
    again = persistent_jit(counting(traces), key="test-a")
    out2 = again(*args(3))
    assert len(traces) == 1
    ref = _jax().jit(counting([]))(*args(3))
    for k in ("s", "t"):
        np.testing.assert_array_equal(np.asarray(out1[k]), np.asarray(ref[k]))
        np.testing.assert_array_equal(np.asarray(out2[k]), np.asarray(ref[k]))


def test_the_writing_process_compiles_the_module_a_later_process_reads(folder):
    """The process that exports a program runs the exported module too, so a later process
    that reads the file finds its executable in the compilation cache (identical XLA module,
    so identical cache key). Running the plain jax.jit program instead (a different module)
    made the second process on a machine compile every program again."""
    first = persistent_jit(counting([]), key="test-f")
    first(*args(3))
    again = persistent_jit(counting([]), key="test-f")
    again(*args(3))
    (sig,) = first._calls
    text = [w._calls[sig].lower(*args(3)).as_text() for w in (first, again)]
    assert text[0] == text[1]
    assert text[0] != _jax().jit(counting([])).lower(*args(3)).as_text()


def test_new_shapes_and_keys_make_new_files(folder):
    traces: list[int] = []
    f = persistent_jit(counting(traces), key="test-b")
    f(*args(3))
    f(*args(3))
    f(*args(4))
    persistent_jit(counting(traces), key="test-b other")(*args(3))
    assert len(traces) == 3
    assert len(list(folder.glob("*.jaxexp"))) == 3


def test_an_unreadable_file_is_rebuilt(folder):
    traces: list[int] = []
    persistent_jit(counting(traces), key="test-c")(*args(3))
    (path,) = folder.glob("*.jaxexp")
    path.write_bytes(b"not a program")
    out = persistent_jit(counting(traces), key="test-c")(*args(3))
    assert len(traces) == 2
    assert float(out["s"]) == 6.0
    assert path.read_bytes() != b"not a program"


def test_an_empty_cache_setting_keeps_no_files(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENCE_JAX_CACHE", str(tmp_path))
    monkeypatch.setenv("EMERGENCE_KEEP_TRACED", "0")
    assert program_dir() is None
    monkeypatch.setenv("EMERGENCE_KEEP_TRACED", "1")
    monkeypatch.setenv("EMERGENCE_JAX_CACHE", "")
    assert program_dir() is None
    traces: list[int] = []
    assert float(persistent_jit(counting(traces), key="test-d")(*args(3))["s"]) == 6.0
    assert not list(tmp_path.rglob("*.jaxexp"))


def test_the_hmc_state_round_trips(folder):
    """The sampling programs take blackjax's HMCState (registered for serialization)."""
    from blackjax.mcmc.hmc import HMCState

    jnp = _jax().numpy
    state = HMCState([np.ones(2)], np.float64(0.5), [np.zeros(2)])

    def step(s):
        return HMCState([s.position[0] * 2], s.logdensity + 1, s.logdensity_grad)

    persistent_jit(step, key="test-e")(state)
    out = persistent_jit(step, key="test-e")(state)
    assert isinstance(out, HMCState)
    np.testing.assert_array_equal(np.asarray(out.position[0]), 2 * np.ones(2))
    assert float(jnp.asarray(out.logdensity)) == 1.5


def test_a_fit_from_exported_programs_equals_traced_and_plain_jit(tmp_path, monkeypatch):
    """The engine's programs (HMC block, importance densities, population chain) give the
    same draws, bit for bit, when traced and exported, when read back from the files by a
    fresh set of program caches (standing for a new process), and under plain ``jax.jit``
    (no cache)."""
    import emergence as em
    from emergence import engine
    from test_engine import FAST, _table

    monkeypatch.setenv("EMERGENCE_KEEP_TRACED", "1")

    def fresh_fit(cache: str):
        monkeypatch.setenv("EMERGENCE_JAX_CACHE", cache)
        for name in ("_PROGRAMS", "_IS_FNS", "_STAGE_TWO"):
            monkeypatch.setattr(engine, name, {})
        post = em.fit(_table(3), **FAST).tree["posterior"]
        return {v: post[v].values for v in post.data_vars}

    exported = fresh_fit(str(tmp_path))
    assert list((tmp_path / "exported").glob("*.jaxexp"))
    read_back = fresh_fit(str(tmp_path))
    plain = fresh_fit("")
    for v, a in exported.items():
        np.testing.assert_array_equal(a, read_back[v], err_msg=v)
        np.testing.assert_array_equal(a, plain[v], err_msg=v)


def test_a_program_that_cannot_be_exported_is_traced_with_a_warning(folder, monkeypatch):
    """Without jax.export's serialization (e.g. ``flatbuffers`` missing), the numbers are the
    same, nothing is written, and the user is told once."""
    import jax.export

    from emergence import _programs

    def broken(*a, **k):
        raise ImportError("Please install 'flatbuffers' in order to use Exported serialization")

    monkeypatch.setattr(jax.export, "export", broken)
    monkeypatch.setattr(_programs._warn_once, "done", False, raising=False)
    with pytest.warns(RuntimeWarning, match="flatbuffers.*traced again in every process"):
        out = persistent_jit(counting([]), key="test-f")(*args(3))
    assert float(out["s"]) == 6.0
    assert not list(folder.glob("*.jaxexp"))
