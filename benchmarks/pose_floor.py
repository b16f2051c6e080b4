"""Is a person on the floor found, and which pose backend places their joints right? Prints.

    .venv/bin/python benchmarks/pose_floor.py [--data ../shared/data] [--threads 1]
                                              [--backends movenet,mediapipe]

On fall-01-cam0.mp4 (URFD, its RGB half; URFD's labels: frames 1-82 standing, 113-160 lying),
and on its frames turned a quarter, a half and three quarters (a camera that sees the body
run another way), for each pose backend (affectlens.models.pose_landmarks.pose_estimator):

1. Per frame, no tracking: the share of standing and of floor frames where a person is found,
   and where the person's torso (hips -> shoulders) points within 60 degrees of the true
   direction (up for standing; for lying, the way the head lies in this clip, to the left,
   as MoveNet's seen torso at frames 104-125 says), turned with the frame. The second figure
   catches a skeleton placed upside down. Landmarks: 1 and 2 passes a person.
2. Through tracking and the fall rule at 10 and 30 fps, with and without the second look (a
   crop of a held person's last box): floor frames where the person is seen (by the whole-
   frame pass or the second look), with the torso the right way, and held on the floor;
   MoveNet also with the second look's first turn from the last seen torso (the landmark
   backend's way; MoveNet's own cycles the turns from upright).
3. End to end on the clip at 10 fps: the fall and long-lie events; the classifier's p(fall)
   on every 3 s window ending on a seen frame, floor and before it, each backend's joints
   (the joint-mapping gap: the classifier was fitted on MediaPipe joints); and where each
   fall joint lands, landmarks against MoveNet, on the standing frames.
4. CPU and wall time per frame of each backend's whole-frame pass, one thread.
5. The joint-mapping gap where it matters, on data the classifier never saw: URFD, Le2i and
   UP-Fall each scored by a classifier fitted on the other two (as benchmarks/falls.py part 0),
   with the datasets' MediaPipe joints (what the landmark backend gives) and with each joint
   moved to where MoveNet puts it (the offsets part 3 measures, turned with the body).

fall-01 is the only real fall video in ../shared/data (its frames carry a drawn skeleton and
box from another detector, burnt into the RGB; the person lies half out of the frame).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from affectlens.eval.fall_augment import Augmentation, augmented
from affectlens.eval.fall_datasets import load_fall_datasets
from affectlens.eval.fall_lodo import fit_on, score, sensitivity, specificity
from affectlens.eval.falls import rgb_half, run_video
from affectlens.eval.machine import machine_report
from affectlens.events.fall_features import (
    FALL_JOINTS,
    from_coco,
    posture,
    reference_scale,
    window_features,
)
from affectlens.events.fall_settings import FallSettings
from affectlens.models.pose import PersonDetections, PoseEstimator
from affectlens.models.pose_landmarks import LandmarkPoseEstimator
from affectlens.people import PeoplePipeline
from affectlens.sources import open_media
from affectlens.types import Frame

STANDING = range(0, 82)  # 0-based frame indices of URFD's labels
FLOOR = range(112, 160)
TURNS: dict[str, int | None] = {"as recorded": None, "quarter cw": cv2.ROTATE_90_CLOCKWISE,
                                "half": cv2.ROTATE_180,
                                "quarter ccw": cv2.ROTATE_90_COUNTERCLOCKWISE}
UP_STANDING, UP_LYING = np.array([0.0, -1.0]), np.array([-1.0, 0.0])
MAX_OFF_DEG = 60.0  # the head lies left and partly toward the camera


def turned(vector: np.ndarray, turn: int | None) -> np.ndarray:
    """A direction in the frame after cv2.rotate(frame, turn) (image y points down)."""
    x, y = vector
    return {None: np.array([x, y]), cv2.ROTATE_90_CLOCKWISE: np.array([-y, x]),
            cv2.ROTATE_180: np.array([-x, -y]),
            cv2.ROTATE_90_COUNTERCLOCKWISE: np.array([y, -x])}[turn]


def torso_right(keypoints: np.ndarray, truth: np.ndarray) -> bool:
    """Hips -> shoulders within MAX_OFF_DEG of ``truth`` (both hips and shoulders seen)."""
    seen = keypoints[:, 2] >= 0.1
    if not (seen[5:7].any() and seen[11:13].any()):
        return False
    axis = keypoints[5:7][seen[5:7], :2].mean(0) - keypoints[11:13][seen[11:13], :2].mean(0)
    norm = float(np.hypot(*axis))
    return norm > 0 and float(axis @ truth) / norm >= np.cos(np.radians(MAX_OFF_DEG))


def best(people: PersonDetections) -> np.ndarray | None:
    return people.keypoints[int(np.argmax(people.scores))] if len(people) else None


def per_frame(frames: list[np.ndarray], backends: dict[str, PoseEstimator]) -> None:
    print("\n1. per frame, no tracking: found / torso the right way (of frames)")
    for name, estimator in backends.items():
        for how, turn in TURNS.items():
            cells = []
            for part, index, up in (("standing", STANDING, UP_STANDING),
                                    ("floor", FLOOR, UP_LYING)):
                truth = turned(up, turn)
                found = right = 0
                for i in index:
                    image = frames[i] if turn is None else cv2.rotate(frames[i], turn)
                    kps = best(estimator.predict_one(image))
                    found += kps is not None
                    right += kps is not None and torso_right(kps, truth)
                cells.append(f"{part} {found}/{len(index)} found, {right} right way")
            print(f"  {name:22s} {how:12s} " + "; ".join(cells))


def tracked(frames: list[np.ndarray], people: PeoplePipeline, name: str) -> None:
    """Floor frames seen, seen the right way round, and held on the floor, through the rule."""
    for fps in (10.0, 30.0):
        step = round(30 / fps)
        for look in (0.0, FallSettings().second_look_score):
            cells = []
            for how, turn in TURNS.items():
                state = people.start_source(fps, FallSettings(second_look_score=look))
                seen = right = held = total = 0
                for i in range(0, len(frames), step):
                    image = frames[i] if turn is None else cv2.rotate(frames[i], turn)
                    (analysis,) = people.analyse([Frame(image, i, i / 30.0, "fall-01")], state)
                    if i < FLOOR.start:
                        continue
                    total += 1
                    kps = best(analysis.people)
                    seen += kps is not None
                    right += kps is not None and torso_right(kps, turned(UP_LYING, turn))
                    held += bool({"on_floor", "lying"} & set(analysis.states))
                cells.append(f"{how} {seen}/{right}/{held} of {total}")
            what = f"second look {look:g}" if look else "no second look"
            print(f"  {name:22s} {fps:2.0f} fps, {what:16s}: " + "; ".join(cells))


def end_to_end(video: Path, people: PeoplePipeline, name: str) -> None:
    run = run_video(video, people, FallSettings(long_lie_s=3.0), hold_last_s=4.0, fps=10.0)
    said = ", ".join(f"{e.kind} at {e.detected_s:.2f} s (first floor {e.started_s:.2f} s, "
                     f"p {e.confidence:.3f})" for e in run.events) or "no event"
    print(f"  {name:22s} 10 fps, last frame held 4 s, long lie after 3 s: {said}")


def classifier_probabilities(frames: list[np.ndarray], people: PeoplePipeline
                             ) -> tuple[dict[float, float], float]:
    """p(fall) of the window_s window ending on every frame the person is seen (10 fps,
    whole-frame pass and second look), as the rule builds its windows; and the upright torso
    length in pixels."""
    settings = FallSettings()
    state = people.start_source(10.0)
    times, postures = [], []
    for i in range(0, len(frames), 3):
        (analysis,) = people.analyse([Frame(frames[i], i, i / 30.0, "fall-01")], state)
        kps = best(analysis.people)
        if kps is not None:
            times.append(i / 30.0)
            postures.append(posture(from_coco(kps).astype(np.float64)))
    scale = reference_scale(postures)
    t = np.array(times)
    probs = {}
    for end in t:
        keep = (t > end - settings.window_s) & (t <= end)
        features = window_features(t[keep], [p for p, k in zip(postures, keep) if k], scale)
        probs[float(end)] = float(people.classifier.probability(features)[0])
    return probs, scale


def classifier_gap(frames: list[np.ndarray], pipelines: dict[str, PeoplePipeline]) -> None:
    """The classifier on each backend's joints: floor windows, and every window both saw."""
    runs = {name: classifier_probabilities(frames, people) for name, people in pipelines.items()}
    floor_s = FLOOR.start / 30.0
    for name, (probs, scale) in runs.items():
        floor = np.array([p for t, p in probs.items() if t >= floor_s])
        before = np.array([p for t, p in probs.items() if t < floor_s])
        said = (f"min {floor.min():.3f}, median {np.median(floor):.3f}" if len(floor)
                else "none seen")
        print(f"  {name:22s} p(fall), windows ending on seen floor frames ({len(floor)}): "
              f"{said}; before the floor ({len(before)}): max {before.max():.3f}, "
              f"median {np.median(before):.3f}; upright torso {scale:.1f} px")
    if len(runs) == 2:
        (a, (pa, _)), (b, (pb, _)) = runs.items()
        both = sorted(set(pa) & set(pb))
        diff = np.abs(np.array([pa[t] - pb[t] for t in both]))
        print(f"  |p({a}) - p({b})| over the {len(both)} windows both saw: "
              f"median {np.median(diff):.3f}, max {diff.max():.3f}")


def joint_offsets(frames: list[np.ndarray], movenet: PoseEstimator,
                  landmarks: LandmarkPoseEstimator) -> np.ndarray | None:
    """Where each fall joint lands, landmarks against MoveNet, on the standing frames both
    see: median offset (x, y) and distance in torso lengths (shoulder to hip centre)."""
    offsets, seen = [], 0
    for i in STANDING:
        a, b = movenet.predict_one(frames[i]), landmarks.predict_one(frames[i])
        if not len(a) or np.array_equal(a.keypoints, b.keypoints):
            continue  # no one, or the landmark model saw no one in the crop
        ka, kb = from_coco(best(a)), from_coco(best(b))
        torso = posture(ka.astype(np.float64)).torso_length
        if ka[:9, 2].min() < 0.1 or not np.isfinite(torso) or torso <= 0:
            continue
        seen += 1
        offsets.append((kb[:, :2] - ka[:, :2]) / torso)
    if not offsets:
        print("  no standing frame with every body joint seen by both")
        return None
    median = np.median(np.array(offsets), axis=0)
    dist = np.median(np.hypot(*np.array(offsets).transpose(2, 0, 1)), axis=0)
    print(f"  joints, landmarks - MoveNet, {seen} standing frames, torso lengths "
          "(x, y; distance):")
    print("   " + "; ".join(f"{name} {median[j, 0]:+.2f},{median[j, 1]:+.2f} ({dist[j]:.2f})"
                            for j, name in enumerate(FALL_JOINTS[:9])))
    return np.array(offsets)


def movenet_placed(offsets: np.ndarray) -> Augmentation:
    """MediaPipe joints moved to where MoveNet puts them: each joint by minus the median
    landmarks - MoveNet offset measured on fall-01's standing frames, in torso lengths along
    and across the body's own axis (so it turns with a lying body), plus a random offset of
    the measured frame-to-frame spread (1.4826 x the median absolute deviation)."""
    shift = -np.median(offsets, axis=0)
    spread = 1.4826 * np.median(np.abs(offsets - np.median(offsets, axis=0)), axis=0)

    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        up = body[1:3, :2].mean(0) - body[3:5, :2].mean(0)
        torso = float(np.hypot(*up))
        if torso <= 0:
            return body
        down = -up / torso
        across = np.array([down[1], -down[0]])  # image x for an upright body
        moved = shift + rng.normal(0.0, 1.0, shift.shape) * spread
        body[:, :2] += torso * (moved[:, :1] * across + moved[:, 1:] * down)
        return body
    return Augmentation("joints where MoveNet places them", fn)


def held_out_gap(falls: Path, offsets: np.ndarray) -> None:
    """Part 5: the held-out datasets (each scored by a classifier fitted on the other two, as
    benchmarks/falls.py part 0) as recorded (MediaPipe joints, as the landmark backend gives)
    and with each joint moved to where MoveNet places it: recordings caught, false alarms."""
    datasets = load_fall_datasets(falls)
    print("\n5. the joint-mapping gap on data the classifier never saw, per recording "
          "(falls caught / false alarms), each dataset scored by a classifier fitted on the "
          "other two")
    print("    " + f"{'':40s}" + "".join(f"{d.name:>18s}" for d in datasets))
    models = {d.name: fit_on([o for o in datasets if o is not d]) for d in datasets}
    for aug in (Augmentation("MediaPipe joints (as recorded)"), movenet_placed(offsets)):
        cells = []
        for d in datasets:
            r = score(augmented(d.ordered(), aug), models[d.name])
            sens, spec = sensitivity(r.recordings), specificity(r.recordings)
            false = f", {spec.total - spec.hits} false" if spec.total else ""
            cells.append(f"{sens.hits}/{sens.total}{false}")
        print(f"    {aug.name:40s}" + "".join(f"{c:>18s}" for c in cells))


def cost(frames: list[np.ndarray], backends: dict[str, PoseEstimator]) -> None:
    print("\n4. cost of the whole-frame pass, one thread, 160 frames of 320x240 (RGB half)")
    for name, estimator in backends.items():
        estimator.predict_one(frames[0])
        wall, cpu = time.perf_counter(), time.process_time()
        people = sum(len(estimator.predict_one(f)) for f in frames)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"  {name:22s} {1000 * cpu / len(frames):6.1f} ms CPU, "
              f"{1000 * wall / len(frames):6.1f} ms wall a frame ({people} people found)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backends", default="movenet,mediapipe")
    parser.add_argument("--parts", default="1,2,3,4,5", help="which parts to run")
    args = parser.parse_args()
    video = args.data / "falls" / "fall-01-cam0.mp4"
    frames = [rgb_half(f.image) for f in open_media(video).frames()]
    chosen = args.backends.split(",")
    makers: dict[str, Callable[[], PoseEstimator]] = {
        "movenet": lambda: PoseEstimator(threads=args.threads),
        "mediapipe": lambda: LandmarkPoseEstimator(threads=args.threads, passes=1),
        "mediapipe, 2 passes": lambda: LandmarkPoseEstimator(threads=args.threads, passes=2),
    }
    backends = {name: make() for name, make in makers.items()
                if name.split(",")[0] in chosen}
    pipelines = {name: PeoplePipeline(estimator=estimator) for name, estimator in
                 backends.items() if name != "mediapipe, 2 passes"}
    parts = set(args.parts.split(","))
    with machine_report():
        if "1" in parts:
            per_frame(frames, backends)
        if "2" in parts:
            print("\n2. through tracking and the rule, floor frames 113-160: "
                  "seen / torso the right way / held on the floor")
            for name, people in pipelines.items():
                tracked(frames, people, name)
        if "movenet" in pipelines and "2" in parts:  # the turn from the last seen torso
            pipelines["movenet"].estimator.turn_from_torso = True
            try:
                tracked(frames, pipelines["movenet"], "movenet, turn from torso")
            finally:
                pipelines["movenet"].estimator.turn_from_torso = False
        if "3" in parts:
            print("\n3. end to end on fall-01 (RGB half), and the joint-mapping gap")
            for name, people in pipelines.items():
                end_to_end(video, people, name)
            classifier_gap(frames, pipelines)
        offsets = None
        if {"3", "5"} & parts and {"movenet", "mediapipe"} <= set(backends):
            landmarks = backends["mediapipe"]
            assert isinstance(landmarks, LandmarkPoseEstimator)
            offsets = joint_offsets(frames, backends["movenet"], landmarks)
        if "5" in parts and offsets is not None:
            held_out_gap(args.data / "falls", offsets)
        if "4" in parts:
            cost(frames, backends)


if __name__ == "__main__":
    main()
