"""Accuracy of the packaged models on the shared datasets, as the model cards quote it.

    python benchmarks/model_accuracy.py [--data /tmp/data]

Data: ../shared/data/{fer2013-publictest,ckplus48,utkface-dev}.tar.gz unpacked into --data
(see ../shared/data/README.md). Expression: the whole 48x48 image, and the affectlens path
(detector on the image padded into a grey canvas, then alignment; faces the detector misses
count as errors). Age: UTKFace crops through the same detector and alignment, MAE per band.
A fuller evaluation (`affectlens eval`, calibration, per-group error) is separate work.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import cv2
import numpy as np

from affectlens.models.age import AgeEstimator
from affectlens.models.alignment import align_faces
from affectlens.models.expression import ExpressionClassifier
from affectlens.models.face_detector import FaceDetector
from affectlens.types import AGE_BANDS, EXPRESSIONS, age_band

CK_NAMES = {"anger": "angry", "sadness": "sad"}


def padded(image: np.ndarray) -> np.ndarray:
    """The image centred in a grey canvas twice its size, so the detector sees a whole face."""
    h, w = image.shape[:2]
    canvas = np.full((2 * h, 2 * w, 3), 127, np.uint8)
    canvas[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = image
    return canvas


def macro_f1(y: np.ndarray, p: np.ndarray, classes: list[int]) -> float:
    scores = []
    for c in classes:
        tp = np.sum((p == c) & (y == c))
        precision = tp / max(np.sum(p == c), 1)
        recall = tp / max(np.sum(y == c), 1)
        scores.append(0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return float(np.mean(scores))


def expression_set(folder: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for path in sorted(folder.rglob("*")):
        name = CK_NAMES.get(path.parent.name, path.parent.name)
        if path.suffix in (".jpg", ".png") and name in EXPRESSIONS:
            files.append(path)
            labels.append(EXPRESSIONS.index(name))
    return files, np.array(labels)


def expression(name: str, folder: Path, model: ExpressionClassifier, det: FaceDetector) -> None:
    files, y = expression_set(folder)
    images = [cv2.imread(str(p)) for p in files]
    whole = np.stack([cv2.resize(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), (64, 64)) for i in images])
    p_whole = model.predict(whole).argmax(1)
    p_aligned = np.full(len(files), -1)
    for i, image in enumerate(images):
        canvas = padded(image)
        faces = det.predict([canvas])[0]
        if len(faces):
            best = faces.select(np.array([int(np.argmax(faces.scores))]))
            crop = align_faces(canvas, best.keypoints, model.template)
            p_aligned[i] = model.predict(crop).argmax(1)[0]
    classes = sorted(set(y.tolist()))
    for mode, p in (("whole image", p_whole), ("detector + alignment", p_aligned)):
        print(f"{name:<22}{mode:<22}n={len(y):<6}accuracy {np.mean(p == y):.3f}  "
              f"macro-F1 {macro_f1(y, p, classes):.3f}  missed faces {np.sum(p < 0)}")


def age(folder: Path, model: AgeEstimator, det: FaceDetector) -> None:
    truth, preds, skipped, missed = [], [], 0, 0
    for path in sorted(folder.glob("*.jpg")):
        match = re.match(r"(\d+)_(\d+)_(\d+)_\d+", path.name)
        if not match:
            skipped += 1
            continue
        canvas = padded(cv2.imread(str(path)))
        faces = det.predict([canvas])[0]
        if not len(faces):
            missed += 1
            continue
        best = faces.select(np.array([int(np.argmax(faces.scores))]))
        truth.append(int(match.group(1)))
        preds.append(float(model.predict(align_faces(canvas, best.keypoints, model.template))[0]))
    t, p = np.array(truth), np.array(preds)
    print(f"UTKFace age: n={len(t)} (malformed names skipped {skipped}, no face {missed}), "
          f"MAE {np.abs(t - p).mean():.2f} years, mean error {np.mean(p - t):+.2f}")
    bands = np.array([age_band(a) for a in t])
    for band, _, _ in AGE_BANDS:
        sel = bands == band
        if sel.any():
            print(f"  {band:<6} n={sel.sum():<5} MAE {np.abs(t[sel] - p[sel]).mean():5.2f}  "
                  f"mean error {np.mean(p[sel] - t[sel]):+6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/data"))
    args = parser.parse_args()
    det = FaceDetector(min_face_px=10_000)
    model = ExpressionClassifier()
    expression("FER2013 PublicTest", args.data / "publictest", model, det)
    expression("CK+ (6 classes)", args.data / "ckplus48", model, det)
    age(args.data / "utkface", AgeEstimator(), det)


if __name__ == "__main__":
    main()
