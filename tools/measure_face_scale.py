"""How small a face BlazeFace short-range finds, as a share of its 128-pixel input.

Pastes real face crops at many sizes and places into a neutral grey 128x128 canvas and prints
the recall per size; MIN_FACE_FRACTION in affectlens/models/face_detector.py comes from here.

    python tools/measure_face_scale.py [--faces DIR] [--count 200] [--threshold 0.78]

--faces: a folder of face crops (default: the UTKFace crops unpacked under /tmp/data/utkface,
see ../shared/data/README.md); the face fills about 60% of each UTKFace crop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from affectlens.models.face_detector import INPUT, FaceDetector

FACE_SHARE_OF_CROP = 0.6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=Path("/tmp/data/utkface"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--threshold", type=float, default=0.78,
                        help="Detector score needed (affectlens's default: 0.78).")
    args = parser.parse_args()
    files = sorted(args.faces.glob("*.jpg"))[: args.count]
    # whole-input level only: one tile
    detector = FaceDetector(min_face_px=10_000, score_threshold=args.threshold)
    rng = np.random.default_rng(0)
    print("face (60% of crop) -> detector box, as a share of the input; recall")
    for fraction in (0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.25, 0.3, 0.45, 0.6, 0.8):
        canvases = []
        for path in files:
            crop = cv2.imread(str(path))
            side = max(4, round(fraction * INPUT / FACE_SHARE_OF_CROP))
            crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
            canvas = np.full((INPUT, INPUT, 3), 127, np.uint8)
            if side >= INPUT:
                off = (side - INPUT) // 2
                canvas = crop[off : off + INPUT, off : off + INPUT].copy()
            else:
                x, y = rng.integers(0, INPUT - side + 1, size=2)
                canvas[y : y + side, x : x + side] = crop
            canvases.append(canvas)
        found = detector.predict(canvases)
        boxes = [d.widths.max() / INPUT for d in found if len(d)]
        box_fraction = np.median(boxes) if boxes else float("nan")
        recall = np.mean([len(d) > 0 for d in found])
        print(f"{fraction:>10.2f} of crop -> {box_fraction:>5.3f} box   {recall:6.1%}")


if __name__ == "__main__":
    main()
