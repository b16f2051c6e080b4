"""The supervisor with real worker processes: real videos played live, the real models, a real
store, the hub, metrics; workers killed, cameras added, changed and deleted."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from waiting import wait_until

from affectlens.events.distress import DistressSettings
from affectlens.models.face_detector import FaceDetector
from affectlens.samples import write_sample_video
from affectlens.service.hub import Hub
from affectlens.service.metrics import ServiceMetrics
from affectlens.service.recorder import Recorder
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.schema import AGE_BAND_COLUMNS, Camera
from affectlens.types import EXPRESSIONS


class HubListener:
    """A websocket-like subscriber on its own event loop, recording every hub message."""

    def __init__(self, hub: Hub) -> None:
        self.messages: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        threading.Thread(target=self.loop.run_until_complete, args=(self._listen(hub),),
                         daemon=True).start()
        wait_until(lambda: hub.subscribers() == 1, 5)

    async def _listen(self, hub: Hub) -> None:
        self._task = asyncio.current_task()
        try:
            async for message in hub.subscribe():
                self.messages.append(message)
        except asyncio.CancelledError:
            pass

    def close(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)


def spec_for(distress: DistressSettings | None = None, **options: object
             ) -> Callable[[Camera], CameraSpec]:
    def make(camera: Camera) -> CameraSpec:
        return CameraSpec(camera.id, camera.url, camera.purpose, camera.analysis_fps,
                          distress or DistressSettings(), counts_every_s=1.0,
                          backoff_s=(0.3, 0.6), **options)  # type: ignore[arg-type]
    return make


def sample(metrics: ServiceMetrics, name: str, camera_id: int) -> float:
    return metrics.registry.get_sample_value(name, {"camera": str(camera_id)}) or 0.0


def test_workers_run_in_processes_and_store_feed_hub_and_metrics(store: Store, media,
                                                                  tmp_path: Path) -> None:
    """Two cameras on one video of a crying woman: the care camera raises distress, the
    anonymous-statistics camera only counts (its worker never loads the expression model)."""
    video = f"file://{media('WolfgangLanger_Pexels.mp4')}"
    care = store.add_camera("lounge", video, "care_safety")
    screen = store.add_camera("entrance", video, "anonymous_statistics")
    hub, metrics = Hub(), ServiceMetrics()
    listener = HubListener(hub)
    recorder = Recorder(store, hub=hub, metrics=metrics, snapshots=tmp_path / "snapshots")
    supervisor = Supervisor(store, recorder, spec_for(DistressSettings(threshold=0.5, hold_s=2)),
                            poll_s=0.5).start()
    began = datetime.now(UTC)
    try:
        pids = wait_until(lambda: len(recorder.ready) == 2 and supervisor.workers(), 60)
        assert len(set(pids.values()) | {os.getpid()}) == 3  # a process per camera
        assert recorder.ready[care.id].models == ("face_detector", "expression", "age")
        assert recorder.ready[screen.id].models == ("face_detector", "age")
        wait_until(lambda: store.events(camera_id=care.id, kind="distress"), 30)
        wait_until(lambda: hub.preview(care.id) and hub.preview(screen.id), 10)
        # Generous: a busy machine analyses fewer frames a second (returns once true).
        wait_until(lambda: all(sample(metrics, "affectlens_frames_analysed_total", camera.id)
                               >= 10 for camera in (care, screen)), 60)
        state = hub.state(care.id)
        assert state.online and state.analysed_fps > 0 and state.message == ""
    finally:
        supervisor.stop()
        listener.close()
    assert supervisor.workers() == {}
    assert all(e.ended_at is not None for e in store.events()), "stop ends every event"
    assert store.events(camera_id=screen.id) == []  # no expression, so no distress
    (event,) = store.events(camera_id=care.id)
    assert began <= event.started_at <= began + timedelta(seconds=20)
    # The websocket heard the event start and end, as the API shows events.
    heard = [m["event"] for m in listener.messages if m["type"] == "event"]
    assert [(e["id"], e["ended_at"] is None) for e in heard] == [(event.id, True),
                                                                  (event.id, False)]
    assert {"camera_id", "kind", "started_at", "confidence", "acknowledged_at"} <= set(heard[0])
    assert any(m["type"] == "camera" and m["camera"]["online"] for m in listener.messages)
    # Counts: faces and people on both; expressions only where the purpose allows them.
    span = (began - timedelta(minutes=1), began + timedelta(minutes=2))
    care_totals = store.totals(*span, camera_id=care.id)
    screen_totals = store.totals(*span, camera_id=screen.id)
    for totals in (care_totals, screen_totals):
        # Faces are face-frames, at least one for each person counted; how many depends on
        # how many frames a loaded machine analysed.
        assert totals["faces"] >= totals["people"] and 1 <= totals["people"] <= 3
        # People per age band, each track once a minute (affectlens.counting). An adult,
        # read as 50-70 while she cries (the README's limits): not a minor.
        assert sum(totals[column] for column in AGE_BAND_COLUMNS) == totals["people"]
        assert totals["n_age_0_12"] + totals["n_age_13_19"] <= 0.2 * totals["people"]
    assert sum(care_totals[f"n_{e}"] for e in (*EXPRESSIONS, "uncertain")) == care_totals["faces"]
    assert all(screen_totals[f"n_{e}"] == 0 for e in (*EXPRESSIONS, "uncertain"))
    # Previews and the event's snapshot are JPEGs in which the face detector finds no face:
    # they were blurred before they left the worker.
    snapshot = tmp_path / "snapshots" / event.snapshot
    assert event.snapshot.startswith(f"{care.id}/") and snapshot.is_file()
    detector = FaceDetector()
    for jpeg in (hub.preview(care.id), hub.preview(screen.id), snapshot.read_bytes()):
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture.ndim == 3 and picture.shape[1] <= 640
        assert len(detector.predict([picture])[0]) == 0
    assert sample(metrics, "affectlens_frame_latency_seconds_count", care.id) >= 10
    assert sample(metrics, "affectlens_camera_online", care.id) == 1


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    store = Store(sqlite_url(tmp_path / "supervised.db"))
    yield store
    store.engine.dispose()


def test_crashed_workers_restart_and_cameras_changes_are_followed(
    sqlite_store: Store, tmp_path: Path
) -> None:
    store = sqlite_store
    clip = write_sample_video(tmp_path / "sample.mp4", seconds=2.0)
    playing = store.add_camera("hall", f"file://{clip}", "care_safety")
    missing = store.add_camera("door", f"file://{tmp_path / 'not-yet.mp4'}", "care_safety")
    metrics = ServiceMetrics()
    recorder = Recorder(store, metrics=metrics)
    supervisor = Supervisor(store, recorder, spec_for(), poll_s=0.3,
                            restart_backoff_s=(0.5, 1.0)).start()
    try:
        first = wait_until(lambda: len(recorder.ready) == 2 and supervisor.workers(), 60)
        outage = wait_until(lambda: store.open_events(missing.id), 10)[0]
        # A worker killed outright: its open event is ended for it, and it comes back.
        os.kill(first[missing.id], signal.SIGKILL)
        wait_until(lambda: supervisor.workers().get(missing.id, first[missing.id])
                   != first[missing.id], 15)
        assert store.events(kind="camera_offline")[-1].id == outage.id
        assert next(e for e in store.events() if e.id == outage.id).ended_at is not None
        assert sample(metrics, "affectlens_worker_restarts_total", missing.id) == 1
        wait_until(lambda: len(store.open_events(missing.id)) == 1, 20)  # its new outage
        assert supervisor.workers()[playing.id] == first[playing.id]  # the other ran on
        # Changed: a new worker with the new settings. Disabled or deleted: no worker.
        store.update_camera(playing.id, analysis_fps=2.0)
        wait_until(lambda: supervisor.workers().get(playing.id, first[playing.id])
                   != first[playing.id], 20)
        store.update_camera(missing.id, enabled=False)
        wait_until(lambda: missing.id not in supervisor.workers(), 20)
        added = store.add_camera("stairs", f"file://{clip}", "anonymous_statistics")
        wait_until(lambda: added.id in supervisor.workers(), 10)
        store.delete_camera(added.id)
        wait_until(lambda: added.id not in supervisor.workers(), 20)
        assert store.open_events() == []  # the disabled camera's outage ended with it
    finally:
        supervisor.stop()
    assert sample(metrics, "affectlens_worker_restarts_total", playing.id) == 0
    assert sum(1 for h in store.health(playing.id) if h.online) >= 2  # two worker runs


def test_a_worker_that_hangs_while_stopping_is_killed_and_its_events_ended(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """The camera changed and its worker never finishes stopping (frozen here with SIGSTOP):
    after stop_timeout_s it is killed, its open events are ended for it, a new worker runs."""
    store = sqlite_store
    door = store.add_camera("door", f"file://{tmp_path / 'not-yet.mp4'}", "care_safety")
    recorder = Recorder(store)
    supervisor = Supervisor(store, recorder, spec_for(), poll_s=0.3,
                            restart_backoff_s=(0.5, 1.0), stop_timeout_s=2.0).start()
    try:
        pid = wait_until(lambda: supervisor.workers().get(door.id), 60)
        outage = wait_until(lambda: store.open_events(door.id), 30)[0]
        os.kill(pid, signal.SIGSTOP)
        store.update_camera(door.id, analysis_fps=2.0)
        wait_until(lambda: supervisor.workers().get(door.id, pid) != pid, 30,
                   "the frozen worker is killed and replaced")
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "it was killed and reaped")
        ended = next(e for e in store.events() if e.id == outage.id)
        assert ended.ended_at is not None  # ended for it, not left open until a restart
        assert ended.started_at <= ended.ended_at
    finally:
        supervisor.stop()
