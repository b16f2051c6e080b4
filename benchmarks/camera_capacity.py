"""How many live cameras this machine sustains: the real supervisor and worker processes.

    python benchmarks/camera_capacity.py [--cameras 2,4,6,8,10] [--seconds 20] [--min-face 24]
        [--full-scan-every 1] [--start-method forkserver|spawn] [--source-fps 25] [--falls]
        [--still] [--frame-size 640x360]

Each camera plays a 640x360 (``--frame-size``: the same scene with more pixels), 25 fps
(``--source-fps``) H.264 file in a loop at real time (one face: the built-in public-domain
portrait, drifting; with ``--still``, not moving),
analysed at 5 fps by the full pipeline (care purpose: detection, expression, age, tracking,
distress rule, a blurred preview twice a second; with ``--falls`` also the body path: pose,
person tracks and the fall rule, as a camera watching for falls runs them), its messages
stored in SQLite by the supervisor. For each camera count it runs a warm-up, then measures
for ``--seconds``:

- analysed fps per camera (slowest camera), and analysis slots skipped (a frame replaced by a
  newer one before a worker could take it);
- frame-to-result latency: from the moment a frame is read off the stream to its analysis
  being sent to the supervisor (p50, p95 over every analysed frame);
- frame-to-event latency: from reading the frame that fires an event to the event being
  committed by the supervisor (a test rule fires once per track, so once per loop);
- CPU per camera (worker process CPU seconds / wall seconds) and memory per camera (PSS of a
  worker process, so shared library pages are counted once; and the largest peak resident
  set of any worker since it started, VmHWM, which counts shared pages in full: the figure a
  memory limit on one process would see).

A count is sustained when every camera analyses >= 95% of its 5 fps, no slot is skipped and
both p95 latencies are under 1 s. The machine may be shared: the CPU other processes used
during each measurement is printed too, and the machine (CPU, cores, runtime versions, load
average at start and end) above the tables. Also printed: whether batching frames of several
cameras into one detector call would pay (CPU and wall time per frame at batch 1 and 8).
Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, Usage, machine_report
from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings
from affectlens.models.face_detector import FaceDetector
from affectlens.samples import HEIGHT, WIDTH, portrait, write_video
from affectlens.service.messages import EventStarted, Message, WorkerMetrics, WorkerReady
from affectlens.service.recorder import Recorder
from affectlens.service.supervisor import StartMethod, Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.schema import Camera

FPS, ANALYSIS_FPS = 25, 5.0
TICKS = os.sysconf("SC_CLK_TCK")
# A distress rule that fires for every track half a second after it appears (and never ends
# while the face is seen): the looping video gives each camera a new track, so a new event,
# every loop, and frame-to-stored-event latency can be measured.
EVERY_TRACK = DistressSettings(threshold=0.01, hold_s=0.5, release_margin=0.0)


def one_face_video(path: Path, seconds: float = 8.0, fps: int = FPS, still: bool = False,
                   size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """``size`` (640x360 by default) at ``fps``: the portrait (about 150 px wide at 640x360,
    in proportion at other sizes) drifting across a grey room, or with ``still`` staying
    where it starts (a room where nothing moves: what a care-home camera mostly shows; one
    track for the whole run, so one event, before the measuring)."""
    scale = size[1] / HEIGHT
    face = cv2.resize(portrait(), (round(150 * scale), round(176 * scale)),
                      interpolation=cv2.INTER_AREA)

    def frames() -> Iterator[np.ndarray]:  # one at a time: 8 s of 4K is 5 GB of pixels
        for i in range(round(seconds * fps)):
            t = 0.0 if still else i / (seconds * fps)
            canvas = np.full((size[1], size[0], 3), 110, np.uint8)
            x = round(scale * (60 + 380 * t))
            y = round(scale * (80 + 60 * np.sin(2 * np.pi * t)))
            canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
            yield canvas

    return write_video(path, frames(), fps=fps, gop=fps)


class Collecting(Recorder):
    """A Recorder that also keeps the raw per-frame figures the workers report."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.measuring = False
        self.samples: dict[int, list[WorkerMetrics]] = {}
        self.event_latencies: list[float] = []
        self.ready_count = 0
        self._mutex = threading.Lock()

    def handle(self, message: Message) -> None:
        super().handle(message)  # stored (committed) when this returns
        with self._mutex:
            if isinstance(message, EventStarted) and self.measuring:
                stored = (datetime.now(UTC) - message.observed_at).total_seconds()
                self.event_latencies.append(stored)
            if isinstance(message, WorkerReady):
                self.ready_count += 1
            elif isinstance(message, WorkerMetrics) and self.measuring:
                self.samples.setdefault(message.camera_id, []).append(message)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (every core, since boot)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS  # minus idle and iowait


def peak_rss_mb(pid: int) -> float:
    """The process's largest resident set since it started (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    events: int
    event_p95_ms: float
    cpu_per_camera: float  # share of one core
    supervisor_cpu: float
    others_cpu: float  # cores used by other processes meanwhile (a shared machine)
    pss_mb: float
    peak_rss_mb: float  # the largest of any worker

    @property
    def sustained(self) -> bool:
        # No event in the window (a still picture keeps one track, whose distress event
        # fired before it): nothing to hold the event latency to.
        return (self.slowest_fps >= 0.95 * ANALYSIS_FPS and self.skipped == 0
                and self.p95_ms < 1000 and (self.events == 0 or self.event_p95_ms < 1000))


def run(cameras: int, video: Path, folder: Path, seconds: float, config: AnalysisConfig,
        start_method: StartMethod, falls: FallSettings | None = None) -> Run:
    store = Store(sqlite_url(folder / f"capacity-{cameras}.db"))
    for i in range(cameras):
        store.add_camera(f"camera {i}", f"file://{video}", "care_safety", ANALYSIS_FPS)
    recorder = Collecting(store)

    def spec(camera: Camera) -> CameraSpec:
        return CameraSpec(camera.id, camera.url, camera.purpose, camera.analysis_fps,
                          distress=EVERY_TRACK, analysis=config, log_level="WARNING",
                          falls=falls)

    supervisor = Supervisor(store, recorder, spec, poll_s=5.0, start_method=start_method).start()
    try:
        deadline = time.monotonic() + 60 + 10 * cameras
        while recorder.ready_count < cameras and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5.0)  # warm-up: models loaded, streams playing, caches warm
        pids = [p for p in supervisor.workers().values() if p is not None]
        cpu_before = {pid: cpu_seconds(pid) for pid in [*pids, os.getpid()]}
        busy_before = busy_seconds()
        recorder.measuring, began = True, time.monotonic()
        time.sleep(seconds)
        recorder.measuring, wall = False, time.monotonic() - began
        cpu = {pid: (cpu_seconds(pid) - cpu_before[pid]) / wall for pid in cpu_before}
        others = (busy_seconds() - busy_before) / wall - sum(cpu.values())
        memory = statistics.mean(pss_mb(pid) for pid in pids)
        peak = max(peak_rss_mb(pid) for pid in pids)
    finally:
        supervisor.stop()
        store.engine.dispose()
    per_camera = recorder.samples
    latencies = [s for ms in per_camera.values() for m in ms for s in m.latencies_s]
    rates = [rate(ms) for ms in per_camera.values()] + [0.0] * (cameras - len(per_camera))
    return Run(
        cameras, min(rates), sum(m.frames_dropped for ms in per_camera.values() for m in ms),
        percentile_ms(latencies, 50), percentile_ms(latencies, 95),
        len(recorder.event_latencies), percentile_ms(recorder.event_latencies, 95),
        statistics.mean(cpu[p] for p in pids), cpu[os.getpid()], max(0.0, others), memory,
        peak,
    )


def frame_size(text: str) -> tuple[int, int]:
    """"1920x1080" -> (1920, 1080); even sides (H.264's 4:2:0)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT") from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: even sides of at least 64 pixels")
    return width, height


def percentile_ms(seconds: list[float], q: float) -> float:
    return 1000 * float(np.percentile(seconds, q)) if seconds else float("nan")


def rate(reports: list[WorkerMetrics]) -> float:
    """Frames analysed per second between a camera's first and last report in the window
    (each report counts the frames since the one before)."""
    if len(reports) < 2:
        return 0.0
    span = (reports[-1].at - reports[0].at).total_seconds()
    return sum(m.frames_analysed for m in reports[1:]) / span


def batching(config: AnalysisConfig) -> tuple[Usage, Usage]:
    """Detector seconds per frame, one frame per call vs eight frames per call."""
    detector = FaceDetector(config.device, config.min_face_px, config.face_score_threshold,
                            threads=1)
    frame = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
    frame[80:256, 100:250] = cv2.resize(portrait(), (150, 176))
    detector.predict([frame] * 8)  # warm up
    watch = Stopwatch()
    for _ in range(16):
        detector.predict([frame])
    single = watch.elapsed()
    watch.restart()
    for _ in range(4):
        detector.predict([frame] * 8)
    batched = watch.elapsed()
    return (Usage(single.wall_s / 16, single.cpu_s / 16),
            Usage(batched.wall_s / 32, batched.cpu_s / 32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="2,4,6,8,10,12",
                        help="Camera counts to try, comma-separated.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured seconds each.")
    parser.add_argument("--min-face", type=float, default=24.0,
                        help="Smallest face searched for, px (the service's default: 24).")
    parser.add_argument("--full-scan-every", type=float, default=1.0,
                        help="Seconds between full searches for the smallest faces (the "
                        "service's default: 1); 0: every frame.")
    parser.add_argument("--start-method", choices=get_args(StartMethod), default="forkserver",
                        help="How worker processes start (the service's default: forkserver).")
    parser.add_argument("--source-fps", type=int, default=FPS,
                        help="Frames a second of each camera's stream (a camera's substream "
                        "set to the analysed rate decodes a fifth of the frames of one at 25).")
    parser.add_argument("--falls", action="store_true", help="Cameras watch for falls too "
                        "(pose, person tracks, the fall rule; the default fall settings).")
    parser.add_argument("--still", action="store_true", help="Nothing moves in the picture "
                        "(the face stays put): what the gated search and pose save.")
    parser.add_argument("--precision", choices=["int8", "float"],
                        default=AnalysisConfig.model_fields["precision"].default,
                        help="the expression and age models' form (default: the setting's, int8 "
                        "on the CPU; float: the reference)")
    parser.add_argument("--frame-size", type=frame_size, default=(WIDTH, HEIGHT),
                        metavar="WxH", help="each camera's picture (default 640x360): the same "
                        "scene, the face in proportion")
    args = parser.parse_args()
    config = AnalysisConfig(min_face_px=args.min_face,
                            full_scan_every_s=args.full_scan_every or None,
                            precision=args.precision)
    with machine_report():
        measure(args, config)


def measure(args: argparse.Namespace, config: AnalysisConfig) -> None:
    """Print the batching check and one table row per camera count."""
    width, height = args.frame_size
    print(f"{width}x{height} at {args.source_fps} fps looped, {ANALYSIS_FPS:g} analysed fps, "
          "min face "
          f"{args.min_face:g} px, full search every {args.full_scan_every:g} s (0: every "
          f"frame), one model thread per worker process, workers started by "
          f"{args.start_method}, {'watching for falls' if args.falls else 'faces only'}, "
          f"{'a still picture' if args.still else 'the face drifting'}, expression and age "
          f"models {args.precision}")
    single, batched = batching(config)
    verdict = "pays" if batched.cpu_s < 0.9 * single.cpu_s else "does not pay"
    print(f"detector per frame, CPU (wall): {1000 * single.cpu_s:.1f} "
          f"({1000 * single.wall_s:.1f}) ms one frame a call, {1000 * batched.cpu_s:.1f} "
          f"({1000 * batched.wall_s:.1f}) ms eight frames a call: batching across cameras "
          f"{verdict}\n")
    print("| cameras | slowest camera fps | skipped slots | frame-to-result p50 / p95 (ms) | "
          "events: n, frame-to-stored p95 (ms) | CPU per camera (cores) | supervisor CPU "
          "(cores) | other processes (cores) | PSS per worker (MB) | peak RSS of a worker (MB) | "
          "sustained |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    best = 0
    with tempfile.TemporaryDirectory() as folder:
        video = one_face_video(Path(folder) / f"one_face_{args.source_fps}fps.mp4",
                               fps=args.source_fps, still=args.still, size=args.frame_size)
        for count in (int(c) for c in args.cameras.split(",")):
            r = run(count, video, Path(folder), args.seconds, config, args.start_method,
                    FallSettings() if args.falls else None)
            print(f"| {r.cameras} | {r.slowest_fps:.2f} | {r.skipped} | {r.p50_ms:.0f} / "
                  f"{r.p95_ms:.0f} | {r.events}, {r.event_p95_ms:.0f} | "
                  f"{r.cpu_per_camera:.2f} | {r.supervisor_cpu:.2f} | {r.others_cpu:.2f} | "
                  f"{r.pss_mb:.0f} | {r.peak_rss_mb:.0f} | {'yes' if r.sustained else 'no'} |",
                  flush=True)
            if r.sustained:
                best = max(best, r.cameras)
    print(f"\nsustained: {best} cameras (target >= 10)")


if __name__ == "__main__":
    main()
