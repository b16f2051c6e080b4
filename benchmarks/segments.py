"""Long videos in segments against one pass (issue 15, affectlens/cluster/segments.py).

    python -m benchmarks.segments [VIDEO] [--segment-s 4] [--fps 4] [--pose] [--hold-s 2]

One video (default: ../shared/data/media/WolfgangLanger_Pexels.mp4, else the built-in sample
of 20 s; with ``--hold-s 2`` the crying at its start is a distress event across segments)
analysed once in one pass and once as segments of ``--segment-s`` with their warm-ups
(memory_s of the settings), each through the same function a cluster task runs, here one
after another, then stitched. Prints the agreement (frame rows, expression labels, track
count, events' times, the largest difference of an event's confidence) and the CPU and wall
seconds of each way: the segments' extra work is their warm-ups. On a cluster the segments
run at once on several nodes; the wall time there is the longest segment's, not measured
here. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import affectlens
from affectlens.cluster.segments import (
    analyse_segment,
    memory_s,
    plan,
    splittable_duration,
    stitch,
)
from affectlens.config import AnalysisConfig
from affectlens.samples import write_sample_video

REAL = Path(__file__).resolve().parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def _timed(work):  # (result, cpu s, wall s)
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--segment-s", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--pose", action="store_true")
    parser.add_argument("--hold-s", type=float, help="distress hold_s (default: settings')")
    args = parser.parse_args()
    video = args.video or (REAL if REAL.is_file() else
                           write_sample_video(Path("/tmp/affectlens-segments.mp4"), 20.0))
    distress = {} if args.hold_s is None else {"hold_s": args.hold_s}
    config = AnalysisConfig(fps=args.fps, threads=1, pose=args.pose, distress=distress)
    segments = plan(splittable_duration(video, config), args.segment_s, memory_s(config))
    print(f"{video}: {len(segments)} segments of {args.segment_s} s, warm-up "
          f"{memory_s(config)} s; load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    one, one_cpu, one_wall = _timed(lambda: affectlens.analyze(video, config))
    parts, cpu, wall = _timed(lambda: [analyse_segment(video, config, s) for s in segments])
    split = stitch(segments, parts, config)
    a, b = one.frames, split.frames
    same_rows = len(a) == len(b)
    labels = (a.expression.values == b.expression.values).mean() if same_rows else float("nan")
    when = ["kind", "track_id", "started_s", "detected_s", "ended_s"]
    same_events = one.events[when].equals(split.events[when])
    confidence = (abs(one.events.confidence.to_numpy() - split.events.confidence.to_numpy())
                  .max(initial=0.0) if len(one.events) == len(split.events) else float("nan"))
    print(f"frame rows: {len(a)} one pass, {len(b)} stitched; labels agree {labels:.2%}")
    print(f"tracks: {len(one.tracks)} one pass, {len(split.tracks)} stitched")
    print(f"events: {len(one.events)} one pass, {len(split.events)} stitched; "
          f"same times: {same_events}; confidence differs by {confidence:.4f} at most")
    print(f"one pass: {one_cpu:.1f} s CPU, {one_wall:.1f} s wall")
    print(f"segments: {cpu:.1f} s CPU, {wall:.1f} s wall (one after another)")


if __name__ == "__main__":
    main()
