"""Milliseconds per face for each expression and age model, on one CPU thread.

    python benchmarks/model_speed.py [--threads 1] [--batch 1 --batch 32] [--repeats 200]

Inputs are random crops of each model's input size (speed does not depend on the pixels).
Batch 1 is a face at a time, as a live camera with one person sees; larger batches are the
offline pipeline's case. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

from affectlens.models.age import AGE_MODELS, AgeEstimator
from affectlens.models.expression import SPECS, ExpressionClassifier


def per_face_ms(
    predict: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, repeats: int
) -> float:
    predict(crops)  # warm up
    clock = time.perf_counter()
    for _ in range(repeats):
        predict(crops)
    return (time.perf_counter() - clock) / repeats / len(crops) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    batches = args.batch or [1, 32]
    rng = np.random.default_rng(0)
    print(f"{platform.processor() or platform.machine()}, {args.threads} thread(s)")
    print("| model | file MB | " + " | ".join(f"ms/face, batch {b}" for b in batches) + " |")
    print("|---|---|" + "---|" * len(batches))
    models = [("expression", ExpressionClassifier(name, threads=args.threads)) for name in SPECS]
    models += [("age", AgeEstimator(name, threads=args.threads)) for name in AGE_MODELS]
    for task, model in models:
        size = model.template.size
        shape = (size, size) if model.template.grey else (size, size, 3)
        cells = []
        for batch in batches:
            crops = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
            repeats = max(args.repeats // batch, 5)
            cells.append(f"{per_face_ms(model.predict, crops, repeats):.2f}")
        mb = model.model.path.stat().st_size / 1e6
        print(f"| {task} {model.name} | {mb:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
