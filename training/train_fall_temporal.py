"""Train the temporal fall model (a small 1-D convolution over joint windows) on CPU in minutes.

Why this shape: 1-D convolutions (dilated, 3 s of receptive field at 10 fps) over the joints'
positions and velocities see how a body went down, which the logistic classifier's seven
features summarise away; about 4,700 weights, because a few hundred staged windows from three
labs cannot train more without learning their cameras. Each training window is seen through
a fresh draw of the camera changes of affectlens/eval/fall_augment.py every epoch (pitch,
roll, distance, crop-outs, lost and jittered joints, slower cameras; plus mirror images and
a slightly faster or slower body), because care-home cameras are not the labs' cameras.

Labels as train_falls.py has them: an MD4FD window (URFD, Le2i) is a fall if it is labelled
one, a trusted UP-Fall sequence is a fall; UP-Fall's sequences (5.5 s) hold the fall
somewhere, so each sequence is a bag of sliding 3 s windows and its score is its highest
window's (multiple-instance learning; the model alone scores recordings the same way).

Epochs and the model-alone threshold are chosen on a validation split of the TRAINING
datasets (a quarter of each one's recordings, whole recordings), never on a dataset being
scored; the model is then refitted on all of its training data for those epochs. Seeds are
fixed. Exported to ONNX (run with ONNX Runtime; torch is for training only).

    nice .venv/bin/python training/train_fall_temporal.py --data ../shared/data/falls

writes affectlens/models/weights/affectlens_falls_temporal.onnx and its .json sidecar,
fitted on URFD, Le2i and UP-Fall's trusted sequences. Held-out figures:
benchmarks/falls_temporal.py (it fits the held-out models with ``fit`` below).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.fall_augment import random_camera  # noqa: E402
from affectlens.eval.fall_datasets import FallDataset, load_fall_datasets  # noqa: E402
from affectlens.eval.fall_temporal import (  # noqa: E402
    CHANNELS,
    FPS,
    MODEL_FILE,
    STEPS,
    TemporalFallModel,
    resample,
    window_ends,
    window_inputs,
)
from affectlens.eval.falls import PoseSequence, resampled, sequence_folds  # noqa: E402

SEED = 13
WIDTH = 16
MAX_EPOCHS = 80
BATCH = 32


@dataclass(frozen=True)
class Sample:
    """One training sequence (an MD4FD window, or a whole UP-Fall sequence: a bag of windows)."""

    seq: PoseSequence
    size: tuple[float, float]  # its camera's frame, pixels (the augmentations need it)
    fps: float
    recording: int  # unique across datasets: never split between training and validation


def slowed_copies(samples: list[Sample], factor: float) -> list[Sample]:
    """Each fall played ``factor`` times slower, labelled not a fall: a body lowered to the
    floor that slowly is a person lying down (URFD's daily activities end on a bed or sofa
    that way), and the only thing that tells it from a fall ending in the same posture is
    the speed of the way down. Without such negatives, a model trained without URFD has seen
    almost no lying down (Le2i's 42 windows are its only daily activities)."""
    out = []
    for s in samples:
        if s.seq.label == 1:
            times = s.seq.times[0] + (s.seq.times - s.seq.times[0]) * factor
            seq = PoseSequence(f"{s.seq.name}-slowed-{factor:g}", 0, times, s.seq.bodies)
            out.append(Sample(seq, s.size, s.fps / factor, s.recording))
    return out


def samples_of(datasets: list[FallDataset]) -> list[Sample]:
    out, offset = [], 0
    for dataset in datasets:
        trusted = dataset.ordered()
        out += [Sample(s, trusted.size, trusted.fps, offset + int(g))
                for s, g in zip(trusted.sequences, trusted.groups)]
        offset += int(trusted.groups.max()) + 1
    return out


class Net(nn.Module):
    """(N, CHANNELS, STEPS) -> (N,) logits: a 1x1 mixing layer, three dilated residual
    convolutions (kernel 5, dilation 1, 2, 4: 29 steps, 2.9 s at 10 fps), max and mean over
    time, one linear output."""

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        self.mix = nn.Conv1d(CHANNELS, width, 1)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, 5, padding=2 * d, dilation=d)
                                   for d in (1, 2, 4))
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.mix(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h))
        pooled = torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)
        return self.head(self.drop(pooled)).squeeze(-1)


class Exported(nn.Module):
    def __init__(self, net: Net) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def augment(sample: Sample, rng: np.random.Generator) -> PoseSequence:
    """One draw of what another camera would have recorded (eval.fall_augment.random_camera),
    then, for footage faster than the analysed rate, a slower camera."""
    out = random_camera(sample.seq, sample.size, rng)
    times = out.times
    native = 1 / float(np.median(np.diff(times))) if len(times) > 1 else sample.fps
    step = int(rng.choice([1, 1, 2, 3])) if native > 1.5 * FPS else 1  # a slower camera
    return resampled(out, step)


def bag(seq: PoseSequence) -> np.ndarray:
    """(K, CHANNELS, STEPS): the sliding windows of one sequence."""
    return np.stack([window_inputs(resample(seq.times, seq.bodies, end))
                     for end in window_ends(seq.times)])


def _batch(bags: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bags padded to one size: (B, K, C, T) and a (B, K) mask of real windows."""
    k = max(len(b) for b in bags)
    x = np.zeros((len(bags), k, CHANNELS, STEPS), np.float32)
    mask = np.zeros((len(bags), k), bool)
    for i, b in enumerate(bags):
        x[i, : len(b)], mask[i, : len(b)] = b, True
    return torch.from_numpy(x), torch.from_numpy(mask)


def bag_logits(net: Net, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logits = net(x.reshape(-1, CHANNELS, STEPS)).reshape(mask.shape)
    return logits.masked_fill(~mask, -1e4).amax(dim=1)


def _loss(logits: torch.Tensor, y: torch.Tensor, positive_share: float) -> torch.Tensor:
    """Class-balanced binary cross-entropy (as the logistic classifier is fitted)."""
    w = torch.where(y > 0, 0.5 / positive_share, 0.5 / (1 - positive_share))
    return (nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            * w).mean()


def train(samples: list[Sample], epochs: int, seed: int, val: list[Sample] | None = None,
          say=print) -> tuple[Net, list[float]]:
    """Fits a Net for ``epochs``; with ``val``, the balanced validation loss after each one
    (on the validation sequences as recorded and two fixed camera-change draws of each)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = Net()
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    y_all = np.array([s.seq.label for s in samples], np.float32)
    share = float(np.clip(y_all.mean(), 0.05, 0.95))
    if val:
        val_rng = np.random.default_rng(seed + 1)
        val_seqs = [s.seq for s in val] + [augment(s, val_rng) for s in val for _ in range(2)]
        vx, vmask = _batch([bag(s) for s in val_seqs])
        vy = torch.tensor([s.label for s in val_seqs], dtype=torch.float32)
        v_share = float(np.clip(vy.mean().item(), 0.05, 0.95))
    history = []
    for epoch in range(epochs):
        net.train()
        bags = [bag(augment(s, rng)) for s in samples]
        order = rng.permutation(len(samples))
        total = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            x, mask = _batch([bags[i] for i in idx])
            loss = _loss(bag_logits(net, x, mask), torch.from_numpy(y_all[idx]), share)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss) * len(idx)
        if val:
            net.eval()
            with torch.no_grad():
                history.append(float(_loss(bag_logits(net, vx, vmask), vy, v_share)))
            if epoch % 10 == 9:
                say(f"    epoch {epoch + 1}: train {total / len(samples):.3f}, "
                    f"validation {history[-1]:.3f}")
    return net, history


def probabilities(net: Net, seqs: list[PoseSequence]) -> np.ndarray:
    net.eval()
    with torch.no_grad():
        x, mask = _batch([bag(s) for s in seqs])
        return torch.sigmoid(bag_logits(net, x, mask)).numpy()


def youden_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The threshold that maximises sensitivity + specificity on the validation sequences:
    the middle of the cuts that reach the maximum (mid-way between neighbouring scores; a
    gap between the classes gives its centre, not its edge), within [0.05, 0.95]; 0.5
    without both classes."""
    if y.min() == y.max():
        return 0.5
    values = np.unique(p)
    cuts = np.concatenate([[0.0], (values[1:] + values[:-1]) / 2, [1.0]])
    j = np.array([(p[y == 1] >= c).mean() + (p[y == 0] < c).mean() for c in cuts])
    best = cuts[j >= j.max() - 1e-9]
    return float(np.clip((best.min() + best.max()) / 2, 0.05, 0.95))


def validation_split(samples: list[Sample], seed: int) -> np.ndarray:
    """True for the quarter of recordings (by label, each dataset alike) kept for validation."""
    labels = np.array([s.seq.label for s in samples])
    groups = np.array([s.recording for s in samples])
    return sequence_folds(labels, groups, 4, seed) == 0


def fit(datasets: list[FallDataset], out: Path, seed: int = SEED, max_epochs: int = MAX_EPOCHS,
        say=print, slowed: float | None = None) -> TemporalFallModel:
    """Choose epochs and threshold on a validation split of ``datasets``, refit on all of
    them, export to ``out`` (.onnx and .json sidecar) and load it for ONNX Runtime. With
    ``slowed``, every fall also played that many times slower as a negative
    (``slowed_copies``), in training and validation alike."""
    started = time.process_time()
    samples = samples_of(datasets)
    if slowed:
        samples += slowed_copies(samples, slowed)
    is_val = validation_split(samples, seed)
    train_part = [s for s, v in zip(samples, is_val) if not v]
    val_part = [s for s, v in zip(samples, is_val) if v]
    say(f"  {len(samples)} sequences ({sum(s.seq.label for s in samples)} falls); "
        f"validation {len(val_part)} ({sum(s.seq.label for s in val_part)} falls)")
    net, history = train(train_part, max_epochs, seed, val_part, say)
    # The smoothed validation loss picks the epochs (a few noisy epochs are not a minimum).
    smooth = np.convolve(history, np.ones(5) / 5, mode="valid")
    epochs = int(np.argmin(smooth)) + 5
    net, _ = train(train_part, epochs, seed)
    p_val = probabilities(net, [s.seq for s in val_part])
    y_val = np.array([s.seq.label for s in val_part])
    threshold = youden_threshold(p_val, y_val)
    val_sens = float((p_val[y_val == 1] >= threshold).mean())
    val_spec = float((p_val[y_val == 0] < threshold).mean()) if (y_val == 0).any() else None
    net, _ = train(samples, epochs, seed)
    # The validated threshold becomes p = 0.5, as the logistic classifier's own threshold
    # is: the rule's min_probability (0.7) then asks each model for as much above its own.
    with torch.no_grad():
        net.head.bias -= float(np.log(threshold / (1 - threshold)))
    cpu = time.process_time() - started
    say(f"  {epochs} epochs, threshold {threshold:.3f} (validation: sensitivity "
        f"{val_sens:.2f}, specificity {val_spec}); {cpu:.0f} s CPU")
    meta = {"fps": FPS, "steps": STEPS, "channels": CHANNELS, "threshold": 0.5,
            "validation_threshold": round(threshold, 4),
            "epochs": epochs, "seed": seed, "width": WIDTH, "slowed_negatives": slowed,
            "parameters": sum(p.numel() for p in net.parameters()),
            "trained_on": ", ".join(f"{d.name} ({len(d.ordered().sequences)} sequences)"
                                    for d in datasets),
            "validation": {"sequences": len(val_part), "sensitivity": val_sens,
                           "specificity": val_spec, "loss_by_epoch": [round(v, 4)
                                                                      for v in history]},
            "training_cpu_s": round(cpu, 1)}
    return export(net, meta, out)


def export(net: Net, meta: dict[str, object], out: Path) -> TemporalFallModel:
    out.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    torch.onnx.export(Exported(net), (torch.zeros(1, CHANNELS, STEPS),), str(out),
                      input_names=["windows"], output_names=["p_fall"],
                      dynamic_axes={"windows": {0: "n"}, "p_fall": {0: "n"}},
                      opset_version=17, dynamo=False)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return TemporalFallModel.load(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/falls")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--datasets", default="URFD,Le2i,UP-Fall")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    parser.add_argument("--slowed", type=float, default=None,
                        help="also every fall this many times slower, as a negative")
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets = load_fall_datasets(args.data, args.datasets.split(","))
    model = fit(datasets, args.out, args.seed, args.max_epochs, slowed=args.slowed)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} KB, "
          f"{model.meta['parameters']} weights)")


if __name__ == "__main__":
    main()
