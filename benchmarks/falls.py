"""Fall detection figures on the shared fall data and media. Prints; asserts nothing.

    .venv/bin/python benchmarks/falls.py [--data ../shared/data] [--long-lie 30] [--threads 1]
                                         [--only-unseen] [--parts 0,1,2,3,4,5]

0. The headline for rooms the detector has never seen: URFD, Le2i and UP-Fall each scored by a
   classifier fitted on the other two only (per recording and per window, exact intervals);
   false fall events per hour of daily activity (Poisson interval); and each held-out
   dataset under simulated camera changes (pitch, roll, distance, crop-outs, lost and
   jittered joints, lower frame rates), and with a second person in view.

1. URFD as MD4FD pose sequences, cross-validated by recording (never windows of one recording
   on both sides): sensitivity and specificity per sequence (targets >= 95% / >= 98%) and per
   recording, for the classifier alone and for the whole rule run frame by frame; each
   recording's last frame held for the long-lie time, which give a long lie; the rule at
   15, 10 and 5 frames a second; other fold draws; the rule's probability threshold; poses
   jittered, joints lost, and a camera mounted with a roll.
2. fall-01-cam0.mp4, its RGB half, through pose, tracking and the rule: the fall event must
   come between labelled frame 83 and 2 s after frame 113; the long lie N s after the first
   floor frame. The clip ends 1.8 s after the fall, so its last frame is held (repeated at
   30 fps) for N + 2 s, as a camera on a still scene sends it. Latency: first floor frame to
   the event, and first frame URFD labels "lying" to the event.
3. Fall events on the shared media that contain no fall (must be zero).
4. Live: the same clip (RGB half, last frame held) played in real time from a file camera
   through a camera worker into a SQLite store: latency from the first floor frame to the frame
   that fired the event, and from that frame's arrival to the event being stored; the
   process's CPU over the run (``--parts 4``: about 7 s).
5. The fall clip: 10 s at 10 frames a second of fall-01's RGB half, at its 320x240 and scaled
   to 640x480, kept as the worker keeps them (blurred JPEGs) and encoded as the clip is (VP8
   WebM, one thread): the buffer's size, the encoding time and the clip's size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from affectlens.eval.fall_augment import (
    AUGMENTATIONS,
    IMAGE_AUGMENTATIONS,
    Augmentation,
    augmented,
    jitter,
    lose,
    roll,
)
from affectlens.eval.fall_company import COMPANION_OFFSET, companions_for, score_with_company
from affectlens.eval.fall_datasets import FallDataset, load_fall_datasets
from affectlens.eval.fall_lodo import (
    false_falls,
    fit_on,
    leave_one_dataset_out,
    score,
    sensitivity,
    specificity,
)
from affectlens.eval.falls import (
    MD4FD_FILE,
    Outcome,
    cross_validate,
    held_at_end,
    read_md4fd,
    read_urfd_csv,
    recordings,
    resampled,
    rgb_half,
    rule_detects_fall,
    rule_event_kinds,
    run_video,
    sequence_features,
    sequence_folds,
    stitch,
    training_set,
)
from affectlens.eval.intervals import poisson_rate
from affectlens.eval.machine import machine_report
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import FEATURES
from affectlens.events.fall_settings import FallSettings
from affectlens.events.falls import FallRule
from affectlens.people import PeoplePipeline
from affectlens.pipeline import Pipeline
from affectlens.service.clips import ClipFrame, encode_clip
from affectlens.service.messages import EventStarted, Message
from affectlens.service.worker import CameraWorker
from affectlens.sources import open_media
from affectlens.store import Store
from affectlens.types import Frame

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NO_FALL_MEDIA = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4",
                 "face_noface.mov", "noface_face.mov", "multi_face.jpg", "single_face.jpg")


def line(name: str, outcome: Outcome) -> str:
    figures = outcome.figures(2000)
    parts = [f"{k} {v[0]:.1%} [{v[1]:.1%}, {v[2]:.1%}]" for k, v in figures.items()]
    return f"  {name:38s} " + "; ".join(parts) + f"; {_counts(outcome)}"


def by_recording(outcome: Outcome, groups: np.ndarray) -> Outcome:
    """A recording is a fall if its windows are; detected if any of its windows fired."""
    ids = np.unique(groups)
    truth = np.array([outcome.truth[groups == g].max() for g in ids])
    predicted = np.array([outcome.predicted[groups == g].max() for g in ids])
    return Outcome(truth, predicted, [f"recording {g}" for g in ids])


def cross_validation(falls: Path, long_lie_s: float = 30.0) -> None:
    sequences = read_md4fd(falls / MD4FD_FILE)
    groups = recordings(sequences)
    started = time.perf_counter()
    result = cross_validate(sequences, folds=5)
    window, rule = result.classifier, result.rule
    print(f"1. URFD (MD4FD) {len(sequences)} sequences of {len(set(groups))} recordings, "
          f"5-fold by recording ({time.perf_counter() - started:.1f} s)")
    print(line("classifier, per sequence", window))
    print(line("whole rule frame by frame, per sequence", rule))
    print(line("classifier, any window of a recording", by_recording(window, groups)))
    print(line("whole rule, any window of a recording", by_recording(rule, groups)))
    print(line("whole rule, stitched recordings", result.recordings))
    missed = [rule.names[i] for i in np.flatnonzero((rule.truth == 1) & (rule.predicted == 0))]
    wrong = [rule.names[i] for i in np.flatnonzero((rule.truth == 0) & (rule.predicted == 1))]
    print(f"  rule missed {missed}; false alarms {wrong}")
    held_long_lies(sequences, groups, result.recordings, long_lie_s)
    missed_recordings(sequences, groups, result.recordings)
    by_frame_rate(sequences, groups)
    other_choices(sequences)
    perturbed(sequences)


def missed_recordings(sequences: list, groups: np.ndarray, recordings_: Outcome) -> None:
    """Why each missed fall recording was missed: the classifier's probability when the rule
    decided, and its hip descent speed against the training windows' mean per class."""
    x, y, rows = training_set(sequences)
    speed = FEATURES.index("hip_descent_speed")
    means = [float(np.nanmean(x[y == label, speed])) for label in (1, 0)]
    for name, truth, found in zip(recordings_.names, recordings_.truth, recordings_.predicted):
        if not truth or found:
            continue
        members = [i for i, s in enumerate(sequences) if s.name in name.split("+")]
        others = groups[rows] != groups[members[0]]
        rule = FallRule(classifier=FallClassifier.fit(x[others], y[others]))
        whole = stitch(sequences, members)
        decided = None
        for t, body in zip(whole.times, whole.bodies):
            rule.update(float(t), np.array([1]), body[None])
            probability = rule.probabilities()[1]
            if decided is None and np.isfinite(probability):
                decided = (float(t), probability, rule.states()[1])
        hip = sequence_features(whole)[speed]
        said = (f"decided at {decided[0]:.2f} s: p(fall) {decided[1]:.2f}, {decided[2]}"
                if decided else "never reached the floor")
        print(f"  missed recording {name.split('+')[0]}..: {said}; hip descent "
              f"{hip:.1f} torso lengths/s (training means: falls {means[0]:.1f}, daily "
              f"activities {means[1]:.1f})")


def other_choices(sequences: list) -> None:
    """How much the figures depend on the fold draw, and what the rule's probability threshold
    (FallSettings.min_probability), above the classifier's own, buys."""
    print("  other fold draws (seed 0 above), confusion per sequence: classifier | rule | "
          "stitched recordings")
    for seed in (1, 2, 3):
        r = cross_validate(sequences, folds=5, seed=seed)
        print(f"    seed {seed}: {_counts(r.classifier)} | {_counts(r.rule)} | "
              f"{_counts(r.recordings)}")
    threshold = FallClassifier.load().threshold
    r = cross_validate(sequences, folds=5, settings=FallSettings(min_probability=threshold))
    print(f"  a fall at the classifier's own p >= {threshold:g} (not "
          f"{FallSettings().min_probability:g}): rule {_counts(r.rule)} | stitched "
          f"{_counts(r.recordings)}")


def perturbed(sequences: list) -> None:
    """The rule on poses worse than MD4FD's, as other pose models and cameras give them:
    jittered joints, joints lost, a camera mounted with a roll (eval.fall_augment). Each frame
    is perturbed the same wherever it appears (a seed from its content), so windows still
    stitch into recordings; classifiers are refitted on the perturbed folds."""
    urfd = FallDataset("URFD", sequences, np.zeros(len(sequences), np.int64), 30.0)
    print("  perturbed poses, confusion per sequence | stitched recordings:")
    cases = {"joints jittered by 3% of the torso": jitter(0.03),
             "joints jittered by 6% of the torso": jitter(0.06),
             "10% of joints lost": lose(0.10), "25% of joints lost": lose(0.25),
             "camera rolled 10 degrees clockwise": roll(10.0),
             "camera rolled 10 degrees anticlockwise": roll(-10.0),
             "camera rolled 20 degrees clockwise": roll(20.0)}
    for name, fn in cases.items():
        changed = augmented(urfd, Augmentation(name, fn)).sequences
        r = cross_validate(changed, folds=5)
        print(f"    {name:40s} {_counts(r.rule)} | {_counts(r.recordings)}")


def _counts(outcome: Outcome) -> str:
    c = outcome.confusion
    return f"TP {c['tp']} FN {c['fn']} FP {c['fp']} TN {c['tn']}"


def by_frame_rate(sequences: list, groups: np.ndarray, folds: int = 5) -> None:
    """The whole rule on every 2nd, 3rd and 6th frame (15, 10 and 5 fps; live fall cameras
    analyse 10 a second by default, others 5), the same folds and classifiers as at 30 fps."""
    labels = np.array([s.label for s in sequences])
    fold = sequence_folds(labels, groups, folds)
    x, y, rows = training_set(sequences)
    models = [FallClassifier.fit(x[fold[rows] != k], y[fold[rows] != k]) for k in range(folds)]
    ids = np.unique(groups)
    print("  whole rule by frame rate (fall windows caught, false alarms; fall recordings "
          "caught, false alarms):")
    for step in (1, 2, 3, 6):
        caught = [rule_detects_fall(FallRule(None, models[fold[i]]), resampled(s, step))
                  for i, s in enumerate(sequences)]
        whole = [stitch(sequences, list(np.flatnonzero(groups == g))) for g in ids]
        found = [rule_detects_fall(FallRule(None, models[fold[groups == g][0]]),
                                   resampled(w, step)) for g, w in zip(ids, whole)]
        fell = np.array([w.label for w in whole]) == 1
        print(f"    {30 // step:2d} fps: windows {sum(c for c, t in zip(caught, labels) if t)}"
              f"/{labels.sum()}, {sum(c for c, t in zip(caught, labels) if not t)} false; "
              f"recordings {int(np.sum(np.array(found) & fell))}/{int(fell.sum())}, "
              f"{int(np.sum(np.array(found) & ~fell))} false")


def held_long_lies(sequences: list, groups: np.ndarray, recordings_: Outcome,
                   long_lie_s: float = 30.0) -> None:
    """Every recording with its last frame held for the long-lie time, as a camera goes on
    seeing whoever stays where the recording ends: which give a long lie? Wanted for the
    falls the rule missed (the person stays down); not for daily activities, unless they end
    lying on the floor. Each recording's classifier is fitted without it."""
    x, y, rows = training_set(sequences)
    lies: dict[int, list[str]] = {0: [], 1: []}
    for name, truth in zip(recordings_.names, recordings_.truth):
        members = [i for i, s in enumerate(sequences) if s.name in name.split("+")]
        whole = stitch(sequences, members)
        others = groups[rows] != groups[members[0]]
        rule = FallRule(FallSettings(long_lie_s=long_lie_s),
                        FallClassifier.fit(x[others], y[others]))
        kinds = rule_event_kinds(rule, held_at_end(whole, long_lie_s + 2))
        if "long_lie" in kinds:
            first = name.split("+")[0]
            lies[int(truth)].append(first if truth == 0 or "fall" in kinds else f"{first}*")
    falls, adls = int(recordings_.truth.sum()), int((recordings_.truth == 0).sum())
    print(f"  last frame held {long_lie_s + 2:g} s: long lie in {len(lies[1])} of {falls} fall "
          f"recordings, {len(lies[0])} of {adls} daily activities {lies[0]}; fall recordings "
          f"with a long lie but no fall event first: {[n for n in lies[1] if n.endswith('*')]}")


def fall_01(falls: Path, people: PeoplePipeline, long_lie_s: float) -> None:
    (seq,) = [s for s in read_urfd_csv(falls / "urfd_features/urfall-cam0-falls.csv")
              if s.name == "fall-01"]
    fps = 30.0
    first_falling = (seq.frames[seq.frame_labels >= 0][0] - 1) / fps
    first_lying = (seq.frames[seq.frame_labels == 1][0] - 1) / fps
    settings = FallSettings(long_lie_s=long_lie_s)
    run = run_video(falls / "fall-01-cam0.mp4", people, settings, hold_last_s=long_lie_s + 2)
    print(f"\n2. fall-01-cam0.mp4 (RGB half, {run.frames} frames incl. the held last frame, "
          f"{run.seconds_per_frame * 1000:.1f} ms a frame for pose + tracking + rule)")
    print(f"  labelled: falling from {first_falling:.2f} s (frame 83), lying from "
          f"{first_lying:.2f} s (frame 113); a fall must fire in "
          f"[{first_falling:.2f}, {first_lying + 2:.2f}] s")
    for event in run.events:
        print(f"  {event.kind:9s} detected {event.detected_s:6.2f} s (frame "
              f"{event.detected_s * fps + 1:.0f}), floor from {event.started_s:.2f} s, "
              f"p={event.confidence:.3f}")
    falls_ = [e for e in run.events if e.kind == "fall"]
    lies = [e for e in run.events if e.kind == "long_lie"]
    if falls_:
        fall = falls_[0]
        ok = first_falling <= fall.detected_s <= first_lying + 2
        print(f"  fall in the window: {'yes' if ok else 'NO'}; latency from first floor frame "
              f"{fall.detected_s - fall.started_s:.2f} s, from the first labelled lying frame "
              f"{fall.detected_s - first_lying:+.2f} s (target <= 2 s)")
    else:
        print("  fall: NONE")
    if lies and falls_:
        print(f"  long lie {lies[0].detected_s - falls_[0].started_s:.2f} s after the first "
              f"floor frame (N = {long_lie_s:g} s)")
    else:
        print("  long lie: NONE")


def lying_person_found(falls: Path, people: PeoplePipeline, fps: float = 10.0) -> None:
    """How often the pose model finds someone lying: fall-01's frames from the first one URFD
    labels lying (113), at 10 fps, with and without the second look (a turned crop where the
    person was last seen, FallSettings.second_look_score); and its standing frames (1-82)
    turned a quarter and upside down, as a camera would see a lying person's pose."""
    video = falls / "fall-01-cam0.mp4"
    frames = [rgb_half(f.image) for f in open_media(video).frames()]
    found = [len(people.estimator.predict_one(f)) > 0 for f in frames[112:]]
    print(f"  pose model alone finds the lying person in {sum(found)} of {len(found)} frames "
          "(113-160, 30 fps)")
    for turn, name in ((cv2.ROTATE_90_CLOCKWISE, "a quarter turn"),
                       (cv2.ROTATE_180, "upside down")):
        seen = [len(people.estimator.predict_one(cv2.rotate(f, turn))) > 0 for f in frames[:82]]
        print(f"  standing frames 1-82 turned {name}: found in {sum(seen)} of {len(seen)}")
    for look in (0.0, FallSettings().second_look_score):
        state = people.start_source(fps, FallSettings(second_look_score=look))
        seen, total, cpu = 0, 0, time.process_time()
        for frame in open_media(video, fps).frames():
            (analysis,) = people.analyse(
                [Frame(rgb_half(frame.image), frame.index, frame.timestamp, frame.source)], state)
            if frame.timestamp >= 112 / 30:
                total += 1
                seen += bool({"on_floor", "lying"} & set(analysis.states))
        how = f"second look at score {look:g}" if look else "no second look"
        print(f"  held on the floor and seen, {fps:g} fps, {how}: {seen} of {total} frames "
              f"({time.process_time() - cpu:.2f} s CPU for the clip)")


def low_light(falls: Path, people: PeoplePipeline, fps: float = 10.0) -> None:
    """fall-01 at 10 fps as a night camera would send it (eval.fall_augment's image changes):
    the first fall event, against URFD's labels (lying from frame 113, 3.73 s)."""
    for name, change in IMAGE_AUGMENTATIONS.items():
        state = people.start_source(fps)
        first = None
        for frame in open_media(falls / "fall-01-cam0.mp4", fps).frames():
            image = change(rgb_half(frame.image))
            (analysis,) = people.analyse([Frame(image, frame.index, frame.timestamp,
                                                frame.source)], state)
            falls_ = [e for e in analysis.events if e.kind == "fall"]
            first = first if first is not None or not falls_ else falls_[0].detected_s
        said = f"fall at {first:.2f} s" if first is not None else "NO fall"
        print(f"  fall-01 {name}: {said}")


def no_falls(media: Path, people: PeoplePipeline) -> None:
    print("\n3. shared media without falls")
    for name in NO_FALL_MEDIA:
        path = media / name
        if not path.is_file():
            print(f"  {name}: missing")
            continue
        run = run_video(path, people)
        count = sum(e.kind in ("fall", "long_lie") for e in run.events)
        print(f"  {name:28s} {run.frames:4d} frames: {count} fall/long-lie events "
              f"({run.seconds_per_frame * 1000:.1f} ms a frame)")


def live(falls: Path, fps: float = 10.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "fall-01-rgb.mp4"
        cap = cv2.VideoCapture(str(falls / "fall-01-cam0.mp4"))
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
        frame = None
        while (read := cap.read())[0]:
            frame = rgb_half(read[1])
            writer.write(frame)
        for _ in range(90):
            writer.write(frame)
        writer.release()
        store = Store(f"sqlite:///{tmp}/events.db")
        camera = store.add_camera("room", "file:///clip", "care_safety")
        worker = CameraWorker(camera.id, f"file://{clip}", store, Pipeline(),
                              analysis_fps=fps, falls=FallSettings(long_lie_s=2.0))
        stored: dict[str, tuple[EventStarted, datetime]] = {}
        forward = worker.loop.emit

        def emit(message: Message) -> None:
            forward(message)
            if isinstance(message, EventStarted) and message.kind not in stored:
                stored[message.kind] = (message, datetime.now(UTC))

        worker.loop.emit = emit
        cpu, wall = time.process_time(), time.monotonic()
        worker.start()
        deadline = time.monotonic() + 30
        while "long_lie" not in stored and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.stop()
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    print(f"\n4. live camera, {fps:g} frames analysed a second (faces and pose): this "
          f"process's CPU {cpu:.1f} s over {wall:.1f} s of the clip played = {cpu / wall:.2f} "
          "cores (decoding, models loaded on first use, faces, pose, rule, store; for "
          "comparing one version with another on one machine, not a camera's steady cost: "
          "benchmarks/camera_capacity.py)")
    for kind, (event, at) in stored.items():
        print(f"  {kind:9s} first floor frame -> firing frame "
              f"{(event.observed_at - event.started_at).total_seconds():.2f} s; firing frame "
              f"read -> stored {(at - event.observed_at).total_seconds():.2f} s")
    if "fall" not in stored:
        print("  fall: NONE within 30 s")


def clip_cost(falls: Path, fps: float = 10.0, seconds: float = 10.0) -> None:
    cap = cv2.VideoCapture(str(falls / "fall-01-cam0.mp4"))
    frames = []
    while (read := cap.read())[0]:
        frames.append(rgb_half(read[1]))
    step = max(1, round(30.0 / fps))
    picked = (frames[::step] * 10)[: round(seconds * fps)]
    print(f"\n5. fall clip, {seconds:g} s at {fps:g} frames a second (fall-01 RGB half)")
    for width, height in ((320, 240), (640, 480)):
        jpegs = [cv2.imencode(".jpg", cv2.resize(f, (width, height)),
                              [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes() for f in picked]
        clip = [ClipFrame(n / fps, jpeg) for n, jpeg in enumerate(jpegs)]
        started = time.perf_counter()
        video = encode_clip(clip)
        took = time.perf_counter() - started
        print(f"  {width}x{height}: buffer {sum(map(len, jpegs)) / 1e6:.2f} MB of JPEGs "
              f"(raw {len(jpegs) * width * height * 3 / 1e6:.0f} MB); encoded in {took:.2f} s; "
              f"clip {len(video) / 1e3:.0f} KB")


def unseen_rooms(falls: Path) -> None:
    """Part 0, the headline: each dataset scored by a classifier fitted on the others only;
    then the same under simulated camera changes; then false falls per hour of daily activity."""
    datasets = load_fall_datasets(falls)
    started = time.process_time()
    results = leave_one_dataset_out(datasets)
    print(f"0. Leave one dataset out ({time.process_time() - started:.1f} s CPU); per recording "
          "(windows stitched), per window beside it; exact 95% intervals")
    for r in results:
        name = r.dataset + (f" ({r.note})" if r.note else "")
        print(f"  {name}, trained on {' + '.join(r.trained_on)}:")
        print(f"    recordings: sensitivity {sensitivity(r.recordings)}, specificity "
              f"{specificity(r.recordings)}")
        print(f"    windows:    sensitivity {sensitivity(r.windows)}, specificity "
              f"{specificity(r.windows)}; classifier alone {sensitivity(r.classifier)}, "
              f"{specificity(r.classifier)}")
        missed = [n.split("+")[0] for n, t, p in zip(r.recordings.names, r.recordings.truth,
                                                     r.recordings.predicted) if t and not p]
        print(f"    missed recordings: {', '.join(missed) or 'none'}")
        if r.stays_down is not None:
            down = r.stays_down
            lying_adls = [n.split("+")[0] for n, t, p in zip(down.names, down.truth,
                                                             down.predicted) if p and not t]
            print(f"    last frame held {FallSettings().long_lie_s + 2:g} s (the person stays "
                  f"where the recording ends): a fall or a long lie in "
                  f"{sensitivity(down)} of fall recordings; a long lie in "
                  f"{len(lying_adls)} daily activities ending down {lying_adls or ''}")
    false_falls_per_hour(datasets)
    augmentation_table(datasets)
    company_table(datasets)


def false_falls_per_hour(datasets: list[FallDataset]) -> None:
    """False fall events over the daily-activity footage, each dataset judged by a classifier
    that never saw it; a Poisson 95% interval. Minutes of footage, not hours: said."""
    events, seconds = false_falls(datasets,
                                  lambda held: fit_on([d for d in datasets if d is not held]))
    hours = seconds / 3600
    low, high = poisson_rate(events, hours)
    print(f"  false fall events in daily activities: {events} in {seconds / 60:.1f} minutes of "
          f"footage = {events / hours:.1f} an hour (95% {low:.1f}-{high:.1f}); minutes, not "
          "the hours a care-home figure needs")


def augmentation_table(datasets: list[FallDataset]) -> None:
    """Each held-out dataset as other cameras would have seen it (eval.fall_augment), scored
    by the same left-out classifiers: recordings caught, and false alarms."""
    models = {d.name: fit_on([o for o in datasets if o is not d]) for d in datasets}
    print("  under simulated camera changes, per recording (falls caught / false alarms):")
    print("    " + f"{'':40s}" + "".join(f"{d.name:>18s}" for d in datasets))
    for aug in AUGMENTATIONS:
        cells = []
        for d in datasets:
            r = score(augmented(d.ordered(), aug), models[d.name], step=aug.step, alone=False)
            sens, spec = sensitivity(r.recordings), specificity(r.recordings)
            false = f", {spec.total - spec.hits} false" if spec.total else ""
            cells.append(f"{sens.hits}/{sens.total}{false}")
        print(f"    {aug.name:40s}" + "".join(f"{c:>18s}" for c in cells))


def company_table(datasets: list[FallDataset]) -> None:
    """Each held-out dataset with a second person in view (eval.fall_company): beside, and on
    the very spot (the two skeletons overlapping, each its own track)."""
    print("  with a second person in view (a daily-activity recording, its own track), per "
          "recording, the same recordings alone in brackets:")
    others = {d.name: [o for o in datasets if o is not d] for d in datasets}
    models = {name: fit_on(rest) for name, rest in others.items()}
    for offset, where in ((COMPANION_OFFSET, f"{COMPANION_OFFSET:g} of the width beside"),
                          (0.0, "on the same spot")):
        for d in datasets:
            r = score_with_company(d, models[d.name], companions_for(d, others[d.name]),
                                   offset=offset)
            daily = (f"; daily activities with a fall {r.daily_false}/{r.daily} "
                     f"({r.daily_false_alone})" if r.daily else "")
            print(f"    {where:28s} {d.name:8s} falls caught {r.falls_caught.hits}/"
                  f"{r.falls_caught.total} ({r.falls_caught_alone.hits}); a fall on the "
                  f"companion {r.companion_falls}/{r.recordings} ({r.companion_falls_alone})"
                  f"{daily}; recordings the company changed: {', '.join(r.changed) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--long-lie", type=float, default=30.0, help="N, seconds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only-unseen", action="store_true",
                        help="part 0 only (leave one dataset out, camera changes, false "
                        "alarms an hour): pose sequences, no video, about 11 min of CPU "
                        "(2-core AMD EPYC, 2026-12-06); the same as --parts 0")
    parser.add_argument("--parts", default="0,1,2,3,4,5",
                        help="comma-separated: which parts to run (2 includes the lying "
                        "person found and low light); e.g. --parts 4 for the live latency")
    args = parser.parse_args()
    parts = {0} if args.only_unseen else {int(p) for p in args.parts.split(",")}
    with machine_report():
        if 0 in parts:
            unseen_rooms(args.data / "falls")
        people = PeoplePipeline(threads=args.threads) if parts & {2, 3} else None
        if 1 in parts:
            cross_validation(args.data / "falls", args.long_lie)
        if people is not None and 2 in parts:
            fall_01(args.data / "falls", people, args.long_lie)
            lying_person_found(args.data / "falls", people)
            low_light(args.data / "falls", people)
        if people is not None and 3 in parts:
            no_falls(args.data / "media", people)
        if 4 in parts:
            live(args.data / "falls")
        if 5 in parts:
            clip_cost(args.data / "falls")


if __name__ == "__main__":
    main()
