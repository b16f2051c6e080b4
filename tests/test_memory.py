"""Memory bounded by a setting, not by resolution (issue 16): the detector's tile cap.

Every tile of a batch of frames once went through the face detector in one network call, and
ONNX Runtime kept that call's working memory (a few MB a tile): 8 frames of 1080p (2,448 tiles)
peaked at over 8 GB. The detector now runs ``detector_batch_tiles`` tiles a call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pydantic
import pytest

from affectlens.config import AnalysisConfig
from affectlens.models.face_detector import FaceDetector, plan_tiles

# Issue 16's target for offline analysis of 1080p video, in MiB of peak resident memory.
PEAK_RSS_1080P_MIB = 1536


def counting_calls(detector: FaceDetector) -> list[int]:
    """Wrap the detector's network so that each call's batch size is recorded."""
    sizes: list[int] = []
    run = detector.model.run

    def spy(batch: np.ndarray) -> list[np.ndarray]:
        sizes.append(len(batch))
        return run(batch)

    detector.model.run = spy  # type: ignore[method-assign]
    return sizes


def test_tile_cap_splits_a_1080p_frame_into_calls_and_finds_the_same_faces(
    media: Callable[[str], Path],
) -> None:
    photo = cv2.imread(str(media("multi_face.jpg")))
    assert photo is not None
    frame = cv2.resize(photo, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    tiles = len(plan_tiles(1920, 1080, 24))
    whole = FaceDetector(batch_tiles=4096)
    capped = FaceDetector(batch_tiles=64)
    whole_calls, capped_calls = counting_calls(whole), counting_calls(capped)

    (expected,) = whole.predict([frame])
    (found,) = capped.predict([frame])

    assert whole_calls == [tiles]
    assert len(capped_calls) == -(-tiles // 64) and max(capped_calls) == 64
    assert sum(capped_calls) == tiles
    assert len(expected) == 5 and len(found) == 5
    np.testing.assert_allclose(found.boxes, expected.boxes, atol=1e-3)
    np.testing.assert_allclose(found.keypoints, expected.keypoints, atol=1e-3)
    np.testing.assert_allclose(found.scores, expected.scores, atol=1e-5)


def test_tile_cap_calls_span_frames_and_keep_each_frames_faces(
    media: Callable[[str], Path],
) -> None:
    """A call may hold the last tiles of one frame and the first of the next: each face must
    still land in its own frame."""
    photo = cv2.imread(str(media("multi_face.jpg")))
    assert photo is not None
    frames = [photo, np.full_like(photo, 128), photo[:, ::-1].copy()]
    whole = FaceDetector(batch_tiles=4096).predict(frames)
    capped = FaceDetector(batch_tiles=7).predict(frames)
    assert [len(f) for f in whole] == [5, 0, 5]
    assert [len(f) for f in capped] == [5, 0, 5]
    for a, b in zip(whole, capped):
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)


@pytest.mark.parametrize("value", [0, 4097])
def test_tile_cap_has_a_finite_range(value: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="detector_batch_tiles"):
        AnalysisConfig(detector_batch_tiles=value)


CHILD = textwrap.dedent("""
    from pathlib import Path

    import numpy as np
    from affectlens import samples
    from affectlens.config import AnalysisConfig
    from affectlens.pipeline import Pipeline
    from affectlens.types import Frame

    canvas = np.full((1080, 1920, 3), 110, np.uint8)
    face = samples.portrait()
    canvas[200:200 + face.shape[0], 700:700 + face.shape[1]] = face
    pipeline = Pipeline(AnalysisConfig(pose=False, batch_frames=2))
    state = pipeline.start_source(25.0)
    frames = [Frame(canvas, i, i / 25.0, "1080p") for i in range(2)]
    faces = sum(len(a) for a in pipeline.analyse(frames, state))
    Path("faces.txt").write_text(str(faces))
""")
# Runs its arguments as a child and prints that child's peak RSS (KiB). Why a launcher: a
# child's ru_maxrss also counts the process it was forked from, up to its exec, and this test
# process holds the session's models (Linux keeps the larger figure).
LAUNCHER = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def test_analysing_1080p_frames_stays_under_the_memory_bound(tmp_path: Path) -> None:
    """Two 1080p frames (612 detector tiles) through the whole face pipeline in a child
    process, measured by its own peak resident memory. With every tile in one network call,
    this was several times the bound."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, "-c", CHILD],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "faces.txt").read_text() == "2", "one face a frame must be found"
    peak_mib = int(done.stdout.split()[-1]) / 1024  # Linux: KiB
    assert peak_mib < PEAK_RSS_1080P_MIB, f"peak RSS {peak_mib:.0f} MiB"
