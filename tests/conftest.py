"""Shared fixtures: simulated score tables with known truths (fixed seeds)."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pandas as pd
import pytest

from emergence.simulate import sigmoid_population, simulate_table
from system_tools import SYSTEM_TOOLS, which

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
# Traced programs are not kept as files in the suite: most programs are compiled once there, and
# XLA compiles an exported module 11-45 % slower than the plain jax.jit one (docs/benchmarks.md,
# sessions 15 and 17; tests/test_programs.py turns the files on where it tests them).
os.environ.setdefault("EMERGENCE_KEEP_TRACED", "0")

def pytest_report_header(config):
    """Say up front which optional system tools are missing (their tests are skipped)."""
    missing = [f"{t} ({how})" for t, (_, how) in SYSTEM_TOOLS.items() if which(t) is None]
    if missing:
        return "missing system tools, their tests are skipped: " + ", ".join(missing)
    return "system tools: chromium, poppler found"


def simulate_sigmoid_table(n_tasks: int = 20, seed: int = 0, n_items: int = 1000,
                           x: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Binomial scores from per-task logistic curves drawn from the model's own population.

    Returns (tidy table, truth per task). 12 log-spaced scales from 1e8 to 1e12 by default.
    """
    truth = sigmoid_population(n_tasks, seed=seed)
    x = np.linspace(8.0, 12.0, 12) if x is None else x
    frame = simulate_table("sigmoid", truth.to_dict("records"), x, n_items=n_items, seed=seed + 1)
    return frame, truth


@pytest.fixture(scope="session")
def sim_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate_sigmoid_table()


@pytest.fixture()
def tiny_frame() -> pd.DataFrame:
    """A valid 2-task table with 4 scales each."""
    rows = []
    for task in ("a", "b"):
        for i, p in enumerate([1e8, 1e9, 1e10, 1e11]):
            rows.append({"task": task, "model": f"m{i}", "params": p, "score": 0.1 + 0.2 * i,
                         "n_items": 100, "chance": 0.0, "metric": "acc"})
    return pd.DataFrame(rows)
