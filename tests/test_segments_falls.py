"""A fall in a video cut into segments (``analyze --cluster --segment-s``, issue 15) is one
pass's fall: the segment that owns the time it was detected raises it, later segments that
saw it going on in their warm-up end it when they saw it end, and the persons table is one
pass's. The cluster only carries the segments to other machines (tests/test_cluster.py runs
them as Ray tasks); here each segment is analysed in this process, by the same
``analyse_segment`` a node runs, and stitched by the same ``stitch``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import affectlens
from affectlens.cluster.segments import (
    analyse_segment,
    memory_s,
    plan,
    splittable_duration,
    stitch,
)
from affectlens.config import AnalysisConfig
from affectlens.eval.falls import rgb_half

FALL_VIDEO = Path(__file__).parents[2] / "shared/data/falls/fall-01-cam0.mp4"


def test_a_fall_split_across_segments_is_one_pass_fall() -> None:
    if not FALL_VIDEO.is_file():
        pytest.skip(f"{FALL_VIDEO} is not here (../shared/data)")

    config = AnalysisConfig(fps=10, threads=1)
    duration = splittable_duration(FALL_VIDEO, config)
    assert duration is not None and duration > 4
    segments = plan(duration, 1.5, memory_s(config))
    assert len(segments) >= 3  # the fall is detected in one and seen going on in later ones
    parts = [analyse_segment(FALL_VIDEO, config, segment) for segment in segments]
    there = stitch(segments, parts, config)
    here = affectlens.analyze(FALL_VIDEO, config)

    when = ["kind", "track_id", "started_s", "detected_s", "ended_s", "confidence"]
    assert list(here.events.kind) == ["fall"]
    fall = here.events.iloc[0]
    owner = [s for s in segments if s.start_s <= fall.detected_s
             and (s.stop_s is None or fall.detected_s < s.stop_s)]
    assert owner and owner[0].stop_s is not None and owner[0].stop_s < fall.ended_s
    # The owning segment stopped looking before the fall ended: the end is a later one's.
    pd.testing.assert_frame_equal(there.events[when], here.events[when], atol=1e-4)
    assert there.persons is not None and here.persons is not None
    pd.testing.assert_frame_equal(there.persons, here.persons)


def _dark_after_the_fall(out: Path, dark_s: float) -> Path:
    """fall-01's RGB half, then ``dark_s`` of black frames (the light went out, the camera
    was covered): the person, on the floor, is seen by no one after 5.3 s."""
    cap = cv2.VideoCapture(str(FALL_VIDEO))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    while (read := cap.read())[0]:
        writer.write(rgb_half(read[1]))
    for _ in range(round(dark_s * 30)):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    return out


def test_a_fall_held_unseen_past_its_segment_stays_open_to_the_end(tmp_path: Path) -> None:
    """The fall (and its long lie) are open when the segment that raised them stops, and the
    next segment, whose warm-up starts after the fall and sees only the dark, never saw them:
    one pass holds a person presumed on the floor to the video's end (falls.py: no timeout),
    so stitching does too (it ended them at the segment's stop: 14.9 s against 17.3 s). And
    someone up where they lay, in a later segment's persons table, ends them then."""
    if not FALL_VIDEO.is_file():
        pytest.skip(f"{FALL_VIDEO} is not here (../shared/data)")

    video = _dark_after_the_fall(tmp_path / "fall-then-dark.mp4", 12.0)
    # Short rule windows so that the memory (9 s) ends before the second segment's span.
    config = AnalysisConfig(fps=10, threads=1, smoothing_tau_s=0.2,
                            distress={"hold_s": 1.0, "max_gap_s": 1.0},
                            falls={"long_lie_s": 4.0})
    assert memory_s(config) == 6.0 + 2.0 + 1.0  # classifier window + max fall, lost_s, tau
    segments = plan(splittable_duration(video, config), 15.0, memory_s(config))
    assert [(s.start_s, s.warm_s) for s in segments] == [(0.0, 0.0), (15.0, 6.0)]
    parts = [analyse_segment(video, config, segment) for segment in segments]
    here = affectlens.analyze(video, config)
    there = stitch(segments, parts, config)

    when = ["kind", "track_id", "started_s", "detected_s", "ended_s", "confidence"]
    assert list(here.events.kind) == ["fall", "long_lie"]
    assert (here.events.started_s < 5.3).all() and (here.events.ended_s > 17).all()
    assert parts[1].result.events.empty  # the second segment never saw the person fall
    pd.testing.assert_frame_equal(there.events[when], here.events[when], atol=1e-4)

    # Someone up for recover_s (1 s) where the person lay, from 16 s on, in the second
    # segment's table (the fallen person's own upright rows, moved there): got up at 17 s.
    fallen = parts[0].result.persons
    track = here.events.track_id.iloc[0]
    down = fallen[(fallen.track_id == track) & fallen.state.notna()].iloc[-1]
    up = fallen[(fallen.track_id == track) & (fallen.state == "upright")].iloc[:11].copy()
    assert len(up) == 11
    shift = [_hip(down)[0] - _hip(up.iloc[0])[0], _hip(down)[1] - _hip(up.iloc[0])[1]]
    for column in up.columns:
        if column.endswith("_x") or column in ("x1", "x2"):
            up[column] += shift[0]
        elif column.endswith("_y") or column in ("y1", "y2"):
            up[column] += shift[1]
    up["time_s"] = [round(16.0 + 0.1 * k, 4) for k in range(len(up))]
    up["frame"] = [480 + 3 * k for k in range(len(up))]
    up["track_id"] = pd.array([99] * len(up), dtype="Int64")
    later = parts[1].result
    seen_up = replace(parts[1], result=replace(
        later, persons=pd.concat([later.persons, up], ignore_index=True)))
    got_up = stitch(segments, [parts[0], seen_up], config)
    assert list(got_up.events.ended_s) == [17.0, 17.0]


def _hip(row: pd.Series) -> tuple[float, float]:
    return ((row.left_hip_x + row.right_hip_x) / 2, (row.left_hip_y + row.right_hip_y) / 2)
