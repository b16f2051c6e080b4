"""The peer side of benchmarks/peer_speed.py: the `fer` package (OpenCV's Haar cascade and its
mini-Xception expression model) on a video's every frame and on still images.

    PEER_PYTHON benchmarks/peer_fer.py VIDEO [IMAGE ...] [--repeats N]

Runs under any Python that has `fer` and OpenCV 4 (`fer` needs `cv2.CascadeClassifier`, which
OpenCV 5 dropped, and TensorFlow): it imports nothing of affectlens, so `fer` can live in an
environment of its own. Decodes first, then times `FER.detect_emotions` alone on each picture
(decoding is not the peer's analysis, nor is it affectlens's in peer_speed.py), and prints one
JSON object: the package versions, and per input the CPU seconds of this process (every
thread), the wall seconds, the pictures and the faces found in each. Each still image is
analysed ``--repeats`` times (default 1) and its seconds are those of one analysis: the
process's CPU clock ticks in hundredths of a second, coarse for one picture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def timed(detector, images: list, repeats: int = 1) -> dict:
    """Seconds and faces of analysing ``images`` (each analysis's, over ``repeats`` passes)."""
    detector.detect_emotions(images[0])  # warm up: the model loads on first use
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(repeats):
        faces = [len(detector.detect_emotions(image)) for image in images]
    return {"cpu_s": (cpu_seconds() - cpu) / repeats,
            "wall_s": (time.perf_counter() - wall) / repeats,
            "pictures": len(images), "faces": faces}


def main() -> None:
    import cv2
    from fer.fer import FER

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video")
    parser.add_argument("stills", nargs="*")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    video, stills = args.video, args.stills
    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    if not frames:
        sys.exit(f"peer_fer: no frame decoded from {video}")
    detector = FER(mtcnn=False)
    result = {"versions": {name: version(name) for name in (
        "fer", "opencv-contrib-python-headless", "tensorflow-cpu") if _installed(name)},
        "video": timed(detector, frames)}
    result["stills"] = {os.path.basename(path): timed(detector, [cv2.imread(path)], args.repeats)
                        for path in stills}
    print(json.dumps(result))


def _installed(name: str) -> bool:
    try:
        version(name)
    except Exception:
        return False
    return True


if __name__ == "__main__":
    main()
