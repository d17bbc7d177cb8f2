"""System tools some tests use beyond pip (README "Set-up"): a test that needs one declares it
with :func:`needs`, a skip condition pytest reports with the tool and how to install it."""

from __future__ import annotations

import shutil

import pytest

#: Each tool, the names it goes by, and how to get it.
SYSTEM_TOOLS = {"chromium": (("chromium", "chromium-browser"), "apt-get install chromium"),
                "pdfinfo": (("pdfinfo",), "apt-get install poppler-utils"),
                "pdftotext": (("pdftotext",), "apt-get install poppler-utils")}


def which(tool: str) -> str | None:
    """The path of ``tool`` under any of its names, or None."""
    return next(filter(None, map(shutil.which, SYSTEM_TOOLS[tool][0])), None)


def needs(*tools: str) -> pytest.MarkDecorator:
    """Skip the test, naming the missing tools and how to install them, when any is absent."""
    missing = [t for t in tools if which(t) is None]
    how = sorted({SYSTEM_TOOLS[t][1] for t in missing})
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not found: "
                                                    f"{'; '.join(how)}")


def tool(name: str) -> str:
    """The path of a tool the test declared with :func:`needs`."""
    path = which(name)
    assert path is not None, f"{name} is missing: declare it with @needs({name!r})"
    return path
