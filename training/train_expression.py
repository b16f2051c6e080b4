"""Train affectlens's own facial-expression network on FER2013's training split; export ONNX.

    python training/train_expression.py --data /tmp/data/train --out runs/expr --preset cpu
    python training/train_expression.py --data /tmp/ferplus/ferplus/train --out runs/ferplus \
        --init affectlens/models/weights/affectlens_expression.onnx \
        --validation-like /tmp/ferplus/fer2013/train --lr 0.01 --epochs 15 --calibrate

``--data`` may be FERPlus's ``train/`` folder (PNGs + ``label.csv`` of 10 annotators' votes;
the same images as FER2013 train): the targets are then the vote shares over our seven classes
and the loss is the cross-entropy against them (Barsoum et al. 2016's "probability" scheme),
read by ``affectlens.eval.datasets.read_ferplus``: ``unknown``, ``not a face`` and ``contempt``
votes are dropped (the product has no contempt class; mapping it to disgust or anger would teach
a label no annotator gave), and images whose top vote is unknown or not-a-face, or with no vote
for our classes, are left out. Validation accuracy is then against the majority label.

The validation split (one image in ten, chosen by a hash of the file name, the same split as
``affectlens.eval.datasets.is_held_out``) picks the best epoch and is the data on which
temperature scaling is later fitted. FER2013 PublicTest is never read here.

Presets: ``cpu`` is a small residual network (2.8 M parameters, 11 MB) that trains in about 75
minutes on one CPU thread; ``gpu`` trains the same network much longer; ``teacher`` is a
ResNet-18-sized network (11 M parameters, too slow and too big to ship) whose only use is to
teach: ``--teachers RUN ...`` trains the small network to match the averaged, softened outputs
of several teachers (knowledge distillation) as well as the labels.
``training/gpu_expression.sh`` is the whole GPU recipe (teachers, then the distilled student)
in one command that fits a 10-minute slot.

``--data`` takes the FER2013 ``train/`` folder or an ``.npz`` written by ``--save-data`` (the
same images, split already made), which needs no affectlens install: that is how the data
travels to a GPU machine. ``--time-budget`` fits the epochs into a wall-clock budget, measured
on the second epoch (the first also pays for cuDNN's kernel search). Training resumes from
``OUT/checkpoint.pt`` when it exists. The device is chosen automatically (CUDA if present,
with bfloat16 autocast) and logged.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from runlog import run_log
from torch import nn

# affectlens.types.EXPRESSIONS has 7 names; the package is imported only to read a folder, so
# this script runs (from an .npz) where affectlens's runtime dependencies are not installed.
CLASSES = 7


@dataclass(frozen=True)
class Preset:
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    epochs: int
    batch: int
    lr: float
    dropout: float
    full_res_stages: int = 1  # stages kept at 48x48 before the first halving
    # False: convolutions with a bias and no batch norm, the form an exported graph has (ONNX
    # export folds each batch norm into its convolution), so ``--init`` can start from one.
    batch_norm: bool = True


PRESETS = {
    "cpu": Preset(widths=(32, 64, 128, 256), blocks=(2, 2, 2, 2), epochs=30, batch=128,
                  lr=0.1, dropout=0.3, full_res_stages=0),
    # The same network (it fits the 15 MB and 3 ms-per-face budgets; a ResNet-18 width is
    # 45 MB), trained much longer: what a GPU's speed buys within its 15 minutes.
    "gpu": Preset(widths=(32, 64, 128, 256), blocks=(2, 2, 2, 2), epochs=200, batch=256,
                  lr=0.1, dropout=0.3, full_res_stages=0),
    # ResNet-18 widths with the first stage at full resolution: a teacher, never shipped.
    "teacher": Preset(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), epochs=120, batch=128,
                      lr=0.1, dropout=0.3, full_res_stages=1),
}


def _norm(width: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(width) if batch_norm else nn.Identity()


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, batch_norm: bool = True) -> None:
        super().__init__()
        bias = not batch_norm
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.bn1 = _norm(cout, batch_norm)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=bias)
        self.bn2 = _norm(cout, batch_norm)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=bias), _norm(cout, batch_norm)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ExpressionNet(nn.Module):
    """A ResNet for 48x48 grey faces: a full-resolution stem, then stages that halve the size."""

    def __init__(self, preset: Preset, classes: int = CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, preset.widths[0], 3, 1, 1, bias=not preset.batch_norm),
            _norm(preset.widths[0], preset.batch_norm),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        cin = preset.widths[0]
        for stage, (width, count) in enumerate(zip(preset.widths, preset.blocks)):
            for i in range(count):
                halve = i == 0 and stage >= preset.full_res_stages
                layers.append(BasicBlock(cin, width, 2 if halve else 1, preset.batch_norm))
                cin = width
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(preset.dropout), nn.Linear(cin, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def load_onnx_weights(net: ExpressionNet, path: Path) -> None:
    """Start from an exported model (``FlipAveraged(ExpressionNet)``, batch norms folded): its
    convolutions' weights and biases in graph order, which is the order of ``net``'s (built
    with ``batch_norm=False``), and its head by name."""
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    convs = [w for name, w in weights.items() if name.startswith("onnx::Conv_")]
    ours = [p for name, p in net.named_parameters() if not name.startswith("head.")]
    if [tuple(w.shape) for w in convs] != [tuple(p.shape) for p in ours]:
        raise SystemExit(f"{path}: its convolutions do not match this preset's network")
    with torch.no_grad():
        for parameter, value in zip(ours, convs):
            parameter.copy_(torch.from_numpy(value.copy()))
        for name in ("weight", "bias"):
            getattr(net.head[1], name).copy_(torch.from_numpy(weights[f"net.head.1.{name}"].copy()))


class Averaged(nn.Module):
    """Several networks' logits averaged: the teachers' ensemble."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(x) for net in self.nets]).mean(0)


class FlipAveraged(nn.Module):
    """The exported graph: logits averaged over the face and its mirror image."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.net(x) + self.net(torch.flip(x, dims=[3])))


Split = dict[str, np.ndarray]


def load_split(data: Path, like: Path | None = None,
               single_weight: float = 0.0) -> tuple[Split, Split]:
    """(train, validation) from a FER2013 or FERPlus folder or from an ``.npz`` of either made by
    ``--save-data``. ``y`` is a class index (FER2013) or vote shares (FERPlus, (N, 7) floats);
    ``majority`` is the label accuracy is counted against (FERPlus: -1 where votes tie).
    ``single_weight`` > 0 (FERPlus folder and ``like``): the targets mix the vote shares with
    FER2013's own label of the same image (``single``), that share of the way to it."""
    if single_weight and (data.suffix == ".npz" or like is None):
        raise SystemExit("--single-label-weight needs a FERPlus folder and --validation-like")
    if data.suffix == ".npz":
        with np.load(data) as saved:
            return tuple(  # type: ignore[return-value]
                {"x": _decode(saved[f"{part}_jpeg"], saved[f"{part}_ends"]),
                 "y": saved[f"{part}_y"],
                 # .npz files written before FERPlus have no majority: it is the label
                 "majority": saved[f"{part}_majority" if f"{part}_majority" in saved
                                   else f"{part}_y"]}
                for part in ("train", "val")
            )
    dataset, val = _read(data, like)
    images = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in dataset.paths])
    y, majority = _targets(dataset)
    extra = {}
    if single_weight:
        single = _single_labels(dataset.paths, like)
        y = (1 - single_weight) * y + single_weight * np.eye(CLASSES, dtype=np.float32)[single]
        extra["single"] = single
    return tuple(  # type: ignore[return-value]
        {"x": images[keep], "y": y[keep], "majority": majority[keep],
         **{k: v[keep] for k, v in extra.items()}}
        for keep in (~val, val)
    )


def _single_labels(paths, like: Path) -> np.ndarray:
    """FER2013's own label (from the ``like`` folder) of each FERPlus image."""
    from affectlens.eval.datasets import fer2013_twins, read_expressions

    fer = read_expressions(like)
    label = {str(p): int(y) for p, y in zip(fer.paths, fer.labels)}
    return np.array([label[str(t)] for t in fer2013_twins(paths, like)], np.int64)


def _read(data: Path, like: Path | None = None):
    """The folder's images and labels (either layout), and which are in the validation tenth:
    by a hash of each file's name, or, with ``like`` (the FER2013 train/ folder), of the name
    of the same image in FER2013 (see ``affectlens.eval.datasets.fer2013_twins``)."""
    from affectlens.eval.datasets import fer2013_twins, is_held_out, read_expressions
    from affectlens.types import EXPRESSIONS

    assert len(EXPRESSIONS) == CLASSES, "CLASSES must match affectlens.types.EXPRESSIONS"
    dataset = read_expressions(data)
    names = dataset.paths if like is None else fer2013_twins(dataset.paths, like)
    return dataset, np.array([is_held_out(p) for p in names])


def _targets(dataset) -> tuple[np.ndarray, np.ndarray]:
    """(training targets, majority labels): FERPlus's vote shares, or FER2013's one label."""
    majority = np.array(dataset.labels, np.int64)
    if dataset.votes is None:
        return majority, majority
    votes = dataset.votes.astype(np.float32)
    return votes / votes.sum(1, keepdims=True), majority


def save_split(data: Path, path: Path, like: Path | None = None) -> None:
    """The folder's image files, byte for byte, with labels and the split: half the size of the
    decoded pixels, and decoding them gives exactly what reading the folder gives."""
    dataset, val = _read(data, like)
    y, majority = _targets(dataset)
    arrays = {}
    for part, keep in (("train", ~val), ("val", val)):
        files = [p.read_bytes() for p, k in zip(dataset.paths, keep) if k]
        arrays[f"{part}_jpeg"] = np.frombuffer(b"".join(files), np.uint8)
        arrays[f"{part}_ends"] = np.cumsum([len(f) for f in files])
        arrays[f"{part}_y"] = y[keep]
        arrays[f"{part}_majority"] = majority[keep]
    np.savez_compressed(path, **arrays)


def _decode(jpeg: np.ndarray, ends: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], ends[:-1]])
    return np.stack([cv2.imdecode(jpeg[a:b], cv2.IMREAD_GRAYSCALE) for a, b in zip(starts, ends)])


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 48, 48) -> float (N, 1, 48, 48) in [-1, 1], the ONNX model's input."""
    x = torch.as_tensor(images).float().unsqueeze(1)
    return x / 127.5 - 1.0


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random mirror, rotation, scale, shift, brightness/contrast and erasing, on a batch.

    Random numbers come from ``generator``, which lives where ``x`` does: a GPU then never
    waits for the host (a copy from host memory would stop the stream at every batch).
    """
    n, device = x.shape[0], x.device

    def rand() -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device)

    def uniform(low: float, high: float) -> torch.Tensor:
        return rand() * (high - low) + low

    angle = uniform(-15, 15) * math.pi / 180
    scale = uniform(0.85, 1.15)
    flip = torch.where(rand() < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-0.1, 0.1)], 1),
            torch.stack([sin * flip, cos, uniform(-0.1, 0.1)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = uniform(0.7, 1.3).view(n, 1, 1, 1)
    brightness = uniform(-0.2, 0.2).view(n, 1, 1, 1)
    x = (x * contrast + brightness).clamp(-1, 1)
    # Random erasing: one rectangle of 2-25% of the face, in half the images.
    side = (uniform(0.02, 0.25).sqrt() * 48).long()
    top = (rand() * (48 - side)).long()
    left = (rand() * (48 - side)).long()
    rows = torch.arange(48, device=device).view(1, 48, 1)
    cols = torch.arange(48, device=device).view(1, 1, 48)
    box = (
        (rows >= top.view(n, 1, 1)) & (rows < (top + side).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1)) & (cols < (left + side).view(n, 1, 1))
    )
    erase = box & (rand() < 0.5).view(n, 1, 1)
    return x.masked_fill(erase.unsqueeze(1), 0.0)


def autocast(device: torch.device):
    """bfloat16 on a GPU (about twice as fast, no loss scaling needed); plain float32 on a CPU."""
    return torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def evaluate(net: nn.Module, split: Split, device: torch.device) -> tuple[float, np.ndarray]:
    """Validation accuracy with flip averaging, and the logits (for temperature fitting)."""
    net.eval()
    model = FlipAveraged(net)
    logits = []
    for start in range(0, len(split["x"]), 512):
        with autocast(device):
            batch = model(to_input(split["x"][start : start + 512]).to(device))
        logits.append(batch.float().cpu())
    all_logits = torch.cat(logits)
    truth = split["majority"]
    labelled = truth >= 0  # FERPlus images whose top vote is tied have no majority label
    predicted = all_logits.argmax(1).numpy()
    accuracy = (predicted[labelled] == truth[labelled]).mean()
    if "single" in split:  # mixed targets: as good on FER2013's labels as on the votes
        accuracy = 0.5 * (accuracy + (predicted == split["single"]).mean())
    return float(accuracy), all_logits.numpy()


def load_teachers(runs: list[Path], device: torch.device) -> list[nn.Module]:
    """Each teacher run's best weights, with the preset recorded in its ``training.json``."""
    teachers = []
    for run in runs:
        meta = json.loads((run / "training.json").read_text())
        net = ExpressionNet(Preset(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in meta.items() if k in Preset.__annotations__}))
        net.load_state_dict(torch.load(run / "best.pt", map_location=device))
        teachers.append(net.to(device).eval().to(memory_format=torch.channels_last))
    return teachers


def distillation_loss(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor,
                      alpha: float, temperature: float) -> torch.Tensor:
    """Hinton et al.'s loss: KL to the teachers' softened average, plus the labels' CE (``y``:
    class indices, or vote shares, which ``F.cross_entropy`` takes as target probabilities)."""
    soft = F.kl_div(F.log_softmax(logits / temperature, 1),
                    F.softmax(teacher_logits / temperature, 1), reduction="batchmean")
    return alpha * temperature**2 * soft + (1 - alpha) * F.cross_entropy(logits, y)


def train(args: argparse.Namespace) -> None:
    preset = PRESETS[args.preset]
    if args.epochs:
        preset = Preset(**{**asdict(preset), "epochs": args.epochs})
    if args.lr:
        preset = Preset(**{**asdict(preset), "lr": args.lr})
    if args.init:
        preset = Preset(**{**asdict(preset), "batch_norm": False})
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels
    say = run_log(args.out)

    train_split, val_split = load_split(args.data, args.validation_like,
                                        args.single_label_weight)
    if args.limit:  # a quick check of the whole path, not a model
        rng = np.random.default_rng(args.seed)
        train_split, val_split = (
            {k: v[keep] for k, v in split.items()}
            for split in (train_split, val_split)
            for keep in [rng.permutation(len(split["y"]))[: args.limit]]
        )
    teachers = load_teachers(args.teachers, device)
    say(
        f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, "
        f"{torch.get_num_threads()} threads); preset {args.preset} {preset}; "
        f"train {len(train_split['y'])}, validation {len(val_split['y'])}; "
        f"{len(teachers)} teacher(s)"
        + (f", alpha {args.kd_alpha}, temperature {args.kd_temperature}" if teachers else "")
    )
    for run, teacher in zip(args.teachers, teachers):
        say(f"teacher {run}: validation accuracy {evaluate(teacher, val_split, device)[0]:.4f}")
    if teachers:
        say(f"teachers averaged: validation accuracy "
            f"{evaluate(Averaged(teachers), val_split, device)[0]:.4f}")
    torch.manual_seed(args.seed)
    net = ExpressionNet(preset)
    if args.init:
        load_onnx_weights(net, args.init)
    for part in [net.stem, *net.stages[: args.freeze_blocks]]:
        part.requires_grad_(False)  # no gradient, so no backward pass through them: faster
    net = net.to(device).to(memory_format=torch.channels_last)
    if args.init:
        say(f"started from {args.init}: validation accuracy "
            f"{evaluate(net, val_split, device)[0]:.4f}")
    optimiser = torch.optim.SGD(
        [p for p in net.parameters() if p.requires_grad], lr=preset.lr, momentum=0.9,
        nesterov=True, weight_decay=5e-4,
    )
    steps_per_epoch = math.ceil(len(train_split["y"]) / preset.batch)
    plan = {"epochs": preset.epochs}  # may shrink to fit --time-budget after the second epoch

    warm_up = 0 if args.init else steps_per_epoch  # a trained start needs no warm-up

    def lr_at(step: int) -> float:
        if step < warm_up:  # one epoch of warm-up
            return (step + 1) / steps_per_epoch
        total = plan["epochs"] * steps_per_epoch
        progress = min((step - warm_up) / max(total - warm_up, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_at)
    start_epoch, best = 0, -1.0
    checkpoint = args.out / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device)
        net.load_state_dict(state["net"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        plan["epochs"] = state.get("planned_epochs", preset.epochs)
        say(f"resumed after epoch {state['epoch'] + 1} (best validation {best:.4f})")

    images = torch.as_tensor(train_split["x"]).to(device)
    labels = torch.as_tensor(train_split["y"]).to(device)
    generator = torch.Generator(device).manual_seed(args.seed)
    began_training = time.time()
    epoch = start_epoch
    while epoch < plan["epochs"]:
        generator.manual_seed(args.seed * 1000 + epoch)
        net.train()
        began, seen, correct, loss_sum = time.time(), 0, 0, 0.0
        order = torch.randperm(len(labels), generator=generator, device=device)
        for start in range(0, len(order), preset.batch):
            index = order[start : start + preset.batch]
            x = augment(to_input(images[index]), generator)
            x = x.contiguous(memory_format=torch.channels_last)
            y = labels[index]
            with autocast(device):
                logits = net(x)
                if teachers:
                    with torch.no_grad():
                        taught = torch.stack([t(x) for t in teachers]).mean(0)
                    loss = distillation_loss(logits.float(), y, taught.float(), args.kd_alpha,
                                             args.kd_temperature)
                else:
                    loss = F.cross_entropy(logits.float(), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            seen += len(y)
            correct += (logits.argmax(1) == (y.argmax(1) if y.dim() == 2 else y)).sum()
            loss_sum += loss.detach() * len(y)
        accuracy, _ = evaluate(net, val_split, device)
        if accuracy > best:
            best = accuracy
            torch.save(net.state_dict(), args.out / "best.pt")
        if epoch == start_epoch + 1 and args.time_budget:
            # Planned on the second epoch: the first also pays for cuDNN's kernel search.
            took = time.time() - began
            fits = epoch + 1 + int((args.time_budget - (time.time() - began_training)) / took)
            if fits < plan["epochs"]:
                plan["epochs"] = max(fits, epoch + 1)
                say(f"{took:.1f} s an epoch: {plan['epochs']} epochs fit the "
                    f"{args.time_budget:.0f} s budget")
        torch.save(
            {"net": net.state_dict(), "optimiser": optimiser.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": epoch, "best": best,
             "planned_epochs": plan["epochs"]},
            checkpoint,
        )
        say(
            f"epoch {epoch + 1}/{plan['epochs']} loss {float(loss_sum) / seen:.4f} "
            f"train {int(correct) / seen:.4f} val {accuracy:.4f} best {best:.4f} "
            f"lr {scheduler.get_last_lr()[0]:.4f} {time.time() - began:.1f}s"
        )
        epoch += 1
    preset = Preset(**{**asdict(preset), "epochs": plan["epochs"]})
    export(net, preset, args, val_split, device, say)


def export(net, preset, args, val_split, device, say) -> None:
    net.load_state_dict(torch.load(args.out / "best.pt", map_location=device))
    accuracy, logits = evaluate(net, val_split, device)
    model = FlipAveraged(net).eval().cpu().to(memory_format=torch.contiguous_format)
    path = args.out / "affectlens_expression.onnx"
    torch.onnx.export(
        model, (torch.zeros(1, 1, 48, 48),), str(path), input_names=["face"],
        output_names=["logits"], dynamic_axes={"face": {0: "n"}, "logits": {0: "n"}},
        opset_version=17, dynamo=False,
    )
    meta = {"preset": args.preset, **asdict(preset), "validation_accuracy": accuracy,
            "device": str(device), "seed": args.seed,
            "teachers": [str(t) for t in getattr(args, "teachers", [])]}
    (args.out / "training.json").write_text(json.dumps(meta, indent=2))
    say(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB), validation accuracy {accuracy:.4f}")
    if args.calibrate:
        calibrate(logits, val_split["majority"], args.out, say)


def calibrate(logits: np.ndarray, majority: np.ndarray, out: Path, say) -> None:
    """Temperature and abstention threshold on this run's validation split, by the code
    ``affectlens eval calibrate`` uses, written as OUT/affectlens_expression.calibration.json.

    Here rather than by ``affectlens eval calibrate``, which picks the validation tenth by the
    hash of the file names it is given: with ``--validation-like`` this run's tenth is chosen
    by the FER2013 twins' names, which that command does not know."""
    from affectlens.eval.calibration import (
        abstention_threshold,
        fit_temperature,
        negative_log_likelihood,
        require_enough_validation,
    )
    from affectlens.eval.metrics import expected_calibration_error
    from affectlens.models.calibration import DEFAULT_TARGET_ACCURACY, Calibration

    labelled = majority >= 0
    logits, truth = logits[labelled], majority[labelled]
    require_enough_validation(truth, str(out))
    temperature = fit_temperature(logits, truth)
    probs = Calibration(temperature).probabilities(logits)
    threshold = abstention_threshold(probs, truth, DEFAULT_TARGET_ACCURACY)
    calibration = Calibration(temperature, threshold, DEFAULT_TARGET_ACCURACY, fitted_on=(
        f"{len(truth)} validation images (majority labels) of FERPlus train "
        "(training/train_expression.py --calibrate)"))
    calibration.save(out / "affectlens_expression.calibration.json")
    say(f"temperature {temperature:.3f}: validation NLL "
        f"{negative_log_likelihood(logits, truth, 1.0):.4f} -> "
        f"{negative_log_likelihood(logits, truth, temperature):.4f}, ECE "
        f"{expected_calibration_error(Calibration().probabilities(logits), truth):.4f} -> "
        f"{expected_calibration_error(probs, truth):.4f}; abstain below {threshold:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="FER2013 or FERPlus train/ folder, or an .npz from --save-data")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, ONNX)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--epochs", type=int, default=0, help="override the preset's epochs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0,
                        help="use only this many images per split (a smoke test)")
    parser.add_argument("--export-only", action="store_true", help="export OUT/best.pt and stop")
    parser.add_argument("--save-data", type=Path,
                        help="write the split images to this .npz (for --data) and stop")
    parser.add_argument("--teachers", type=Path, nargs="*", default=[],
                        help="teacher run folders (best.pt, training.json) to distil from")
    parser.add_argument("--kd-alpha", type=float, default=0.9,
                        help="weight of the teachers' soft targets against the labels")
    parser.add_argument("--kd-temperature", type=float, default=4.0)
    parser.add_argument("--lr", type=float, default=0.0, help="override the preset's rate")
    parser.add_argument("--init", type=Path,
                        help="start from this exported ONNX model (fine-tuning; no batch norm)")
    parser.add_argument("--freeze-blocks", type=int, default=0,
                        help="with --init: keep the stem and this many first blocks as they are")
    parser.add_argument("--single-label-weight", type=float, default=0.0,
                        help="FERPlus data: mix each image's vote shares with FER2013's own "
                        "label, this share of the way (0: votes only); the best epoch is then "
                        "the one with the best mean of the two validation accuracies")
    parser.add_argument("--validation-like", type=Path,
                        help="FER2013 train/ folder: validate on the FERPlus images whose FER2013 "
                             "twin is in FER2013's validation tenth (needed with --init from a "
                             "model trained on FER2013)")
    parser.add_argument("--calibrate", action="store_true",
                        help="fit temperature and threshold on the validation split (needs "
                             "affectlens installed)")
    parser.add_argument("--time-budget", type=float, default=0.0,
                        help="seconds: fewer epochs than the preset's if they would not fit")
    args = parser.parse_args()
    if args.save_data:
        save_split(args.data, args.save_data, args.validation_like)
        print(f"wrote {args.save_data} ({args.save_data.stat().st_size / 1e6:.1f} MB)")
        return
    if args.export_only:
        preset = PRESETS[args.preset]
        if args.init:
            preset = Preset(**{**asdict(preset), "batch_norm": False})
        device = torch.device("cpu")
        _, val_split = load_split(args.data, args.validation_like, args.single_label_weight)
        export(ExpressionNet(preset), preset, args, val_split, device, print)
        return
    train(args)


if __name__ == "__main__":
    main()
