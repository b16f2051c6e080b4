"""A camera worker end to end: a real video played live, the real models, a real store."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from netutil import Receiver
from waiting import wait_until

from affectlens.events.distress import DistressSettings
from affectlens.service.alerts import AlertDispatcher
from affectlens.service.webhook import WebhookSender, WebhookTarget
from affectlens.service.worker import CameraWorker
from affectlens.store import Store
from affectlens.store.schema import AGE_BAND_COLUMNS


def test_crying_on_camera_becomes_a_stored_distress_event(store: Store, media,
                                                          pipeline_for) -> None:
    """WolfgangLanger_Pexels.mp4 played at real time: she cries during the first seconds."""
    camera = store.add_camera("lounge", "file:///clip", "care_safety")
    worker = CameraWorker(
        camera.id, f"file://{media('WolfgangLanger_Pexels.mp4')}", store, pipeline_for(),
        analysis_fps=5, distress=DistressSettings(threshold=0.5, hold_s=2.0),
    ).start()
    began = datetime.now(UTC)
    try:
        assert wait_until(lambda: store.events(camera_id=camera.id, kind="distress"), 12)
        time.sleep(1.0)  # a few more frames, so that the counts are not all from the hold
    finally:
        worker.stop()
    (event,) = store.events(camera_id=camera.id, kind="distress")
    assert began - timedelta(seconds=1) <= event.started_at <= began + timedelta(seconds=8)
    assert 0.5 <= event.confidence <= 1 and event.track_id >= 1
    assert event.ended_at is not None  # closed when the worker stopped, at the latest
    counts = store.minute_stats(camera.id, began - timedelta(minutes=2),
                                began + timedelta(minutes=2))
    # Faces are face-frames, several a track: how many depends on how many frames a loaded
    # machine analysed, so only their relation to people is asserted below.
    # People are counted by age band, each track once a minute by its median age
    # (affectlens.counting), not each face-frame. She is an adult, though the age model reads
    # her crying face as 50-70 for a few seconds (the README's limits): not a minor.
    people = sum(c.people for c in counts)
    assert 1 <= people < sum(c.faces for c in counts)
    assert sum(getattr(c, column) for c in counts for column in AGE_BAND_COLUMNS) == people
    assert sum(c.n_age_0_12 + c.n_age_13_19 for c in counts) <= 0.2 * people
    assert [h.online for h in store.health(camera.id)] == [True]


def test_an_offline_camera_is_an_event_that_ends_when_it_returns(
    store: Store, pipeline_for, tmp_path: Path
) -> None:
    from affectlens.samples import write_sample_video

    clip = tmp_path / "later.mp4"
    camera = store.add_camera("door", f"file://{clip}", "care_safety")
    receiver = Receiver([])

    def broken_sink(event: object) -> None:
        raise RuntimeError("this sink is broken")

    target = WebhookTarget(receiver.url, "secret", backoff_s=())
    alerts = AlertDispatcher(store, [broken_sink, WebhookSender(store, [target]).send]).start()
    worker = CameraWorker(camera.id, f"file://{clip}", store, pipeline_for(),
                          backoff_s=(0.2, 0.4), alerts=alerts).start()
    try:
        assert wait_until(lambda: store.events(camera_id=camera.id, kind="camera_offline"), 5)
        assert store.events(kind="camera_offline")[0].ended_at is None
        write_sample_video(tmp_path / "made.mp4", seconds=1.0)
        shutil.move(tmp_path / "made.mp4", clip)
        assert wait_until(lambda: store.events(kind="camera_offline")[0].ended_at, 5)
    finally:
        worker.stop()
        alerts.stop()
        receiver.close()
    assert [h.online for h in store.health(camera.id)] == [False, True]
    # The webhook heard the outage begin and end, despite the broken sink before it.
    sent = [json.loads(body)["event"] for _, body in receiver.requests]
    assert [(e["kind"], e["ended_at"] is None) for e in sent] == [
        ("camera_offline", True), ("camera_offline", False)]
    assert "no such file" in store.health(camera.id)[0].message
