"""Fast mode for the documentation tests (tests/test_docs.py), loaded at interpreter start-up
when this folder is on PYTHONPATH and ``EMERGENCE_DOCS_FAST=1``.

Every :class:`emergence.config.Config` created gets at most ``EMERGENCE_DOCS_DRAWS`` draws and
tuning steps (default 100): the documented commands run as written, on few draws. Nothing else
changes; without the variable this file does nothing.
"""

import os


def _install() -> None:
    cap = int(os.environ.get("EMERGENCE_DOCS_DRAWS", "100"))
    try:
        from emergence.config import Config
    except ImportError:  # not the emergence environment
        return
    if getattr(Config, "_docs_fast", False):
        return
    original = Config.__post_init__

    def capped(self: Config) -> None:
        for name in ("draws", "tune"):
            value = getattr(self, name)
            if isinstance(value, int) and value > cap:
                object.__setattr__(self, name, cap)
        original(self)

    Config.__post_init__ = capped
    Config._docs_fast = True


if os.environ.get("EMERGENCE_DOCS_FAST") == "1":
    _install()
