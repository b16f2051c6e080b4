"""The HTML report on hand-built results: what it shows when little or nothing was found
(no models needed: the tables are built here as analyze builds them)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from affectlens.events.event import EVENT_COLUMNS
from affectlens.people import PERSON_COLUMNS
from affectlens.report import plots
from affectlens.report.html import render
from affectlens.result import SOURCE_COLUMNS, Result, frames_table


def _source(name: str, kind: str, frames: int, faces: int = 0, tracks: int = 0) -> dict:
    return {"source": name, "kind": kind, "width": 640, "height": 360, "native_fps": 24.0,
            "frames_analysed": frames, "faces": faces, "tracks": tracks, "status": "ok",
            "message": ""}


def _person(source: str, frame: int, track: int | None, state: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(PERSON_COLUMNS, 0.5)
    return row | {"source": source, "frame": frame, "time_s": frame / 24, "track_id": track,
                  "state": state}


def _result(sources: list[dict], persons: list[dict], events: list[dict] | None = None,
            settings: dict | None = None) -> Result:
    return Result(
        frames=frames_table([]), sources=pd.DataFrame(sources, columns=SOURCE_COLUMNS),
        settings=settings or {}, persons=pd.DataFrame(persons, columns=PERSON_COLUMNS),
        events=pd.DataFrame(events or [], columns=EVENT_COLUMNS),
    )


def test_no_empty_body_chart_when_no_state_was_recorded() -> None:
    """A close-up (head and shoulders only) and a photo: people tracked, never judged. No
    chart, one line each saying why."""
    persons = [_person("closeup.mp4", f, 1, None) for f in range(480)]
    persons += [_person("closeup.mp4", 7, 2, None), _person("group.jpg", 0, 1, None)]
    html = render(_result([_source("closeup.mp4", "video", 480),
                           _source("group.jpg", "image", 1)], persons))
    assert "body state timeline" not in html and "body states</h3>" not in html
    assert "closeup.mp4: no body state recorded; no person was seen fully enough" in html
    assert "group.jpg: no body state recorded; a photo has no time line" in html


def test_body_chart_rows_only_for_people_with_a_state() -> None:
    """Person 1 judged upright; person 2 (one frame, never judged) is no row of the chart."""
    persons = [_person("walk.mp4", f, 1, "upright") for f in range(48)]
    persons.append(_person("walk.mp4", 10, 2, None))
    result = _result([_source("walk.mp4", "video", 48)], persons)
    html = render(result)
    assert html.count("body state timeline per person") == 1
    assert plots.charted_tracks(result.persons, result.events) == [1]


def test_faces_detected_but_not_tracked_is_said_as_such() -> None:
    """The sources table counts 2 faces: the report must not say none was found."""
    html = render(_result([_source("brief.mp4", "video", 30, faces=2)], []))
    assert "No face was found" not in html
    assert "No face was tracked: 2 faces detected, none seen on two analysed frames" in html
    one = _result([_source("brief.mp4", "video", 30, faces=1)], [])
    assert one.no_tracks_reason().startswith("No face was tracked: 1 face detected,")
    assert "No face was found in any input." in render(_result([_source("x.mp4", "video", 3)],
                                                               []))


def test_settings_read_as_settings_not_python() -> None:
    """Groups as nested tables, unset values and empty lists in words, no Python reprs."""
    settings = {"fps": None, "pose": True, "min_face_px": 24.0,
                "falls": {"long_lie_s": 30.0, "zones": [], "lost_s": None}}
    html = render(_result([_source("x.mp4", "video", 3)], [], settings=settings))
    table = html[html.index("<h2>Settings</h2>"):]
    assert "{" not in table and "None" not in table and "[]" not in table
    assert "<th>fps</th><td><span class='muted'>not set</span></td>" in table
    assert "<th>falls</th><td><table><tr><th>long_lie_s</th><td>30.0</td>" in table
    assert "<th>zones</th><td><span class='muted'>none</span></td>" in table
    assert "<th>pose</th><td>yes</td>" in table
