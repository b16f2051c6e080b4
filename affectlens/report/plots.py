"""The report's pictures, as PNG bytes.

Figures are built with matplotlib's object API (``Figure``), not pyplot, so no global
backend or figure registry is touched and nothing needs a display.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from affectlens.result import SMOOTHED_COLUMNS
from affectlens.types import EXPRESSIONS, UNCERTAIN

COLOURS = {
    "angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#f2b701",
    "neutral": "#7f7f7f", "sad": "#1f77b4", "surprise": "#17becf", UNCERTAIN: "#dddddd",
}


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return buffer.getvalue()


def track_timeline(rows: pd.DataFrame) -> bytes:
    """Smoothed expression probabilities over time, and the dominant label as a strip below."""
    fig = Figure(figsize=(6.2, 2.6))
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
    times = rows.time_s.to_numpy()
    for name, column in zip(EXPRESSIONS, SMOOTHED_COLUMNS):
        ax.plot(times, rows[column], color=COLOURS[name], label=name, linewidth=1.6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.28), frameon=False)
    ax.grid(alpha=0.3)
    step = (times[1:] - times[:-1]).min() if len(times) > 1 else 0.1
    for time, label in zip(times, rows.expression):
        strip.axvspan(time - step / 2, time + step / 2, color=COLOURS[label], linewidth=0)
    strip.set_yticks([])
    strip.set_ylabel("dominant", rotation=0, ha="right", va="center", fontsize=8)
    strip.set_xlabel("time (s)")
    return png(fig)


def expression_mix(shares: pd.Series, title: str) -> bytes:
    """Horizontal bars: share of analysed face-frames per dominant expression."""
    shares = shares.reindex([*EXPRESSIONS, UNCERTAIN], fill_value=0.0)
    fig = Figure(figsize=(3.4, 2.4))
    ax = fig.subplots()
    ax.barh(shares.index, shares.to_numpy(), color=[COLOURS[n] for n in shares.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of face-frames")
    ax.set_title(title, fontsize=9)
    for i, value in enumerate(shares.to_numpy()):
        if value > 0:
            ax.text(min(value + 0.02, 0.9), i, f"{value:.0%}", va="center", fontsize=7)
    return png(fig)
