"""Matplotlib figures to PNG bytes: the Agg canvas of the figure itself (no global backend state) and no
Software/timestamp metadata, so the same figure gives the same bytes (reports are compared across runs)."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
