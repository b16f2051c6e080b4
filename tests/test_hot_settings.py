"""Hot settings (issue 14 part 2): zones, blurring, distress and fall thresholds reach a
running worker without a restart, so a fall's events stay open and a long lie's clock goes
on. Before, any camera change restarted the worker, which ended every open fall and long lie
(alerts said they had ended) and started the long-lie clock again.

The loop is fed a real fall (URFD fall-01) frame by frame on the test's own clock, 10 frames
a second, so nothing here depends on how fast this machine is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings, Zone
from affectlens.pipeline import Pipeline
from affectlens.service.camera import LiveFrame
from affectlens.service.messages import EventEnded, EventStarted, Message, Preview
from affectlens.service.worker import (
    CameraLoop,
    CameraSpec,
    HotSettings,
    make_session,
    needs_new_worker,
)

T0 = 1_800_000_000.0  # the test's clock, seconds since the epoch
FPS = 10.0
LONG_LIE_S = 3.0
CORNER = Zone(name="chair", kind="chair", points=((0, 0), (30, 0), (30, 30), (0, 30)))


def frames_of(video: Path, every: int = 3) -> list[np.ndarray]:
    """The 30 fps test video at 10 fps."""
    capture, frames = cv2.VideoCapture(str(video)), []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames[::every]


def test_a_zone_edit_during_a_fall_keeps_its_events_and_the_long_lie_clock(
    pipeline_for: Callable[..., Pipeline], fall_video: Path
) -> None:
    pipeline = pipeline_for()
    falls = FallSettings(long_lie_s=LONG_LIE_S, clip_before_s=0, clip_after_s=0)
    spec = CameraSpec(1, "file:///fall.mp4", "care_safety", FPS, analysis=pipeline.config,
                      preview_fps=0.0, falls=falls, generation=1)
    sent: list[Message] = []
    loop = CameraLoop(spec, make_session(spec, pipeline), sent.append)
    video = frames_of(fall_video)
    held = [video[-1]] * int(8 * FPS)  # the person stays on the floor 8 s more
    frames, done = video + held, [0]  # frames of the scene; how many were fed

    def feed(count: int, until: Callable[[], bool] = lambda: False) -> float:
        """Feeds the next ``count`` frames (or fewer, once ``until``); returns the last's time."""
        at = T0
        for _ in range(count):
            index = done[0]
            at = T0 + index / FPS
            loop.analyse(LiveFrame(frames[min(index, len(frames) - 1)], index, at))
            done[0] += 1
            if until():
                break
        return at

    def started(kind: str) -> list[EventStarted]:
        return [m for m in sent if isinstance(m, EventStarted) and m.kind == kind]

    feed(len(video), lambda: bool(started("fall")))
    (fall,) = started("fall")
    # One second after the fall fired, before the long lie: the zones and thresholds change.
    edited_at = feed(int(FPS))
    new_falls = falls.model_copy(update={"zones": (CORNER,), "min_probability": 0.8})
    hot = HotSettings(True, DistressSettings(threshold=0.8), new_falls, 2)
    assert not needs_new_worker(spec, spec.with_hot(hot))  # pushed, not restarted
    loop.apply(hot)
    assert loop.spec.falls.zones == (CORNER,) and loop.session.distress.settings.threshold == 0.8
    feed(len(held), lambda: bool(started("long_lie")))
    (long_lie,) = started("long_lie")
    # The clock ran on through the edit: the long lie counts from the first floor frame, and
    # fired sooner after the edit than a clock started again by it would have let it.
    assert long_lie.started_at == fall.started_at and long_lie.track_id == fall.track_id
    assert long_lie.observed_at - long_lie.started_at >= timedelta(seconds=LONG_LIE_S)
    edit = datetime.fromtimestamp(edited_at, UTC)
    assert long_lie.observed_at < edit + timedelta(seconds=LONG_LIE_S)
    # A second edit during the long lie: both events stay open while the worker runs.
    loop.apply(replace(hot, falls=falls, generation=3))
    feed(int(2 * FPS))
    assert not [m for m in sent if isinstance(m, EventEnded)]
    assert len(started("fall")) == len(started("long_lie")) == 1
    loop.finish()  # the worker stops: the person is still down, so both stay open for
    assert not [m for m in sent if isinstance(m, EventEnded)]  # the next run (test_restart_falls)


def test_pictures_carry_the_generation_of_the_settings_they_were_made_under(
    pipeline_for: Callable[..., Pipeline], portrait: np.ndarray
) -> None:
    """Blurring changed while running: previews say which settings made them, so the
    service drops older ones by one comparison (test_blur_switch covers the service side)."""
    pipeline = pipeline_for()
    spec = CameraSpec(1, "file:///x.mp4", "care_safety", FPS, analysis=pipeline.config,
                      preview_fps=1000.0, blur_faces=False, generation=4)
    sent: list[Message] = []
    loop = CameraLoop(spec, make_session(spec, pipeline), sent.append)
    loop.analyse(LiveFrame(portrait, 0, T0))
    loop.apply(replace(spec.hot(), blur_faces=True, generation=5))
    loop.analyse(LiveFrame(portrait, 1, T0 + 0.1))
    previews = [m for m in sent if isinstance(m, Preview)]
    assert [p.generation for p in previews] == [4, 5]
    loop.finish()


@pytest.mark.parametrize(("change", "restart"), [
    ({"url": "rtsp://h/other"}, True),
    ({"purpose": "anonymous_statistics"}, True),
    ({"analysis_fps": 5.0}, True),
    ({"falls": None}, True),  # no pose model any more
    ({"falls": FallSettings(clip_after_s=9)}, True),  # the clip buffer's size
    ({"falls": FallSettings(long_lie_s=90, zones=(CORNER,))}, False),
    ({"blur_faces": False}, False),
    ({"distress": DistressSettings(hold_s=30)}, False),
    ({"generation": 9}, False),
])
def test_what_needs_a_new_worker(change: dict, restart: bool) -> None:
    running = CameraSpec(1, "rtsp://h/s", "care_safety", 10.0, falls=FallSettings())
    assert needs_new_worker(running, replace(running, **change)) is restart
