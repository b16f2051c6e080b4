"""Between FER2013's labels and FERPlus's votes: the expression network's weights interpolated.

    python training/interpolate_expression.py --ferplus /tmp/ferplus/ferplus/train \
        --fer2013 /tmp/ferplus/fer2013/train --out runs/expr-wise

Issue 18 asks one expression model to agree with FERPlus's majority labels (>= 82% on CPU)
and, no less than today's, with FER2013's single labels (70.1% on PublicTest). The shipped
``affectlens`` model (trained on FER2013's labels) and ``affectlens_ferplus`` (fine-tuned
from it on FERPlus's votes) each meet one. The same network lies between them: weights
``(1 - lam) * affectlens + lam * affectlens_ferplus`` (weight-space ensembling of a model
and its fine-tuned self, Wortsman et al. 2022, "WiSE-FT"), at no cost at run time.

For each ``lam`` of ``--grid`` this prints the accuracy, on the validation tenth (the FERPlus
train images whose FER2013 twin is in ``is_held_out``'s tenth: seen by neither model), against
the FERPlus majority label and against FER2013's label of the same image. It picks, by the
rule fixed before looking (``--rule``, default ``keep-fer2013``): the largest FERPlus
accuracy whose FER2013 accuracy is no lower than ``lam = 0``'s (today's model). It writes
``OUT/affectlens_expression_wise.onnx`` and its calibration (temperature and abstention
threshold on the same validation tenth, against the FERPlus majority: the cleaner label),
and ``OUT/curve.json``. PublicTest and CK+ are never read here.

No torch: ONNX and ONNX Runtime only. The two models must be the same network: their weight
tensors are paired in order (the default model's export lists the classifier head first and
carries batch norm folded into its convolutions, which the fine-tune started from) and every
pair must have the same shape.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.calibration import (  # noqa: E402
    abstention_threshold,
    fit_temperature,
    require_enough_validation,
)
from affectlens.eval.datasets import fer2013_twins, is_held_out, read_ferplus  # noqa: E402
from affectlens.eval.metrics import expected_calibration_error  # noqa: E402
from affectlens.models.calibration import DEFAULT_TARGET_ACCURACY, Calibration  # noqa: E402
from affectlens.models.runtime import WEIGHTS_DIR, OnnxModel  # noqa: E402
from affectlens.types import EXPRESSIONS  # noqa: E402

START = WEIGHTS_DIR / "affectlens_expression.onnx"
TUNED = WEIGHTS_DIR / "affectlens_expression_ferplus.onnx"
NAME = "affectlens_expression_wise"
GRID = tuple(round(0.025 * i, 3) for i in range(41))


def paired_weights(start: onnx.ModelProto, tuned: onnx.ModelProto
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start, tuned) arrays in the tuned graph's initializer order; refuses other networks."""
    a = [numpy_helper.to_array(t) for t in start.graph.initializer]
    b = [numpy_helper.to_array(t) for t in tuned.graph.initializer]
    if len(a) == len(b) and a and a[0].ndim == 2 and b[-2].ndim == 2:
        a = a[2:] + a[:2]  # the start's export lists the head (weight, bias) first
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise SystemExit("the two models are not the same network: weight shapes differ")
    return list(zip(a, b))


def interpolated(tuned: onnx.ModelProto, pairs: list[tuple[np.ndarray, np.ndarray]],
                 lam: float) -> onnx.ModelProto:
    model = onnx.ModelProto()
    model.CopyFrom(tuned)
    for tensor, (a, b) in zip(model.graph.initializer, pairs):
        tensor.CopyFrom(numpy_helper.from_array(((1 - lam) * a + lam * b).astype(np.float32),
                                                tensor.name))
    return model


def logits_of(model: onnx.ModelProto, images: np.ndarray, out: Path) -> np.ndarray:
    onnx.save(model, out)
    runner = OnnxModel(out, "cpu", 0)
    x = images.astype(np.float32)[:, None] / 127.5 - 1.0  # as ExpressionClassifier.logits
    return np.concatenate([runner.run(x[i:i + 512])[0] for i in range(0, len(x), 512)])


def choose(curve: list[dict[str, float]], rule: str) -> dict[str, float]:
    if rule == "keep-fer2013":
        floor = next(c for c in curve if c["lam"] == 0.0)["fer2013"]
        return max((c for c in curve if c["fer2013"] >= floor),
                   key=lambda c: (c["ferplus"], -c["lam"]))
    return max(curve, key=lambda c: (c["ferplus"], -c["lam"]))  # "ferplus": FERPlus alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ferplus", type=Path, required=True, help="FERPlus train/ folder")
    parser.add_argument("--fer2013", type=Path, required=True, help="FER2013 train/ folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--grid", default=",".join(f"{g:g}" for g in GRID))
    parser.add_argument("--rule", choices=("keep-fer2013", "ferplus"), default="keep-fer2013")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    votes = read_ferplus(args.ferplus)
    twins = fer2013_twins(votes.paths, args.fer2013)
    held = np.array([is_held_out(p) for p in twins])
    majority = np.array(votes.labels)[held]
    fer2013 = np.array([EXPRESSIONS.index(p.parent.name) for p in twins])[held]
    images = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
                       for p, keep in zip(votes.paths, held) if keep])
    has_majority = majority >= 0
    agree = float(np.mean(fer2013[has_majority] == majority[has_majority]))
    print(f"validation tenth: {len(images)} images, {int(has_majority.sum())} with a FERPlus "
          f"majority; FER2013's label is that majority on {agree:.1%} of them", flush=True)
    start, tuned = onnx.load(START), onnx.load(TUNED)
    pairs = paired_weights(start, tuned)
    scratch = args.out / "scratch.onnx"
    curve = []
    for lam in (float(g) for g in args.grid.split(",")):
        pred = logits_of(interpolated(tuned, pairs, lam), images, scratch).argmax(1)
        point = {"lam": lam,
                 "ferplus": float(np.mean(pred[has_majority] == majority[has_majority])),
                 "fer2013": float(np.mean(pred == fer2013))}
        curve.append(point)
        print(f"  lam {lam:5.3f}: FERPlus majority {point['ferplus']:.4f}, FER2013 label "
              f"{point['fer2013']:.4f}", flush=True)
    best = choose(curve, args.rule)
    print(f"chosen by {args.rule}: lam {best['lam']:g} (FERPlus {best['ferplus']:.4f}, "
          f"FER2013 {best['fer2013']:.4f}; lam 0: {curve[0]['ferplus']:.4f}, "
          f"{curve[0]['fer2013']:.4f})")
    model = interpolated(tuned, pairs, best["lam"])
    model.doc_string = (f"(1 - {best['lam']:g}) * affectlens_expression + {best['lam']:g} * "
                        "affectlens_expression_ferplus (training/interpolate_expression.py)")
    path = args.out / f"{NAME}.onnx"
    logits = logits_of(model, images, path)
    scratch.unlink()
    truth = majority[has_majority]
    require_enough_validation(truth, str(args.ferplus))
    temperature = fit_temperature(logits[has_majority], truth)
    probs = Calibration(temperature).probabilities(logits[has_majority])
    threshold = abstention_threshold(probs, truth, DEFAULT_TARGET_ACCURACY)
    Calibration(temperature, threshold, DEFAULT_TARGET_ACCURACY, fitted_on=(
        f"{len(truth)} validation images (FERPlus majority labels) of FERPlus train "
        "(training/interpolate_expression.py)")).save(args.out / f"{NAME}.calibration.json")
    (args.out / "curve.json").write_text(json.dumps(
        {"rule": args.rule, "chosen": best, "fer2013_equals_majority": agree,
         "curve": curve}, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); temperature {temperature:.3f}, "
          f"ECE {expected_calibration_error(probs, truth):.4f}, abstain below "
          f"{threshold:.3f}; {time.process_time() - started:.0f} s CPU")


if __name__ == "__main__":
    main()
