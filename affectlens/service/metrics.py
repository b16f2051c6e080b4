"""Prometheus metrics of the live service, in a registry of its own (no process-wide state):
per-camera analysed fps, frame-to-result and frame-to-stored-event latency, frames read and
dropped, whether the camera is online, worker restarts, and the supervisor's queue depth.
``exposition()`` renders them; the service serves that at ``/metrics``."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

from affectlens.service.messages import WorkerMetrics

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, cam = self.registry, ["camera"]
        self.analysed_fps = Gauge("affectlens_camera_analysed_fps",
                                  "Frames analysed per second, recently.", cam, registry=r)
        self.latency = Histogram("affectlens_frame_latency_seconds",
                                 "From reading a frame to its analysis result being sent.", cam,
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.event_latency = Histogram("affectlens_event_latency_seconds",
                                       "From the frame that fired an event to it being stored.",
                                       cam, buckets=LATENCY_BUCKETS, registry=r)
        self.frames_read = Counter("affectlens_frames_read", "Frames decoded from the stream.",
                                   cam, registry=r)
        self.frames_analysed = Counter("affectlens_frames_analysed", "Frames analysed.", cam,
                                       registry=r)
        self.frames_dropped = Counter(
            "affectlens_frames_dropped",
            "Analysis slots skipped: a frame replaced by a newer one before it was analysed.",
            cam, registry=r)
        self.online = Gauge("affectlens_camera_online", "1 when the camera sends frames.", cam,
                            registry=r)
        self.restarts = Counter("affectlens_worker_restarts",
                                "Camera worker processes restarted after they died.", cam,
                                registry=r)
        self.queue_depth = Gauge("affectlens_queue_depth",
                                 "Messages waiting from the workers to the supervisor.",
                                 registry=r)
        self.workers = Gauge("affectlens_workers", "Camera worker processes running.",
                             registry=r)
        self._per_camera: list[Collector] = [
            self.analysed_fps, self.latency, self.event_latency, self.frames_read,
            self.frames_analysed, self.frames_dropped, self.online, self.restarts,
        ]

    def observe(self, message: WorkerMetrics) -> None:
        camera = str(message.camera_id)
        self.analysed_fps.labels(camera).set(message.analysed_fps)
        self.frames_read.labels(camera).inc(message.frames_read)
        self.frames_analysed.labels(camera).inc(message.frames_analysed)
        self.frames_dropped.labels(camera).inc(message.frames_dropped)
        histogram = self.latency.labels(camera)
        for seconds in message.latencies_s:
            histogram.observe(seconds)

    def forget(self, camera_id: int) -> None:
        """A deleted camera's series disappear."""
        for metric in self._per_camera:
            with contextlib.suppress(KeyError):
                metric.remove(str(camera_id))  # type: ignore[attr-defined]

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
