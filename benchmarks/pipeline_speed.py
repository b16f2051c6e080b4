"""Per-stage milliseconds and end-to-end frames per second of the offline pipeline.

    python benchmarks/pipeline_speed.py [VIDEO] [--batch 8] [--threads 0]

VIDEO defaults to ../shared/data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames, one
face), analysed at its full frame rate. Prints the machine, a table, then ``affectlens.analyze``
end to end with and without the body path (pose, person tracks, fall rule: on by default
offline). Every figure is CPU milliseconds per frame (the figure of record: it holds on a busy
machine; with --threads 0 the models may use every core, so CPU can exceed wall) beside wall
milliseconds; nothing is asserted.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import affectlens
from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, Usage, machine_report
from affectlens.models.alignment import align_faces
from affectlens.people import PeoplePipeline
from affectlens.pipeline import Pipeline
from affectlens.sources import open_media

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


@contextmanager
def timed(totals: dict[str, Usage], stage: str) -> Iterator[None]:
    """Add the body's wall and CPU seconds to ``totals[stage]``."""
    watch = Stopwatch()
    yield
    used, before = watch.elapsed(), totals[stage]
    totals[stage] = Usage(before.wall_s + used.wall_s, before.cpu_s + used.cpu_s)


def stage_times(video: Path, pipeline: Pipeline, people: PeoplePipeline, batch: int
                ) -> tuple[dict[str, Usage], int, int]:
    """Total seconds per stage, frames and faces, running the stages one by one."""
    models = pipeline.models
    totals: dict[str, Usage] = defaultdict(lambda: Usage(0.0, 0.0))
    source = open_media(video)
    state = pipeline.start_source(source.info.native_fps)
    body_state = people.start_source(source.info.native_fps)
    frames, faces = [], 0
    with timed(totals, "decode"):
        frames.extend(source.frames())
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        with timed(totals, "detect"):
            detections = models.detector.predict([f.image for f in chunk])
        with timed(totals, "align"):
            exp_crops = [align_faces(f.image, d.keypoints, models.expression.template)
                         for f, d in zip(chunk, detections)]
            age_crops = [align_faces(f.image, d.keypoints, models.age.template)
                         for f, d in zip(chunk, detections)]
        with timed(totals, "classify expression"):
            models.expression.predict(np.concatenate(exp_crops))
        with timed(totals, "classify age"):
            models.age.predict(np.concatenate(age_crops))
        with timed(totals, "track"):
            for detection in detections:
                state.tracker.update(detection)
        with timed(totals, "pose + people + falls"):
            people.analyse(chunk, body_state)
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
    with machine_report():
        # pose off in the config: the body path runs only where ``people`` is passed below
        config = AnalysisConfig(batch_frames=args.batch, threads=args.threads, pose=False)
        pipeline = Pipeline(config)
        people = PeoplePipeline(config.falls, config.device, config.threads)
        first = next(open_media(args.video).frames())
        pipeline.analyse([first], pipeline.start_source(25))  # warm up
        people.analyse([first], people.start_source(25))
        totals, frames, faces = stage_times(args.video, pipeline, people, args.batch)
        print(f"{args.video.name}: {frames} frames, {faces} faces; batch {args.batch}, model "
              f"threads {args.threads or 'all cores'}")
        print(f"{'stage':<22}{'CPU ms/frame':>13}{'wall ms/frame':>15}")
        for stage, used in totals.items():
            print(f"{stage:<22}{1000 * used.cpu_s / frames:>13.2f}"
                  f"{1000 * used.wall_s / frames:>15.2f}")
        for label, body in (("end to end, faces", None), ("end to end, with pose", people)):
            watch = Stopwatch()
            result = affectlens.analyze(args.video, pipeline=pipeline, people=body)
            used = watch.elapsed()
            analysed = int(result.sources.frames_analysed.sum())
            print(f"{label:<22}{1000 * used.cpu_s / analysed:>13.2f}"
                  f"{1000 * used.wall_s / analysed:>15.2f}   = {analysed / used.wall_s:.1f} fps "
                  f"(wall), {analysed / used.cpu_s:.1f} frames per CPU second")


if __name__ == "__main__":
    main()
