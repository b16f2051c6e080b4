"""Make the int8 forms of affectlens's own face models, and check them against the float ones.

    python tools/quantize_models.py [--data /tmp/data] [--images 1000]
                                    [--method minmax|percentile] [--only expression|age]

Why: on the CPU the expression and age networks (11 MB of float32 convolutions each, the
mirror image averaged inside the graph) cost about as much per face as three detector tiles.
ONNX Runtime runs the same graphs with 8-bit integer convolutions (static quantisation: the
weights per output channel, the activations over ranges measured on real faces), which is
where x86 CPUs have their widest vector instructions. The pipeline loads
``<model>.int8.onnx`` on the CPU where it exists (``AnalysisConfig.precision``), the float
graph on a GPU and with ``precision: float``.

How (``onnxruntime.quantization``; nothing of this is a runtime dependency beyond ONNX
Runtime itself):

- activation ranges from ``--images`` faces of each model's **training** split, read and
  cropped exactly as ``affectlens eval`` crops them: FER2013 ``train/`` without its
  validation tenth (``is_held_out(path, 10)``, the split train_expression.py validates on);
  UTKFace without its test fifth (``is_held_out(path, 5)``) and without train_age.py's
  validation eighth;
- QDQ format, weights int8 per channel, activations uint8, ``reduce_range`` (7-bit weights):
  CPUs without VNNI multiply uint8 by int8 pairwise into int16 (VPMADDUBSW), which can
  saturate with full-range weights; 7 bits cannot, on any x86 CPU;
- the head stays float: everything from the global average pool on (the classifier layer, the
  softmax, the mirror average, the expected age). Quantised there, logits would be rounded
  to 256 steps and probabilities would not sum to one (the age model's summed to 0.96-0.98,
  which pulled every age down by 2-4%); it is a few thousand multiplications a face;
- then each int8 graph is compared with its float graph on the **validation** split (never
  a test set): the share of faces given the same expression label, the largest and mean
  change of a calibrated probability, and accuracy and calibration error of each; for age,
  the mean absolute change in years and each one's error. Choices between ``--method``
  values are made on these figures only.

Data (see ../shared/data/README.md), unpacked into --data: fer2013-train.tar.gz -> train/,
utkface-dev.tar.gz -> utkface/.
"""

from __future__ import annotations

import argparse
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from affectlens.eval.datasets import is_held_out, read_expression_folder, read_utkface
from affectlens.eval.faces import FaceMode, load_crops
from affectlens.eval.metrics import expected_calibration_error
from affectlens.models.age import AgeEstimator
from affectlens.models.expression import ExpressionClassifier
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel, int8_path

METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}


class Recording:
    """An opener's runner that keeps every batch the model class feeds its network, so the
    calibration sees exactly the inputs the pipeline makes (normalisation included)."""

    def __init__(self, path: Path, device: Device = "cpu", threads: int = 0) -> None:
        self.inner = OnnxModel(path, device, threads)
        self.path, self.device = path, "cpu"
        self.batches: list[np.ndarray] = []

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.batches.append(np.ascontiguousarray(batch, np.float32))
        return self.inner.run(batch)


def recorder(into: list[Recording]) -> Callable[[Path, Device, int], Recording]:
    """An opener that keeps the Recording it makes in ``into``."""

    def opener(path: Path, device: Device, threads: int) -> Recording:
        into.append(Recording(path, device, threads))
        return into[-1]

    return opener


class Batches(CalibrationDataReader):
    def __init__(self, name: str, inputs: np.ndarray, size: int = 8) -> None:
        self.items = iter([{name: inputs[i : i + size]} for i in range(0, len(inputs), size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def in_age_validation(path: Path) -> bool:
    """train_age.py's validation eighth (its ``in_validation``; that module needs torch)."""
    return zlib.crc32(b"val/" + path.name.encode()) % 8 == 0


def head_nodes(path: Path) -> list[str]:
    """The nodes from the first global average pool on (it included): what stays float."""
    graph = onnx.load(path).graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    head = [n for n in graph.node if n.op_type == "GlobalAveragePool"]
    names: set[str] = set()
    while head:
        node = head.pop()
        if node.name not in names:
            names.add(node.name)
            head += [c for out in node.output for c in consumers.get(out, [])]
    return sorted(names)


def quantize(source: Path, inputs: np.ndarray, method: str) -> None:
    """``source`` -> ``int8_path(source)``, activation ranges from ``inputs``."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        head = head_nodes(prepared)
        assert head, f"{source.name}: no global average pool, so no head to keep float"
        quantize_static(
            str(prepared), str(int8_path(source)), Batches(input_name(source), inputs),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=METHODS[method], nodes_to_exclude=head,
        )


def input_name(path: Path) -> str:
    return OnnxModel(path, "cpu", 1).input_name


def sample(paths: list[Path], keep: Callable[[Path], bool], count: int, seed: int = 13
           ) -> list[Path]:
    chosen = [p for p in paths if keep(p)]
    rng = np.random.default_rng(seed)
    return [chosen[i] for i in sorted(rng.choice(len(chosen), min(count, len(chosen)),
                                                 replace=False))]


def expression(data: Path, count: int, method: str) -> None:
    train = read_expression_folder(data / "train")
    labels = dict(zip(train.paths, train.labels))
    recording: list[Recording] = []
    float_model = ExpressionClassifier("affectlens", opener=recorder(recording))
    crops, _ = load_crops(sample(train.paths, lambda p: not is_held_out(p, 10), count),
                          float_model.template, FaceMode.crops)
    float_model.logits(crops)
    quantize(recording[0].path, np.concatenate(recording[0].batches), method)

    validation = [p for p in train.paths if is_held_out(p, 10)]
    crops, _ = load_crops(validation, float_model.template, FaceMode.crops)
    truth = np.array([labels[p] for p in validation])
    int8_model = ExpressionClassifier("affectlens", precision="int8")
    assert int8_model.model.path.name.endswith(".int8.onnx"), int8_model.model.path
    p_float, p_int8 = float_model.predict(crops), int8_model.predict(crops)
    change = np.abs(p_float - p_int8)
    print(f"expression, FER2013 train's validation tenth ({len(validation)} faces, whole "
          f"image), method {method}, calibrated on {count} training faces:")
    print(f"  same label {np.mean(p_float.argmax(1) == p_int8.argmax(1)):.2%}; probability "
          f"change mean {change.mean():.4f}, max {change.max():.3f}")
    for name, p in (("float", p_float), ("int8", p_int8)):
        print(f"  {name}: accuracy {np.mean(p.argmax(1) == truth):.2%}, "
              f"ECE {expected_calibration_error(p, truth):.4f}")


def age(data: Path, count: int, method: str) -> None:
    faces = read_utkface(data / "utkface")
    ages = dict(zip(faces.paths, faces.ages))
    recording: list[Recording] = []
    float_model = AgeEstimator("affectlens", opener=recorder(recording))
    train = sample(faces.paths,
                   lambda p: not is_held_out(p, 5) and not in_age_validation(p), count)
    crops, _ = load_crops(train, float_model.template, FaceMode.crops)
    float_model.predict(crops)
    quantize(recording[0].path, np.concatenate(recording[0].batches), method)

    validation = [p for p in faces.paths if not is_held_out(p, 5) and in_age_validation(p)]
    crops, _ = load_crops(validation, float_model.template, FaceMode.crops)
    truth = np.array([ages[p] for p in validation], np.float32)
    int8_model = AgeEstimator("affectlens", precision="int8")
    assert int8_model.model.path.name.endswith(".int8.onnx"), int8_model.model.path
    a_float, a_int8 = float_model.predict(crops), int8_model.predict(crops)
    print(f"age, UTKFace training split's validation eighth ({len(validation)} faces), "
          f"method {method}, calibrated on {count} training faces:")
    print(f"  age change mean {np.abs(a_float - a_int8).mean():.2f} years, "
          f"max {np.abs(a_float - a_int8).max():.1f}")
    for name, a in (("float", a_float), ("int8", a_int8)):
        print(f"  {name}: mean absolute error {np.abs(a - truth).mean():.2f} years")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/data"))
    parser.add_argument("--images", type=int, default=1000,
                        help="Training faces whose activations set the int8 ranges.")
    parser.add_argument("--method", choices=sorted(METHODS), default="percentile")
    parser.add_argument("--only", choices=["expression", "age"])
    args = parser.parse_args()
    if args.only in (None, "expression"):
        expression(args.data, args.images, args.method)
    if args.only in (None, "age"):
        age(args.data, args.images, args.method)
    print(f"written to {WEIGHTS_DIR}")


if __name__ == "__main__":
    main()
