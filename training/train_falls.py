"""Train the fall classifier (logistic regression over pose-window features) on three datasets.

Why this shape: 201 overlapping windows of 46 staged recordings are too few for a deep
sequence model that generalises; seven physical quantities (descent speeds in torso
lengths per second, torso tilt and foreshortening, body box shape, hip height over
the ankles) are what any fall shows, whoever films it. Cross-validation is by recording:
windows that share frames never sit on both sides of a split.

    .venv/bin/python training/train_falls.py --data ../shared/data/falls

Writes affectlens/models/weights/affectlens_falls.json (numpy-only weights, no torch at run
time) with the cross-validated figures inside, and prints them: URFD 5-fold by recording (the
figure of earlier releases) and, the headline, each dataset left out in turn (the classifier
fitted on the others only). The shipped weights are fitted on every trusted sequence of all
the datasets named by --datasets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.fall_datasets import load_fall_datasets  # noqa: E402
from affectlens.eval.fall_lodo import (  # noqa: E402
    fit_on,
    leave_one_dataset_out,
    sensitivity,
    specificity,
)
from affectlens.eval.falls import (  # noqa: E402
    MD4FD_FILE,
    Outcome,
    cross_validate,
    read_md4fd,
    recordings,
)
from affectlens.events.fall_classifier import WEIGHTS_FILE  # noqa: E402
from affectlens.events.fall_features import FEATURES  # noqa: E402


def describe(name: str, outcome: Outcome) -> dict[str, object]:
    figures = outcome.figures()
    text = ", ".join(f"{k} {v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for k, v in figures.items())
    print(f"{name}: {text}; {outcome.confusion}")
    return {"confusion": outcome.confusion,
            **{k: [round(x, 4) for x in v] for k, v in figures.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/falls")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--datasets", default="URFD,Le2i,UP-Fall",
                        help="comma-separated: the datasets the shipped weights are fitted on")
    args = parser.parse_args()
    sequences = read_md4fd(args.data / MD4FD_FILE)
    groups = recordings(sequences)
    labels = np.array([s.label for s in sequences])
    print(f"{len(sequences)} sequences ({labels.sum()} falls) from {len(set(groups))} recordings")
    result = cross_validate(sequences, folds=args.folds, l2=args.l2)
    cv = {"folds": args.folds, "by": "recording",
          "classifier_on_sequences": describe("classifier, whole sequences", result.classifier),
          "rule_frame_by_frame": describe("full rule, frame by frame", result.rule),
          "rule_on_recordings": describe("full rule, stitched recordings", result.recordings)}
    datasets = load_fall_datasets(args.data, args.datasets.split(","))
    lodo = {}
    if len(datasets) > 1:
        for r in leave_one_dataset_out(datasets, l2=args.l2):
            key = r.dataset if not r.note else f"{r.dataset} ({r.note})"
            lodo[key] = r.as_dict()
            print(f"left out {key}: recordings sensitivity {sensitivity(r.recordings)}, "
                  f"specificity {specificity(r.recordings)}")
    model = fit_on(datasets, l2=args.l2)
    extra = {"trained_on": ", ".join(f"{d.name} ({len(d.ordered().sequences)} sequences)"
                                     for d in datasets) + "; 30, 15 and 10 fps copies",
             "l2": args.l2, "cross_validation": cv, "leave_one_dataset_out": lodo}
    args.out.write_text(model.to_json(extra) + "\n")
    print(f"wrote {args.out}")
    print("weights:", json.dumps(dict(zip(FEATURES, np.round(model.weights, 3).tolist()))))


if __name__ == "__main__":
    main()
