"""Milliseconds per face for each expression and age model, on one CPU thread.

    python benchmarks/model_speed.py [--threads 1] [--batch 1 --batch 32] [--repeats 200]

Inputs are random crops of each model's input size (speed does not depend on the pixels, but
it does on the weights: see docs/benchmarks.md on denormal numbers). Batch 1 is a face at a
time, as a live camera with one person sees; larger batches are the offline pipeline's case.
Each cell is CPU milliseconds per face (the figure of record: it holds on a busy machine),
wall milliseconds in brackets. Prints the machine and a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.models.age import AGE_MODELS, AgeEstimator
from affectlens.models.expression import SPECS, ExpressionClassifier
from affectlens.models.runtime import Precision, is_int8

PRECISIONS: tuple[Precision, ...] = ("float", "int8")


def per_face_ms(
    predict: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, repeats: int
) -> tuple[float, float]:
    """(CPU, wall) milliseconds per face."""
    predict(crops)  # warm up
    watch = Stopwatch()
    for _ in range(repeats):
        predict(crops)
    used = watch.elapsed()
    faces = repeats * len(crops)
    return used.cpu_s / faces * 1000, used.wall_s / faces * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with machine_report():
        table(args.threads, args.batch or [1, 32], args.repeats)


def table(threads: int, batches: list[int], repeats_at_1: int) -> None:
    rng = np.random.default_rng(0)
    print(f"{threads} model thread(s)")
    print("| model | file MB | " + " | ".join(
        f"CPU (wall) ms/face, batch {b}" for b in batches) + " |")
    print("|---|---|" + "---|" * len(batches))
    models = [("expression", ExpressionClassifier(name, threads=threads, precision=precision))
              for name in SPECS for precision in PRECISIONS]
    models += [("age", AgeEstimator(name, threads=threads, precision=precision))
               for name in AGE_MODELS for precision in PRECISIONS]
    shown: set[Path] = set()
    for task, model in models:
        if model.model.path in shown:  # no int8 form: the float one again
            continue
        shown.add(model.model.path)
        size = model.template.size
        shape = (size, size) if model.template.grey else (size, size, 3)
        cells = []
        for batch in batches:
            crops = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
            repeats = max(repeats_at_1 // batch, 5)
            cpu, wall = per_face_ms(model.predict, crops, repeats)
            cells.append(f"{cpu:.2f} ({wall:.2f})")
        mb = model.model.path.stat().st_size / 1e6
        int8 = " (int8)" if is_int8(model.model.path) else ""
        print(f"| {task} {model.name}{int8} | {mb:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
