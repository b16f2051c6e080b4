"""How many live cameras this machine sustains: the real supervisor and worker processes.

    python benchmarks/camera_capacity.py [--cameras 2,4,6,8,10] [--seconds 20] [--min-face 24]

Each camera plays a 640x360, 25 fps H.264 file in a loop at real time (one face: the built-in
public-domain portrait, drifting), analysed at 5 fps by the full pipeline (care purpose:
detection, expression, age, tracking, distress rule, a blurred preview twice a second), its
messages stored in SQLite by the supervisor. For each camera count it runs a warm-up, then
measures for ``--seconds``:

- analysed fps per camera (slowest camera), and analysis slots skipped (a frame replaced by a
  newer one before a worker could take it);
- frame-to-result latency: from the moment a frame is read off the stream to its analysis
  being sent to the supervisor (p50, p95 over every analysed frame);
- CPU per camera (worker process CPU seconds / wall seconds) and memory per camera (PSS of a
  worker process, so shared library pages are counted once).

A count is sustained when every camera analyses >= 95% of its 5 fps, no slot is skipped and
p95 latency is under 1 s. Also printed: whether batching frames of several cameras into one
detector call would pay (per-frame time at batch 1 and 8). Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.models.face_detector import FaceDetector
from affectlens.samples import HEIGHT, WIDTH, portrait, write_video
from affectlens.service.messages import Message, WorkerMetrics, WorkerReady
from affectlens.service.recorder import Recorder
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.schema import Camera

FPS, ANALYSIS_FPS = 25, 5.0
TICKS = os.sysconf("SC_CLK_TCK")


def one_face_video(path: Path, seconds: float = 8.0) -> Path:
    """640x360 at 25 fps: the portrait (about 150 px wide) drifting across a grey room."""
    face = cv2.resize(portrait(), (150, 176), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(round(seconds * FPS)):
        t = i / (seconds * FPS)
        canvas = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
        x, y = 60 + round(380 * t), 80 + round(60 * np.sin(2 * np.pi * t))
        canvas[y : y + 176, x : x + 150] = face
        frames.append(canvas)
    return write_video(path, frames, fps=FPS, gop=FPS)


class Collecting(Recorder):
    """A Recorder that also keeps the raw per-frame figures the workers report."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.measuring = False
        self.samples: dict[int, list[WorkerMetrics]] = {}
        self.ready_count = 0
        self._mutex = threading.Lock()

    def handle(self, message: Message) -> None:
        super().handle(message)
        with self._mutex:
            if isinstance(message, WorkerReady):
                self.ready_count += 1
            elif isinstance(message, WorkerMetrics) and self.measuring:
                self.samples.setdefault(message.camera_id, []).append(message)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Run:
    cameras: int
    slowest_fps: float
    skipped: int
    p50_ms: float
    p95_ms: float
    cpu_per_camera: float  # share of one core
    supervisor_cpu: float
    pss_mb: float

    @property
    def sustained(self) -> bool:
        return (self.slowest_fps >= 0.95 * ANALYSIS_FPS and self.skipped == 0
                and self.p95_ms < 1000)


def run(cameras: int, video: Path, folder: Path, seconds: float, config: AnalysisConfig
        ) -> Run:
    store = Store(sqlite_url(folder / f"capacity-{cameras}.db"))
    for i in range(cameras):
        store.add_camera(f"camera {i}", f"file://{video}", "care_safety", ANALYSIS_FPS)
    recorder = Collecting(store)

    def spec(camera: Camera) -> CameraSpec:
        return CameraSpec(camera.id, camera.url, camera.purpose, camera.analysis_fps,
                          analysis=config, log_level="WARNING")

    supervisor = Supervisor(store, recorder, spec, poll_s=5.0).start()
    try:
        deadline = time.monotonic() + 60 + 10 * cameras
        while recorder.ready_count < cameras and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5.0)  # warm-up: models loaded, streams playing, caches warm
        pids = [p for p in supervisor.workers().values() if p is not None]
        cpu_before = {pid: cpu_seconds(pid) for pid in [*pids, os.getpid()]}
        recorder.measuring, began = True, time.monotonic()
        time.sleep(seconds)
        recorder.measuring, wall = False, time.monotonic() - began
        cpu = {pid: (cpu_seconds(pid) - cpu_before[pid]) / wall for pid in cpu_before}
        memory = statistics.mean(pss_mb(pid) for pid in pids)
    finally:
        supervisor.stop()
        store.engine.dispose()
    per_camera = recorder.samples
    latencies = [s for ms in per_camera.values() for m in ms for s in m.latencies_s]
    rates = [sum(m.frames_analysed for m in ms) / wall for ms in per_camera.values()]
    rates += [0.0] * (cameras - len(per_camera))
    return Run(
        cameras, min(rates), sum(m.frames_dropped for ms in per_camera.values() for m in ms),
        1000 * float(np.percentile(latencies, 50)) if latencies else float("nan"),
        1000 * float(np.percentile(latencies, 95)) if latencies else float("nan"),
        statistics.mean(cpu[p] for p in pids), cpu[os.getpid()], memory,
    )


def batching(config: AnalysisConfig) -> tuple[float, float]:
    """Detector milliseconds per frame, one frame per call vs eight frames per call."""
    detector = FaceDetector(config.device, config.min_face_px, config.face_score_threshold,
                            threads=1)
    frame = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
    frame[80:256, 100:250] = cv2.resize(portrait(), (150, 176))
    detector.predict([frame] * 8)  # warm up
    began = time.perf_counter()
    for _ in range(16):
        detector.predict([frame])
    single = (time.perf_counter() - began) / 16
    began = time.perf_counter()
    for _ in range(4):
        detector.predict([frame] * 8)
    batched = (time.perf_counter() - began) / 32
    return 1000 * single, 1000 * batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="2,4,6,8,10,12",
                        help="Camera counts to try, comma-separated.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured seconds each.")
    parser.add_argument("--min-face", type=float, default=24.0,
                        help="Smallest face searched for, px (the service's default: 24).")
    args = parser.parse_args()
    config = AnalysisConfig(threads=1, min_face_px=args.min_face)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"640x360 at {FPS} fps looped, {ANALYSIS_FPS:g} analysed fps, min face "
          f"{args.min_face:g} px, one model thread per worker process")
    single, batched = batching(config)
    print(f"detector per frame: {single:.1f} ms one frame a call, {batched:.1f} ms eight "
          f"frames a call ({100 * (1 - batched / single):.0f}% saved by batching)\n")
    print("| cameras | slowest camera fps | skipped slots | latency p50 / p95 (ms) | "
          "CPU per camera (cores) | supervisor CPU | PSS per worker (MB) | sustained |")
    print("|---|---|---|---|---|---|---|---|")
    best = 0
    with tempfile.TemporaryDirectory() as folder:
        video = one_face_video(Path(folder) / "one_face_25fps.mp4")
        for count in (int(c) for c in args.cameras.split(",")):
            r = run(count, video, Path(folder), args.seconds, config)
            print(f"| {r.cameras} | {r.slowest_fps:.2f} | {r.skipped} | {r.p50_ms:.0f} / "
                  f"{r.p95_ms:.0f} | {r.cpu_per_camera:.2f} | {r.supervisor_cpu:.2f} | "
                  f"{r.pss_mb:.0f} | {'yes' if r.sustained else 'no'} |", flush=True)
            if r.sustained:
                best = max(best, r.cameras)
    print(f"\nsustained: {best} cameras (target >= 10)")


if __name__ == "__main__":
    main()
