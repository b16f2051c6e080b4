"""CPU per frame of affectlens's face path against the simplest peer, on the same pictures.

    python benchmarks/peer_speed.py [--peer-python PATH] [--video V] [--images A.jpg,B.jpg]
        [--threads N] [--repeats 20]

The peer is the `fer` package (OpenCV's Haar cascade, then its mini-Xception expression
model: expression only), run by benchmarks/peer_fer.py under ``--peer-python`` (default: this
Python) because `fer` needs TensorFlow and OpenCV 4, which affectlens does not use. Where that
Python lacks `fer`, the peer is skipped with a line saying so and affectlens's figures are
still printed. One way to make such a Python (about 1.5 GB, once)::

    python -m venv /tmp/peer && /tmp/peer/bin/pip install tensorflow-cpu==2.21.0 \\
        "opencv-contrib-python-headless<5" pandas requests pillow tqdm "setuptools<81" \\
        && /tmp/peer/bin/pip install --no-deps fer==25.10.3

affectlens runs its whole face path (detection, alignment, expression, age, tracking,
smoothing; no pose) at its defaults, which reuse what earlier frames found (the gated search:
``full_scan_every_s``, ``motion_search_every_s``), and again searching every frame in full
(``full_scan_every_s`` None); still images are searched in full (no earlier frame). Every
picture is decoded before the clock starts, on both sides; each still image is analysed
``--repeats`` times on both sides and timed per analysis (the CPU clock of a process ticks in
hundredths of a second, too coarse for one picture). The figure of record is CPU
milliseconds per picture (every thread of the process: both sides may use every core), with
wall milliseconds beside it, and the ratio affectlens / peer. Faces found are printed beside:
pictures with a face in the video, and faces per still image. Defaults:
../shared/data/media/WolfgangLanger_Pexels.mp4 (640x360, 472 frames, one face; the issue 16
target: a ratio of at most 1.0 at every frame) and multi_face.jpg (five faces) and
single_face.jpg. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import affectlens
from affectlens.config import AnalysisConfig
from affectlens.eval.machine import Stopwatch, machine_report
from affectlens.pipeline import Models, Pipeline
from affectlens.sources import open_media
from affectlens.types import Frame

MEDIA = Path(__file__).resolve().parents[2] / "shared/data/media"
PEER = Path(__file__).with_name("peer_fer.py")


@dataclass(frozen=True)
class Timing:
    """One tool on one input: seconds in all and the faces found in each picture."""

    cpu_s: float
    wall_s: float
    faces: list[int]

    def per_picture(self) -> str:
        n = max(1, len(self.faces))
        return f"{1000 * self.cpu_s / n:7.1f} ({1000 * self.wall_s / n:6.1f})"

    def found(self) -> str:
        if len(self.faces) == 1:
            return f"{self.faces[0]} faces"
        with_face = sum(1 for f in self.faces if f)
        first = next((i for i, f in enumerate(self.faces) if f), None)
        return f"{with_face}/{len(self.faces)} frames with a face, first at frame {first}"


def ours(frames: list[Frame], fps: float | None, config: AnalysisConfig,
         models: Models, repeats: int = 1) -> Timing:
    """affectlens's face path over ``frames`` in its batches; fps None: still images, each
    analysed ``repeats`` times (the seconds are one pass's)."""
    pipeline = Pipeline(config, models)
    pipeline.analyse(frames[:1], pipeline.start_source(fps))  # warm up, as the peer's
    state = pipeline.start_source(fps)
    batch = config.batch_frames if fps else 1
    watch = Stopwatch()
    for _ in range(repeats):
        faces: list[int] = []
        for start in range(0, len(frames), batch):
            if fps is None:
                state = pipeline.start_source(None)
            faces += [len(a) for a in pipeline.analyse(frames[start : start + batch], state)]
    used = watch.elapsed()
    return Timing(used.cpu_s / repeats, used.wall_s / repeats, faces)


def peer(python: str, video: Path, images: list[Path], repeats: int) -> dict | None:
    """benchmarks/peer_fer.py's JSON, or None (with the reason printed) where it cannot run."""
    probe = subprocess.run([python, "-c", "import fer.fer, cv2; cv2.CascadeClassifier"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"peer skipped: {python} has no usable `fer` (needs fer, TensorFlow and OpenCV 4 "
              "with CascadeClassifier; see this file's docstring for one way to install them)")
        return None
    run = subprocess.run([python, str(PEER), str(video), *map(str, images),
                          f"--repeats={repeats}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"peer failed: {run.stderr.strip().splitlines()[-1] if run.stderr else run}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default=sys.executable,
                        help="a Python with `fer` installed (default: this one)")
    parser.add_argument("--video", type=Path, default=MEDIA / "WolfgangLanger_Pexels.mp4")
    parser.add_argument("--images", default=",".join(
        str(MEDIA / name) for name in ("multi_face.jpg", "single_face.jpg")))
    parser.add_argument("--threads", type=int,
                        default=AnalysisConfig.model_fields["threads"].default,
                        help="affectlens's CPU threads per model (default: the setting's; 0: "
                        "every core)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="analyses of each still image, on both sides (default 20)")
    parser.add_argument("--precision", choices=["int8", "float"],
                        default=AnalysisConfig.model_fields["precision"].default,
                        help="the expression and age models' form (default: the setting's, int8 "
                        "on the CPU; float: the reference)")
    args = parser.parse_args()
    images = [Path(p) for p in args.images.split(",") if p]
    missing = [p for p in (args.video, *images) if not p.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(map(str, missing))} (the defaults are in "
                 "../shared/data/media)")
    with machine_report():
        print(f"affectlens {affectlens.__version__}, model threads {args.threads or 'all cores'}, "
              f"{args.precision}")
        source = open_media(args.video, None)
        frames = list(source.frames())
        fps = source.info.native_fps or 25.0
        default = AnalysisConfig(pose=False, threads=args.threads, precision=args.precision)
        full = default.model_copy(update={"full_scan_every_s": None})
        models = Models.load(default)
        rows: list[tuple[str, str, Timing]] = []
        rows.append((args.video.name, "affectlens (defaults)", ours(frames, fps, default,
                                                                    models)))
        rows.append((args.video.name, "affectlens (every frame in full)",
                     ours(frames, fps, full, models)))
        for path in images:
            image = cv2.imread(str(path))
            if image is None:
                sys.exit(f"{path}: not an image OpenCV can read")
            still = [Frame(np.ascontiguousarray(image), 0, 0.0, path.name)]
            rows.append((path.name, "affectlens",
                         ours(still, None, default, models, args.repeats)))
        theirs = peer(args.peer_python, args.video, images, args.repeats)
        if theirs is not None:
            print("peer: " + ", ".join(f"{k} {v}" for k, v in theirs["versions"].items()))
            video = theirs["video"]
            rows.append((args.video.name, "fer + Haar cascade",
                         Timing(video["cpu_s"], video["wall_s"], video["faces"])))
            for path in images:
                still = theirs["stills"][path.name]
                rows.append((path.name, "fer + Haar cascade",
                             Timing(still["cpu_s"], still["wall_s"], still["faces"])))
        print(f"{'input':<28}{'tool':<34}{'CPU ms (wall) a picture':>24}  "
              "ratio to the peer (CPU)  found")
        peer_cpu = {name: t.cpu_s / len(t.faces) for name, tool, t in rows
                    if tool.startswith("fer")}
        for name, tool, timing in rows:
            ratio = (f"{timing.cpu_s / len(timing.faces) / peer_cpu[name]:.2f}"
                     if name in peer_cpu and not tool.startswith("fer") else "")
            print(f"{name:<28}{tool:<34}{timing.per_picture():>24}  {ratio:>23}  "
                  f"{timing.found()}")


if __name__ == "__main__":
    main()
