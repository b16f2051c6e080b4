"""What motion-gated face detection keeps and costs against searching every frame in full.

    python -m benchmarks.detect_recall [--set test|validation] [--thresholds 12]
        [--waits 0.2] [--still-every 10,none] [--full-scan-every 1.0] [--fps N] [--only NAME]

Each clip is analysed by the face pipeline (detection, expression, age, tracking; no pose):
every frame searched in full (``full_scan_every_s`` None, always the reference, whatever the
setting's default), and gated for each ``motion_threshold`` and ``motion_search_every_s``
given, and ``still_tiles_every_s`` (``--still-every``), every combination (``full_scan_every_s``:
``--full-scan-every``, by default the setting's default, the offline and live default search:
in full on the first analysed frame of each period of video time, and in between only the
detector tiles in which the picture changed or that hold a face seen lately). Per clip and in
all it prints:

- face recall: the share of the reference's faces (frame by frame) that the gated run finds
  too (a box overlapping by IoU > 0.5), and the gated run's faces the reference lacks;
- track recall: the share of the reference's tracks that the gated run finds within 1 s of
  the track's first frame (a face entering the picture, or there from the start);
- expression agreement: on the faces both runs find, the share with the same smoothed label;
- detector tiles per frame and CPU (and wall) ms per frame of the face pipeline, both runs.

Clip sets. ``validation`` chose ``motion_threshold``'s and ``motion_search_every_s``'s
defaults (docs/speed.md): URFD's
fall-01-cam0.mp4 (a real camera's noise, a person walking and falling), the built-in sad
sample (a drifting face, H.264) encoded at 5 and 25 fps, and a harder one made for it
(``entering_frames``, at 5 and 25 fps): two small faces entering a noisy grey frame from
its edges, one slowly (8 px a second: little change from frame to frame, what a high
threshold misses), one quickly, and (``beside_frames``, at 5 and 25 fps) a face coming into
view beside a walking person. ``test`` reports the figures: the
built-in two-face sample and the media in ../shared/data/media (WolfgangLanger_Pexels.mp4,
single_face.mp4, face_noface.mov, noface_face.mov, no_face.mp4). Clips under ../shared are
skipped where it is absent. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.pipeline import Models, Pipeline
from affectlens.samples import (
    HEIGHT,
    WIDTH,
    SadScene,
    portrait,
    sad_frames,
    write_sample_video,
    write_video,
)
from affectlens.sources import open_media
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import FaceAnalysis, Frame

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
MEDIA = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov",
         "no_face.mp4")
MATCH_IOU = 0.5
TRACK_FOUND_WITHIN_S = 1.0


@dataclass
class Run:
    """One pass over a clip: per frame, what the pipeline found; detector tiles; CPU time."""

    analyses: list[FaceAnalysis]
    tiles: int
    cpu_s: float
    wall_s: float


def noisy_grey(rng: np.random.Generator) -> np.ndarray:
    """A 640x360 grey frame with sensor noise (sd 3 levels)."""
    canvas = np.clip(110 + rng.normal(0, 3, (HEIGHT, WIDTH, 1)), 0, 255).astype(np.uint8)
    return np.repeat(canvas, 3, axis=2)


def entering_frames(fps: int, seconds: float = 10.0) -> Iterator[np.ndarray]:
    """640x360 grey with sensor noise (sd 3 levels, seeded); the built-in portrait 96 px wide
    (its face about 40 px) sliding in from the left at 8 px/s, and 128 px wide from the right
    at 40 px/s from 2 s."""
    face = portrait()
    slow = cv2.resize(face, (96, 113), interpolation=cv2.INTER_AREA)
    fast = cv2.resize(face[:, ::-1], (128, 150), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(7)
    for i in range(round(seconds * fps)):
        t = i / fps
        canvas = noisy_grey(rng)
        for image, x, y in ((slow, round(-96 + 8 * t), 40),
                            (fast, round(WIDTH - 40 * max(0.0, t - 2.0)), 190)):
            h, w = image.shape[:2]
            left, right = max(x, 0), min(x + w, WIDTH)
            if right > left:
                canvas[y:y + h, left:right] = image[:, left - x:right - x]
        yield canvas


def beside_frames(fps: int, seconds: float = 8.0) -> Iterator[np.ndarray]:
    """640x360 grey with sensor noise (sd 3 levels, seeded); the built-in portrait 150 px wide
    (head and shoulders, its face about 58 px) walking left to right at 50 px/s, and from
    3.1 s, just after a full search's second begins, a second face 64 px wide (its face about
    27 px) in view beside the walker's shoulder, still: a person further back who turns to
    the camera, inside the walker's reach, where a change the walker's face explains no
    longer wakes the detector's tiles on the next frame (docs/speed.md)."""
    face = portrait()
    walker = cv2.resize(face, (150, 176), interpolation=cv2.INTER_AREA)
    behind = cv2.resize(face[:, ::-1], (64, 75), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(11)
    for i in range(round(seconds * fps)):
        t = i / fps
        canvas = noisy_grey(rng)
        if t >= 3.1:
            canvas[170:245, 350:414] = behind
        x = round(40 + 50 * t)
        canvas[90:266, x:x + 150] = walker
        yield canvas


def clips(which: str, folder: Path) -> Iterator[tuple[str, Path]]:
    """(name, path) of each clip of the set; built-in samples are written into ``folder``."""
    if which == "validation":
        urfd = SHARED / "falls/fall-01-cam0.mp4"
        if urfd.is_file():
            yield urfd.name, urfd
        scene = SadScene(length_s=12.0, sad_s=2.0, calm_s=8.0)
        for fps in (5, 25):
            path = write_video(folder / f"sad_{fps}fps.mp4", sad_frames(scene, fps), fps)
            yield path.name, path
        for fps in (5, 25):
            path = write_video(folder / f"entering_{fps}fps.mp4", entering_frames(fps), fps)
            yield path.name, path
        for fps in (5, 25):
            path = write_video(folder / f"beside_{fps}fps.mp4", beside_frames(fps), fps)
            yield path.name, path
        return
    yield "sample.mp4 (built in)", write_sample_video(folder / "sample.mp4", 8.0, 10)
    for name in MEDIA:
        if (SHARED / "media" / name).is_file():
            yield name, SHARED / "media" / name


def analyse(frames: list[Frame], fps: float, pipeline: Pipeline) -> Run:
    """The face pipeline over ``frames`` in batches, counting the detector's tiles."""
    model = pipeline.models.detector.model
    tiles = 0
    run = model.run

    def counted(batch: np.ndarray) -> list[np.ndarray]:
        nonlocal tiles
        tiles += len(batch)
        return run(batch)

    model.run = counted  # type: ignore[method-assign]
    try:
        state = pipeline.start_source(fps)
        batch, analyses = pipeline.config.batch_frames, []
        watch = Stopwatch()
        for start in range(0, len(frames), batch):
            analyses += pipeline.analyse(frames[start : start + batch], state)
        used = watch.elapsed()
    finally:
        del model.run  # the instance attribute goes; the class's method is back
    return Run(analyses, tiles, used.cpu_s, used.wall_s)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


@dataclass
class Comparison:
    """Counts of the gated run against the reference, summed over clips."""

    faces: int = 0
    found: int = 0
    extra: int = 0
    tracks: int = 0
    tracks_found: int = 0
    same_label: int = 0
    labelled: int = 0

    def add(self, other: Comparison) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def compare(reference: Run, gated: Run) -> Comparison:
    """Faces, tracks and labels of ``reference`` that ``gated`` finds too."""
    result = Comparison()
    first_seen: dict[int, float] = {}
    found_at: dict[int, float] = {}
    for ref, got in zip(reference.analyses, gated.analyses, strict=True):
        result.faces += len(ref)
        overlap = (iou(ref.faces.boxes, got.faces.boxes) if len(ref) and len(got)
                   else np.zeros((len(ref), len(got))))
        matched = overlap.max(axis=1) > MATCH_IOU if len(got) else np.zeros(len(ref), bool)
        result.found += int(matched.sum())
        result.extra += int((~(overlap > MATCH_IOU).any(axis=0)).sum()) if len(ref) else len(got)
        for i, track_id in enumerate(ref.track_ids):
            if track_id == UNTRACKED:
                continue
            first_seen.setdefault(int(track_id), ref.timestamp)
            if matched[i]:
                found_at.setdefault(int(track_id), ref.timestamp)
        if ref.dominant and got.dominant:
            for i in np.flatnonzero(matched):
                result.labelled += 1
                result.same_label += ref.dominant[i] == got.dominant[int(overlap[i].argmax())]
    result.tracks = len(first_seen)
    result.tracks_found = sum(
        1 for track, start in first_seen.items()
        if track in found_at and found_at[track] - start <= TRACK_FOUND_WITHIN_S)
    return result


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "-"


def label(gate: tuple[float, float, float | None]) -> str:
    """A gated run's settings as printed: motion_threshold/motion_search_every_s/
    still_tiles_every_s (- for null)."""
    still = "-" if gate[2] is None else f"{gate[2]:g}s"
    return f"{gate[0]:g}/{gate[1]:g}s/{still}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=("test", "validation"), default="test")
    parser.add_argument("--thresholds", default=None,
                        help="comma-separated motion_threshold values (default: the setting's)")
    parser.add_argument("--waits", default=None,
                        help="comma-separated motion_search_every_s values, seconds (default: "
                        "the setting's)")
    parser.add_argument("--full-scan-every", type=float,
                        default=AnalysisConfig.model_fields["full_scan_every_s"].default,
                        help="seconds between full searches of the gated runs (default: the "
                        "setting's default)")
    parser.add_argument("--still-every", default=None,
                        help="comma-separated still_tiles_every_s values, seconds, or none "
                        "(every tile on every periodic search; default: the setting's)")
    parser.add_argument("--fps", type=float, default=None, help="analysed frames per second")
    parser.add_argument("--only", default="",
                        help="only the clips whose name contains this, e.g. entering")
    args = parser.parse_args()
    fields = AnalysisConfig.model_fields
    thresholds = ([float(t) for t in args.thresholds.split(",")] if args.thresholds
                  else [float(fields["motion_threshold"].default)])
    waits = ([float(w) for w in args.waits.split(",")] if args.waits
             else [float(fields["motion_search_every_s"].default)])
    stills = ([None if v.strip().lower() in ("none", "null") else float(v)
               for v in args.still_every.split(",")] if args.still_every
              else [fields["still_tiles_every_s"].default])
    gates = [(t, w, v) for t in thresholds for w in waits for v in stills]
    with machine_report(), tempfile.TemporaryDirectory() as tmp:
        models = Models.load(AnalysisConfig(pose=False))
        # The reference searches every frame in full, whatever full_scan_every_s's default.
        reference = Pipeline(AnalysisConfig(pose=False, fps=args.fps, full_scan_every_s=None),
                             models)
        assert reference.config.full_scan_every_s is None
        gated = {(t, w, v): Pipeline(AnalysisConfig(
            pose=False, fps=args.fps, motion_threshold=t, motion_search_every_s=w,
            still_tiles_every_s=v, full_scan_every_s=args.full_scan_every), models)
            for t, w, v in gates}
        totals = {gate: Comparison() for gate in gates}
        cost = {gate: [0, 0.0, 0.0] for gate in (None, *gates)}
        frames_total = 0
        print(f"clip set {args.set}; full search every {args.full_scan_every:g} s between "
              f"gated frames; analysed fps {args.fps or 'every frame'}")
        print(f"{'clip':<24}{'gate':>14}{'tiles/frame':>12}{'CPU ms/frame':>13}"
              f"{'wall ms':>9}  face recall, extra faces, tracks found within 1 s, "
              "same expression label")
        for name, path in clips(args.set, Path(tmp)):
            if args.only not in name:
                continue
            source = open_media(path, args.fps)
            frames = list(source.frames())
            fps = args.fps or source.info.native_fps or 25.0
            models.detector.predict([frames[0].image])  # warm up
            ref = analyse(frames, fps, reference)
            n = len(frames)
            frames_total += n
            for key, run in ((None, ref),):
                cost[key][0] += run.tiles
                cost[key][1] += run.cpu_s
                cost[key][2] += run.wall_s
            print(f"{name:<24}{'full':>14}{ref.tiles / n:>12.1f}{1000 * ref.cpu_s / n:>13.1f}"
                  f"{1000 * ref.wall_s / n:>9.1f}  {n} frames, "
                  f"{sum(len(a) for a in ref.analyses)} faces")
            for gate, pipeline in gated.items():
                run = analyse(frames, fps, pipeline)
                cost[gate][0] += run.tiles
                cost[gate][1] += run.cpu_s
                cost[gate][2] += run.wall_s
                c = compare(ref, run)
                totals[gate].add(c)
                print(f"{'':<24}{label(gate):>14}{run.tiles / n:>12.1f}"
                      f"{1000 * run.cpu_s / n:>13.1f}{1000 * run.wall_s / n:>9.1f}  "
                      f"{share(c.found, c.faces)}, {c.extra}, "
                      f"{share(c.tracks_found, c.tracks)}, {share(c.same_label, c.labelled)}")
        print(f"all clips, {frames_total} frames:")
        tiles, cpu, wall = cost[None]
        print(f"{'':<24}{'full':>14}{tiles / frames_total:>12.1f}"
              f"{1000 * cpu / frames_total:>13.1f}{1000 * wall / frames_total:>9.1f}")
        for gate, c in totals.items():
            tiles, cpu, wall = cost[gate]
            print(f"{'':<24}{label(gate):>14}{tiles / frames_total:>12.1f}"
                  f"{1000 * cpu / frames_total:>13.1f}{1000 * wall / frames_total:>9.1f}  "
                  f"{share(c.found, c.faces)}, {c.extra}, {share(c.tracks_found, c.tracks)}, "
                  f"{share(c.same_label, c.labelled)}")


if __name__ == "__main__":
    main()
