"""Figures inlined in reports: SVG (vector) by default, PNG at 150 dpi on request."""

from __future__ import annotations

import base64
import io
from typing import Any

PNG_DPI = 150


def figure_uri(fig: Any, fmt: str = "svg") -> str:
    """A matplotlib figure as a ``data:`` URI (the figure is closed).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"svg", "png"}
        SVG keeps lines and text sharp at any zoom and in the PDF; PNG is written at
        :data:`PNG_DPI` dots per inch.

    Returns
    -------
    str

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> figure_uri(plt.figure(figsize=(1, 1))).startswith("data:image/svg+xml;base64,")
    True
    """
    import matplotlib
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    if fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "emergence", "svg.fonttype": "path"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
        mime = "image/svg+xml"
    elif fmt == "png":
        fig.savefig(buf, format="png", dpi=PNG_DPI)
        mime = "image/png"
    else:
        raise ValueError(f"figure format {fmt!r}: use 'svg' or 'png'.")
    plt.close(fig)
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
