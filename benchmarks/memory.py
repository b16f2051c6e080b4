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

Each analysis runs under a tiny Python launcher that waits for it and prints its
``resource.getrusage(RUSAGE_CHILDREN)``: a child's ru_maxrss counts the memory of the process it
was forked from up to its ``exec`` (Linux keeps the larger), so measured straight from this
process, which holds decoded and scaled frames, a small run would report this process's own
peak; and RUSAGE_CHILDREN of this process would give the largest of all runs so far.

The target of issue 16: 1080p <= 1.5 GB and 4K <= 2 GB peak. A 4K frame costs about 1,300
detector tiles, so keep ``--frames-4k`` small on a shared machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
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
# Runs its arguments as a child, then prints [exit status, the child's peak RSS in KiB (Linux
# units), its CPU seconds]; the child's own output goes nowhere (its errors to stderr).
LAUNCHER = ("import json, resource, subprocess, sys; "
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(json.dumps([code, usage.ru_maxrss, usage.ru_utime + usage.ru_stime]))")


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
    """``affectlens analyze --no-pose`` of ``video`` under the launcher: peak RSS and time."""
    command = [sys.executable, "-c", LAUNCHER, sys.executable, "-c", ANALYZE, "analyze",
               str(video), "--no-pose", "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        sys.exit(f"{label}: the launcher failed (exit status {done.returncode})\n"
                 f"{done.stderr[-2000:]}")
    exit_code, max_rss_kib, cpu_s = json.loads(lines[-1])
    if exit_code != 0:
        print(f"{label}: exit status {exit_code}\n{done.stderr[-2000:]}", flush=True)
    tiles = len(plan_tiles(*SIZES[label], 24))
    return Run(label, frames, tiles, max_rss_kib / 1024, cpu_s, wall, exit_code)


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
