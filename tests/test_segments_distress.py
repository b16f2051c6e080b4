"""A distress event in a video cut into segments (``analyze --cluster --segment-s``, issue
15) is one pass's event, its confidence included: the rule's confidence is the mean negative
probability over the event's frames, and the segment that detected it saw only those before
it stopped, so stitching takes the mean again over the stitched frames table (0.9497 from
the detecting segment alone against one pass's 0.8784 before). Each segment is analysed in
this process by the same ``analyse_segment`` a node runs (tests/test_cluster.py runs them as
Ray tasks) and stitched by the same ``stitch``."""

from __future__ import annotations

from pathlib import Path

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

REAL_VIDEO = Path(__file__).parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def test_a_distress_split_across_segments_has_one_pass_confidence() -> None:
    if not REAL_VIDEO.is_file():
        pytest.skip(f"{REAL_VIDEO} is not here (../shared/data)")

    # She cries from the start: a distress event of 10 s with a hold of 2 s.
    config = AnalysisConfig(fps=4, threads=1, pose=False, distress={"hold_s": 2.0})
    segments = plan(splittable_duration(REAL_VIDEO, config), 4.0, memory_s(config))
    assert len(segments) == 5
    parts = [analyse_segment(REAL_VIDEO, config, segment) for segment in segments]
    there = stitch(segments, parts, config)
    here = affectlens.analyze(REAL_VIDEO, config)

    assert list(here.events.kind) == ["distress"]
    distress = here.events.iloc[0]
    (owner,) = [(s, p) for s, p in zip(segments, parts) if s.start_s <= distress.detected_s
                and (s.stop_s is None or distress.detected_s < s.stop_s)]
    assert owner[0].stop_s is not None and owner[0].stop_s < distress.ended_s
    seen = owner[1].result.events.confidence.iloc[0]  # over the frames before it stopped
    assert abs(seen - distress.confidence) > 0.05
    when = ["kind", "track_id", "started_s", "detected_s", "ended_s", "confidence"]
    pd.testing.assert_frame_equal(there.events[when], here.events[when], atol=1e-4)
    assert len(there.tracks) == len(here.tracks)
    assert (there.frames.expression.values == here.frames.expression.values).mean() >= 0.99
