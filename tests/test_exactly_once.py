"""Issue 14: a worker message handled twice stores one event, adds its counts once and sends
one alert for each start and end, to a real webhook receiver on 127.0.0.1.

Handled twice how: the supervisor retries a message whose handling raised, and the commit may
have happened all the same (PostgreSQL's acknowledgement lost on the way); something after the
commit fails; a message is replayed, to this Recorder or to the next service's. The alerts go
through the outbox: one written with its event, sent once by the dispatcher, and sent again
after a crash only under the same idempotency key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from netutil import Receiver
from sqlalchemy.exc import OperationalError
from waiting import wait_until

from affectlens.events.book import EventBook
from affectlens.service import supervisor as supervisor_module
from affectlens.service.alerts import AlertDispatcher
from affectlens.service.camera import CameraState
from affectlens.service.hub import Hub
from affectlens.service.messages import EventEnded, EventStarted, MinuteCounts
from affectlens.service.metrics import ServiceMetrics
from affectlens.service.recorder import Recorder
from affectlens.service.supervisor import Supervisor
from affectlens.service.webhook import IDEMPOTENCY_HEADER, WebhookSender, WebhookTarget
from affectlens.service.worker import CameraLoop, CameraSpec
from affectlens.store import Store
from affectlens.store.schema import CountBatch

T0 = datetime(2026, 11, 28, 9, 0, 10, tzinfo=UTC)
KEY = "8f0c2a-run:1:fall:3:12.400"


class RecordingHub(Hub):
    """Records what dashboards would be told of events; ``broken``: then raises."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.events: list[dict] = []
        self.broken = broken

    def publish_event(self, event: dict) -> None:
        self.events.append(event)
        if self.broken:
            raise RuntimeError("the hub is broken")


@pytest.fixture
def receiver() -> Receiver:
    receiver = Receiver([])
    yield receiver
    receiver.close()


@pytest.fixture
def jpeg(portrait: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", portrait)[1].tobytes()


def dispatcher(store: Store, receiver: Receiver, **options: object) -> AlertDispatcher:
    target = WebhookTarget(receiver.url, "s3cret-for-tests", backoff_s=())
    return AlertDispatcher(store, [WebhookSender(store, [target]).send], **options)


def delivered(receiver: Receiver) -> list[str]:
    """The idempotency key of each request the receiver got, in order."""
    keys = []
    for headers, body in receiver.requests:
        assert json.loads(body)["idempotency_key"] == headers[IDEMPOTENCY_HEADER]
        keys.append(headers[IDEMPOTENCY_HEADER])
    return keys


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_commit_whose_acknowledgement_is_lost_is_retried_into_nothing_new(
    store: Store, receiver: Receiver, jpeg: bytes, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store commits the event and its alert, then the call raises (the connection died
    before PostgreSQL's answer came back): the supervisor hands the message in again, which
    finds the event stored. One row, one snapshot, one alert, one dashboard message."""
    camera = store.add_camera("hall", "file:///x", "care_safety")
    hub, metrics = RecordingHub(), ServiceMetrics()
    alerts = dispatcher(store, receiver, poll_s=0.2).start()
    snapshots = tmp_path / "snapshots"
    recorder = Recorder(store, hub, alerts, metrics, snapshots=snapshots)
    stored, ended = store.record_event_once, store.end_event_once
    calls: list[str] = []

    def committed_then_lost(call):
        def wrapper(*args, **kwargs):
            result = call(*args, **kwargs)  # committed
            calls.append(call.__name__)
            if calls.count(call.__name__) == 1:
                raise OperationalError("COMMIT", {}, ConnectionError("server closed the "
                                                                     "connection unexpectedly"))
            return result
        return wrapper

    monkeypatch.setattr(store, "record_event_once", committed_then_lost(stored))
    monkeypatch.setattr(store, "end_event_once", committed_then_lost(ended))
    monkeypatch.setattr(supervisor_module, "STORE_RETRY_S", (0.01, 0.01))
    supervisor = Supervisor(store, recorder, lambda camera: None, start_method="spawn")
    try:
        supervisor._handle(EventStarted(camera.id, KEY, "fall", T0, 0.9, 3, T0, jpeg))
        supervisor._handle(EventEnded(camera.id, KEY, T0 + timedelta(seconds=8)))
        wait_until(lambda: len(receiver.requests) >= 2, 10, "both alerts are sent")
    finally:
        alerts.stop()
        supervisor.messages.close()
    assert calls == ["record_event_once"] * 2 + ["end_event_once"] * 2  # each retried once
    (event,) = store.events()
    assert event.key == KEY and event.ended_at == T0 + timedelta(seconds=8)
    assert files(snapshots) == [snapshots / event.snapshot]  # written once, kept
    assert delivered(receiver) == [f"{KEY}/started", f"{KEY}/ended"]
    assert [e["ended_at"] is None for e in hub.events] == [True, False]
    assert metrics.registry.get_sample_value("affectlens_event_latency_seconds_count",
                                             {"camera": str(camera.id)}) == 1
    assert [row.outcome for row in store.outbox()] == ["sent", "sent"]


def test_a_failure_after_the_commit_sends_no_second_alert(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Announcing a stored event fails (here the hub): the message is not failed, so the
    supervisor does not hand it in again, and the alert, in the outbox already, goes once."""
    camera = store.add_camera("hall", "file:///x", "care_safety")
    alerts = dispatcher(store, receiver, poll_s=0.2).start()
    recorder = Recorder(store, RecordingHub(broken=True), alerts)
    handled = []
    monkeypatch.setattr(recorder, "handle", lambda m, handle=recorder.handle: (
        handled.append(m), handle(m)))
    supervisor = Supervisor(store, recorder, lambda camera: None, start_method="spawn")
    try:
        supervisor._handle(EventStarted(camera.id, KEY, "distress", T0, 0.8, 2, T0))
        wait_until(lambda: receiver.requests, 10, "the alert is sent")
    finally:
        alerts.stop()
        supervisor.messages.close()
    assert len(handled) == 1 and len(store.events()) == 1
    assert delivered(receiver) == [f"{KEY}/started"]


def test_replayed_messages_store_add_and_send_nothing_new(
    store: Store, receiver: Receiver, jpeg: bytes, tmp_path: Path
) -> None:
    """Every message twice, an event's start again after its end, and the same messages to
    the next service's Recorder: one event ended once, counts added once, two alerts."""
    camera = store.add_camera("hall", "file:///x", "care_safety")
    alerts = dispatcher(store, receiver, poll_s=0.2).start()
    hub, snapshots = RecordingHub(), tmp_path / "snapshots"
    recorder = Recorder(store, hub, alerts, snapshots=snapshots)
    started = EventStarted(camera.id, KEY, "fall", T0, 0.9, 3, T0, jpeg)
    end = EventEnded(camera.id, KEY, T0 + timedelta(seconds=8))
    late_end = EventEnded(camera.id, KEY, T0 + timedelta(seconds=30))
    counts = MinuteCounts(camera.id, T0.replace(second=0), {"faces": 5, "people": 1}, "run", 1)
    more = MinuteCounts(camera.id, T0.replace(second=0), {"faces": 2}, "run", 2)
    try:
        for message in (started, started, counts, end, end, counts, started, late_end, more):
            recorder.handle(message)
        again = Recorder(store, RecordingHub(), alerts, snapshots=snapshots)  # a restart
        for message in (started, end, counts, more):
            again.handle(message)
        wait_until(lambda: len(receiver.requests) >= 2, 10, "both alerts are sent")
    finally:
        alerts.stop()
    (event,) = store.events()
    assert event.ended_at == T0 + timedelta(seconds=8)  # the first end; later ones change nothing
    assert files(snapshots) == [snapshots / event.snapshot]  # the replays' pictures went
    (minute,) = store.minute_stats(camera.id, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert (minute.faces, minute.people) == (7, 1)
    assert delivered(receiver) == [f"{KEY}/started", f"{KEY}/ended"]
    assert len(hub.events) == 2
    # A worker that died: the supervisor ends its events, then the worker's own end arrives.
    key = "8f0c2a-run:2:camera_offline"
    recorder.handle(EventStarted(camera.id, key, "camera_offline", T0, 1.0, None, T0))
    assert recorder.end_open(camera.id, T0 + timedelta(minutes=1)) == 1
    recorder.handle(EventEnded(camera.id, key, T0 + timedelta(seconds=50)))
    assert store.events(kind="camera_offline")[0].ended_at == T0 + timedelta(minutes=1)
    assert [row.key for row in store.outbox()][2:] == [f"{key}/started", f"{key}/ended"]


def test_alerts_interrupted_by_a_crash_go_once_under_the_same_key(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the commit, before sending: the next start sends it. Sent, but marking it
    failed: marked later, not sent again. Unsent for too long: expired, not sent."""
    camera = store.add_camera("hall", "file:///x", "care_safety")
    killed = dispatcher(store, receiver)  # never started: the process died first
    Recorder(store, alerts=killed).handle(EventStarted(camera.id, KEY, "fall", T0, 0.9, 3, T0))
    assert [row.done_at for row in store.outbox()] == [None]
    finish, failures = store.finish_alert, []

    def finish_fails_once(alert_id: int, outcome: str = "sent") -> None:
        if not failures:
            failures.append(alert_id)
            raise OperationalError("UPDATE", {}, ConnectionError("database restarting"))
        finish(alert_id, outcome)

    monkeypatch.setattr(store, "finish_alert", finish_fails_once)
    restarted = dispatcher(store, receiver, poll_s=0.1).start()
    try:
        wait_until(lambda: store.outbox()[0].done_at, 10, "the alert is marked sent")
    finally:
        restarted.stop()
    assert failures and delivered(receiver) == [f"{KEY}/started"]
    assert dispatcher(store, receiver).deliver() == 0  # a third start: nothing left to send
    # An alert the outbox kept longer than it is worth sending.
    Recorder(store, alerts=killed).handle(EventEnded(camera.id, KEY, T0 + timedelta(seconds=9)))
    assert dispatcher(store, receiver, expire_after_s=0).deliver() == 0
    assert [row.outcome for row in store.outbox()] == ["sent", "expired"]
    assert len(receiver.requests) == 1


def test_worker_keys_are_unique_for_every_event_and_count_batch() -> None:
    """A camera offline twice in one run is two events (the same key would make the store keep
    the first only); count batches are numbered within the run."""
    sent: list = []

    class Session:  # no frame is analysed here: no models needed
        watches_bodies = False

        def __init__(self) -> None:
            self.book = EventBook()  # the outages are the book's events, as in a real session

    loop = CameraLoop(CameraSpec(1, "file:///x", "care_safety"), Session(), sent.append)
    for online in (False, True, False, True):
        loop._on_state(CameraState(online, "", T0.timestamp()))
    loop._tally.minute, loop._tally.bucket.faces = T0, 3
    loop._send_counts()
    loop._tally.bucket.faces = 4  # one more since
    loop._send_counts()
    starts = [m.key for m in sent if isinstance(m, EventStarted)]
    ends = [m.key for m in sent if isinstance(m, EventEnded)]
    assert len(set(starts)) == 2 and ends == starts
    batches = [(m.run, m.seq) for m in sent if isinstance(m, MinuteCounts)]
    assert len({run for run, _ in batches}) == 1 and [seq for _, seq in batches] == [1, 2]
    assert all(key.startswith(batches[0][0]) for key in starts)  # the run's id leads
    other = CameraLoop(CameraSpec(1, "file:///x", "care_safety"), Session(), sent.append)
    assert other._run_id != loop._run_id  # the next run, even in the same process


def test_count_batches_are_forgotten_after_a_day(store: Store) -> None:
    camera = store.add_camera("door", "file:///x", "anonymous_statistics")
    with store.session() as session:
        session.add(CountBatch(run="old", seq=1, camera_id=camera.id,
                               stored_at=datetime.now(UTC) - timedelta(days=2)))
    assert store.add_counts(camera.id, T0, {"faces": 1}, batch=("new", 1))  # prunes
    assert not store.add_counts(camera.id, T0, {"faces": 1}, batch=("new", 1))
    with store.session() as session:
        assert [b.run for b in session.query(CountBatch)] == ["new"]
