"""The report's voice timeline: under an input's face timelines, how the voice sounded when.

Shows the windows' arousal and valence over time and their labels as a strip; no waveform,
no spectrogram, nothing from which speech could be recovered.
"""

from __future__ import annotations

import base64
from html import escape

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from affectlens.report.plots import COLOURS, png
from affectlens.types import UNCERTAIN
from affectlens.voice.engine import VoiceOutput
from affectlens.voice.model import VOICE_CLASSES

VOICE_COLOURS = {**COLOURS, "calm": "#2ca02c"}


def timeline(windows: pd.DataFrame) -> bytes:
    """Arousal and valence per window (a line through the window's middle), labels below."""
    fig = Figure(figsize=(6.2, 2.6))
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
    middle = ((windows.start_s + windows.end_s) / 2).to_numpy()
    ax.axhline(0, color="#bbbbbb", linewidth=0.8)
    ax.plot(middle, windows.arousal, "-o", color="#d62728", markersize=3, label="arousal")
    ax.plot(middle, windows.valence, "-o", color="#1f77b4", markersize=3, label="valence")
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("score")
    ax.legend(ncol=2, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.25), frameon=False)
    for row in windows.itertuples():
        strip.axvspan(row.start_s, row.end_s, color=VOICE_COLOURS.get(row.label, "#dddddd"),
                      alpha=0.8, linewidth=0)
    strip.set_yticks([])
    strip.set_xlabel("time (s)")
    present = [c for c in (*VOICE_CLASSES, UNCERTAIN) if (windows.label == c).any()]
    strip.legend(handles=[Patch(color=VOICE_COLOURS[c], label=c) for c in present],
                 ncol=len(present), fontsize=7, loc="upper center",
                 bbox_to_anchor=(0.5, -0.9), frameon=False)
    return png(fig)


def section(voice: VoiceOutput | None, source: str) -> list[str]:
    """HTML for one input's voice: its timeline, or one line saying why there is none."""
    if voice is None:
        return []
    entry = next((e for e in voice.sources if e["source"] == source), None)
    if entry is None:
        return []
    if entry["status"] == "error":
        return [f"<p class='error'>Voice: {escape(entry.get('message', 'error'))}</p>"]
    rows = voice.windows[voice.windows.source == source]
    if rows.empty:
        return [f"<p class='muted'>Voice: {escape(entry['status'])} "
                f"({entry['audio_s']:.1f} s of audio).</p>"]
    mix = ", ".join(f"{k} {v:.0%}" for k, v in entry.get("label_mix", {}).items())
    data = base64.b64encode(timeline(rows)).decode()
    return [
        "<h3>Tone of voice</h3>",
        f"<p>{len(rows)} windows over {entry['speech_s']:.1f} s of speech in "
        f"{entry['audio_s']:.1f} s of audio; labels: {escape(mix)}. Mean arousal "
        f"{entry['mean_arousal']:+.2f}, valence {entry['mean_valence']:+.2f} (-1 to +1). "
        "How the voice sounds, estimated by a research-only model trained on acted North "
        "American English (see its model card); not what anyone feels.</p>",
        f'<img alt="voice timeline: arousal, valence and label per window" '
        f'src="data:image/png;base64,{data}">',
    ]


def sources_with_voice(voice: VoiceOutput | None) -> list[str]:
    return [e["source"] for e in voice.sources] if voice else []
