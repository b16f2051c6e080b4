"""Accuracy of every shipped model on the shared data: the README's accuracy tables.

    python benchmarks/accuracy.py [--data /tmp/data] [--resamples 1000] [--only ferplus]

Data (see ../shared/data/README.md), unpacked into --data:
fer2013-publictest.tar.gz -> publictest/, ckplus48.tar.gz -> ckplus48/,
utkface-dev.tar.gz -> utkface/, ferplus.tar.gz -> ferplus/ (its valid/ folder is PublicTest with
10 annotators' votes). A set that is not there is named and skipped. Each row is what
`affectlens eval` reports for the same model, data and mode; the age rows use the held-out
fifth of UTKFace (`--split test`), which the fine-tuned age model never saw.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from affectlens.errors import ModelError
from affectlens.eval.age import evaluate_ages, predict_ages
from affectlens.eval.datasets import (
    is_held_out,
    read_expression_folder,
    read_ferplus,
    read_utkface,
)
from affectlens.eval.expression import evaluate_expressions, predict_expressions
from affectlens.eval.faces import FaceMode
from affectlens.eval.machine import machine_report
from affectlens.models.age import AGE_MODELS, AgeEstimator
from affectlens.models.expression import SPECS, ExpressionClassifier
from affectlens.models.runtime import is_int8

Model = TypeVar("Model", ExpressionClassifier, AgeEstimator)


def _with_int8(make: Callable[..., Model], names: Iterable[str]) -> Iterator[tuple[str, Model]]:
    """Every shipped model of a kind, and the int8 form of each that has one (what analysis
    runs on the CPU); one that is missing is printed as a row and skipped."""
    for name in names:
        try:
            yield name, make(name)
            int8 = make(name, precision="int8")
            if is_int8(int8.model.path):
                yield f"{name} (int8)", int8
        except ModelError as error:
            print(f"| {name} | not shipped: {error} |")


def _expression_models() -> Iterator[tuple[str, ExpressionClassifier]]:
    return _with_int8(ExpressionClassifier, SPECS)


def expression_rows(data: Path, resamples: int) -> None:
    print("| model | data | faces | accuracy (95% CI) | macro-F1 | ECE (uncalibrated) "
          "| coverage / accuracy covered | no face |")
    print("|---|---|---|---|---|---|---|---|")
    for model, classifier in _expression_models():
        for name in ("publictest", "ckplus48"):
            if not _present(data / name):
                continue
            dataset = read_expression_folder(data / name)
            for mode in FaceMode:
                r = evaluate_expressions(
                    predict_expressions(dataset, classifier, mode), classifier.calibration,
                    model=model, data=name, mode=mode.value, left_out=dataset.left_out,
                    resamples=resamples,
                )
                print(f"| {model} | {name} ({len(r.classes)} classes) | {mode.value} | "
                      f"{100 * r.accuracy:.1f}% ({100 * r.accuracy_ci[0]:.1f}-"
                      f"{100 * r.accuracy_ci[1]:.1f}) | {r.macro_f1:.3f} | {r.ece:.3f} "
                      f"({r.ece_uncalibrated:.3f}) | {100 * r.coverage:.0f}% / "
                      f"{100 * r.covered_accuracy:.1f}% | {r.missed_faces} |", flush=True)


def ferplus_rows(data: Path, resamples: int) -> None:
    """FERPlus valid (= FER2013 PublicTest) against the majority label and the whole votes."""
    folder = data / "ferplus" / "valid"
    if not (folder / "label.csv").is_file():
        print(f"\nFERPlus: skipped, no {folder}/label.csv (unpack ferplus.tar.gz into --data)")
        return
    dataset = read_ferplus(folder)
    print("\n| model | FERPlus valid | majority images | accuracy vs majority (95% CI) | "
          "macro-F1 | ECE calibrated (raw) | top has >= 30% of votes (Wilson CI) | "
          "cross-entropy (floor) |")
    print("|---|---|---|---|---|---|---|---|")
    for model, classifier in _expression_models():
        r = evaluate_expressions(
            predict_expressions(dataset, classifier, FaceMode.crops), classifier.calibration,
            model=model, data="ferplus-valid", mode="crops", left_out=dataset.left_out,
            resamples=resamples)
        v = r.votes
        assert v is not None
        print(f"| {model} | crops | {r.images} | {100 * r.accuracy:.1f}% "
              f"({100 * r.accuracy_ci[0]:.1f}-{100 * r.accuracy_ci[1]:.1f}) | {r.macro_f1:.3f} | "
              f"{r.ece:.3f} ({r.ece_uncalibrated:.3f}) | {100 * v.plausible_share:.1f}% "
              f"({100 * v.plausible_ci[0]:.1f}-{100 * v.plausible_ci[1]:.1f}) of {v.images} | "
              f"{v.cross_entropy:.3f} ({v.vote_entropy:.3f}) |", flush=True)
    print("|  | left out of the majority figures: " + ", ".join(
        f"{k} {n}" for k, n in dataset.left_out.items()) + " |")


def age_rows(data: Path, resamples: int) -> None:
    if not _present(data / "utkface"):
        return
    dataset = read_utkface(data / "utkface")
    test = dataset.subset([is_held_out(p, 5) for p in dataset.paths])
    print("\n| model | faces | n | MAE (95% CI) | MAE 60+ | mean error | " + " | ".join(
        ["0-12", "13-19", "20-34", "35-49", "50-64", "65+"]) + " | race gap (adults) "
        "| gender gap |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, estimator in _with_int8(AgeEstimator, AGE_MODELS):
        for mode in FaceMode:
            r = evaluate_ages(predict_ages(test, estimator, mode), model=model, data="utkface",
                              mode=mode.value, malformed=len(test.malformed),
                              resamples=resamples)
            bands = " | ".join(f"{b.mae:.2f}" for b in r.bands)
            print(f"| {model} | {mode.value} | {r.images - r.missed_faces} | {r.mae:.2f} "
                  f"({r.mae_ci[0]:.2f}-{r.mae_ci[1]:.2f}) | {r.mae_60_plus:.2f} | "
                  f"{r.mean_error:+.2f} | {bands} | {r.race_gap_adult:.2f} | "
                  f"{r.gender_gap:.2f} |", flush=True)
            if mode == FaceMode.crops:
                print("|  | race groups (adults): " + ", ".join(
                    f"{g.name} {g.mae:.2f} (n={g.n})" for g in r.races_adult) + " |")
                if (standard := r.race_gap_standardised) is not None:
                    print(f"|  | age-standardised ({', '.join(standard.bands)}): " + ", ".join(
                        f"{g.name} {g.mae:.2f}" for g in standard.groups)
                        + f"; gap {standard.gap:.2f} ({standard.gap_ci[0]:.2f}-"
                        f"{standard.gap_ci[1]:.2f}), raw gap {r.race_gap_adult:.2f} "
                        f"({standard.raw_gap_ci[0]:.2f}-{standard.raw_gap_ci[1]:.2f}) |")


def _present(folder: Path) -> bool:
    if not folder.is_dir():
        print(f"| skipped: no {folder} (unpack ../shared/data into --data) |")
    return folder.is_dir()


TABLES = {"expression": expression_rows, "ferplus": ferplus_rows, "age": age_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/data"))
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--only", choices=sorted(TABLES), help="one table only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with machine_report():
        for name, rows in TABLES.items():
            if args.only in (None, name):
                rows(args.data, args.resamples)


if __name__ == "__main__":
    main()
