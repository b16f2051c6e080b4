"""The live demo's cameras raise what they are there to show, through the real models and
rules: the bedroom's drawn figure a fall (with its clip) and a long lie, the lounge's face a
distress event, the garden camera camera_offline. Each video is fed through the worker's
CameraLoop on the video's own clock, so a change to the pose model, the fall rule or the
expression model that the demo would no longer show fails here, not in front of a visitor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from waiting import wait_until

from affectlens.pipeline import Pipeline
from affectlens.samples import SadScene
from affectlens.samples.figure import FallScene
from affectlens.service.camera import LiveFrame
from affectlens.service.demo import DEMO_FALLS, demo_site
from affectlens.service.messages import EventEnded, EventStarted, Message
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.service.worker import (
    CameraLoop,
    CameraSpec,
    CameraWorker,
    make_session,
)
from affectlens.sources import open_media
from affectlens.store import Store

T0 = 1_800_000_000.0  # the loop's wall clock at the video's first frame


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> SiteConfig:
    return demo_site(tmp_path_factory.mktemp("demo"))


def camera(site: SiteConfig, name: str) -> CameraConfig:
    (found,) = [c for c in site.cameras if c.name == name]
    return found


def play(config: CameraConfig, pipeline: Pipeline, until_s: float) -> list[Message]:
    """The camera's video up to ``until_s`` through the worker's loop, every frame at its
    time; the messages it sent, the ones at finish() included."""
    spec = CameraSpec(1, config.url, config.purpose, config.analysis_fps, config.distress,
                      pipeline.config, falls=config.falls, preview_fps=0, masks=config.masks)
    sent: list[Message] = []
    loop = CameraLoop(spec, make_session(spec, pipeline), sent.append)
    for frame in open_media(Path(urlsplit(config.url).path), config.analysis_fps).frames():
        if frame.timestamp > until_s:
            break
        loop.analyse(LiveFrame(frame.image, frame.index, T0 + frame.timestamp))
    loop.finish()
    return sent


def seconds(at: datetime) -> float:
    return at.timestamp() - T0


def test_the_bedroom_figure_falls_lies_long_and_gets_up(
    site: SiteConfig, pipeline_for: Callable[..., Pipeline]
) -> None:
    bedroom = camera(site, "demo bedroom")
    assert bedroom.falls == DEMO_FALLS and bedroom.analysis_fps == 10
    scene = FallScene()
    last_s = scene.up_s + DEMO_FALLS.recover_s + 1.0
    sent = play(bedroom, pipeline_for(fps=bedroom.analysis_fps), last_s)
    started = [m for m in sent if isinstance(m, EventStarted)]
    assert [m.kind for m in started] == ["fall", "long_lie"]  # and nothing else: no distress
    fall, long_lie = started
    # The first floor frame is in the fall's last moments; the event a few frames later.
    assert scene.fall_s <= seconds(fall.started_at) <= scene.floor_s + 0.2
    assert timedelta(0) <= fall.observed_at - fall.started_at <= timedelta(seconds=1)
    assert fall.clip and fall.snapshot and fall.confidence >= DEMO_FALLS.min_probability
    assert long_lie.started_at == fall.started_at
    assert long_lie.observed_at - long_lie.started_at == pytest.approx(
        timedelta(seconds=DEMO_FALLS.long_lie_s), abs=timedelta(seconds=0.2))
    # Both end when the figure is up again, not when the video ends.
    ended = {m.key: seconds(m.ended_at) for m in sent if isinstance(m, EventEnded)}
    for event in (fall, long_lie):
        assert scene.rise_s < ended[event.key] < last_s


def test_the_lounge_face_turns_sad_and_raises_distress(
    site: SiteConfig, pipeline_for: Callable[..., Pipeline]
) -> None:
    lounge = camera(site, "demo lounge")
    scene = SadScene()
    sent = play(lounge, pipeline_for(fps=lounge.analysis_fps), scene.length_s)
    started = [m for m in sent if isinstance(m, EventStarted)]
    assert [m.kind for m in started] == ["distress"]
    (distress,) = started
    hold = lounge.distress.hold_s
    assert scene.sad_s <= seconds(distress.started_at) <= scene.sad_s + scene.turn_s
    assert distress.observed_at - distress.started_at == pytest.approx(
        timedelta(seconds=hold), abs=timedelta(seconds=0.5))
    assert seconds(distress.observed_at) <= 20  # within the demo's first minute
    picture = cv2.imdecode(np.frombuffer(distress.snapshot, np.uint8), cv2.IMREAD_COLOR)
    (mask,) = lounge.masks  # the demo's privacy mask: black in the event's picture
    (x1, y1), _, (x2, y2), _ = mask.points
    assert picture[int(y1) : int(y2) - 3, int(x1) + 4 : int(x2)].mean() < 3
    assert picture[int(y2) + 4 :, : int(x1) - 4].mean() > 50  # the rest of the room is there
    (ended,) = [m for m in sent if isinstance(m, EventEnded)]
    assert scene.calm_s <= seconds(ended.ended_at) <= scene.calm_s + scene.turn_s + 1


def test_the_garden_camera_is_offline(site: SiteConfig, store: Store,
                                      pipeline_for: Callable[..., Pipeline]) -> None:
    garden = camera(site, "demo garden")
    assert not Path(urlsplit(garden.url).path).exists()
    registered = store.add_camera(garden.name, garden.url, garden.purpose)
    worker = CameraWorker(registered.id, garden.url, store, pipeline_for(),
                          purpose=garden.purpose).start()
    try:
        (event,) = wait_until(lambda: store.events(camera_id=registered.id), 15)
    finally:
        worker.stop()
    assert event.kind == "camera_offline"
    (health, *_) = store.health(registered.id)
    assert not health.online and "no such file" in health.message
