"""Train the vocal expression model (issue 20) on RAVDESS speech, on a CPU, in minutes.

    mkdir -p /tmp/voice && tar -xzf ../shared/data/voice/ravdess-speech-16k.tar.gz -C /tmp/voice
    python training/train_voice.py --data /tmp/voice/ravdess                  # CV, then ship
    python training/train_voice.py --data /tmp/voice/ravdess --check-librosa  # features check

Features are ``affectlens.voice.features.window_features``, the code analysis runs, read through
``affectlens.voice.audio.read_audio``: one vector of statistics per window. The network is a
small ensemble of MLPs (standardisation and the average of the members inside one ONNX graph).

Every split is by actor, never by file: an actor's voice on both sides inflates every figure.
- ``cross_validate``: 5 folds of actors (about 5 test actors each, both genders); the test
  actors are only scored. In each fold (``--calibration cross-fit``, the default) each member
  leaves out its own group of the training actors, and the temperature and abstention
  threshold are fitted on all of them, each utterance scored by the member that never heard
  it (``fit_cross``). ``--calibration validation`` (the previous model): 4 training actors
  (2 male, 2 female), never trained on, fit them for all members (``fit``).
- The shipped model: the same rule on 22 actors; ``--holdout`` (09 and 10) never heard.
Windows: each utterance whole (RAVDESS trims to 0.25 s of silence) plus random 1.5-3.5 s crops
of it for training, as analysis classifies 1-4 s windows of longer speech, and the utterance
played 0.9 and 1.1 times as fast (speed perturbation: pitch and formants shift as they do
between speakers; docs/voice.md has what it gained). Only whole utterances are scored.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from affectlens.eval.calibration import abstention_threshold, fit_temperature
from affectlens.eval.metrics import expected_calibration_error, macro_f1
from affectlens.eval.voice import VoiceSet, read_voice_folder
from affectlens.models.calibration import Calibration
from affectlens.voice.audio import read_audio
from affectlens.voice.features import FEATURE_NAMES, SAMPLE_RATE, window_features
from affectlens.voice.model import AROUSAL_WEIGHTS, VALENCE_WEIGHTS, VOICE_CLASSES, VOICE_MODEL

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "affectlens" / "models" / "weights"
TARGET_ACCURACY = 0.75  # the labelled windows of validation actors must be this often right
CROPS = 2
CROP_SECONDS = (1.5, 3.5)


@dataclass
class Features:
    """Per window: features, class, utterance index, whether it is a whole utterance."""

    x: np.ndarray
    y: np.ndarray
    utterance: np.ndarray
    whole: np.ndarray
    speakers: list[str]
    genders: list[str]


def _speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """The utterance played ``factor`` times faster (pitch and formants move with it)."""
    positions = np.arange(int(len(samples) / factor)) * factor
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def extract(data: VoiceSet, cache: Path | None, seed: int = 0,
            speeds: tuple[float, ...] = ()) -> Features:
    """Features of each utterance, CROPS crops of it, and the utterance at each of ``speeds``
    (training windows only; cached: a minute or two of CPU)."""
    if cache and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if (z["names"].tolist() == list(FEATURE_NAMES) and len(z["speakers"]) == len(data.paths)
                and (z["speeds"].tolist() if "speeds" in z.files else []) == list(speeds)):
            return Features(z["x"], z["y"], z["utterance"], z["whole"],
                            z["speakers"].tolist(), z["genders"].tolist())
    rng = np.random.default_rng(seed)
    rows, ys, utts, whole = [], [], [], []
    started = time.perf_counter()
    for i, (path, label) in enumerate(zip(data.paths, data.labels)):
        audio = read_audio(path)
        assert audio is not None, path
        samples = audio.samples
        windows = [samples]
        for _ in range(CROPS):
            length = int(rng.uniform(*CROP_SECONDS) * SAMPLE_RATE)
            if length < len(samples):
                start = int(rng.integers(0, len(samples) - length))
                windows.append(samples[start:start + length])
        windows += [_speed(samples, f) for f in speeds]
        for j, window in enumerate(windows):
            rows.append(window_features(window))
            ys.append(label)
            utts.append(i)
            whole.append(j == 0)
        if i % 200 == 0:
            print(f"features: {i}/{len(data.paths)} files, {time.perf_counter() - started:.0f} s",
                  flush=True)
    out = Features(np.stack(rows), np.array(ys), np.array(utts), np.array(whole),
                   [str(s) for s in data.speakers], [str(g) for g in data.genders])
    if cache:
        np.savez(cache, x=out.x, y=out.y, utterance=out.utterance, whole=out.whole,
                 speakers=np.array(out.speakers), genders=np.array(out.genders),
                 names=np.array(FEATURE_NAMES), speeds=np.array(speeds, float))
    return out


class Member(nn.Module):
    def __init__(self, inputs: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden // 2, len(VOICE_CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Ensemble(nn.Module):
    """Standardise with the training windows' mean and spread, average the members' logits."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, members: list[Member]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(1.0 / std, dtype=torch.float32))
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = torch.clamp((features - self.mean) * self.scale, -8.0, 8.0)
        return torch.stack([m(x) for m in self.members]).mean(0)


def train_member(x: np.ndarray, y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                 args: argparse.Namespace, seed: int) -> Member:
    """AdamW with input noise; keeps the last epoch, so the validation actors are untouched by
    training and the temperature fitted on them is unbiased (``--select-epoch`` keeps the
    epoch of lowest validation loss instead, which made the model over-confident: see the
    model card)."""
    torch.manual_seed(seed)
    model = Member(x.shape[1], args.hidden, args.dropout)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    xt, yt = torch.tensor(x), torch.tensor(y)
    vx, vy = torch.tensor(val_x), torch.tensor(val_y)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    best, best_state = float("inf"), None
    generator = torch.Generator().manual_seed(seed)
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), args.batch):
            rows = order[start:start + args.batch]
            noisy = xt[rows] + args.noise * torch.randn(len(rows), xt.shape[1], generator=generator)
            optimiser.zero_grad()
            loss_fn(model(noisy), yt[rows]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            val = nn.functional.cross_entropy(model(vx), vy).item()
        if val < best or not args.select_epoch:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    return model


def fit(feats: Features, train: np.ndarray, val: np.ndarray, args: argparse.Namespace
        ) -> tuple[Ensemble, Calibration]:
    """An ensemble trained on the ``train`` windows, calibrated on the whole utterances of the
    ``val`` windows (which also chose each member's epoch)."""
    mean = feats.x[train].mean(0)
    std = feats.x[train].std(0) + 1e-6
    standard = lambda rows: np.clip((feats.x[rows] - mean) / std, -8, 8).astype(np.float32)  # noqa: E731
    val_whole = val & feats.whole
    members = [train_member(standard(train), feats.y[train], standard(val_whole),
                            feats.y[val_whole], args, seed) for seed in range(args.members)]
    model = Ensemble(mean, std, members).eval()
    logits = predict(model, feats.x[val_whole])
    truth = feats.y[val_whole]
    temperature = fit_temperature(logits, truth)
    probs = Calibration(temperature).probabilities(logits)
    threshold = abstention_threshold(probs, truth, args.target_accuracy)
    actors = sorted({feats.speakers[u] for u in feats.utterance[val_whole]})
    return model, Calibration(temperature, threshold, args.target_accuracy,
                              fitted_on=f"{len(truth)} utterances of validation actors "
                              f"{', '.join(actors)} (training/train_voice.py)")


def fit_cross(feats: Features, actors: list[str], args: argparse.Namespace
              ) -> tuple[Ensemble, Calibration]:
    """An ensemble whose members each leave out a different group of ``actors`` (dealt by
    gender), calibrated on every actor at once: each utterance scored by the one member that
    never trained on it. The temperature and threshold then rest on all the actors' voices,
    not on four (actors differ more than utterances do). The threshold is fitted on single
    members' scores, less accurate than the average, so it errs on the safe side. (The
    standardisation's mean and spread are of all the actors' windows: no labels.)
    """
    rows = _mask(feats, actors)
    mean = feats.x[rows].mean(0)
    std = feats.x[rows].std(0) + 1e-6
    standard = lambda rows: np.clip((feats.x[rows] - mean) / std, -8, 8).astype(np.float32)  # noqa: E731
    members, logits, truth = [], [], []
    for seed, group in enumerate(actor_folds(actors, args.members)):
        train = _mask(feats, [a for a in actors if a not in group])
        held = _mask(feats, group) & feats.whole
        member = train_member(standard(train), feats.y[train], standard(held),
                              feats.y[held], args, seed).eval()
        with torch.no_grad():
            logits.append(member(torch.tensor(standard(held))).numpy())
        truth.append(feats.y[held])
        members.append(member)
    out_of_fold, labels = np.concatenate(logits), np.concatenate(truth)
    temperature = fit_temperature(out_of_fold, labels)
    probs = Calibration(temperature).probabilities(out_of_fold)
    threshold = abstention_threshold(probs, labels, args.target_accuracy)
    return Ensemble(mean, std, members).eval(), Calibration(
        temperature, threshold, args.target_accuracy,
        fitted_on=f"{len(labels)} utterances of {len(actors)} actors, each scored by the one of "
        f"{len(members)} members that left its actor out (training/train_voice.py --calibration "
        "cross-fit)")


def predict(model: Ensemble, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32)).numpy()


def actor_folds(speakers: list[str], folds: int) -> list[list[str]]:
    """Actors dealt to folds alternately by gender (RAVDESS: odd male, even female)."""
    actors = sorted(set(speakers))
    male = [a for a in actors if int(a[-2:]) % 2]
    female = [a for a in actors if not int(a[-2:]) % 2]
    order = [a for pair in zip(male, female) for a in pair]
    return [order[k::folds] for k in range(folds)]


def validation_actors(actors: list[str], seed: int, per_gender: int = 2) -> list[str]:
    """``per_gender`` male and as many female actors of ``actors``."""
    rng = np.random.default_rng(seed)
    male = [a for a in actors if int(a[-2:]) % 2]
    female = [a for a in actors if not int(a[-2:]) % 2]
    return [*rng.choice(male, per_gender, replace=False),
            *rng.choice(female, per_gender, replace=False)]


def _mask(feats: Features, actors: list[str]) -> np.ndarray:
    chosen = set(actors)
    per_utt = np.array([s in chosen for s in feats.speakers])
    return per_utt[feats.utterance]


def cross_validate(feats: Features, args: argparse.Namespace) -> dict:
    """Out-of-fold figures on whole utterances of actors never seen in training or fitting."""
    n = len(feats.speakers)
    raw = np.zeros((n, len(VOICE_CLASSES)), np.float32)
    calibrated = np.zeros_like(raw)
    threshold = np.zeros(n)
    fold_of = np.zeros(n, int)
    for k, test_actors in enumerate(actor_folds(feats.speakers, args.folds)):
        rest = sorted(set(feats.speakers) - set(test_actors))
        test = _mask(feats, test_actors) & feats.whole
        started = time.perf_counter()
        if args.calibration == "cross-fit":
            model, calibration = fit_cross(feats, rest, args)
        else:
            val_actors = validation_actors(rest, seed=k, per_gender=args.validation_pairs)
            train_actors = [a for a in rest if a not in val_actors]
            model, calibration = fit(feats, _mask(feats, train_actors),
                                     _mask(feats, val_actors), args)
        logits = predict(model, feats.x[test])
        utts = feats.utterance[test]
        raw[utts] = Calibration().probabilities(logits)
        calibrated[utts] = calibration.probabilities(logits)
        threshold[utts] = calibration.abstain_below
        fold_of[utts] = k
        right = float((logits.argmax(1) == feats.y[test]).mean())
        print(f"fold {k + 1}: test {', '.join(test_actors)}; accuracy {right:.3f}, T "
              f"{calibration.temperature:.2f}, abstain below {calibration.abstain_below:.2f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    truth = np.zeros(n, int)
    truth[feats.utterance[feats.whole]] = feats.y[feats.whole]
    return figures(truth, raw, calibrated, threshold, np.array(feats.genders))


def figures(truth: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, threshold: np.ndarray,
            genders: np.ndarray) -> dict:
    """Accuracy, macro-F1, ECE before/after, coverage, arousal/valence accuracy; per gender."""
    def block(rows: np.ndarray) -> dict:
        t, p, r = truth[rows], calibrated[rows], raw[rows]
        covered = p.max(1) >= threshold[rows]
        arousal_true, valence_true = AROUSAL_WEIGHTS[t], VALENCE_WEIGHTS[t]
        arousal, valence = p @ AROUSAL_WEIGHTS, p @ VALENCE_WEIGHTS
        a_rows, v_rows = arousal_true != 0, valence_true != 0
        return {
            "utterances": int(rows.sum()),
            "accuracy": float((p.argmax(1) == t).mean()),
            "macro_f1": macro_f1(t, p.argmax(1), range(len(VOICE_CLASSES))),
            "ece_uncalibrated": expected_calibration_error(r, t),
            "ece": expected_calibration_error(p, t),
            "coverage": float(covered.mean()),
            "covered_accuracy": float((p.argmax(1) == t)[covered].mean()) if covered.any()
            else float("nan"),
            "arousal_accuracy": float((np.sign(arousal[a_rows]) == arousal_true[a_rows]).mean()),
            "valence_accuracy": float((np.sign(valence[v_rows]) == valence_true[v_rows]).mean()),
            "recall": {c: float((p.argmax(1)[t == i] == i).mean())
                       for i, c in enumerate(VOICE_CLASSES) if (t == i).any()},
        }
    everyone = np.ones(len(truth), bool)
    out = {"all": block(everyone)}
    for gender in sorted(set(genders.tolist())):
        out[gender] = block(genders == gender)
    return out


def export(model: Ensemble, calibration: Calibration, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{VOICE_MODEL}.onnx"
    example = torch.zeros(1, len(FEATURE_NAMES))
    torch.onnx.export(model, (example,), str(path), input_names=["features"],
                      output_names=["logits"], dynamic_axes={"features": {0: "n"},
                                                             "logits": {0: "n"}},
                      opset_version=17, dynamo=False)
    calibration.save(out / f"{VOICE_MODEL}.calibration.json")
    return path


def check_librosa(path: Path) -> None:
    """The package's numpy log-mel and MFCC against librosa's on one real file."""
    import librosa  # training-time only: it brings numba, which the package never needs

    from affectlens.voice import features as f
    samples = read_audio(path).samples  # type: ignore[union-attr]
    ours = f.log_mel(f.power_spectrogram(samples))
    mel = librosa.feature.melspectrogram(
        y=samples, sr=f.SAMPLE_RATE, n_fft=f.N_FFT, hop_length=f.HOP_LENGTH,
        win_length=f.WIN_LENGTH, window="hann", center=False, power=2.0, n_mels=f.N_MELS)
    theirs = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    their_mfcc = librosa.feature.mfcc(S=theirs.T, n_mfcc=f.N_MFCC).T
    loud = theirs > theirs.max() - 60  # differences far below hearing are float noise
    print(f"librosa check on {path.name}: log-mel max |diff| "
          f"{np.abs(ours - theirs)[loud].max():.4f} dB over {loud.sum()} loud cells; "
          "MFCC max |diff| "
          f"{np.abs(f.mfcc(ours) - their_mfcc).max():.4f}")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="unpacked ravdess/ folder")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where the ONNX file goes")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice-features.npz"),
                        help="features of every window, reused while the features, files and "
                        "--speeds are unchanged")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--noise", type=float, default=0.35)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--validation-pairs", type=int, default=2,
                        help="validation actors of each gender (calibration, never training)")
    parser.add_argument("--speeds", type=float, nargs="*", default=[0.9, 1.1],
                        help="also train on each utterance played at these speeds: pitch and "
                        "formants move as between speakers (none: --speeds)")
    parser.add_argument("--calibration", choices=("cross-fit", "validation"),
                        default="cross-fit",
                        help="cross-fit: each member leaves out its own group of actors and "
                        "the calibration is fitted on all of them; validation: the members "
                        "share 4 validation actors, never trained on, that calibrate")
    parser.add_argument("--holdout", nargs="*", default=["actor09", "actor10"],
                        help="with --calibration cross-fit, actors the shipped model never "
                        "hears at all (the tests' unseen actors)")
    parser.add_argument("--target-accuracy", type=float, default=TARGET_ACCURACY)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--select-epoch", action="store_true",
                        help="keep the epoch of lowest validation loss (not the last)")
    parser.add_argument("--cv-only", action="store_true", help="figures only, ship nothing")
    parser.add_argument("--report", type=Path, help="write the CV figures here as JSON")
    parser.add_argument("--check-librosa", action="store_true")
    return parser.parse_args(argv)


def load(args: argparse.Namespace) -> Features:
    torch.set_num_threads(args.threads)
    return extract(read_voice_folder(args.data), args.cache, speeds=tuple(args.speeds))


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    data = read_voice_folder(args.data)
    if args.check_librosa:
        check_librosa(data.paths[0])
        return
    started = time.perf_counter()
    feats = load(args)
    print(f"{len(feats.x)} windows of {len(data.paths)} utterances, {feats.x.shape[1]} features "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    result = cross_validate(feats, args)
    print(json.dumps(result, indent=2))
    if args.report:
        args.report.write_text(json.dumps(result, indent=2) + "\n")
    if args.cv_only:
        return
    actors = sorted(set(feats.speakers))
    if args.calibration == "cross-fit":
        model, calibration = fit_cross(
            feats, [a for a in actors if a not in args.holdout], args)
    else:
        val_actors = validation_actors(actors, seed=len(actors),
                                       per_gender=args.validation_pairs)
        train = _mask(feats, [a for a in actors if a not in val_actors])
        model, calibration = fit(feats, train, _mask(feats, val_actors), args)
    path = export(model, calibration, args.out)
    print(f"wrote {path} and its calibration (T {calibration.temperature:.3f}, abstain below "
          f"{calibration.abstain_below:.3f}; {calibration.fitted_on}); "
          f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
