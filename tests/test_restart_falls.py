"""A person presumed on the floor outlives a restart (issue 14): a worker's crash, a new worker
and a service restart keep an open fall and long lie open, unrepeated, with reminders going,
and the camera's next run ends them once it sees the person get up where they lay.

Before, the supervisor ended every open event at a service start and when a worker died, and
a worker ended its falls when it stopped: the alerts said the fall had ended while the person
was still on the floor, and the next run raised a second long lie for them.

The supervisor runs as in the service, with a real store (SQLite and PostgreSQL) and Recorder;
its launcher starts no process but keeps the spec it was asked to run, and the test runs that
spec's CameraLoop on a real fall (URFD fall-01) fed frame by frame on the test's own clock, so
nothing depends on this machine's speed. Getting up is the same video played backwards: the
person lies where they fell, rises and stands."""

from __future__ import annotations

import queue
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_hot_settings import frames_of

from affectlens.events.event import Event
from affectlens.events.fall_settings import FallSettings
from affectlens.pipeline import Pipeline
from affectlens.service.camera import LiveFrame
from affectlens.service.messages import EventEnded, EventStarted, Message
from affectlens.service.recorder import Recorder
from affectlens.service.reminders import ReminderJob
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraLoop, CameraSpec, HotSettings, make_session
from affectlens.store import Store
from affectlens.store.schema import Camera
from affectlens.vocabulary import EventKind

T0 = 1_800_000_000.0  # the first run's clock, seconds since the epoch
FPS = 10.0
FALLS = FallSettings(long_lie_s=3.0, clip_before_s=0, clip_after_s=0)


class Handle:
    """A worker as the supervisor sees it; the test plays its part (runs, crashes, stops)."""

    pid, node = None, "test"

    def __init__(self) -> None:
        self.running, self.code = True, 0

    def alive(self) -> bool:
        return self.running

    def stop(self) -> None:
        self.running = False

    def push(self, hot: HotSettings) -> None:
        pass

    def join(self, timeout: float) -> None:
        pass

    def kill(self) -> None:
        self.running, self.code = False, -9

    def exit_code(self) -> int | None:
        return self.code

    def close(self) -> None:
        pass


class HandLauncher:
    """Starts nothing: keeps the spec of each worker the supervisor starts, for the test."""

    def __init__(self) -> None:
        self.messages: queue.Queue[Message | None] = queue.Queue()
        self.started: list[tuple[CameraSpec, Handle]] = []

    def launch(self, spec: CameraSpec, node: str | None = None) -> Handle:
        self.started.append((spec, Handle()))
        return self.started[-1][1]

    def close(self) -> None:
        pass


def spec_for(pipeline: Pipeline) -> Callable[[Camera], CameraSpec]:
    def make(camera: Camera) -> CameraSpec:
        return CameraSpec(camera.id, camera.url, camera.purpose, FPS,
                          analysis=pipeline.config, preview_fps=0.0,
                          falls=FALLS if camera.name != "no falls" else None)
    return make


def run(spec: CameraSpec, pipeline: Pipeline, recorder: Recorder, frames: list[np.ndarray],
        start: float, sent: list[Message],
        until: Callable[[], bool] = lambda: False) -> CameraLoop:
    """A worker's loop for ``spec`` fed ``frames`` from ``start`` (or until ``until``)."""
    loop = CameraLoop(spec, make_session(spec, pipeline),
                      lambda m: (sent.append(m), recorder.handle(m))[1])
    for index, image in enumerate(frames):
        loop.analyse(LiveFrame(image, index, start + index / FPS))
        if until():
            break
    return loop


def test_a_restart_while_someone_is_down_keeps_the_fall_open_until_they_get_up(
    store: Store, pipeline_for: Callable[..., Pipeline], fall_video: Path
) -> None:
    pipeline = pipeline_for()
    camera = store.add_camera("room 12", "file:///room12.mp4", "care_safety")
    video = frames_of(fall_video)
    lying = [video[-1]] * int(6 * FPS)
    sent: list[Message] = []
    launcher = HandLauncher()
    recorder = Recorder(store)
    supervisor = Supervisor(store, recorder, spec_for(pipeline), poll_s=3600,
                            restart_backoff_s=(0.0,), launcher=launcher).start()
    (spec, handle), = launcher.started
    assert spec.adopted == ()
    run(spec, pipeline, recorder, video + lying, T0, sent,
        lambda: bool(store.events(camera.id, kind="long_lie")))
    (fall,) = store.events(camera.id, kind="fall")
    (long_lie,) = store.events(camera.id, kind="long_lie")
    assert fall.x is not None and fall.y is not None  # where the person lay

    # The worker dies while the person is on the floor: both stay open, and its successor
    # starts with them.
    handle.running, handle.code = False, 1
    supervisor.sync()
    (spec, handle) = launcher.started[-1]
    assert len(launcher.started) == 2
    assert {e.key for e in spec.adopted} == {fall.key, long_lie.key}
    assert {e.id for e in store.open_events(camera.id)} == {fall.id, long_lie.id}
    # The person lies there, unseen, 6 s more: no second fall or long lie, nothing ends.
    before = len(sent)
    loop = run(spec, pipeline, recorder, lying, T0 + 100, sent)
    assert [m for m in sent[before:] if isinstance(m, EventStarted | EventEnded)] == []

    # The service stops (the worker with it) and starts again: still open, unrepeated, and
    # the reminders go on (they ask the store for what is open and unacknowledged).
    loop.finish()
    supervisor.stop()
    assert {e.id for e in store.open_events(camera.id)} == {fall.id, long_lie.id}
    launcher = HandLauncher()
    recorder = Recorder(store)
    supervisor = Supervisor(store, recorder, spec_for(pipeline), poll_s=3600,
                            launcher=launcher).start()
    try:
        (spec, handle), = launcher.started
        assert {e.key for e in spec.adopted} == {fall.key, long_lie.key}
        assert {e.id for e in store.open_events(camera.id)} == {fall.id, long_lie.id}
        later = fall.started_at + timedelta(minutes=7)
        assert ReminderJob(store, remind_after_s=300, escalate_after_s=0).check(later) == 2

        # Then the person gets up where they lay (the fall backwards) and stands: the
        # camera's new run sees them up and ends both, once, under their keys.
        before = len(sent)
        standing = [video[0]] * int(2 * FPS)
        run(spec, pipeline, recorder, lying + video[::-1] + standing, T0 + 200, sent)
        news = [m for m in sent[before:] if isinstance(m, EventStarted | EventEnded)]
        assert [type(m) for m in news] == [EventEnded, EventEnded], news
        assert {m.key for m in news} == {fall.key, long_lie.key}
    finally:
        supervisor.stop()
    assert len(store.events(camera.id, kind="fall")) == 1
    assert len(store.events(camera.id, kind="long_lie")) == 1
    assert store.open_events(camera.id) == []
    got_up = datetime.fromtimestamp(T0 + 200 + len(lying) / FPS, UTC)
    for event in store.events(camera.id):
        assert event.ended_at is not None and event.ended_at > got_up


def test_falls_of_a_camera_no_worker_watches_for_falls_are_ended(
    store: Store, pipeline_for: Callable[..., Pipeline]
) -> None:
    """Disabled, or its falls turned off: nothing could see the person get up, so its open
    falls end (with a disabled camera's other events); another camera's stay open."""
    pipeline = pipeline_for()
    watched = store.add_camera("room 1", "file:///1.mp4", "care_safety")
    disabled = store.add_camera("room 2", "file:///2.mp4", "care_safety")
    blind = store.add_camera("no falls", "file:///3.mp4", "care_safety")
    started = datetime.fromtimestamp(T0, UTC)
    for camera in (watched, disabled, blind):
        store.record_event_once(f"run:1:{camera.id}", camera.id, "fall", started, 0.9, 1,
                                location=(100.0, 200.0))
    offline = store.record_event_once("run:2", watched.id, "camera_offline", started, 1.0)
    store.update_camera(disabled.id, enabled=False)
    launcher = HandLauncher()
    supervisor = Supervisor(store, Recorder(store), spec_for(pipeline), poll_s=3600,
                            launcher=launcher).start()
    try:
        still = {e.camera_id: e for e in store.open_events()}
        assert set(still) == {watched.id} and still[watched.id].kind == "fall"
        assert store.event(offline.event.id).ended_at is not None  # not a person down
        adopted = {spec.camera_id: spec.adopted for spec, _ in launcher.started}
        assert [e.location for e in adopted[watched.id]] == [(100.0, 200.0)]
        assert adopted[blind.id] == ()
        store.update_camera(watched.id, enabled=False)  # its worker stops, then it ends
        supervisor.sync()
        supervisor.sync()
        assert store.open_events() == []
    finally:
        supervisor.stop()
    assert len(store.events()) == 4


@pytest.mark.parametrize("kind", ["fall", "long_lie"])
def test_an_adopted_event_on_a_camera_without_a_body_path_is_not_held(
    kind: str, pipeline_for: Callable[..., Pipeline]
) -> None:
    """A session that watches no bodies adopts nothing: no rule there could end it."""
    pipeline = pipeline_for()
    spec = CameraSpec(1, "file:///x.mp4", "care_safety", FPS, analysis=pipeline.config)
    event = Event(EventKind(kind), 1, -5.0, -5.0, 0.9, key="old:1")
    assert make_session(spec, pipeline).adopt([event], 0.0) == []


def test_a_person_lying_unseen_past_hold_unseen_s_stays_open_and_reminded(
    store: Store, pipeline_for: Callable[..., Pipeline], fall_video: Path
) -> None:
    """The live path, one run: after the fall the camera sees nobody (an empty picture) for
    longer than ``hold_unseen_s``. Before, that ended the fall and long lie (the person was
    taken to have left); now nothing ends or repeats, and the reminders go on (issue 14)."""
    pipeline = pipeline_for()
    camera = store.add_camera("room 12", "file:///room12.mp4", "care_safety")
    spec = CameraSpec(camera.id, camera.url, camera.purpose, FPS, analysis=pipeline.config,
                      preview_fps=0.0, falls=FALLS.model_copy(update={"hold_unseen_s": 1.0}))
    video = frames_of(fall_video)
    sent: list[Message] = []
    recorder = Recorder(store)
    frames = video + [video[-1]] * int(6 * FPS)
    loop = run(spec, pipeline, recorder, frames, T0, sent,
               lambda: bool(store.events(camera.id, kind="long_lie")))
    (fall,) = store.events(camera.id, kind="fall")
    (long_lie,) = store.events(camera.id, kind="long_lie")
    before = len(sent)
    empty = np.zeros_like(video[-1])
    start = T0 + len(frames) / FPS
    for index in range(int(5 * FPS)):  # five times hold_unseen_s with nobody seen
        loop.analyse(LiveFrame(empty, len(frames) + index, start + index / FPS))
    assert [m for m in sent[before:] if isinstance(m, EventStarted | EventEnded)] == []
    assert {e.id for e in store.open_events(camera.id)} == {fall.id, long_lie.id}
    later = fall.started_at + timedelta(minutes=7)
    assert ReminderJob(store, remind_after_s=300, escalate_after_s=0).check(later) == 2
    loop.finish()  # the worker stops: still presumed down, open for the next run
    assert {e.id for e in store.open_events(camera.id)} == {fall.id, long_lie.id}
