"""Offline throughput in one process against ``--jobs N`` processes on this machine.

    python benchmarks/offline_jobs.py [VIDEO] [--jobs 1,2] [--copies 4] [--long 6]
                                      [--segment-s 60] [--pose]

Two jobs a researcher runs, each through the real command line (``affectlens analyze
--no-report``, faces only unless ``--pose``), once per ``--jobs`` value:

- a folder of ``--copies`` copies of VIDEO (default ../shared/data/media/WolfgangLanger_
  Pexels.mp4, 640x360, one face; the built-in sample where it is absent): one task a file;
- one long video, VIDEO ``--long`` times over (re-encoded once, H.264), split into
  ``--segment-s`` segments, each warming up on the ``memory_s`` seconds before it (the
  extra work of splitting), stitched back into one pass.

For each: frames analysed a wall second, and CPU milliseconds a frame of the whole process
tree (the command and its pool's processes, waited for: ``os.times`` of children), with the
machine and its load around it: two processes are worth up to two cores only where two are
free. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from affectlens.cluster.segments import memory_s
from affectlens.config import AnalysisConfig
from affectlens.eval.machine import machine_report
from affectlens.samples import write_sample_video

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def concatenated(video: Path, times: int, out: Path) -> Path:
    """``video`` ``times`` over as one H.264 file at its own rate and size."""
    with av.open(str(video)) as source:
        stream = source.streams.video[0]
        rate, width, height = stream.average_rate, stream.width, stream.height
        frames = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
    with av.open(str(out), "w") as output:
        encoder = output.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        for _ in range(times):
            for image in frames:
                output.mux(encoder.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        output.mux(encoder.encode(None))
    return out


def run(inputs: Path, out: Path, jobs: int, extra: list[str]) -> tuple[int, float, float]:
    """(frames analysed, wall s, CPU s of the command and its children)."""
    command = [sys.executable, "-m", "affectlens", "analyze", str(inputs), "--out", str(out),
               "--no-report", "--jobs", str(jobs), *extra]
    before, started = os.times(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    wall, after = time.perf_counter() - started, os.times()
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    sources = json.loads((out / "summary.json").read_text())["sources"]
    return sum(int(source["frames_analysed"]) for source in sources), wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--jobs", default="1,2", help="comma-separated process counts")
    parser.add_argument("--copies", type=int, default=4, help="files in the folder job")
    parser.add_argument("--long", type=int, default=6, help="the video this many times over, "
                        "as the long-video job (0: none)")
    parser.add_argument("--segment-s", type=float, default=60.0)
    parser.add_argument("--pose", action="store_true", help="with the body path")
    parser.add_argument("--precision", choices=["int8", "float"],
                        default=AnalysisConfig.model_fields["precision"].default,
                        help="the expression and age models' form (default: the setting's, int8 "
                        "on the CPU; float: the reference)")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    extra = ["--segment-s", str(args.segment_s), "--precision", args.precision] + (
        [] if args.pose else ["--no-pose"])
    with machine_report(), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = args.video if args.video.is_file() else write_sample_video(
            root / "sample.mp4", seconds=20.0)
        print(f"video: {video.name}; {'with' if args.pose else 'without'} pose; segments "
              f"{args.segment_s:g} s, each warming up on the "
              f"{memory_s(AnalysisConfig(pose=args.pose)):g} s before it", flush=True)
        folder = root / "folder"
        folder.mkdir()
        for n in range(args.copies):
            # Copies, not links: an input found twice under one real path is analysed once.
            shutil.copyfile(video, folder / f"copy{n}{video.suffix}")
        jobs_of = [(f"folder of {args.copies} copies", folder)]
        if args.long > 0:
            long = concatenated(video, args.long, root / f"long{video.suffix}")
            jobs_of.append((f"one video {args.long} times over", long))
        print("| job | processes | frames | wall s | frames a wall second | CPU ms a frame |")
        print("|---|---|---|---|---|---|")
        for name, inputs in jobs_of:
            for count in jobs:
                frames, wall, cpu = run(inputs, root / f"out-{count}", count, extra)
                print(f"| {name} | {count} | {frames} | {wall:.1f} | {frames / wall:.1f} | "
                      f"{1000 * cpu / frames:.1f} |", flush=True)


if __name__ == "__main__":
    main()
