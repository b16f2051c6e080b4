"""The report's pictures, as PNG bytes.

Figures are built with matplotlib's object API (``Figure``), not pyplot, so no global
backend or figure registry is touched and nothing needs a display.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from affectlens.result import SMOOTHED_COLUMNS
from affectlens.types import EXPRESSIONS, UNCERTAIN
from affectlens.vocabulary import EventKind

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


STATE_COLOURS = {
    "upright": "#9ecae1", "falling": "#fd8d3c", "on_floor": "#d62728", "lying": "#756bb1",
    "recovered": "#31a354",
}
EVENT_MARKERS = {EventKind.FALL: ("v", "#d62728"), EventKind.LONG_LIE: ("s", "#7f0000"),
                 EventKind.INACTIVITY: ("o", "#636363")}


def _state_runs(times: list[float], states: list[object], step: float
                ) -> list[tuple[str, float, float]]:
    """(state, start, length) for each run of one state; a gap longer than two frames
    (the person unseen) ends a run."""
    runs: list[tuple[str, float, float]] = []
    for time, state in zip(times, states):
        if not isinstance(state, str) or state not in STATE_COLOURS:
            continue
        if runs and runs[-1][0] == state and time - (runs[-1][1] + runs[-1][2]) <= 2 * step:
            runs[-1] = (state, runs[-1][1], time + step / 2 - runs[-1][1])
        else:
            runs.append((state, time - step / 2, step))
    return runs


def charted_tracks(persons: pd.DataFrame, events: pd.DataFrame) -> list[int]:
    """The person tracks worth a row: those with a recorded state or an event. A track
    never judged (too little of the body seen) would be an empty row."""
    judged = persons[persons.state.isin(list(STATE_COLOURS))].track_id
    tracks = set(judged.dropna().astype(int)) | set(events.track_id.dropna().astype(int))
    return sorted(t for t in tracks if t >= 1)


def body_timeline(persons: pd.DataFrame, events: pd.DataFrame) -> bytes:
    """One row per person track: its state over time as coloured spans where the person was
    seen, a hatched span from a fall's first floor frame to its end (the rule holds a fallen
    person on the floor while the pose model loses them), and the events where the rule fired
    them; inactivity (a zone's, no track) on a row of its own."""
    tracks = charted_tracks(persons, events)
    rows = {track: n for n, track in enumerate(tracks)}
    zones = bool(events.track_id.isna().any()) if not events.empty else False
    labels = [f"person {t}" for t in tracks] + (["zones"] if zones else [])
    fig = Figure(figsize=(6.2, 0.9 + 0.38 * len(labels)))
    ax = fig.subplots()
    distinct = persons.time_s.drop_duplicates().sort_values()
    step = float(distinct.diff().min()) if len(distinct) > 1 else 0.1
    for track, group in persons[persons.track_id.isin(tracks)].groupby("track_id"):
        for state, start, length in _state_runs(group.time_s.tolist(), group.state.tolist(),
                                                step):
            ax.broken_barh([(start, length)], (rows[int(track)] - 0.35, 0.7),
                           color=STATE_COLOURS[state], linewidth=0)
    end = float(persons.time_s.max())
    for event in events[events.kind == EventKind.FALL].to_dict(orient="records"):
        if pd.notna(event["track_id"]) and int(event["track_id"]) in rows:
            until = event["ended_s"] if pd.notna(event["ended_s"]) else end
            ax.broken_barh([(event["started_s"], until - event["started_s"])],
                           (rows[int(event["track_id"])] - 0.35, 0.7), facecolor="none",
                           edgecolor=STATE_COLOURS["on_floor"], hatch="///", linewidth=0.5)
    for event in events.to_dict(orient="records"):
        marker, colour = EVENT_MARKERS.get(event["kind"], ("x", "black"))
        track = event.get("track_id")
        row = rows.get(int(track), len(tracks)) if pd.notna(track) else len(tracks)
        ax.plot(event["detected_s"], row, marker=marker, color=colour, markersize=9,
                markeredgecolor="white", linestyle="none")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=c, label=n.replace("_", " ")) for n, c in STATE_COLOURS.items()]
    handles.append(Patch(facecolor="none", edgecolor=STATE_COLOURS["on_floor"], hatch="///",
                         label="down after a fall (also unseen)"))
    handles += [Line2D([], [], marker=m, color=c, linestyle="none", label=k.replace("_", " "))
                for k, (m, c) in EVENT_MARKERS.items()]
    fig.legend(handles=handles, ncol=5, fontsize=7, loc="lower center",
               bbox_to_anchor=(0.5, 1.0), frameon=False)
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
