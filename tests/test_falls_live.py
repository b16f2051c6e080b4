"""Falls on a live camera: URFD fall-01's RGB half played in real time through a camera worker
into a real store, as fall and long_lie events with blurred snapshots, and the fall with a
blurred clip of the seconds around it. Skips without ../shared. The clip's blurring is shown
on a moving face instead: URFD's faces are too small for the face detector even unblurred."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pictures import frame_at, last_frame, sharpness
from synthetic import moving_face_frames
from waiting import wait_until

from affectlens.engine import FrameResult, SourceSession
from affectlens.events.event import Event
from affectlens.events.fall_settings import FallSettings
from affectlens.models.pose import PoseEstimator
from affectlens.pipeline import Models, Pipeline
from affectlens.privacy.blur import BANNER_COLOUR, banner_height
from affectlens.service.camera import LiveFrame
from affectlens.service.clips import ClipBuffer
from affectlens.service.messages import EventClip, EventStarted, Message
from affectlens.service.worker import (
    CameraLoop,
    CameraSpec,
    CameraWorker,
    blurred_jpeg,
    make_session,
)
from affectlens.store import Store
from affectlens.tracking.persons import PersonTracker
from affectlens.types import Frame
from affectlens.vocabulary import EventKind


def test_a_fall_on_camera_becomes_stored_fall_and_long_lie_events(
    store: Store, pipeline_for: Callable[..., Pipeline], fall_video: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the clip buffer was given: analysed frames' times, and each clip's first floor frame.
    analysed: list[float] = []
    falls_at: list[float] = []
    add, start = ClipBuffer.add, ClipBuffer.start
    monkeypatch.setattr(ClipBuffer, "add", lambda self, at, jpeg: (
        analysed.append(at) if jpeg is not None else None, add(self, at, jpeg))[1])
    monkeypatch.setattr(ClipBuffer, "start", lambda self, key, fall_s: (
        falls_at.append(fall_s), start(self, key, fall_s))[1])
    camera = store.add_camera("room 12", "file:///clip", "care_safety")
    falls = FallSettings(long_lie_s=2.0, clip_before_s=2.0, clip_after_s=3.0)
    worker = CameraWorker(camera.id, f"file://{fall_video}", store, pipeline_for(),
                          analysis_fps=10, falls=falls, snapshots=tmp_path)
    sent: list[Message] = []
    forward = worker.loop.emit
    worker.loop.emit = lambda message: (sent.append(message), forward(message))[1]
    worker.start()
    try:
        stored = wait_until(lambda: len([e for e in store.events(camera_id=camera.id)
                                         if e.kind == "long_lie" or e.clip]) == 2, 25)
        assert stored, [(type(m).__name__, getattr(m, "kind", "")) for m in sent]
    finally:
        worker.stop()
    (fall,) = store.events(camera_id=camera.id, kind="fall")
    (long_lie,) = store.events(camera_id=camera.id, kind="long_lie")
    assert fall.track_id == long_lie.track_id and fall.track_id >= 1
    assert long_lie.started_at == fall.started_at  # both count from the first floor frame
    # Still on the floor when the worker stopped: open for the camera's next run to adopt.
    assert fall.ended_at is None and long_lie.ended_at is None
    # Latency on a live camera: first floor frame to the frame that fired the event.
    started = {m.kind: m for m in sent if isinstance(m, EventStarted)}
    assert timedelta(0) <= started["fall"].observed_at - started["fall"].started_at \
        <= timedelta(seconds=2)
    assert started["long_lie"].observed_at - started["long_lie"].started_at \
        >= timedelta(seconds=2)
    # The snapshot: the frame that fired it, faces and pose heads blurred, stored as a file.
    for event in (fall, long_lie):
        assert event.snapshot is not None
        image = cv2.imread(str(tmp_path / event.snapshot))
        assert image is not None and image.shape[:2] == (240, 320)
    # The long lie fired on the held last frame, where neither the face detector nor the pose
    # model finds the person lying there any more: where they were last seen is blurred.
    last = last_frame(fall_video)
    pose = PoseEstimator(threads=1)
    assert len(pose.predict_one(last)) == 0  # the case this is about
    tracker, body = PersonTracker(30.0), None
    for index in range(160):  # the person who fell (track 1), the last time anyone saw them
        people = pose.predict_one(frame_at(fall_video, index))
        ids = tracker.update(people)
        body = people.boxes[list(ids).index(fall.track_id)] if fall.track_id in ids else body
    assert body is not None
    stored_picture = cv2.imread(str(tmp_path / long_lie.snapshot))
    assert sharpness(stored_picture, body) < 0.5 * sharpness(last, body)
    # The clip: 2 s before the first floor frame to 3 s after, at the camera's size.
    assert started["fall"].clip and not started["long_lie"].clip
    assert fall.clip is not None and fall.clip.endswith(".webm") and long_lie.clip is None
    duration, frames = decode_clip((tmp_path / fall.clip).read_bytes())
    # Every frame analysed in the clip's 5 s is in it (a live camera analyses fewer than 50
    # on a busy machine: the count the clip must hold is what the buffer was given).
    (fall_s,) = falls_at
    window = [t for t in analysed if fall_s - 2.0 - 1e-3 <= t < fall_s + 3.0]
    assert len(window) >= 10 and len(frames) >= len(window) - 1, (len(frames), len(window))
    # Its time line is the frames' own: from the first to the last one analysed in the 5 s,
    # give or take one frame interval at either end.
    span, gap = window[-1] - window[0], float(np.diff(window).max())
    assert span - gap - 0.05 <= duration <= span + gap + 0.05, (duration, span, gap)
    assert span >= 4.0  # the clip covers the 5 s window, not a part of it
    assert {f.shape for f in frames} == {(240, 320, 3)}


def decode_clip(video: bytes) -> tuple[float, list[np.ndarray]]:
    """A clip's duration in seconds and its frames (BGR), decoded with PyAV."""
    with av.open(io.BytesIO(video)) as container:
        duration = container.duration / av.time_base
        return duration, [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class _FallsAt:
    """A real face session that also reports falls: ``falls`` maps the frame time at which
    one fires to its first floor frame's. The clip's timing without a fall detector's."""

    watches_bodies = True

    def __init__(self, session: SourceSession, falls: dict[float, float]) -> None:
        self.session, self.falls = session, falls

    def step(self, frame: Frame) -> FrameResult:
        result = self.session.step(frame)
        fires = [at for at in self.falls if abs(frame.timestamp - at) < 1e-3]
        if fires:
            fall = Event(EventKind.FALL, 1, self.falls[fires[0]], frame.timestamp, 0.9)
            return replace(result, events=(fall,))
        return result

    def __getattr__(self, name: str) -> object:  # book, finish, ...: the session's own
        return getattr(self.session, name)


def test_a_worker_running_late_still_puts_every_frame_in_the_clip(
    pipeline_for: Callable[..., Pipeline], portrait: np.ndarray
) -> None:
    """On a busy machine each frame is analysed a while after the camera took it (here 10 s
    late). The clip ends by the frames' own clock, not the wall clock: the frames taken
    before its end are all in it, however late they are analysed (a loaded CI run once lost
    the last two). A camera that gives no frame still ends a due clip by the wall clock."""
    falls = FallSettings(clip_before_s=1.0, clip_after_s=1.0)
    spec = CameraSpec(1, "file:///face", "care_safety", 10.0, falls=falls)
    faces = make_session(CameraSpec(1, "file:///face", "care_safety"), pipeline_for())
    sent: list[Message] = []
    # Falls from 1.05 s (clip 0.05-2.05 s), fired at 1.2 s; from 3.45 s, fired at 3.5 s.
    loop = CameraLoop(spec, _FallsAt(faces, {1.2: 1.05, 3.5: 3.45}),  # type: ignore[arg-type]
                      sent.append)
    assert loop._clips is not None
    taken = time.time() - 10.0

    def clips() -> list[EventClip]:  # each is sent from an encoding thread of its own
        return [m for m in sent if isinstance(m, EventClip)]

    for index, image in enumerate(moving_face_frames(portrait, 30)):
        loop.step(LiveFrame(image, index, taken + index / 10))
    assert wait_until(lambda: len(clips()) == 1, 10)
    (clip,) = clips()
    assert clip.frames == 20 and abs(clip.seconds - 1.9) < 1e-3  # 0.1 to 2.0 s, every one
    # Then the camera stalls right after the second fall: no frame comes to end its clip.
    loop.step(LiveFrame(portrait, 35, taken + 3.5))
    time.sleep(0.5)  # time enough for a clip wrongly ended here to be encoded and sent
    assert len(clips()) == 1  # still collecting: till 4.45 s on the frames' clock
    loop.step(None)  # no frame in the wait; the wall clock is long past 4.45 s
    assert wait_until(lambda: len(clips()) == 2, 10)
    assert clips()[1].frames == 6  # 2.5-2.9 s from the buffer, and 3.5 s


@pytest.mark.parametrize("blur", [True, False])
def test_a_clip_is_blurred_as_snapshots_are(pipeline_for: Callable[..., Pipeline],
                                            models: Models, portrait: np.ndarray,
                                            blur: bool) -> None:
    """The worker's path: analysed frames -> blurred_jpeg -> ClipBuffer -> VP8. The face
    the detector finds in every source frame it finds in no frame of the clip; with blurring
    off (an admin's choice) it is there, under the red banner."""
    session = make_session(CameraSpec(1, "file:///face", "care_safety"), pipeline_for())
    sent: list[EventClip] = []
    clips = ClipBuffer(1, before_s=1.0, after_s=1.0, fps=10.0, send=sent.append)
    source = moving_face_frames(portrait, 30)
    for index, image in enumerate(source):
        at = index / 10
        analysis = session.step(Frame(image, index, at, "face")).faces
        clips.add(at, blurred_jpeg(LiveFrame(image, index, at), analysis, blur=blur))
        if index == 12:
            clips.start("fall:1", fall_s=1.0)  # frames 0.0 to 1.9 s
    clips.finish()
    (clip,) = sent
    duration, frames = decode_clip(clip.video)
    assert clip.key == "fall:1" and clip.frames == len(frames) == 20
    assert abs(duration - 2.0) <= 0.1 and {f.shape for f in frames} == {(240, 320, 3)}
    faces_in_source = models.detector.predict(source[:20])
    assert all(len(faces) == 1 for faces in faces_in_source)
    found = models.detector.predict(frames)
    if blur:
        # Not the face, where it was: a detection elsewhere is the detector's false positive
        # on blur and VP8 artefacts (one at score 0.80 on the portrait's shoulder, seen), not
        # a face left unblurred.
        for source_faces, clip_faces in zip(faces_in_source, found):
            x0, y0, x1, y1 = source_faces.boxes[0]
            centres = (clip_faces.boxes[:, :2] + clip_faces.boxes[:, 2:]) / 2
            assert not ((centres >= (x0, y0)) & (centres <= (x1, y1))).all(axis=1).any()
    else:
        assert all(len(faces) for faces in found)
        top = np.stack([f[:banner_height(240) - 4] for f in frames]).mean(axis=(0, 1, 2))
        assert np.abs(top - BANNER_COLOUR).max() < 40  # B, G, R: the banner's red


def test_falls_are_off_unless_asked_for(store: Store, pipeline_for: Callable[..., Pipeline],
                                        fall_video: Path) -> None:
    camera = store.add_camera("corridor", "file:///clip", "care_safety")
    worker = CameraWorker(camera.id, f"file://{fall_video}", store, pipeline_for(),
                          analysis_fps=10)
    assert not worker.loop.session.watches_bodies  # no pose model loaded
    statistics = CameraWorker(camera.id, "file:///none", store, pipeline_for(),
                              purpose="anonymous_statistics", falls=FallSettings())
    assert not statistics.loop.session.watches_bodies  # counting cameras never watch bodies


def test_site_config_turns_falls_on_per_camera_with_zones(
        pipeline_for: Callable[..., Pipeline]) -> None:
    from affectlens.service.registry import declared_values
    from affectlens.service.runtime import Service
    from affectlens.service.site import SiteConfig
    from affectlens.store.schema import Camera

    site = SiteConfig.model_validate({"cameras": [
        {"name": "room 12", "url": "rtsp://cam/12", "purpose": "care_safety",
         "falls": {"long_lie_s": 60, "zones": [
             {"name": "bed", "kind": "bed", "points": [[0, 200], [300, 200], [300, 360]]}]}},
        {"name": "hall", "url": "rtsp://cam/1", "purpose": "care_safety"},
    ]})
    service = Service.__new__(Service)  # spec_for reads the camera and the site's workers
    service.site = site
    cameras = {declared.name: Camera(id=n, name=declared.name, url=declared.url,
                                     purpose="care_safety", analysis_fps=5.0,
                                     **{k: v for k, v in declared_values(declared).items()
                                        if k in ("falls", "distress")})
               for n, declared in enumerate(site.cameras, 1)}  # as sync_cameras writes them
    room, hall = (service.spec_for(cameras[name]) for name in ("room 12", "hall"))
    assert room.falls is not None and room.falls.long_lie_s == 60
    assert room.falls.zones[0].kind == "bed" and hall.falls is None
    people = make_session(room, pipeline_for()).engine.people
    assert people is not None and people.settings.zones == room.falls.zones
    with pytest.raises(ValueError):
        SiteConfig.model_validate({"cameras": [
            {"name": "x", "url": "rtsp://cam/2", "purpose": "care_safety",
             "falls": {"zones": [{"name": "bed", "kind": "sofa", "points": [[0, 0]] * 3}]}}]})


def test_a_clip_is_sent_when_its_time_is_up_even_without_frames(portrait: np.ndarray) -> None:
    """The camera went offline right after the fall: the clip goes out on time with the
    frames there were. A wall clock stepped back cannot make a clip collect without bound."""
    sent: list[EventClip] = []
    clips = ClipBuffer(1, before_s=1.0, after_s=1.0, fps=10.0, send=sent.append)
    jpeg = cv2.imencode(".jpg", cv2.resize(portrait, (160, 120)))[1].tobytes()
    for index in range(15):
        clips.add(index / 10, jpeg)
    clips.start("fall:1", fall_s=1.2)
    clips.flush(1.9)
    assert sent == []  # not yet: until 2.2 s
    clips.flush(2.3)  # no frame came since 1.4 s
    clips.finish()
    (clip,) = sent
    assert clip.key == "fall:1" and clip.frames == 13  # 0.2 to 1.4 s
    stuck = ClipBuffer(1, before_s=1.0, after_s=1.0, fps=10.0, send=sent.append)
    stuck.add(5.0, jpeg)
    stuck.start("fall:2", fall_s=5.0)
    for _ in range(500):  # the clock went back an hour: every frame is "before the end"
        stuck.add(4.0, jpeg)
    stuck.finish()
    assert sent[-1].key == "fall:2" and sent[-1].frames <= 2 * 10 * 2 + 1


def test_a_short_clip_after_still_gets_its_seconds_before(portrait: np.ndarray) -> None:
    """clip_after_s shorter than the fall's detection delay: the frames before the fall are
    still buffered when it fires (they were dropped before)."""
    jpeg = cv2.imencode(".jpg", cv2.resize(portrait, (160, 120)))[1].tobytes()
    for latest_s, first_frame in ((0.0, 0.8), (0.5, 0.5)):
        sent: list[EventClip] = []
        clips = ClipBuffer(1, before_s=1.0, after_s=0.0, fps=10.0, send=sent.append,
                           latest_s=latest_s)
        for index in range(19):  # 0.0 to 1.8 s; the fall fires at 1.8, 0.3 s after 1.5
            clips.add(index / 10, jpeg)
        clips.start("fall:1", fall_s=1.5)
        clips.finish()
        (clip,) = sent
        assert clip.frames == round((1.5 - first_frame) * 10)
