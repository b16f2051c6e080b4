"""Why the rule loses falls when the camera cuts off the bottom of the frame (issue 13).

    python -m benchmarks.falls_cropped [--data ../shared/data]

``benchmarks/falls.py`` part 0 scores each dataset under simulated camera changes; with the
bottom 20% of the frame cut ("ankles out of frame") the rule catches far fewer falls while
the temporal model alone keeps them (docs/falls.md). This prints, for every fall recording
the rule catches as recorded and misses once cut (classifier fitted on the other two
datasets, as part 0), what the rule saw after the person's last upright frame: how many
frames had too few joints to judge (under 4 of the 9 body joints), how many had no torso
angle (hips or shoulders out of view: the frame is skipped), and the states it went
through. Prints; asserts nothing; pose sequences only, under a minute of CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from affectlens.eval.fall_augment import AUGMENTATIONS, augmented
from affectlens.eval.fall_datasets import load_fall_datasets
from affectlens.eval.fall_lodo import fit_on, recordings_of
from affectlens.eval.falls import PoseSequence, rule_detects_fall
from affectlens.eval.machine import machine_report
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import BODY, MIN_KEYPOINT_SCORE, posture
from affectlens.events.falls import FallRule

DATA = Path(__file__).resolve().parents[2] / "shared/data"


def trace(sequence: PoseSequence, model: FallClassifier) -> str:
    """What the rule saw after the last upright frame of one recording."""
    rule = FallRule(classifier=model)
    states, seen, angled = [], [], []
    for t, body in zip(sequence.times, sequence.bodies):
        rule.update(float(t), np.array([1]), body[None])
        states.append(rule.states().get(1))
        seen.append(int((body[BODY, 2] >= MIN_KEYPOINT_SCORE).sum()))
        angled.append(bool(np.isfinite(posture(body).torso_angle)))
    # The last frame judged upright (a skipped frame keeps the state it had: not a judgement).
    last_up = max((i for i, s in enumerate(states)
                   if s == "upright" and seen[i] >= 4 and angled[i]), default=-1)
    after = range(last_up + 1, len(states))
    few = sum(seen[i] < 4 for i in after)
    no_angle = sum(seen[i] >= 4 and not angled[i] for i in after)
    went = sorted({str(states[i]) for i in after})
    return (f"last upright frame {last_up + 1} of {len(states)}; after it {len(after)} frames: "
            f"{few} with under 4 joints, {no_angle} more without a torso angle; "
            f"states {', '.join(went) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    cut = next(a for a in AUGMENTATIONS if a.name.startswith("ankles"))
    with machine_report():
        datasets = load_fall_datasets(args.data / "falls")
        for dataset in datasets:
            model = fit_on([d for d in datasets if d is not dataset])
            plain = [w for w in recordings_of(dataset.ordered()) if w.label == 1]
            cropped = [w for w in recordings_of(augmented(dataset.ordered(), cut))
                       if w.label == 1]
            lost = [(a, b) for a, b in zip(plain, cropped)
                    if rule_detects_fall(FallRule(classifier=model), a)
                    and not rule_detects_fall(FallRule(classifier=model), b)]
            print(f"{dataset.name}: {len(lost)} of {len(plain)} fall recordings caught as "
                  f"recorded are missed with {cut.name}")
            for _, b in lost:
                print(f"  {b.name}: {trace(b, model)}")


if __name__ == "__main__":
    main()
