"""Peak memory of offline analysis against resolution: 360p, 1080p and 4K versions of one clip.

    python benchmarks/memory.py [VIDEO] [--frames 48] [--frames-4k 8]
        [--resolutions 360p,1080p,4k]

VIDEO defaults to ../shared/data/media/WolfgangLanger_Pexels.mp4 (640x360, one face). Its first
frames are scaled up with OpenCV (bicubic) to 1920x1080 and 3840x2160 and written as H.264 with
PyAV into a temporary folder under /tmp (removed at the end; nothing is written into the
repository). Each version is then analysed by ``affectlens analyze --no-pose`` in its own child
process, and for each run this prints the child's peak resident memory (ru_maxrss), its CPU time
(user + system) and its wall time, beside the frames analysed and the tiles the detector ran on
each frame.

Why ``os.wait4`` and not ``resource.getrusage(RUSAGE_CHILDREN)``: the latter's ru_maxrss is the
largest of every child waited for so far, so a small run after a big one would print the big
one's figure; ``wait4`` returns the same ``rusage`` for one child alone.

The target of issue 16: 1080p <= 1.5 GB and 4K <= 2 GB peak. A 4K frame costs about 1,300
detector tiles, so keep ``--frames-4k`` small on a shared machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectlens.eval.machine import machine_report
from affectlens.models.face_detector import plan_tiles
from affectlens.samples import write_video
from affectlens.sources import open_media

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
ANALYZE = "from affectlens.cli import app; app()"


@dataclass(frozen=True)
class Run:
    """What one ``affectlens analyze`` child process cost."""

    label: str
    frames: int
    tiles_per_frame: int
    peak_rss_mb: float
    cpu_s: float
    wall_s: float
    exit_code: int


def source_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of ``video`` (BGR)."""
    frames = []
    for frame in open_media(video).frames():
        frames.append(frame.image)
        if len(frames) == count:
            break
    return frames


def make_video(frames: list[np.ndarray], size: tuple[int, int], path: Path) -> Path:
    """``frames`` scaled to ``size`` (width, height) with OpenCV, written as H.264 at 25 fps."""
    scaled = (f if f.shape[1::-1] == size else cv2.resize(f, size, interpolation=cv2.INTER_CUBIC)
              for f in frames)
    return write_video(path, scaled, fps=25)


def analyse(label: str, video: Path, frames: int, out: Path) -> Run:
    """Run ``affectlens analyze --no-pose`` on ``video`` in a child; its own peak RSS and time."""
    command = [sys.executable, "-c", ANALYZE, "analyze", str(video), "--no-pose",
               "--out", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        print(f"{label}: exit status {child.returncode}\n{errors[-2000:]}", flush=True)
    tiles = len(plan_tiles(*SIZES[label], 24))
    # Linux reports ru_maxrss in KiB.
    return Run(label, frames, tiles, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime,
               wall, child.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--frames", type=int, default=48,
                        help="Frames of the 360p, 720p and 1080p versions.")
    parser.add_argument("--frames-4k", type=int, default=8, help="Frames of the 4K version.")
    parser.add_argument("--resolutions", default="360p,1080p,4k",
                        help=f"Comma-separated, of {', '.join(SIZES)}.")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"{args.video}: not found (the shared media live in ../shared/data/media)")
    labels = [r.strip().lower() for r in args.resolutions.split(",") if r.strip()]
    unknown = [r for r in labels if r not in SIZES]
    if unknown:
        sys.exit(f"unknown resolution(s) {unknown}; choose from {', '.join(SIZES)}")
    with machine_report():
        print(f"clip: {args.video.name}", flush=True)
        frames = source_frames(args.video, max(args.frames, args.frames_4k))
        work = Path(tempfile.mkdtemp(prefix="affectlens-memory-", dir="/tmp"))
        runs = []
        try:
            for label in labels:
                count = args.frames_4k if label == "4k" else args.frames
                video = make_video(frames[:count], SIZES[label], work / f"{label}.mp4")
                runs.append(analyse(label, video, count, work / f"out-{label}"))
                video.unlink()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("\naffectlens analyze --no-pose, one child process per resolution")
        print(f"{'video':>7} {'frames':>6} {'tiles/frame':>11} {'peak RSS MB':>11} "
              f"{'CPU s':>7} {'CPU s/frame':>11} {'wall s':>7} {'exit':>4}")
        for run in runs:
            print(f"{run.label:>7} {run.frames:>6} {run.tiles_per_frame:>11} "
                  f"{run.peak_rss_mb:>11.0f} {run.cpu_s:>7.1f} {run.cpu_s / run.frames:>11.2f} "
                  f"{run.wall_s:>7.1f} {run.exit_code:>4}")


if __name__ == "__main__":
    main()
