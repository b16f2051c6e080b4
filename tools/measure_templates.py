"""Where the face landmarks sit in each model's training images: the alignment templates.

Runs the face detector on training images (each padded into a larger grey canvas, since the
faces fill them edge to edge) and prints the mean position of the eyes, nose tip and mouth as
fractions of the image, ready for affectlens/models/alignment.py.

    python tools/measure_templates.py --fer /tmp/data/train --utk /tmp/data/utkface

Data: ../shared/data/fer2013-train.tar.gz and utkface-dev.tar.gz, unpacked under /tmp/data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from affectlens.models.alignment import LANDMARKS_USED
from affectlens.models.face_detector import FaceDetector


def measure(files: list[Path], detector: FaceDetector) -> tuple[np.ndarray, int]:
    points = []
    for path in files:
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        canvas = np.full((2 * h, 2 * w, 3), 127, np.uint8)
        canvas[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = image
        faces = detector.predict([canvas])[0]
        if len(faces) == 1:
            kps = faces.keypoints[0, LANDMARKS_USED] - [w // 2, h // 2]
            points.append(kps / [w, h])
    return np.median(np.array(points), axis=0), len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fer", type=Path, default=Path("/tmp/data/train"))
    parser.add_argument("--utk", type=Path, default=Path("/tmp/data/utkface"))
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    detector = FaceDetector(min_face_px=10_000)
    rng = np.random.default_rng(0)
    for name, folder in (("FER", args.fer), ("UTK", args.utk)):
        files = sorted(folder.rglob("*.jpg")) or sorted(folder.rglob("*.png"))
        files = [files[i] for i in rng.permutation(len(files))[: args.count]]
        template, used = measure(files, detector)
        pairs = ", ".join(f"({x:.4f}, {y:.4f})" for x, y in template)
        print(f"{name}: {used}/{len(files)} images with one face: ({pairs})")


if __name__ == "__main__":
    main()
