"""Take MediaPipe's pose landmark model (BlazePose GHUM, full) out of the pinned mediapipe wheel,
convert it to ONNX and check it against LiteRT on real frames.

Why: the fall datasets (URFD and Le2i via MD4FD, UP-Fall) are MediaPipe pose landmarks; running
the same landmark model at run time, per person box, closes the gap between the joints the fall
classifier was trained on and the ones it reads live (docs/falls.md, "Pose model at run time").
mediapipe 0.10.21 needs numpy<2 and may never be a runtime dependency, so the weights are
vendored like the face detector's (tools/vendor_models.py) and MoveNet's (tools/vendor_pose.py).

Only ``pose_landmark_full.tflite`` is in the wheel: MediaPipe downloads the lite and heavy
variants at run time, which affectlens may not do, so full is the one vendored.

The ONNX graph keeps three of the five outputs: the 39 landmarks (x, y, z, visibility and
presence logits), the pose-presence flag and the 64x64 heatmaps MediaPipe refines the
landmarks with; the segmentation mask and world landmarks are cut off (their branches cost
time and nothing here reads them). Weights stay float16 with a Cast, as for MoveNet.

    python -m venv /tmp/mpconv
    /tmp/mpconv/bin/pip install tf2onnx==1.17.0 tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0 \
        onnx onnxruntime opencv-python-headless numpy
    /tmp/mpconv/bin/python tools/vendor_pose_landmarks.py \
        [--video ../shared/data/falls/fall-01-cam0.mp4]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
from vendor_pose import (  # tools/ is this script's own folder
    MEDIAPIPE_WHEEL,
    every_nth,
    letterboxed,
    litert_and_onnx,
    mediapipe_member,
    save_float16,
    tf2onnx,
    vendor,
)

MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
OUT_NAME = "mediapipe_pose_landmark_full.onnx"
LICENCE = "Apache-2.0 (Google LLC, MediaPipe)"
# TFLite output names: landmarks (1, 195), pose flag (1, 1), heatmaps (1, 64, 64, 39).
KEEP = ("Identity", "Identity_1", "Identity_3")
SIDE = 256


def extract(workdir: Path) -> Path:
    return mediapipe_member(workdir, MEMBER, OUT_NAME)


def convert(tflite_path: Path, workdir: Path) -> Path:
    model = tf2onnx(tflite_path, workdir / "landmark_raw.onnx")
    keep = [o.name for o in model.graph.output if o.name in KEEP]
    if len(keep) != len(KEEP):
        sys.exit(f"expected outputs {KEEP}, the converted graph has "
                 f"{[o.name for o in model.graph.output]}")
    pruned = workdir / "landmark_pruned.onnx"
    onnx.save(model, pruned)
    onnx.utils.extract_model(str(pruned), str(pruned),
                             [i.name for i in model.graph.input], keep, check_model=False)
    return save_float16(onnx.load(pruned), OUT_NAME)


def frames(video: Path, step: int) -> list[np.ndarray]:
    """Float [0, 1] RGB 256x256 inputs from real frames: the whole frame letterboxed, and the
    square of its right side where fall-01's person stands and lies (as a person crop), each
    turned by a quarter, a half or three quarters in turn, as the runtime's crops turn a
    lying person."""
    out = []
    turns = [None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE]
    for index, frame in every_nth(video, step):
        if frame.shape[1] == 2 * 320 and frame.shape[0] == 240:
            frame = frame[:, 320:]
        turn = turns[(index // step) % len(turns)]
        side = min(frame.shape[:2])
        for image in (frame, frame[:side, frame.shape[1] - side:]):
            if turn is not None:
                image = cv2.rotate(image, turn)
            out.append(letterboxed(image, SIDE))
    return out


def verify(tflite_path: Path, onnx_path: Path, images: list[np.ndarray]) -> str:
    """Largest |ONNX - LiteRT| per kept output over the frames; landmarks in input pixels."""
    interp, detail, session, name = litert_and_onnx(tflite_path, onnx_path)
    by_name = {d["name"]: d["index"] for d in interp.get_output_details()}
    names = [o.name for o in session.get_outputs()]
    worst = dict.fromkeys(KEEP, 0.0)
    found = 0
    for image in images:
        interp.set_tensor(detail["index"], image[None])
        interp.invoke()
        got = dict(zip(names, session.run(None, {name: image[None]})))
        for key in KEEP:
            ref = interp.get_tensor(by_name[key])
            worst[key] = max(worst[key], float(np.abs(ref - got[key]).max()))
        found += int(interp.get_tensor(by_name["Identity_1"]).item() >= 0.5)
    return (f"max |onnx - litert| on {len(images)} frames ({found} with pose flag >= 0.5): "
            f"landmarks {worst['Identity']:.2e} (x, y in 256-px input pixels; "
            f"visibility/presence logits), pose flag {worst['Identity_1']:.2e}, "
            f"heatmaps {worst['Identity_3']:.2e}")


def main() -> None:
    vendor(OUT_NAME, frames, extract, convert, verify, lambda report, sha: [
        f"{OUT_NAME}: {MEDIAPIPE_WHEEL} {MEMBER}",
        "  converted by tools/vendor_pose_landmarks.py (tf2onnx 1.17.0, opset 17; float16 "
        "weights kept; segmentation and world-landmark outputs cut off)",
        f"  licence: {LICENCE}",
        f"  check: {report}",
        f"  sha256: {sha}",
    ])


if __name__ == "__main__":
    main()
