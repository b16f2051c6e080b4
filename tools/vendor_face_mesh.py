"""Take MediaPipe's face mesh (face_landmark.tflite: 468 landmarks) out of the pinned mediapipe
wheel, convert it to ONNX and check it against LiteRT on real frames.

Why: the disparity audit (issue 18) needs a smile reference that no expression model of ours
gives: mouth-corner geometry from the face mesh (``affectlens/eval/smile.py``). mediapipe
0.10.21 needs numpy<2 and may never be a runtime dependency, so the weights are vendored like
the face detector's and the pose models' (tools/vendor_pose.py, vendor_pose_landmarks.py).
The model is read by the evaluation only, never by analysis or the service.

The model takes a 192x192 RGB crop in [0, 1] (MediaPipe's: the face box grown 1.5 times,
turned so the eyes are level) and gives 468 landmarks (x, y in crop pixels, z) and a
face-presence logit. Weights stay float16 with a Cast, as for the pose models.

    python -m venv /tmp/mpconv
    /tmp/mpconv/bin/pip install tf2onnx==1.17.0 tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0 \
        onnx onnxruntime opencv-python-headless numpy
    /tmp/mpconv/bin/python tools/vendor_face_mesh.py \
        --video ../shared/data/media/WolfgangLanger_Pexels.mp4 \
        --video ../shared/data/media/single_face.mp4
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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

MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
OUT_NAME = "mediapipe_face_mesh.onnx"
LICENCE = "Apache-2.0 (Google LLC, MediaPipe)"
SIDE = 192


def extract(workdir: Path) -> Path:
    return mediapipe_member(workdir, MEMBER, OUT_NAME)


def convert(tflite_path: Path, workdir: Path) -> Path:
    return save_float16(tf2onnx(tflite_path, workdir / "face_mesh_raw.onnx"), OUT_NAME)


def frames(video: Path, step: int) -> list[np.ndarray]:
    """Float [0, 1] RGB 192x192 inputs from real frames: squares around the frame's middle at
    three sizes (where these clips' faces are), and the whole frame letterboxed."""
    out = []
    for _, frame in every_nth(video, step):
        height, width = frame.shape[:2]
        for share in (0.5, 0.7, 1.0):
            side = int(min(height, width) * share)
            top, left = (height - side) // 2, (width - side) // 2
            out.append(letterboxed(frame[top:top + side, left:left + side], SIDE))
        out.append(letterboxed(frame, SIDE))
    return out


def verify(tflite_path: Path, onnx_path: Path, images: list[np.ndarray]) -> str:
    """Largest |ONNX - LiteRT| per output over the frames; landmarks in input pixels."""
    interp, detail, session, name = litert_and_onnx(tflite_path, onnx_path)
    outputs = interp.get_output_details()
    worst: dict[str, float] = {}
    faces = 0
    for image in images:
        interp.set_tensor(detail["index"], image[None])
        interp.invoke()
        got = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {name: image[None]})))
        for out in outputs:
            ref = interp.get_tensor(out["index"])
            mine = got[out["name"]].reshape(ref.shape)
            worst[out["name"]] = max(worst.get(out["name"], 0.0),
                                     float(np.abs(ref - mine).max()))
            if ref.size == 1:
                faces += int(ref.item() > 0)  # the presence logit
    parts = ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items()))
    return (f"max |onnx - litert| on {len(images)} crops ({faces} with face presence > 0.5): "
            f"{parts} (landmarks in 192-px input pixels; presence a logit)")


def main() -> None:
    vendor(OUT_NAME, frames, extract, convert, verify, lambda report, sha: [
        f"{OUT_NAME}: {MEDIAPIPE_WHEEL} {MEMBER}",
        "  converted by tools/vendor_face_mesh.py (tf2onnx 1.17.0, opset 17; float16 "
        "weights kept); read by affectlens/eval/smile.py only",
        f"  licence: {LICENCE}",
        f"  check: {report}",
        f"  sha256: {sha}",
    ])


if __name__ == "__main__":
    main()
