"""A fall in a video cut into segments (``analyze --cluster --segment-s``, issue 15) is one
pass's fall: the segment that owns the time it was detected raises it, later segments that
saw it going on in their warm-up end it when they saw it end, and the persons table is one
pass's. The cluster only carries the segments to other machines (tests/test_cluster.py runs
them as Ray tasks); here each segment is analysed in this process, by the same
``analyse_segment`` a node runs, and stitched by the same ``stitch``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

FALL_VIDEO = Path(__file__).parents[2] / "shared/data/falls/fall-01-cam0.mp4"


def test_a_fall_split_across_segments_is_one_pass_fall() -> None:
    if not FALL_VIDEO.is_file():
        pytest.skip(f"{FALL_VIDEO} is not here (../shared/data)")
    import affectlens
    from affectlens.cluster.segments import (
        analyse_segment,
        memory_s,
        plan,
        splittable_duration,
        stitch,
    )
    from affectlens.config import AnalysisConfig

    config = AnalysisConfig(fps=10, threads=1)
    duration = splittable_duration(FALL_VIDEO, config)
    assert duration is not None and duration > 4
    segments = plan(duration, 1.5, memory_s(config))
    assert len(segments) >= 3  # the fall is detected in one and seen going on in later ones
    parts = [analyse_segment(FALL_VIDEO, config, segment) for segment in segments]
    there = stitch(segments, parts, config)
    here = affectlens.analyze(FALL_VIDEO, config)

    when = ["kind", "track_id", "started_s", "detected_s", "ended_s"]
    assert list(here.events.kind) == ["fall"]
    fall = here.events.iloc[0]
    owner = [s for s in segments if s.start_s <= fall.detected_s
             and (s.stop_s is None or fall.detected_s < s.stop_s)]
    assert owner and owner[0].stop_s is not None and owner[0].stop_s < fall.ended_s
    # The owning segment stopped looking before the fall ended: the end is a later one's.
    pd.testing.assert_frame_equal(there.events[when], here.events[when])
    assert there.persons is not None and here.persons is not None
    pd.testing.assert_frame_equal(there.persons, here.persons)
