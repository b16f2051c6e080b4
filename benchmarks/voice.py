"""Vocal expression (issue 20): speaker-independent figures and the speed of the voice path.

    mkdir -p /tmp/voice && tar -xzf ../shared/data/voice/ravdess-speech-16k.tar.gz -C /tmp/voice
    python benchmarks/voice.py --data /tmp/voice/ravdess [--no-cv]

1. 5-fold cross-validation by actor on RAVDESS (training/train_voice.py's ``cross_validate``,
   the same settings the shipped model was trained with; needs torch, training only): 8-class
   accuracy, macro-F1, ECE before and after temperature scaling, coverage at each fold's
   abstention threshold, arousal and valence accuracy, overall and per gender. Every test
   actor is unseen by training and by calibration. A few minutes of CPU.
2. The shipped model on the whole runtime path, one thread (numpy's BLAS and ONNX Runtime,
   threads=1): milliseconds of CPU (and wall) per second of audio for decoding (the FLAC
   files, and the same minute re-encoded as a video's usual 48 kHz stereo AAC track in a
   temporary file), then VAD, windows, features and ONNX, on RAVDESS utterances joined into
   one minute. Each step is timed in --rounds rounds of 10 repeats and the best round is
   printed (CPU, the figure of record, and wall each at their best): a shared machine only
   ever adds time.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread: the figure the issue asks for

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402

from affectlens.eval.machine import Stopwatch, Usage, machine_report  # noqa: E402
from affectlens.eval.voice import read_voice_folder  # noqa: E402
from affectlens.voice.audio import Audio, read_audio  # noqa: E402
from affectlens.voice.engine import VoiceAnalyser  # noqa: E402
from affectlens.voice.settings import VoiceSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def cross_validated(data: Path) -> None:
    sys.path.insert(0, str(REPO))
    try:
        from training import train_voice
    except ImportError as error:
        print(f"cross-validation skipped: {error} (pip install -r training/requirements.txt)")
        return
    args = train_voice.arguments(["--data", str(data)])
    figures = train_voice.cross_validate(train_voice.load(args), args)
    print("\n5-fold by actor, whole utterances of unseen actors "
          f"(target accuracy of labelled windows {args.target_accuracy:.0%}):")
    print("| group | utterances | accuracy | macro-F1 | ECE before -> after | coverage | "
          "accuracy covered | arousal | valence |")
    print("|---|---|---|---|---|---|---|---|---|")
    for group, f in figures.items():
        print(f"| {group} | {f['utterances']} | {f['accuracy']:.1%} | {f['macro_f1']:.3f} | "
              f"{f['ece_uncalibrated']:.3f} -> {f['ece']:.3f} | {f['coverage']:.1%} | "
              f"{f['covered_accuracy']:.1%} | {f['arousal_accuracy']:.1%} | "
              f"{f['valence_accuracy']:.1%} |")
    print("recall per class: " + ", ".join(
        f"{c} {r:.1%}" for c, r in figures["all"]["recall"].items()))


def speed(data: Path, seconds: float = 60.0, repeats: int = 10, rounds: int = 3) -> None:
    """CPU and wall per second of audio: decoding (the FLAC files themselves, and the same
    minute as a video's usual sound track, 48 kHz stereo AAC), then VAD, features and model;
    the best of ``rounds`` rounds of ``repeats``."""
    paths = read_voice_folder(data).paths
    used, total = [], 0
    for path in paths[:: max(1, len(paths) // 40)]:
        used.append(path)
        total += len(_read(path)) + len(GAP)
        if total >= seconds * 16000:
            break
    audio = Audio(np.concatenate([x for path in used for x in (_read(path), GAP)]))
    analyser = VoiceAnalyser(VoiceSettings(), threads=1)
    rows = analyser.rows("bench", audio)  # warm up
    per_s = 1000 / (repeats * audio.seconds)
    with tempfile.TemporaryDirectory() as folder:  # the public clips re-encoded, then deleted
        track = _write_aac(Path(folder) / "track.m4a", audio.samples)
        timed = {
            "decoding the FLAC files": lambda: [_read(path) for path in used],
            "decoding 48 kHz stereo AAC": lambda: read_audio(track),
            "VAD, windows, features, model": lambda: analyser.rows("bench", audio),
        }
        used_s = {}
        for name, step in timed.items():
            step()
            best = []
            for _ in range(rounds):
                watch = Stopwatch()
                for _ in range(repeats):
                    step()
                best.append(watch.elapsed())
            used_s[name] = Usage(min(u.wall_s for u in best), min(u.cpu_s for u in best))
    print(f"\nvoice path, one thread, over {audio.seconds:.0f} s of speech and pauses "
          f"({len(rows)} windows), best of {rounds} rounds of {repeats}; "
          "ms per second of audio:")
    for name, used in used_s.items():
        print(f"  {name}: {used.cpu_s * per_s:.2f} ms CPU ({used.wall_s * per_s:.2f} ms wall)")
    for source, name in (("FLAC files", "decoding the FLAC files"),
                         ("48 kHz stereo AAC", "decoding 48 kHz stereo AAC")):
        whole = [used_s[name], used_s["VAD, windows, features, model"]]
        print(f"whole path from {source}: "
              f"{sum(u.cpu_s for u in whole) * per_s:.2f} ms CPU per second of audio "
              f"({sum(u.wall_s for u in whole) * per_s:.2f} ms wall)")


GAP = np.zeros(8000, np.float32)  # half a second between utterances


def _read(path: Path) -> np.ndarray:
    audio = read_audio(path)
    assert audio is not None
    return audio.samples


def _write_aac(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """``samples`` as a 48 kHz stereo AAC track (PyAV's encoder resamples and duplicates)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame) + stream.encode(None))  # the encoder cuts its own frames
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/voice/ravdess"))
    parser.add_argument("--no-cv", action="store_true", help="speed only")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts")
    args = parser.parse_args()
    with machine_report():
        if not args.no_cv:
            cross_validated(args.data)
        speed(args.data, rounds=args.rounds)


if __name__ == "__main__":
    main()
