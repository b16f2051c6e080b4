"""Per-stage milliseconds and end-to-end frames per second of the offline pipeline.

    python benchmarks/pipeline_speed.py [VIDEO] [--batch 8] [--threads 1]

VIDEO defaults to ../shared/data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames, one
face), analysed at its full frame rate. Prints the machine, a table, then ``affectlens.analyze``
end to end with and without the body path (pose, person tracks, fall rule: on by default
offline). Face detection is measured both ways: as the default searches (``full_scan_every_s``
1 s: in full on the first frame of each second, in between where the picture changed or a face
was) and every frame in full (``full_scan_every_s`` None, the reference), with the detector
tiles each searched per frame; the stages after detection take the default's faces (the age
row is the pipeline's own age stage: a track's age estimated once per ``age_every_s``,
carried on its other frames). The two
detection rows alternate batch by batch, and the end-to-end runs default then full, so both
see the same machine. Every figure is CPU milliseconds per frame (the figure of record: it
holds on a busy machine; with --threads 0 the models may use every core, so CPU can exceed
wall; the default is the setting's, one thread a model) beside wall milliseconds; nothing is
asserted.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import affectlens
from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, Usage, machine_report
from affectlens.models.alignment import align_faces
from affectlens.models.face_detector import FaceDetector
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


@dataclass
class TileCount:
    tiles: int = 0


@contextmanager
def counting_tiles(detector: FaceDetector) -> Iterator[TileCount]:
    """Counts the tiles that go through the detector's network while the body runs."""
    count, run = TileCount(), detector.model.run

    def counted(batch: np.ndarray) -> list[np.ndarray]:
        count.tiles += len(batch)
        return run(batch)

    detector.model.run = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        del detector.model.run  # the instance attribute goes; the class's method is back


def stage_times(video: Path, pipelines: dict[str, Pipeline], people: PeoplePipeline,
                batch: int) -> tuple[dict[str, Usage], dict[str, int], int, int]:
    """Total seconds per stage, detector tiles per detection row, frames and faces, running
    the stages one by one. Each of ``pipelines`` detects (a stage of its own); the stages
    after detection run on the first one's faces."""
    first = next(iter(pipelines.values()))
    models = first.models
    totals: dict[str, Usage] = defaultdict(lambda: Usage(0.0, 0.0))
    tiles = dict.fromkeys(pipelines, 0)
    source = open_media(video)
    states = {label: p.start_source(source.info.native_fps) for label, p in pipelines.items()}
    body_state = people.start_source(source.info.native_fps)
    frames, faces = [], 0
    with timed(totals, "decode"):
        frames.extend(source.frames())
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        found = {}
        for label, pipeline in pipelines.items():
            with counting_tiles(pipeline.models.detector) as count, timed(totals, label):
                found[label] = pipeline.detect(chunk, states[label])
            tiles[label] += count.tiles
        detections = next(iter(found.values()))
        state = next(iter(states.values()))
        with timed(totals, "track"):
            ids = first.follow(chunk, detections, state)
        with timed(totals, "align"):
            exp_crops = [align_faces(f.image, d.keypoints, models.expression.template)
                         for f, d in zip(chunk, detections)]
        with timed(totals, "classify expression"):
            probs = models.expression.predict(np.concatenate(exp_crops))
        with timed(totals, "age (align + classify)"):
            ages = first.ages(chunk, detections, ids, state)
        with timed(totals, "smooth"):
            first.smooth(chunk, detections, ids, probs, ages, state)
        with timed(totals, "pose + people + falls"):
            people.analyse(chunk, body_state)
        faces += sum(len(d) for d in detections)
    return totals, tiles, len(frames), faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int,
                        default=AnalysisConfig.model_fields["threads"].default,
                        help="CPU threads per model (default: the setting's; 0: every core)")
    parser.add_argument("--precision", choices=["int8", "float"],
                        default=AnalysisConfig.model_fields["precision"].default,
                        help="the expression and age models' form (default: the setting's, int8 "
                        "on the CPU; float: the reference)")
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"video not found: {args.video}")
    with machine_report():
        # pose off in the config: the body path runs only where ``people`` is passed below
        config = AnalysisConfig(batch_frames=args.batch, threads=args.threads, pose=False,
                                precision=args.precision)
        default = Pipeline(config)
        full = Pipeline(config.model_copy(update={"full_scan_every_s": None}), default.models)
        every = config.full_scan_every_s
        searches = {f"detect, default ({every:g} s)" if every else "detect, default": default,
                    "detect, full search": full}
        people = PeoplePipeline(config.falls, config.device, config.threads)
        first = next(open_media(args.video).frames())
        default.analyse([first], default.start_source(25))  # warm up
        people.analyse([first], people.start_source(25))
        totals, tiles, frames, faces = stage_times(args.video, searches, people, args.batch)
        print(f"{args.video.name}: {frames} frames, {faces} faces (default search); batch "
              f"{args.batch}, model threads {args.threads or 'all cores'}, {args.precision}")
        print(f"{'stage':<31}{'CPU ms/frame':>13}{'wall ms/frame':>15}")
        for stage, used in totals.items():
            extra = f"   {tiles[stage] / frames:.1f} tiles/frame" if stage in tiles else ""
            print(f"{stage:<31}{1000 * used.cpu_s / frames:>13.2f}"
                  f"{1000 * used.wall_s / frames:>15.2f}{extra}")
        for label, body in (("end to end, faces", None), ("end to end, with pose", people)):
            for search, pipeline in (("default", default), ("full search", full)):
                watch = Stopwatch()
                result = affectlens.analyze(args.video, pipeline=pipeline, people=body)
                used = watch.elapsed()
                analysed = int(result.sources.frames_analysed.sum())
                name = f"{label}, {search}"
                print(f"{name:<31}{1000 * used.cpu_s / analysed:>13.2f}"
                      f"{1000 * used.wall_s / analysed:>15.2f}   = "
                      f"{analysed / used.wall_s:.1f} fps (wall), "
                      f"{analysed / used.cpu_s:.1f} frames per CPU second, "
                      f"{len(result.frames)} face rows")


if __name__ == "__main__":
    main()
