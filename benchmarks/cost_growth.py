"""How the face path's cost grows with resolution and with faces: CPU ms a frame, default search
against every frame searched in full.

    python benchmarks/cost_growth.py [--resolutions 360,720,1080,2160] [--faces 1,5,20]
        [--seconds 2] [--full-frames 10] [--threads 1] [--precision int8|float]

For each resolution (16:9, by height) and number of faces, a video is made in memory (no
encoding, so decoding is not counted): a room (``affectlens.samples.figure.room``) with that
many copies of the sample portrait's head on a grid, each face about 12% of the frame's height
wide (the same scene seen by a camera with more pixels), each drifting in its own direction
as people shift in their seats (slowly enough that no two faces meet). The face path
(detection, alignment, expression, age, tracking, smoothing; no pose) runs on it at 25 fps at
its defaults (the gated search: in full on the first frame of each second, in between where
the picture changed or a face was) for ``--seconds`` of video, and searching every frame in
full (the offline default before issue 16) on ``--full-frames`` frames spread evenly over the
same video (each costs the same, so a few are enough). It prints CPU (the figure of record:
every thread of this process) and wall ms a frame, the detector tiles a frame and the faces
found a frame. Nothing is asserted.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.pipeline import Models, Pipeline
from affectlens.samples import portrait
from affectlens.samples.figure import room
from affectlens.types import Frame

FPS = 25
FACE_SHARE_OF_HEIGHT = 0.12
# The face in the sample portrait (512x600), as the detector boxes it: x0, y0, x1, y1
PORTRAIT_FACE = (170, 143, 367, 340)
HEAD_MARGIN = 0.3  # of the face's width on every side: hair, chin, a little background
DRIFT_PX_A_FRAME = 0.6  # at 360p (15 px a second), scaled with the frame: no face meets another


def frames(height: int, faces: int, count: int) -> Iterator[Frame]:
    """``count`` frames of ``faces`` drifting faces in a room, ``height`` pixels high."""
    width = round(height * 16 / 9) // 2 * 2
    background = cv2.resize(room(), (width, height), interpolation=cv2.INTER_LINEAR)
    face_px = FACE_SHARE_OF_HEIGHT * height
    x0, y0, x1, y1 = PORTRAIT_FACE
    margin = round(HEAD_MARGIN * (x1 - x0))
    head = portrait()[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]
    scale = face_px / (x1 - x0)
    face = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    columns = max(1, min(faces, width // (fw + fw // 4)))
    rows = -(-faces // columns)
    cell_w, cell_h = width // columns, height // max(rows, 1)
    rng = np.random.default_rng(faces * 10_000 + height)
    directions = rng.uniform(0, 2 * np.pi, faces)
    drift = DRIFT_PX_A_FRAME * height / 360
    for index in range(count):
        image = background.copy()
        for k in range(faces):
            row, column = divmod(k, columns)
            room_x, room_y = max(0, cell_w - fw), max(0, cell_h - fh)
            x = column * cell_w + room_x // 2 + np.cos(directions[k]) * drift * index
            y = row * cell_h + room_y // 2 + np.sin(directions[k]) * drift * index
            x = int(np.clip(x, 0, width - fw))
            y = int(np.clip(y, 0, height - fh))
            h, w = min(fh, height - y), min(fw, width - x)
            image[y : y + h, x : x + w] = face[:h, :w]
        yield Frame(image, index, round(index / FPS, 4), f"{height}p-{faces}")


def measure(pipeline: Pipeline, video: list[Frame]) -> tuple[float, float, float, float]:
    """CPU and wall ms a frame, detector tiles a frame, faces found a frame."""
    detector = pipeline.models.detector
    tiles = [0]
    run = detector.model.run

    def counted(batch: np.ndarray) -> list[np.ndarray]:
        tiles[0] += len(batch)
        return run(batch)

    detector.model.run = counted  # type: ignore[method-assign]
    try:
        state = pipeline.start_source(FPS)
        watch = Stopwatch()
        found = 0
        batch = pipeline.config.batch_frames
        for start in range(0, len(video), batch):
            found += sum(len(a) for a in pipeline.analyse(video[start : start + batch], state))
        used = watch.elapsed()
    finally:
        detector.model.run = run  # type: ignore[method-assign]
    n = len(video)
    return 1000 * used.cpu_s / n, 1000 * used.wall_s / n, tiles[0] / n, found / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolutions", default="360,720,1080,2160",
                        help="frame heights, comma-separated (16:9 frames)")
    parser.add_argument("--faces", default="1,5,20", help="faces a frame, comma-separated")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="video analysed at the defaults, seconds at 25 fps")
    parser.add_argument("--full-frames", type=int, default=10,
                        help="frames analysed searching every frame in full")
    parser.add_argument("--threads", type=int,
                        default=AnalysisConfig.model_fields["threads"].default,
                        help="CPU threads per model (default: the setting's; 0: every core)")
    parser.add_argument("--precision", choices=["int8", "float"],
                        default=AnalysisConfig.model_fields["precision"].default,
                        help="the expression and age models' form (default: the setting's, int8 "
                        "on the CPU; float: the reference)")
    args = parser.parse_args()
    heights = [int(h) for h in args.resolutions.split(",")]
    counts = [int(f) for f in args.faces.split(",")]
    with machine_report():
        default = AnalysisConfig(pose=False, threads=args.threads, precision=args.precision)
        full = default.model_copy(update={"full_scan_every_s": None})
        models = Models.load(default)
        gated, every = Pipeline(default, models), Pipeline(full, models)
        models.detector.predict([np.zeros((64, 64, 3), np.uint8)])  # warm up
        print(f"model threads {args.threads or 'all cores'}, {args.precision}; {FPS} fps; "
              f"defaults over {args.seconds:g} s, every frame in full over {args.full_frames} "
              "frames")
        print(f"{'frame':<12}{'faces':>6}  {'default: CPU (wall) ms':>24}{'tiles':>7}"
              f"{'found':>7}  {'in full: CPU (wall) ms':>24}{'tiles':>7}{'found':>7}"
              f"{'CPU ratio':>11}")
        for height in heights:
            for faces in counts:
                video = list(frames(height, faces, max(1, round(args.seconds * FPS))))
                cpu, wall, tiles, found = measure(gated, video)
                step = max(1, len(video) // max(1, args.full_frames))
                f_cpu, f_wall, f_tiles, f_found = measure(every, video[::step][: args.full_frames])
                print(f"{video[0].image.shape[1]}x{height:<7}{faces:>6}  "
                      f"{f'{cpu:.1f} ({wall:.1f})':>24}{tiles:>7.1f}{found:>7.1f}  "
                      f"{f'{f_cpu:.1f} ({f_wall:.1f})':>24}{f_tiles:>7.1f}{f_found:>7.1f}"
                      f"{cpu / f_cpu:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
