"""The machine a benchmark ran on, one line (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform


def machine() -> str:
    """Architecture, cores, CPU model and memory of this machine.

    Examples
    --------
    >>> "cores" in machine()
    True
    """
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}, {mem:.0f} GiB"
