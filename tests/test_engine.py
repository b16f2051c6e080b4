"""One engine per source (issue 14, item 3): offline ``analyze`` and the live camera loop are
sinks of one engine, so on the same video they give the same events, and they count people
the same way. Before, they wired the stages twice and had drifted: distress existed only
live, and live age bands counted face-frames where statistics.csv counted people.

The live loop reads the file itself, unpaced (LiveCamera's replay mode: every analysis slot
kept, the file's own time line), in its own reader thread. Skips without ../shared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pandas as pd
import pytest

import affectlens
from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings
from affectlens.pipeline import Pipeline
from affectlens.result import AGE_BAND_COUNT_COLUMNS, Result
from affectlens.service.camera import LiveFrame
from affectlens.service.messages import EventStarted, Message, MinuteCounts
from affectlens.service.worker import CameraLoop, CameraSpec, make_session
from affectlens.sources import open_media
from affectlens.store.schema import AGE_BAND_COLUMNS

FPS = 10.0
# Clips off: a clip is the live sink's business, and encoding one costs time here.
FALLS = FallSettings(long_lie_s=2.0, clip_before_s=0.0, clip_after_s=0.0)
# As tests/test_worker.py: her crying at the start holds above 0.5 for over 2 s.
DISTRESS = DistressSettings(threshold=0.5, hold_s=2.0)


class _ReadThrough:
    """The loop's stop flag: set once the camera has read its file to the end and the loop
    has taken the last frame."""

    def __init__(self) -> None:
        self.loop: CameraLoop | None = None

    def is_set(self) -> bool:
        return self.loop is not None and self.loop.camera.exhausted


def live_events(video: Path, pipeline: Pipeline, falls: FallSettings | None
                ) -> tuple[list[tuple[str, float]], list[Message]]:
    """The camera loop on ``video``, unpaced: (kind, start in seconds of the file) of each
    event it started, and every message it sent."""
    spec = CameraSpec(1, f"file://{video}", "care_safety", FPS, distress=DISTRESS,
                      analysis=pipeline.config, preview_fps=0.0, falls=falls, paced=False)
    sent: list[Message] = []
    stop = _ReadThrough()
    loop = stop.loop = CameraLoop(spec, make_session(spec, pipeline), sent.append)
    loop.run(stop)
    origin = datetime.fromtimestamp(loop._started, UTC)  # the first frame's wall time
    assert loop.camera.stats.frames_dropped == 0
    return [(m.kind, (m.started_at - origin).total_seconds()) for m in sent
            if isinstance(m, EventStarted)], sent


def offline_events(result: Result) -> list[tuple[str, float]]:
    assert result.events is not None
    return [(row.kind, row.started_s) for row in result.events.itertuples()]


def assert_same_events(offline: list[tuple[str, float]], live: list[tuple[str, float]]
                       ) -> None:
    """The same kinds, each starting within one analysed frame of its twin."""
    assert Counter(k for k, _ in offline) == Counter(k for k, _ in live), (offline, live)
    for (kind, at), (twin, live_at) in zip(sorted(offline), sorted(live)):
        assert kind == twin and abs(at - live_at) <= 1 / FPS + 1e-3, (offline, live)


@pytest.fixture(scope="module")
def crying(media: Callable[[str], Path]) -> Path:
    return media("WolfgangLanger_Pexels.mp4")


@pytest.fixture(scope="module")
def crying_offline(crying: Path, models) -> Result:
    pipeline = Pipeline(affectlens.AnalysisConfig(fps=FPS, pose=False, distress=DISTRESS),
                        models=models)
    return affectlens.analyze(crying, pipeline=pipeline)


def test_offline_and_live_give_the_same_fall_events(
        fall_video: Path, pipeline_for: Callable[..., Pipeline]) -> None:
    """URFD fall-01 (its RGB half, the last frame held 4 s): a fall, then a long lie."""
    pipeline = pipeline_for(fps=FPS, falls=FALLS, distress=DISTRESS)
    offline = offline_events(affectlens.analyze(fall_video, pipeline=pipeline))
    live, _ = live_events(fall_video, pipeline, FALLS)
    assert {"fall", "long_lie"} <= {kind for kind, _ in offline}
    assert_same_events(offline, live)


def test_offline_and_live_give_the_same_distress_events(
        crying: Path, crying_offline: Result, pipeline_for: Callable[..., Pipeline]) -> None:
    offline = offline_events(crying_offline)
    live, _ = live_events(crying, pipeline_for(fps=FPS, pose=False, distress=DISTRESS), None)
    assert "distress" in {kind for kind, _ in offline}
    assert_same_events(offline, live)


def test_distress_is_in_offline_events_csv(crying_offline: Result, tmp_path: Path) -> None:
    """She cries in the first seconds and laughs at the end: one distress row (or more) near
    the start, on a face track of tracks.csv, none over the laughing end."""
    written = {p.name: p for p in crying_offline.to_csv(tmp_path)}
    assert "persons.csv" not in written  # no pose asked for: no body table
    events = pd.read_csv(written["events.csv"])
    distress = events[events.kind == "distress"]
    duration = crying_offline.frames.time_s.max()
    assert len(distress) >= 1 and distress.started_s.iloc[0] < 0.3 * duration
    assert (distress.ended_s < 0.8 * duration).all()
    assert (distress.detected_s - distress.started_s >= DISTRESS.hold_s - 1e-6).all()
    assert set(distress.track_id) <= set(crying_offline.tracks.track_id)
    assert distress.confidence.between(DISTRESS.threshold, 1.0).all()
    assert distress[["zone", "x", "y"]].isna().all().all()  # a face's: no zone, no place
    anonymous = affectlens.analyze(
        crying_offline.sources.source.iloc[0],
        affectlens.AnalysisConfig(fps=FPS, purpose="anonymous_statistics", min_group=2))
    assert anonymous.events is None  # anonymous statistics raise no event about anyone


def looped(video: Path, out: Path, times: int = 2) -> Path:
    """``video`` played ``times`` times in a row, as one file (a looping demo camera)."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while (read := capture.read())[0]:
        frames.append(cv2.resize(read[1], (640, 360)))
    capture.release()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
    for frame in frames * times:
        writer.write(frame)
    writer.release()
    return out


def test_people_are_counted_alike_offline_and_live(
        media: Callable[[str], Path], pipeline_for: Callable[..., Pipeline],
        tmp_path: Path) -> None:
    """A face that leaves the picture, looped twice: offline statistics.csv and the live
    per-minute counts say the same number of people and the same people per age band
    (each track once, by its median age), not a count of face-frames."""
    video = looped(media("face_noface.mov"), tmp_path / "loop.mp4")
    pipeline = pipeline_for(fps=FPS, purpose="anonymous_statistics", min_group=2,
                            statistics_every_s=60.0)
    (row,) = affectlens.analyze(video, pipeline=pipeline).statistics.to_dict("records")
    # Live, on the test's clock from the start of a minute, so the clip is one minute's row.
    spec = CameraSpec(1, f"file://{video}", "anonymous_statistics", FPS,
                      analysis=pipeline.config, preview_fps=0.0)
    sent: list[Message] = []
    loop = CameraLoop(spec, make_session(spec, pipeline), sent.append)
    start = datetime(2030, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    for frame in open_media(video, FPS).frames():
        loop.analyse(LiveFrame(frame.image, frame.index, start + frame.timestamp))
        loop._send_counts()  # a partial minute now and then, as every counts_every_s
    loop.finish()
    counts: Counter[str] = Counter()
    minutes = set()
    for message in sent:
        if isinstance(message, MinuteCounts):
            counts.update(message.counts)
            minutes.add(message.minute)
    assert len(minutes) == 1
    assert row["people"] >= 2  # the face came back: a new track, another person
    assert row["faces"] > 10 * row["people"]  # many face-frames each
    assert counts["people"] == row["people"] and counts["faces"] == row["faces"]
    assert {column: counts[column] for column in AGE_BAND_COLUMNS} == {
        live: row[offline] for live, offline in zip(AGE_BAND_COLUMNS, AGE_BAND_COUNT_COLUMNS)}
