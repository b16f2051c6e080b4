"""One job run two ways (one process, --jobs, --cluster): the same folder of outputs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.result import Result
from affectlens.samples import write_sample_video


def sample_folder(folder: Path) -> Path:
    """Three short sample videos and one file that is no video."""
    for n, seconds in enumerate((1.0, 1.5, 2.0)):
        write_sample_video(folder / f"clip{n}.mp4", seconds=seconds)
    (folder / "broken.mp4").write_bytes(b"not a video")
    return folder


def same_outputs_both_ways(tmp_path: Path, *spread: str) -> str:
    """``analyze`` of a sample folder with ``--video``, in one process and with the options
    ``spread``: asserts the same files, tables, summary and annotated videos (frame times
    equal, pictures within a grey level on average); returns the second run's output."""
    folder = sample_folder(tmp_path / "in")
    runner = CliRunner()
    here, there = tmp_path / "here", tmp_path / "there"
    common = ["analyze", str(folder), "--fps", "4", "--no-report", "--video"]
    assert runner.invoke(app, [*common, "--out", str(here)]).exit_code == 0
    result = runner.invoke(app, [*common, "--out", str(there), *spread])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in there.iterdir()) == sorted(p.name for p in here.iterdir())
    for table in sorted(here.glob("*.csv")):
        pd.testing.assert_frame_equal(pd.read_csv(there / table.name), pd.read_csv(table))
    assert (there / "summary.json").read_text() == (here / "summary.json").read_text()
    videos = sorted(p.name for p in (here / "videos").iterdir())
    assert videos == [f"clip{n}.annotated.mp4" for n in range(3)]
    assert sorted(p.name for p in (there / "videos").iterdir()) == videos
    for name in videos:
        with av.open(str(here / "videos" / name)) as a, av.open(str(there / "videos" / name)) as b:
            mine, theirs = list(a.decode(video=0)), list(b.decode(video=0))
            assert [f.time for f in theirs] == [f.time for f in mine] and len(mine) >= 4
            for x, y in zip(mine, theirs):
                difference = np.abs(x.to_ndarray(format="gray").astype(int)
                                    - y.to_ndarray(format="gray"))
                assert difference.mean() < 1.0
    return result.output


def assert_one_pass(there: Result, here: Result) -> None:
    """A video analysed in segments and stitched (``there``) against one pass (``here``):
    the same frames, boxes, raw probabilities, labels, tracks and sources row; smoothing,
    started in a segment's warm-up rather than at the file's start, within 1e-3."""
    smoothed = [c for c in here.frames.columns if c.startswith("smoothed_")]
    pd.testing.assert_frame_equal(there.frames.drop(columns=smoothed),
                                  here.frames.drop(columns=smoothed))
    pd.testing.assert_frame_equal(there.frames[smoothed], here.frames[smoothed], atol=1e-3)
    pd.testing.assert_frame_equal(there.sources, here.sources)
    assert len(there.tracks) == len(here.tracks) > 0
