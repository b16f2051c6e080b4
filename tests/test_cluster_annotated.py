"""``analyze --video --cluster`` (issue 15): a video analysed in segments gets the annotated
video one pass draws. Each segment is analysed here by the ``_analyse`` a node runs (its
overlays recorded), stitched, drawn piece by piece by the ``render`` a node runs and joined
by ``join``, without Ray (tests/test_cluster.py runs the same through a real cluster)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import affectlens
from affectlens.cluster.annotated import LABEL_COLUMNS, join, render
from affectlens.cluster.offline import _analyse
from affectlens.cluster.segments import memory_s, plan, splittable_duration, stitch
from affectlens.config import AnalysisConfig
from affectlens.errors import InputError
from affectlens.report.annotated_video import AnnotatedVideoWriter

REAL_VIDEO = Path(__file__).parents[2] / "shared/data/media/WolfgangLanger_Pexels.mp4"


def decoded(path: Path) -> tuple[list[int], list[np.ndarray]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        return ([round(float(f.time) * 1000) for f in frames],  # ms: the files' time bases differ
                [f.to_ndarray(format="gray") for f in frames])


def test_a_video_drawn_in_segments_is_one_pass_annotated_video(tmp_path: Path) -> None:
    if not REAL_VIDEO.is_file():
        pytest.skip(f"{REAL_VIDEO} is not here (../shared/data)")
    config = AnalysisConfig(fps=4, threads=1, pose=False, distress={"hold_s": 2.0})
    segments = plan(splittable_duration(REAL_VIDEO, config), 4.0, memory_s(config))
    assert len(segments) == 5
    pieces = [_analyse([str(REAL_VIDEO)], config, segment, record=True) for segment in segments]
    there = stitch(segments, [part for part, _ in pieces], config)
    encoded = []
    for segment, (_, overlays) in zip(segments, pieces):
        assert overlays is not None
        labels = there.frames[LABEL_COLUMNS]
        encoded.append(render(str(REAL_VIDEO), config, segment, overlays,
                              labels[labels.frame.isin(overlays.frames)], blur=True))
    joined = tmp_path / "joined.mp4"
    join(encoded, joined)

    writer = AnnotatedVideoWriter(tmp_path / "one", blur=True)
    here = affectlens.analyze(REAL_VIDEO, config, observers=[writer])
    (one_pass,) = writer.written
    times, images = decoded(joined)
    want_times, want_images = decoded(one_pass)
    # Every analysed frame once, at its time, in order: the pieces own disjoint spans.
    assert times == want_times == [round(t * 1000) for t in sorted(set(here.frames.time_s))]
    # The same pictures, up to the encoder's loss (the pieces are encoded apart: their
    # keyframes fall elsewhere): far less than what tells frames apart.
    differences = [np.abs(a.astype(int) - b).mean() for a, b in zip(images, want_images)]
    moving = np.abs(want_images[0].astype(int) - want_images[len(want_images) // 2]).mean()
    assert max(differences) < 1.5 < moving
    # The labels are the stitched table's: drawn with another track number, the text above
    # the face differs from one pass's far more than the encoder's loss makes it.
    _, overlays = pieces[0]
    labels = there.frames[[*LABEL_COLUMNS, "time_s"]]
    labels = labels[labels.frame.isin(overlays.frames)]
    wrong = tmp_path / "wrong.mp4"
    wrong.write_bytes(render(str(REAL_VIDEO), config, segments[0], overlays,
                             labels.assign(track_id=labels.track_id + 1), blur=True))
    _, wrong_images = decoded(wrong)
    right_error = wrong_error = 0.0
    for row in labels.itertuples():
        k = want_times.index(round(row.time_s * 1000))
        digit = _digit_box(row, want_images[k].shape[0])
        right_error += np.abs(images[k][digit].astype(int) - want_images[k][digit]).mean()
        wrong_error += np.abs(wrong_images[k][digit].astype(int) - want_images[k][digit]).mean()
    assert right_error < 0.3 * wrong_error
    # The faces are blurred in the drawn frames: the region inside the first face's box is
    # far smoother than in the source frame.
    first = here.frames.iloc[0]
    x1, y1, x2, y2 = (int(first[c]) for c in ("x1", "y1", "x2", "y2"))
    with av.open(str(REAL_VIDEO)) as container:
        source = next(f for f in container.decode(video=0) if f.pts is not None
                      and abs(float(f.time) - first.time_s) < 1e-3).to_ndarray(format="gray")
    drawn = images[times.index(round(first.time_s * 1000))]
    inner = (slice(y1 + 6, y2 - 6), slice(x1 + 6, x2 - 6))  # inside the drawn box's edges
    assert np.std(np.diff(drawn[inner].astype(float), axis=1)) < 0.5 * np.std(
        np.diff(source[inner].astype(float), axis=1))


def _digit_box(row, height: int) -> tuple[slice, slice]:
    """Where draw_labelled writes the track number's first digit over a face."""
    scale = max(0.4, height / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (hash_w, _), _ = cv2.getTextSize("#", font, scale, 2)
    (both_w, text_h), _ = cv2.getTextSize("#1", font, scale, 2)
    base = max(12, int(row.y1) - 6)
    return slice(base - text_h, base), slice(int(row.x1) + hash_w, int(row.x1) + both_w)


def test_a_piece_whose_file_changed_is_refused(tmp_path: Path) -> None:
    """The render decodes the file again: a file that no longer holds the analysed frames
    (replaced by a shorter one meanwhile) gives a clear error, not a wrong video."""
    from affectlens.samples import write_sample_video

    clip = write_sample_video(tmp_path / "clip.mp4", seconds=2.0)
    config = AnalysisConfig(fps=4, threads=1, pose=False)
    part, overlays = _analyse([str(clip)], config, None, record=True)
    assert overlays is not None and len(overlays.frames) == 8
    write_sample_video(clip, seconds=1.0)
    with pytest.raises(InputError, match="could not be decoded again"):
        render(str(clip), config, None, overlays, part.frames[LABEL_COLUMNS], blur=True)


def _piece(frames: range, step_s: float, pix_fmt: str = "yuv420p") -> bytes:
    """An MP4 piece of flat grey frames at their times, encoded as the writer does, or in
    another pixel format (another H.264 profile: other headers)."""
    import io
    from fractions import Fraction

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(1000))
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.time_base = Fraction(1, 1000)
        for n in frames:
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 12 * n, np.uint8), "bgr24")
            frame.pts, frame.time_base = round(n * step_s * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("other_headers", [False, True])
def test_pieces_join_in_time_order_copied_or_encoded_again(tmp_path: Path,
                                                          other_headers: bool) -> None:
    """Pieces encoded alike are remuxed (their packets copied); a piece with other H.264
    headers (another profile) makes the join decode and encode them all. Either way: every
    frame once, at its time, in order, and the picture kept."""
    from affectlens.cluster.annotated import _header

    pieces = [_piece(range(0, 10), 0.25),
              _piece(range(10, 20), 0.25, "yuv444p" if other_headers else "yuv420p")]
    assert (_header(pieces[0]) != _header(pieces[1])) == other_headers
    joined = tmp_path / "joined.mp4"
    join(pieces, joined)
    times, images = decoded(joined)
    assert times == [250 * n for n in range(20)]
    assert [round(float(image.mean()) / 12) for image in images] == list(range(20))
