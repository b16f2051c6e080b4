"""The temporal fall model measured against the rule and logistic classifier. Prints; asserts
nothing. Fits its held-out models, so it needs training/requirements.txt (torch, CPU build);
every score goes through ONNX Runtime, as at run time.

    nice .venv/bin/python benchmarks/falls_temporal.py [--data ../shared/data] [--quick]

1. Leave one dataset out (URFD, Le2i, UP-Fall's trusted sequences): each held-out dataset
   scored by models fitted on the other two only (epochs and the model-alone threshold chosen
   on a validation split of those two), in three configurations, each scored by
   eval.fall_lodo.score (the same stitching and windows as benchmarks/falls.py part 0):
   the rule with the logistic classifier (today), (a) the rule with the temporal model in
   the classifier's place (every gate unchanged), (b) the temporal model alone, any sliding
   3 s window over its threshold (beside it the logistic classifier alone, scored the same
   way). Per recording and per window, exact 95% intervals; false fall events an hour.
2. URFD cross-validated by recording (5 folds, the folds of eval.falls.cross_validate).
3. Each held-out dataset under the simulated camera changes of eval.fall_augment.
4. CPU per scored window, one thread: the logistic classifier's features and weights against
   the temporal model's inputs and ONNX Runtime.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

from affectlens.eval.fall_augment import AUGMENTATIONS, augmented  # noqa: E402
from affectlens.eval.fall_datasets import FallDataset, load_fall_datasets  # noqa: E402
from affectlens.eval.fall_lodo import (  # noqa: E402
    Detector,
    LogisticDetector,
    false_falls,
    fit_on,
    leave_one_dataset_out,
    recordings_of,
    score,
    sensitivity,
    specificity,
)
from affectlens.eval.fall_temporal import (  # noqa: E402
    MODEL_FILE,
    TemporalFallModel,
    resample,
    window_ends,
    window_inputs,
)
from affectlens.eval.falls import (  # noqa: E402
    Outcome,
    cross_validate,
    recordings,
    rule_detects_fall,
    sequence_folds,
    stitch,
)
from affectlens.eval.intervals import poisson_rate  # noqa: E402
from affectlens.eval.machine import machine_report  # noqa: E402
from affectlens.events.fall_classifier import FallClassifier  # noqa: E402
from affectlens.events.fall_features import (  # noqa: E402
    posture,
    reference_scale,
    window_features,
)

DATA = ROOT.parent / "shared" / "data"
Fitter = Callable[[list[FallDataset]], Detector]


def temporal_fitter(folder: Path, max_epochs: int, slowed: float | None = None) -> Fitter:
    """Fits the temporal model on the datasets given (training/train_fall_temporal.fit) and
    loads its ONNX export from ``folder``."""
    import torch
    from train_fall_temporal import fit

    torch.set_num_threads(1)
    fitted: dict[tuple[tuple[str, int], ...], Detector] = {}

    def fitter(datasets: list[FallDataset]) -> Detector:
        key = tuple((d.name, len(d.sequences)) for d in datasets)
        if key not in fitted:
            out = folder / f"held_out_{len(fitted)}.onnx"
            model = fit(datasets, out, max_epochs=max_epochs, say=lambda m: None,
                        slowed=slowed)
            print(f"  temporal model fitted on {' + '.join(d.name for d in datasets)}: "
                  f"{model.meta['epochs']} epochs, validated threshold "
                  f"{model.meta['validation_threshold']:.3f} (made p = 0.5), "
                  f"{model.meta['training_cpu_s']} s CPU", flush=True)
            fitted[key] = model
        return fitted[key]

    return fitter


def _caught(outcome: Outcome) -> str:
    sens, spec = sensitivity(outcome), specificity(outcome)
    false = f", {spec.total - spec.hits} false" if spec.total else ""
    return f"{sens.hits}/{sens.total}{false}"


def held_out(datasets: list[FallDataset], fitter: Fitter) -> None:
    print("1. Leave one dataset out; per recording (windows stitched), per window beside it; "
          "exact 95% intervals", flush=True)
    started = time.process_time()
    logistic = leave_one_dataset_out(datasets)
    temporal = leave_one_dataset_out(datasets, fit=fitter)
    print(f"  ({time.process_time() - started:.0f} s CPU, fitting included)")
    for lo, te in zip(logistic, temporal):
        name = lo.dataset + (f" ({lo.note})" if lo.note else "")
        print(f"  {name}, trained on {' + '.join(lo.trained_on)}:")
        rows = (("rule + logistic (today)", lo.recordings, lo.windows),
                ("(a) rule + temporal model", te.recordings, te.windows),
                ("(b) temporal model alone", te.alone, te.classifier),
                ("    logistic alone", lo.alone, lo.classifier))
        for label, recs, wins in rows:
            assert recs is not None
            print(f"    {label:27s} recordings: sens {sensitivity(recs)!s:28s} "
                  f"spec {specificity(recs)!s:28s} | windows: sens {sensitivity(wins)}, "
                  f"spec {specificity(wins)}")
        for label, r in (("rule + logistic", lo), ("rule + temporal", te)):
            missed = [n.split("+")[0] for n, t, p in zip(r.recordings.names, r.recordings.truth,
                                                         r.recordings.predicted) if t and not p]
            false = [n.split("+")[0] for n, t, p in zip(r.recordings.names, r.recordings.truth,
                                                        r.recordings.predicted) if p and not t]
            print(f"    {label}: missed {', '.join(missed) or 'none'}; false alarms "
                  f"{', '.join(false) or 'none'}")
        if te.stays_down is not None:
            print(f"    last frame held 32 s: a fall or long lie in {sensitivity(te.stays_down)} "
                  f"of fall recordings (rule + temporal); rule + logistic "
                  f"{sensitivity(lo.stays_down) if lo.stays_down else '-'}")


def false_falls_per_hour(datasets: list[FallDataset], detectors: dict[str, Detector]) -> None:
    """False fall events over the daily-activity recordings, each dataset judged by the
    models that never saw it (``detectors`` by held-out dataset); Poisson 95% interval."""
    events, seconds = false_falls(datasets, lambda held: detectors[held.name])
    hours = seconds / 3600
    low, high = poisson_rate(events, hours)
    print(f"    {events} in {seconds / 60:.1f} minutes = {events / hours:.1f} an hour "
          f"(95% {low:.1f}-{high:.1f}; minutes of footage, not hours)")


def urfd_cv(urfd: FallDataset, fitter: Fitter, folds: int = 5) -> None:
    """URFD alone, 5-fold by recording: the logistic path as eval.falls.cross_validate scores
    it, the temporal model fitted on the other folds (its own validation split inside them)."""
    print("\n2. URFD cross-validated by recording (5 folds, seed 0), per recording", flush=True)
    sequences = urfd.sequences
    logistic = cross_validate(sequences, folds=folds).recordings
    labels = np.array([s.label for s in sequences])
    groups = recordings(sequences)
    fold = sequence_folds(labels, groups, folds, 0)
    truth, rule, alone = [], [], []
    for k in range(folds):
        keep = np.flatnonzero(fold != k)
        part = FallDataset("URFD", [sequences[i] for i in keep], groups[keep], urfd.fps,
                           size=urfd.size)
        model = fitter([part])
        for g in np.unique(groups[fold == k]):
            whole = stitch(sequences, list(np.flatnonzero(groups == g)))
            truth.append(whole.label)
            rule.append(int(rule_detects_fall(model.rule(None), whole)))
            alone.append(int(model.recording_probability(whole) >= model.threshold))
    t = np.array(truth)
    for label, outcome in (("rule + logistic (today)", logistic),
                           ("(a) rule + temporal model", Outcome(t, np.array(rule))),
                           ("(b) temporal model alone", Outcome(t, np.array(alone)))):
        print(f"  {label:27s} sens {sensitivity(outcome)!s:28s} spec {specificity(outcome)}")


def augmentation_table(datasets: list[FallDataset], detectors: dict[str, dict[str, Detector]]
                       ) -> None:
    print("\n3. Under simulated camera changes, per recording (falls caught / false alarms); "
          "held-out models", flush=True)
    print("    " + f"{'':38s}" + "".join(f"{d.name + ' ' + c:>16s}" for d in datasets
                                          for c in ("today", "(a)", "(b)")))
    for aug in AUGMENTATIONS:
        cells = []
        for d in datasets:
            changed = augmented(d.ordered(), aug)
            lo = score(changed, detectors["rule + logistic"][d.name], step=aug.step, alone=False)
            te = score(changed, detectors["temporal"][d.name], step=aug.step)
            assert te.alone is not None
            cells += [_caught(lo.recordings), _caught(te.recordings), _caught(te.alone)]
        print(f"    {aug.name:38s}" + "".join(f"{c:>16s}" for c in cells), flush=True)


def cpu_per_window(datasets: list[FallDataset], model: TemporalFallModel, count: int = 300
                   ) -> None:
    """Both models on the same real windows (3 s ending every 0.5 s of each recording), one
    at a time as the rule asks: the logistic classifier's features (from the postures the
    rule keeps anyway) and weights; the temporal model's resampling, inputs and ONNX run."""
    print("\n4. CPU per scored window, one thread (this machine; see the machine line)")
    windows = []
    for d in datasets:
        for whole in recordings_of(d.ordered())[:10]:
            for end in window_ends(whole.times):
                keep = (whole.times > end - 3.0) & (whole.times <= end + 1e-6)
                windows.append((whole.times[keep], whole.bodies[keep]))
    windows = windows[:count]
    logistic = FallClassifier.load()
    prepared = [(t, [posture(b) for b in bodies]) for t, bodies in windows]

    def logistic_one(i: int) -> None:
        times, postures = prepared[i]
        features = window_features(times, postures, reference_scale(postures))
        logistic.probability(features)

    def temporal_one(i: int) -> None:
        times, bodies = windows[i]
        model.probability(window_inputs(resample(times, bodies, float(times[-1])))[None])

    for label, fn in (("logistic classifier (7 features)", logistic_one),
                      ("temporal model (ONNX Runtime)", temporal_one)):
        fn(0)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(3):
            for i in range(len(windows)):
                fn(i)
        n = 3 * len(windows)
        print(f"  {label:34s} {(time.process_time() - cpu) / n * 1e3:.3f} ms CPU, "
              f"{(time.perf_counter() - wall) / n * 1e3:.3f} ms wall a window "
              f"({n} windows)")
    print("  inside the rule a window is scored once per floor posture judged, not per frame; "
          "the model alone scores one every 0.5 s per tracked person")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-epochs", type=int, default=80)
    parser.add_argument("--quick", action="store_true", help="part 1 and 4 only")
    parser.add_argument("--slowed", type=float, default=None,
                        help="the temporal models also learn every fall this many times "
                        "slower as a negative (train_fall_temporal.slowed_copies)")
    args = parser.parse_args()
    datasets = load_fall_datasets(args.data / "falls")
    with machine_report(), tempfile.TemporaryDirectory() as tmp:
        fitter = temporal_fitter(Path(tmp), args.max_epochs, args.slowed)
        held_out(datasets, fitter)
        detectors: dict[str, dict[str, Detector]] = {
            "rule + logistic": {d.name: LogisticDetector(fit_on([o for o in datasets
                                                                 if o is not d]))
                                for d in datasets},
            "temporal": {},
        }
        for d in datasets:  # the held-out temporal models of part 1
            detectors["temporal"][d.name] = fitter([o for o in datasets if o is not d])
        print("  false fall events in daily activities:")
        for name in ("rule + logistic", "temporal"):
            print(f"   {name}:", end="")
            false_falls_per_hour(datasets, detectors[name])
        shipped = TemporalFallModel.load(MODEL_FILE) if MODEL_FILE.is_file() else None
        if not args.quick:
            urfd_cv(datasets[0], fitter)
            augmentation_table(datasets, detectors)
        fallback = detectors["temporal"][datasets[0].name]
        cpu_per_window(datasets, shipped if shipped else fallback)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
