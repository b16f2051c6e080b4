"""The offline report: one self-contained HTML file (pictures inlined) a researcher can share.

Every thumbnail in it is blurred; with blurring switched off for an annotated video the
report says so at the top. An ``anonymous_statistics`` job's report shows the aggregate
counts per input only: no track, thumbnail or expression.
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from affectlens.report import plots
from affectlens.report import voice as voice_report
from affectlens.result import Result
from affectlens.version import __version__
from affectlens.vocabulary import FALL_KINDS

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .muted{color:#666;font-size:.9rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left}
th{background:#f4f4f4} td table{margin:0} .error{color:#b00020} .warning{color:#a15c00}
.track{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start;border-top:1px solid #eee;
padding:1rem 0}
.track img.thumb{width:160px;border-radius:4px} .alert{background:#b00020;color:#fff;
padding:.6rem 1rem;border-radius:4px;font-weight:600}
"""
TABLE_COLUMNS = ["source", "kind", "width", "height", "frames_analysed", "faces", "tracks",
                 "status", "message"]


def _img(png: bytes, alt: str, css: str = "") -> str:
    data = base64.b64encode(png).decode()
    return f'<img class="{css}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _thumbnail(image: np.ndarray | None) -> str:
    if image is None:
        return ""
    ok, png = cv2.imencode(".png", image)
    return _img(png.tobytes(), "track thumbnail, face blurred", "thumb") if ok else ""


def _sources_table(sources: pd.DataFrame) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in TABLE_COLUMNS)
    body = []
    for row in sources.to_dict(orient="records"):
        cells = "".join(
            f"<td>{escape('' if pd.isna(row[c]) else str(row[c]))}</td>" for c in TABLE_COLUMNS
        )
        body.append(f'<tr class="{escape(str(row["status"]))}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _track_section(result: Result, track: dict) -> str:
    frames = result.frames
    rows = frames[(frames.source == track["source"]) & (frames.track_id == track["track_id"])]
    thumb = _thumbnail(result.thumbnails.get((track["source"], int(track["track_id"]))))
    # Without it a reader takes the blurred thumbnail for a failed picture.
    caption = "<p class='muted'>Face blurred for privacy.</p>" if thumb else ""
    shares = rows.expression.value_counts(normalize=True)
    timeline = _img(plots.track_timeline(rows), "expression timeline") if len(rows) > 1 else ""
    facts = (
        f"<b>Track {track['track_id']}</b><br>{track['first_s']:.1f}-{track['last_s']:.1f} s, "
        f"{track['frames']} frames<br>dominant expression: "
        f"<b>{escape(track['dominant_expression'])}</b><br>"
        f"age band: <b>{escape(track['age_band'])}</b> (estimate {track['age']:.0f})"
    )
    return (
        f'<div class="track"><div>{thumb}{caption}<p>{facts}</p></div>'
        f"<div>{timeline}</div>"
        f"<div>{_img(plots.expression_mix(shares, 'expression mix'), 'expression mix')}</div></div>"
    )


def _events_table(events: pd.DataFrame) -> str:
    """One row per event, no pictures (a track identifies no one): a fall or long lie names
    its person track (body), distress its face track."""
    if events.empty:
        return "<p>No fall, long lie, inactivity or distress event.</p>"
    head = "".join(f"<th>{c}</th>" for c in ("source", "event", "track", "from (s)",
                                              "detected (s)", "ended (s)", "probability", "zone"))
    rows = []
    for e in events.to_dict(orient="records"):
        cells = [Path(e["source"]).name, e["kind"], e["track_id"], e["started_s"],
                 e["detected_s"], e["ended_s"], e["confidence"], e["zone"]]
        rows.append("<tr>" + "".join(
            f"<td>{'' if pd.isna(c) else escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _body_timelines(result: Result) -> list[str]:
    """Per input where someone's body was tracked: each person's state over time and the
    events, so a reader sees what led up to a fall (and what a missed one looked like).

    Only people with a recorded state or an event get a row, and an input with none gets one
    line saying why instead of an empty chart: the rule judges a state only from enough of a
    body (shoulders and hips), and never in a photo (no time line)."""
    persons, events = result.persons, result.events
    if persons is None or events is None or persons.empty:
        return []
    parts = []
    for source, group in persons.groupby("source", sort=False):
        if not (group.track_id >= 1).any():
            continue
        mine = events[(events.source == source) & events.kind.isin(FALL_KINDS)]
        name = escape(Path(source).name)
        if not plots.charted_tracks(group, mine) and mine.empty:
            kinds = result.sources.loc[result.sources.source == source, "kind"]
            why = ("a photo has no time line, and body states are followed in videos only"
                   if (kinds == "image").any() else
                   "no person was seen fully enough (shoulders and hips) to judge upright "
                   "or down")
            parts.append(f"<p class='muted'>{name}: no body state recorded; {why}.</p>")
            continue
        parts += [f"<h3>{name}: body states</h3>",
                  _img(plots.body_timeline(group, mine), "body state timeline per person")]
    return parts


def _statistics(result: Result) -> list[str]:
    """anonymous_statistics: one row of counts per input, blank where suppressed."""
    assert result.statistics is not None
    k = result.settings.get("min_group")
    table = result.statistics.assign(source=result.statistics.source.map(lambda s: Path(s).name))
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{'' if pd.isna(v) else escape(str(v))}</td>" for v in row)
        + "</tr>" for row in table.itertuples(index=False))
    return [
        "<h2>Anonymous statistics</h2>",
        f"<p>Purpose <b>anonymous_statistics</b>: faces and people counted and people per "
        f"age band, per input, over at least {k} people (min_group); an input with fewer "
        "has its counts suppressed. No individual is shown.</p>",
        f"<table><tr>{head}</tr>{rows}</table>",
    ]


def _setting(value: object) -> str:
    """One setting as a reader wants it: a group (falls, voice) as a table of its own, an
    unset value as 'not set' (Python's None means nothing to a reader), a list by items."""
    if isinstance(value, dict):
        return _settings_table(value)
    if value is None:
        return "<span class='muted'>not set</span>"
    if isinstance(value, list | tuple):
        return escape(", ".join(map(str, value))) if value else "<span class='muted'>none</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _settings_table(settings: dict) -> str:
    rows = "".join(f"<tr><th>{escape(str(key))}</th><td>{_setting(value)}</td></tr>"
                   for key, value in settings.items())
    return f"<table>{rows}</table>"


def render(result: Result, blurred: bool = True) -> str:
    """The report as one HTML string."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    about = (
        "Counts of people and faces only, never a person." if result.anonymous else
        "Expressions are what a face shows, estimated by a model with known error (see the "
        "model cards); they are not a reading of anyone's feelings. Track numbers are local "
        "to one video and identify no one."
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>affectlens report</title><style>{STYLE}</style></head><body>",
        "<h1>affectlens report</h1>",
        f"<p class='muted'>affectlens {__version__}, {escape(when)}. {about}</p>",
    ]
    if not blurred:
        parts.append("<p class='alert'>Faces were NOT blurred in the annotated videos of this "
                     "run (--no-blur was given).</p>")
    parts += ["<h2>Inputs</h2>", _sources_table(result.sources)]
    if result.events is not None:
        parts += ["<h2>Events: falls, long lies, inactivity and distress</h2>",
                  _events_table(result.events)]
        parts += _body_timelines(result)
    tracks = result.tracks
    voiced = voice_report.sources_with_voice(result.voice)
    for source in dict.fromkeys([*tracks.source.unique(), *voiced]):  # faces, then voice
        parts.append(f"<h2>{escape(Path(source).name)}</h2>")
        group = tracks[tracks.source == source]
        parts += [_track_section(result, t) for t in group.to_dict(orient="records")]
        parts += voice_report.section(result.voice, source)
    if result.anonymous:
        parts += _statistics(result)
    elif tracks.empty:
        parts.append(f"<p>{escape(result.no_tracks_reason())}</p>")
    parts += ["<h2>Settings</h2>", _settings_table(result.settings), "</body></html>"]
    return "\n".join(parts)


def write_report(result: Result, path: Path, blurred: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, blurred), encoding="utf-8")
    return path
