"""How well the smile reference (affectlens/eval/smile.py) tells happy from neutral faces, by
FERPlus's annotators' votes: the check the disparity audit's reference needs (issue 18).

    python benchmarks/smile_reference.py [--data /tmp/data] [--train-images 4000]
        [--resamples 1000] [--save]

Data: ferplus.tar.gz unpacked into --data (ferplus/train, ferplus/valid). Faces whose
majority vote is happy or neutral (ties, contempt and not-a-face left out, as ``eval
expression`` reads FERPlus). The face mesh runs on each 48x48 image as one face box (the
images are face crops; no eye keypoints at that size: upright). ``SmileScale`` (a logistic
score over the two geometric features) is fitted on ``--train-images`` faces drawn from
FERPlus train (seed 0) and scored on all of FERPlus valid (FER2013 PublicTest), which the fit
never saw. Printed: the area under the ROC curve (happy against neutral) of each feature
alone and of the score, with 95% bootstrap intervals, and the share of faces the mesh calls a
face. ``--save`` writes the fitted scale beside the mesh's weights
(``mediapipe_face_mesh.smile.json``) with what it was fitted and checked on. No expression
model of ours is used anywhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from rich.progress import track

from affectlens.eval.datasets import read_ferplus
from affectlens.eval.machine import machine_report
from affectlens.eval.metrics import bootstrap_interval
from affectlens.eval.smile import (
    FEATURES,
    SCALE_FILE,
    FaceMesh,
    SmileScale,
    auc,
    crop_features,
)
from affectlens.types import EXPRESSIONS

HAPPY, NEUTRAL = EXPRESSIONS.index("happy"), EXPRESSIONS.index("neutral")


def happy_or_neutral(root: Path, limit: int | None, seed: int = 0
                     ) -> tuple[list[Path], np.ndarray]:
    dataset = read_ferplus(root)
    keep = [i for i, y in enumerate(dataset.labels) if y in (HAPPY, NEUTRAL)]
    if limit is not None and len(keep) > limit:
        keep = sorted(np.random.default_rng(seed).choice(keep, limit, replace=False).tolist())
    return ([dataset.paths[i] for i in keep],
            np.array([dataset.labels[i] == HAPPY for i in keep]))


def measure(mesh: FaceMesh, paths: list[Path], what: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) FEATURES and (N,) face presence, each image one whole-image face box."""
    return crop_features((cv2.imread(str(p)) for p in track(paths, description=what)), mesh)


@machine_report()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/data"))
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    mesh = FaceMesh(threads=0)
    train_paths, train_happy = happy_or_neutral(args.data / "ferplus/train", args.train_images)
    valid_paths, valid_happy = happy_or_neutral(args.data / "ferplus/valid", None)
    train_x, _ = measure(mesh, train_paths, "FERPlus train")
    valid_x, valid_presence = measure(mesh, valid_paths, "FERPlus valid")
    scale = SmileScale.fit(train_x, train_happy)
    print(f"fitted on FERPlus train: {len(train_paths)} faces ({train_happy.sum()} happy); "
          f"weights {dict(zip(FEATURES, scale.weights.round(3).tolist()))}, bias {scale.bias:.3f}")
    print(f"FERPlus valid: {len(valid_paths)} faces ({valid_happy.sum()} happy, "
          f"{(~valid_happy).sum()} neutral by majority vote); the mesh finds a face in "
          f"{(valid_presence >= 0.5).mean():.1%}")
    print("reference | AUC happy vs neutral | 95% interval")
    rows = {name: valid_x[:, i] for i, name in enumerate(FEATURES)}
    rows["smile score (both)"] = scale.score(valid_x)
    figures = {}
    for name, values in rows.items():
        low, high = bootstrap_interval(auc, values, valid_happy, resamples=args.resamples)
        figures[name] = [round(auc(values, valid_happy), 4), round(low, 4), round(high, 4)]
        print(f"{name} | {figures[name][0]:.3f} | {low:.3f}-{high:.3f}")
    if args.save:
        SCALE_FILE.write_text(json.dumps({
            "features": list(FEATURES), "mean": scale.mean.tolist(),
            "scale": scale.scale.tolist(), "weights": scale.weights.tolist(),
            "bias": scale.bias,
            "fitted_on": f"FERPlus train, {len(train_paths)} faces with a happy or neutral "
                         "majority vote (seed 0), whole 48x48 image as the face box",
            "checked_on": {"data": f"FERPlus valid (FER2013 PublicTest), {len(valid_paths)} "
                                   "faces, happy vs neutral majority", "auc": figures},
            "command": "python benchmarks/smile_reference.py --save",
        }, indent=2) + "\n")
        print(f"wrote {SCALE_FILE}")


if __name__ == "__main__":
    main()
