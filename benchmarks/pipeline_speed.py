"""Per-stage milliseconds and end-to-end frames per second of the offline pipeline.

    python benchmarks/pipeline_speed.py [VIDEO] [--batch 8] [--threads 0]

VIDEO defaults to ../shared/data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames, one
face), analysed at its full frame rate. Prints a table, then ``affectlens.analyze`` end to end
with and without the body path (pose, person tracks, fall rule: on by default offline);
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import affectlens
from affectlens.config import AnalysisConfig
from affectlens.models.alignment import align_faces
from affectlens.people import PeoplePipeline
from affectlens.pipeline import Pipeline
from affectlens.sources import open_media

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def stage_times(video: Path, pipeline: Pipeline, people: PeoplePipeline, batch: int
                ) -> tuple[dict[str, float], int, int]:
    """Total seconds per stage, frames and faces, running the stages one by one."""
    models, totals = pipeline.models, defaultdict(float)
    source = open_media(video)
    state = pipeline.start_source(source.info.native_fps)
    body_state = people.start_source(source.info.native_fps)
    frames, faces = [], 0
    clock = time.perf_counter()
    for frame in source.frames():
        frames.append(frame)
    totals["decode"] = time.perf_counter() - clock
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        clock = time.perf_counter()
        detections = models.detector.predict([f.image for f in chunk])
        totals["detect"] += time.perf_counter() - clock
        clock = time.perf_counter()
        exp_crops = [align_faces(f.image, d.keypoints, models.expression.template)
                     for f, d in zip(chunk, detections)]
        age_crops = [align_faces(f.image, d.keypoints, models.age.template)
                     for f, d in zip(chunk, detections)]
        totals["align"] += time.perf_counter() - clock
        clock = time.perf_counter()
        models.expression.predict(np.concatenate(exp_crops))
        totals["classify expression"] += time.perf_counter() - clock
        clock = time.perf_counter()
        models.age.predict(np.concatenate(age_crops))
        totals["classify age"] += time.perf_counter() - clock
        clock = time.perf_counter()
        for detection in detections:
            state.tracker.update(detection)
        totals["track"] += time.perf_counter() - clock
        clock = time.perf_counter()
        people.analyse(chunk, body_state)
        totals["pose + people + falls"] += time.perf_counter() - clock
        faces += sum(len(d) for d in detections)
    return totals, len(frames), faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"video not found: {args.video}")
    # pose off in the config: the body path runs only where ``people`` is passed below
    config = AnalysisConfig(batch_frames=args.batch, threads=args.threads, pose=False)
    pipeline = Pipeline(config)
    people = PeoplePipeline(config.falls, config.device, config.threads)
    first = next(open_media(args.video).frames())
    pipeline.analyse([first], pipeline.start_source(25))  # warm up
    people.analyse([first], people.start_source(25))
    totals, frames, faces = stage_times(args.video, pipeline, people, args.batch)
    print(f"{args.video.name}: {frames} frames, {faces} faces; {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} cores, batch {args.batch}")
    print(f"{'stage':<22}{'ms/frame':>10}")
    for stage, seconds in totals.items():
        print(f"{stage:<22}{1000 * seconds / frames:>10.2f}")
    for label, body in (("end to end, faces", None), ("end to end, with pose", people)):
        clock = time.perf_counter()
        result = affectlens.analyze(args.video, pipeline=pipeline, people=body)
        elapsed = time.perf_counter() - clock
        analysed = int(result.sources.frames_analysed.sum())
        print(f"{label:<22}{1000 * elapsed / analysed:>10.2f}   = {analysed / elapsed:.1f} fps")


if __name__ == "__main__":
    main()
