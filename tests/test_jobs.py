"""``affectlens analyze --jobs N``: one machine's cores without Ray. The job is the one a
cluster runs (affectlens/cluster/offline.py), its tasks in a pool of processes: the files
written must be those of one process, a split video must be one pass, and a job run again
after an interruption must redo only what it had not finished."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from outputs import assert_one_pass, same_outputs_both_ways
from typer.testing import CliRunner

import affectlens
from affectlens.cli import app
from affectlens.cluster.offline import analyze_in_processes
from affectlens.cluster.segments import memory_s
from affectlens.config import AnalysisConfig
from affectlens.samples import write_sample_video


def test_a_folder_analysed_in_two_processes_gives_one_processs_files(tmp_path: Path) -> None:
    """The same folder with and without --jobs 2: the same files, tables and annotated
    videos (drawn by render tasks in the pool after the analysis), the unreadable file
    reported the same way, and no checkpoint left behind."""
    output = same_outputs_both_ways(tmp_path, "--jobs", "2")
    assert "tasks in 2 processes" in output and "broken.mp4" in output


def test_a_video_split_over_processes_is_one_pass_and_a_rerun_redoes_only_what_is_lost(
    tmp_path: Path
) -> None:
    """A 6 s video in three 2 s segments over two processes, each segment warming up on what
    came before it: stitched, the same frames, labels, tracks and sources as one pass. Run
    again with one finished part lost (an interruption), only that segment is analysed."""
    video = write_sample_video(tmp_path / "session.mp4", seconds=6.0)
    # Short memories, so that the segments' warm-ups (1.5 s) start after the file does.
    config = AnalysisConfig(fps=4, pose=False, smoothing_tau_s=0.1, lost_track_seconds=0.25,
                            distress={"hold_s": 0.5, "max_gap_s": 0.25})
    assert memory_s(config) == 1.5
    parts = tmp_path / "parts"
    progress: list[tuple[int, int]] = []
    there = analyze_in_processes([video], config, 2,
                                 lambda done, total: progress.append((done, total)), parts,
                                 segment_s=2.0)
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert_one_pass(there, affectlens.analyze(video, config))
    kept = sorted(parts.iterdir())
    assert len(kept) == 3
    kept[1].unlink()
    progress.clear()
    again = analyze_in_processes([video], config, 2,
                                 lambda done, total: progress.append((done, total)), parts,
                                 segment_s=2.0)
    assert progress == [(2, 3), (3, 3)]  # two parts kept: one segment analysed again
    pd.testing.assert_frame_equal(again.frames, there.frames)


def test_jobs_are_refused_with_a_cluster_and_below_zero(tmp_path: Path) -> None:
    video = write_sample_video(tmp_path / "clip.mp4", seconds=1.0)
    runner = CliRunner()
    for jobs in ("2", "0"):  # 0: every core
        both = runner.invoke(app, ["analyze", str(video), "--out", str(tmp_path / "out"),
                                   "--jobs", jobs, "--cluster", "127.0.0.1:6379"])
        assert both.exit_code == 2 and "--jobs" in both.output
    none = runner.invoke(app, ["analyze", str(video), "--jobs", "-1"])
    assert none.exit_code == 2 and "--jobs" in none.output
    assert not (tmp_path / "out").exists()
