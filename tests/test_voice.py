"""Tone of voice (issue 20): audio in, VAD, features, the shipped model, voice.csv and report.

Real speech: RAVDESS files from ../shared/data (skipped cleanly without it), from validation
actors the shipped model never trained on. Synthetic audio (tests/voiceutil.py) for the VAD,
the decoders and the no-audio and corrupt-file paths.
"""

from __future__ import annotations

import itertools
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from voiceutil import silence, voice, write_video, write_wav

import affectlens
from affectlens import AnalysisConfig
from affectlens.errors import InputError
from affectlens.eval.voice import ravdess_labels, read_voice_folder
from affectlens.voice.audio import read_audio
from affectlens.voice.engine import VOICE_COLUMNS, VoiceAnalyser
from affectlens.voice.features import FEATURE_NAMES, window_features, yin_f0
from affectlens.voice.model import VOICE_CLASSES, VoiceClassifier
from affectlens.voice.settings import VoiceSettings
from affectlens.voice.vad import speech_flags, windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "voice"
# Left out of the shipped model's training and calibration (training/train_voice.py --holdout).
UNSEEN = ("Actor_09", "Actor_10")


@pytest.fixture(scope="module")
def ravdess(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Path]]:
    """ravdess("Actor_09") -> its 60 files, unpacked once; skips without the shared data."""
    archive = DATA / "ravdess-speech-16k.tar.gz"
    if not archive.is_file():
        pytest.skip(f"shared voice data not present: {archive}")
    target = tmp_path_factory.mktemp("ravdess")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if any(a in m.name for a in UNSEEN)]
        tar.extractall(target, members=members, filter="data")
    return lambda actor: sorted((target / "ravdess" / actor).glob("*.flac"))


@pytest.fixture(scope="module")
def analyser() -> VoiceAnalyser:
    return VoiceAnalyser(VoiceSettings(), threads=1)


def test_yin_finds_the_pitch_of_a_voice() -> None:
    for f0 in (110.0, 180.0, 260.0):
        found, _ = yin_f0(voice(2.0, f0))
        assert abs(np.nanmedian(found) - f0) / f0 < 0.02
        assert np.isnan(found).mean() < 0.1
    unvoiced, _ = yin_f0(silence(1.0))
    assert np.isnan(unvoiced).mean() > 0.9


def test_the_polyphase_half_band_filter_is_the_full_convolution_decimated() -> None:
    """_half_rate skips the outputs it would throw away; what it keeps must not change."""
    from affectlens.voice.features import _HALFBAND, _half_rate
    for length in (1, 30, 31, 32, 16_001, 48_000):
        x = voice(length / 16_000 + 0.01)[:length].astype(np.float64)
        expected = np.convolve(x, _HALFBAND, mode="same")[::2]
        assert np.allclose(_half_rate(x), expected, rtol=0, atol=1e-12)


def test_vad_windows_cover_the_speech_and_only_the_speech() -> None:
    audio = np.concatenate([silence(2), voice(3.0), silence(2), voice(6.0, 200), silence(1)])
    found = windows(speech_flags(audio, 2), min_s=1, max_s=4, length_s=3, hop_s=1.5,
                    bridge_s=0.3)
    assert found[0].start_s == pytest.approx(2.0, abs=0.1)
    assert found[0].end_s == pytest.approx(5.0, abs=0.25)
    long = found[1:]  # 6 s of speech: 3 s windows at most 1.5 s apart, the last at its end
    assert len(long) in (3, 4)  # 4 when the VAD's hangover makes the segment over 6 s
    assert all(b.start_s - a.start_s <= 1.5 for a, b in itertools.pairwise(long))
    assert long[0].start_s == pytest.approx(7.0, abs=0.1)
    assert long[-1].end_s == pytest.approx(13.0, abs=0.25)
    assert all(w.end_s - w.start_s == pytest.approx(3.0, abs=0.01) for w in long)
    assert all(w.speech > 0.9 for w in found)
    assert not windows(speech_flags(silence(5), 2), min_s=1, max_s=4, length_s=3, hop_s=1.5,
                       bridge_s=0.3)


def test_read_audio_resamples_and_mixes_down(tmp_path: Path) -> None:
    signal = voice(2.0, rate=44_100)
    audio = read_audio(write_wav(tmp_path / "stereo.wav", signal, rate=44_100, channels=2))
    assert audio is not None and audio.rate == 16_000
    assert audio.seconds == pytest.approx(2.0, abs=0.01)
    f0, _ = yin_f0(audio.samples)
    assert np.nanmedian(f0) == pytest.approx(140, rel=0.02)


def test_a_video_without_sound_has_no_audio_and_bad_files_fail_in_one_line(
        tmp_path: Path) -> None:
    assert read_audio(write_video(tmp_path / "mute.mkv", 1.0, None)) is None
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    with pytest.raises(InputError) as error:
        read_audio(junk)
    assert str(junk) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(InputError, match="no such file"):
        read_audio(tmp_path / "missing.flac")


def test_percentiles_from_one_sort_are_numpys_bit_for_bit() -> None:
    from affectlens.voice.features import percentiles
    rng = np.random.default_rng(0)
    for n, dtype in itertools.product((1, 2, 3, 10, 57, 300), (np.float32, np.float64)):
        for values in (rng.standard_normal(n).astype(dtype),
                       np.round(rng.standard_normal(n), 1).astype(dtype)):  # ties
            ordered = np.sort(values)
            for q in ([10, 50, 90], [5, 95]):
                got, expected = percentiles(ordered, np.array(q) / 100), np.percentile(values, q)
                assert got.dtype == expected.dtype and np.array_equal(got, expected)
            got, expected = percentiles(ordered, 0.95), np.percentile(values, 95)
            assert got.dtype == expected.dtype and got == expected
    with_nan = np.array([1.0, np.nan, 2.0])
    assert np.isnan(percentiles(np.sort(with_nan), np.array([10, 50]) / 100)).all()


def test_overlapping_windows_share_frames_and_get_the_same_features() -> None:
    """One spectrogram and F0 track for a stretch of speech: every window's features are
    those it gets alone, bit for bit, on the frame grid (shared) and off it (alone)."""
    from affectlens.voice.features import overlapping_features
    x = np.concatenate([voice(2.0, 140.0), voice(2.5, 220.0), voice(1.7, 110.0)])
    x += np.random.default_rng(1).normal(0, 0.01, len(x)).astype(x.dtype)
    n = len(x)
    bounds = [(0, 48_000), (17_760, 65_760), (35_520, 83_520), (24_001, 56_000),
              (16_000, n - 5_000), (n - 48_000, n)]
    got = overlapping_features(x, bounds)
    for (a, b), row in zip(bounds, got):
        assert np.array_equal(row, window_features(x[a:b]))


def test_the_voice_model_runs_on_one_thread_by_default() -> None:
    options = VoiceClassifier(threads=0).model.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_features_are_gain_invariant_and_named() -> None:
    x = voice(2.5)
    a, b = window_features(x), window_features(0.1 * x)
    assert a.shape == (len(FEATURE_NAMES),) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.05)  # a quieter microphone, same voice


def test_librosa_agrees_with_our_log_mel_and_mfcc() -> None:
    librosa = pytest.importorskip("librosa")  # training-time cross-check only
    from affectlens.voice import features as f
    x = voice(2.0)
    ours = f.log_mel(f.power_spectrogram(x))
    mel = librosa.feature.melspectrogram(y=x, sr=f.SAMPLE_RATE, n_fft=f.N_FFT,
                                         hop_length=f.HOP_LENGTH, win_length=f.WIN_LENGTH,
                                         center=False, n_mels=f.N_MELS)
    theirs = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    loud = theirs > theirs.max() - 60
    assert np.abs(ours - theirs)[loud].max() < 0.05
    mfcc = librosa.feature.mfcc(S=theirs.T, n_mfcc=f.N_MFCC).T
    assert np.abs(f.mfcc(theirs) - mfcc).max() < 1e-2


def test_unseen_actors_aroused_speech_reads_aroused(
        ravdess: Callable[[str], list[Path]], analyser: VoiceAnalyser) -> None:
    """Angry and fearful against calm and sad, strong intensity, actors the model never heard:
    the arousal score must separate them (chance would be 50%)."""
    right, total, labels = 0, 0, []
    for actor in UNSEEN:
        for path in ravdess(actor):
            name, _, _ = ravdess_labels(path) or ("", "", "")
            if path.stem.split("-")[3] != "02" or name not in ("angry", "fear", "calm", "sad"):
                continue
            rows, entry = analyser.analyse(path)
            assert entry["status"] == "analysed" and len(rows) == 1
            expected = 1 if name in ("angry", "fear") else -1
            right += int(np.sign(rows[0]["arousal"]) == expected)
            total += 1
            labels.append((name, rows[0]["label"]))
    assert total == 32
    assert right / total >= 0.75, labels
    assert sum(truth == said for truth, said in labels) >= 12  # 8 classes: chance is 4


def test_analyze_writes_voice_csv_summary_and_timeline(
        ravdess: Callable[[str], list[Path]], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from affectlens.cli import app
    clip = ravdess(UNSEEN[0])[-1]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", str(clip), "--out", str(out), "--no-pose"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "voice.csv")
    assert list(table.columns) == VOICE_COLUMNS and len(table) == 1
    assert table.label[0] in (*VOICE_CLASSES, "uncertain")
    probs = table[[f"p_{c}" for c in VOICE_CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    (entry,) = summary["voice"]["sources"]
    assert entry["status"] == "analysed" and entry["windows"] == 1
    assert summary["sources"][0]["kind"] == "audio" and summary["sources"][0]["status"] == "ok"
    report = (out / "report.html").read_text()
    assert "Tone of voice" in report and "voice timeline" in report


def test_video_sound_track_and_mute_video_in_one_job(tmp_path: Path) -> None:
    talking = write_video(tmp_path / "talking.mkv", 6.0,
                          np.concatenate([silence(1), voice(4.0), silence(1)]))
    mute = write_video(tmp_path / "mute.mkv", 2.0, None)
    result = affectlens.analyze([talking, mute], AnalysisConfig(pose=False))
    assert result.voice is not None
    entries = {Path(e["source"]).name: e for e in result.voice.sources}
    assert entries["mute.mkv"]["status"] == "no audio track"
    assert entries["talking.mkv"]["status"] == "analysed"
    rows = result.voice.windows
    assert set(rows.source) == {str(talking)}
    assert rows.start_s.min() == pytest.approx(1.0, abs=0.15)
    assert rows.end_s.max() == pytest.approx(5.0, abs=0.3)
    assert (result.sources.status != "error").all()


def test_corrupt_audio_is_an_error_row_and_the_rest_runs(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", np.concatenate([voice(2.0), silence(0.5)]))
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb" + bytes(300))
    result = affectlens.analyze([good, bad], AnalysisConfig(pose=False))
    status = dict(zip(result.sources.source.map(lambda s: Path(s).name), result.sources.status))
    assert status == {"good.wav": "ok", "bad.mp3": "error"}
    assert result.voice is not None and len(result.voice.windows) == 1


def test_eval_reader_knows_ravdess_names_and_class_folders(tmp_path: Path) -> None:
    write_wav(tmp_path / "03-01-05-02-01-01-12.wav", voice(1.0))
    (tmp_path / "fearful").mkdir()
    write_wav(tmp_path / "fearful" / "a.wav", voice(1.0))
    (tmp_path / "bored").mkdir()
    write_wav(tmp_path / "bored" / "b.wav", voice(1.0))
    data = read_voice_folder(tmp_path)
    assert [VOICE_CLASSES[i] for i in data.labels] == ["angry", "fear"]
    assert data.speakers == ["actor12", None] and data.left_out == {"bored": 1}


def test_shipped_model_matches_its_features() -> None:
    model = VoiceClassifier(threads=1)
    probs = model.predict(np.stack([window_features(voice(2.0)), window_features(voice(3.0))]))
    assert probs.shape == (2, len(VOICE_CLASSES))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert 0 < model.calibration.abstain_below < 1 and model.calibration.temperature > 0


def test_sound_track_times_count_from_the_first_video_frame(media: Callable[[str], Path]
                                                            ) -> None:
    """face_noface.mov's sound starts 2.43 s after its first frame (ffprobe start_time)."""
    audio = read_audio(media("face_noface.mov"))
    assert audio is not None
    assert audio.start_s == pytest.approx(2.43, abs=0.01)
    assert audio.seconds == pytest.approx(3.97, abs=0.05)


def test_a_fault_in_the_voice_path_leaves_the_rest_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from affectlens.voice import engine

    def broken(samples: np.ndarray, bounds: list[tuple[int, int]]) -> np.ndarray:
        raise FloatingPointError("simulated fault")

    monkeypatch.setattr(engine, "overlapping_features", broken)
    talking = write_video(tmp_path / "talking.mkv", 3.0, np.concatenate([voice(2.5),
                                                                        silence(0.5)]))
    result = affectlens.analyze([talking], AnalysisConfig(pose=False))
    assert result.sources.status.tolist() == ["ok"]  # the video itself was analysed
    assert result.voice is not None and result.voice.windows.empty
    (entry,) = result.voice.sources
    assert entry["status"] == "error" and "simulated fault" in entry["message"]
