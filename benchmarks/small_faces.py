"""How many small faces a full detector search finds, by face size, in real frames.

    python benchmarks/small_faces.py [--faces DIR] [--count 200] [--sizes 24,32,40,56,80]
        [--background VIDEO] [--frame-size 640x360] [--min-face 24] [--threads 1]

Each of ``--count`` real face crops (UTKFace, unpacked under /tmp/data/utkface as
../shared/data/README.md says; the face fills about 60% of each crop) is pasted once per face
size, at a random place, into a frame of a real video without faces (no_face.mp4 of
../shared/data/media, scaled to ``--frame-size``), and the frame is searched in full, as every
still image and every full search of a video is. A face counts as found when a detection's
centre lies inside the pasted crop and its box is within half to twice the face's size.
Printed per size: recall with a Wilson 95% interval, detections that match no pasted face (per
frame: the background has none), and CPU (wall) ms per frame, with the machine. Where the faces
or the video are absent the script says so and stops. Nothing is asserted.

The face sizes are the issue 16 recall checks (24 px: the default ``min_face_px``, the finest
tiles' smallest face; 40 px; and sizes that fall at the detector levels' joins). The same seed
places the same faces on the same frames on every run, so two versions of the detector are
compared face by face.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from affectlens.eval.intervals import wilson
from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.models.face_detector import FaceDetector
from affectlens.sources import open_media

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
FACE_SHARE_OF_CROP = 0.6  # UTKFace's aligned crops: the face box is about 60% of the side
BATCH = 8


def backgrounds(video: Path, size: tuple[int, int], count: int = 24) -> list[np.ndarray]:
    """Up to ``count`` frames spread over ``video``, scaled to ``size``."""
    source = open_media(video)
    frames = [frame.image for frame in source.frames()]
    step = max(1, len(frames) // count)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames[::step][:count]]


def pasted(face: np.ndarray, background: np.ndarray, face_px: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``background`` with ``face`` pasted at a random place so that the face is ``face_px``
    wide; and the pasted crop's box (x0, y0, x1, y1)."""
    side = max(4, round(face_px / FACE_SHARE_OF_CROP))
    height, width = background.shape[:2]
    crop = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    frame = background.copy()
    frame[y : y + side, x : x + side] = crop
    return frame, np.array([x, y, x + side, y + side], np.float32)


def matches(boxes: np.ndarray, crop: np.ndarray, face_px: int) -> np.ndarray:
    """Per detection: is it the pasted face (centre inside the crop, size half to twice)?"""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    inside = (cx >= crop[0]) & (cx <= crop[2]) & (cy >= crop[1]) & (cy <= crop[3])
    return inside & (size >= face_px / 2) & (size <= face_px * 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=Path("/tmp/data/utkface"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--sizes", default="24,32,40,56,80")
    parser.add_argument("--background", type=Path, default=MEDIA / "no_face.mp4")
    parser.add_argument("--frame-size", default="640x360")
    parser.add_argument("--min-face", type=float, default=24)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    faces = sorted(args.faces.glob("*.jpg"))[: args.count]
    if not faces or not args.background.exists():
        print(f"skipped: needs face crops in {args.faces} and the video {args.background}")
        sys.exit(0)
    width, height = (int(v) for v in args.frame_size.split("x"))
    frames = backgrounds(args.background, (width, height))
    detector = FaceDetector(min_face_px=args.min_face, threads=args.threads)
    detector.predict(frames[:1])  # warm up
    with machine_report():
        print(f"{len(faces)} UTKFace faces pasted into {len(frames)} frames of "
              f"{args.background.name} at {width}x{height}; full search, "
              f"min_face_px {args.min_face:g}, {len(detector.tiles(width, height))} tiles\n")
        print("| face px | found (95% CI) | other detections a frame | CPU (wall) ms a frame |")
        print("|---|---|---|---|")
        for face_px in (int(s) for s in args.sizes.split(",")):
            rng = np.random.default_rng(face_px)
            found = others = 0
            clock = Stopwatch()
            spent = 0.0
            spent_wall = 0.0
            for start in range(0, len(faces), BATCH):
                batch = [pasted(cv2.imread(str(path)), frames[int(rng.integers(len(frames)))],
                                face_px, rng) for path in faces[start : start + BATCH]]
                clock.restart()
                detections = detector.predict([frame for frame, _ in batch])
                usage = clock.elapsed()
                spent, spent_wall = spent + usage.cpu_s, spent_wall + usage.wall_s
                for (_, crop), faces_found in zip(batch, detections):
                    hit = matches(faces_found.boxes, crop, face_px)
                    found += bool(hit.any())
                    others += int((~hit).sum())
            low, high = wilson(found, len(faces))
            print(f"| {face_px} | {found}/{len(faces)} = {100 * found / len(faces):.1f}% "
                  f"({100 * low:.1f}-{100 * high:.1f}) | {others / len(faces):.3f} | "
                  f"{1000 * spent / len(faces):.1f} ({1000 * spent_wall / len(faces):.1f}) |")


if __name__ == "__main__":
    main()
