"""One camera's analysis loop: live frames -> pipeline -> events and per-minute counts.

It joins the pieces: a LiveCamera (frames, health), the offline engine's Pipeline (same
models, tracking and smoothing), the sustained-distress rule, and the Store. A camera going
offline is stored as health and as a ``camera_offline`` event that ends when it returns.

Every event is handed to an AlertDispatcher (webhooks, MQTT) when it starts and when it ends.
Runs in a thread; ONNX Runtime and PyAV release the GIL while they work, so cameras overlap.
Moving workers into processes, batching across cameras and the purpose gate (no expression
analysis for ``anonymous_statistics`` cameras) are still to come.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from affectlens.events.distress import DistressEvent, DistressRule, DistressSettings
from affectlens.pipeline import Pipeline
from affectlens.service.alerts import AlertDispatcher
from affectlens.service.camera import CameraState, LiveCamera
from affectlens.store import Store
from affectlens.store.schema import AGE_BAND_COLUMNS, Event
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import AGE_BANDS, FaceAnalysis, Frame, age_band

_BAND_COLUMN = {name: column for (name, _, _), column in zip(AGE_BANDS, AGE_BAND_COLUMNS)}


def _wall(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class CameraWorker:
    def __init__(
        self, camera_id: int, url: str, store: Store, pipeline: Pipeline,
        analysis_fps: float = 5.0, distress: DistressSettings | None = None,
        io_timeout_s: float = 5.0, backoff_s: tuple[float, ...] | None = None,
        alerts: AlertDispatcher | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.store = store
        self.pipeline = pipeline
        self.rule = DistressRule(distress)
        self.alerts = alerts
        options = {"backoff_s": backoff_s} if backoff_s else {}
        self.camera = LiveCamera(url, analysis_fps, on_state=self._on_state,
                                 io_timeout_s=io_timeout_s, **options)
        self._state = pipeline.start_source(analysis_fps)
        self._open_events: dict[int, int] = {}  # track id -> event id
        self._offline_event: int | None = None
        self._counts: Counter[str] = Counter()
        self._minute: datetime | None = None
        self._started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"worker {camera_id}",
                                        daemon=True)

    def start(self) -> CameraWorker:
        self.camera.start()
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.camera.stop(timeout)
        self._thread.join(timeout)
        for event in self.rule.finish():
            self._store_distress(event)
        self._flush_counts()

    def _run(self) -> None:
        while not self._stop.is_set():
            live = self.camera.next_frame(timeout=0.5)
            if live is None:
                continue
            if not self._started:
                self._started = live.timestamp
            frame = Frame(live.image, live.index, live.timestamp - self._started,
                          self.camera.url)
            (analysis,) = self.pipeline.analyse([frame], self._state)
            self._count(analysis, live.timestamp)
            for i, track_id in enumerate(analysis.track_ids):
                if track_id != UNTRACKED:
                    for event in self.rule.update(int(track_id), frame.timestamp,
                                                  analysis.smoothed_probs[i]):
                        self._store_distress(event)

    def _store_distress(self, event: DistressEvent) -> None:
        if event.ended_s is None:
            stored = self.store.record_event(
                self.camera_id, "distress", _wall(self._started + event.started_s),
                event.confidence, track_id=event.track_id,
            )
            self._open_events[event.track_id] = stored.id
            self._alert(stored)
        elif event.track_id in self._open_events:
            self._alert(self.store.end_event(self._open_events.pop(event.track_id),
                                             _wall(self._started + event.ended_s)))

    def _alert(self, event: Event | None) -> None:
        """Alerts go out when an event starts and when it ends (``ended_at`` set)."""
        if self.alerts is not None and event is not None:
            self.alerts.notify(event)

    def _count(self, analysis: FaceAnalysis, at: float) -> None:
        minute = _wall(at).replace(second=0, microsecond=0)
        if self._minute is not None and minute != self._minute:
            self._flush_counts()
        self._minute = minute
        self._counts["faces"] += len(analysis)
        for label, age in zip(analysis.dominant, analysis.ages):
            self._counts[f"n_{label}"] += 1
            self._counts[_BAND_COLUMN[age_band(float(age))]] += 1

    def _flush_counts(self) -> None:
        if self._minute is not None and self._counts:
            self.store.add_counts(self.camera_id, self._minute, dict(self._counts))
        self._counts.clear()

    def _on_state(self, state: CameraState) -> None:
        self.store.record_health(self.camera_id, state.online, state.message)
        if not state.online and self._offline_event is None:
            offline = self.store.record_event(self.camera_id, "camera_offline",
                                              _wall(state.at), 1.0)
            self._offline_event = offline.id
            self._alert(offline)
        elif state.online and self._offline_event is not None:
            self._alert(self.store.end_event(self._offline_event, _wall(state.at)))
            self._offline_event = None
