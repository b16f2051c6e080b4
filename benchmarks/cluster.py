"""What Ray costs against local processes, on one node at equal cores (issue 15).

    python benchmarks/cluster.py [--cameras 2] [--seconds 30] [--files 4]

Live: ``--cameras`` cameras (default: the usable cores), each playing a 640x360 H.264 file
in a loop at real time, analysed at 5 fps by the full pipeline, through the real supervisor
and Recorder (SQLite), once with local worker processes and once with Ray actors on a
one-node Ray cluster started here with as many CPUs (dashboard off). For each: frames
analysed per second (all cameras), and CPU seconds per analysed frame of the whole process
tree (this process, the workers, and with Ray its own daemons: GCS, raylet, the queue), wall
seconds of the window beside it.

Offline: ``--files`` sample videos analysed on one machine (one process, a model thread per
core) and with ``--cluster`` on the same one-node cluster (a task per file, one thread
each): wall and CPU seconds of the process tree.

Ray's overhead is the difference in CPU per frame (live) and CPU (offline). The machine may be
shared: the CPU used by other processes meanwhile is printed beside each figure, and the
machine above the tables. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from camera_capacity import ANALYSIS_FPS, Collecting, busy_seconds, one_face_video

from affectlens.analysis import analyze
from affectlens.config import AnalysisConfig
from affectlens.eval.machine import machine_report
from affectlens.samples import write_sample_video
from affectlens.service.launcher import Launcher, LocalLauncher
from affectlens.service.supervisor import Supervisor
from affectlens.service.worker import CameraSpec
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.schema import Camera

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and every live descendant, read from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


class Window:
    """Wall, this tree's CPU and the other processes' CPU over a ``with`` block."""

    def __enter__(self) -> Window:
        self.cpu, self.busy, self.wall = (tree_cpu_seconds(os.getpid()), busy_seconds(),
                                          time.monotonic())
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.monotonic() - self.wall
        self.cpu = tree_cpu_seconds(os.getpid()) - self.cpu
        self.others = max(0.0, busy_seconds() - self.busy - self.cpu)


def live(make: Callable[[], Launcher], cameras: int, video: Path, folder: Path,
         seconds: float) -> tuple[int, Window]:
    store = Store(sqlite_url(folder / f"live-{time.monotonic_ns()}.db"))
    for i in range(cameras):
        store.add_camera(f"camera {i}", f"file://{video}", "care_safety", ANALYSIS_FPS)
    recorder = Collecting(store)
    config = AnalysisConfig()

    def spec(camera: Camera) -> CameraSpec:
        return CameraSpec(camera.id, camera.url, camera.purpose, camera.analysis_fps,
                          analysis=config, log_level="WARNING")

    supervisor = Supervisor(store, recorder, spec, poll_s=5.0, launcher=make()).start()
    try:
        deadline = time.monotonic() + 120
        while recorder.ready_count < cameras and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5.0)  # warm-up
        recorder.measuring = True
        with Window() as window:
            time.sleep(seconds)
        recorder.measuring = False
    finally:
        supervisor.stop()
        store.engine.dispose()
    frames = sum(m.frames_analysed for ms in recorder.samples.values() for m in ms)
    return frames, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    import ray

    from affectlens.cluster.launcher import RayLauncher
    from affectlens.cluster.offline import analyze_on_cluster

    cores = args.cameras
    with machine_report(), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = one_face_video(folder / "one-face.mp4")
        print(f"\nlive: {cores} cameras at {ANALYSIS_FPS:g} fps, {args.seconds:g} s each; "
              f"Ray: one node, {cores} CPUs, dashboard off")
        print("engine | analysed fps | CPU s / frame | CPU s | wall s | others' cores")
        rows = {}
        ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False,
                 object_store_memory=200 * 1024**2)
        try:
            for name, make in (("local", LocalLauncher),
                               ("ray", lambda: RayLauncher("auto"))):
                frames, w = live(make, cores, video, folder, args.seconds)
                rows[name] = w.cpu / max(frames, 1)
                print(f"{name} | {frames / w.wall:.2f} | {rows[name]:.3f} | {w.cpu:.1f} | "
                      f"{w.wall:.1f} | {w.others / w.wall:.2f}", flush=True)
            print(f"Ray's CPU overhead per analysed frame: "
                  f"{100 * (rows['ray'] / rows['local'] - 1):+.1f}%")
            inputs = folder / "inputs"
            for n in range(args.files):
                write_sample_video(inputs / f"clip{n}.mp4", seconds=3.0)
            print(f"\noffline: {args.files} sample videos of 3 s, every frame")
            print("engine | CPU s | wall s | others' cores")
            offline = {}
            for name in ("local", "ray"):
                with Window() as w:
                    if name == "local":
                        analyze(inputs, AnalysisConfig(threads=cores))
                    else:
                        analyze_on_cluster([inputs], AnalysisConfig(threads=1), "auto")
                offline[name] = w.cpu
                print(f"{name} | {w.cpu:.1f} | {w.wall:.1f} | {w.others / w.wall:.2f}",
                      flush=True)
            print(f"Ray's CPU overhead offline: "
                  f"{100 * (offline['ray'] / offline['local'] - 1):+.1f}% (each task loads "
                  "the models again)")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
